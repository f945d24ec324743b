#!/usr/bin/env bash
# Chromium for the 驾驶舱 browser test (tests/test_dashboard_browser.py): Debian's package,
# not a browser download of its own. Idempotent. Needs root (or sudo) and apt-get; where it
# cannot install, it says why and exits 0, and that test is skipped with the reason.
set -uo pipefail

for name in chromium chromium-browser google-chrome; do
    if command -v "$name" >/dev/null 2>&1; then
        echo "browser: already installed ($("$name" --version 2>/dev/null | head -n1))"
        exit 0
    fi
done

if ! command -v apt-get >/dev/null 2>&1; then
    echo "browser: apt-get not found; install Chromium yourself to run the browser test (it is skipped)" >&2
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "browser: not root and no sudo; the browser test will be skipped" >&2
        exit 0
    fi
fi

echo "browser: installing chromium (Debian package)"
if $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium; then
    echo "browser: $(chromium --version 2>/dev/null | head -n1)"
else
    echo "browser: could not install chromium; the browser test will be skipped" >&2
fi
exit 0

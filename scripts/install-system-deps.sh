#!/usr/bin/env bash
# System packages Duban needs at run time that pip cannot bring:
#   fonts-wqy-microhei  a CJK font, so charts (/chart, /brief) show Chinese, not boxes.
# Idempotent: skips packages already installed; runs apt-get update only when it must
# install something. Needs root (or sudo) on Debian/Ubuntu; elsewhere it says what to do.
set -euo pipefail

PACKAGES=(fonts-wqy-microhei)

missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "system deps: already installed (${PACKAGES[*]})"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "system deps: apt-get not found; please install a CJK font (e.g. WenQuanYi Micro Hei or Noto Sans CJK SC): ${missing[*]}" >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

echo "system deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# matplotlib caches the font list; drop it so the new font is found on the next start.
rm -rf "${MPLCONFIGDIR:-$HOME/.cache/matplotlib}"/fontlist-*.json 2>/dev/null || true
echo "system deps: done"

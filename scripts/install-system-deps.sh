#!/usr/bin/env bash
# System packages Duban needs beyond PyPI: a CJK font so charts render Chinese text.
# Idempotent: does nothing when everything is already installed. Needs root (or sudo) for apt.
set -euo pipefail
need=()
fc-list 2>/dev/null | grep -qiE "Noto Sans CJK|WenQuanYi|Droid Sans Fallback" || need+=(fonts-noto-cjk)
command -v fc-list >/dev/null 2>&1 || need+=(fontconfig)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing system packages: ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null

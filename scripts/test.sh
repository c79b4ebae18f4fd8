#!/usr/bin/env bash
# Installs everything branchq's tests need, then runs them all.
# Usage: scripts/test.sh [pytest args]   (the README's test command; .ci/run calls it)
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'

# The browser tests drive Debian's Chromium with Playwright (its own browser
# download does not work offline); Noto CJK renders the Chinese screens.
if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
fi

exec .venv/bin/python -m pytest "$@"

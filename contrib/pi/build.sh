#!/usr/bin/env bash
# Release binaries for Raspberry Pis: cross-builds 64-bit (aarch64: Pi 3, 4, 5 and Zero 2 W on
# a 64-bit OS) and 32-bit (armv7 hard-float: the same boards on 32-bit Raspberry Pi OS), then
# runs each binary under qemu-user on loopback to prove it starts and serves: /healthz, two
# registrations, a login, a conversation, a message sent and read back, then SIGTERM.
# It prints each binary's size, its build time, and its resident memory under qemu after
# start and after the requests, next to the resident memory of qemu running a trivial static
# program (qemu-user's own overhead, which the server's figure includes).
#
# Usage: contrib/pi/build.sh [TARGET...]
#   TARGET: aarch64-unknown-linux-gnu, armv7-unknown-linux-gnueabihf (default: both)
# Binaries: target/TARGET/release/emotechat.
#
# Not run by CI: the release profile (lto, one codegen unit) takes many minutes per target.
# Installs Debian's cross compilers and qemu-user with apt-get, and the Rust targets with
# rustup, when they are missing. Builds run at nice 19.
set -euo pipefail
cd "$(dirname "$0")/../.."

targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf)

# The Debian names for a Rust target: cross-compiler prefix and qemu-user emulator.
gnu_prefix() {
    case "$1" in
        aarch64-unknown-linux-gnu) echo aarch64-linux-gnu ;;
        armv7-unknown-linux-gnueabihf) echo arm-linux-gnueabihf ;;
        *) echo "unknown target $1 (aarch64-unknown-linux-gnu or armv7-unknown-linux-gnueabihf)" >&2; exit 2 ;;
    esac
}
emulator() {
    case "$1" in
        aarch64-unknown-linux-gnu) echo qemu-aarch64 ;;
        armv7-unknown-linux-gnueabihf) echo qemu-arm ;;
    esac
}

install_missing() {
    local missing=()
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    command -v python3 >/dev/null 2>&1 || missing+=(python3)
    command -v qemu-aarch64 >/dev/null 2>&1 && command -v qemu-arm >/dev/null 2>&1 || missing+=(qemu-user)
    local target prefix
    for target in "${targets[@]}"; do
        prefix=$(gnu_prefix "$target")
        command -v "$prefix-gcc" >/dev/null 2>&1 || missing+=("gcc-$prefix")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        local as_root=()
        [ "$(id -u)" -eq 0 ] || as_root=(sudo)
        "${as_root[@]}" apt-get update
        "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y --no-install-recommends "${missing[@]}"
    fi
    rustup target add "${targets[@]}"
}

# Cross-builds one target; the linker and the C compiler (SQLite is bundled C) come from the
# environment, so .cargo/config.toml keeps only its SQLite flags.
build() {
    local target=$1 prefix upper lower started
    prefix=$(gnu_prefix "$target")
    upper=$(echo "$target" | tr 'a-z-' 'A-Z_')
    lower=$(echo "$target" | tr '-' '_')
    started=$(date +%s)
    env "CARGO_TARGET_${upper}_LINKER=$prefix-gcc" "CC_${lower}=$prefix-gcc" "AR_${lower}=$prefix-ar" \
        nice -n 19 cargo build --release --locked --target "$target" >&2
    echo $(($(date +%s) - started))
}

rss_kib() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# Resident memory of qemu-user running a static program that only waits: the emulator's own
# share of every figure measured under it.
baseline_rss() {
    local target=$1 work=$2 prefix pid rss
    prefix=$(gnu_prefix "$target")
    printf '#include <unistd.h>\nint main(void) { pause(); return 0; }\n' >"$work/idle.c"
    "$prefix-gcc" -static -O2 -o "$work/idle" "$work/idle.c"
    "$(emulator "$target")" "$work/idle" &
    pid=$!
    sleep 1
    rss=$(rss_kib "$pid")
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    echo "$rss"
}

json_field() {
    python3 -c 'import json, sys
value = json.load(sys.stdin)
for key in sys.argv[1].split("."):
    value = value[key]
print(value)' "$1"
}

# POST with a JSON body; prints the answer, fails on any status but 2xx.
post() {
    local url=$1 body=$2 token=${3:-}
    local auth=()
    [ -z "$token" ] || auth=(-H "Authorization: Bearer $token")
    curl -fsS --max-time 60 -X POST -H 'Content-Type: application/json' "${auth[@]}" -d "$body" "$url"
}

# Starts the binary under qemu-user, exercises it, measures it and stops it.
smoke_test() {
    local target=$1 bin=$2 work=$3 sysroot qemu pid base rss_started rss_used
    sysroot=/usr/$(gnu_prefix "$target")
    qemu=$(emulator "$target")
    "$qemu" -L "$sysroot" "$bin" --addr 127.0.0.1:0 --db "$work/emotechat.db" 2>"$work/server.log" &
    pid=$!
    # This runs in a subshell of its own: a failed step ends it, and the server with it.
    trap 'kill "$pid" 2>/dev/null || true' EXIT
    base=""
    for _ in $(seq 1 600); do
        base=$(sed -n 's/^listening on \(http:\/\/[^ ]*\)$/\1/p' "$work/server.log")
        [ -n "$base" ] && break
        kill -0 "$pid" 2>/dev/null || { cat "$work/server.log" >&2; echo "$target: server died" >&2; return 1; }
        sleep 0.1
    done
    [ -n "$base" ] || { echo "$target: no 'listening on' line within 60 s" >&2; kill "$pid"; return 1; }
    curl -fsS --max-time 30 "$base/healthz" >/dev/null
    sleep 1
    rss_started=$(rss_kib "$pid")

    local alice bob token conversation message
    alice=$(post "$base/api/auth/register" '{"name":"Alice","email":"alice@example.org","password":"correct horse battery"}' | json_field user.id)
    bob=$(post "$base/api/auth/register" '{"name":"Bob","email":"bob@example.org","password":"correct horse battery"}' | json_field user.id)
    token=$(post "$base/api/auth/login" '{"email":"alice@example.org","password":"correct horse battery"}' | json_field token)
    conversation=$(post "$base/api/conversations" "{\"member_ids\":[$bob]}" "$token" | json_field conversation.id)
    for n in $(seq 1 20); do
        message=$(post "$base/api/conversations/$conversation/messages" "{\"body\":\"hello from $target, $n\"}" "$token" | json_field message.body)
        [ "$message" = "hello from $target, $n" ] || { echo "$target: sent '$message'" >&2; return 1; }
    done
    curl -fsS --max-time 30 -H "Authorization: Bearer $token" "$base/api/conversations/$conversation/messages" \
        | grep -q "hello from $target, 20" || { echo "$target: message not read back" >&2; return 1; }
    [ "$alice" != "$bob" ]
    sleep 1
    rss_used=$(rss_kib "$pid")

    kill -TERM "$pid"
    local status=0
    wait "$pid" || status=$?
    [ "$status" -eq 0 ] || { cat "$work/server.log" >&2; echo "$target: exit status $status after SIGTERM" >&2; return 1; }
    echo "$rss_started $rss_used"
}

install_missing
report=()
for target in "${targets[@]}"; do
    echo "== $target: building (release, nice 19)" >&2
    seconds=$(build "$target")
    bin=target/$target/release/emotechat
    size=$(stat -c %s "$bin")
    work=$(mktemp -d)
    echo "== $target: serving under $(emulator "$target")" >&2
    measured=$(smoke_test "$target" "$bin" "$work")
    read -r rss_started rss_used <<<"$measured"
    baseline=$(baseline_rss "$target" "$work")
    rm -rf "$work"
    report+=("$(printf '%-31s %6.1f MiB %6d s %8d KiB %8d KiB %8d KiB' "$target" \
        "$(awk -v b="$size" 'BEGIN { print b / 1048576 }')" "$seconds" "$rss_started" "$rss_used" "$baseline")")
done
printf '%-31s %10s %8s %12s %12s %12s\n' target size build "RSS started" "RSS used" "qemu idle"
printf '%s\n' "${report[@]}"

#!/usr/bin/env bash
# Checks the running server against its own OpenAPI document (GET /api/openapi.json) with
# schemathesis: no 5xx, and every answer's status, content type and body as documented.
# Starts the real binary on a free loopback port with a temporary database and rate limits
# off (the fuzzer makes far more requests from one address than any person would), signs a
# user in for the private routes, and fails on any finding. Bounded in examples and time.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
VENV="$PWD/target/schemathesis-venv"
EXAMPLES="${SCHEMATHESIS_EXAMPLES:-50}"
# CI runs one fixed seed, so a landing never hangs on a case no run before it drew; elsewhere
# each run draws its own (say SCHEMATHESIS_SEED to repeat one).
if [ "${CI:-}" = true ]; then
    SEED="${SCHEMATHESIS_SEED:-4467}"
else
    SEED="${SCHEMATHESIS_SEED:-$RANDOM}"
fi

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q " $SCHEMATHESIS_VERSION\$"; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

cargo build --quiet --bin emotechat

work="$(mktemp -d)"
server=""
# On failure, the server's own account of its errors (a 5xx's cause is logged, never sent).
cleanup() {
    local status=$?
    if [ "$status" -ne 0 ] && [ -f "$work/server.log" ]; then
        grep -E 'ERROR|panicked' "$work/server.log" | tail -n 20 >&2 || true
    fi
    if [ -n "$server" ]; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

target/debug/emotechat serve --addr 127.0.0.1:0 --db "$work/emotechat.db" \
    --rate-limits off --groups-per-user-per-day 1000000 --sessions-per-user 10000 \
    2>"$work/server.log" &
server=$!
base=""
for _ in $(seq 300); do
    base="$(sed -n 's/^listening on //p' "$work/server.log" | head -n 1)"
    [ -n "$base" ] && break
    kill -0 "$server" 2>/dev/null || { cat "$work/server.log"; exit 1; }
    sleep 0.1
done
[ -n "$base" ] || { echo "the server did not start" >&2; cat "$work/server.log"; exit 1; }

# JSON out of a response with the venv's Python (no jq on a fresh machine).
field() { "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)'"$1"')'; }
api() { curl --silent --show-error --fail-with-body -H 'Content-Type: application/json' "$@"; }

# Two users with a conversation, a message with a reaction, and an emote, so ids such as 1
# name something and the answers carry every kind of object.
password="correct horse battery"
for who in alice bob; do
    api -d "{\"name\":\"$who\",\"email\":\"$who@example.org\",\"password\":\"$password\"}" \
        "$base/api/auth/register" >/dev/null
done
login() {
    api -d "{\"email\":\"$1@example.org\",\"password\":\"$password\"}" "$base/api/auth/login" |
        field '["token"]'
}
token="$(login alice)"
bearer=(-H "Authorization: Bearer $token")
conversation="$(api "${bearer[@]}" -d '{"member_ids":[2]}' "$base/api/conversations" |
    field '["conversation"]["id"]')"
message="$(api "${bearer[@]}" -d '{"body":"hello"}' \
    "$base/api/conversations/$conversation/messages" | field '["message"]["id"]')"
api "${bearer[@]}" -X PUT \
    "$base/api/conversations/$conversation/messages/$message/reactions/%F0%9F%91%8D" >/dev/null
png=iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==
api "${bearer[@]}" -d "{\"name\":\"party\",\"image_base64\":\"$png\"}" "$base/api/emotes" >/dev/null

# Every answer as documented, and the server's own refusals right: input the document rules
# out is refused (negative_data_rejection), a private route without the token is 401
# (ignored_auth), another method is 405 with `Allow`. Not positive_data_acceptance: some rules
# cannot be said in JSON Schema (lengths after trimming and NFC, "one emoji", an image, common
# passwords, `before` and `after` together), so schema-valid input may rightly be refused.
checks=not_a_server_error,status_code_conformance,content_type_conformance
checks+=,response_schema_conformance,response_headers_conformance,negative_data_rejection
checks+=,ignored_auth,unsupported_method,allow_header_conformance,missing_required_header
# Not ensure_resource_availability: the document declares no links, so schemathesis infers
# them, and it took POST .../members (answering the conversation) to create the member that
# DELETE .../members/{user_id} names, filling the user id with the conversation's.
checks+=,use_after_free
# Logging out and revoking sessions would end the token the rest of the run uses, so they
# run after the rest with their own token. The streams run without a token: signed in, an SSE
# answer never ends and a WebSocket answer is an upgrade (tests/realtime.rs and
# tests/websocket.rs cover those), but their refusals are checked here.
# One worker: hypothesis's lambda descriptions parse source with `ast`, which CPython 3.11
# can fail on from two threads at once ("AST constructor recursion depth mismatch").
# It runs in the temp dir, where it keeps its caches.
run() {
    (cd "$work" && "$VENV/bin/schemathesis" run "$base/api/openapi.json" \
        --checks "$checks" --max-examples "$EXAMPLES" --seed "$SEED" --workers 1 \
        --request-timeout 10 --suppress-health-check too_slow,filter_too_much \
        --output-truncate true --warnings off "$@")
}
echo "schemathesis $SCHEMATHESIS_VERSION against $base (seed $SEED)"
run --max-time "${SCHEMATHESIS_SECONDS:-90}" -H "Authorization: Bearer $token" \
    --exclude-path /api/events --exclude-path /api/ws \
    --exclude-operation-id logout --exclude-operation-id revoke_session
run --max-time 15 -H "Authorization: Bearer $(login alice)" \
    --include-operation-id logout --include-operation-id revoke_session
run --max-time 10 --include-path /api/events --include-path /api/ws

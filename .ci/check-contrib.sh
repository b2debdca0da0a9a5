#!/usr/bin/env bash
# Checks the deployment recipes in contrib/ with the real tools, installing Debian's systemd,
# nginx, Caddy and openssl when missing: the systemd unit with `systemd-analyze verify` (and
# its sandbox with `systemd-analyze security`), the nginx site with `nginx -t` inside a
# wrapper config and a throwaway self-signed certificate, the Caddyfile with `caddy validate`.
# Also that the unit outwaits the server's shutdown and nginx admits the largest body.
# Called by .ci/run; builds the debug binary the unit's ExecStart is pointed at.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v caddy >/dev/null 2>&1 || missing+=(caddy)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ "${#missing[@]}" -gt 0 ]; then
    as_root=()
    [ "$(id -u)" -eq 0 ] || as_root=(sudo)
    "${as_root[@]}" apt-get update
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${missing[@]}"
fi
PATH=$PATH:/usr/sbin

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() {
    echo "check-contrib: $*" >&2
    exit 1
}

# Prints what a command said; fails if it failed or said anything at all (systemd-analyze
# only warns about an unknown or malformed setting and still exits 0).
silent() {
    local said
    said=$("$@" 2>&1) || fail "$* failed: $said"
    [ -z "$said" ] || fail "$* warned: $said"
}

check_systemd() {
    local unit=contrib/systemd/emotechat.service
    cargo build --quiet --bin emotechat
    sed "s|^ExecStart=/usr/local/bin/emotechat|ExecStart=$PWD/target/debug/emotechat|" "$unit" \
        >"$work/emotechat.service"
    grep -q "^ExecStart=$PWD/target/debug/emotechat" "$work/emotechat.service" \
        || fail "$unit: ExecStart is not /usr/local/bin/emotechat"
    silent systemd-analyze verify "$work/emotechat.service"
    # The threshold counts tenths of the exposure it prints: 20 is 2.0 of 10 (today 1.4).
    systemd-analyze security --offline=yes --threshold=20 "$work/emotechat.service" >/dev/null \
        || fail "$unit: sandbox exposure above 2.0 of 10 (systemd-analyze security --offline=yes)"

    local grace stop
    grace=$(sed -n 's/^const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(\([0-9]*\));$/\1/p' src/main.rs)
    stop=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)$/\1/p' "$unit")
    [ -n "$grace" ] && [ -n "$stop" ] || fail "cannot read SHUTDOWN_DEADLINE or TimeoutStopSec"
    [ "$stop" -gt "$grace" ] || fail "$unit: TimeoutStopSec=$stop is not above the server's $grace s shutdown grace"
    echo "systemd unit: verified; stop timeout $stop s > shutdown grace $grace s"
}

check_nginx() {
    local site=contrib/nginx/emotechat.conf
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=chat.example.org \
        -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
    sed -e "s|/etc/letsencrypt/live/chat.example.org/fullchain.pem|$work/cert.pem|" \
        -e "s|/etc/letsencrypt/live/chat.example.org/privkey.pem|$work/key.pem|" \
        -e "s|/var/log/nginx/|$work/|" "$site" >"$work/site.conf"
    cat >"$work/nginx.conf" <<CONF
pid $work/nginx.pid;
error_log $work/error.log;
events {}
http {
    client_body_temp_path $work/body;
    proxy_temp_path $work/proxy;
    fastcgi_temp_path $work/fastcgi;
    uwsgi_temp_path $work/uwsgi;
    scgi_temp_path $work/scgi;
    include $work/site.conf;
}
CONF
    nginx -t -q -e "$work/error.log" -p "$work" -c "$work/nginx.conf" || fail "$site: nginx -t failed"

    local limit body
    limit=$(sed -n 's/^pub const EMOTE_BODY_LIMIT: usize = \([0-9]*\) \* 1024;$/\1/p' src/http/extract.rs)
    body=$(sed -n 's/^ *client_max_body_size \([0-9]*\)k;$/\1/p' "$site")
    [ -n "$limit" ] && [ "$body" = "$limit" ] \
        || fail "$site: client_max_body_size ${body:-?}k is not the server's largest body limit, ${limit:-?} KiB"
    local attachments default_mib
    default_mib=$(grep -A3 'flag: "--attachment-max-bytes"' src/config.rs \
        | sed -n 's/^ *default: "\([0-9]*\)MiB",$/\1/p')
    attachments=$(sed -n 's/^ *client_max_body_size \([0-9]*\)m;$/\1/p' "$site")
    [ -n "$default_mib" ] && [ "$attachments" = "$default_mib" ] \
        || fail "$site: the attachments' client_max_body_size ${attachments:-?}m is not --attachment-max-bytes's default, ${default_mib:-?} MiB"
    echo "nginx site: nginx -t passed; client_max_body_size ${body}k and ${attachments}m = the server's limits"
}

check_caddy() {
    local caddyfile=contrib/caddy/Caddyfile
    sed "s|/var/log/caddy/|$work/|" "$caddyfile" >"$work/Caddyfile"
    XDG_DATA_HOME=$work/caddy-data XDG_CONFIG_HOME=$work/caddy-config \
        caddy validate --config "$work/Caddyfile" --adapter caddyfile >"$work/caddy.log" 2>&1 \
        || fail "$caddyfile: $(tail -n 1 "$work/caddy.log")"
    caddy fmt "$caddyfile" | diff -u "$caddyfile" - || fail "$caddyfile: not as caddy fmt writes it"
    echo "Caddyfile: caddy validate passed"
}

check_systemd
check_nginx
check_caddy

#!/bin/sh
# Renders the PNG icons of the web app's manifest from web/icon.svg with headless Chromium
# (Debian's `chromium`), once; the PNGs are committed in web/ and compiled into the binary, so
# no build ever runs this. Run from the repository root: sh contrib/icons/make-icons.sh
#   icon-192.png, icon-512.png  the rounded icon on a transparent background ("any")
#   icon-maskable-512.png       a full-bleed square with the glyph inside the central 80 %
#                               safe zone, for launchers that cut their own shape ("maskable")
set -eu
browser=${CHROMIUM:-/usr/bin/chromium}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# $1 SVG file, $2 size in pixels, $3 output PNG
render() {
    cat > "$work/page.html" <<HTML
<!doctype html><style>html,body{margin:0;background:transparent}img{display:block;width:$2px;height:$2px}</style><img src="$1">
HTML
    "$browser" --headless --disable-gpu --no-sandbox --hide-scrollbars \
        --force-device-scale-factor=1 --default-background-color=00000000 \
        --window-size="$2,$2" --screenshot="$3" "file://$work/page.html" 2>/dev/null
}

sed -e 's|rx="14"||' \
    -e 's|<path|<g transform="translate(32 32) scale(0.72) translate(-32 -32)"><path|' \
    -e 's|</svg>|</g></svg>|' web/icon.svg > "$work/maskable.svg"
cp web/icon.svg "$work/icon.svg"
render "$work/icon.svg" 192 web/icon-192.png
render "$work/icon.svg" 512 web/icon-512.png
render "$work/maskable.svg" 512 web/icon-maskable-512.png

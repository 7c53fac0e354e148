#!/usr/bin/env bash
# Regenerates tests/fixtures/images/: small images made by real encoders, the
# broken and tricky files derived from them, and manifest.json, the one list of
# expected verdicts that the C++ tests (tests/cpp/image_test.cc) and both JS
# builds' suites read.
#
#   scripts/make-image-fixtures.sh        # rewrite every fixture and the manifest
#
# Needs (Debian 12): apt-get install -y imagemagick webp libimage-exiftool-perl,
# plus python3 (byte surgery). Output is byte-identical from run to run with
# the same tool versions (checked with ImageMagick 6.9.11-60, cwebp 1.2.4,
# exiftool 12.57): inputs are synthetic gradients, never files from disk, and
# -strip drops ImageMagick's date chunks. Dimensions in the manifest are the
# ones asked of the encoders, and the script checks each valid file with
# `identify`, an oracle independent of our sniffer.
#
# Manifest: {"images": [entry...]}, each entry
#   {"file", "declared", "about",
#    "sniff":  {"ok": true, "mimeType", "width", "height"} | {"ok": false},
#    "expect": {"ok": true, "mimeType", "width", "height"}
#            | {"ok": false, "code": "image_invalid" | "too_large", "messageContains"?}}
# "sniff" is what sniff_image / sniffImage says about the bytes; "expect" is the
# verdict of check_image for one attached image declared as "declared", under
# PROTOCOL.md's default limits (8 MiB, 8192 x 8192).
set -euo pipefail
export LC_ALL=C

cd "$(dirname "$0")/.."
OUT=tests/fixtures/images
for tool in convert identify cwebp exiftool python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool (see the header of $0)" >&2; exit 1; }
done
rm -rf "$OUT"
mkdir -p "$OUT"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# ImageMagick writes creation dates into PNGs unless told not to.
IM_OPTS=(-strip -define png:exclude-chunks=date,time)

check_dims() {  # file w h: what `identify` sees must be what we asked for
  local got
  got=$(identify -format '%w %h\n' "$1" | head -n 1)
  [ "$got" = "$2 $3" ] || { echo "$1: identify says $got, expected $2 $3" >&2; exit 1; }
}
check_bytes() {  # file offset hex...: assert the bytes at offset (format details)
  local file=$1 off=$2; shift 2
  local got
  got=$(od -An -tx1 -v -j "$off" -N $# "$file" | tr -d ' \n')
  [ "$got" = "$(echo "$@" | tr -d ' ')" ] || { echo "$file@$off: $got, expected $*" >&2; exit 1; }
}

# --- valid images from real encoders -------------------------------------
convert -size 4x3 gradient:red-blue "${IM_OPTS[@]}" PNG24:"$OUT/png_rgb_4x3.png"
check_bytes "$OUT/png_rgb_4x3.png" 25 02          # colour type 2: RGB
convert -size 5x7 gradient:red-blue -alpha set -channel A -fx 'i/w' +channel \
  "${IM_OPTS[@]}" PNG32:"$OUT/png_rgba_5x7.png"
check_bytes "$OUT/png_rgba_5x7.png" 25 06         # colour type 6: RGBA
convert -size 17x9 gradient:white-black -colorspace Gray "${IM_OPTS[@]}" \
  -define png:color-type=0 -depth 8 PNG:"$OUT/png_gray_17x9.png"
check_bytes "$OUT/png_gray_17x9.png" 25 00        # colour type 0: greyscale
convert -size 300x2 gradient:red-blue -colors 16 "${IM_OPTS[@]}" PNG8:"$OUT/png_palette_300x2.png"
check_bytes "$OUT/png_palette_300x2.png" 25 03    # colour type 3: palette

convert -size 33x21 gradient:red-blue -strip -quality 80 "$OUT/jpeg_baseline_33x21.jpg"
convert -size 40x30 gradient:green-yellow -strip -quality 80 -interlace JPEG \
  "$OUT/jpeg_progressive_40x30.jpg"
grep -q $'\xff\xc2' "$OUT/jpeg_progressive_40x30.jpg"   # SOF2 present
# EXIF APP1 as the first segment (no JFIF APP0), as cameras and phones write.
convert -size 24x16 gradient:blue-white -strip -quality 80 "$OUT/jpeg_exif_first_24x16.jpg"
exiftool -q -overwrite_original -JFIF:all= -EXIF:Make=chatwire -EXIF:Model=fixture \
  -EXIF:Orientation#=1 "$OUT/jpeg_exif_first_24x16.jpg"
check_bytes "$OUT/jpeg_exif_first_24x16.jpg" 0 ff d8 ff e1
# Fill bytes: JPEG (T.81 B.1.1.2) lets any number of 0xff precede a marker.
# No encoder writes them, so insert five before the frame header (SOF0) of a
# real baseline file.
convert -size 19x11 gradient:red-white -strip -quality 80 "$TMP/fill.jpg"
python3 - "$TMP/fill.jpg" "$OUT/jpeg_fill_bytes_19x11.jpg" <<'EOF'
import sys
data = open(sys.argv[1], 'rb').read()
at = data.index(b'\xff\xc0')
open(sys.argv[2], 'wb').write(data[:at] + b'\xff' * 5 + data[at:])
EOF

convert -size 10x6 gradient:red-blue "${IM_OPTS[@]}" GIF87:"$OUT/gif87a_10x6.gif"
check_bytes "$OUT/gif87a_10x6.gif" 0 47 49 46 38 37 61   # GIF87a
convert -size 6x10 gradient:red-blue -alpha set -channel A -fx 'i<2?0:1' +channel \
  "${IM_OPTS[@]}" GIF:"$OUT/gif89a_6x10.gif"
check_bytes "$OUT/gif89a_6x10.gif" 0 47 49 46 38 39 61   # GIF89a

convert -size 300x200 gradient:red-blue "${IM_OPTS[@]}" PNG24:"$TMP/rgb_300x200.png"
cwebp -quiet -q 60 "$TMP/rgb_300x200.png" -o "$OUT/webp_lossy_300x200.webp"
check_bytes "$OUT/webp_lossy_300x200.webp" 12 56 50 38 20   # 'VP8 '
convert -size 23x300 gradient:red-blue -colors 8 "${IM_OPTS[@]}" PNG24:"$TMP/rgb_23x300.png"
cwebp -quiet -lossless "$TMP/rgb_23x300.png" -o "$OUT/webp_lossless_23x300.webp"
check_bytes "$OUT/webp_lossless_23x300.webp" 12 56 50 38 4c   # 'VP8L'
convert -size 64x48 gradient:red-blue -alpha set -channel A -fx 'i/w' +channel \
  "${IM_OPTS[@]}" PNG32:"$TMP/rgba_64x48.png"
cwebp -quiet -q 60 -alpha_q 50 "$TMP/rgba_64x48.png" -o "$OUT/webp_extended_alpha_64x48.webp"
check_bytes "$OUT/webp_extended_alpha_64x48.webp" 12 56 50 38 58   # 'VP8X'

# Dimension limit (8192): exactly at it, and past it in each direction.
convert -size 8192x1 xc:gray "${IM_OPTS[@]}" PNG8:"$OUT/png_at_limit_8192x1.png"
convert -size 9000x10 xc:gray "${IM_OPTS[@]}" PNG8:"$OUT/png_over_dimension_9000x10.png"
convert -size 1x8193 xc:gray "${IM_OPTS[@]}" PNG8:"$OUT/png_over_dimension_1x8193.png"

for f in png_rgb_4x3.png:4:3 png_rgba_5x7.png:5:7 png_gray_17x9.png:17:9 \
    png_palette_300x2.png:300:2 jpeg_baseline_33x21.jpg:33:21 \
    jpeg_progressive_40x30.jpg:40:30 jpeg_exif_first_24x16.jpg:24:16 \
    jpeg_fill_bytes_19x11.jpg:19:11 gif87a_10x6.gif:10:6 gif89a_6x10.gif:6:10 \
    webp_lossy_300x200.webp:300:200 webp_lossless_23x300.webp:23:300 \
    webp_extended_alpha_64x48.webp:64:48 png_at_limit_8192x1.png:8192:1 \
    png_over_dimension_9000x10.png:9000:10 png_over_dimension_1x8193.png:1:8193; do
  IFS=: read -r name w h <<<"$f"
  check_dims "$OUT/$name" "$w" "$h"
done

# --- broken and tricky files derived from the valid ones -------------------
: >"$OUT/empty.png"
head -c 20 "$OUT/png_rgb_4x3.png" >"$OUT/truncated_png_20_bytes.png"       # IHDR cut before height
head -c 12 "$OUT/jpeg_baseline_33x21.jpg" >"$OUT/truncated_jpeg_in_app0.jpg"
python3 - "$OUT/jpeg_baseline_33x21.jpg" "$OUT/truncated_jpeg_before_sof.jpg" <<'EOF'
import sys
data = open(sys.argv[1], 'rb').read()
open(sys.argv[2], 'wb').write(data[:data.index(b'\xff\xc0') + 5])  # SOF0 cut before its height
EOF
head -c 8 "$OUT/gif89a_6x10.gif" >"$OUT/truncated_gif_8_bytes.gif"
head -c 26 "$OUT/webp_lossy_300x200.webp" >"$OUT/truncated_webp_26_bytes.webp"
head -c 16 "$OUT/webp_extended_alpha_64x48.webp" >"$OUT/truncated_webp_16_bytes.webp"
cp "$OUT/gif89a_6x10.gif" "$OUT/mislabeled_gif.png"                         # a GIF named .png
python3 - "$OUT/gif87a_10x6.gif" "$OUT/gif_zero_width.gif" <<'EOF'
import sys
data = bytearray(open(sys.argv[1], 'rb').read())
data[6:8] = b'\0\0'  # logical screen width = 0
open(sys.argv[2], 'wb').write(bytes(data))
EOF
# Data appended after a complete image is not read (src/core/media/image.h,
# "How far the walk goes"): these two are accepted as the leading image.
# Polyglots that are images only in their first bytes are refused; they come
# from scripts/make-polyglot-fixtures.py, run below.
cat "$OUT/gif89a_6x10.gif" "$OUT/png_rgb_4x3.png" >"$OUT/polyglot_gif_then_png.gif"
{ cat "$OUT/png_rgb_4x3.png"; printf '<script>alert(document.cookie)</script>\n'; } \
  >"$OUT/polyglot_png_with_js.png"
# Not images we take.
printf '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="3"/>\n' >"$OUT/svg_as_png.png"
convert -size 4x3 xc:red "${IM_OPTS[@]}" BMP3:"$OUT/bmp_4x3.bmp"
# RIFF WAVE header (not WebP): "RIFF" <36> "WAVE" "fmt " <16> PCM mono 8 kHz 8-bit.
printf 'RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00\x40\x1f\x00\x00\x01\x00\x08\x00data\x00\x00\x00\x00' \
  >"$OUT/riff_wave.webp"

# --- manifest ---------------------------------------------------------------
ENTRIES=()
ok() {  # file declared mime w h about
  local info="\"ok\": true, \"mimeType\": \"$3\", \"width\": $4, \"height\": $5"
  ENTRIES+=("{\"file\": \"$1\", \"declared\": \"$2\", \"about\": \"$6\",
      \"sniff\": {$info},
      \"expect\": {$info}}")
}
bad() {  # file declared code messageContains about [sniffed-mime w h]
  local sniff='"ok": false'
  [ $# -ge 8 ] && sniff="\"ok\": true, \"mimeType\": \"$6\", \"width\": $7, \"height\": $8"
  ENTRIES+=("{\"file\": \"$1\", \"declared\": \"$2\", \"about\": \"$5\",
      \"sniff\": {$sniff},
      \"expect\": {\"ok\": false, \"code\": \"$3\", \"messageContains\": \"$4\"}}")
}

ok png_rgb_4x3.png image/png image/png 4 3 "PNG, RGB (colour type 2)"
ok png_rgba_5x7.png image/png image/png 5 7 "PNG, RGBA (colour type 6)"
ok png_gray_17x9.png image/png image/png 17 9 "PNG, greyscale (colour type 0)"
ok png_palette_300x2.png image/png image/png 300 2 "PNG, palette (colour type 3), width over 255"
ok jpeg_baseline_33x21.jpg image/jpeg image/jpeg 33 21 "JPEG baseline (SOF0) after JFIF APP0, DQT"
ok jpeg_progressive_40x30.jpg image/jpeg image/jpeg 40 30 "JPEG progressive (SOF2)"
ok jpeg_exif_first_24x16.jpg image/jpeg image/jpeg 24 16 "JPEG with EXIF APP1 as first segment, no JFIF"
ok jpeg_fill_bytes_19x11.jpg image/jpeg image/jpeg 19 11 "JPEG with five 0xff fill bytes before SOF0"
ok gif87a_10x6.gif image/gif image/gif 10 6 "GIF87a"
ok gif89a_6x10.gif image/gif image/gif 6 10 "GIF89a with transparency"
ok webp_lossy_300x200.webp image/webp image/webp 300 200 "WebP lossy (VP8)"
ok webp_lossless_23x300.webp image/webp image/webp 23 300 "WebP lossless (VP8L)"
ok webp_extended_alpha_64x48.webp image/webp image/webp 64 48 "WebP extended (VP8X + ALPH + VP8)"
ok png_at_limit_8192x1.png image/png image/png 8192 1 "width exactly at the 8192 limit"
ok polyglot_gif_then_png.gif image/gif image/gif 6 10 "polyglot: a GIF followed by a PNG is the GIF"
ok polyglot_png_with_js.png image/png image/png 4 3 "polyglot: PNG with a script appended is a PNG"
bad png_over_dimension_9000x10.png image/png image_invalid "is 9000x10 pixels, over the limit of 8192x8192" \
  "width over the 8192 limit" image/png 9000 10
bad png_over_dimension_1x8193.png image/png image_invalid "is 1x8193 pixels, over the limit of 8192x8192" \
  "height one past the 8192 limit" image/png 1 8193
bad polyglot_gif_then_png.gif image/png image_invalid "is image/gif but was declared image/png" \
  "polyglot: declaring the trailing PNG does not make it a PNG" image/gif 6 10
bad mislabeled_gif.png image/png image_invalid "is image/gif but was declared image/png" \
  "a GIF named .png and declared image/png" image/gif 6 10
bad webp_lossy_300x200.webp image/png image_invalid "is image/webp but was declared image/png" \
  "WebP declared as PNG" image/webp 300 200
bad png_rgb_4x3.png image/jpg image_invalid "was declared 'image/jpg', which is not one of" \
  "declared type not in the protocol's list (image/jpg is not image/jpeg)" image/png 4 3
bad bmp_4x3.bmp image/bmp image_invalid "was declared 'image/bmp', which is not one of" \
  "BMP: unsupported type"
bad svg_as_png.png image/png image_invalid "has an unknown signature" "SVG text declared as PNG"
bad riff_wave.webp image/webp image_invalid "is a RIFF file of form 'WAVE', not a WebP image" \
  "RIFF WAVE audio declared as WebP"
bad empty.png image/png image_invalid "is empty (0 bytes)" "zero-size file"
bad truncated_png_20_bytes.png image/png image_invalid "is a truncated PNG" "PNG cut inside IHDR"
bad truncated_jpeg_in_app0.jpg image/jpeg image_invalid "is a truncated JPEG" "JPEG cut inside APP0"
bad truncated_jpeg_before_sof.jpg image/jpeg image_invalid "is a truncated JPEG" \
  "JPEG cut inside the frame header, before its height"
bad truncated_gif_8_bytes.gif image/gif image_invalid "is a truncated GIF" "GIF cut before the screen size"
bad truncated_webp_26_bytes.webp image/webp image_invalid "is a truncated WebP" "WebP VP8 cut before its size"
bad truncated_webp_16_bytes.webp image/webp image_invalid "is a truncated WebP" "WebP cut inside the first chunk header"
bad gif_zero_width.gif image/gif image_invalid "is a GIF with zero width" "GIF whose screen width is 0"

{
  echo '{"images": ['
  for i in "${!ENTRIES[@]}"; do
    sep=,; [ "$i" -eq $((${#ENTRIES[@]} - 1)) ] && sep=
    echo "  ${ENTRIES[$i]}$sep"
  done
  echo ']}'
} >"$OUT/manifest.json"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$OUT/manifest.json"
# Polyglot and structure fixtures (HTML where a format's structure must be,
# frames outside the screen or canvas): byte surgery on the files above,
# appended to the manifest. Needs only python3, so it also runs on its own.
python3 scripts/make-polyglot-fixtures.py

# Every fixture is listed and small.
for f in "$OUT"/*; do
  name=$(basename "$f")
  [ "$name" = manifest.json ] && continue
  grep -q "\"file\": \"$name\"" "$OUT/manifest.json" || { echo "$name not in manifest" >&2; exit 1; }
  [ "$(stat -c %s "$f")" -lt 20480 ] || { echo "$name is 20 KB or more" >&2; exit 1; }
done
echo "wrote $(ls "$OUT" | wc -l) files to $OUT"

#!/usr/bin/env bash
# Regenerates tests/fixtures/audio/ with real encoders (scripts/setup.sh
# installs them): sox for WAV, opusenc (opus-tools) for Ogg Opus, oggenc
# (vorbis-tools) for Ogg Vorbis, lame for MP3, ffmpeg for WebM. Each file is a
# small tone; tests/fixtures/audio/manifest.json records what ffprobe says of
# each (type, duration in ms as ffprobe, or opusinfo/ogginfo for Ogg, says), which tests/cpp/audio_test.cc and
# tests/js/audio.test.js check the sniffer against.
#
#   scripts/make-audio-fixtures.sh        # rewrites the fixtures and manifest
#
# Encoders are not bit-reproducible across versions; the committed files are
# the reference, this script is how they were made.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=tests/fixtures/audio
mkdir -p "$OUT"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for t in sox opusenc oggenc lame ffmpeg ffprobe; do
  command -v "$t" >/dev/null || { echo "make-audio-fixtures: $t not found (scripts/setup.sh installs it)" >&2; exit 1; }
done

# 1 s of a 440 Hz tone, 16 kHz mono 16-bit: the source of the compressed files.
sox -n -r 16000 -c 1 -b 16 "$OUT/wav_pcm16_mono_16k_1s.wav" synth 1 sine 440 vol 0.5
sox -n -r 8000 -c 2 -b 8 "$OUT/wav_pcm8_stereo_8k_1500ms.wav" synth 1.5 sine 300 vol 0.5
sox -n -r 48000 -c 1 -b 16 "$tmp/tone48.wav" synth 1 sine 440 vol 0.5

opusenc --quiet --bitrate 16 "$OUT/wav_pcm16_mono_16k_1s.wav" "$OUT/ogg_opus_1s.ogg"
oggenc --quiet -q 0 -o "$OUT/ogg_vorbis_1s.ogg" "$tmp/tone48.wav"
ffmpeg -loglevel error -y -i "$OUT/wav_pcm16_mono_16k_1s.wav" -c:a libopus -b:a 16k "$OUT/webm_opus_1s.webm"
ffmpeg -loglevel error -y -i "$OUT/wav_pcm16_mono_16k_1s.wav" -c:a libopus -b:a 16k -f matroska "$OUT/mka_opus_1s.mka"
# Written to a pipe, the muxer cannot seek back: no Duration and a Segment of
# unknown size, as a browser's MediaRecorder writes (duration unknown).
ffmpeg -loglevel error -i "$OUT/wav_pcm16_mono_16k_1s.wav" -c:a libopus -b:a 16k -f webm - >"$OUT/webm_opus_live.webm"
lame --quiet --cbr -b 32 -t "$OUT/wav_pcm16_mono_16k_1s.wav" "$OUT/mp3_cbr_32k_notag_1s.mp3"
lame --quiet --cbr -b 32 "$OUT/wav_pcm16_mono_16k_1s.wav" "$OUT/mp3_cbr_32k_info_1s.mp3"
lame --quiet -V 9 "$OUT/wav_pcm16_mono_16k_1s.wav" "$OUT/mp3_vbr_xing_1s.mp3"
lame --quiet --cbr -b 32 --tt "chatwire" --ta "fixture" --id3v2-only "$OUT/wav_pcm16_mono_16k_1s.wav" \
  "$OUT/mp3_id3v2_1s.mp3"

# 301 s, over the 300 s limit, in few bytes: a 100 Hz unsigned 8-bit WAV
# (30 KB), and the first 4 KiB of a VBR MP3 whose Xing header counts the
# frames of all 301 s (an MP3 has no container size: its head is a valid,
# shorter stream whose header still tells the whole duration).
sox -n -r 100 -c 1 -b 8 -e unsigned "$OUT/wav_u8_100hz_301s.wav" synth 301 sine 10 vol 0.3
sox -n -r 8000 -c 1 -b 8 "$tmp/long.wav" synth 301 sine 300 vol 0.3
lame --quiet -V 9 "$tmp/long.wav" "$tmp/long.mp3"
ffprobe -v error -show_entries format=duration -of csv=p=0 "$tmp/long.mp3" >"$tmp/long.dur"
head -c 4096 "$tmp/long.mp3" >"$OUT/mp3_vbr_xing_301s_head.mp3"

# The manifest: ffprobe's duration for each file, in ms (rounded).
{
  echo '{"audio": ['
  first=1
  for f in "$OUT"/*.wav "$OUT"/*.ogg "$OUT"/*.webm "$OUT"/*.mka "$OUT"/*.mp3; do
    name=$(basename "$f")
    case "$name" in
      *.wav) mime=audio/wav ;; *.ogg) mime=audio/ogg ;; *.webm | *.mka) mime=audio/webm ;; *.mp3) mime=audio/mpeg ;;
    esac
    dur=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$f")
    [ "$name" = webm_opus_live.webm ] && dur=N/A
    # ffprobe estimates a cut file from its size: take the whole file's figure.
    [ "$name" = mp3_vbr_xing_301s_head.mp3 ] && dur=$(cat "$tmp/long.dur")
    tool=ffprobe
    # ffprobe counts an Ogg Opus stream's pre-skip in; opusinfo and ogginfo
    # give the playback length RFC 7845 defines (granule minus pre-skip).
    case "$name" in
      ogg_opus*) tool=opusinfo ;; ogg_vorbis*) tool=ogginfo ;;
    esac
    if [ $tool != ffprobe ]; then
      dur=$($tool "$f" | sed -n 's/.*Playback length: \([0-9]*\)m:\([0-9.]*\)s.*/\1 \2/p' | tail -1 | awk '{ print $1 * 60 + $2 }')
    fi
    ms=$(awk -v d="$dur" 'BEGIN { if (d == "N/A") print "null"; else printf "%d", d * 1000 + 0.5 }')
    [ $first = 1 ] || echo ','
    first=0
    printf '  {"file": "%s", "mimeType": "%s", "durationMs": %s, "by": "%s", "bytes": %s}' "$name" "$mime" "$ms" "$tool" "$(stat -c %s "$f")"
  done
  echo
  echo ']}'
} >"$OUT/manifest.json"
ls -l "$OUT"

#!/bin/sh
# Profile chatwire's plain chat turn: the bench server child under load from
# the C load generator, sampled by `perf record -g` (JS frames named through
# node --perf-basic-prof). Usage: sh bench/profile-turn.sh [conns] [seconds] [outdir]
# SERVER=ws SERVER_ARGS='--store lite' profiles a baseline instead (bench/servers/$SERVER.mjs).
# Prints the top symbols by self time and a JS / native / SQLite / kernel split.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
conns=${1:-1000}; secs=${2:-8}; out=${3:-/tmp/chatwire-profile}
mkdir -p "$out"; db="$out/turn.db"; rm -f "$db" "$db-wal" "$db-shm"
cd "$root"
mkdir -p out/bench
[ out/bench/loadgen -nt bench/loadgen/loadgen.c ] || cc -O2 -Wall -o out/bench/loadgen bench/loadgen/loadgen.c
node --perf-basic-prof "bench/servers/${SERVER:-chatwire}.mjs" --port 0 --db "$db" --mode turn --reply plain ${SERVER_ARGS:-} >"$out/server.out" 2>"$out/server.err" &
spid=$!
for i in $(seq 100); do grep -q '"ready"' "$out/server.out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$out/server.out")
out/bench/loadgen --mode turn --port "$port" --conns "$conns" --warmup-ms 2000 --duration-ms $((secs * 1000 + 1000)) \
  --server-pid "$spid" --src-ips 8 >"$out/loadgen.json" &
lpid=$!
sleep 2.5
perf record -F 1999 -g -p "$spid" -o "$out/perf.data" -- sleep "$secs" 2>"$out/perf.err"
wait "$lpid"; kill "$spid"; wait "$spid" 2>/dev/null || true
perf report -i "$out/perf.data" --no-children --sort sym --stdio 2>/dev/null | grep -v '^#' | grep '%' | head -40 >"$out/top.txt"
perf report -i "$out/perf.data" --no-children --sort dso --stdio 2>/dev/null | grep -v '^#' | grep '%' | head -20 >"$out/dso.txt"
echo "== loadgen"; cat "$out/loadgen.json"; echo "== by DSO (self)"; cat "$out/dso.txt"; echo "== top symbols (self)"; cat "$out/top.txt"

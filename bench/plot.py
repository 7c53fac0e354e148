#!/usr/bin/env python3
"""Plots turns/s and p99 latency against connections for each server from
bench/results/latest.json (written by `npm run bench`) into bench/turns.png.

    python3 bench/plot.py [results.json] [out.png]

Needs matplotlib (Debian: apt-get install python3-matplotlib; scripts/setup.sh
installs it)."""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

here = os.path.dirname(os.path.abspath(__file__))
src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "results", "latest.json")
dst = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "turns.png")
with open(src) as f:
    results = json.load(f)

labels = {"chatwire": "chatwire", "ws": "ws + JSON.parse", "socketio": "Socket.IO", "uws": "uWebSockets.js"}
styles = {"chatwire": "o-", "ws": "s--", "socketio": "^-.", "uws": "d:"}
servers = [s for s in labels if any(r["server"] == s for r in results["turn"])]

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
for s in servers:
    pts = sorted((r["conns"], r["turnsPerS"], r["p99Us"] / 1000.0) for r in results["turn"] if r["server"] == s)
    xs = [p[0] for p in pts]
    ax1.plot(xs, [p[1] for p in pts], styles[s], label=labels[s])
    ax2.plot(xs, [p[2] for p in pts], styles[s], label=labels[s])
for ax, title, ylabel in ((ax1, "Throughput", "turns/s"), (ax2, "p99 latency", "p99 (ms)")):
    ax.set_xscale("log")
    ax.set_xlabel("connections (one turn in flight each)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    xs = sorted({r["conns"] for r in results["turn"]})
    ax.set_xticks(xs)
    ax.set_xticklabels([str(x) for x in xs])
ax2.set_yscale("log")
ax1.set_ylim(bottom=0)
ax1.legend(loc="best", fontsize=8)
m = results["machine"]
fig.suptitle(
    "chat turn (message → confirm → response, 256 B, SQLite file) — %s × %d, %s, load %s"
    % (m["cpu"], m["nproc"], m["date"][:10], " ".join(m["loadavg"])),
    fontsize=9,
)
fig.tight_layout()
fig.savefig(dst, dpi=110)
print(dst)

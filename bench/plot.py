#!/usr/bin/env python3
"""Plots turns/s against connections for each server, the plain chat turn
and the streamed turn side by side, from
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

labels = {
    "chatwire": "chatwire",
    "ws": "ws (two rows)",
    "uws": "uWebSockets.js (two rows)",
    "ws-heavy": "ws, chatwire's schema",
    "socketio-heavy": "Socket.IO, chatwire's schema",
    "uws-heavy": "uWS.js, chatwire's schema",
}
styles = {"chatwire": "o-", "ws": "s--", "uws": "d:", "ws-heavy": "s-.", "socketio-heavy": "^-.", "uws-heavy": "d-."}
rows = results["turn"]
servers = [s for s in labels if any(r["server"] == s for r in rows)]

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
for reply, ax in (("plain", ax1), ("stream", ax2)):
    for s in servers:
        pts = sorted((r["conns"], r["turnsPerS"]) for r in rows if r["server"] == s and r.get("reply", "plain") == reply)
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], styles[s], label=labels[s])
for ax, title, ylabel in ((ax1, "Chat turn", "turns/s"), (ax2, "Streamed turn (20 deltas, then the response)", "turns/s")):
    ax.set_xscale("log")
    ax.set_xlabel("connections (one turn in flight each)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    xs = sorted({r["conns"] for r in results["turn"]})
    ax.set_xticks(xs)
    ax.set_xticklabels([str(x) for x in xs])
ax1.set_ylim(bottom=0)
ax2.set_ylim(bottom=0)
ax1.legend(loc="best", fontsize=7)
m = results["machine"]
fig.suptitle(
    "turns/s against connections (256 B message, SQLite file on tmpfs) — %s × %d, %s, load %s"
    % (m["cpu"], m["nproc"], m["date"][:10], " ".join(m["loadavg"])),
    fontsize=9,
)
fig.tight_layout()
fig.savefig(dst, dpi=110)
print(dst)

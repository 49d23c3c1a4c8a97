"""Prints ours vs the peer, side by side, as a Markdown table (medians and ratios)."""
import json
import statistics
import sys


def load(path):
    rows = {}
    with open(path) as handle:
        for line in handle:
            line = line.strip()
            if line.startswith("{"):
                row = json.loads(line)
                rows[row["name"]] = row
    return rows


ours, peer = load(sys.argv[1]), load(sys.argv[2])
print("| benchmark | segment (median s) | scikit-learn (median s) | speed-up | notes |")
print("| --- | ---: | ---: | ---: | --- |")
for name, row in ours.items():
    mine = statistics.median(row["seconds"])
    other = peer.get(name)
    theirs = statistics.median(other["seconds"]) if other else None
    ratio = f"{theirs / mine:.1f}x" if theirs else "n/a"
    notes = []
    for key in ("chosen_k", "silhouettes", "inertia", "iterations", "peak_over_data", "mean_log_likelihood", "clusters", "noise",
                "cluster_sizes"):
        a, b = row.get("extra", {}).get(key), (other or {}).get("extra", {}).get(key)
        if a is not None or b is not None:
            notes.append(f"{key}: {a} vs {b}")
    print(f"| {name} | {mine:.3f} | {theirs:.3f} | {ratio} | {'; '.join(notes)} |" if theirs else
          f"| {name} | {mine:.3f} | n/a | n/a | {'; '.join(notes)} |")

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
KEYS = ("chosen_k", "silhouettes", "inertia", "iterations", "per_iteration_ms", "peak_over_data", "peak_over_loaded_data_mb", "mean_log_likelihood",
        "clusters", "noise", "cluster_sizes")


def median(row):
    return statistics.median(row["seconds"]) if row else None


def cell(value, ratio_of=None):
    if value is None:
        return "n/a", "n/a"
    return f"{value:.3f}", (f"{value / ratio_of:.1f}x" if ratio_of else "n/a")


print("| benchmark | segment (median s) | scikit-learn (median s) | speed-up | oneDAL (median s) | speed-up vs oneDAL | notes |")
print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
for name, row in ours.items():
    mine = median(row)
    sklearn, onedal = peer.get(name), peer.get(name + "_onedal")
    sk_time, sk_ratio = cell(median(sklearn), mine)
    dal_time, dal_ratio = cell(median(onedal), mine)
    notes = []
    for key in KEYS:
        sides = [("segment", row), ("scikit-learn", sklearn), ("oneDAL", onedal)]
        values = [(side, p.get("extra", {}).get(key)) for side, p in sides if p]
        if any(v is not None for _, v in values):
            notes.append(f"{key}: " + ", ".join(f"{side} {v}" for side, v in values))
    print(f"| {name} | {mine:.3f} | {sk_time} | {sk_ratio} | {dal_time} | {dal_ratio} | {'; '.join(notes)} |")

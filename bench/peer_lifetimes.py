"""The customer-value peer: lifetimes 0.11.3 on the purchase summaries segment-bench wrote
(`segment-bench btyd-retail DIR summary.csv`): BG/NBD and Gamma-Gamma fitted, every customer's
P(alive) and expected purchases in 90 days, timed; one JSON line per step, like segment-bench's.
lifetimes needs an older pandas and numpy than the other peers: it runs in a venv of its own
(`python3 -m venv /tmp/lt && /tmp/lt/bin/pip install lifetimes==0.11.3 "pandas<2.2" "numpy<2" "scipy<1.13"`).

    python peer_lifetimes.py SUMMARY.csv [repeats] [--per-customer OUT.csv] [--name NAME]
"""
import json
import sys
import time

import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter

path, repeats = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2].isdigit() else 3
name = sys.argv[sys.argv.index("--name") + 1] if "--name" in sys.argv else "retail"
data = pd.read_csv(path)
seconds = []
for _ in range(repeats):
    start = time.perf_counter()
    bgf = BetaGeoFitter().fit(data["frequency"], data["recency"], data["T"])
    repeat = data[(data["frequency"] > 0) & (data["monetary_value"] > 0)]
    ggf = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    seconds.append(time.perf_counter() - start)
extra = {k: float(v) for k, v in list(bgf.params_.items()) + list(ggf.params_.items())}
extra["customers"] = len(data)
print(json.dumps({"name": f"btyd_fit_{name}", "seconds": seconds, "extra": extra}))
seconds = []
for _ in range(repeats):
    start = time.perf_counter()
    alive = bgf.conditional_probability_alive(data["frequency"], data["recency"], data["T"])
    purchases = bgf.conditional_expected_number_of_purchases_up_to_time(90, data["frequency"], data["recency"], data["T"])
    seconds.append(time.perf_counter() - start)
print(json.dumps({"name": f"btyd_figures_{name}", "seconds": seconds,
                  "extra": {"expected_purchases_90d_total": float(purchases.sum())}}))
if "--per-customer" in sys.argv:
    out = sys.argv[sys.argv.index("--per-customer") + 1]
    pd.DataFrame({"p_alive": alive, "expected_purchases_90d": purchases}).to_csv(out, index=False, float_format="%.12g")

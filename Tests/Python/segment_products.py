"""What each segment buys, in pandas, on the Online Retail daily files: the reference the
engine's SegmentProducts is tested against (same counts, same lift, same order).

Usage: segment_products.py FOLDER SEGMENTS.csv OUT.json
SEGMENTS.csv: CustomerID,segment for every customer the engine kept.
Cleaning as netted_rfm.py (purchase rows of kept customers: no cancellation, Quantity > 0,
UnitPrice > 0, exact duplicates once). Per segment, for every product (StockCode, stripped):
buyers = distinct customers of the segment who bought it; share = buyers / segment customers;
population share = distinct buyers among all kept customers / kept customers; lift = share /
population share. Listed only with buyers >= max(10, ceil(1% of the segment)); popular: by
buyers (most first), then code; distinctive: lift > 1, by lift, then buyers, then code
(descending lift and buyers, ascending code); ten each.
"""
import json
import math
import sys

import pandas as pd

from retail_rows import cancels_and_purchases

folder, segments_csv, out_json = sys.argv[1:4]
_, purchases = cancels_and_purchases(folder)

segments = pd.read_csv(segments_csv, dtype={"CustomerID": str}).set_index("CustomerID")["segment"]
purchases = purchases[purchases["CustomerID"].isin(segments.index)].copy()
purchases["code"] = purchases["StockCode"].str.strip()
pairs = purchases[["CustomerID", "code"]].drop_duplicates()
pairs["segment"] = pairs["CustomerID"].map(segments)
customers = len(segments)
population = pairs.groupby("code")["CustomerID"].nunique() / customers
result = {}
for segment, size in segments.value_counts().sort_index().items():
    minimum = max(10, math.ceil(size * 0.01))
    buyers = pairs[pairs["segment"] == segment].groupby("code")["CustomerID"].nunique()
    stats = pd.DataFrame({"buyers": buyers})
    stats = stats[stats["buyers"] >= minimum].copy()
    stats["share"] = stats["buyers"] / size
    stats["lift"] = stats["share"] / population.reindex(stats.index)
    stats = stats.reset_index()
    popular = stats.sort_values(["buyers", "code"], ascending=[False, True]).head(10)
    distinctive = stats[stats["lift"] > 1].sort_values(
        ["lift", "buyers", "code"], ascending=[False, False, True]).head(10)
    result[str(segment)] = {
        "minimum_buyers": minimum,
        "popular": [[r.code, int(r.buyers), float(r.lift)] for r in popular.itertuples()],
        "distinctive": [[r.code, int(r.buyers), float(r.lift)] for r in distinctive.itertuples()],
    }
json.dump(result, open(out_json, "w"))

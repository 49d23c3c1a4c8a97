"""The netting rule of TransactionCleaning, in pandas, on the Online Retail daily files.

Usage: netted_rfm.py FOLDER OUT.csv OUT.json
Rules, in order:
1. drop rows with an empty CustomerID;
2. cancellation rows (InvoiceNo starting with "C") are not purchases; those with Quantity < 0
   and UnitPrice > 0 give back |Quantity x UnitPrice| to their customer, each distinct line once
   (exact duplicates of all eight columns count once);
3. drop purchase rows with Quantity <= 0 or UnitPrice <= 0;
4. drop exact duplicate purchase rows;
5. per customer: net = purchases - cancelled; customers whose net <= 0 are left out.
Features: recency (days from the last purchase to the day after the last purchase kept),
frequency (distinct purchase invoices), monetary (net), avg_order_value (net / frequency).
"""
import json
import sys

import pandas as pd

from retail_rows import cancels_and_purchases

folder, out_csv, out_json = sys.argv[1:4]
cancels, purchases = cancels_and_purchases(folder)

purchases = purchases.assign(amount=purchases["Quantity"] * purchases["UnitPrice"],
                             day=pd.to_datetime(purchases["InvoiceDate"]).dt.normalize())
cancelled = (cancels["Quantity"].abs() * cancels["UnitPrice"]).groupby(cancels["CustomerID"]).sum()
snapshot = None  # set below: the day after the last purchase of a customer kept
per = purchases.groupby("CustomerID").agg(last=("day", "max"), frequency=("InvoiceNo", "nunique"), gross=("amount", "sum"))
per["cancelled"] = cancelled.reindex(per.index).fillna(0.0)
per["monetary"] = per["gross"] - per["cancelled"]
without = per[per["monetary"] <= 0]
kept = per[per["monetary"] > 0].copy()
snapshot = kept["last"].max() + pd.Timedelta(days=1)
kept["recency"] = (snapshot - kept["last"]).dt.days
kept["avg_order_value"] = kept["monetary"] / kept["frequency"]
kept[["recency", "frequency", "monetary", "avg_order_value"]].to_csv(out_csv, float_format="%.17g")
netted = per["cancelled"].clip(upper=per["gross"]).sum()
json.dump({"customers": int(len(kept)), "customers_without_net_spend": int(len(without)),
           "cancelled_amount": float(netted), "rows_out": int(purchases["CustomerID"].isin(kept.index).sum())},
          open(out_json, "w"))

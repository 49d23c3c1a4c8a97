"""The Online Retail daily files read and split as TransactionCleaning does, shared by the pandas
references (netted_rfm.py, segment_products.py): rows with an empty CustomerID dropped;
cancellation rows (InvoiceNo starting with "C") apart, those with Quantity < 0 and UnitPrice > 0
(each distinct line once) being what is given back; purchase rows with Quantity > 0 and
UnitPrice > 0, exact duplicates once.
"""
import glob
import os

import pandas as pd


def cancels_and_purchases(folder):
    frames = [pd.read_csv(f, dtype={"InvoiceNo": str, "StockCode": str, "CustomerID": str}, keep_default_na=False)
              for f in sorted(glob.glob(os.path.join(folder, "*.csv")))]
    df = pd.concat(frames, ignore_index=True)
    df = df[df["CustomerID"].str.strip() != ""].copy()
    df["CustomerID"] = df["CustomerID"].str.strip().str.replace(r"\.0+$", "", regex=True)
    df["Quantity"] = pd.to_numeric(df["Quantity"])
    df["UnitPrice"] = pd.to_numeric(df["UnitPrice"])
    is_cancel = df["InvoiceNo"].str.strip().str.upper().str.startswith("C")
    cancels = df[is_cancel & (df["Quantity"] < 0) & (df["UnitPrice"] > 0)].drop_duplicates()
    purchases = df[~is_cancel]
    purchases = purchases[(purchases["Quantity"] > 0) & (purchases["UnitPrice"] > 0)].drop_duplicates()
    return cancels, purchases

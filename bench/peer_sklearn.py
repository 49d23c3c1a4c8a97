"""The peer: the same pipeline in pandas + scikit-learn, on the same inputs as segment-bench.

    python peer_sklearn.py retail <by-day folder> [repeats]
    python peer_sklearn.py sweep-csv <transactions.csv> [repeats]
    python peer_sklearn.py kmeans <file.f64> <rows> [repeats]
    python peer_sklearn.py algorithms <file.f64> <rows> [repeats]   mini-batch, mixture, DBSCAN, Ward (first 10,000)
    python peer_sklearn.py kmeans-rfm <file.f64> <start.f64> <rows> [repeats]
        full k-means from segment-bench's start, in scikit-learn and (when installed) oneDAL
        through scikit-learn-intelex

Prints one JSON object per benchmark (name, seconds per run, extra facts) to stdout.
"""
import glob
import json
import os
import sys
import time

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score


def timed(repeats, body):
    seconds, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = body()
        seconds.append(time.perf_counter() - start)
    return seconds, result


def emit(name, seconds, **extra):
    print(json.dumps({"name": name, "seconds": seconds, "extra": {k: str(v) for k, v in extra.items()}}), flush=True)


def rfm(frame):
    """The cleaning rules and features of shared/fixtures/rfm (what segment's engine does)."""
    frame = frame[frame["CustomerID"].notna()]
    frame = frame[~frame["InvoiceNo"].astype(str).str.startswith("C")]
    frame = frame[(frame["Quantity"] > 0) & (frame["UnitPrice"] > 0)]
    frame = frame.drop_duplicates()
    frame = frame.assign(
        amount=frame["Quantity"] * frame["UnitPrice"],
        day=pd.to_datetime(frame["InvoiceDate"]).dt.normalize(),
        CustomerID=frame["CustomerID"].astype("int64"),
    )
    snapshot = frame["day"].max() + pd.Timedelta(days=1)
    grouped = frame.groupby("CustomerID")
    features = pd.DataFrame({
        "recency": (snapshot - grouped["day"].max()).dt.days,
        "frequency": grouped["InvoiceNo"].nunique(),
        "monetary": grouped["amount"].sum(),
    })
    features["avg_order_value"] = features["monetary"] / features["frequency"]
    return features


def scaled(features):
    logged = np.log1p(features[["recency", "frequency", "monetary", "avg_order_value"]].to_numpy(dtype=float))
    return (logged - logged.mean(axis=0)) / logged.std(axis=0)


def sweep(x, n_init=10):
    rows = []
    for k in range(2, 11):
        model = KMeans(n_clusters=k, n_init=n_init, random_state=0).fit(x)
        smallest = np.bincount(model.labels_, minlength=k).min() / len(x)
        rows.append((k, model.inertia_, silhouette_score(x, model.labels_),
                     davies_bouldin_score(x, model.labels_), calinski_harabasz_score(x, model.labels_), smallest))
    return rows


def actionable(rows):
    """The engine's default rule: the best silhouette among k = 3...8 whose every segment holds
    at least 2% of the customers (all of 3...8 when none qualifies)."""
    considered = [row for row in rows if 3 <= row[0] <= 8] or rows
    pool = [row for row in considered if row[5] >= 0.02] or considered
    return max(pool, key=lambda row: (row[2], -row[0]))


def report_sweep(name, x, repeats):
    seconds, rows = timed(repeats, lambda: sweep(x))
    best = actionable(rows)
    emit(name, seconds, customers=len(x), chosen_k=best[0],
         silhouettes="/".join(f"{row[2]:.4f}" for row in rows))


def onedal_estimators():
    """oneDAL's KMeans and DBSCAN through scikit-learn-intelex, or None when it is not installed."""
    try:
        from importlib.metadata import version
        from sklearnex.cluster import DBSCAN, KMeans as DalKMeans
    except ImportError:
        print("scikit-learn-intelex is not installed: the oneDAL peer is skipped", file=sys.stderr)
        return None
    return {"KMeans": DalKMeans, "DBSCAN": DBSCAN, "version": version("scikit-learn-intelex")}


def kmeans_rfm(data_path, start_path, rows, repeats):
    """Lloyd from the same start as segment-bench, tol 0 (until no label moves), 300 iterations at most."""
    x = np.fromfile(data_path, dtype="<f8").reshape(rows, 4)
    start = np.fromfile(start_path, dtype="<f8").reshape(-1, 4)
    k = len(start)
    onedal = onedal_estimators()
    peers = [("sklearn", KMeans)] + ([("onedal", onedal["KMeans"])] if onedal else [])
    for name, estimator in peers:
        fit = lambda: estimator(n_clusters=k, init=start, n_init=1, max_iter=300, tol=0.0).fit(x)
        seconds, model = timed(repeats, fit)
        extra = {"inertia": f"{model.inertia_:.10g}", "iterations": model.n_iter_,
                 "per_iteration_ms": f"{sorted(seconds)[len(seconds) // 2] / model.n_iter_ * 1000:.2f}"}
        if name == "onedal":
            extra["sklearnex"] = onedal["version"]
        emit(f"kmeans_rfm_{rows}x4_k{k}" + ("" if name == "sklearn" else "_onedal"), seconds, **extra)


def read_folder(folder):
    files = sorted(glob.glob(os.path.join(folder, "*.csv")))
    return pd.concat((pd.read_csv(f, dtype={"InvoiceNo": str, "StockCode": str}) for f in files), ignore_index=True)


def main():
    what = sys.argv[1]
    if what == "retail":
        repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
        seconds, features = timed(repeats, lambda: rfm(read_folder(sys.argv[2])))
        emit("retail_read_clean_rfm", seconds, customers=len(features))
        report_sweep("retail_k_sweep", scaled(features), repeats)
    elif what == "sweep-csv":
        repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 1
        features = rfm(pd.read_csv(sys.argv[2], dtype={"InvoiceNo": str, "StockCode": str}))
        report_sweep("generated_k_sweep", scaled(features), repeats)
    elif what == "kmeans":
        rows = int(sys.argv[3])
        repeats = int(sys.argv[4]) if len(sys.argv) > 4 else 3
        x = np.fromfile(sys.argv[2], dtype="<f8").reshape(rows, 8)
        import resource
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        seconds, model = timed(repeats, lambda: KMeans(n_clusters=6, n_init=3, random_state=0).fit(x))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        emit(f"kmeans_{rows}x8_k6", seconds, inertia=f"{model.inertia_:.6g}", iterations=model.n_iter_,
             data_mb=f"{x.nbytes / 1048576:.1f}", peak_over_loaded_data_mb=f"{(peak - before) / 1048576:.1f}",
             peak_over_data=f"{(peak - before + x.nbytes) / x.nbytes:.2f}")
        from sklearn.cluster import MiniBatchKMeans
        seconds, model = timed(repeats, lambda: MiniBatchKMeans(n_clusters=6, n_init=3, random_state=0).fit(x))
        emit(f"minibatch_kmeans_{rows}x8_k6", seconds, inertia=f"{model.inertia_:.6g}")
        onedal = onedal_estimators()
        if onedal:
            seconds, model = timed(repeats, lambda: onedal["KMeans"](n_clusters=6, n_init=3, random_state=0).fit(x))
            emit(f"kmeans_{rows}x8_k6_onedal", seconds, inertia=f"{model.inertia_:.6g}", iterations=model.n_iter_,
                 sklearnex=onedal["version"])
    elif what == "algorithms":
        from sklearn.cluster import DBSCAN, AgglomerativeClustering, MiniBatchKMeans
        from sklearn.mixture import GaussianMixture
        rows = int(sys.argv[3])
        repeats = int(sys.argv[4]) if len(sys.argv) > 4 else 3
        x = np.fromfile(sys.argv[2], dtype="<f8").reshape(rows, 4)
        seconds, model = timed(repeats, lambda: MiniBatchKMeans(n_clusters=6, n_init=3, random_state=0).fit(x))
        emit(f"minibatch_kmeans_{rows}x4_k6", seconds, inertia=f"{model.inertia_:.6g}")
        seconds, model = timed(repeats, lambda: GaussianMixture(6, covariance_type="full", random_state=0).fit(x))
        emit(f"gaussian_mixture_full_{rows}x4_k6", seconds, mean_log_likelihood=f"{model.score(x):.6f}", iterations=model.n_iter_)
        seconds, model = timed(repeats, lambda: DBSCAN(eps=0.3, min_samples=8).fit(x))
        labels = model.labels_
        emit(f"dbscan_{rows}x4_eps0.3_min8", seconds, clusters=int(labels.max() + 1), noise=int((labels == -1).sum()))
        onedal = onedal_estimators()
        if onedal:
            seconds, model = timed(repeats, lambda: onedal["DBSCAN"](eps=0.3, min_samples=8).fit(x))
            labels = model.labels_
            emit(f"dbscan_{rows}x4_eps0.3_min8_onedal", seconds, clusters=int(labels.max() + 1),
                 noise=int((labels == -1).sum()), sklearnex=onedal["version"])
        head = x[:min(rows, 10000)]
        seconds, model = timed(repeats, lambda: AgglomerativeClustering(n_clusters=6, linkage="ward").fit(head))
        sizes = "/".join(str(c) for c in sorted(np.bincount(model.labels_)))
        emit(f"ward_{len(head)}x4_k6", seconds, cluster_sizes=sizes)
    elif what == "kmeans-rfm":
        kmeans_rfm(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]) if len(sys.argv) > 5 else 3)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()

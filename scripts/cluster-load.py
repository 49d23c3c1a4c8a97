"""Scoring load through one address (nginx) for the cluster test: WORKERS threads call Score for
SECONDS with the client's retry policy (examples/python's service config: UNAVAILABLE retried up
to 5 attempts with backoff), and print one JSON line: calls, ok, failed (for good, after the
retries), and the first failure's status.

    python cluster-load.py HOST:PORT MODEL_REF WORKERS SECONDS
"""
import json
import os
import sys
import threading
import time

os.environ.setdefault("GRPC_VERBOSITY", "NONE")
import grpc  # noqa: E402

from segment_client import Connection, pb  # noqa: E402

target, model, workers, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
rows = pb.scoring.FeatureRows(feature_names=["recency", "frequency", "monetary", "avg_order_value"])
rows.rows.add(customer_id="load", values=[12.0, 4.0, 820.5, 205.1])
counts = {"calls": 0, "ok": 0, "failed": 0, "first_failure": ""}
lock = threading.Lock()
end = time.monotonic() + seconds


def work():
    with Connection(target, timeout=10) as connection:
        request = pb.scoring.ScoreRequest(model=pb.model_ref(model), features=rows)
        while time.monotonic() < end:
            try:
                connection.scoring.Score(request, **connection.call())
                outcome = None
            except grpc.RpcError as error:
                outcome = f"{error.code().name}: {error.details()}"
            with lock:
                counts["calls"] += 1
                if outcome is None:
                    counts["ok"] += 1
                else:
                    counts["failed"] += 1
                    counts["first_failure"] = counts["first_failure"] or outcome


threads = [threading.Thread(target=work) for _ in range(workers)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps(counts))

"""The serving peer: what a data team would write, a grpcio server implementing our Score RPC
(from Protos/) with a scikit-learn KMeans fitted on the same pipeline (log1p, standard scaling).

    python peer_server.py <generated-code dir> <transactions.csv> <port>
"""
import sys
from concurrent import futures

import grpc
import numpy as np
import pandas as pd
from sklearn.cluster import KMeans

sys.path.insert(0, sys.argv[1])
from segmentation.v1 import scoring_pb2, scoring_pb2_grpc  # noqa: E402
from peer_sklearn import rfm  # noqa: E402

FEATURES = ["recency", "frequency", "monetary", "avg_order_value"]


class Scoring(scoring_pb2_grpc.ScoringServiceServicer):
    def __init__(self, transactions):
        features = rfm(pd.read_csv(transactions, dtype={"InvoiceNo": str, "StockCode": str}))
        logged = np.log1p(features[FEATURES].to_numpy(dtype=float))
        self.mean, self.std = logged.mean(axis=0), logged.std(axis=0)
        self.model = KMeans(n_clusters=5, n_init=10, random_state=0).fit((logged - self.mean) / self.std)
        self.names = [f"segment {i}" for i in range(5)]

    def _score(self, request, context):
        rows = request.features.rows
        columns = list(request.features.feature_names)
        try:
            positions = [columns.index(name) for name in FEATURES]
        except ValueError:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"columns must include {FEATURES}")
        x = np.array([[row.values[p] for p in positions] for row in rows], dtype=float)
        if not np.isfinite(x).all():
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "values must be finite")
        distances = self.model.transform((np.log1p(x) - self.mean) / self.std)
        order = np.argsort(distances, axis=1)
        response = scoring_pb2.ScoreResponse(model_name="peer", model_version=1)
        for row, ranked, d in zip(rows, order, distances):
            best, second = int(ranked[0]), int(ranked[1])
            response.scores.scores.add(customer_id=row.customer_id, segment_id=best, segment_name=self.names[best],
                                distance=float(d[best]), runner_up_id=second, runner_up_name=self.names[second],
                                runner_up_distance=float(d[second]))
        return response

    def Score(self, request, context):
        return self._score(request, context)

    def ScoreStream(self, request_iterator, context):
        for request in request_iterator:
            yield self._score(request, context)


def main():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    scoring_pb2_grpc.add_ScoringServiceServicer_to_server(Scoring(sys.argv[2]), server)
    server.add_insecure_port(f"127.0.0.1:{sys.argv[3]}")
    server.start()
    print(f"peer listening on 127.0.0.1:{sys.argv[3]}", file=sys.stderr, flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()

"""Helpers for h2load: the gRPC-framed request body, and the reply frame size to verify against.

    python grpc_frame.py body <generated-code dir> <model> <out file>
    python grpc_frame.py reply-size <generated-code dir> <model> <port>   (makes one real call)
"""
import struct
import sys

sys.path.insert(0, sys.argv[2])
from segmentation.v1 import scoring_pb2, scoring_pb2_grpc  # noqa: E402


def request(model):
    name, _, ref = model.partition("@")
    message = scoring_pb2.ScoreRequest()
    message.model.name = name
    if ref.isdigit():
        message.model.version = int(ref)
    elif ref:
        message.model.alias = ref
    message.features.feature_names.extend(["recency", "frequency", "monetary", "avg_order_value"])
    message.features.rows.add(customer_id="c1", values=[12.0, 4.0, 820.5, 205.1])
    return message


if sys.argv[1] == "body":
    payload = request(sys.argv[3]).SerializeToString()
    with open(sys.argv[4], "wb") as out:
        out.write(b"\x00" + struct.pack(">I", len(payload)) + payload)
elif sys.argv[1] == "reply-size":
    import grpc
    with grpc.insecure_channel(f"127.0.0.1:{sys.argv[4]}") as channel:
        reply = scoring_pb2_grpc.ScoringServiceStub(channel).Score(request(sys.argv[3]))
    print(5 + len(reply.SerializeToString()))

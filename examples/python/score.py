#!/usr/bin/env python3
"""Scores the customers of a CSV file against a model on segment-server and prints a JSON list of
{customer_id, segment_id, segment_name, distance}.

    python score.py --server HOST:PORT --model NAME[@VERSION|@ALIAS] FILE.csv

FILE.csv holds what the model was trained on: order lines (transactions, aggregated per customer
by the server) or one row per customer. The file goes in one Score call, so it must fit the
server's message limit (16 MiB by default); the segment CLI streams larger files. On an error it
prints "error: STATUS: message" and exits non-zero (3 not found, 4 invalid input, 5 unreachable,
8 denied, 1 other; the segment CLI's codes).
"""
import argparse
import json
import os
import sys

# gRPC's C core logs connection failures on stderr too; the one-line error below says it (set
# GRPC_VERBOSITY=ERROR to see them).
os.environ.setdefault("GRPC_VERBOSITY", "NONE")
import grpc  # noqa: E402

from segment_client import ClientError, Connection, add_connection_arguments, pb  # noqa: E402
from segment_client.connection import fail  # noqa: E402

LIMIT = 16 * 1024 * 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_connection_arguments(parser)
    parser.add_argument("--model", required=True, help="NAME, NAME@VERSION or NAME@ALIAS")
    parser.add_argument("file", help="CSV of order lines or customer rows, with a header")
    args = parser.parse_args()
    try:
        data = open(args.file, "rb").read()
    except OSError as error:
        print(f"error: cannot read {args.file}: {error.strerror}", file=sys.stderr)
        sys.exit(64)
    if len(data) > LIMIT:
        print(f"error: {args.file} is {len(data)} bytes, over one message's {LIMIT}: use the segment CLI, which streams",
              file=sys.stderr)
        sys.exit(64)
    try:
        with Connection.from_args(args) as connection:
            connection.wait_until_serving()
            reply = connection.scoring.Score(
                pb.scoring.ScoreRequest(model=pb.model_ref(args.model), csv=pb.scoring.CsvRows(data=data)), **connection.call())
    except (grpc.RpcError, ClientError) as error:
        fail(error)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(64)
    scores = [{"customer_id": s.customer_id, "segment_id": s.segment_id, "segment_name": s.segment_name, "distance": s.distance}
              for s in reply.scores.scores]
    json.dump(scores, sys.stdout, indent=1)
    sys.stdout.write("\n")
    print(f"scored {len(scores)} customers with {reply.model_name}@{reply.model_version}", file=sys.stderr)
    # Rows cleaning removed (no customer id, cancellations, unreadable values...) are counted, never silent.
    for step in reply.data_report.steps:
        if step.removed:
            print(f"removed by cleaning: {step.removed} {step.rule or step.name}", file=sys.stderr)


if __name__ == "__main__":
    main()

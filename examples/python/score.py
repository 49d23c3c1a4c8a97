#!/usr/bin/env python3
"""Scores the customers of CSV files against a model on segment-server and prints a JSON list of
{customer_id, segment_id, segment_name, distance}.

    python score.py --server HOST:PORT --model NAME[@VERSION|@ALIAS] FILE.csv [FILE.csv ...]

The files hold what the model was trained on: order lines (transactions, aggregated per customer
by the server) or one row per customer, with one header (the same in every file). Any size: they
are streamed (ScoreStream) in requests of about 1 MiB, each customer's order lines in one request
however they are spread over the files, in bounded memory. The model reference is resolved once,
so every request is scored by the same version even if an alias moves meanwhile. Recency is
measured to one day for every customer, the segment CLI's: the later of the model's snapshot and
the day after the last transaction kept; a request the server measured to an earlier day (its
own last transaction was earlier) is scored again to that day. So the answers equal the CLI's
(`segment score`) on the same files.

On an error it prints "error: STATUS: message" and exits non-zero (3 not found, 4 invalid input,
5 unreachable, 8 denied, 1 other, 64 usage; the segment CLI's codes).
"""
import argparse
import json
import os
import sys
from collections import Counter

# gRPC's C core logs connection failures on stderr too; the one-line error below says it (set
# GRPC_VERBOSITY=ERROR to see them).
os.environ.setdefault("GRPC_VERBOSITY", "NONE")
import grpc  # noqa: E402

from segment_client import ClientError, Connection, add_connection_arguments, pb  # noqa: E402
from segment_client.chunks import CustomerChunks, InputError, RowChunks, column_index, header_of  # noqa: E402
from segment_client.connection import fail  # noqa: E402

STATUS_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


def chunks_for(model, files):
    """How the files become requests: grouped by customer for order lines (unless they already
    hold the model's features, one row per customer), cut between rows otherwise."""
    header = header_of(files[0])
    if model.kind != pb.common.INPUT_KIND_TRANSACTIONS or (
            model.expected_columns and set(model.expected_columns) <= set(header)):
        return RowChunks(files)
    customer = model.input_columns.roles.get("customer") or "CustomerID"
    column_index(header, customer, "customer")  # fails before reading everything
    return CustomerChunks(files, customer)


def score_stream(connection, ref, chunks, timeout, only=None, snapshot=""):
    """(index, ScoreResponse) of each request sent: every chunk, or those whose index is in `only`.
    A request the server refused ends the run with its status."""
    def requests():
        for index, data in enumerate(chunks):
            if only is None or index in only:
                yield pb.scoring.ScoreRequest(model=ref, csv=pb.scoring.CsvRows(data=data), request_id=str(index),
                                              snapshot_date=snapshot)
    for reply in connection.scoring.ScoreStream(requests(), **connection.call(timeout)):
        if reply.HasField("error"):
            raise ClientError(STATUS_BY_NUMBER.get(reply.error.code, grpc.StatusCode.UNKNOWN), reply.error.message)
        yield int(reply.request_id), reply


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_connection_arguments(parser)
    parser.add_argument("--model", required=True, help="NAME, NAME@VERSION or NAME@ALIAS")
    parser.add_argument("files", nargs="+", metavar="FILE", help="CSV of order lines or customer rows, with a header")
    args = parser.parse_args()
    for path in args.files:
        if not os.path.isfile(path):
            print(f"error: cannot read {path}: no such file", file=sys.stderr)
            sys.exit(64)
    chunks = None
    try:
        with Connection.from_args(args) as connection:
            connection.wait_until_serving()
            model = connection.models.GetModel(pb.models.GetModelRequest(model=pb.model_ref(args.model)),
                                               **connection.call()).model
            pinned = pb.common.ModelRef(name=model.version.name, version=model.version.version)
            chunks = chunks_for(model, args.files)
            # One deadline for a whole stream: --timeout per started 10 MiB of input.
            timeout = connection.timeout * (1 + sum(map(os.path.getsize, args.files)) // (10 << 20))
            replies = dict(score_stream(connection, pinned, chunks, timeout))
            snapshot = max((r.data_report.snapshot_date for r in replies.values()), default="")
            earlier = {i for i, r in replies.items() if r.data_report.snapshot_date not in ("", snapshot)}
            if earlier:
                replies.update(score_stream(connection, pinned, chunks, timeout, only=earlier, snapshot=snapshot))
    except (grpc.RpcError, ClientError) as error:
        fail(error)
    except (ValueError, InputError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(64)
    finally:
        if isinstance(chunks, CustomerChunks):
            chunks.close()
    scores = [s for index in sorted(replies) for s in replies[index].scores.scores]
    twice = [customer for customer, n in Counter(s.customer_id for s in scores).items() if n > 1]
    if twice:
        # Order lines split across requests (or a customer table with repeated ids): each part
        # was scored alone, so the answers would be wrong, not merely repeated.
        print(f"error: {len(twice)} customers were scored in two requests (first: {twice[0]}); "
              "for order lines, the customer column the model names must be in the files", file=sys.stderr)
        sys.exit(4)
    json.dump([{"customer_id": s.customer_id, "segment_id": s.segment_id, "segment_name": s.segment_name,
                "distance": s.distance} for s in scores], sys.stdout, indent=1)
    sys.stdout.write("\n")
    summary = f"scored {len(scores)} customers with {pinned.name}@{pinned.version} in {len(replies)} requests"
    if snapshot:
        summary += f"; recency measured to {snapshot}"
        if earlier:
            summary += f" ({len(earlier)} requests scored again to that day)"
    print(summary, file=sys.stderr)
    if getattr(chunks, "skipped_without_id", 0):
        print(f"left out: {chunks.skipped_without_id} rows without a customer id", file=sys.stderr)
    # Rows cleaning removed (cancellations, unreadable values...) are counted, never silent.
    removed = Counter()
    for reply in replies.values():
        for step in reply.data_report.steps:
            removed[step.rule or step.name] += step.removed
    for rule, count in removed.items():
        if count:
            print(f"removed by cleaning: {count} {rule}", file=sys.stderr)


if __name__ == "__main__":
    main()

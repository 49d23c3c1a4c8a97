#!/usr/bin/env python3
"""Uploads CSV files to segment-server, trains a model on them and follows the job to its end.

    python train.py --server HOST:PORT --model NAME [--k 4 | --k 2-8] [--kind customers] FILE.csv...

Prints the job's progress on stderr and, when it succeeds, the registered version and its
segments as JSON on stdout. Uploads and the submit carry a request_id, so a retry after a lost
reply never trains twice. Exits non-zero with the gRPC status on errors, 7 when the job fails.
"""
import argparse
import json
import os
import sys
import uuid

# gRPC's C core logs connection failures on stderr too; the one-line error below says it (set
# GRPC_VERBOSITY=ERROR to see them).
os.environ.setdefault("GRPC_VERBOSITY", "NONE")
import grpc  # noqa: E402

from segment_client import ClientError, Connection, add_connection_arguments, pb  # noqa: E402
from segment_client.connection import fail  # noqa: E402

CHUNK = 1024 * 1024


def upload(connection, files, kind, request_id):
    def messages():
        yield pb.datasets.UploadDatasetRequest(header=pb.datasets.DatasetHeader(
            name=os.path.basename(files[0]), kind=kind, request_id=request_id))
        for path in files:
            with open(path, "rb") as handle:
                while chunk := handle.read(CHUNK):
                    yield pb.datasets.UploadDatasetRequest(chunk=pb.datasets.FileChunk(file_name=os.path.basename(path), data=chunk))
    return connection.datasets.UploadDataset(messages(), **connection.call(timeout=600)).dataset


def spec(args, dataset_id):
    training = pb.training.TrainingSpec(model_name=args.model, dataset_id=dataset_id)
    if args.k:
        low, _, high = args.k.replace("...", "-").partition("-")
        if high:
            training.k_range.min, training.k_range.max = int(low), int(high)
        else:
            training.k = int(low)
    if args.algorithm:
        training.algorithm = pb.training.Algorithm.Value("ALGORITHM_" + args.algorithm.upper().replace("-", "_"))
    return training


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_connection_arguments(parser)
    parser.add_argument("--model", required=True, help="the model's name")
    parser.add_argument("--k", help="one k (4) or a range (2-8); default: the server's (2-10, chosen by its rule)")
    parser.add_argument("--kind", choices=["transactions", "customers"], default="transactions")
    parser.add_argument("--algorithm", help="kmeans (default), minibatch_kmeans, ward, gaussian_mixture or dbscan")
    parser.add_argument("files", nargs="+", help="CSV files with a header")
    args = parser.parse_args()
    kind = pb.common.INPUT_KIND_TRANSACTIONS if args.kind == "transactions" else pb.common.INPUT_KIND_CUSTOMERS
    run = uuid.uuid4().hex  # one id per run of this script: its retries reuse it
    try:
        with Connection.from_args(args) as connection:
            connection.wait_until_serving()
            dataset = upload(connection, args.files, kind, "upload-" + run)
            print(f"uploaded {dataset.rows} rows as {dataset.id[:19]}", file=sys.stderr)
            job = connection.training.SubmitTrainingJob(
                pb.training.SubmitTrainingJobRequest(spec=spec(args, dataset.id), request_id="train-" + run), **connection.call()).job
            print(f"submitted {job.id}", file=sys.stderr)
            final = None
            for event in connection.training.WatchJob(pb.training.WatchJobRequest(job_id=job.id), **connection.call(timeout=3600)):
                if event.log_line:
                    print(f"  {event.log_line}", file=sys.stderr)
                if event.HasField("final_job"):
                    final = event.final_job
            if final is None or final.state != pb.training.JOB_STATE_SUCCEEDED:
                print(f"error: job {job.id} did not succeed: {final.error if final else 'no final state'}", file=sys.stderr)
                if final is not None and final.HasField("status"):
                    # For programs: the code says whether resubmitting can help (UNAVAILABLE) or
                    # the data or spec must change (INVALID_ARGUMENT...).
                    code = next((c for c in grpc.StatusCode if c.value[0] == final.status.code), grpc.StatusCode.UNKNOWN)
                    retry = "resubmitting may succeed" if code == grpc.StatusCode.UNAVAILABLE else "resubmitting as it is will not help"
                    print(f"  status: {code.name} ({retry})", file=sys.stderr)
                sys.exit(7)
            detail = connection.models.GetModel(pb.models.GetModelRequest(
                model=pb.common.ModelRef(name=args.model, version=final.model_version)), **connection.call()).model
    except (grpc.RpcError, ClientError) as error:
        fail(error)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(64)
    json.dump({"model": args.model, "version": final.model_version, "k": detail.chosen_k,
               "segments": [{"id": s.id, "name": s.name, "customers": s.size} for s in detail.segments]},
              sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

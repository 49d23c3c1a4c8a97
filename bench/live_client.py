"""Live segmentation load: ingest throughput, single-transaction latency, and the time pass.

    python bench/live_client.py STUBS_DIR SERVER MODEL ingest FILES... [--batch 1000]
    python bench/live_client.py STUBS_DIR SERVER MODEL latency CUSTOMER DAY N
    python bench/live_client.py STUBS_DIR SERVER MODEL synthetic N DAY

Each prints one JSON line. Stubs are generated from Protos/ by bench/live.sh.
"""
import json
import statistics
import sys
import time

sys.path.insert(0, sys.argv[1])
import grpc  # noqa: E402
from segmentation.v1 import common_pb2, live_pb2, live_pb2_grpc, scoring_pb2  # noqa: E402,F401

server, model, what = sys.argv[2], sys.argv[3], sys.argv[4]
args = sys.argv[5:]
channel = grpc.insecure_channel(
    server,
    options=[("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)],
)
stub = live_pb2_grpc.LiveSegmentationServiceStub(channel)
HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"


def ref(text):
    name, _, alias = text.partition("@")
    return common_pb2.ModelRef(name=name, alias=alias) if alias else common_pb2.ModelRef(name=name)


def requests(batches, clock=live_pb2.LIVE_CLOCK_EVENT):
    for i, data in enumerate(batches):
        request = live_pb2.IngestTransactionsRequest(csv=scoring_pb2.CsvRows(data=data), batch_id=str(i))
        if i == 0:
            request.model.CopyFrom(ref(model))
            request.clock = clock
        yield request


def file_batches(files, size):
    """Every file's rows in batches of `size`, each with the header, read before the clock starts."""
    batches, rows = [], 0
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as f:
            header, *lines = f.read().splitlines()
        rows += len(lines)
        for start in range(0, len(lines), size):
            batches.append(("\n".join([header] + lines[start:start + size]) + "\n").encode())
    return batches, rows


def ingest(files, size):
    batches, rows = file_batches(files, size)
    started = time.perf_counter()
    response = stub.IngestTransactions(requests(batches))
    seconds = time.perf_counter() - started
    applied = sum(b.purchases_applied + b.cancellations_applied for b in response.batches)
    print(json.dumps({
        "name": "ingest", "rows": rows, "batches": len(batches), "batch_rows": size,
        "lines_applied": applied, "seconds": round(seconds, 3), "rows_per_s": round(rows / seconds),
        "customers": response.store_customers, "moves": sum(b.moves for b in response.batches),
    }))


def latency(customer, day, n):
    """n calls, one new line each: the answer comes once the line is stored and the customer
    re-placed, so its time is ingest-to-segment. Unary RecordTransactions (whose answer names the
    customer's segment), then a one-batch IngestTransactions stream. CUSTOMER is one customer
    (every call makes their state longer: the worst case) or "many": the store's customers in
    turn, as purchases come in a shop."""
    ids = [customer]
    if customer == "many":
        ids = []
        for segment in range(20):  # every segment's members, until there are n
            token = ""
            while len(ids) < n:
                page = stub.ListSegmentMembers(live_pb2.ListSegmentMembersRequest(
                    model=ref(model.partition("@")[0]), segment_id=segment,
                    page_size=min(n, 10_000), page_token=token))
                ids += [m.customer_id for m in page.members]
                token = page.next_page_token
                if not token:
                    break
        ids = ids[:n] or ["new"]

    def measure(name, call):
        times = []
        for i in range(n):
            customer = ids[i % len(ids)]
            row = f"L{time.time_ns()}{i},P1,THING,1,{day} 10:00:00,1.5,{customer},United Kingdom"
            data = (HEADER + "\n" + row + "\n").encode()
            started = time.perf_counter()
            call(data)
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        print(json.dumps({
            "name": name, "calls": n, "p50_ms": round(statistics.median(times), 2),
            "p99_ms": round(times[min(n - 1, int(n * 0.99))], 2), "max_ms": round(times[-1], 2),
        }))

    def unary(data):
        answer = stub.RecordTransactions(live_pb2.IngestTransactionsRequest(
            model=ref(model), csv=scoring_pb2.CsvRows(data=data)))
        assert len(answer.customers) == 1, answer

    suffix = "_many" if customer == "many" else ""
    measure("latency_unary" + suffix, unary)
    measure("latency_stream" + suffix, lambda data: stub.IngestTransactions(
        requests([data], clock=live_pb2.LIVE_CLOCK_UNSPECIFIED)))


def synthetic(n, day):
    """n customers with one purchase each on `day`, in batches of 10,000."""
    size = 10_000
    def batches():
        for start in range(0, n, size):
            rows = [f"S{c},P{c % 500},THING,{1 + c % 5},{day} 12:00:00,{1 + c % 97}.5,X{c},United Kingdom"
                    for c in range(start, min(n, start + size))]
            yield ("\n".join([HEADER] + rows) + "\n").encode()
    started = time.perf_counter()
    response = stub.IngestTransactions(requests(batches()))
    seconds = time.perf_counter() - started
    print(json.dumps({
        "name": "synthetic_ingest", "customers": n, "seconds": round(seconds, 3),
        "rows_per_s": round(n / seconds), "store_customers": response.store_customers,
    }))


if what == "ingest":
    size = 1000
    if "--batch" in args:
        i = args.index("--batch")
        size = int(args[i + 1])
        args = args[:i] + args[i + 2:]
    ingest(args, size)
elif what == "latency":
    latency(args[0], args[1], int(args[2]))
elif what == "synthetic":
    synthetic(int(args[0]), args[1])
else:
    sys.exit(f"unknown measurement {what}")

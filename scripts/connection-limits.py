"""Connection limits of a running segment-server, for scripts/test-clients.sh:

    python connection-limits.py HOST:PORT TOKEN MODEL IDLE_SECONDS

1. Its HTTP/2 SETTINGS advertise MAX_CONCURRENT_STREAMS (read from a raw connection).
2. 1,000 concurrent Score calls on ONE connection (plain grpcio, one channel) all succeed: the
   client holds back what is over the limit instead of losing the connection.
3. A client that ignores the limit and opens more streams at once has each one over it refused
   alone (RST_STREAM REFUSED_STREAM, which gRPC clients retry); the connection stays up.
4. Metadata over --max-header-bytes (the server's default, 16 KiB) fails that call alone with
   RESOURCE_EXHAUSTED; the calls beside it on the same connection succeed.
5. A connection that starts no call is closed by the server after about IDLE_SECONDS (the
   client ACKs the server's SETTINGS and PINGs, as every HTTP/2 client does), and so is one
   whose client never ACKs anything, soon after (the server's idle cut).
Prints one line per check; exits 1 on the first failure.
"""
import os
import socket
import struct
import sys
import time

os.environ.setdefault("GRPC_VERBOSITY", "NONE")
import grpc  # noqa: E402

from segment_client import pb  # noqa: E402
from segmentation.v1 import scoring_pb2_grpc  # noqa: E402

target, token, model, idle = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
host, port = target.rsplit(":", 1)
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + struct.pack(">I", 0)[1:] + bytes([4, 0]) + struct.pack(">I", 0)


def fail(message):
    print(f"FAILED: {message}")
    sys.exit(1)


def server_settings():
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(PREFACE)
        data = b""
        def more():
            chunk = sock.recv(65536)
            if not chunk:
                fail("the server closed the connection before its SETTINGS")
            return chunk
        while len(data) < 9:
            data += more()
        length = int.from_bytes(data[:3], "big")
        while len(data) < 9 + length:
            data += more()
        if data[3] != 4:
            fail(f"the server's first frame is type {data[3]}, not SETTINGS")
        payload = data[9:9 + length]
        return {struct.unpack(">H", payload[i:i + 2])[0]: struct.unpack(">I", payload[i + 2:i + 6])[0]
                for i in range(0, len(payload), 6)}


settings = server_settings()
limit = settings.get(3)
if not limit:
    fail(f"SETTINGS without MAX_CONCURRENT_STREAMS: {settings}")
print(f"ok: the server's SETTINGS advertise MAX_CONCURRENT_STREAMS {limit}")

rows = pb.scoring.FeatureRows(feature_names=["recency", "frequency", "monetary", "avg_order_value"])
rows.rows.add(customer_id="c", values=[12.0, 4.0, 820.5, 205.1])
request = pb.scoring.ScoreRequest(model=pb.model_ref(model), features=rows)
with grpc.insecure_channel(target) as channel:
    stub = scoring_pb2_grpc.ScoringServiceStub(channel)
    metadata = [("authorization", f"Bearer {token}")]
    calls = [stub.Score.future(request, metadata=metadata, timeout=60) for _ in range(1000)]
    outcomes = [call.exception() for call in calls]  # each waits for its call
    failed = [error for error in outcomes if error is not None]
    if failed:
        fail(f"{len(failed)} of 1000 concurrent calls on one connection failed, the first: {failed[0].code()} {failed[0].details()}")
print(f"ok: 1000 concurrent Score calls on one connection, none failed (the limit is {limit} at a time)")

def literal(name, value):
    """One HPACK header field, literal without indexing, no Huffman (lengths under 127)."""
    name, value = name.encode(), value.encode()
    return bytes([0, len(name)]) + name + bytes([len(value)]) + value


def frame(kind, flags, stream, payload):
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload


# A client that ignores MAX_CONCURRENT_STREAMS: limit + 20 calls opened at once, none finished.
extra = 20
block = b"".join(literal(n, v) for n, v in [
    (":method", "POST"), (":scheme", "http"), (":path", "/segmentation.v1.ModelRegistry/ListModels"),
    (":authority", target), ("content-type", "application/grpc"), ("te", "trailers"),
    ("authorization", f"Bearer {token}")])
with socket.create_connection((host, int(port)), timeout=10) as sock:
    sock.sendall(PREFACE + frame(4, 1, 0, b""))  # and an ACK of the server's SETTINGS
    sock.sendall(b"".join(frame(1, 4, 1 + 2 * i, block) for i in range(limit + extra)))  # END_HEADERS, no END_STREAM
    refused, data, deadline = set(), b"", time.monotonic() + 10
    while len(refused) < extra and time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            fail(f"the server closed the connection after {len(refused)} refused streams")
        data += chunk
        while len(data) >= 9 and len(data) >= 9 + int.from_bytes(data[:3], "big"):
            length, kind = int.from_bytes(data[:3], "big"), data[3]
            stream, payload = int.from_bytes(data[5:9], "big") & 0x7FFFFFFF, data[9:9 + length]
            data = data[9 + length:]
            if kind == 7:
                fail(f"GOAWAY (error {int.from_bytes(payload[4:8], 'big')}) for {limit + extra} concurrent streams")
            if kind == 3 and int.from_bytes(payload, "big") == 7:
                refused.add(stream)
    if len(refused) != extra:
        fail(f"{len(refused)} streams refused with REFUSED_STREAM, not {extra}")
    sock.sendall(frame(6, 0, 0, b"12345678"))  # a PING: the connection still answers
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            fail("the connection closed after the refused streams")
        data += chunk
        if b"\x00\x00\x08\x06\x01\x00\x00\x00\x00" + b"12345678" in data:
            break
print(f"ok: {limit + extra} streams opened at once by a client ignoring the limit: {extra} refused alone (REFUSED_STREAM), the connection still answers")

with grpc.insecure_channel(target) as channel:
    stub = scoring_pb2_grpc.ScoringServiceStub(channel)
    metadata = [("authorization", f"Bearer {token}")]
    big = stub.Score.future(request, metadata=metadata + [("x-big", "x" * 20000)], timeout=60)
    others = [stub.Score.future(request, metadata=metadata, timeout=60) for _ in range(20)]
    error = big.exception()
    if error is None or error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED or "this server takes at most" not in error.details():
        fail(f"a call with 20 KB of metadata: {error and (error.code(), error.details())}, not RESOURCE_EXHAUSTED")
    failed = [e for e in (call.exception() for call in others) if e is not None]
    if failed:
        fail(f"{len(failed)} of the 20 calls beside the oversized one failed: {failed[0].code()} {failed[0].details()}")
    stub.Score(request, metadata=metadata, timeout=10)
print(f"ok: 20 KB of metadata: RESOURCE_EXHAUSTED ({error.details()}); the 20 calls beside it succeeded")


def frames(sock):
    """The server's HTTP/2 frames as (type, flags, payload), until it closes the connection."""
    data = b""
    while True:
        while len(data) >= 9 and len(data) >= 9 + int.from_bytes(data[:3], "big"):
            length = int.from_bytes(data[:3], "big")
            yield data[3], data[4], data[9:9 + length]
            data = data[9 + length:]
        chunk = sock.recv(65536)
        if not chunk:
            return
        data += chunk


# An idle client that speaks HTTP/2 correctly (ACKs SETTINGS and PINGs) but starts no call.
with socket.create_connection((host, int(port)), timeout=idle + 10) as sock:
    start = time.monotonic()
    sock.sendall(PREFACE)
    try:
        for kind, flags, payload in frames(sock):
            if kind == 4 and not flags & 1:  # SETTINGS: ACK
                sock.sendall(bytes([0, 0, 0, 4, 1, 0, 0, 0, 0]))
            elif kind == 6 and not flags & 1:  # PING: ACK with its data
                sock.sendall(bytes([0, 0, 8, 6, 1, 0, 0, 0, 0]) + payload)
    except socket.timeout:
        fail(f"an idle connection was still open after {idle + 10:.0f} s")
    took = time.monotonic() - start
if not idle * 0.5 <= took <= idle + 5:
    fail(f"the idle connection was closed after {took:.1f} s (--idle-timeout {idle:g})")
print(f"ok: a connection with no call was closed after {took:.1f} s (--idle-timeout {idle:g})")

# A client that sends the preface and then nothing, not even ACKs: cut off soon after the timeout.
with socket.create_connection((host, int(port)), timeout=2 * idle + 10) as sock:
    start = time.monotonic()
    sock.sendall(PREFACE)
    try:
        for _ in frames(sock):
            pass
    except socket.timeout:
        fail(f"a connection that never ACKs was still open after {2 * idle + 10:.0f} s")
    took = time.monotonic() - start
if not idle <= took <= 2 * idle + 5:
    fail(f"the connection that never ACKs was closed after {took:.1f} s (--idle-timeout {idle:g})")
print(f"ok: a connection that never ACKs was closed after {took:.1f} s (--idle-timeout {idle:g})")

"""A stand-in OpenTelemetry collector for the tracing test: an OTLP/gRPC TraceService on loopback
(opentelemetry-proto's messages, grpcio's server) that appends every span it receives to a file as
one JSON object per line (proto3 JSON of the span, plus its resource's attributes). It prints the
port it listens on, then serves until SIGTERM.

    python3 scripts/otlp-collector.py SPANS.jsonl
"""
import json
import signal
import sys
import threading
from concurrent import futures

import grpc
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


def attributes(pairs):
    return {pair.key: MessageToDict(pair.value) for pair in pairs}


class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()

    def Export(self, request, context):
        with self.lock, open(self.path, "a") as out:
            for resource_spans in request.resource_spans:
                resource = attributes(resource_spans.resource.attributes)
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        record = MessageToDict(span)
                        # Hex ids, as traceparent spells them (proto3 JSON gives base64).
                        record["traceId"] = span.trace_id.hex()
                        record["spanId"] = span.span_id.hex()
                        record["parentSpanId"] = span.parent_span_id.hex()
                        record["attributes"] = attributes(span.attributes)
                        record["resource"] = resource
                        out.write(json.dumps(record) + "\n")
        return trace_service_pb2.ExportTraceServiceResponse()


def main():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceService(sys.argv[1]), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    stopped.wait()
    server.stop(grace=1).wait()


if __name__ == "__main__":
    main()

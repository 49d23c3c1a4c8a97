"""One channel to segment-server with the settings a service should use: TLS or mutual TLS, the
bearer token, a receive limit above gRPC's 4 MiB default, retries of UNAVAILABLE by a service
config, a deadline on every call, and a health check before the first call."""
import json
import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from . import pb

# Exit codes by gRPC status, the segment CLI's (1: anything else; 64: usage).
EXIT_CODES = {
    grpc.StatusCode.NOT_FOUND: 3,
    grpc.StatusCode.INVALID_ARGUMENT: 4,
    grpc.StatusCode.OUT_OF_RANGE: 4,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 4,
    grpc.StatusCode.UNAVAILABLE: 5,
    grpc.StatusCode.DEADLINE_EXCEEDED: 5,
    grpc.StatusCode.FAILED_PRECONDITION: 6,
    grpc.StatusCode.ALREADY_EXISTS: 6,
    grpc.StatusCode.ABORTED: 6,
    grpc.StatusCode.UNAUTHENTICATED: 8,
    grpc.StatusCode.PERMISSION_DENIED: 8,
}

# Retries UNAVAILABLE (a server restarting, a replica going away) with backoff; gRPC retries only
# calls whose reply has not started, so a retried Score never scores twice into one answer.
SERVICE_CONFIG = json.dumps({
    "methodConfig": [{
        "name": [{"service": "segmentation.v1.ScoringService"}, {"service": "segmentation.v1.ModelRegistry"},
                 {"service": "segmentation.v1.TrainingService"}, {"service": "segmentation.v1.DatasetService"},
                 {"service": "grpc.health.v1.Health"}],
        "retryPolicy": {"maxAttempts": 5, "initialBackoff": "0.2s", "maxBackoff": "2s", "backoffMultiplier": 2,
                        "retryableStatusCodes": ["UNAVAILABLE"]},
    }]
})

MAX_MESSAGE = 64 * 1024 * 1024


class ClientError(Exception):
    """A failed call: the gRPC status and the server's message."""

    def __init__(self, code, message):
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message


def exit_code(error):
    return EXIT_CODES.get(error.code, 1)


def add_connection_arguments(parser):
    parser.add_argument("--server", default=os.environ.get("SEGMENT_SERVER", "localhost:50051"),
                        help="HOST:PORT of segment-server (env SEGMENT_SERVER)")
    parser.add_argument("--token", default=os.environ.get("SEGMENT_TOKEN"),
                        help="bearer token (env SEGMENT_TOKEN); sent as 'authorization: Bearer TOKEN'")
    parser.add_argument("--tls-ca", help="PEM file of the CA that signed the server's certificate: use TLS")
    parser.add_argument("--tls-cert", help="PEM client certificate, for servers that require mutual TLS")
    parser.add_argument("--tls-key", help="PEM key of --tls-cert")
    parser.add_argument("--tls-server-name", help="the name to check the server's certificate against, when it differs from HOST")
    parser.add_argument("--timeout", type=float, default=30.0, help="deadline of each call in seconds (default 30)")
    parser.add_argument("--compression", choices=["none", "gzip", "deflate"], default="none",
                        help="compress every request (the server answers in kind); default none")


class Connection:
    def __init__(self, server, token=None, tls_ca=None, tls_cert=None, tls_key=None, tls_server_name=None, timeout=30.0,
                 compression="none"):
        algorithm = {"none": grpc.Compression.NoCompression, "gzip": grpc.Compression.Gzip,
                     "deflate": grpc.Compression.Deflate}[compression]
        options = [("grpc.max_receive_message_length", MAX_MESSAGE), ("grpc.max_send_message_length", MAX_MESSAGE),
                   ("grpc.service_config", SERVICE_CONFIG), ("grpc.enable_retries", 1)]
        if tls_ca or tls_cert:
            read = lambda path: open(path, "rb").read() if path else None  # noqa: E731
            credentials = grpc.ssl_channel_credentials(read(tls_ca), read(tls_key), read(tls_cert))
            if tls_server_name:
                options.append(("grpc.ssl_target_name_override", tls_server_name))
            self.channel = grpc.secure_channel(server, credentials, options=options, compression=algorithm)
        else:
            self.channel = grpc.insecure_channel(server, options=options, compression=algorithm)
        self.metadata = [("authorization", "Bearer " + token)] if token else []
        self.timeout = timeout
        self.scoring = pb.scoring_grpc.ScoringServiceStub(self.channel)
        self.models = pb.models_grpc.ModelRegistryStub(self.channel)
        self.training = pb.training_grpc.TrainingServiceStub(self.channel)
        self.datasets = pb.datasets_grpc.DatasetServiceStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)

    @classmethod
    def from_args(cls, args):
        return cls(args.server, args.token, args.tls_ca, args.tls_cert, args.tls_key, args.tls_server_name, args.timeout,
                   args.compression)

    def call(self, timeout=None):
        """Keyword arguments for a stub call: the token and a deadline."""
        return {"metadata": self.metadata, "timeout": timeout or self.timeout}

    def wait_until_serving(self, timeout=None):
        """The server's health (grpc.health.v1) must be SERVING: it is NOT_SERVING while starting,
        while its registry is unreachable, and while shutting down."""
        try:
            reply = self.health.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout or self.timeout)
        except grpc.RpcError as error:
            raise ClientError(error.code(), error.details() or "health check failed") from None
        if reply.status != health_pb2.HealthCheckResponse.SERVING:
            raise ClientError(grpc.StatusCode.UNAVAILABLE, "the server is not serving (health: "
                              + health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status) + ")")

    def close(self):
        self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()


def fail(error):
    """Prints a failed call as one line and exits with its status's code."""
    if isinstance(error, grpc.RpcError):
        error = ClientError(error.code(), error.details() or "")
    print(f"error: {error.code.name}: {error.message}", file=sys.stderr)
    sys.exit(exit_code(error))

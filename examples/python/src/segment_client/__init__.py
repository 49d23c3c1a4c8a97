"""A small client for segment-server's gRPC API (stubs generated from Protos/ at install time).

    from segment_client import Connection, pb
    with Connection.from_args(args) as connection:
        reply = connection.scoring.Score(pb.scoring.ScoreRequest(...), **connection.call())
"""
import os
import sys

# The generated modules import each other as `segmentation.v1.*`: make that package importable.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "_generated"))

from .connection import Connection, ClientError, add_connection_arguments, exit_code  # noqa: E402,F401
from . import pb  # noqa: E402,F401

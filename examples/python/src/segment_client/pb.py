"""The generated message and stub modules, by service."""
from segmentation.v1 import common_pb2 as common  # noqa: F401
from segmentation.v1 import datasets_pb2 as datasets  # noqa: F401
from segmentation.v1 import datasets_pb2_grpc as datasets_grpc  # noqa: F401
from segmentation.v1 import models_pb2 as models  # noqa: F401
from segmentation.v1 import models_pb2_grpc as models_grpc  # noqa: F401
from segmentation.v1 import scoring_pb2 as scoring  # noqa: F401
from segmentation.v1 import scoring_pb2_grpc as scoring_grpc  # noqa: F401
from segmentation.v1 import training_pb2 as training  # noqa: F401
from segmentation.v1 import training_pb2_grpc as training_grpc  # noqa: F401


def model_ref(text):
    """"name", "name@3" or "name@alias" as a ModelRef ("name@latest": the latest version).
    Raises ValueError for text that names nothing ("", "name@", a version of 0 or beyond int32);
    the server checks names and aliases themselves."""
    name, at, selector = text.partition("@")
    if not name or (at and not selector):
        raise ValueError(f"model reference {text!r} must be NAME, NAME@VERSION or NAME@ALIAS")
    ref = common.ModelRef(name=name)
    if selector.lstrip("-").isdigit():
        version = int(selector)
        if not 1 <= version <= 2**31 - 1:
            raise ValueError(f"model version {selector} must be between 1 and {2**31 - 1}")
        ref.version = version
    elif selector and selector.lower() != "latest":
        ref.alias = selector
    return ref

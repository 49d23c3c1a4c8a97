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
    """"name", "name@3" or "name@alias" as a ModelRef ("name@latest": the latest version)."""
    name, _, selector = text.partition("@")
    ref = common.ModelRef(name=name)
    if selector.isdigit():
        ref.version = int(selector)
    elif selector and selector.lower() != "latest":
        ref.alias = selector
    return ref

"""A real reflection client against segment-server, as grpcurl or Postman would use it.

grpcio-reflection's descriptor database (grpc.reflection.v1alpha) lists the services and builds
a descriptor pool from the server alone; a ModelRegistry/ListModels call is then made with
message classes built from that pool (no .proto files, no generated code). The same questions go
to grpc.reflection.v1 on one stream. Prints one JSON object for the Swift test to check.

Usage: reflection_client.py HOST:PORT [TOKEN]
"""
import json
import sys

import grpc
from google.protobuf import descriptor_pool, message_factory
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase


def main():
    target = sys.argv[1]
    metadata = [("authorization", "Bearer " + sys.argv[2])] if len(sys.argv) > 2 else None
    channel = grpc.insecure_channel(target)

    database = ProtoReflectionDescriptorDatabase(channel)
    services = sorted(database.get_services())
    pool = descriptor_pool.DescriptorPool(database)
    registry = pool.FindServiceByName("segmentation.v1.ModelRegistry")
    list_models = registry.methods_by_name["ListModels"]
    request_class = message_factory.GetMessageClass(list_models.input_type)
    response_class = message_factory.GetMessageClass(list_models.output_type)
    call = channel.unary_unary("/segmentation.v1.ModelRegistry/ListModels",
                               request_serializer=request_class.SerializeToString,
                               response_deserializer=response_class.FromString)
    models = call(request_class(), metadata=metadata, timeout=10)
    score = pool.FindServiceByName("segmentation.v1.ScoringService").methods_by_name["Score"]

    # grpc.reflection.v1 has the same messages under a newer package name: same wire form.
    v1 = channel.stream_stream("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                               request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
                               response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
    Request = reflection_pb2.ServerReflectionRequest
    answers = list(v1(iter([
        Request(list_services=""),
        Request(file_containing_symbol="segmentation.v1.ScoringService.Score"),
        Request(file_by_filename="no/such.proto"),
    ]), timeout=10))
    from google.protobuf.descriptor_pb2 import FileDescriptorProto
    files = [FileDescriptorProto.FromString(raw).name
             for raw in answers[1].file_descriptor_response.file_descriptor_proto]

    print(json.dumps({
        "services": services,
        "models": [model.name for model in models.models],
        "score_input": score.input_type.full_name,
        "score_input_fields": sorted(field.name for field in score.input_type.fields),
        "score_output": score.output_type.full_name,
        "v1_services": sorted(service.name for service in answers[0].list_services_response.service),
        "v1_symbol_files": files,
        "v1_missing_code": answers[2].error_response.error_code,
    }))


if __name__ == "__main__":
    main()

import Foundation
import GRPCCore
import GRPCInProcessTransport
import SegmentationAPI
import SegmentationCodec
import SwiftProtobuf

/// How a gateway request's body and its answer are encoded: the Connect protocol's unary codecs.
enum GatewayFormat: String, Sendable {
    case json = "application/json"
    case proto = "application/proto"

    /// The format a Content-Type names (parameters such as `charset=utf-8` ignored), if served.
    init?(contentType: String) {
        let bare = contentType.split(separator: ";").first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
        guard let bare, let format = GatewayFormat(rawValue: bare) else { return nil }
        self = format
    }
}

/// One unary method over HTTP: the body decoded into the request message, the call made through
/// the in-process gRPC client (so the server's interceptors authenticate, count, log and map
/// errors as for any gRPC call), the response encoded in the request's format.
struct GatewayMethod: Sendable {
    typealias Client = GRPCClient<InProcessTransport.Client>
    let descriptor: MethodDescriptor
    let call:
        @Sendable (
            _ body: [UInt8], _ format: GatewayFormat, _ metadata: Metadata,
            _ options: CallOptions, _ client: Client
        ) async throws -> [UInt8]

    static func unary<Input: SwiftProtobuf.Message, Output: SwiftProtobuf.Message>(
        _ descriptor: MethodDescriptor, _: Input.Type, _: Output.Type
    ) -> GatewayMethod {
        GatewayMethod(descriptor: descriptor) { body, format, metadata, options, client in
            _ = ErrorDetailTypes.registered  // Job.status's details, as JSON
            let request: Input
            do {
                switch format {
                // An empty body is the empty message, as in binary protobuf.
                case .json: request = body.isEmpty ? Input() : try Input(jsonUTF8Bytes: body)
                case .proto: request = try Input(serializedBytes: body)
                }
            } catch {
                throw ConnectError(
                    code: .invalidArgument,
                    message:
                        "the request body is not a \(Input.protoMessageName) in \(format == .json ? "proto3 JSON" : "binary protobuf"): \(Self.explain(error))"
                )
            }
            let response = try await client.unary(
                request: GRPCCore.ClientRequest(message: request, metadata: metadata),
                descriptor: descriptor, serializer: ProtobufSerializer<Input>(),
                deserializer: ProtobufDeserializer<Output>(), options: options
            ) { try $0.message }
            switch format {
            case .json: return try response.jsonUTF8Bytes()
            case .proto: return try response.serializedBytes()
            }
        }
    }

    /// What a JSON decoding error means, in words (SwiftProtobuf's names are terse).
    static func explain(_ error: any Error) -> String {
        guard let error = error as? JSONDecodingError else { return "\(error)" }
        return switch error {
        case .unknownField(let name):
            "no field \"\(name)\" (names are lowerCamelCase or the proto's)"
        case .unrecognizedEnumValue: "a value is not one of its enum's names"
        case .truncated: "the JSON ends early"
        case .conflictingOneOf: "two fields of one oneof are set"
        case .malformedNumber, .numberRange: "a number is malformed or out of its field's range"
        case .malformedString, .invalidUTF8: "a string is malformed"
        case .malformedBool: "a boolean is not true or false"
        case .malformedTimestamp: "a timestamp is not RFC 3339 (2011-12-09T12:50:00Z)"
        case .trailingGarbage: "something follows the JSON object"
        case .messageDepthLimit: "nested too deep"
        default: "not a JSON object of the message's fields (\(error))"
        }
    }

    /// Every unary method of the services the server hosts, by "/package.Service/Method" (a test
    /// checks none is missing). Streaming methods are gRPC's alone.
    static let all: [String: GatewayMethod] = {
        typealias Datasets = Segmentation_V1_DatasetService.Method
        typealias Models = Segmentation_V1_ModelRegistry.Method
        typealias Scoring = Segmentation_V1_ScoringService.Method
        typealias Training = Segmentation_V1_TrainingService.Method
        typealias Health = Grpc_Health_V1_Health.Method
        typealias Live = Segmentation_V1_LiveSegmentationService.Method
        let methods: [GatewayMethod] = [
            .unary(
                Datasets.GetDataset.descriptor, Datasets.GetDataset.Input.self,
                Datasets.GetDataset.Output.self),
            .unary(
                Datasets.ListDatasets.descriptor, Datasets.ListDatasets.Input.self,
                Datasets.ListDatasets.Output.self),
            .unary(
                Datasets.DeleteDataset.descriptor, Datasets.DeleteDataset.Input.self,
                Datasets.DeleteDataset.Output.self),
            .unary(
                Models.ListModels.descriptor, Models.ListModels.Input.self,
                Models.ListModels.Output.self),
            .unary(
                Models.ListVersions.descriptor, Models.ListVersions.Input.self,
                Models.ListVersions.Output.self),
            .unary(
                Models.GetModel.descriptor, Models.GetModel.Input.self, Models.GetModel.Output.self),
            .unary(
                Models.SetAlias.descriptor, Models.SetAlias.Input.self, Models.SetAlias.Output.self),
            .unary(
                Models.DeleteAlias.descriptor, Models.DeleteAlias.Input.self,
                Models.DeleteAlias.Output.self),
            .unary(
                Models.DeleteVersion.descriptor, Models.DeleteVersion.Input.self,
                Models.DeleteVersion.Output.self),
            .unary(
                Models.RenameSegment.descriptor, Models.RenameSegment.Input.self,
                Models.RenameSegment.Output.self),
            .unary(
                Models.DiffModels.descriptor, Models.DiffModels.Input.self,
                Models.DiffModels.Output.self),
            .unary(
                Models.ListAliasHistory.descriptor, Models.ListAliasHistory.Input.self,
                Models.ListAliasHistory.Output.self),
            .unary(
                Models.GetDrift.descriptor, Models.GetDrift.Input.self, Models.GetDrift.Output.self),
            .unary(
                Models.ListSegmentSizes.descriptor, Models.ListSegmentSizes.Input.self,
                Models.ListSegmentSizes.Output.self),
            .unary(Scoring.Score.descriptor, Scoring.Score.Input.self, Scoring.Score.Output.self),
            .unary(
                Training.SubmitTrainingJob.descriptor, Training.SubmitTrainingJob.Input.self,
                Training.SubmitTrainingJob.Output.self),
            .unary(
                Training.GetJob.descriptor, Training.GetJob.Input.self, Training.GetJob.Output.self),
            .unary(
                Training.ListJobs.descriptor, Training.ListJobs.Input.self,
                Training.ListJobs.Output.self),
            .unary(
                Training.CancelJob.descriptor, Training.CancelJob.Input.self,
                Training.CancelJob.Output.self),
            .unary(
                Live.RecordTransactions.descriptor, Live.RecordTransactions.Input.self,
                Live.RecordTransactions.Output.self),
            .unary(
                Live.GetCustomer.descriptor, Live.GetCustomer.Input.self,
                Live.GetCustomer.Output.self),
            .unary(
                Live.ListSegmentMembers.descriptor, Live.ListSegmentMembers.Input.self,
                Live.ListSegmentMembers.Output.self),
            .unary(Health.Check.descriptor, Health.Check.Input.self, Health.Check.Output.self),
        ]
        return Dictionary(
            uniqueKeysWithValues: methods.map { ("/\($0.descriptor.fullyQualifiedMethod)", $0) })
    }()
}

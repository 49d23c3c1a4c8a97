import Foundation
import GRPCCore
import SegmentationAPI
import SwiftProtobuf

/// A failed call as the Connect protocol answers it over HTTP: a JSON object with the gRPC
/// status's code (snake case), its message and its `google.rpc.Status` details (each a type
/// name and the detail's protobuf bytes in base64, as Connect clients decode them), with the HTTP
/// status that google.rpc.Code's documentation maps the code to.
struct ConnectError: Error {
    static let schemaName = "connect.Error"

    var code: RPCError.Code
    var message: String
    var details: [Google_Protobuf_Any] = []
    /// An HTTP-level refusal's own status (404 no such path, 405 wrong method, 415 wrong
    /// Content-Type, 413 body too large), as Connect servers answer them.
    var httpOverride: Int?
    /// The methods a 405 names in its Allow header.
    var allow: String?

    init(code: RPCError.Code, message: String, http: Int? = nil, allow: String? = nil) {
        (self.code, self.message, self.httpOverride, self.allow) = (code, message, http, allow)
    }

    /// The error of a call, with the details the server put in `grpc-status-details-bin`.
    init(_ error: RPCError) {
        code = error.code
        message = error.message
        if let encoded = error.metadata[binaryValues: "grpc-status-details-bin"].first(where: {
            _ in true
        }),
            let status = try? Google_Rpc_Status(serializedBytes: encoded)
        {
            details = status.details
        }
    }

    /// Connect's name of the code: "not_found", "invalid_argument", ... (and "canceled").
    var codeName: String { code == .cancelled ? "canceled" : StatusName.of(code).lowercased() }

    /// The HTTP status google/rpc/code.proto gives for the code.
    var httpStatus: Int {
        if let httpOverride { return httpOverride }
        return switch code {
        case .cancelled: 499
        case .unknown, .internalError, .dataLoss: 500
        case .invalidArgument, .failedPrecondition, .outOfRange: 400
        case .deadlineExceeded: 504
        case .notFound: 404
        case .alreadyExists, .aborted: 409
        case .permissionDenied: 403
        case .resourceExhausted: 429
        case .unimplemented: 501
        case .unavailable: 503
        case .unauthenticated: 401
        default: 500
        }
    }

    var json: [UInt8] {
        var body: [String: JSONValue] = ["code": .string(codeName), "message": .string(message)]
        if !details.isEmpty {
            body["details"] = .array(
                details.map { detail in
                    .object([
                        "type": .string(
                            String(detail.typeURL.split(separator: "/").last ?? "")),
                        // Connect's base64 is unpadded.
                        "value": .string(
                            detail.value.base64EncodedString().trimmingCharacters(
                                in: CharacterSet(charactersIn: "="))),
                    ])
                })
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try! encoder.encode(JSONValue.object(body)))
    }

    /// The error object's JSON Schema, in the OpenAPI document.
    static let schema: JSONValue = .object([
        "type": "object",
        "description":
            "A failed call (the Connect protocol's error): the gRPC status code in snake case, its message, and its google.rpc.Status details (ErrorInfo with a stable reason, BadRequest, ResourceInfo, QuotaFailure), each as its type name and protobuf bytes in base64.",
        "required": ["code"],
        "properties": .object([
            "code": .object([
                "type": "string",
                "enum": .array(
                    [
                        "canceled", "unknown", "invalid_argument", "deadline_exceeded",
                        "not_found", "already_exists", "permission_denied", "resource_exhausted",
                        "failed_precondition", "aborted", "out_of_range", "unimplemented",
                        "internal", "unavailable", "data_loss", "unauthenticated",
                    ].map { .string($0) }),
            ]),
            "message": .object(["type": "string"]),
            "details": .object([
                "type": "array",
                "items": .object([
                    "type": "object",
                    "required": ["type", "value"],
                    "properties": .object([
                        "type": .object(["type": "string"]),
                        "value": .object(["type": "string", "contentEncoding": "base64"]),
                    ]),
                ]),
            ]),
        ]),
    ])
}

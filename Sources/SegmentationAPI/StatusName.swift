import GRPCCore

/// The one spelling of a status code the server and the CLI write anywhere, in the API, the logs and the
/// metrics: gRPC's canonical name ("OK", "NOT_FOUND", "DEADLINE_EXCEEDED"), as the
/// `google.rpc.Code` enum and the gRPC spec name them.
public enum StatusName {
    public static func of(_ code: RPCError.Code?) -> String {
        guard let code else { return "OK" }
        return switch code {
        case .cancelled: "CANCELLED"
        case .unknown: "UNKNOWN"
        case .invalidArgument: "INVALID_ARGUMENT"
        case .deadlineExceeded: "DEADLINE_EXCEEDED"
        case .notFound: "NOT_FOUND"
        case .alreadyExists: "ALREADY_EXISTS"
        case .permissionDenied: "PERMISSION_DENIED"
        case .resourceExhausted: "RESOURCE_EXHAUSTED"
        case .failedPrecondition: "FAILED_PRECONDITION"
        case .aborted: "ABORTED"
        case .outOfRange: "OUT_OF_RANGE"
        case .unimplemented: "UNIMPLEMENTED"
        case .internalError: "INTERNAL"
        case .unavailable: "UNAVAILABLE"
        case .dataLoss: "DATA_LOSS"
        case .unauthenticated: "UNAUTHENTICATED"
        default: "UNKNOWN"
        }
    }
}

import GRPCCore
import SegmentationEngine

/// Maps the errors of the engine, the registry and the job manager to gRPC status codes with a
/// message that names the problem.
enum RPCErrors {
    static func map(_ error: any Error) -> RPCError {
        switch error {
        case let error as RPCError: return error
        case let error as RegistryError:
            switch error {
            case .notFound: return RPCError(code: .notFound, message: error.description)
            case .aliasedVersion: return RPCError(code: .failedPrecondition, message: error.description)
            case .invalid: return RPCError(code: .invalidArgument, message: error.description)
            case .storage: return RPCError(code: .internalError, message: error.description)
            case .corrupt: return RPCError(code: .dataLoss, message: error.description)
            case .datasetInUse: return RPCError(code: .failedPrecondition, message: error.description)
            }
        case let error as JobError:
            switch error {
            case .shuttingDown: return RPCError(code: .unavailable, message: error.description)
            case .alreadyFinished: return RPCError(code: .failedPrecondition, message: error.description)
            case .queueFull: return RPCError(code: .resourceExhausted, message: error.description)
            }
        case let error as UploadError:
            switch error {
            case .tooLarge, .quotaExceeded: return RPCError(code: .resourceExhausted, message: error.description)
            case .storage: return RPCError(code: .internalError, message: error.description)
            default: return RPCError(code: .invalidArgument, message: error.description)
            }
        case let error as ScoringError: return RPCError(code: .invalidArgument, message: error.description)
        case let error as InputError: return RPCError(code: .invalidArgument, message: error.description)
        case let error as CSVError: return RPCError(code: .invalidArgument, message: error.description)
        case let error as ClusteringError: return RPCError(code: .invalidArgument, message: error.description)
        case let error as ModelError:
            switch error {
            case .unknownSegment: return RPCError(code: .notFound, message: error.description)
            case .invalidName, .wrongKind: return RPCError(code: .invalidArgument, message: error.description)
            case .corrupt, .notAModel: return RPCError(code: .dataLoss, message: error.description)
            default: return RPCError(code: .internalError, message: error.description)
            }
        case is CancellationError: return RPCError(code: .cancelled, message: "the request was cancelled")
        default: return RPCError(code: .internalError, message: String(describing: error))
        }
    }

    static func invalid(_ message: String) -> RPCError { RPCError(code: .invalidArgument, message: message) }
}

/// Runs a handler body, turning any error into a mapped `RPCError`.
func handling<T>(_ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch { throw RPCErrors.map(error) }
}

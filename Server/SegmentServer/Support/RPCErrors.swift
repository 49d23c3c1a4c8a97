import GRPCCore
import GRPCProtobuf
import SegmentationAPI
import SegmentationEngine
import SegmentationMapping

/// Maps the errors of the engine, the registry and the job manager to gRPC status codes with a
/// message that names the problem, capped in length, and `google.rpc.Status` details in
/// `grpc-status-details-bin` (the richer error model, AIP-193): always an `ErrorInfo` with a
/// stable reason in the domain "segmentation.v1"; a `BadRequest.FieldViolation` naming the
/// customer and field for a bad row, or the request field an `InvalidField` refused; a `ResourceInfo` for what was not found; a
/// `QuotaFailure` for a limit. Documented in the protos' service comments.
enum RPCErrors {
    static let domain = "segmentation.v1"
    /// Messages are cut at this many bytes: an error never echoes unbounded input.
    static let maximumMessageLength = 500

    static func map(_ error: any Error) -> RPCError {
        if let error = error as? RPCError { return withDetails(error) }
        let (code, reason, extra) = classify(error)
        var message = String(describing: error)
        if message.utf8.count > maximumMessageLength {
            message = message.cutToUTF8(maximumMessageLength) + "..."
        }
        let status = GoogleRPCStatus(
            code: code, message: message,
            details: [.errorInfo(reason: reason, domain: domain)] + extra)
        return RPCError(code: code, message: message, metadata: status.rpcErrorMetadata)
    }

    /// The status code and stable reason an error is answered with.
    static func codeAndReason(_ error: any Error) -> (RPCError.Code, String) {
        if let error = error as? RPCError {
            return (error.code, reason(of: error) ?? StatusName.of(error.code))
        }
        let (code, reason, _) = classify(error)
        return (code, reason)
    }

    /// The status code, the stable reason, and any further details of an error.
    private static func classify(_ error: any Error) -> (RPCError.Code, String, [ErrorDetails]) {
        switch error {
        case let error as RegistryError:
            switch error {
            case .notFound(let resource):
                return (
                    .notFound, "NOT_FOUND",
                    [
                        .resourceInfo(
                            type: resource.type, name: resource.name.cutToUTF8(200),
                            errorDescription: "\(resource.prose) not found".cutToUTF8(200))
                    ]
                )
            case .aliasedVersion: return (.failedPrecondition, "ALIASED_VERSION", [])
            case .invalid: return (.invalidArgument, "INVALID_NAME", [])
            case .storage: return (.internalError, "STORAGE", [])
            case .busy: return (.unavailable, "REGISTRY_BUSY", [])
            case .unavailable: return (.unavailable, "REGISTRY_UNAVAILABLE", [])
            case .full: return (.resourceExhausted, "DISK_FULL", [])
            case .damagedDatabase: return (.dataLoss, "DAMAGED_REGISTRY", [])
            case .corrupt: return (.dataLoss, "DAMAGED_DATA", [])
            case .datasetInUse: return (.failedPrecondition, "DATASET_IN_USE", [])
            case .requestReused: return (.alreadyExists, "REQUEST_ID_REUSED", [])
            case .aliasMoved: return (.aborted, "ALIAS_MOVED", [])
            }
        case let error as JobError:
            switch error {
            case .shuttingDown: return (.unavailable, "SHUTTING_DOWN", [])
            case .alreadyFinished, .registering: return (.failedPrecondition, "JOB_FINISHED", [])
            case .queueFull:
                return (
                    .resourceExhausted, "QUEUE_FULL",
                    [
                        .quotaFailure(violations: [
                            .init(
                                subject: "queued jobs",
                                description:
                                    "training jobs waiting to run, at most as many as the server's operator allows"
                            )
                        ])
                    ]
                )
            }
        case let error as UploadError:
            switch error {
            case .tooLarge:
                return (
                    .resourceExhausted, "UPLOAD_TOO_LARGE",
                    [
                        .quotaFailure(violations: [
                            .init(
                                subject: "upload bytes",
                                description:
                                    "bytes in one upload, at most as many as the server's operator allows"
                            )
                        ])
                    ]
                )
            case .tooManyColumns: return (.invalidArgument, "TOO_MANY_COLUMNS", [])
            case .tooManyRows:
                return (
                    .resourceExhausted, "TOO_MANY_ROWS",
                    [
                        .quotaFailure(violations: [
                            .init(
                                subject: "rows per dataset",
                                description:
                                    "rows in one dataset, at most as many as the server's operator allows"
                            )
                        ])
                    ]
                )
            case .quotaExceeded:
                return (
                    .resourceExhausted, "DATASET_QUOTA",
                    [
                        .quotaFailure(violations: [
                            .init(
                                subject: "stored dataset bytes",
                                description:
                                    "bytes of all stored datasets, at most as many as the server's operator allows"
                            )
                        ])
                    ]
                )
            case .storage: return (.internalError, "STORAGE", [])
            default: return (.invalidArgument, "BAD_UPLOAD", [])
            }
        case let error as InvalidField:
            return (
                .invalidArgument, "INVALID_ARGUMENT",
                [
                    .badRequest(violations: [
                        .init(
                            field: error.field.cutToUTF8(200),
                            description: error.message.cutToUTF8(maximumMessageLength))
                    ])
                ]
            )
        case let error as ScoringError:
            return (
                .invalidArgument, "BAD_ROW",
                fieldViolation(error).map { [.badRequest(violations: [$0])] } ?? []
            )
        case let error as InputError:
            if case .kindMismatch = error { return (.invalidArgument, "KIND_MISMATCH", []) }
            return (.invalidArgument, "INVALID_INPUT", [])
        case is CSVError: return (.invalidArgument, "BAD_CSV", [])
        case let error as ClusteringError:
            if case .invalidK = error { return (.invalidArgument, "INVALID_K", []) }
            return (.invalidArgument, "INVALID_PARAMETER", [])
        case let error as ModelError:
            switch error {
            case .unknownSegment:
                return (
                    .notFound, "NOT_FOUND",
                    [.resourceInfo(type: "segment", name: "", errorDescription: error.description)]
                )
            case .invalidName, .wrongKind: return (.invalidArgument, "INVALID_SEGMENT_EDIT", [])
            case .corrupt, .notAModel: return (.dataLoss, "DAMAGED_DATA", [])
            default: return (.internalError, "MODEL_FORMAT", [])
            }
        case is ComparisonError: return (.failedPrecondition, "INCOMPARABLE_VERSIONS", [])
        case let error as ModelTransferError:
            switch error {
            case .mismatch: return (.dataLoss, "DAMAGED_DATA", [])
            case .newerFormat: return (.failedPrecondition, "MODEL_FORMAT", [])
            case .tooLarge: return (.resourceExhausted, "UPLOAD_TOO_LARGE", [])
            }
        case is CancellationError, is ScoringStopped: return (.cancelled, "CANCELLED", [])
        case let refusal as Refusal: return refusal.status
        case let error as LiveError:
            switch error {
            case .noStore: return (.notFound, "LIVE_STORE_NOT_FOUND", [])
            case .noCustomer: return (.notFound, "CUSTOMER_NOT_FOUND", [])
            case .follows: return (.failedPrecondition, "LIVE_STORE_FOLLOWS_ANOTHER_REF", [])
            case .batchTooLarge: return (.resourceExhausted, "BATCH_TOO_LARGE", [])
            case .positionExpired: return (.outOfRange, "POSITION_EXPIRED", [])
            case .positionAhead: return (.outOfRange, "POSITION_AHEAD", [])
            case .customerIDTooLong: return (.invalidArgument, "CUSTOMER_ID_TOO_LONG", [])
            case .tooManyBatches: return (.resourceExhausted, "TOO_MANY_BATCHES", [])
            case .notTransactions: return (.failedPrecondition, "NOT_A_TRANSACTIONS_MODEL", [])
            }
        case is CustomerStateDecodingError: return (.dataLoss, "DAMAGED_DATA", [])
        default: return (.internalError, "INTERNAL", [])
        }
    }

    /// "customer 17850: field monetary ..." as a field violation, `customers[17850].monetary`.
    private static func fieldViolation(
        _ error: ScoringError
    ) -> ErrorDetails.BadRequest.FieldViolation? {
        let (customer, field): (String, String)
        switch error {
        case .wrongArity(let c, _, _): (customer, field) = (c, "values")
        case .nonFinite(let c, let f, _), .outOfDomain(let c, let f, _, _),
            .unreadable(let c, let f, _):
            (customer, field) = (c, f)
        case .unknownColumn(let name, _), .missingColumn(let name): (customer, field) = ("", name)
        case .emptyBatch: return nil
        case .badOption(let option, _):
            return .init(
                field: option, description: error.description.cutToUTF8(maximumMessageLength))
        }
        let path =
            customer.isEmpty
            ? "columns.\(field.cutToUTF8(64))"
            : "customers[\(customer.cutToUTF8(64))].\(field.cutToUTF8(64))"
        return .init(field: path, description: error.description.cutToUTF8(maximumMessageLength))
    }

    /// A failed request of a score stream, as the status it would have failed a unary call with.
    static func scoreError(_ error: any Error) -> Segmentation_V1_ScoreError {
        let status = map(error)
        var answer = Segmentation_V1_ScoreError.with {
            $0.code = Int32(status.code.rawValue)
            $0.message = status.message
        }
        if error is RPCError {
            answer.reason = reasonName(status.code)
        } else {
            let (_, reason, _) = classify(error)
            answer.reason = reason
            if let error = error as? ScoringError, let violation = fieldViolation(error) {
                answer.field = violation.field
            } else if let error = error as? InvalidField {
                answer.field = error.field
            }
        }
        return answer
    }
}

/// Calls refused around their handler (by the interceptor, the scoring slots, the drain), each
/// with its stable reason.
enum Refusal: Error, CustomStringConvertible {
    case starting
    case noToken
    case unknownToken
    case notPermitted(role: String, method: String, needs: String, roles: [String])
    case metadataTooLarge(size: Int, limit: Int)
    /// Every scoring slot and waiting place taken.
    case scoringBusy(String)
    /// Still running when the shutdown's drain (--drain-seconds) ended.
    case drainEnded

    var description: String {
        switch self {
        case .starting:
            "the server is starting (checking the registry, loading model tables); retry shortly"
        case .noToken:
            "this server needs a bearer token: send 'authorization: Bearer TOKEN'"
        case .unknownToken: "the bearer token is not one this server knows"
        case .notPermitted(let role, let method, let needs, let roles):
            "role \(role) may not call \(method) (it needs \(needs); roles with it: \(roles.joined(separator: ", ")))"
        case .metadataTooLarge(let size, let limit):
            "the call's metadata is \(size) bytes; this server takes at most \(limit)"
        case .scoringBusy(let message): message
        case .drainEnded:
            "the server shut down before this call finished (its shutdown's time for calls in flight ended); retry: another replica, or this one once restarted"
        }
    }

    fileprivate var status: (RPCError.Code, String, [ErrorDetails]) {
        switch self {
        case .starting: (.unavailable, "STARTING", [])
        case .noToken, .unknownToken: (.unauthenticated, "UNAUTHENTICATED", [])
        case .notPermitted: (.permissionDenied, "PERMISSION_DENIED", [])
        case .metadataTooLarge:
            (
                .resourceExhausted, "METADATA_TOO_LARGE",
                [
                    .quotaFailure(violations: [
                        .init(
                            subject: "metadata bytes",
                            description:
                                "bytes of a call's metadata, at most as many as the server's operator allows"
                        )
                    ])
                ]
            )
        case .scoringBusy: (.resourceExhausted, "SCORING_BUSY", [])
        case .drainEnded: (.unavailable, "SHUTTING_DOWN", [])
        }
    }
}

extension RPCErrors {
    /// An `RPCError` thrown bare (by the framework, or health's NOT_FOUND) gets the details
    /// every error carries: an ErrorInfo whose reason is its code's name.
    static func withDetails(_ error: RPCError) -> RPCError {
        guard !error.metadata.contains(where: { $0.key == "grpc-status-details-bin" }) else {
            return error
        }
        let status = GoogleRPCStatus(
            code: error.code, message: error.message,
            details: [.errorInfo(reason: reasonName(error.code), domain: domain)])
        var metadata = error.metadata
        metadata.add(contentsOf: status.rpcErrorMetadata)
        return RPCError(
            code: error.code, message: error.message, metadata: metadata, cause: error.cause)
    }

    /// UNAVAILABLE, NOT_FOUND... as the reason of an error that has no more specific one.
    static func reasonName(_ code: RPCError.Code) -> String {
        StatusName.of(code)
    }

    /// The ErrorInfo reason an error's details carry, if any.
    static func reason(of error: RPCError) -> String? {
        guard let status = try? error.unpackGoogleRPCStatus() else { return nil }
        for detail in status.details {
            if let info = detail.errorInfo { return info.reason }
        }
        return nil
    }

    /// A google.rpc.Status message (as in Job.status) with an ErrorInfo of `reason`.
    static func status(code: Int, message: String, reason: String) -> Google_Rpc_Status {
        let status = GoogleRPCStatus(
            code: Status.Code(rawValue: code).flatMap { RPCError.Code($0) } ?? .unknown,
            message: message,
            details: [.errorInfo(reason: reason, domain: domain)])
        let bytes: [UInt8] = (try? status.serializedBytes()) ?? []
        return (try? Google_Rpc_Status(serializedBytes: bytes))
            ?? .with {
                $0.code = Int32(code); $0.message = message
            }
    }
}

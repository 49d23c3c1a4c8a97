import ArgumentParser
import Foundation
import GRPCCore
import SegmentationAPI
import SegmentationEngine

/// A failure the CLI reports as one line on stderr, with an exit code scripts can rely on.
public enum CLIError: Error, CustomStringConvertible {
    case usage(String)
    case notFound(String)
    case invalidInput(String)
    case unreachable(String)
    case conflict(String)
    case jobFailed(String)
    case denied(String)
    case failed(String)

    /// Exit codes (documented in docs/cli.md): 0 success, 1 other failure, 3 not found,
    /// 4 invalid input, 5 server unreachable, 6 conflict (e.g. deleting an aliased version),
    /// 7 training job failed or was cancelled, 8 not allowed (no or unknown token, or a role
    /// without the right), 64 usage.
    public var exitCode: Int32 {
        switch self {
        case .usage: 64
        case .notFound: 3
        case .invalidInput: 4
        case .unreachable: 5
        case .conflict: 6
        case .jobFailed: 7
        case .denied: 8
        case .failed: 1
        }
    }

    public var description: String {
        switch self {
        case .usage(let m), .notFound(let m), .invalidInput(let m), .unreachable(let m),
            .conflict(let m),
            .jobFailed(let m), .denied(let m), .failed(let m):
            Self.namingFlags(m)
        }
    }

    /// The API's messages name its fields (the server serves every client); this CLI's user
    /// reads them as its flags.
    static func namingFlags(_ message: String) -> String {
        [
            ("upload it as kind customers", "use --kind customers"),
            ("upload it as kind transactions", "use --kind transactions"),
            ("give the right column the id role", "name the right id column with --id-column"),
            ("name it with the column role ", "name it with --columns "),
            ("allow_sensitive ", "--allow-sensitive "),
        ].reduce(message) { text, pair in text.replacingOccurrences(of: pair.0, with: pair.1) }
    }

    static func from(_ error: any Error, server: String) -> CLIError {
        switch error {
        case let error as CLIError: return error
        case let error as RPCError:
            switch error.code {
            case .unavailable
            where error.message.contains("preface")
                || error.message.lowercased().contains("handshake")
                || error.message.lowercased().contains("certificate"):
                return .unreachable(
                    "cannot talk to the server at \(server) (\(error.message)); if it serves TLS, pass --tls or --ca FILE "
                        + "(and --cert/--key if it wants client certificates)")
            case .unavailable
            where error.message.isEmpty || error.message.lowercased().contains("connect")
                || error.message.lowercased().contains("refused")
                || error.message.lowercased().contains("unavailable"):
                return .unreachable(
                    "cannot reach the server at \(server) (\(error.message)); is segment-server running? Set --server or SEGMENT_SERVER"
                )
            case .unavailable:
                return .unreachable("server at \(server) unavailable: \(error.message)")
            case .deadlineExceeded:
                return .unreachable("the server at \(server) did not answer in time")
            case .notFound: return .notFound(error.message)
            case .invalidArgument, .outOfRange, .resourceExhausted:
                return .invalidInput(error.message)
            case .failedPrecondition, .alreadyExists, .aborted: return .conflict(error.message)
            case .unauthenticated:
                return .denied("\(error.message) (give it by SEGMENT_TOKEN or --token-file)")
            case .permissionDenied: return .denied(error.message)
            default: return .failed("\(StatusName.of(error.code)): \(error.message)")
            }
        case let error as CSVError: return .invalidInput(error.description)
        case let error as InputError: return .invalidInput(error.description)
        case let error as ScoringError: return .invalidInput(error.description)
        case let error as CocoaError
        where error.code == .fileReadNoSuchFile || error.code == .fileNoSuchFile:
            return .invalidInput("no such file: \(error.userInfo[NSFilePathErrorKey] ?? "")")
        case let error as ValidationError: return .usage(error.message)
        default: return .failed(String(describing: error))
        }
    }
}

/// Runs a command body; any failure becomes one readable line and a distinct exit code.
func reportingErrors(server: String, _ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as ExitCode {
        throw error
    } catch {
        let failure = CLIError.from(error, server: server)
        FileHandle.standardError.writeQuietly("segment: error: \(failure.description)\n")
        throw ExitCode(failure.exitCode)
    }
}

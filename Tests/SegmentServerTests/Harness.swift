import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import GRPCProtobuf
import Logging
import SegmentationAPI
import SegmentationEngine
import Testing

@testable import SegmentCLI
@testable import SegmentServer

/// A server on a free loopback port with its own data directory, and clients for it.
struct Harness {
    let dataDirectory: String

    init() throws {
        dataDirectory =
            FileManager.default.temporaryDirectory
            .appendingPathComponent("segment-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(
            atPath: dataDirectory, withIntermediateDirectories: true)
    }

    /// Runs `body` against a fresh server process-in-process on this data directory, then shuts it down.
    func withServer<T: Sendable>(
        maximumJobs: Int = 1, maximumUploadBytes: Int64 = 1 << 30, modelCacheBytes: Int = 512 << 20,
        jittery: Bool = false, registry injected: (any Registry)? = nil,
        maximumQueuedJobs: Int = 100, maximumDatasetBytes: Int64 = 1 << 40,
        hooks: ServerHooks = ServerHooks(),
        configure: (inout ServerConfiguration) -> Void = { _ in }, logger given: Logger? = nil,
        clientToken: String? = nil,
        clientSecurity: HTTP2ClientTransport.Posix.TransportSecurity = .plaintext,
        _ body: @Sendable (Services, SegmentationServer) async throws -> T
    ) async throws -> T {
        var configuration = ServerConfiguration()
        configuration.modelCacheBytes = modelCacheBytes
        configuration.maximumQueuedJobs = maximumQueuedJobs
        configuration.maximumDatasetBytes = maximumDatasetBytes
        configuration.port = 0
        configuration.dataDirectory = dataDirectory
        configuration.maximumConcurrentJobs = maximumJobs
        configuration.maximumUploadBytes = maximumUploadBytes
        configure(&configuration)
        var logger = given ?? Logger(label: "test-server")
        if given == nil { logger.logLevel = .warning }
        let registry: (any Registry)? =
            injected != nil
            ? injected
            : jittery
                ? JitteryRegistry(
                    base: try SQLiteRegistry(
                        path: (dataDirectory as NSString).appendingPathComponent("registry.sqlite"))
                )
                : nil
        let server = try await SegmentationServer(
            configuration: configuration, logger: logger, registry: registry,
            hooks: hooks)
        // Unstructured, so that the watchdog below can cancel it as the server's ServiceGroup does
        // in production once --drain-seconds have passed.
        let running = Task { try await server.run() }
        let outcome: Result<T, any Error>
        do {
            let port = try await server.listeningPort
            guard await server.health.untilServing() else {
                throw RPCError(code: .unavailable, message: "the server stopped while starting")
            }
            outcome = .success(
                try await withGRPCClient(
                    transport: .http2NIOPosix(
                        target: .ipv4(address: "127.0.0.1", port: port),
                        transportSecurity: clientSecurity),
                    interceptors: clientToken.map { [BearerToken(token: $0)] } ?? []
                ) { client in
                    try await body(Services(client: client), server)
                })
        } catch {
            outcome = .failure(error)
        }
        // Shut down whether the body passed or threw: a thrown error must fail the test, not
        // leave the server running. A shutdown that does not end is a failure that names what
        // still runs, not a hung suite: past the drain and a margin the run is cancelled.
        let bound = configuration.drainSeconds + 40
        let watchdog = Task {
            try await Task.sleep(for: .seconds(bound))
            Issue.record(
                "the server did not stop within \(bound) s of shutDown(); still running: \(await server.shutdownProgress)"
            )
            running.cancel()
        }
        Task { await server.shutDown() }
        let ran = await running.result
        watchdog.cancel()
        if case .failure(let error) = ran, !(error is CancellationError) { throw error }
        return try outcome.get()
    }

    /// Writes generated sample transactions; returns the file and the generator's truth.
    func sampleFile(
        customers: Int, seed: UInt64 = 1,
        groups: [SampleDataGenerator.Group] = SampleDataGenerator.realisticGroups,
        name: String = "sample.csv"
    ) throws -> (path: String, output: SampleDataGenerator.Output) {
        let output = SampleDataGenerator(customers: customers, groups: groups, seed: seed)
            .generate()
        // Beside the data directory (the server must not see it), in a folder `remove()` deletes.
        try FileManager.default.createDirectory(
            atPath: samplesDirectory, withIntermediateDirectories: true)
        let path = (samplesDirectory as NSString).appendingPathComponent(
            "\(UUID().uuidString)-\(name)")
        try output.csv.write(toFile: path, atomically: true, encoding: .utf8)
        return (path, output)
    }

    /// Where `sampleFile` and `sideFile` write.
    var samplesDirectory: String { dataDirectory + "-samples" }

    /// A fresh path for a test's own file beside the data directory, deleted by `remove()`.
    func sideFile(_ name: String) throws -> String {
        try FileManager.default.createDirectory(
            atPath: samplesDirectory, withIntermediateDirectories: true)
        return (samplesDirectory as NSString).appendingPathComponent("\(UUID().uuidString)-\(name)")
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: dataDirectory)
        try? FileManager.default.removeItem(atPath: samplesDirectory)
    }
}

extension Services {
    func upload(
        _ path: String, kind: Segmentation_V1_InputKind = .transactions,
        roles: [String: String] = [:]
    ) async throws -> Segmentation_V1_Dataset {
        try await Uploader.upload(
            [path],
            header: .with {
                $0.name = "test"
                $0.kind = kind
                $0.columns = .with { $0.roles = roles }
            }, services: self
        ).dataset
    }

    func train(
        _ datasetID: String, model: String, ks: ClosedRange<Int> = 2...4, nInit: Int32 = 3,
        features: [String] = []
    ) async throws -> Segmentation_V1_Job {
        let submitted = try await training.submitTrainingJob(
            .with {
                $0.spec = .with {
                    $0.modelName = model
                    $0.datasetID = datasetID
                    $0.kRange = .with {
                        $0.min = Int32(ks.lowerBound); $0.max = Int32(ks.upperBound)
                    }
                    $0.nInit = nInit
                    $0.features = features
                }
            }
        ).job
        return try await waitForJob(submitted.id)
    }

    /// Watches a job to its end; returns the final job and the events seen.
    func waitForJob(_ id: String) async throws -> Segmentation_V1_Job {
        try await watchEvents(id).final
    }

    func watchEvents(
        _ id: String
    ) async throws -> (final: Segmentation_V1_Job, events: [Segmentation_V1_JobEvent]) {
        try await training.watchJob(.with { $0.jobID = id }) { response in
            var events: [Segmentation_V1_JobEvent] = []
            for try await event in response.messages { events.append(event) }
            guard let last = events.last, last.hasFinalJob else {
                throw RPCError(code: .internalError, message: "watch ended without a final job")
            }
            return (last.finalJob, events)
        }
    }
}

/// The status code of a failing call, or nil when it succeeds.
func statusCode(_ body: () async throws -> Void) async -> RPCError.Code? {
    do {
        try await body()
        return nil
    } catch let error as RPCError {
        return error.code
    } catch {
        return .unknown
    }
}

extension Segmentation_V1_Job {
    /// `status`'s code and the reason of its ErrorInfo (read back through GRPCProtobuf's own
    /// google.rpc.Status, as a client's library would).
    var failure: (code: Int32, reason: String?) {
        let bytes: [UInt8] = (try? status.serializedBytes()) ?? []
        let decoded = try? GoogleRPCStatus(serializedBytes: bytes)
        return (status.code, decoded?.details.first?.errorInfo?.reason)
    }
}

// segment-load: drives segment-server over gRPC for the serving benchmarks (unary load and
// latency come from h2load, see bench/serve.sh).
//
//   segment-load stream <port> <model> <messages> <customers per message> [--omit-names | --matrix]
//                                                                           ScoreStream throughput
//   segment-load populate <port> <versions>                                 train many small versions
//   segment-load cold-start <server binary> <data dir> <port>               time to SERVING
//   segment-load soak <port> <ca.pem> <admin token> <scorer token> <seconds> <concurrency> <server pid> [--no-memory-verdict]
//                                                                           the soak test (bench/soak.sh)
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import SegmentationAPI
import SegmentationEngine

let columns = ["recency", "frequency", "monetary", "avg_order_value"]

func customer(_ i: Int) -> Segmentation_V1_FeatureRow {
    .with {
        $0.customerID = "c\(i)"
        $0.values = [
            Double(1 + i % 300), Double(1 + i % 20), 50 + Double(i % 5000), 20 + Double(i % 700),
        ]
    }
}

func withClient<T: Sendable>(
    _ port: Int, _ body: @Sendable (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> T
) async throws -> T {
    try await withGRPCClient(
        transport: .http2NIOPosix(
            target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext,
            config: .defaults { $0.http2.targetWindowSize = 16 << 20 })
    ) { client in try await body(client) }
}

/// The same customers as one packed matrix (ids kept, so errors could name them).
func matrix(_ first: Int, _ count: Int) -> Segmentation_V1_FeatureMatrix {
    let rows = (first..<(first + count)).map(customer)
    return .with {
        $0.featureNames = columns
        $0.customerIds = rows.map(\.customerID)
        $0.values = rows.flatMap(\.values)
    }
}

enum StreamForm: String {
    case rows = "stream"
    case idsOnly = "stream_ids_only"
    case matrix = "stream_matrix"
}

/// One ScoreStream with `messages` requests of `batch` customers each.
func stream(port: Int, model: String, messages: Int, batch: Int, form: StreamForm) async throws {
    let requests = (0..<messages).map { m in
        Segmentation_V1_ScoreRequest.with {
            if m == 0 { $0.model = .init(text: model) }
            switch form {
            case .rows, .idsOnly:
                $0.omitNames = form == .idsOnly
                $0.features = .with {
                    $0.featureNames = columns;
                    $0.rows = (0..<batch).map { customer(m * batch + $0) }
                }
            case .matrix:
                $0.matrix = matrix(m * batch, batch)
            }
        }
    }
    let start = ContinuousClock.now
    let scored = try await withClient(port) { client in
        try await Segmentation_V1_ScoringService.Client(wrapping: client).scoreStream { writer in
            for request in requests { try await writer.write(request) }
        } onResponse: { response in
            var count = 0
            for try await part in response.messages {
                count += part.scores.scores.count + part.packed.segmentIds.count
            }
            return count
        }
    }
    let elapsed = (ContinuousClock.now - start).seconds
    print(
        String(
            format:
                #"{"name":"%@","customers":%d,"expected":%d,"seconds":%.3f,"customers_per_s":%.0f}"#,
            form.rawValue as NSString, scored, messages * batch, elapsed, Double(scored) / elapsed))
}

/// Uploads one small generated dataset and trains `versions` versions over ten models.
func populate(port: Int, versions: Int) async throws {
    try await withClient(port) { client in
        let dataset = try await uploadSample(
            Segmentation_V1_DatasetService.Client(wrapping: client), customers: 300)
        let training = Segmentation_V1_TrainingService.Client(wrapping: client)
        for v in 0..<versions {
            _ = try await trainOnce(
                training, model: "bench-\(v % 10)", dataset: dataset.id, k: 3 + Int32(v % 3),
                seed: UInt64(v))
        }
    }
    print(#"{"name":"populate","versions":\#(versions)}"#)
}

/// Uploads generated sample transactions (seed 5).
func uploadSample(
    _ datasets: Segmentation_V1_DatasetService.Client<HTTP2ClientTransport.Posix>, customers: Int
) async throws -> Segmentation_V1_Dataset {
    let output = SampleDataGenerator(customers: customers, seed: 5).generate()
    return try await datasets.uploadDataset { writer in
        try await writer.write(
            .with {
                $0.header = .with {
                    $0.kind = .transactions; $0.name = "bench"
                }
            })
        try await writer.write(
            .with {
                $0.chunk = .with {
                    $0.fileName = "bench.csv"; $0.data = Data(output.csv.utf8)
                }
            })
    }.dataset
}

/// Trains one version at k (one restart) and waits for it; returns its version number.
func trainOnce(
    _ training: Segmentation_V1_TrainingService.Client<HTTP2ClientTransport.Posix>, model: String,
    dataset: String,
    k: Int32, seed: UInt64 = 0
) async throws -> Int32 {
    let job = try await training.submitTrainingJob(
        .with {
            $0.spec = .with {
                $0.modelName = model; $0.datasetID = dataset; $0.k = k; $0.nInit = 1; $0.seed = seed
            }
        }
    ).job
    let final = try await training.watchJob(.with { $0.jobID = job.id }) { response in
        var last: Segmentation_V1_JobEvent?
        for try await event in response.messages { last = event }
        return last
    }
    guard let final, final.state == .succeeded, final.hasFinalJob else {
        throw RPCError(
            code: .internalError, message: "job \(job.id) ended \(final?.state ?? .unspecified)")
    }
    return final.finalJob.modelVersion
}

/// Starts the server and polls Health.Check until SERVING.
func coldStart(binary: String, dataDirectory: String, port: Int) async throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: binary)
    process.arguments = [
        "--port", String(port), "--data-dir", dataDirectory, "--log-level", "warning",
    ]
    let start = ContinuousClock.now
    try process.run()
    defer { process.interrupt(); process.waitUntilExit() }
    var serving: Duration?
    while ContinuousClock.now - start < .seconds(30) {
        let status = try? await withClient(port) { client in
            try await Grpc_Health_V1_Health.Client(wrapping: client).check(
                .with { $0.service = "" }
            ).status
        }
        if status == .serving { serving = ContinuousClock.now - start; break }
        try await Task.sleep(for: .milliseconds(5))
    }
    guard let serving else {
        throw RPCError(code: .unavailable, message: "the server never became SERVING")
    }
    // Load every version once (as scoring would), then read the server's resident memory.
    let loaded = try await withClient(port) { client in
        let models = Segmentation_V1_ModelRegistry.Client(wrapping: client)
        let scoring = Segmentation_V1_ScoringService.Client(wrapping: client)
        var count = 0
        for model in try await models.listModels(.init()).models {
            for version in try await models.listVersions(.with { $0.name = model.name }).versions {
                _ = try await scoring.score(
                    .with {
                        $0.model = .init(name: model.name, version: Int(version.version))
                        $0.features = .with {
                            $0.featureNames = columns; $0.rows = [customer(count)]
                        }
                    })
                count += 1
            }
        }
        return count
    }
    print(
        String(
            format:
                #"{"name":"cold_start","seconds_to_serving":%.3f,"versions_loaded":%d,"rss_mb":%.1f}"#,
            serving.seconds, loaded,
            Double(residentBytes(of: process.processIdentifier)) / 1_048_576))
}

func residentBytes(of pid: Int32) -> Int {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
        let kb = Int(line.split(separator: " ").dropFirst().first ?? "")
    else { return 0 }
    return kb * 1024
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

@main
enum LoadClient {
    static func main() async throws {
        let a = Array(CommandLine.arguments.dropFirst())
        func int(_ i: Int, _ fallback: Int) -> Int {
            a.count > i ? Int(a[i]) ?? fallback : fallback
        }
        switch a.first {
        case "stream":
            try await stream(
                port: int(1, 50051), model: a.count > 2 ? a[2] : "bench-0", messages: int(3, 1000),
                batch: int(4, 1000),
                form: a.contains("--matrix")
                    ? .matrix : a.contains("--omit-names") ? .idsOnly : .rows)
        case "populate":
            try await populate(port: int(1, 50051), versions: int(2, 100))
        case "soak":
            try await soak(
                SoakOptions(
                    port: int(1, 50051), caFile: a[2], adminToken: a[3], scorerToken: a[4],
                    seconds: int(5, 300),
                    concurrency: int(6, 64), serverPID: Int32(int(7, 0)),
                    judgeMemory: !a.contains("--no-memory-verdict")))
        case "cold-start":
            try await coldStart(binary: a[1], dataDirectory: a[2], port: int(3, 50071))
        default:
            FileHandle.standardError.write(
                Data("usage: see the header of bench/LoadClient/LoadClient.swift\n".utf8))
            exit(64)
        }
    }
}

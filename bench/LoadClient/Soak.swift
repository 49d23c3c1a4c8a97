// The soak test (bench/soak.sh): scoring at high concurrency over TLS with a token, for minutes,
// while training jobs run and an alias switches back and forth between two versions of different
// k. Every reply must come from exactly one of the two versions and equal that version's scores
// (never a half-switched alias); no call may fail; the server's resident memory after warm-up
// may not grow by 10% or more.
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import SegmentationAPI
import SegmentationEngine
import Synchronization

struct SoakOptions {
    var port: Int
    var caFile: String
    var adminToken: String
    var scorerToken: String
    var seconds: Int
    var concurrency: Int
    var serverPID: Int32
    /// Smoke runs (CI) report memory growth but do not judge it: seconds of debug build are no soak.
    var judgeMemory: Bool
}

/// Adds `authorization: Bearer TOKEN` to every call.
struct Bearer: ClientInterceptor {
    let token: String
    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingClientRequest<Input>, context: ClientContext,
        next: (StreamingClientRequest<Input>, ClientContext) async throws ->
            StreamingClientResponse<Output>
    ) async throws -> StreamingClientResponse<Output> {
        var request = request
        request.metadata.addString("Bearer \(token)", forKey: "authorization")
        return try await next(request, context)
    }
}

func withSecureClient<T: Sendable>(
    _ options: SoakOptions, token: String,
    _ body: @Sendable (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> T
) async throws -> T {
    try await withGRPCClient(
        transport: .http2NIOPosix(
            target: .ipv4(address: "127.0.0.1", port: options.port),
            transportSecurity: .tls {
                $0.trustRoots = .certificates([.file(path: options.caFile, format: .pem)])
            }),
        interceptors: [Bearer(token: token)]
    ) { client in try await body(client) }
}

/// What the helpers count while the scorers run.
final class SoakProgress: Sendable {
    let switches = Atomic<Int>(0)
    let jobs = Atomic<Int>(0)
    /// The server's resident memory, sampled every second.
    let memory = Mutex<[(seconds: Double, bytes: Int)]>([])
}

/// What every worker counts, merged at the end.
struct SoakTally: Sendable {
    var calls = 0
    var failed = 0
    var mismatched = 0
    var byVersion: [Int32: Int] = [:]
    var latenciesMs: [Double] = []
    var firstProblem: String?

    mutating func merge(_ other: SoakTally) {
        calls += other.calls
        failed += other.failed
        mismatched += other.mismatched
        byVersion.merge(other.byVersion, uniquingKeysWith: +)
        latenciesMs += other.latenciesMs
        firstProblem = firstProblem ?? other.firstProblem
    }
}

func soak(_ options: SoakOptions) async throws {
    let batch = Segmentation_V1_FeatureRows.with {
        $0.featureNames = columns; $0.rows = (0..<20).map(customer)
    }
    let start = ContinuousClock.now
    let end = start + .seconds(options.seconds)
    let warmUpEnds = Double(max(1, options.seconds / 4))
    let progress = SoakProgress()

    let (tally, versions) = try await withSecureClient(options, token: options.adminToken) {
        admin in
        let (dataset, expected) = try await prepareSoak(admin, batch: batch)
        let versions = expected.keys.sorted()
        let tally = try await withSecureClient(options, token: options.scorerToken) { scorer in
            try await withThrowingTaskGroup(of: SoakTally.self) { group in
                // Scorers share one connection, as a calling service's client would.
                let scoring = Segmentation_V1_ScoringService.Client(wrapping: scorer)
                for _ in 0..<options.concurrency {
                    group.addTask {
                        await scoreUntil(end, scoring, batch: batch, expected: expected)
                    }
                }
                group.addTask {
                    await repeatUntil(end, pause: .milliseconds(100)) { round in
                        _ = try await Segmentation_V1_ModelRegistry.Client(wrapping: admin)
                            .setAlias(
                                .with {
                                    $0.model = .init(
                                        name: "soak", version: Int(versions[(round + 1) % 2]));
                                    $0.alias = "prod"
                                })
                        progress.switches.add(1, ordering: .relaxed)
                    }
                }
                group.addTask {
                    // Training all along; each new version replaces the last, so the registry stays the same size.
                    var previous: Int32?
                    return await repeatUntil(end, pause: .zero) { round in
                        let version = try await trainOnce(
                            Segmentation_V1_TrainingService.Client(wrapping: admin),
                            model: "soak-train",
                            dataset: dataset, k: 3 + Int32(round % 3))
                        if let previous {
                            _ = try await Segmentation_V1_ModelRegistry.Client(wrapping: admin)
                                .deleteVersion(
                                    .with {
                                        $0.model = .init(
                                            name: "soak-train", version: Int(previous));
                                        $0.force = true
                                    })
                        }
                        previous = version
                        progress.jobs.add(1, ordering: .relaxed)
                    }
                }
                group.addTask {
                    await repeatUntil(end, pause: .seconds(1)) { _ in
                        let sample = (
                            (ContinuousClock.now - start).seconds,
                            residentBytes(of: options.serverPID)
                        )
                        progress.memory.withLock { $0.append(sample) }
                    }
                }
                var total = SoakTally()
                for try await part in group { total.merge(part) }
                return total
            }
        }
        return (tally, versions)
    }
    try report(
        tally, options: options, versions: versions,
        switches: progress.switches.load(ordering: .relaxed),
        jobs: progress.jobs.load(ordering: .relaxed), memory: progress.memory.withLock { $0 },
        warmUpEnds: warmUpEnds)
}

/// Uploads the sample and trains "soak" at k = 3 and k = 5 (prod on the first); returns the
/// dataset and each version's scores for `batch`. The two must differ, or the alias check would prove nothing.
private func prepareSoak(
    _ admin: GRPCClient<HTTP2ClientTransport.Posix>, batch: Segmentation_V1_FeatureRows
)
    async throws -> (dataset: String, expected: [Int32: [Segmentation_V1_CustomerScore]])
{
    let dataset = try await uploadSample(
        Segmentation_V1_DatasetService.Client(wrapping: admin), customers: 2000
    ).id
    let training = Segmentation_V1_TrainingService.Client(wrapping: admin)
    let scoring = Segmentation_V1_ScoringService.Client(wrapping: admin)
    var expected: [Int32: [Segmentation_V1_CustomerScore]] = [:]
    for k: Int32 in [3, 5] {
        let version = try await trainOnce(training, model: "soak", dataset: dataset, k: k)
        expected[version] = try await scoring.score(
            .with {
                $0.model = .init(name: "soak", version: Int(version)); $0.features = batch
            }
        ).scores.scores
    }
    let versions = expected.keys.sorted()
    guard versions.count == 2, expected[versions[0]] != expected[versions[1]] else {
        throw RPCError(code: .internalError, message: "the two soak versions score alike")
    }
    _ = try await Segmentation_V1_ModelRegistry.Client(wrapping: admin).setAlias(
        .with {
            $0.model = .init(name: "soak", version: Int(versions[0])); $0.alias = "prod"
        })
    return (dataset, expected)
}

/// One scorer: Score soak@prod back to back until `end`; each reply must be one version's exact scores.
private func scoreUntil(
    _ end: ContinuousClock.Instant,
    _ scoring: Segmentation_V1_ScoringService.Client<HTTP2ClientTransport.Posix>,
    batch: Segmentation_V1_FeatureRows, expected: [Int32: [Segmentation_V1_CustomerScore]]
) async -> SoakTally {
    var tally = SoakTally()
    while ContinuousClock.now < end {
        let sent = ContinuousClock.now
        tally.calls += 1
        do {
            let reply = try await scoring.score(
                .with {
                    $0.model = .init(text: "soak@prod"); $0.features = batch
                })
            tally.latenciesMs.append((ContinuousClock.now - sent).seconds * 1000)
            tally.byVersion[reply.modelVersion, default: 0] += 1
            if expected[reply.modelVersion] != reply.scores.scores {
                tally.mismatched += 1
                tally.firstProblem =
                    tally.firstProblem
                    ?? "a reply from version \(reply.modelVersion) differs from that version's scores"
            }
        } catch {
            tally.failed += 1
            tally.firstProblem = tally.firstProblem ?? "Score failed: \(error)"
        }
    }
    return tally
}

/// Runs `step` (round 0, 1, ...) until `end`, pausing between rounds; failures are counted as failed calls.
private func repeatUntil(
    _ end: ContinuousClock.Instant, pause: Duration, _ step: (Int) async throws -> Void
) async -> SoakTally {
    var tally = SoakTally()
    var round = 0
    while ContinuousClock.now < end {
        do {
            try await step(round)
        } catch {
            tally.failed += 1
            tally.firstProblem = tally.firstProblem ?? "\(error)"
        }
        round += 1
        try? await Task.sleep(for: pause)
    }
    return tally
}

/// Prints one JSON line; throws (a non-zero exit) on a failed or mismatched call, or on memory growth of 10% or more.
private func report(
    _ tally: SoakTally, options: SoakOptions, versions: [Int32], switches: Int, jobs: Int,
    memory: [(seconds: Double, bytes: Int)], warmUpEnds: Double
) throws {
    let latencies = tally.latenciesMs.sorted()
    func percentile(_ p: Double) -> Double {
        latencies.isEmpty
            ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]
    }
    let afterWarmUp = memory.first { $0.seconds >= warmUpEnds }?.bytes ?? memory.first?.bytes ?? 0
    let last = memory.last?.bytes ?? 0
    let peak = memory.filter { $0.seconds >= warmUpEnds }.map(\.bytes).max() ?? last
    let growth = afterWarmUp > 0 ? Double(last - afterWarmUp) / Double(afterWarmUp) : 0
    let mb = { (bytes: Int) in Double(bytes) / 1_048_576 }
    print(
        String(
            format:
                #"{"name":"soak","seconds":%d,"concurrency":%d,"calls":%d,"calls_per_s":%.0f,"failed":%d,"mismatched":%d,"#
                + #""replies_v%d":%d,"replies_v%d":%d,"alias_switches":%d,"jobs_trained":%d,"p50_ms":%.2f,"p99_ms":%.2f,"#
                + #""rss_after_warmup_mb":%.1f,"rss_end_mb":%.1f,"rss_peak_mb":%.1f,"rss_growth_pct":%.1f}"#,
            options.seconds, options.concurrency, tally.calls,
            Double(tally.calls) / Double(options.seconds), tally.failed,
            tally.mismatched, versions[0], tally.byVersion[versions[0]] ?? 0, versions[1],
            tally.byVersion[versions[1]] ?? 0,
            switches, jobs, percentile(0.5), percentile(0.99), mb(afterWarmUp), mb(last), mb(peak),
            growth * 100))
    if let problem = tally.firstProblem {
        FileHandle.standardError.write(Data("soak: first problem: \(problem)\n".utf8))
    }
    guard tally.failed == 0, tally.mismatched == 0 else {
        throw RPCError(
            code: .internalError,
            message: "soak: \(tally.failed) failed and \(tally.mismatched) mismatched calls")
    }
    guard !options.judgeMemory || growth < 0.10 else {
        throw RPCError(
            code: .internalError,
            message: String(format: "soak: resident memory grew %.1f%% after warm-up", growth * 100)
        )
    }
}

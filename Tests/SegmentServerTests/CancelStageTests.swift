import Foundation
import GRPCCore
import SegmentationAPI
import SegmentationEngine
import Synchronization
import Testing

@testable import SegmentCLI
@testable import SegmentServer

/// Holds one job's training thread at the first event of a chosen stage until the test lets it go,
/// so a CancelJob lands in that stage every time, however fast the stage is.
final class StageGate: Sendable {
    private struct State {
        var target: TrainingEvent.Stage?
        var held = false
    }
    private let state = Mutex(State())
    private let reachedStream: AsyncStream<Void>
    private let reached: AsyncStream<Void>.Continuation
    private let release = DispatchSemaphore(value: 0)

    init() { (reachedStream, reached) = AsyncStream<Void>.makeStream() }

    /// Holds the next job that reaches `stage`.
    func arm(_ stage: TrainingEvent.Stage) { state.withLock { $0 = State(target: stage) } }

    var observer: TrainingObserver {
        { [self] _, event in
            let hold = state.withLock { state -> Bool in
                guard !state.held, state.target == event.stage else { return false }
                state.held = true
                return true
            }
            guard hold else { return }
            reached.yield()
            // Never hang a test run: a forgotten release lets the job go after 30 s.
            _ = release.wait(timeout: .now() + 30)
        }
    }

    /// Waits for the held job; false if none reached the stage within a minute (a test failure, not a hang).
    func waitUntilHeld() async -> Bool {
        let stream = reachedStream
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                var iterator = stream.makeAsyncIterator()
                return await iterator.next() != nil
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(60))
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    func letGo() { release.signal() }
}

@Suite("CancelJob in every stage", .serialized, .timeLimit(.minutes(10)))
struct CancelStageTests {
    @Test(
        "CancelJob during reading, features, clustering, metrics, profiling and after the last stage: CANCELLED, no version"
    )
    func cancelInEveryStage() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let (path, _) = try harness.sampleFile(customers: 200)
        let gate = StageGate()
        try await harness.withServer(hooks: ServerHooks(training: gate.observer)) {
            services, server in
            let dataset = try await services.upload(path)
            let stages: [TrainingEvent.Stage] = [
                .reading, .features, .clustering, .metrics, .profiling, .done,
            ]
            #expect(
                Set(stages) == Set(TrainingEvent.Stage.allCases), "a stage without a cancel test")
            for stage in stages {
                gate.arm(stage)
                let job = try await services.training.submitTrainingJob(
                    .with {
                        $0.spec = .with {
                            $0.modelName = "held"; $0.datasetID = dataset.id
                            $0.kRange = .with {
                                $0.min = 2; $0.max = 4
                            }; $0.nInit = 2
                        }
                    }
                ).job
                guard await gate.waitUntilHeld() else {
                    Issue.record("no job reached \(stage) within a minute")
                    return
                }
                var held = try await services.training.getJob(.with { $0.jobID = job.id }).job
                for _ in 0..<100 where held.stage != stage.rawValue {
                    try await Task.sleep(for: .milliseconds(20))
                    held = try await services.training.getJob(.with { $0.jobID = job.id }).job
                }
                #expect(held.stage == stage.rawValue, "held at \(held.stage), not \(stage)")
                _ = try await services.training.cancelJob(.with { $0.jobID = job.id })
                gate.letGo()
                let finished = try await services.waitForJob(job.id)
                #expect(
                    finished.state == .cancelled, "\(stage): \(finished.state) \(finished.error)")
                #expect(finished.failure.code == 1 && finished.failure.reason == "CANCELLED")
                #expect(
                    finished.modelVersion == 0,
                    "\(stage): registered version \(finished.modelVersion)")
            }
            #expect(
                (try? await server.registry.versions(of: "held"))?.isEmpty ?? true,
                "a cancelled job left a version")
            // The same spec, not held, still trains: the cancels left nothing behind.
            let job = try await services.train(dataset.id, model: "held", ks: 2...4, nInit: 2)
            #expect(job.state == .succeeded && job.modelVersion == 1)
        }
    }
}

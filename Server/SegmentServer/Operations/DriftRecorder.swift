import Foundation
import Logging
import SegmentationEngine
import Synchronization

/// Keeps what scoring saw, per model version and hour, as counts over the training bins
/// (`DriftCounts`: a few dozen numbers, whatever the traffic), and adds them to the registry
/// every `flushInterval` and at shutdown, so every replica's scoring adds up. In memory at most
/// `maximumPending` windows wait for the registry (more while it is away are dropped, counted
/// in the log).
final class DriftRecorder: Sendable {
    struct Key: Hashable, Sendable {
        var model: String
        var version: Int
        var hour: Int
    }

    static let maximumPending = 10_000
    /// Windows per registry transaction.
    static let windowsPerWrite = 200
    /// The window the gauges and `models show`'s warning read.
    static let gaugeHours = 24

    let registry: any Registry
    let metrics: ServerMetrics
    let logger: Logger
    let flushInterval: Duration
    /// A served version's drift reference (from the decoded models the server keeps).
    let reference: @Sendable (String, Int) async -> DriftReference?
    private let pending = Mutex<[Key: DriftCounts]>([:])
    private let dropped = Atomic<Int>(0)
    private let flushing = SerialLock()

    init(
        registry: any Registry, metrics: ServerMetrics, logger: Logger, flushInterval: Duration,
        reference: @escaping @Sendable (String, Int) async -> DriftReference?
    ) {
        self.reference = reference
        self.registry = registry
        self.metrics = metrics
        self.logger = logger
        self.flushInterval = flushInterval
    }

    /// A tally for one request, nil for models from before drift references were kept.
    func tally(for resolved: ServedModels.Resolved) -> DriftTally? {
        resolved.model.driftReference.map(DriftTally.init)
    }

    /// Adds a request's counts to this hour's window of its version.
    func add(_ tally: DriftTally, name: String, version: Int, at date: Date = Date()) {
        let counts = tally.snapshot
        guard counts.customers > 0 else { return }
        let key = Key(model: name, version: version, hour: DriftWindow.hour(of: date))
        pending.withLock { merge(counts, as: key, into: &$0) }
    }

    /// Adds counts to their window, or starts the window while fewer than `maximumPending` wait
    /// (else the counts are dropped and counted).
    private func merge(_ counts: DriftCounts, as key: Key, into pending: inout [Key: DriftCounts]) {
        if pending[key] != nil {
            pending[key]!.add(counts)
        } else if pending.count < Self.maximumPending {
            pending[key] = counts
        } else {
            dropped.add(1, ordering: .relaxed)
        }
    }

    /// Writes what waits to the registry (kept for the next try when it fails), then refreshes
    /// the gauges of the versions written.
    func flush() async {
        _ = try? await flushing.run {
            let taken = pending.withLock { pending in
                defer { pending = [:] }
                return pending
            }
            guard !taken.isEmpty else { return }
            let windows = taken.map {
                DriftWindow(
                    model: $0.key.model, version: $0.key.version, hour: $0.key.hour,
                    counts: $0.value)
            }
            // In steps that each fit the registry's call timeout (a backlog after an outage);
            // what a failed step did not write waits for the next flush.
            for start in stride(from: 0, to: windows.count, by: Self.windowsPerWrite) {
                let step = Array(windows[start..<min(start + Self.windowsPerWrite, windows.count)])
                do {
                    try await registry.addDriftCounts(step)
                } catch {
                    putBack(windows[start...])
                    logger.warning(
                        "drift counts could not be stored; kept for the next try",
                        metadata: ["error": "\(error)", "windows": "\(windows.count - start)"])
                    return
                }
            }
            let lost = dropped.exchange(0, ordering: .relaxed)
            if lost > 0 {
                logger.warning(
                    "drift counts dropped while the registry was away (too many windows waiting)",
                    metadata: ["windows": "\(lost)"])
            }
            let versions = Set(taken.keys.map { VersionKey(name: $0.model, version: $0.version) })
            for version in versions { await refreshGauges(version) }
        }
    }

    private struct VersionKey: Hashable { var name: String; var version: Int }

    private func putBack(_ unwritten: ArraySlice<DriftWindow>) {
        pending.withLock { pending in
            for window in unwritten {
                merge(
                    window.counts,
                    as: Key(model: window.model, version: window.version, hour: window.hour),
                    into: &pending)
            }
        }
    }

    private func refreshGauges(_ key: VersionKey) async {
        guard let reference = await reference(key.name, key.version),
            let (_, report) = try? await measure(
                key.name, key.version, reference: reference, hours: Self.gaugeHours),
            let report
        else { return }
        metrics.driftMeasured(model: key.name, version: key.version, report: report)
    }

    /// The stored windows of the last `hours` hours (this one included), summed, against the
    /// training data.
    func measure(
        _ name: String, _ version: Int, reference: DriftReference, hours: Int,
        now: Date = Date()
    ) async throws -> (windows: [DriftWindow], report: DriftReport?) {
        let since = DriftWindow.hour(of: now) - hours + 1
        let windows = try await registry.driftWindows(name, version, sinceHour: since)
            .filter { $0.counts.fits(reference) }
        var total = reference.emptyCounts()
        for window in windows { total.add(window.counts) }
        return (windows, DriftReport(counts: total, reference: reference))
    }

    /// Flushes every `flushInterval` until cancelled, then once more (in a task of its own: the
    /// cancelled one's registry calls would stop at once).
    func run() async {
        while (try? await Task.sleep(for: flushInterval)) != nil { await flush() }
        await Task { await self.flush() }.value
    }
}

import Foundation
import GRPCCore
import SegmentationAPI
import SegmentationEngine

/// One WatchSegmentChanges call: the moves after a position, then new ones as they are
/// committed, until the client goes away or the server stops (then UNAVAILABLE, so the watcher
/// reconnects, to another replica too, and resumes from its position). Summarizing, each run of
/// model changes goes out as one event with a count per from/to pair: an alias switch is one
/// event unless other moves come between its model changes (each ends a run, so positions stay
/// in order) or it takes over 10 s to read.
struct LiveFeed {
    let service: LiveService
    let reference: ModelReference
    let summarizing: Bool
    /// The last move read, and the last position sent (what the client may resume after).
    private var read: Int64
    private var sent: Int64
    private var run: ModelChangeRun?

    /// A run still growing is sent once it is this old (the rest follows in another).
    static let longestRun: Duration = .seconds(10)

    init(service: LiveService, reference: ModelReference, after: Int64, summarizing: Bool) {
        self.service = service
        self.reference = reference
        self.summarizing = summarizing
        (read, sent) = (after, after)
    }

    mutating func run(
        into response: RPCWriter<Segmentation_V1_SegmentChange>, context: ServerContext
    ) async throws {
        let stores = service.stores
        while !context.cancellation.isCancelled {
            guard service.health.phase != .stopping else {
                throw RPCError(
                    code: .unavailable,
                    message:
                        "the server is shutting down: watch again from the last position seen (\(sent))"
                )
            }
            let seen = stores.changeCount(reference.name)
            // Read before the moves: a store no longer re-evaluating then has its run's last
            // moves in this read.
            let busy = summarizing ? try await stores.isReevaluating(reference.name) : false
            let moves = try await stores.moves(
                of: reference, after: read, limit: LiveService.feedPage)
            for move in moves {
                if summarizing, move.move.cause == .modelChange {
                    if let run, run.version != move.version { try await flush(into: response) }
                    if run == nil { run = ModelChangeRun(starting: move) }
                    run!.add(move)
                } else {
                    try await flush(into: response)
                    try await response.write(
                        try await move.proto(
                            model: reference.name, identities: stores.identities))
                    sent = move.sequence
                }
                read = move.sequence
            }
            let caughtUp = moves.count < LiveService.feedPage
            if let run, (caughtUp && !busy) || run.started.duration(to: .now) > Self.longestRun {
                try await flush(into: response)
            }
            if caughtUp {
                try await service.waitForChange(reference.name, since: seen, context: context)
            }
        }
    }

    /// Sends the run of model changes read so far, if any, as one summary.
    private mutating func flush(
        into response: RPCWriter<Segmentation_V1_SegmentChange>
    ) async throws {
        guard let run else { return }
        self.run = nil
        var pairs: [Segmentation_V1_SegmentPairCount] = []
        for (pair, customers) in run.counts.sorted(by: ModelChangeRun.mostFirst) {
            let identities = service.stores.identities
            let from = try await identities.named(
                pair.from, of: reference.name, version: pair.fromVersion)
            let to = try await identities.named(pair.to, of: reference.name, version: run.version)
            pairs.append(
                .with {
                    $0.fromSegmentID = from.id
                    $0.fromSegmentName = from.name
                    $0.fromModelVersion = Int32(pair.fromVersion ?? 0)
                    $0.fromStableID = from.stableID
                    $0.toSegmentID = to.id
                    $0.toSegmentName = to.name
                    $0.toStableID = to.stableID
                    $0.customers = Int64(customers)
                })
        }
        try await response.write(
            .with {
                $0.sequence = run.last
                $0.fromSegmentID = -1
                $0.toSegmentID = -1
                $0.cause = .modelChange
                $0.date = TimestampParser.isoDate(day: run.day)
                $0.modelVersion = Int32(run.version)
                $0.recordedAt = run.at.formatted(.iso8601)
                $0.summary = .with {
                    $0.firstSequence = run.first
                    $0.customers = Int64(run.counts.values.reduce(0, +))
                    $0.pairs = pairs
                }
            })
        sent = run.last
    }
}

/// Consecutive model-change moves under one version, counted by from/to pair.
struct ModelChangeRun {
    struct Pair: Hashable {
        var from: Int?
        var fromVersion: Int?
        var to: Int?
    }

    let first: Int64
    let version: Int
    let started = ContinuousClock.now
    private(set) var last: Int64
    private(set) var day: Int
    private(set) var at: Date
    private(set) var counts: [Pair: Int] = [:]

    init(starting move: LiveMoveRecord) {
        (first, version, last, day, at) = (
            move.sequence, move.version, move.sequence, move.move.day, move.at
        )
    }

    mutating func add(_ move: LiveMoveRecord) {
        counts[
            Pair(from: move.move.from, fromVersion: move.fromVersion, to: move.move.to), default: 0] +=
            1
        (last, day, at) = (move.sequence, move.move.day, move.at)
    }

    /// The most customers first; ties by segment ids, so the order is the same every time.
    static func mostFirst(_ a: (key: Pair, value: Int), _ b: (key: Pair, value: Int)) -> Bool {
        if a.value != b.value { return a.value > b.value }
        let left = (a.key.fromVersion ?? 0, a.key.from ?? -1, a.key.to ?? -1)
        let right = (b.key.fromVersion ?? 0, b.key.from ?? -1, b.key.to ?? -1)
        return left < right
    }
}

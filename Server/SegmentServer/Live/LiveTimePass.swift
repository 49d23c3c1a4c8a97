import Foundation
import Logging

/// Keeps live segments true as time passes: every interval, re-places the customers due in each
/// store (once a day each, and all of them after an alias moved), at most
/// `LiveLimits.passRate` a second over all stores, in transactions of a bounded size so that
/// ingests are never held up for long; and drops moves older than the feed keeps.
struct LiveTimePass {
    let stores: LiveStores
    let interval: Duration
    /// How often old moves are dropped.
    var trimInterval: Duration = .seconds(60)
    let logger: Logger

    /// Customers placed per transaction.
    static let chunk = 1_000

    /// What the pass remembers from round to round, so that its log says each thing once.
    struct State {
        /// Per store with customers to place: how many it placed since, and since when.
        var catchingUp: [String: (placed: Int, since: ContinuousClock.Instant)] = [:]
        /// Per store that cannot be brought up to date: why (logged when it changes).
        var problems: [String: String] = [:]
        var rounds = 0
    }

    func run() async {
        var lastTrim = ContinuousClock.now - trimInterval
        var state = State()
        while !Task.isCancelled {
            let started = ContinuousClock.now
            await passOnce(budget: Self.budget(stores.limits.passRate, interval), &state)
            if started - lastTrim >= trimInterval {
                lastTrim = started
                await trim()
            }
            try? await Task.sleep(until: started + interval)
        }
    }

    /// Customers one interval may place.
    static func budget(_ rate: Int, _ interval: Duration) -> Int {
        max(1, Int(Double(rate) * seconds(interval)))
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// One round over the stores, placing at most `budget` customers; returns how many.
    @discardableResult
    func passOnce(budget: Int, _ state: inout State) async -> Int {
        let names: [String]
        do {
            names = try await stores.registry.liveStores().map(\.model)
        } catch {
            report("cannot list the live stores: \(error)", store: "", &state)
            return 0
        }
        report(nil, store: "", &state)
        // Each round begins at the next store: one store's long re-evaluation takes the whole
        // budget of the rounds it begins, not of every round.
        state.rounds += 1
        let first = names.isEmpty ? 0 : state.rounds % names.count
        var left = budget
        for name in names[first...] + names[..<first] where left > 0 {
            left -= await bringUpToDate(name, budget: left, &state)
        }
        return budget - left
    }

    /// Places up to `budget` of a store's due customers, a chunk per transaction; returns how
    /// many. A store that had customers to place and has none left is logged with how many and
    /// how long it took.
    private func bringUpToDate(_ name: String, budget: Int, _ state: inout State) async -> Int {
        var left = budget
        while left > 0, !Task.isCancelled {
            let limit = min(left, Self.chunk)
            let called = ContinuousClock.now
            let placed: Int
            do {
                placed = try await stores.pass(name, limit: limit)
            } catch is CancellationError {
                break  // the server is stopping
            } catch {
                // Its model or alias gone, say: the other stores go on.
                report("\(error)", store: name, &state)
                break
            }
            report(nil, store: name, &state)
            left -= placed
            if placed > 0 {
                state.catchingUp[name, default: (0, called)].placed += placed
            }
            guard placed == limit else {
                if let done = state.catchingUp.removeValue(forKey: name) {
                    logger.info(
                        "live store up to date",
                        metadata: [
                            "model": "\(name)", "customers_placed": "\(done.placed)",
                            "seconds": "\(Self.seconds(ContinuousClock.now - done.since))",
                        ])
                }
                break
            }
        }
        return budget - left
    }

    /// Logs a store's problem when it first appears or changes, and when it is gone; never the
    /// same one every round.
    private func report(_ problem: String?, store: String, _ state: inout State) {
        guard state.problems[store] != problem else { return }
        let model: Logger.Metadata = store.isEmpty ? [:] : ["model": "\(store)"]
        if let problem {
            logger.warning(
                "live time pass: a store cannot be brought up to date",
                metadata: model.merging(["error": "\(problem)"]) { $1 })
            state.problems[store] = problem
        } else {
            logger.info("live time pass: the store is brought up to date again", metadata: model)
            state.problems[store] = nil
        }
    }

    /// Moves dropped per transaction.
    static let trimChunk: Int64 = 10_000

    /// Drops each store's moves older than the feed keeps, oldest first and a chunk per
    /// transaction, so a big backlog never holds a store's writers up for long.
    private func trim() async {
        let cutoff = Date() - Double(stores.limits.moveRetentionDays) * 86_400
        do {
            for name in try await stores.registry.liveStores().map(\.model) {
                guard let old = try await stores.registry.liveMovesRecorded(name, before: cutoff)
                else { continue }
                for start in stride(
                    from: old.lowerBound, through: old.upperBound, by: Int(Self.trimChunk))
                {
                    guard !Task.isCancelled else { return }
                    try await stores.registry.dropLiveMoves(
                        name, through: min(old.upperBound, start + Self.trimChunk - 1))
                }
            }
        } catch {
            logger.warning("live time pass: cannot drop old moves", metadata: ["error": "\(error)"])
        }
    }
}

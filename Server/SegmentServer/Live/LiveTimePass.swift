import Foundation
import Logging

/// Keeps live segments true as time passes: every interval, re-places the customers due in each
/// store (once a day each, and all of them after an alias moved), at most
/// `LiveLimits.passRate` a second over all stores, in transactions of a bounded size so that
/// ingests are never held up for long; and drops moves older than the feed keeps.
struct LiveTimePass {
    let stores: LiveStores
    let interval: Duration
    let logger: Logger

    /// Customers placed per transaction.
    static let chunk = 1_000

    func run() async {
        var lastTrim = ContinuousClock.now - .seconds(3_600)
        while !Task.isCancelled {
            let started = ContinuousClock.now
            await passOnce(budget: Self.budget(stores.limits.passRate, interval))
            if started - lastTrim > .seconds(60) {
                lastTrim = started
                await trim()
            }
            try? await Task.sleep(until: started + interval)
        }
    }

    /// Customers one interval may place.
    static func budget(_ rate: Int, _ interval: Duration) -> Int {
        let seconds = Double(interval.components.seconds)
            + Double(interval.components.attoseconds) / 1e18
        return max(1, Int(Double(rate) * seconds))
    }

    /// One round over the stores, placing at most `budget` customers; returns how many.
    @discardableResult
    func passOnce(budget: Int) async -> Int {
        var left = budget
        let names: [String]
        do {
            names = try await stores.registry.liveStores().map(\.model)
        } catch {
            logger.warning("live time pass: cannot list stores", metadata: ["error": "\(error)"])
            return 0
        }
        for name in names where left > 0 {
            while left > 0, !Task.isCancelled {
                do {
                    let placed = try await stores.pass(name, limit: min(left, Self.chunk))
                    left -= placed
                    if placed < min(left + placed, Self.chunk) { break }
                } catch {
                    // Its model or alias gone, say: the others go on; logged each round.
                    logger.warning(
                        "live time pass: a store could not be brought up to date",
                        metadata: ["model": "\(name)", "error": "\(error)"])
                    break
                }
            }
        }
        return budget - left
    }

    private func trim() async {
        let days = Double(stores.limits.moveRetentionDays)
        do {
            try await stores.registry.dropLiveMoves(before: Date() - days * 86_400)
        } catch {
            logger.warning("live time pass: cannot drop old moves", metadata: ["error": "\(error)"])
        }
    }
}

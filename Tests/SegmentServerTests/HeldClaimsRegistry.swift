import Foundation
import Synchronization

@testable import SegmentServer

/// A shared registry whose job claims can be held: tests land a shutdown while a claim is in
/// flight. Every other call goes straight to the real (PostgreSQL) registry (ForwardingRegistry).
final class HeldClaimsRegistry: SharedRegistry, ForwardingRegistry {
    let base: any SharedRegistry

    var inner: any Registry { base }

    init(base: any SharedRegistry) { self.base = base }
    /// While set, a claim waits until it is cleared (and says it is waiting).
    let hold = Mutex(false)
    let claimWaiting = Mutex(false)

    func claimJob(owner: String) async throws -> JobRecord? {
        while hold.withLock({ $0 }) {
            claimWaiting.withLock { $0 = true }
            try await Task.sleep(for: .milliseconds(10))
        }
        claimWaiting.withLock { $0 = false }
        return try await base.claimJob(owner: owner)
    }
    func followChanges(_ changed: @escaping @Sendable (String?) async -> Void) async {
        await base.followChanges(changed)
    }
    func heartbeat(
        owner: String, jobs: [String]
    ) async throws -> (stop: Set<String>, lost: Set<String>) {
        try await base.heartbeat(owner: owner, jobs: jobs)
    }
    func requeueStalled(
        stalledAfter: Double, maximumAttempts: Int
    ) async throws -> (requeued: [String], failed: [String]) {
        try await base.requeueStalled(stalledAfter: stalledAfter, maximumAttempts: maximumAttempts)
    }
    func releaseJob(id: String, owner: String) async throws {
        try await base.releaseJob(id: id, owner: owner)
    }
    func queuedJobCount() async throws -> Int { try await base.queuedJobCount() }
    func requestCancel(jobID: String, at date: Date) async throws -> JobRecord {
        try await base.requestCancel(jobID: jobID, at: date)
    }
}

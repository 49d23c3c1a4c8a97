import Foundation
import Testing

@testable import SegmentServer

@Suite("A server's own job queue")
struct JobQueueTests {
    @Test("First in, first out; a cancelled job leaves it; a shutdown drains what waits, in order")
    func localQueue() async throws {
        let queue = LocalJobQueue()
        let contract = RegistryContractTests()
        for id in ["a", "b", "c", "d"] {
            queue.add(contract.job(id), dataset: contract.dataset("d1"))
        }
        #expect(!queue.isShared)
        #expect(queue.waiting() == 4)
        #expect(queue.next()?.record.id == "a")
        #expect(queue.remove("c"))
        #expect(!queue.remove("c"))
        #expect(!queue.remove("a"), "a started job is no longer waiting")
        #expect(queue.next()?.record.id == "b")
        #expect(queue.drain() == ["d"])
        #expect(queue.next() == nil && queue.waiting() == 0)
        #expect(try await (queue as any JobQueue).requestCancel("a") == nil)
    }
}

import Foundation
import Tensor
import TestSupport
import XCTest

/// ``Threads/run(workers:_:)`` and ``parallelFor(_:minChunk:_:)`` on the project's pool: every
/// worker index runs exactly once per call, on more than one thread, over many back-to-back calls
/// (the helpers spin, then sleep between jobs); nested calls fall back instead of deadlocking.
final class ThreadPoolTests: XCTestCase {
    func testEveryWorkerRunsOncePerCall() {
        for workers in [1, 2, 3, 5] {
            let counts = UnsafeMutablePointer<Int>.allocate(capacity: workers)
            defer { counts.deallocate() }
            counts.initialize(repeating: 0, count: workers)
            for _ in 0..<2000 { Threads.run(workers: workers) { w in counts[w] += 1 } }
            XCTAssertEqual((0..<workers).map { counts[$0] }, Array(repeating: 2000, count: workers), "workers \(workers)")
        }
    }

    /// The helpers really run on other threads (worker 0 is the caller).
    func testHelpersRunOnOtherThreads() {
        let ids = UnsafeMutablePointer<pthread_t?>.allocate(capacity: 2)
        defer { ids.deallocate() }
        ids.initialize(repeating: nil, count: 2)
        Threads.run(workers: 2) { w in ids[w] = pthread_self() }
        XCTAssertNotNil(ids[1])
        XCTAssertTrue(pthread_equal(ids[0]!, pthread_self()) != 0)
        XCTAssertTrue(pthread_equal(ids[1]!, pthread_self()) == 0)
    }

    /// Calls separated by pauses longer than the spin budget wake sleeping helpers correctly.
    func testCallsAfterTheHelpersSleep() {
        var total = 0
        for _ in 0..<5 {
            usleep(120_000)
            let parts = UnsafeMutablePointer<Int>.allocate(capacity: 2)
            parts.initialize(repeating: 0, count: 2)
            Threads.run(workers: 2) { w in parts[w] = w + 1 }
            total += parts[0] + parts[1]
            parts.deallocate()
        }
        XCTAssertEqual(total, 15)
    }

    /// A parallel loop inside a parallel loop (the pool is busy) falls back and still covers
    /// every index exactly once.
    func testNestedLoopsCoverEveryIndex() {
        let n = 37, inner = 29
        let hits = UnsafeMutablePointer<Int32>.allocate(capacity: n * inner)
        defer { hits.deallocate() }
        hits.initialize(repeating: 0, count: n * inner)
        withThreads(2) {
            parallelFor(n) { r in
                for i in r { parallelFor(inner) { q in for j in q { hits[i * inner + j] += 1 } } }
            }
        }
        XCTAssertEqual((0..<(n * inner)).filter { hits[$0] != 1 }.count, 0)
    }

    /// parallelFor visits each index once, in contiguous chunks, with the pool and with GCD.
    func testParallelForChunksArePartition() {
        for pool in [true, false] {
            let saved = Threads.usePool
            Threads.usePool = pool
            defer { Threads.usePool = saved }
            for (n, threads) in [(1, 2), (2, 2), (17, 3), (1000, 2), (65, 4)] {
                let hits = UnsafeMutablePointer<Int32>.allocate(capacity: n)
                hits.initialize(repeating: 0, count: n)
                withThreads(threads) { parallelFor(n) { r in for i in r { hits[i] += 1 } } }
                XCTAssertEqual((0..<n).filter { hits[$0] != 1 }.count, 0, "n \(n) threads \(threads) pool \(pool)")
                hits.deallocate()
            }
        }
    }
}

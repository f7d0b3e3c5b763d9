import Foundation
import Synchronization
import Tensor
import TestSupport
import XCTest

/// ``Threads/run(tasks:threads:_:)`` and ``parallelFor(_:minChunk:_:)`` on the project's pool:
/// every task index runs exactly once per call, on more than one thread, over many back-to-back
/// calls (the helpers spin, then sleep between jobs); nested calls fall back instead of
/// deadlocking.
final class ThreadPoolTests: XCTestCase {
    func testEveryTaskRunsOncePerCall() {
        for (tasks, threads) in [(1, 2), (2, 2), (3, 2), (4, 2), (5, 3), (17, 2)] {
            let counts = UnsafeMutablePointer<Int>.allocate(capacity: tasks)
            defer { counts.deallocate() }
            counts.initialize(repeating: 0, count: tasks)
            for _ in 0..<2000 { Threads.run(tasks: tasks, threads: threads) { i in counts[i] += 1 } }
            XCTAssertEqual((0..<tasks).map { counts[$0] }, Array(repeating: 2000, count: tasks), "tasks \(tasks) threads \(threads)")
        }
    }

    /// The helpers really run tasks on other threads: with two tasks that each wait (up to a
    /// second) for the other to start, both can only see the other if they run at the same time.
    func testTasksRunConcurrently() {
        let started = UnsafeMutablePointer<Atomic<Int>>.allocate(capacity: 2)
        let sawOther = UnsafeMutablePointer<Atomic<Int>>.allocate(capacity: 2)
        for i in 0..<2 { (started + i).initialize(to: Atomic(0)); (sawOther + i).initialize(to: Atomic(0)) }
        defer { started.deallocate(); sawOther.deallocate() }
        Threads.run(tasks: 2, threads: 2) { i in
            started[i].store(1, ordering: .sequentiallyConsistent)
            for _ in 0..<1000 where started[1 - i].load(ordering: .sequentiallyConsistent) == 0 { usleep(1000) }
            sawOther[i].store(started[1 - i].load(ordering: .sequentiallyConsistent), ordering: .sequentiallyConsistent)
        }
        XCTAssertEqual([sawOther[0].load(ordering: .sequentiallyConsistent), sawOther[1].load(ordering: .sequentiallyConsistent)], [1, 1])
    }

    /// Calls separated by pauses longer than the spin budget wake sleeping helpers correctly.
    func testCallsAfterTheHelpersSleep() {
        var total = 0
        for _ in 0..<5 {
            usleep(120_000)
            let parts = UnsafeMutablePointer<Int>.allocate(capacity: 2)
            parts.initialize(repeating: 0, count: 2)
            Threads.run(tasks: 2, threads: 2) { w in parts[w] = w + 1 }
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

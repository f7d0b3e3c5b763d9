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

    /// Back-to-back jobs whose task counts change (a job with more tasks than the previous one
    /// once let a late helper claim a task of the next job early and count it twice, so the
    /// caller returned before every task had finished): right after each call every task of that
    /// call has run exactly once, and no task ran outside its call.
    func testChangingTaskCountsNeverReturnEarly() {
        let ran = UnsafeMutablePointer<Atomic<Int>>.allocate(capacity: 8)
        for i in 0..<8 { (ran + i).initialize(to: Atomic(0)) }
        defer { ran.deallocate() }
        var failures = 0
        for call in 0..<30_000 {
            let tasks = [2, 5, 3, 8, 2, 7, 4][call % 7]
            for i in 0..<8 { ran[i].store(0, ordering: .sequentiallyConsistent) }
            Threads.run(tasks: tasks, threads: 2) { i in
                if i % 2 == 1 { for _ in 0..<50 { _ = ran[7].load(ordering: .relaxed) } }
                ran[i].add(1, ordering: .sequentiallyConsistent)
            }
            let got = (0..<8).map { ran[$0].load(ordering: .sequentiallyConsistent) }
            if got != (0..<8).map({ $0 < tasks ? 1 : 0 }) { failures += 1 }
        }
        XCTAssertEqual(failures, 0, "calls that returned before their tasks finished or ran a task twice")
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

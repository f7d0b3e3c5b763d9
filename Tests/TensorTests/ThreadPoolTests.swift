import Foundation
import Tensor
import TestSupport
import XCTest

/// The spinning pool behind ``parallelForSpinning(_:minChunk:_:)``: every index exactly once, in
/// the same contiguous chunks as ``parallelFor(_:minChunk:_:)``, nested calls run serially, and
/// the decode products it runs give the same bits with 1 and 2 threads.
final class ThreadPoolTests: XCTestCase {
    /// Records which chunk covered each index; `Threads.count` 2 and 3 (more helpers than cores is fine).
    func testEveryIndexOnceInParallelForChunks() {
        let saved = Threads.count
        defer { Threads.count = saved }
        for threads in [2, 3] {
            Threads.count = threads
            for n in [1, 2, 3, 17, 65, 1000] {
                for minChunk in [1, 4, 100] {
                    let seen = UnsafeMutablePointer<Int32>.allocate(capacity: n)
                    defer { seen.deallocate() }
                    seen.initialize(repeating: 0, count: n)
                    let lowSpinning = UnsafeMutablePointer<Int>.allocate(capacity: n)
                    let lowPlain = UnsafeMutablePointer<Int>.allocate(capacity: n)
                    defer { lowSpinning.deallocate(); lowPlain.deallocate() }
                    for _ in 0..<20 {  // repeated: helpers alternate between spinning and sleeping
                        parallelForSpinning(n, minChunk: minChunk) { r in
                            for i in r { seen[i] += 1; lowSpinning[i] = r.lowerBound }
                        }
                    }
                    parallelFor(n, minChunk: minChunk) { r in for i in r { lowPlain[i] = r.lowerBound } }
                    for i in 0..<n {
                        XCTAssertEqual(seen[i], 20, "threads \(threads) n \(n) minChunk \(minChunk) index \(i)")
                        XCTAssertEqual(lowSpinning[i], lowPlain[i], "chunk of index \(i), n \(n) minChunk \(minChunk)")
                    }
                }
            }
        }
    }

    /// A call inside a pool job finds the pool busy and runs its chunks on the calling thread.
    func testNestedCallsCoverEverything() {
        let saved = Threads.count
        defer { Threads.count = saved }
        Threads.count = 2
        let n = 40, m = 30
        let counts = UnsafeMutablePointer<Int32>.allocate(capacity: n * m)
        defer { counts.deallocate() }
        counts.initialize(repeating: 0, count: n * m)
        parallelForSpinning(n) { outer in
            for i in outer {
                parallelForSpinning(m) { inner in for j in inner { counts[i * m + j] += 1 } }
            }
        }
        XCTAssertEqual(Array(UnsafeBufferPointer(start: counts, count: n * m)), [Int32](repeating: 1, count: n * m))
    }

    /// The single-token product (split over N on the pool) gives the same bits with 1 and 2
    /// threads, and matches the Double reference.
    func testSingleRowProductIsThreadInvariant() {
        var rng = RandomGenerator(seed: 41)
        let saved = Threads.count
        defer { Threads.count = saved }
        for (k, n) in [(576, 1536), (384, 8192), (67, 1027)] {
            let a = rng.normalTensor([1, k]), w = rng.normalTensor([n, k])
            var outputs: [[Float]] = []
            for threads in [1, 2, 2] {
                Threads.count = threads
                let c = Tensor(zeros: [1, n])
                Matmul.smallRows(m: 1, n: n, k: k, a: a.pointer, lda: k, w: w.pointer, ldw: k, accumulate: false, c: c.pointer, ldc: n)
                outputs.append(c.array)
            }
            XCTAssertEqual(outputs[0], outputs[1], "k \(k) n \(n)")
            XCTAssertEqual(outputs[0], outputs[2], "k \(k) n \(n)")
            let ref = Tensor(zeros: [1, n])
            Matmul.gemmReference(transA: false, transB: true, m: 1, n: n, k: k, a: a.pointer, lda: k, b: w.pointer, ldb: k,
                                 accumulate: false, c: ref.pointer, ldc: n)
            let cmp = compare(outputs[0], ref.array, rtol: 1e-4, atol: 1e-4)
            XCTAssertTrue(cmp.passed, "k \(k) n \(n): \(cmp)")
        }
    }
}

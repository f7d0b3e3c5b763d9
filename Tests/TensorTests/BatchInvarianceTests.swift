import CKernels
import Tensor
import TestSupport
import XCTest

/// The inference kernels whose results must not depend on how many rows are computed together
/// (so that verifying gamma + 1 draft tokens in one call agrees bit for bit with decoding them one
/// at a time), nor on the thread count.
final class BatchInvarianceTests: XCTestCase {
    func testRowsTimesWTIsBatchAndThreadInvariant() {
        var rng = RandomGenerator(seed: 31)
        for (k, n) in [(64, 100), (67, 33), (576, 96)] {
            let a = rng.normalTensor([16, k]), w = rng.normalTensor([n, k])
            let together = Tensor(zeros: [16, n]), alone = Tensor(zeros: [16, n])
            Matmul.smallRows(m: 16, n: n, k: k, a: a.pointer, lda: k, w: w.pointer, ldw: k, accumulate: false, c: together.pointer, ldc: n)
            let saved = Threads.count
            Threads.count = 1
            for i in 0..<16 {
                Matmul.smallRows(m: 1, n: n, k: k, a: a.pointer + i * k, lda: k, w: w.pointer, ldw: k, accumulate: false,
                                 c: alone.pointer + i * n, ldc: n)
            }
            Threads.count = saved
            XCTAssertEqual(together.array, alone.array, "k \(k) n \(n)")
            let ref = Tensor(zeros: [16, n])
            Matmul.gemmReference(transA: false, transB: true, m: 16, n: n, k: k, a: a.pointer, lda: k, b: w.pointer, ldb: k,
                                 accumulate: false, c: ref.pointer, ldc: n)
            assertClose(together, ref, rtol: 1e-4, atol: 1e-4)
        }
    }

    /// The row kernel itself (M = 1 included, which ``Matmul/gemm`` sends to sgemv) against the
    /// Double reference, for every row count 1...16 and N with every remainder mod 4 (the kernel
    /// walks the weight rows one at a time): each row's outputs must be
    /// bitwise those of the row computed alone, with and without accumulation.
    func testRowsTimesWTKernelEveryRowCountAgainstReference() {
        var rng = RandomGenerator(seed: 34)
        for k in [1, 7, 8, 9, 67] {
            for n in [1, 2, 3, 5, 6, 7, 33] {
                let a = rng.normalTensor([16, k]), w = rng.normalTensor([n, k]), c0 = rng.normalTensor([16, n])
                for acc in [false, true] {
                    let alone = c0.copy()
                    for i in 0..<16 {
                        sd_rows_times_wt(1, Int32(n), Int32(k), a.pointer + i * k, Int32(k), w.pointer, Int32(k),
                                         alone.pointer + i * n, Int32(n), acc ? 1 : 0)
                    }
                    let ref = c0.copy()
                    Matmul.gemmReference(transA: false, transB: true, m: 16, n: n, k: k, a: a.pointer, lda: k, b: w.pointer,
                                         ldb: k, accumulate: acc, c: ref.pointer, ldc: n)
                    assertClose(alone, ref, rtol: 1e-4, atol: 1e-4, "k \(k) n \(n) acc \(acc)")
                    for m in 1...16 {
                        let together = c0.copy()
                        sd_rows_times_wt(Int32(m), Int32(n), Int32(k), a.pointer, Int32(k), w.pointer, Int32(k),
                                         together.pointer, Int32(n), acc ? 1 : 0)
                        XCTAssertEqual(Array(together.array[0..<(m * n)]), Array(alone.array[0..<(m * n)]),
                                       "m \(m) k \(k) n \(n) acc \(acc)")
                    }
                }
            }
        }
    }

    /// The single-token product (split over N across threads) gives the same bits with 1 and 2
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

    func testRowsTimesWMatchesReferenceAndIsBatchInvariant() {
        var rng = RandomGenerator(seed: 32)
        for (k, n) in [(1, 1), (3, 17), (17, 64), (65, 40), (300, 64), (70, 130)] {
            for m in [1, 3, 9] {
                let a = rng.normalTensor([m, k]), w = rng.normalTensor([k, n]), c0 = rng.normalTensor([m, n])
                for acc in [false, true] {
                    let fast = c0.copy(), ref = c0.copy()
                    sd_rows_times_w(Int32(m), Int32(n), Int32(k), a.pointer, Int32(k), w.pointer, Int32(n), fast.pointer, Int32(n), acc ? 1 : 0)
                    Matmul.gemmReference(transA: false, transB: false, m: m, n: n, k: k, a: a.pointer, lda: k, b: w.pointer,
                                         ldb: n, accumulate: acc, c: ref.pointer, ldc: n)
                    assertClose(fast, ref, rtol: 1e-4, atol: 1e-4, "m \(m) k \(k) n \(n) acc \(acc)")
                    let single = c0.copy()
                    for i in 0..<m {
                        sd_rows_times_w(1, Int32(n), Int32(k), a.pointer + i * k, Int32(k), w.pointer, Int32(n),
                                        single.pointer + i * n, Int32(n), acc ? 1 : 0)
                    }
                    XCTAssertEqual(fast.array, single.array)
                }
            }
        }
    }

    /// n rows at positions past..<past+n give bitwise the outputs of n single-row calls: one row
    /// block (n = 7) and several with a partial last one (n = 37, blocks of 16 skipping the masked
    /// triangle beyond each).
    func testCachedAttentionRowsAreBatchInvariant() {
        var rng = RandomGenerator(seed: 33)
        defer { Attention.usesRowKernel = true }
        for rowKernel in [true, false] { Attention.usesRowKernel = rowKernel   // the one-pass row kernel and the general path
        for (NH, NKV, HS) in [(9, 3, 64), (4, 4, 32), (2, 1, 5), (4, 2, 128)] { for n in [7, 37] {
            let past = 13, L = past + n, KV = NKV * HS
            let q = rng.normalTensor([n, NH * HS]), k = rng.normalTensor([L, KV]), v = rng.normalTensor([L, KV])
            let together = Tensor(zeros: [n, NH * HS]), alone = Tensor(zeros: [n, NH * HS])
            let scratch = Tensor(zeros: [Attention.scratchCount(n: n, past: past, NH: NH)])
            Attention.forwardCached(out: together.pointer, q: q.pointer, qStride: NH * HS, kCache: k.pointer, vCache: v.pointer,
                                    cacheStride: KV, past: past, n: n, NH: NH, NKV: NKV, HS: HS, scale: 0.3, scratch: scratch.pointer)
            for i in 0..<n {
                Attention.forwardCached(out: alone.pointer + i * NH * HS, q: q.pointer + i * NH * HS, qStride: NH * HS,
                                        kCache: k.pointer, vCache: v.pointer, cacheStride: KV, past: past + i, n: 1,
                                        NH: NH, NKV: NKV, HS: HS, scale: 0.3, scratch: scratch.pointer)
            }
            XCTAssertEqual(together.array, alone.array, "row kernel \(rowKernel), NH \(NH) NKV \(NKV) HS \(HS) n \(n)")
        } }
        }
    }
}

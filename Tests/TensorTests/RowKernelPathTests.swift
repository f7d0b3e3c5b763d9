import CKernels
import Tensor
import TestSupport
import XCTest

/// Every instruction-set path of the weight-row kernel (``sd_rows_times_wt_with``: portable,
/// AVX2, AVX-512, as far as this CPU has them) against the Double reference on awkward sizes, and
/// bitwise batch invariance of each path: a row computed with 1...16 others (several row groups)
/// and with strided operands gives the bits of the row computed alone.
final class RowKernelPathTests: XCTestCase {
    /// K covers every remainder the kernels branch on: whole chunks of 4·VW, leftover VW-blocks
    /// (1, 2, 3 of them for VW 8 and 16) and scalar tails.
    let ks = [1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 48, 63, 64, 65, 67, 113, 129, 576]
    let ns = [1, 3, 17, 65]

    func testEveryPathMatchesReferenceAndIsBatchInvariant() {
        var rng = RandomGenerator(seed: 51)
        let paths = Array(0...Int(sd_rows_times_wt_isa()))
        for isa in paths {
            for k in ks {
                for n in ns {
                    // Strided: lda = k + 5, ldw = k + 3, ldc = n + 2 (views into wider buffers).
                    let lda = k + 5, ldw = k + 3, ldc = n + 2, M = 16
                    let a = rng.normalTensor([M, lda]), w = rng.normalTensor([n, ldw]), c0 = rng.normalTensor([M, ldc])
                    for acc in [false, true] {
                        let alone = c0.copy()
                        for i in 0..<M {
                            sd_rows_times_wt_with(Int32(isa), 1, Int32(n), Int32(k), a.pointer + i * lda, Int32(lda), w.pointer,
                                                  Int32(ldw), alone.pointer + i * ldc, Int32(ldc), acc ? 1 : 0)
                        }
                        let ref = c0.copy()
                        Matmul.gemmReference(transA: false, transB: true, m: M, n: n, k: k, a: a.pointer, lda: lda,
                                             b: w.pointer, ldb: ldw, accumulate: acc, c: ref.pointer, ldc: ldc)
                        assertClose(alone, ref, rtol: 1e-4, atol: 1e-4, "isa \(isa) k \(k) n \(n) acc \(acc)")
                        for m in [2, 3, 4, 5, 6, 7, 12, 16] {
                            let together = c0.copy()
                            sd_rows_times_wt_with(Int32(isa), Int32(m), Int32(n), Int32(k), a.pointer, Int32(lda), w.pointer,
                                                  Int32(ldw), together.pointer, Int32(ldc), acc ? 1 : 0)
                            let count = m * ldc
                            XCTAssertEqual(Array(together.array[0..<count]), Array(alone.array[0..<count]),
                                           "isa \(isa) m \(m) k \(k) n \(n) acc \(acc)")
                            // Rows past m are untouched.
                            XCTAssertEqual(Array(together.array[count...]), Array(c0.array[count...]), "isa \(isa) m \(m)")
                        }
                    }
                }
            }
        }
    }

    /// The default entry point is the best path of this CPU, and a path above the CPU's is lowered.
    func testDefaultIsTheBestPath() {
        var rng = RandomGenerator(seed: 52)
        let k = 67, n = 33
        let a = rng.normalTensor([3, k]), w = rng.normalTensor([n, k])
        let best = Tensor(zeros: [3, n]), chosen = Tensor(zeros: [3, n]), above = Tensor(zeros: [3, n])
        sd_rows_times_wt(3, Int32(n), Int32(k), a.pointer, Int32(k), w.pointer, Int32(k), best.pointer, Int32(n), 0)
        sd_rows_times_wt_with(sd_rows_times_wt_isa(), 3, Int32(n), Int32(k), a.pointer, Int32(k), w.pointer, Int32(k),
                              chosen.pointer, Int32(n), 0)
        sd_rows_times_wt_with(9, 3, Int32(n), Int32(k), a.pointer, Int32(k), w.pointer, Int32(k), above.pointer, Int32(n), 0)
        XCTAssertEqual(best.array, chosen.array)
        XCTAssertEqual(best.array, above.array)
        XCTAssertEqual(sd_has_avx2() != 0, sd_rows_times_wt_isa() >= 1)
    }

    /// A product split over N across threads (``Matmul/smallRows``) gives the same bits with 1,
    /// 2 and 3 threads, through the pool and through GCD.
    func testSmallRowsIsThreadAndPoolInvariant() {
        var rng = RandomGenerator(seed: 53)
        for (m, k, n) in [(1, 576, 1536), (4, 576, 960), (6, 1536, 576), (3, 67, 1027)] {
            let a = rng.normalTensor([m, k]), w = rng.normalTensor([n, k])
            func run(_ threads: Int, pool: Bool) -> [Float] {
                let saved = Threads.usePool
                Threads.usePool = pool
                defer { Threads.usePool = saved }
                return withThreads(threads) {
                    let c = Tensor(zeros: [m, n])
                    Matmul.smallRows(m: m, n: n, k: k, a: a.pointer, lda: k, w: w.pointer, ldw: k, accumulate: false,
                                     c: c.pointer, ldc: n)
                    return c.array
                }
            }
            let one = run(1, pool: true)
            for (threads, pool) in [(2, true), (3, true), (2, false)] {
                XCTAssertEqual(run(threads, pool: pool), one, "m \(m) k \(k) n \(n) threads \(threads) pool \(pool)")
            }
            let ref = Tensor(zeros: [m, n])
            Matmul.gemmReference(transA: false, transB: true, m: m, n: n, k: k, a: a.pointer, lda: k, b: w.pointer, ldb: k,
                                 accumulate: false, c: ref.pointer, ldc: n)
            let cmp = compare(one, ref.array, rtol: 1e-4, atol: 1e-4)
            XCTAssertTrue(cmp.passed, "m \(m) k \(k) n \(n): \(cmp)")
        }
    }

    /// ``sd_attn_scores`` (the cached attention's scores: on AVX-512 two query rows × two keys
    /// per step, transposed horizontal sums) gives bitwise ``sd_rows_times_wt``'s outputs, for
    /// every K remainder, odd and even row and key counts, and strided operands.
    func testAttentionScoresAreTheRowKernelsBits() {
        var rng = RandomGenerator(seed: 52)
        for k in ks {
            for n in [1, 2, 3, 4, 5, 17, 302] {
                let lda = k + 5, ldw = k + 3, ldc = n + 2, M = 5
                let a = rng.normalTensor([M, lda]), w = rng.normalTensor([n, ldw])
                for m in 1...M {
                    let fast = Tensor(shape: [M, ldc], repeating: .nan), rows = Tensor(shape: [M, ldc], repeating: .nan)
                    sd_attn_scores(Int32(m), Int32(n), Int32(k), a.pointer, Int32(lda), w.pointer, Int32(ldw), fast.pointer, Int32(ldc))
                    sd_rows_times_wt(Int32(m), Int32(n), Int32(k), a.pointer, Int32(lda), w.pointer, Int32(ldw), rows.pointer,
                                     Int32(ldc), 0)
                    for i in 0..<m { for j in 0..<n {
                        let x = fast[i, j], y = rows[i, j]
                        XCTAssertEqual(x.bitPattern, y.bitPattern, "k \(k) n \(n) m \(m): row \(i) key \(j) is \(x), row kernel \(y)")
                    } }
                }
            }
        }
    }
}

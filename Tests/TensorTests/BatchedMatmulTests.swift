import Tensor
import TestSupport
import XCTest

/// Same reasoning as the gemm tests: float32 sums of ≤ 65 unit-scale products vs Double.
private let batchedRtol = 1e-4, batchedAtol = 1e-4

final class BatchedMatmulTests: XCTestCase {
    func testAllTransposesAwkwardSizesStridesAgainstReference() {
        var rng = RandomGenerator(seed: 61)
        for transA in [false, true] {
            for transB in [false, true] {
                for (count, m, n, k) in [(1, 1, 1, 1), (3, 3, 17, 5), (5, 17, 3, 65), (2, 65, 9, 1), (4, 9, 65, 17)] {
                    // Rows padded by 2 and items separated by an extra gap of 3 elements.
                    let (ar, ac) = transA ? (k, m) : (m, k), (br, bc) = transB ? (n, k) : (k, n)
                    let lda = ac + 2, ldb = bc + 2, ldc = n + 2
                    let sA = ar * lda + 3, sB = br * ldb + 3, sC = m * ldc + 3
                    let a = rng.normalTensor([count * sA]), b = rng.normalTensor([count * sB])
                    for accumulate in [false, true] {
                        let c0 = rng.normalTensor([count * sC])
                        let fast = c0.copy(), ref = c0.copy()
                        Matmul.batched(count: count, transA: transA, transB: transB, m: m, n: n, k: k, a: a.pointer, lda: lda,
                                       strideA: sA, b: b.pointer, ldb: ldb, strideB: sB, accumulate: accumulate,
                                       c: fast.pointer, ldc: ldc, strideC: sC)
                        Matmul.batchedReference(count: count, transA: transA, transB: transB, m: m, n: n, k: k, a: a.pointer,
                                                lda: lda, strideA: sA, b: b.pointer, ldb: ldb, strideB: sB,
                                                accumulate: accumulate, c: ref.pointer, ldc: ldc, strideC: sC)
                        assertClose(fast, ref, rtol: batchedRtol, atol: batchedAtol,
                                    "tA \(transA) tB \(transB) count \(count) m \(m) n \(n) k \(k) acc \(accumulate)")
                        // Padding between rows and items is not written.
                        for i in 0..<(count * sC) where (i % sC) >= m * ldc || (i % sC) % ldc >= n {
                            XCTAssertEqual(fast.pointer[i], c0.pointer[i])
                        }
                    }
                }
            }
        }
    }

    /// A stride of 0 broadcasts one operand to every item: C_i = A_i · B for a shared B,
    /// checked against each item done alone by the reference gemm.
    func testZeroStrideBroadcasts() {
        var rng = RandomGenerator(seed: 62)
        let count = 3, m = 5, n = 7, k = 4
        let a = rng.normalTensor([count, m, k]), b = rng.normalTensor([k, n])
        let c = Tensor(zeros: [count, m, n]), ref = Tensor(zeros: [count, m, n])
        Matmul.batched(count: count, transA: false, transB: false, m: m, n: n, k: k, a: a.pointer, lda: k, strideA: m * k,
                       b: b.pointer, ldb: n, strideB: 0, accumulate: false, c: c.pointer, ldc: n, strideC: m * n)
        for i in 0..<count {
            Matmul.gemmReference(transA: false, transB: false, m: m, n: n, k: k, a: a.pointer + i * m * k, lda: k,
                                 b: b.pointer, ldb: n, accumulate: false, c: ref.pointer + i * m * n, ldc: n)
        }
        assertClose(c, ref, rtol: batchedRtol, atol: batchedAtol)
    }
}

import Tensor
import TestSupport
import XCTest

/// Float32 sums of K products against a Double reference: the error grows like sqrt(K)·eps·|a||b|;
/// for K ≤ 1100 and unit-scale operands 1e-4 relative + 1e-4 absolute is ample and still fails
/// any wrong index or transpose (which gives O(1) differences).
private let matmulRtol = 1e-4, matmulAtol = 1e-4

final class MatmulTests: XCTestCase {
    func checkGemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, accumulate: Bool, rng: inout RandomGenerator,
                   file: StaticString = #filePath, line: UInt = #line) {
        let a = rng.uniformTensor(transA ? [k, m] : [m, k])
        let b = rng.uniformTensor(transB ? [n, k] : [k, n])
        let c0 = rng.uniformTensor([m, n])
        let fast = c0.copy(), ref = c0.copy()
        let lda = a.shape[1], ldb = b.shape[1]
        Matmul.gemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a.pointer, lda: lda, b: b.pointer, ldb: ldb,
                    accumulate: accumulate, c: fast.pointer, ldc: n)
        Matmul.gemmReference(transA: transA, transB: transB, m: m, n: n, k: k, a: a.pointer, lda: lda, b: b.pointer,
                             ldb: ldb, accumulate: accumulate, c: ref.pointer, ldc: n)
        assertClose(fast, ref, rtol: matmulRtol, atol: matmulAtol,
                    "gemm transA \(transA) transB \(transB) m \(m) n \(n) k \(k) acc \(accumulate)", file: file, line: line)
    }

    func testAllTransposesAwkwardSizesAgainstReference() {
        var rng = RandomGenerator(seed: 11)
        for transA in [false, true] {
            for transB in [false, true] {
                for m in awkwardSizes + [5, 8] {
                    for (n, k) in [(1, 3), (3, 17), (17, 65), (65, 1), (1, 1), (130, 33)] {
                        checkGemm(transA: transA, transB: transB, m: m, n: n, k: k, accumulate: m % 2 == 0, rng: &rng)
                    }
                }
            }
        }
    }

    func testAccumulateAddsToExisting() {
        var rng = RandomGenerator(seed: 12)
        for m in [1, 2, 5, 9] { checkGemm(transA: false, transB: true, m: m, n: 37, k: 29, accumulate: true, rng: &rng) }
    }

    /// The small-M kernel: every M it serves, K with and without a tail past the vector width.
    func testSmallRowKernelMatchesPortableAndReference() {
        var rng = RandomGenerator(seed: 13)
        for m in 1...Matmul.smallRowLimit {
            for k in [1, 7, 8, 9, 64, 67] {
                for n in [1, 2, 3, 33] {
                    checkGemm(transA: false, transB: true, m: m, n: n, k: k, accumulate: false, rng: &rng)
                    checkGemm(transA: false, transB: true, m: m, n: n, k: k, accumulate: true, rng: &rng)
                }
            }
        }
    }

    func testThrowingMatmulNamesBothShapes() throws {
        let a = Tensor(zeros: [3, 4]), b = Tensor(zeros: [5, 6])
        XCTAssertThrowsError(try matmul(a, b)) { error in
            let s = "\(error)"
            XCTAssertTrue(s.contains("[3, 4]") && s.contains("[5, 6]"), s)
        }
        let c = try matmul(a, Tensor(zeros: [4, 2]))
        XCTAssertEqual(c.shape, [3, 2])
        XCTAssertThrowsError(try matmul(a, Tensor(zeros: [4, 2]), into: Tensor(zeros: [2, 3])))
    }

    func testLargeProductAgainstReference() {
        var rng = RandomGenerator(seed: 14)
        checkGemm(transA: false, transB: true, m: 65, n: 129, k: 257, accumulate: false, rng: &rng)
        checkGemm(transA: true, transB: false, m: 64, n: 96, k: 300, accumulate: true, rng: &rng)
    }
}

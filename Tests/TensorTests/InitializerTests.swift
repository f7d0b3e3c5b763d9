import Tensor
import TestSupport
import XCTest

/// Orthogonality of a float32 QR: entries of QᵀQ − I are sums of n float32 products, error
/// ~ sqrt(n) · 6e-8 ≈ 1e-6 for n ≤ 65; 1e-5 passes and still fails a non-orthogonal matrix.
private let orthoAtol = 1e-5

final class InitializerTests: XCTestCase {
    /// (Gram) = M Mᵀ (rows) or Mᵀ M (columns) of a rows×cols tensor, in Double.
    func gram(_ t: Tensor, ofColumns: Bool) -> [Double] {
        let (r, c) = t.matrixShape, p = t.pointer
        let n = ofColumns ? c : r
        var g = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0..<n {
                var s = 0.0
                for x in 0..<(ofColumns ? r : c) {
                    s += ofColumns ? Double(p[x * c + i]) * Double(p[x * c + j]) : Double(p[i * c + x]) * Double(p[j * c + x])
                }
                g[i * n + j] = s
            }
        }
        return g
    }

    func identity(_ n: Int, _ gain: Double) -> [Double] {
        (0..<(n * n)).map { $0 / n == $0 % n ? gain * gain : 0 }
    }

    func testOrthonormalColumnsOrRowsWithGain() throws {
        for (shape, gain) in [([1, 1], 1.0), ([3, 3], 1.0), ([17, 3], 2.0), ([65, 17], 0.5), ([3, 17], 1.0),
                              ([17, 65], 3.0), ([2, 5, 3], 1.0), ([1, 7], 1.0)] as [([Int], Double)] {
            var rng = RandomGenerator(seed: 51)
            let t = Tensor(zeros: shape)
            try Initializers.orthogonal(t, gain: Float(gain), rng: &rng)
            let (r, c) = t.matrixShape
            assertClose(gram(t, ofColumns: r >= c), identity(min(r, c), gain), rtol: 0, atol: orthoAtol * gain * gain,
                        "shape \(shape) gain \(gain)")
        }
    }

    /// The sign-fixed QR equals Gram–Schmidt of the Gaussian matrix's columns (both give R with a
    /// positive diagonal, and that factorisation is unique): an oracle independent of LAPACK.
    func testEqualsGramSchmidtOfTheSameGaussianDraws() throws {
        for (rows, cols) in [(17, 5), (5, 17), (9, 9), (65, 3)] {
            let t = Tensor(zeros: [rows, cols])
            var rng = RandomGenerator(seed: 52)
            try Initializers.orthogonal(t, gain: 1, rng: &rng)
            var draws = RandomGenerator(seed: 52)
            let m = max(rows, cols), n = min(rows, cols)
            var a = (0..<(m * n)).map { _ in Double(draws.normal()) }  // m×n, row-major
            for j in 0..<n {  // modified Gram–Schmidt on columns
                for i in 0..<j {
                    var dot = 0.0
                    for x in 0..<m { dot += a[x * n + i] * a[x * n + j] }
                    for x in 0..<m { a[x * n + j] -= dot * a[x * n + i] }
                }
                var norm = 0.0
                for x in 0..<m { norm += a[x * n + j] * a[x * n + j] }
                for x in 0..<m { a[x * n + j] /= norm.squareRoot() }
            }
            let expected = rows >= cols ? a : (0..<(rows * cols)).map { a[($0 % cols) * n + $0 / cols] }
            assertClose(t.array, expected, rtol: 1e-4, atol: 1e-5, "\(rows)×\(cols)")
            XCTAssertEqual(rng, draws, "the generator advances by exactly rows·cols normal draws")
        }
    }

    func testReproducibleWithSeedAndDifferentAcrossSeeds() throws {
        let a = Tensor(zeros: [17, 9]), b = Tensor(zeros: [17, 9]), c = Tensor(zeros: [17, 9])
        var r1 = RandomGenerator(seed: 7), r2 = RandomGenerator(seed: 7), r3 = RandomGenerator(seed: 8)
        try Initializers.orthogonal(a, gain: 1, rng: &r1)
        try Initializers.orthogonal(b, gain: 1, rng: &r2)
        try Initializers.orthogonal(c, gain: 1, rng: &r3)
        XCTAssertEqual(a.array, b.array)
        XCTAssertNotEqual(a.array, c.array)
    }

    func testGainScalesExactly() throws {
        let a = Tensor(zeros: [9, 17]), b = Tensor(zeros: [9, 17])
        var r1 = RandomGenerator(seed: 9), r2 = RandomGenerator(seed: 9)
        try Initializers.orthogonal(a, gain: 1, rng: &r1)
        try Initializers.orthogonal(b, gain: 4, rng: &r2)  // a power of two: exact in float32
        XCTAssertEqual(b.array, a.array.map { 4 * $0 })
    }
}

import Tensor
import XCTest

/// ``Ridge``: the LAPACKE path against the plain-loop normal equations, exact recovery of a
/// linear model, the shrinkage ρ causes (closed form in one dimension), and its errors.
final class RidgeTests: XCTestCase {
    func randomDesign(_ n: Int, _ p: Int, seed: UInt64) -> [Double] {
        var rng = RandomGenerator(seed: seed)
        return (0..<(n * p)).map { _ in rng.uniformDouble() * 2 - 1 }
    }

    func testSolveMatchesThePlainLoopReference() throws {
        for (n, p, rho, seed) in [(40, 7, 0.5, 1), (13, 13, 2.0, 2), (5, 9, 0.1, 3), (200, 31, 10.0, 4)] as [(Int, Int, Double, UInt64)] {
            let x = randomDesign(n, p, seed: seed)
            var rng = RandomGenerator(seed: seed + 100)
            let y = (0..<n).map { _ in rng.uniformDouble() * 4 - 2 }
            let fast = try Ridge.solve(x: x, y: y, rows: n, columns: p, rho: rho)
            let slow = try Ridge.reference(x: x, y: y, rows: n, columns: p, rho: rho)
            for i in 0..<p { XCTAssertEqual(fast[i], slow[i], accuracy: 1e-9 * max(1, abs(slow[i])), "n \(n) p \(p) w[\(i)]") }
        }
    }

    /// Per-column penalties: the LAPACKE path against the reference, the normal equations
    /// `Xᵀ(Xw − y) + ρ m ⊙ w = 0` computed independently, and a multiplier of 1 everywhere equal to none.
    func testPerColumnPenaltiesSolveTheirNormalEquations() throws {
        let n = 60, p = 6, rho = 30.0, m = [1, 1, 0, 1e-4, 2, 1]
        let x = randomDesign(n, p, seed: 11)
        var rng = RandomGenerator(seed: 12)
        let y = (0..<n).map { _ in rng.uniformDouble() * 4 - 2 }
        let fast = try Ridge.solve(x: x, y: y, rows: n, columns: p, rho: rho, penalty: m)
        let slow = try Ridge.reference(x: x, y: y, rows: n, columns: p, rho: rho, penalty: m)
        for i in 0..<p {
            XCTAssertEqual(fast[i], slow[i], accuracy: 1e-9 * max(1, abs(slow[i])))
            var g = rho * m[i] * fast[i]
            for r in 0..<n { g += x[r * p + i] * ((0..<p).reduce(0.0) { $0 + x[r * p + $1] * fast[$1] } - y[r]) }
            XCTAssertEqual(g, 0, accuracy: 1e-9, "∂w[\(i)]")
        }
        XCTAssertEqual(try Ridge.solve(x: x, y: y, rows: n, columns: p, rho: rho, penalty: [Double](repeating: 1, count: p)),
                       try Ridge.solve(x: x, y: y, rows: n, columns: p, rho: rho))
        XCTAssertThrowsError(try Ridge.solve(x: x, y: y, rows: n, columns: p, rho: rho, penalty: [1, 1])) { XCTAssertTrue("\($0)".contains("penalty"), "\($0)") }
        XCTAssertThrowsError(try Ridge.solve(x: x, y: y, rows: n, columns: p, rho: rho, penalty: [1, 1, 1, 1, 1, -1]))
    }

    func testRecoversAnExactLinearModel() throws {
        let n = 60, p = 5, w = [1.5, -2.0, 0.25, 3.0, -0.75]
        let x = randomDesign(n, p, seed: 7)
        let y = (0..<n).map { r in (0..<p).reduce(0.0) { $0 + x[r * p + $1] * w[$1] } }
        let fit = try Ridge.solve(x: x, y: y, rows: n, columns: p, rho: 1e-12)
        for i in 0..<p { XCTAssertEqual(fit[i], w[i], accuracy: 1e-8) }
    }

    /// One column: w = Σ x y / (Σ x² + ρ).
    func testShrinkageInOneDimension() throws {
        let x = [1.0, 2.0, -1.0, 0.5], y = [2.0, 3.0, -1.0, 4.0]
        let sxy = zip(x, y).reduce(0.0) { $0 + $1.0 * $1.1 }, sxx = x.reduce(0.0) { $0 + $1 * $1 }
        for rho in [0.0, 1.0, 25.0] {
            XCTAssertEqual(try Ridge.solve(x: x, y: y, rows: 4, columns: 1, rho: rho)[0], sxy / (sxx + rho), accuracy: 1e-14)
        }
    }

    func testErrorsNameTheProblem() {
        // Two identical columns and no ridge: not positive definite.
        let x = [1.0, 1.0, 2.0, 2.0, 3.0, 3.0]
        XCTAssertThrowsError(try Ridge.solve(x: x, y: [1, 2, 3], rows: 3, columns: 2, rho: 0)) {
            XCTAssertTrue("\($0)".contains("raise ρ"), "\($0)")
        }
        XCTAssertNoThrow(try Ridge.solve(x: x, y: [1, 2, 3], rows: 3, columns: 2, rho: 1e-3))
        XCTAssertThrowsError(try Ridge.solve(x: x, y: [1, 2], rows: 3, columns: 2, rho: 1))
        XCTAssertThrowsError(try Ridge.solve(x: x, y: [1, 2, 3], rows: 3, columns: 2, rho: -1))
    }
}

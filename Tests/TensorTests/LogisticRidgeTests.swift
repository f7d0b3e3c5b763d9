import Foundation
import Tensor
import XCTest

/// ``LogisticRidge``: the answer is a stationary point of the penalised objective (its gradient,
/// computed independently of the solver, vanishes), it recovers the coefficients of a logistic
/// model from samples drawn from it, stays finite on separable data, and names bad input.
final class LogisticRidgeTests: XCTestCase {
    func design(_ n: Int, _ p: Int, seed: UInt64) -> [Double] {
        var rng = RandomGenerator(seed: seed)
        return (0..<(n * p)).map { i in i % p == p - 1 ? 1 : rng.uniformDouble() * 2 - 1 }   // last column: intercept
    }

    func testSolutionIsAStationaryPoint() throws {
        for (n, p, rho, seed) in [(50, 4, 0.5, 1), (300, 9, 2.0, 2), (12, 3, 0.1, 3)] as [(Int, Int, Double, UInt64)] {
            let x = design(n, p, seed: seed)
            var rng = RandomGenerator(seed: seed + 50)
            let y = (0..<n).map { _ in rng.uniformDouble() < 0.35 ? 1.0 : 0.0 }
            let w = try LogisticRidge.solve(x: x, y: y, rows: n, columns: p, rho: rho)
            let g = LogisticRidge.gradient(x: x, y: y, rows: n, columns: p, rho: rho, weights: w)
            for i in 0..<p { XCTAssertEqual(g[i], 0, accuracy: 1e-8, "n \(n) p \(p) ∂w[\(i)]") }
            // A nudge in any direction raises the objective (strict convexity).
            let loss = { (w: [Double]) -> Double in
                (0..<n).reduce(0.0) { s, r in
                    let eta = (0..<p).reduce(0.0) { $0 + x[r * p + $1] * w[$1] }
                    return s + log(1 + exp(eta)) - y[r] * eta
                } + 0.5 * rho * w.reduce(0.0) { $0 + $1 * $1 }
            }
            for i in 0..<p {
                var up = w; up[i] += 1e-3
                XCTAssertGreaterThan(loss(up), loss(w))
            }
        }
    }

    /// With per-column multipliers the answer zeroes `Xᵀ(μ − y) + ρ m ⊙ w`; a free intercept (tiny
    /// multiplier) makes the mean predicted probability the observed rate, Σ μ_r = Σ y_r, which the
    /// same ρ on every column breaks (it pulls the intercept towards probability 1/2).
    func testPerColumnPenaltiesLeaveTheLightColumnsFree() throws {
        let n = 400, p = 4, rho = 200.0, m = [1, 1, 1, 1e-6]
        let x = design(n, p, seed: 31)
        var rng = RandomGenerator(seed: 32)
        let y = (0..<n).map { r in rng.uniformDouble() < LogisticRidge.sigmoid(1.5 * x[r * p] - 1.2) ? 1.0 : 0.0 }
        let excess = { (w: [Double]) -> Double in
            (0..<n).reduce(0.0) { s, r in s + LogisticRidge.sigmoid((0..<p).reduce(0.0) { $0 + x[r * p + $1] * w[$1] }) - y[r] }
        }
        let w = try LogisticRidge.solve(x: x, y: y, rows: n, columns: p, rho: rho, penalty: m)
        let g = LogisticRidge.gradient(x: x, y: y, rows: n, columns: p, rho: rho, penalty: m, weights: w)
        for i in 0..<p { XCTAssertEqual(g[i], 0, accuracy: 1e-8, "∂w[\(i)]") }
        XCTAssertEqual(excess(w), 0, accuracy: 1e-3)
        let uniform = try LogisticRidge.solve(x: x, y: y, rows: n, columns: p, rho: rho)
        XCTAssertGreaterThan(excess(uniform), 10, "one ρ for all lifts the predicted rate above the observed one")
    }

    func testRecoversTheCoefficientsOfALogisticModel() throws {
        let n = 40_000, p = 3, truth = [2.0, -1.0, 0.5]
        let x = design(n, p, seed: 9)
        var rng = RandomGenerator(seed: 10)
        let y = (0..<n).map { r -> Double in
            let eta = (0..<p).reduce(0.0) { $0 + x[r * p + $1] * truth[$1] }
            return rng.uniformDouble() < LogisticRidge.sigmoid(eta) ? 1 : 0
        }
        let w = try LogisticRidge.solve(x: x, y: y, rows: n, columns: p, rho: 1e-3)
        for i in 0..<p { XCTAssertEqual(w[i], truth[i], accuracy: 0.08, "w[\(i)]") }
    }

    func testSeparableDataStaysFiniteAndTheSigmoidIsStable() throws {
        let x = [-2.0, 1, -1, 1, 1, 1, 2, 1], y = [0.0, 0, 1, 1]
        let w = try LogisticRidge.solve(x: x, y: y, rows: 4, columns: 2, rho: 0.1)
        XCTAssertTrue(w.allSatisfy(\.isFinite))
        XCTAssertGreaterThan(w[0], 1)
        XCTAssertEqual(LogisticRidge.sigmoid(800), 1)
        XCTAssertEqual(LogisticRidge.sigmoid(-800), 0)
        XCTAssertEqual(LogisticRidge.sigmoid(0), 0.5)
        XCTAssertEqual(LogisticRidge.sigmoid(-2) + LogisticRidge.sigmoid(2), 1, accuracy: 1e-15)
    }

    func testErrorsNameTheProblem() {
        XCTAssertThrowsError(try LogisticRidge.solve(x: [1, 2], y: [1], rows: 1, columns: 2, rho: 0)) { XCTAssertTrue("\($0)".contains("ρ"), "\($0)") }
        XCTAssertThrowsError(try LogisticRidge.solve(x: [1, 2], y: [2], rows: 1, columns: 2, rho: 1)) { XCTAssertTrue("\($0)".contains("[0, 1]"), "\($0)") }
        XCTAssertThrowsError(try LogisticRidge.solve(x: [1, 2, 3], y: [1], rows: 1, columns: 2, rho: 1))
    }
}

import Foundation

/// Ridge-penalised logistic regression in Double: the w minimising
///
///     L(w) = −Σ_r [ y_r log σ(x_rᵀw) + (1 − y_r) log(1 − σ(x_rᵀw)) ] + (ρ/2) Σ_i m_i w_i²,   y_r ∈ [0, 1],
///
/// by iteratively reweighted least squares (Newton's method): with η = Xw, μ = σ(η) and
/// s_r = μ_r(1 − μ_r), each step solves the weighted ridge system
/// `(XᵀSX + ρM) w' = XᵀS z`, z = η + (y − μ)/s, M = diag(m), through
/// ``Ridge/solve(x:y:rows:columns:rho:penalty:)`` on the rows scaled by √s_r. At the optimum the
/// gradient `Xᵀ(μ − y) + ρMw` is zero, which is what the tests check (an oracle independent of the
/// solver). ρ > 0 with every m_i > 0 keeps the problem strictly convex and the solution finite on
/// separable data; m (default all 1) lets a block of columns be shrunk while others stay nearly free.
public enum LogisticRidge {
    /// σ(η) = 1 / (1 + e^{−η}), stable for large |η|.
    @inlinable public static func sigmoid(_ eta: Double) -> Double {
        eta >= 0 ? 1 / (1 + Foundation.exp(-eta)) : { let e = Foundation.exp(eta); return e / (1 + e) }()
    }

    /// - Parameters:
    ///   - x: (rows, columns) row-major (include a column of ones for an intercept).
    ///   - y: (rows) targets in [0, 1].
    ///   - rho: ρ > 0.
    ///   - penalty: m, one multiplier ≥ 0 per column (nil: all 1).
    ///   - iterations: Newton steps at most; stops earlier when no weight moves by more than `tolerance`.
    public static func solve(x: [Double], y: [Double], rows n: Int, columns p: Int, rho: Double, penalty: [Double]? = nil,
                             iterations: Int = 50, tolerance: Double = 1e-9) throws -> [Double] {
        guard n > 0, p > 0, x.count == n * p, y.count == n else {
            throw TensorError.shapeMismatch("logistic ridge: x has \(x.count) values and y \(y.count) for \(n) rows × \(p) columns")
        }
        guard rho > 0, rho.isFinite else { throw TensorError.shapeMismatch("logistic ridge: ρ must be a finite value > 0, got \(rho)") }
        guard y.allSatisfy({ $0 >= 0 && $0 <= 1 }) else { throw TensorError.shapeMismatch("logistic ridge: targets must lie in [0, 1]") }
        var w = [Double](repeating: 0, count: p)
        var xs = [Double](repeating: 0, count: n * p), zs = [Double](repeating: 0, count: n)
        for _ in 0..<iterations {
            for r in 0..<n {
                var eta = 0.0
                for f in 0..<p { eta += x[r * p + f] * w[f] }
                let mu = sigmoid(eta), s = max(mu * (1 - mu), 1e-10), root = s.squareRoot()
                for f in 0..<p { xs[r * p + f] = root * x[r * p + f] }
                zs[r] = root * (eta + (y[r] - mu) / s)
            }
            let next = try Ridge.solve(x: xs, y: zs, rows: n, columns: p, rho: rho, penalty: penalty)
            let step = zip(next, w).reduce(0.0) { max($0, abs($1.0 - $1.1)) }
            w = next
            if step < tolerance { break }
        }
        return w
    }

    /// The penalised objective's gradient `Xᵀ(σ(Xw) − y) + ρMw` (zero at ``solve(x:y:rows:columns:rho:penalty:iterations:tolerance:)``'s answer).
    public static func gradient(x: [Double], y: [Double], rows n: Int, columns p: Int, rho: Double, penalty: [Double]? = nil,
                                weights w: [Double]) -> [Double] {
        var g = w.indices.map { rho * (penalty?[$0] ?? 1) * w[$0] }
        for r in 0..<n {
            var eta = 0.0
            for f in 0..<p { eta += x[r * p + f] * w[f] }
            let d = sigmoid(eta) - y[r]
            for f in 0..<p { g[f] += d * x[r * p + f] }
        }
        return g
    }
}

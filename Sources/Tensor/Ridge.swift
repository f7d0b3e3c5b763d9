import CBLAS

/// Ridge regression in Double: the w minimising `‖X w − y‖² + ρ Σ_i m_i w_i²`, i.e. the solution of
/// the normal equations `(XᵀX + ρ M) w = Xᵀ y`, M = diag(m) (symmetric positive definite for ρ > 0
/// and every m_i > 0). The per-column multipliers m (`penalty`, default all 1: the plain ridge
/// `ρ ‖w‖²`) let one block of columns be shrunk while another (an intercept, a few strong
/// features) is left nearly free, so a large ρ tends to the fit on that block alone.
///
/// ``solve(x:y:rows:columns:rho:penalty:)`` forms XᵀX with `cblas_dsyrk` and Xᵀy with `cblas_dgemv`, then
/// factors by Cholesky (`LAPACKE_dposv`); ``reference(x:y:rows:columns:rho:penalty:)`` is the plain-loop
/// version (the same sums, Gaussian elimination with partial pivoting) it is tested against.
public enum Ridge {
    /// - Parameters:
    ///   - x: (rows, columns) row-major.
    ///   - y: (rows).
    ///   - rho: ρ > 0.
    ///   - penalty: m, one multiplier ≥ 0 per column (nil: all 1).
    /// - Throws: ``TensorError/lapack(_:)`` when the system is not positive definite (ρ ≤ 0 with
    ///   collinear columns) and ``TensorError/shapeMismatch(_:)`` for inconsistent sizes.
    public static func solve(x: [Double], y: [Double], rows n: Int, columns p: Int, rho: Double,
                             penalty: [Double]? = nil) throws -> [Double] {
        try check(x: x, y: y, rows: n, columns: p, rho: rho, penalty: penalty)
        var a = [Double](repeating: 0, count: p * p), b = [Double](repeating: 0, count: p)
        x.withUnsafeBufferPointer { xp in
            // Upper triangle of XᵀX (row-major), then mirror it; b = Xᵀ y.
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(p), Int32(n), 1, xp.baseAddress, Int32(p), 0, &a, Int32(p))
            y.withUnsafeBufferPointer { yp in
                cblas_dgemv(CblasRowMajor, CblasTrans, Int32(n), Int32(p), 1, xp.baseAddress, Int32(p), yp.baseAddress, 1, 0, &b, 1)
            }
        }
        for i in 0..<p {
            a[i * p + i] += rho * (penalty?[i] ?? 1)
            for j in 0..<i { a[i * p + j] = a[j * p + i] }
        }
        let info = LAPACKE_dposv(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "U")), Int32(p), 1, &a, Int32(p), &b, 1)
        guard info == 0 else {
            throw TensorError.lapack("LAPACKE_dposv returned \(info) solving a \(p)×\(p) ridge system (ρ = \(rho)): not positive definite; raise ρ")
        }
        return b
    }

    /// The plain-loop reference of ``solve(x:y:rows:columns:rho:penalty:)``.
    public static func reference(x: [Double], y: [Double], rows n: Int, columns p: Int, rho: Double,
                                 penalty: [Double]? = nil) throws -> [Double] {
        try check(x: x, y: y, rows: n, columns: p, rho: rho, penalty: penalty)
        // Augmented matrix [XᵀX + ρM | Xᵀy], p × (p + 1).
        var m = [[Double]](repeating: [Double](repeating: 0, count: p + 1), count: p)
        for i in 0..<p {
            for j in 0..<p {
                var s = 0.0
                for r in 0..<n { s += x[r * p + i] * x[r * p + j] }
                m[i][j] = s + (i == j ? rho * (penalty?[i] ?? 1) : 0)
            }
            var s = 0.0
            for r in 0..<n { s += x[r * p + i] * y[r] }
            m[i][p] = s
        }
        for col in 0..<p {
            let pivot = (col..<p).max { abs(m[$0][col]) < abs(m[$1][col]) }!
            guard abs(m[pivot][col]) > 0 else { throw TensorError.lapack("ridge reference: singular system at column \(col)") }
            m.swapAt(col, pivot)
            for r in (col + 1)..<max(col + 1, p) {
                let f = m[r][col] / m[col][col]
                for c in col...p { m[r][c] -= f * m[col][c] }
            }
        }
        var w = [Double](repeating: 0, count: p)
        for i in stride(from: p - 1, through: 0, by: -1) {
            var s = m[i][p]
            for j in (i + 1)..<max(i + 1, p) { s -= m[i][j] * w[j] }
            w[i] = s / m[i][i]
        }
        return w
    }

    private static func check(x: [Double], y: [Double], rows n: Int, columns p: Int, rho: Double, penalty: [Double]?) throws {
        guard n > 0, p > 0, x.count == n * p, y.count == n else {
            throw TensorError.shapeMismatch("ridge: x has \(x.count) values and y \(y.count) for \(n) rows × \(p) columns")
        }
        guard rho >= 0, rho.isFinite else { throw TensorError.shapeMismatch("ridge: ρ must be a finite value ≥ 0, got \(rho)") }
        if let penalty {
            guard penalty.count == p, penalty.allSatisfy({ $0 >= 0 && $0.isFinite }) else {
                throw TensorError.shapeMismatch("ridge: the penalty needs \(p) finite multipliers ≥ 0 (one per column), got \(penalty.count)")
            }
        }
    }
}

import CBLAS

/// Weight initialisers that need more than independent draws.
public enum Initializers {
    /// Fills `t`, read as a matrix of `rows × cols` (``Tensor/matrixShape``: the last dimension is
    /// the columns, all others the rows), with `gain` times a (semi-)orthogonal matrix
    /// (Saxe, McClelland & Ganguli 2014, "Exact solutions to the nonlinear dynamics of learning
    /// in deep linear neural networks", §3; the same construction as `torch.nn.init.orthogonal_`).
    ///
    /// With `m = max(rows, cols)` and `n = min(rows, cols)`, a Gaussian matrix `A` (m×n) is drawn
    /// from `rng` in row-major order, factored `A = QR` (`LAPACKE_sgeqrf` + `LAPACKE_sorgqr`), and
    /// each column of `Q` is multiplied by the sign of `R`'s diagonal entry so that the result does
    /// not depend on LAPACK's sign convention and is Haar-distributed (it equals Gram–Schmidt of
    /// the columns of `A`). Tall or square tensors receive `gain · Q` (then `QᵀQ = I`); wide ones
    /// receive `gain · Qᵀ` (then `QQᵀ = I`).
    /// - Parameters:
    ///   - t: the tensor to overwrite.
    ///   - gain: scale of the result (1 for a plain orthogonal matrix).
    ///   - rng: source of the Gaussian draws; advanced by `rows · cols` normal deviates.
    /// - Throws: ``TensorError/lapack(_:)`` when a LAPACK routine reports failure (its info code
    ///   and the tensor's shape are named).
    public static func orthogonal(_ t: Tensor, gain: Float, rng: inout RandomGenerator) throws {
        let (rows, cols) = t.matrixShape
        if rows == 0 || cols == 0 { return }
        let m = max(rows, cols), n = min(rows, cols)
        let a = UnsafeMutablePointer<Float>.allocate(capacity: m * n)
        let tau = UnsafeMutablePointer<Float>.allocate(capacity: n)
        defer { a.deallocate(); tau.deallocate() }
        for i in 0..<(m * n) { a[i] = rng.normal() }

        let layout = Int32(LAPACK_ROW_MAJOR)
        var info = LAPACKE_sgeqrf(layout, Int32(m), Int32(n), a, Int32(n), tau)
        guard info == 0 else {
            throw TensorError.lapack("LAPACKE_sgeqrf returned \(info) factoring a \(m)×\(n) Gaussian matrix for an orthogonal init of a tensor of shape \(t.shape)")
        }
        // sgeqrf leaves R in the upper triangle; sorgqr overwrites it, so keep the diagonal's signs.
        var signs = [Float](repeating: 1, count: n)
        for j in 0..<n where a[j * n + j] < 0 { signs[j] = -1 }
        info = LAPACKE_sorgqr(layout, Int32(m), Int32(n), Int32(n), a, Int32(n), tau)
        guard info == 0 else {
            throw TensorError.lapack("LAPACKE_sorgqr returned \(info) forming Q (\(m)×\(n)) for an orthogonal init of a tensor of shape \(t.shape)")
        }
        let out = t.pointer
        if rows >= cols {  // out (rows×cols) = Q (m×n), column j scaled by gain·sign_j
            for i in 0..<m { for j in 0..<n { out[i * cols + j] = gain * signs[j] * a[i * n + j] } }
        } else {           // out (rows×cols) = Qᵀ: out[j][i] = Q[i][j]
            for i in 0..<m { for j in 0..<n { out[j * cols + i] = gain * signs[j] * a[i * n + j] } }
        }
    }
}

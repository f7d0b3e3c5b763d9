/// Element-wise arithmetic on flat float buffers, the bias add and its backward.
///
/// The element loops are plain loops the compiler vectorises; they are split across threads
/// only for long buffers (``VectorMath/elementChunk`` elements per chunk), and each element is
/// computed by one thread, so results do not depend on ``Threads/count``.
public enum Elementwise {
    /// `out = a + b` element-wise. `out` may alias `a` or `b`.
    public static func add(out: UnsafeMutablePointer<Float>, a: UnsafePointer<Float>, b: UnsafePointer<Float>, count: Int) {
        parallelFor(count, minChunk: VectorMath.elementChunk) { r in
            for i in r { out[i] = a[i] + b[i] }
        }
    }

    /// `out = a ⊙ b` element-wise. `out` may alias `a` or `b`.
    public static func mul(out: UnsafeMutablePointer<Float>, a: UnsafePointer<Float>, b: UnsafePointer<Float>, count: Int) {
        parallelFor(count, minChunk: VectorMath.elementChunk) { r in
            for i in r { out[i] = a[i] * b[i] }
        }
    }

    /// `x *= factor` element-wise.
    public static func scale(_ x: UnsafeMutablePointer<Float>, by factor: Float, count: Int) {
        parallelFor(count, minChunk: VectorMath.elementChunk) { r in
            for i in r { x[i] *= factor }
        }
    }

    /// `y += alpha · x` element-wise (BLAS axpy; also the accumulating backward of a scaled copy).
    public static func axpy(y: UnsafeMutablePointer<Float>, alpha: Float, x: UnsafePointer<Float>, count: Int) {
        parallelFor(count, minChunk: VectorMath.elementChunk) { r in
            for i in r { y[i] += alpha * x[i] }
        }
    }

    /// Bias add: `x[r, c] += vector[c]` for a `(rows, cols)` matrix and a `(cols)` vector.
    public static func addRowVector(_ x: UnsafeMutablePointer<Float>, vector: UnsafePointer<Float>, rows: Int, cols: Int) {
        parallelFor(rows, minChunk: VectorMath.rowChunk(cols)) { range in
            for r in range {
                let row = x + r * cols
                for c in 0..<cols { row[c] += vector[c] }
            }
        }
    }

    /// Bias backward: `into[c] += Σ_r input[r, c]` for a `(rows, cols)` matrix. Parallel over
    /// columns, each column summed in row order by one thread (deterministic).
    public static func sumRows(into: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, rows: Int, cols: Int) {
        parallelFor(cols, minChunk: VectorMath.columnChunk(rows: rows)) { cs in
            for r in 0..<rows {
                let row = input + r * cols
                for c in cs { into[c] += row[c] }
            }
        }
    }

    // MARK: References

    /// Plain-loop reference of ``add(out:a:b:count:)``.
    public static func addReference(out: UnsafeMutablePointer<Float>, a: UnsafePointer<Float>, b: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { out[i] = Float(Double(a[i]) + Double(b[i])) }
    }

    /// Plain-loop reference of ``mul(out:a:b:count:)``.
    public static func mulReference(out: UnsafeMutablePointer<Float>, a: UnsafePointer<Float>, b: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { out[i] = Float(Double(a[i]) * Double(b[i])) }
    }

    /// Plain-loop reference of ``scale(_:by:count:)``.
    public static func scaleReference(_ x: UnsafeMutablePointer<Float>, by factor: Float, count: Int) {
        for i in 0..<count { x[i] = Float(Double(x[i]) * Double(factor)) }
    }

    /// Plain-loop reference of ``axpy(y:alpha:x:count:)`` in Double.
    public static func axpyReference(y: UnsafeMutablePointer<Float>, alpha: Float, x: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { y[i] = Float(Double(y[i]) + Double(alpha) * Double(x[i])) }
    }

    /// Plain-loop reference of ``addRowVector(_:vector:rows:cols:)``.
    public static func addRowVectorReference(_ x: UnsafeMutablePointer<Float>, vector: UnsafePointer<Float>, rows: Int, cols: Int) {
        for r in 0..<rows { for c in 0..<cols { x[r * cols + c] = Float(Double(x[r * cols + c]) + Double(vector[c])) } }
    }

    /// Plain-loop reference of ``sumRows(into:input:rows:cols:)`` in Double.
    public static func sumRowsReference(into: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, rows: Int, cols: Int) {
        for c in 0..<cols {
            var s = Double(into[c])
            for r in 0..<rows { s += Double(input[r * cols + c]) }
            into[c] = Float(s)
        }
    }
}

// MARK: - Tensor-level wrappers

/// `a + b` element-wise for tensors of equal shape; a new tensor.
/// - Throws: ``TensorError/shapeMismatch(_:)`` naming both shapes when they differ.
public func add(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    try checkSameShape(a.shape, b.shape, "add(a, b) needs equal shapes; a and b are")
    let out = Tensor(zeros: a.shape)
    Elementwise.add(out: out.pointer, a: a.pointer, b: b.pointer, count: a.count)
    return out
}

/// `a ⊙ b` element-wise for tensors of equal shape; a new tensor.
/// - Throws: ``TensorError/shapeMismatch(_:)`` naming both shapes when they differ.
public func mul(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    try checkSameShape(a.shape, b.shape, "mul(a, b) needs equal shapes; a and b are")
    let out = Tensor(zeros: a.shape)
    Elementwise.mul(out: out.pointer, a: a.pointer, b: b.pointer, count: a.count)
    return out
}

/// `x[..., c] += bias[c]` in place: adds a `[C]` vector to every row of `x` (last extent C).
/// - Throws: ``TensorError/shapeMismatch(_:)`` naming both shapes when `bias` is not `[C]`.
public func addBias(_ x: Tensor, _ bias: Tensor) throws {
    let (rows, cols) = x.matrixShape
    try checkSameShape(bias.shape, [cols], "addBias: bias must be [C] for x \(x.shape); bias and [C] are")
    Elementwise.addRowVector(x.pointer, vector: bias.pointer, rows: rows, cols: cols)
}

/// Sums and means of a 2-D `(rows, cols)` row-major view. `axis: 0` reduces over rows and
/// writes `cols` values (`out[c] = Σ_r x[r, c]`); `axis: 1` reduces over columns and writes
/// `rows` values (`out[r] = Σ_c x[r, c]`). Outputs are overwritten, not accumulated.
///
/// Axis 0 is parallel over columns and axis 1 over rows; each output is summed by one thread
/// in a fixed order (axis 1: eight interleaved partial sums, then the tail), so results do not
/// depend on ``Threads/count``.
public enum Reduce {
    /// `out = Σ` over `axis` (see the type's description).
    /// - Parameters:
    ///   - out: `(cols)` for axis 0, `(rows)` for axis 1.
    ///   - input: `(rows, cols)`.
    public static func sum(out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, rows: Int, cols: Int, axis: Int) {
        precondition(axis == 0 || axis == 1, "Reduce.sum: axis must be 0 or 1, got \(axis)")
        if axis == 0 {
            out.update(repeating: 0, count: cols)
            Elementwise.sumRows(into: out, input: input, rows: rows, cols: cols)
        } else {
            parallelFor(rows, minChunk: VectorMath.rowChunk(cols)) { range in
                for r in range { out[r] = VectorMath.sum(input + r * cols, cols) }
            }
        }
    }

    /// `out = mean` over `axis`: ``sum(out:input:rows:cols:axis:)`` divided by the reduced extent
    /// (an empty extent gives NaN, the mean of nothing).
    public static func mean(out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, rows: Int, cols: Int, axis: Int) {
        sum(out: out, input: input, rows: rows, cols: cols, axis: axis)
        let n = axis == 0 ? rows : cols
        let inv = 1 / Float(n)
        for i in 0..<(axis == 0 ? cols : rows) { out[i] *= inv }
    }

    /// Plain-loop reference of ``sum(out:input:rows:cols:axis:)`` in Double.
    public static func sumReference(out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, rows: Int, cols: Int, axis: Int) {
        if axis == 0 {
            for c in 0..<cols {
                var s = 0.0
                for r in 0..<rows { s += Double(input[r * cols + c]) }
                out[c] = Float(s)
            }
        } else {
            for r in 0..<rows {
                var s = 0.0
                for c in 0..<cols { s += Double(input[r * cols + c]) }
                out[r] = Float(s)
            }
        }
    }

    /// Plain-loop reference of ``mean(out:input:rows:cols:axis:)`` in Double.
    public static func meanReference(out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, rows: Int, cols: Int, axis: Int) {
        let n = Double(axis == 0 ? rows : cols)
        if axis == 0 {
            for c in 0..<cols {
                var s = 0.0
                for r in 0..<rows { s += Double(input[r * cols + c]) }
                out[c] = Float(s / n)
            }
        } else {
            for r in 0..<rows {
                var s = 0.0
                for c in 0..<cols { s += Double(input[r * cols + c]) }
                out[r] = Float(s / n)
            }
        }
    }
}

// MARK: - Tensor-level wrappers

/// The shape as `(outer, n, inner)` around `axis`, for reducing one axis of an N-D tensor.
private func splitAround(_ shape: [Int], axis: Int, _ op: String) throws -> (outer: Int, n: Int, inner: Int) {
    guard axis >= 0 && axis < shape.count else {
        throw TensorError.shapeMismatch("\(op): axis \(axis) is out of range for shape \(shape) (rank \(shape.count)); use 0..<\(shape.count)")
    }
    let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *)
    return (outer, shape[axis], inner)
}

private func reduce(_ t: Tensor, axis: Int, mean: Bool, _ op: String) throws -> Tensor {
    let (outer, n, inner) = try splitAround(t.shape, axis: axis, op)
    var shape = t.shape
    shape.remove(at: axis)
    let out = Tensor(zeros: shape)
    if inner == 1 {
        // Reducing the last axis: an (outer, n) matrix reduced over its columns.
        let f = mean ? Reduce.mean : Reduce.sum
        f(out.pointer, t.pointer, outer, n, 1)
        return out
    }
    for o in 0..<outer {
        // Each outer slice is an (n, inner) matrix reduced over its rows.
        let src = t.pointer + o * n * inner, dst = out.pointer + o * inner
        if mean {
            Reduce.mean(out: dst, input: src, rows: n, cols: inner, axis: 0)
        } else {
            Reduce.sum(out: dst, input: src, rows: n, cols: inner, axis: 0)
        }
    }
    return out
}

/// Sum over one axis of `t`; the result has that axis removed (`sum([2, 3, 4], axis: 1)` is `[2, 4]`).
/// - Throws: ``TensorError/shapeMismatch(_:)`` naming the shape when `axis` is out of range.
public func sum(_ t: Tensor, axis: Int) throws -> Tensor {
    try reduce(t, axis: axis, mean: false, "sum")
}

/// Mean over one axis of `t`; the result has that axis removed.
/// - Throws: ``TensorError/shapeMismatch(_:)`` naming the shape when `axis` is out of range.
public func mean(_ t: Tensor, axis: Int) throws -> Tensor {
    try reduce(t, axis: axis, mean: true, "mean")
}

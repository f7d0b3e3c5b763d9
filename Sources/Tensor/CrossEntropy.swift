import Foundation

/// Cross-entropy of next-token logits against target ids, fused with the softmax:
/// `loss_r = -log softmax(z_r)[t_r] = log Σ_v e^(z_rv - m_r) + m_r - z_{r t_r}`, `m_r = max_v z_rv`.
/// Logits are `(rows, V)` with rows = B·T; a target `< 0` marks an ignored row (padding,
/// prompt tokens): loss 0 and no gradient.
public enum CrossEntropy {
    /// Writes the per-row losses and returns their sum (in Double, rows added in order) and the
    /// number of non-ignored rows; the mean loss is `sum / count` (the caller guards count 0).
    /// - Parameters:
    ///   - losses: `(rows)`; 0 for ignored rows.
    ///   - logits: `(rows, V)` z.
    ///   - targets: `(rows)` target ids in `0..<V`, or negative to ignore the row.
    public static func forward(losses: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>,
                               rows: Int, V: Int) -> (sum: Double, count: Int) {
        parallelFor(rows, minChunk: VectorMath.rowChunk(V)) { range in
            for r in range {
                let t = Int(targets[r])
                if t < 0 { losses[r] = 0; continue }
                precondition(t < V, "CrossEntropy.forward: target \(t) at row \(r) is outside the vocabulary 0..<\(V)")
                let z = logits + r * V
                let m = VectorMath.max(z, V)
                losses[r] = Foundation.log(VectorMath.sumExpShifted(z, n: V, shift: m)) + (m - z[t])  // m - z[t] first: exact for large logits
            }
        }
        var total = 0.0, count = 0
        for r in 0..<rows where targets[r] >= 0 {
            total += Double(losses[r])
            count += 1
        }
        return (total, count)
    }

    /// Accumulates `dLogits[r] += scale · (softmax(z_r) - onehot(t_r))` for non-ignored rows
    /// (ignored rows are left unchanged). Use `scale = 1 / count` for the gradient of the mean loss.
    /// - Parameters:
    ///   - dLogits: `(rows, V)`, accumulated into.
    ///   - logits: `(rows, V)` z.
    ///   - targets: `(rows)` as in the forward.
    ///   - scale: dL/d(loss_r), the same for every row.
    public static func backward(dLogits: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>,
                                rows: Int, V: Int, scale: Float) {
        parallelFor(rows, minChunk: VectorMath.rowChunk(2 * V)) { range in
            for r in range {
                let t = Int(targets[r])
                if t < 0 { continue }
                precondition(t < V, "CrossEntropy.backward: target \(t) at row \(r) is outside the vocabulary 0..<\(V)")
                let z = logits + r * V, dz = dLogits + r * V
                let m = VectorMath.max(z, V)
                let k = scale / VectorMath.sumExpShifted(z, n: V, shift: m)
                let m8 = VectorMath.V8(repeating: m), k8 = VectorMath.V8(repeating: k)
                var i = 0
                while i + 8 <= V {
                    let p = VectorMath.exp(VectorMath.load(z + i) - m8) * k8
                    VectorMath.store(VectorMath.load(dz + i) + p, dz + i)
                    i += 8
                }
                while i < V { dz[i] += VectorMath.exp(z[i] - m) * k; i += 1 }
                dz[t] -= scale
            }
        }
    }

    /// Plain-loop reference of ``forward(losses:logits:targets:rows:V:)`` in Double.
    public static func forwardReference(losses: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>,
                                        rows: Int, V: Int) -> (sum: Double, count: Int) {
        var total = 0.0, count = 0
        for r in 0..<rows {
            let t = Int(targets[r])
            if t < 0 { losses[r] = 0; continue }
            var m = -Double.infinity
            for v in 0..<V { m = Swift.max(m, Double(logits[r * V + v])) }
            var s = 0.0
            for v in 0..<V { s += Foundation.exp(Double(logits[r * V + v]) - m) }
            let loss = Foundation.log(s) + (m - Double(logits[r * V + t]))
            losses[r] = Float(loss)
            total += Double(Float(loss))
            count += 1
        }
        return (total, count)
    }

    /// Plain-loop reference of ``backward(dLogits:logits:targets:rows:V:scale:)`` in Double.
    public static func backwardReference(dLogits: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>,
                                         rows: Int, V: Int, scale: Float) {
        for r in 0..<rows {
            let t = Int(targets[r])
            if t < 0 { continue }
            var m = -Double.infinity
            for v in 0..<V { m = Swift.max(m, Double(logits[r * V + v])) }
            var s = 0.0
            for v in 0..<V { s += Foundation.exp(Double(logits[r * V + v]) - m) }
            for v in 0..<V {
                let p = Foundation.exp(Double(logits[r * V + v]) - m) / s
                let g = Double(scale) * (p - (v == t ? 1 : 0))
                dLogits[r * V + v] = Float(Double(dLogits[r * V + v]) + g)
            }
        }
    }
}

// MARK: - Tensor-level wrapper

/// Mean cross-entropy of `(rows, V)` logits (any leading shape; the last axis is V) against
/// one target per row, over the non-ignored rows (targets `< 0` are ignored). Returns 0 when
/// every row is ignored.
/// - Throws: ``TensorError/shapeMismatch(_:)`` when the number of targets differs from the
///   number of rows, or a target is `≥ V` (the message names the target, its row and V).
public func crossEntropy(logits: Tensor, targets: [Int32]) throws -> Float {
    let (rows, V) = logits.matrixShape
    guard targets.count == rows else {
        throw TensorError.shapeMismatch("crossEntropy: logits \(logits.shape) have \(rows) rows but there are \(targets.count) targets ([\(targets.count)])")
    }
    if let i = targets.firstIndex(where: { Int($0) >= V }) {
        throw TensorError.shapeMismatch(
            "crossEntropy: target \(targets[i]) at row \(i) is outside the vocabulary of logits \(logits.shape) (0..<\(V)); check the tokenizer matches the model")
    }
    if rows == 0 { return 0 }
    let losses = Tensor(zeros: [rows])
    let (total, count) = targets.withUnsafeBufferPointer { p in
        CrossEntropy.forward(losses: losses.pointer, logits: logits.pointer, targets: p.baseAddress!, rows: rows, V: V)
    }
    return count == 0 ? 0 : Float(total / Double(count))
}

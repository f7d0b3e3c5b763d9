import Foundation

/// Row-wise softmax over `n` columns: `y[r, i] = e^(x[r, i] - m_r) / Σ_j e^(x[r, j] - m_r)` with
/// `m_r = max_j x[r, j]` (subtracting the maximum keeps every exponent ≤ 0, so logits of any
/// magnitude give finite results). Inputs are `(rows, n)` row-major; `rows` is usually B·T
/// (or B·NH·T for attention scores).
public enum Softmax {
    /// `out = softmax(input)` row-wise. `out` may alias `input`.
    /// - Parameters:
    ///   - out: `(rows, n)` probabilities.
    ///   - input: `(rows, n)` logits.
    public static func forward(out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, rows: Int, n: Int) {
        precondition(rows >= 0 && n >= 1 || rows == 0, "Softmax.forward: need n ≥ 1, got rows \(rows), n \(n)")
        parallelFor(rows, minChunk: VectorMath.rowChunk(n)) { range in
            for r in range {
                let x = input + r * n, y = out + r * n
                let m = VectorMath.max(x, n)
                let total = VectorMath.expShifted(out: y, input: x, n: n, shift: m)
                let inv = 1 / total
                for i in 0..<n { y[i] *= inv }
            }
        }
    }

    /// `max_i x[i]` over one row (n ≥ 1), vectorised: a sampled draft's confidence is the largest
    /// entry of its distribution q, read once per drafted token.
    public static func maximum(_ input: UnsafePointer<Float>, n: Int) -> Float {
        precondition(n >= 1, "Softmax.maximum: need n ≥ 1")
        return VectorMath.max(input, n)
    }

    /// The largest probability of `softmax(x)` over one row: `1 / Σ_j e^{x_j − m}`, m = max_j x_j
    /// (a draft's confidence, read once per drafted token). The vectorised exponential and sum of
    /// ``forward(out:input:rows:n:)``; about 10× faster than `expf` over a 49,152-token row.
    ///
    /// Chunks of 8 whose every exponent is below the exponential's underflow (e^x = 0 exactly for
    /// x < −87.33) are skipped: the 41k logits a trimmed 8,192-token draft head excludes cost one
    /// compare per chunk, and the sum is bitwise the same.
    public static func topProbability(_ input: UnsafePointer<Float>, n: Int) -> Float {
        precondition(n >= 1, "Softmax.topProbability: need n ≥ 1")
        return topProbability(input, n: n, maximum: VectorMath.max(input, n))
    }

    /// ``topProbability(_:n:)`` with `max_j x_j` already known (a greedy draft's argmax logit), one
    /// pass fewer over the row.
    public static func topProbability(_ input: UnsafePointer<Float>, n: Int, maximum m: Float) -> Float {
        precondition(n >= 1, "Softmax.topProbability: need n ≥ 1")
        let s = SIMD8<Float>(repeating: m)
        var acc = SIMD8<Float>(repeating: 0)
        var i = 0
        while i + 8 <= n { acc += VectorMath.expOrZero(VectorMath.load(input + i) - s); i += 8 }
        var total = acc.sum()
        while i < n { total += VectorMath.exp(input[i] - m); i += 1 }
        return 1 / total
    }

    /// One row at temperature T: `out_i = e^{(x_i − m)/T} / Σ_j e^{(x_j − m)/T}`, m = max_j x_j —
    /// the sampling distribution of a decoding step. The exponential is the vectorised one
    /// (about 2 ulp; exponents below −87.33, e.g. the logits a trimmed draft head excludes, give
    /// exactly 0), the normaliser a Double sum in ``RandomGenerator/sum(_:count:)``'s order. About
    /// 10× faster than `expf` per element over a 49,152-token vocabulary; chunks of 8 that all
    /// underflow are stored as zeros without the exponential. `out` may alias `input`.
    public static func temperedRow(out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, n: Int, temperature: Float) {
        precondition(n >= 1 && temperature > 0, "Softmax.temperedRow: need n ≥ 1 and T > 0, got n \(n), T \(temperature)")
        VectorMath.expScaled(out: out, input: input, n: n, shift: VectorMath.max(input, n), scale: 1 / temperature)
        let inv = Float(1 / RandomGenerator.sum(out, count: n))
        for j in 0..<n { out[j] *= inv }
    }

    /// ``temperedRow(out:input:n:temperature:)`` of a row whose logits outside `ids` make no
    /// probability (a trimmed draft head writes −10³⁰ there, whose exponential is exactly 0): the
    /// same bits, for K = `ids.count` exponentials instead of n. `ids` ascending and unique, inside
    /// `0..<n`, `lanes` their ``SubsetLanes`` of width 4; `out` (n floats) gets zeros outside `ids`;
    /// `scratch` holds at least K floats and ends holding the K probabilities `out[ids[k]]` (for
    /// ``RandomGenerator/checkedCategorical(_:ids:lanes:count:)``). With `outsideIsZero` the
    /// caller vouches that `out` already holds zeros outside `ids` (a row only this function
    /// writes, for one id set), and the n-wide zero fill is skipped.
    ///
    /// Why the bits are the same: the maximum is exact in any order and every excluded logit is
    /// below it; the exponential works lane by lane, so a value does not depend on its neighbours;
    /// and the Double normaliser adds each index's value into partial sum `i mod 4` (index ≥
    /// 4⌊n/4⌋: sum 0) in ascending order as ``RandomGenerator/sum(_:count:)`` does, where the
    /// excluded zeros add nothing.
    /// - Returns: the largest probability (the value at the maximum logit).
    @discardableResult
    public static func temperedRowSubset(out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, n: Int,
                                         ids: UnsafeBufferPointer<Int32>, lanes: SubsetLanes, temperature: Float,
                                         scratch: UnsafeMutablePointer<Float>, outsideIsZero: Bool = false) -> Float {
        let K = ids.count
        precondition(K >= 1 && K <= n && temperature > 0, "Softmax.temperedRowSubset: need 1 ≤ K ≤ n and T > 0, got K \(K), n \(n), T \(temperature)")
        var m = -Float.infinity
        for k in 0..<K { let x = input[Int(ids[k])]; scratch[k] = x; m = x > m ? x : m }
        VectorMath.expScaled(out: scratch, input: scratch, n: K, shift: m, scale: 1 / temperature)
        let inv = Float(1 / RandomGenerator.sum(scratch, lanes: lanes))
        if !outsideIsZero { out.update(repeating: 0, count: n) }
        var top: Float = 0
        for k in 0..<K { let q = scratch[k] * inv; scratch[k] = q; out[Int(ids[k])] = q; top = q > top ? q : top }
        return top
    }

    /// Accumulates the input gradient: `dInput[r, i] += y_i (dy_i - Σ_j dy_j y_j)`.
    /// - Parameters:
    ///   - dInput: `(rows, n)`, accumulated into (must not alias `dOut`).
    ///   - dOut: `(rows, n)` upstream gradient dL/dy.
    ///   - out: `(rows, n)` the forward's probabilities y.
    public static func backward(dInput: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, out: UnsafePointer<Float>,
                                rows: Int, n: Int) {
        parallelFor(rows, minChunk: VectorMath.rowChunk(2 * n)) { range in
            for r in range {
                let dy = dOut + r * n, y = out + r * n, dx = dInput + r * n
                let inner = VectorMath.dot(dy, y, n)
                for i in 0..<n { dx[i] += y[i] * (dy[i] - inner) }
            }
        }
    }

    /// Plain-loop reference of ``forward(out:input:rows:n:)`` in Double.
    public static func forwardReference(out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, rows: Int, n: Int) {
        for r in 0..<rows {
            var m = -Double.infinity
            for i in 0..<n { m = Swift.max(m, Double(input[r * n + i])) }
            var total = 0.0
            for i in 0..<n { total += Foundation.exp(Double(input[r * n + i]) - m) }
            for i in 0..<n { out[r * n + i] = Float(Foundation.exp(Double(input[r * n + i]) - m) / total) }
        }
    }

    /// Plain-loop reference of ``backward(dInput:dOut:out:rows:n:)`` in Double.
    public static func backwardReference(dInput: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, out: UnsafePointer<Float>,
                                         rows: Int, n: Int) {
        for r in 0..<rows {
            var inner = 0.0
            for i in 0..<n { inner += Double(dOut[r * n + i]) * Double(out[r * n + i]) }
            for i in 0..<n {
                let g = Double(out[r * n + i]) * (Double(dOut[r * n + i]) - inner)
                dInput[r * n + i] = Float(Double(dInput[r * n + i]) + g)
            }
        }
    }
}

/// Row-wise log-softmax over `n` columns: `z[r, i] = x[r, i] - m_r - log Σ_j e^(x[r, j] - m_r)`,
/// `m_r = max_j x[r, j]`. Inputs are `(rows, n)` row-major.
public enum LogSoftmax {
    /// `out = log softmax(input)` row-wise. `out` may alias `input`.
    /// - Parameters:
    ///   - out: `(rows, n)` log-probabilities.
    ///   - input: `(rows, n)` logits.
    public static func forward(out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, rows: Int, n: Int) {
        precondition(rows >= 0 && n >= 1 || rows == 0, "LogSoftmax.forward: need n ≥ 1, got rows \(rows), n \(n)")
        parallelFor(rows, minChunk: VectorMath.rowChunk(n)) { range in
            for r in range {
                let x = input + r * n, z = out + r * n
                let m = VectorMath.max(x, n)
                // (x - m) - lse rather than x - (m + lse): for large logits m + lse would be
                // rounded to the coarse float spacing near m (1e-3 at 1e4).
                let lse = Foundation.log(VectorMath.sumExpShifted(x, n: n, shift: m))
                for i in 0..<n { z[i] = (x[i] - m) - lse }
            }
        }
    }

    /// Accumulates the input gradient: `dInput[r, i] += dz_i - e^(z_i) Σ_j dz_j`.
    /// - Parameters:
    ///   - dInput: `(rows, n)`, accumulated into (must not alias `dOut`).
    ///   - dOut: `(rows, n)` upstream gradient dL/dz.
    ///   - out: `(rows, n)` the forward's log-probabilities z.
    public static func backward(dInput: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, out: UnsafePointer<Float>,
                                rows: Int, n: Int) {
        parallelFor(rows, minChunk: VectorMath.rowChunk(2 * n)) { range in
            for r in range {
                let dz = dOut + r * n, z = out + r * n, dx = dInput + r * n
                let total = VectorMath.sum(dz, n)
                var i = 0
                let t = VectorMath.V8(repeating: total)
                while i + 8 <= n {
                    let g = VectorMath.load(dz + i) - VectorMath.exp(VectorMath.load(z + i)) * t
                    VectorMath.store(VectorMath.load(dx + i) + g, dx + i)
                    i += 8
                }
                while i < n { dx[i] += dz[i] - VectorMath.exp(z[i]) * total; i += 1 }
            }
        }
    }

    /// Plain-loop reference of ``forward(out:input:rows:n:)`` in Double.
    public static func forwardReference(out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, rows: Int, n: Int) {
        for r in 0..<rows {
            var m = -Double.infinity
            for i in 0..<n { m = Swift.max(m, Double(input[r * n + i])) }
            var total = 0.0
            for i in 0..<n { total += Foundation.exp(Double(input[r * n + i]) - m) }
            let lse = Foundation.log(total)
            for i in 0..<n { out[r * n + i] = Float((Double(input[r * n + i]) - m) - lse) }
        }
    }

    /// Plain-loop reference of ``backward(dInput:dOut:out:rows:n:)`` in Double.
    public static func backwardReference(dInput: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, out: UnsafePointer<Float>,
                                         rows: Int, n: Int) {
        for r in 0..<rows {
            var total = 0.0
            for i in 0..<n { total += Double(dOut[r * n + i]) }
            for i in 0..<n {
                let g = Double(dOut[r * n + i]) - Foundation.exp(Double(out[r * n + i])) * total
                dInput[r * n + i] = Float(Double(dInput[r * n + i]) + g)
            }
        }
    }
}

// MARK: - Tensor-level wrappers

/// Softmax over the last axis of `t` (every leading index is one row); a new tensor of the same shape.
public func softmax(_ t: Tensor) -> Tensor {
    let out = Tensor(zeros: t.shape)
    let (rows, n) = t.matrixShape
    if n > 0 { Softmax.forward(out: out.pointer, input: t.pointer, rows: rows, n: n) }
    return out
}

/// Log-softmax over the last axis of `t`; a new tensor of the same shape.
public func logSoftmax(_ t: Tensor) -> Tensor {
    let out = Tensor(zeros: t.shape)
    let (rows, n) = t.matrixShape
    if n > 0 { LogSoftmax.forward(out: out.pointer, input: t.pointer, rows: rows, n: n) }
    return out
}

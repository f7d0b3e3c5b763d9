import Foundation

/// Layer normalisation over the last axis (GPT-2, GPT-NeoX):
/// `y[r, c] = (x[r, c] - μ_r) · ρ_r · w[c] + b[c]` with `μ_r = mean_c x[r, c]`, the biased variance
/// `σ²_r = mean_c (x[r, c] - μ_r)²` and `ρ_r = 1 / sqrt(σ²_r + eps)` ("rstd").
/// Activations are `(rows, C)` with rows = B·T; `mean` and `rstd` are saved for the backward.
public enum LayerNorm {
    /// Forward pass; writes `out`, `mean` and `rstd`.
    /// - Parameters:
    ///   - out: `(rows, C)` normalised output (must not alias `input`).
    ///   - mean: `(rows)` μ, saved for the backward.
    ///   - rstd: `(rows)` ρ, saved for the backward.
    ///   - input: `(rows, C)` x.
    ///   - weight: `(C)` w.
    ///   - bias: `(C)` b, or nil for none.
    ///   - eps: added to the variance (1e-5 in GPT-2 and GPT-NeoX).
    public static func forward(out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                               input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                               rows: Int, C: Int, eps: Float) {
        precondition(C >= 1 || rows == 0, "LayerNorm.forward: C must be ≥ 1, got \(C)")
        parallelFor(rows, minChunk: VectorMath.rowChunk(2 * C)) { range in
            for r in range {
                let x = input + r * C, y = out + r * C
                let m = VectorMath.sum(x, C) / Float(C)
                // Two passes (mean, then squared deviations) avoid the cancellation of E[x²] - E[x]².
                var v8 = VectorMath.V8(repeating: 0)
                let m8 = VectorMath.V8(repeating: m)
                var i = 0
                while i + 8 <= C { let d = VectorMath.load(x + i) - m8; v8 += d * d; i += 8 }
                var v = v8.sum()
                while i < C { let d = x[i] - m; v += d * d; i += 1 }
                let s = 1 / (v / Float(C) + eps).squareRoot()
                if let b = bias {
                    for c in 0..<C { y[c] = (x[c] - m) * s * weight[c] + b[c] }
                } else {
                    for c in 0..<C { y[c] = (x[c] - m) * s * weight[c] }
                }
                mean[r] = m
                rstd[r] = s
            }
        }
    }

    /// Backward pass, accumulating into all gradients. With `x̂ = (x - μ) ρ` and `g = w ⊙ dy`:
    /// `dx += ρ (g - mean(g) - x̂ · mean(g ⊙ x̂))`, `dw += Σ_r dy ⊙ x̂`, `db += Σ_r dy`.
    /// The input gradient is parallel over rows, the weight and bias gradients over columns, so
    /// each element is summed by one thread in row order whatever the thread count.
    /// - Parameters:
    ///   - dInput: `(rows, C)`, accumulated into (must not alias `dOut`).
    ///   - dWeight: `(C)`, accumulated into.
    ///   - dBias: `(C)`, accumulated into, or nil when the layer has no bias.
    ///   - dOut: `(rows, C)` upstream gradient.
    ///   - input: `(rows, C)` the forward's x.
    ///   - weight: `(C)` w.
    ///   - mean: `(rows)` and `rstd`: `(rows)` saved by the forward.
    public static func backward(dInput: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>?,
                                dOut: UnsafePointer<Float>, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, rows: Int, C: Int) {
        parallelFor(rows, minChunk: VectorMath.rowChunk(4 * C)) { range in
            for r in range {
                let x = input + r * C, dy = dOut + r * C, dx = dInput + r * C
                let m = mean[r], s = rstd[r]
                // Σ g and Σ g·(x - μ) with 8 partial sums (then ρ is applied once).
                var g8 = VectorMath.V8(repeating: 0), gx8 = VectorMath.V8(repeating: 0)
                let m8 = VectorMath.V8(repeating: m)
                var c = 0
                while c + 8 <= C {
                    let g = VectorMath.load(weight + c) * VectorMath.load(dy + c)
                    g8 += g
                    gx8 += g * (VectorMath.load(x + c) - m8)
                    c += 8
                }
                var gSum = g8.sum(), gxSum = gx8.sum()
                while c < C {
                    let g = weight[c] * dy[c]
                    gSum += g
                    gxSum += g * (x[c] - m)
                    c += 1
                }
                let gMean = gSum / Float(C), gxMean = gxSum * s / Float(C)
                for c in 0..<C {
                    let xh = (x[c] - m) * s
                    dx[c] += s * (weight[c] * dy[c] - gMean - xh * gxMean)
                }
            }
        }
        parallelFor(C, minChunk: VectorMath.columnChunk(rows: rows)) { cols in
            for r in 0..<rows {
                let x = input + r * C, dy = dOut + r * C
                let m = mean[r], s = rstd[r]
                for c in cols { dWeight[c] += dy[c] * ((x[c] - m) * s) }
                if let db = dBias { for c in cols { db[c] += dy[c] } }
            }
        }
    }

    /// Plain-loop reference of ``forward(out:mean:rstd:input:weight:bias:rows:C:eps:)`` in Double.
    public static func forwardReference(out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                                        input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                                        rows: Int, C: Int, eps: Float) {
        for r in 0..<rows {
            var m = 0.0
            for c in 0..<C { m += Double(input[r * C + c]) }
            m /= Double(C)
            var v = 0.0
            for c in 0..<C { let d = Double(input[r * C + c]) - m; v += d * d }
            let s = 1 / (v / Double(C) + Double(eps)).squareRoot()
            for c in 0..<C {
                let b = bias.map { Double($0[c]) } ?? 0
                out[r * C + c] = Float((Double(input[r * C + c]) - m) * s * Double(weight[c]) + b)
            }
            mean[r] = Float(m)
            rstd[r] = Float(s)
        }
    }

    /// Plain-loop reference of ``backward(dInput:dWeight:dBias:dOut:input:weight:mean:rstd:rows:C:)`` in Double.
    public static func backwardReference(dInput: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>?,
                                         dOut: UnsafePointer<Float>, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                         mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, rows: Int, C: Int) {
        var dw = [Double](repeating: 0, count: C), db = [Double](repeating: 0, count: C)
        for r in 0..<rows {
            let m = Double(mean[r]), s = Double(rstd[r])
            var gMean = 0.0, gxMean = 0.0
            for c in 0..<C {
                let g = Double(weight[c]) * Double(dOut[r * C + c])
                gMean += g
                gxMean += g * (Double(input[r * C + c]) - m) * s
            }
            gMean /= Double(C)
            gxMean /= Double(C)
            for c in 0..<C {
                let xh = (Double(input[r * C + c]) - m) * s
                let dy = Double(dOut[r * C + c])
                let g = s * (Double(weight[c]) * dy - gMean - xh * gxMean)
                dInput[r * C + c] = Float(Double(dInput[r * C + c]) + g)
                dw[c] += dy * xh
                db[c] += dy
            }
        }
        for c in 0..<C {
            dWeight[c] = Float(Double(dWeight[c]) + dw[c])
            if let d = dBias { d[c] = Float(Double(d[c]) + db[c]) }
        }
    }
}

/// Root-mean-square normalisation over the last axis (Llama, Qwen2):
/// `y[r, c] = x[r, c] · ρ_r · w[c]` with `ρ_r = 1 / sqrt(mean_c x[r, c]² + eps)`.
/// Activations are `(rows, C)` with rows = B·T; `rstd` is saved for the backward.
public enum RMSNorm {
    /// Forward pass; writes `out` and `rstd`.
    /// - Parameters:
    ///   - out: `(rows, C)` normalised output (must not alias `input`).
    ///   - rstd: `(rows)` ρ, saved for the backward.
    ///   - input: `(rows, C)` x.
    ///   - weight: `(C)` w.
    ///   - eps: added to the mean square (1e-5 or 1e-6 in Llama-family configs, `rms_norm_eps`).
    public static func forward(out: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                               input: UnsafePointer<Float>, weight: UnsafePointer<Float>, rows: Int, C: Int, eps: Float) {
        precondition(C >= 1 || rows == 0, "RMSNorm.forward: C must be ≥ 1, got \(C)")
        parallelFor(rows, minChunk: VectorMath.rowChunk(2 * C)) { range in
            for r in range {
                let x = input + r * C, y = out + r * C
                let s = 1 / (VectorMath.dot(x, x, C) / Float(C) + eps).squareRoot()
                for c in 0..<C { y[c] = x[c] * s * weight[c] }
                rstd[r] = s
            }
        }
    }

    /// Backward pass, accumulating: with `g = w ⊙ dy`,
    /// `dx += ρ g - x ρ³ mean(g ⊙ x)` and `dw += Σ_r dy ⊙ x ρ`.
    /// Input gradient parallel over rows, weight gradient over columns (deterministic).
    /// - Parameters:
    ///   - dInput: `(rows, C)`, accumulated into (must not alias `dOut`).
    ///   - dWeight: `(C)`, accumulated into.
    ///   - dOut: `(rows, C)` upstream gradient.
    ///   - input: `(rows, C)` the forward's x.
    ///   - weight: `(C)` w.
    ///   - rstd: `(rows)` saved by the forward.
    public static func backward(dInput: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>,
                                dOut: UnsafePointer<Float>, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                rstd: UnsafePointer<Float>, rows: Int, C: Int) {
        parallelFor(rows, minChunk: VectorMath.rowChunk(4 * C)) { range in
            for r in range {
                let x = input + r * C, dy = dOut + r * C, dx = dInput + r * C
                let s = rstd[r]
                var gx8 = VectorMath.V8(repeating: 0)
                var c = 0
                while c + 8 <= C {
                    gx8 += VectorMath.load(weight + c) * VectorMath.load(dy + c) * VectorMath.load(x + c)
                    c += 8
                }
                var gx = gx8.sum()
                while c < C { gx += weight[c] * dy[c] * x[c]; c += 1 }
                let k = s * s * s * gx / Float(C)
                for c in 0..<C { dx[c] += s * weight[c] * dy[c] - x[c] * k }
            }
        }
        parallelFor(C, minChunk: VectorMath.columnChunk(rows: rows)) { cols in
            for r in 0..<rows {
                let x = input + r * C, dy = dOut + r * C
                let s = rstd[r]
                for c in cols { dWeight[c] += dy[c] * (x[c] * s) }
            }
        }
    }

    /// Plain-loop reference of ``forward(out:rstd:input:weight:rows:C:eps:)`` in Double.
    public static func forwardReference(out: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                                        input: UnsafePointer<Float>, weight: UnsafePointer<Float>, rows: Int, C: Int, eps: Float) {
        for r in 0..<rows {
            var ms = 0.0
            for c in 0..<C { let x = Double(input[r * C + c]); ms += x * x }
            let s = 1 / (ms / Double(C) + Double(eps)).squareRoot()
            for c in 0..<C { out[r * C + c] = Float(Double(input[r * C + c]) * s * Double(weight[c])) }
            rstd[r] = Float(s)
        }
    }

    /// Plain-loop reference of ``backward(dInput:dWeight:dOut:input:weight:rstd:rows:C:)`` in Double.
    public static func backwardReference(dInput: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>,
                                         dOut: UnsafePointer<Float>, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                         rstd: UnsafePointer<Float>, rows: Int, C: Int) {
        var dw = [Double](repeating: 0, count: C)
        for r in 0..<rows {
            let s = Double(rstd[r])
            var gx = 0.0
            for c in 0..<C { gx += Double(weight[c]) * Double(dOut[r * C + c]) * Double(input[r * C + c]) }
            for c in 0..<C {
                let x = Double(input[r * C + c]), dy = Double(dOut[r * C + c])
                let g = s * Double(weight[c]) * dy - x * s * s * s * gx / Double(C)
                dInput[r * C + c] = Float(Double(dInput[r * C + c]) + g)
                dw[c] += dy * x * s
            }
        }
        for c in 0..<C { dWeight[c] = Float(Double(dWeight[c]) + dw[c]) }
    }
}

// MARK: - Tensor-level wrappers

/// Layer normalisation over the last axis of `x`; a new tensor of the same shape.
/// - Throws: ``TensorError/shapeMismatch(_:)`` when `weight` or `bias` is not `[C]` for the last extent C of `x`.
public func layerNorm(_ x: Tensor, weight: Tensor, bias: Tensor?, eps: Float = 1e-5) throws -> Tensor {
    let (rows, C) = x.matrixShape
    try checkSameShape(weight.shape, [C], "layerNorm weight must be [C] for input \(x.shape); weight")
    if let b = bias { try checkSameShape(b.shape, [C], "layerNorm bias must be [C] for input \(x.shape); bias") }
    let out = Tensor(zeros: x.shape)
    if C == 0 { return out }
    let mean = Tensor(zeros: [rows]), rstd = Tensor(zeros: [rows])
    LayerNorm.forward(out: out.pointer, mean: mean.pointer, rstd: rstd.pointer, input: x.pointer, weight: weight.pointer,
                      bias: bias.map { UnsafePointer($0.pointer) }, rows: rows, C: C, eps: eps)
    return out
}

/// RMS normalisation over the last axis of `x`; a new tensor of the same shape.
/// - Throws: ``TensorError/shapeMismatch(_:)`` when `weight` is not `[C]` for the last extent C of `x`.
public func rmsNorm(_ x: Tensor, weight: Tensor, eps: Float = 1e-6) throws -> Tensor {
    let (rows, C) = x.matrixShape
    try checkSameShape(weight.shape, [C], "rmsNorm weight must be [C] for input \(x.shape); weight")
    let out = Tensor(zeros: x.shape)
    if C == 0 { return out }
    let rstd = Tensor(zeros: [rows])
    RMSNorm.forward(out: out.pointer, rstd: rstd.pointer, input: x.pointer, weight: weight.pointer, rows: rows, C: C, eps: eps)
    return out
}

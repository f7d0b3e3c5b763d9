// The Tensor module owns float32 tensors and the numeric core: matmul dispatch (OpenBLAS sgemm /
// sgemv, AVX-512/AVX2 row kernels), element-wise kernels with plain-loop references and backward
// passes, reductions in fixed order, the seeded RandomGenerator, and the thread count (Threads).

import Foundation

/// Element-wise activations and the fused SwiGLU gate, forward and backward side by side.
/// Every backward accumulates (`+=`) into its gradient; `dInput` must not alias `dOut`.
/// The fast paths evaluate the tanh-GELU, SiLU and SwiGLU through the
/// vectorised exp of `VectorMath` (relative error ≤ 1.3 ulp measured); the erf-GELU calls `erff`.
public enum Activation {
    /// √(2/π), the slope of the tanh-GELU's inner polynomial.
    static let geluScale: Float = 0.797_884_560_802_865_4
    /// The cubic coefficient of the tanh-GELU (Hendrycks & Gimpel 2016, eq. for "gelu_new").
    static let geluCubic: Float = 0.044_715

    // MARK: GELU, tanh form

    /// `y = ½ x (1 + tanh(u))`, `u = √(2/π) (x + 0.044715 x³)` (GPT-2 "gelu_new", PyTorch
    /// `gelu(approximate="tanh")`). Computed as `x σ(2u)`, since ½(1 + tanh u) = σ(2u).
    /// - Parameters: out: `(count)`, may alias `input`; input: `(count)` x.
    public static func geluTanhForward(out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, count: Int) {
        parallelFor(count, minChunk: transcendentalChunk) { r in
            VectorMath.map(out: out + r.lowerBound, input + r.lowerBound, r.count) { x in
                let inner: VectorMath.V8 = x + geluCubic * x * x * x
                return x * VectorMath.sigmoid((2 * geluScale) * inner)
            }
        }
    }

    /// `dInput += dOut · y'(x)` with `y' = σ(2u) + 2 x σ(2u)(1 - σ(2u)) √(2/π) (1 + 3·0.044715 x²)`.
    public static func geluTanhBackward(dInput: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, input: UnsafePointer<Float>,
                                        count: Int) {
        parallelFor(count, minChunk: transcendentalChunk) { r in
            VectorMath.accumulate(into: dInput + r.lowerBound, dOut + r.lowerBound, input + r.lowerBound, r.count) { dy, x in
                let x2: VectorMath.V8 = x * x
                let inner: VectorMath.V8 = x + geluCubic * x2 * x
                let s: VectorMath.V8 = VectorMath.sigmoid((2 * geluScale) * inner)
                let du: VectorMath.V8 = (2 * geluScale) * (1 + (3 * geluCubic) * x2)
                let slope: VectorMath.V8 = s + x * s * (1 - s) * du
                return dy * slope
            }
        }
    }

    /// Plain-loop reference of ``geluTanhForward(out:input:count:)`` in Double (with `tanh`).
    public static func geluTanhForwardReference(out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, count: Int) {
        let k = (2 / Double.pi).squareRoot(), a = 0.044715
        for i in 0..<count {
            let x = Double(input[i])
            out[i] = Float(0.5 * x * (1 + Foundation.tanh(k * (x + a * x * x * x))))
        }
    }

    /// Plain-loop reference of ``geluTanhBackward(dInput:dOut:input:count:)`` in Double (with `tanh`).
    public static func geluTanhBackwardReference(dInput: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>,
                                                 input: UnsafePointer<Float>, count: Int) {
        let k = (2 / Double.pi).squareRoot(), a = 0.044715
        for i in 0..<count {
            let x = Double(input[i])
            let t = Foundation.tanh(k * (x + a * x * x * x))
            let d = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * a * x * x)
            dInput[i] = Float(Double(dInput[i]) + Double(dOut[i]) * d)
        }
    }

    // MARK: GELU, erf form

    /// `y = ½ x (1 + erf(x / √2)) = x Φ(x)` (Pythia / GPT-NeoX "gelu", PyTorch's default `gelu`).
    /// - Parameters: out: `(count)`, may alias `input`; input: `(count)` x.
    public static func geluErfForward(out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, count: Int) {
        parallelFor(count, minChunk: transcendentalChunk) { r in
            for i in r {
                let x = input[i]
                out[i] = 0.5 * x * (1 + Foundation.erf(x * halfSqrt2))
            }
        }
    }

    /// `dInput += dOut · (Φ(x) + x φ(x))`, φ the standard normal density.
    public static func geluErfBackward(dInput: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, input: UnsafePointer<Float>,
                                       count: Int) {
        parallelFor(count, minChunk: transcendentalChunk) { r in
            for i in r {
                let x = input[i]
                let cdf = 0.5 * (1 + Foundation.erf(x * halfSqrt2))
                let pdf = invSqrt2Pi * Foundation.exp(-0.5 * x * x)
                dInput[i] += dOut[i] * (cdf + x * pdf)
            }
        }
    }

    /// Plain-loop reference of ``geluErfForward(out:input:count:)`` in Double.
    public static func geluErfForwardReference(out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, count: Int) {
        for i in 0..<count {
            let x = Double(input[i])
            out[i] = Float(0.5 * x * (1 + Foundation.erf(x / 2.0.squareRoot())))
        }
    }

    /// Plain-loop reference of ``geluErfBackward(dInput:dOut:input:count:)`` in Double.
    public static func geluErfBackwardReference(dInput: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>,
                                                input: UnsafePointer<Float>, count: Int) {
        for i in 0..<count {
            let x = Double(input[i])
            let d = 0.5 * (1 + Foundation.erf(x / 2.0.squareRoot())) + x * Foundation.exp(-0.5 * x * x) / (2 * Double.pi).squareRoot()
            dInput[i] = Float(Double(dInput[i]) + Double(dOut[i]) * d)
        }
    }

    // MARK: SiLU

    /// `y = x σ(x)` (SiLU / swish, Llama's MLP gate).
    /// - Parameters: out: `(count)`, may alias `input`; input: `(count)` x.
    public static func siluForward(out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, count: Int) {
        parallelFor(count, minChunk: transcendentalChunk) { r in
            VectorMath.map(out: out + r.lowerBound, input + r.lowerBound, r.count) { x in x * VectorMath.sigmoid(x) }
        }
    }

    /// `dInput += dOut · σ(x)(1 + x(1 - σ(x)))`.
    public static func siluBackward(dInput: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, input: UnsafePointer<Float>,
                                    count: Int) {
        parallelFor(count, minChunk: transcendentalChunk) { r in
            VectorMath.accumulate(into: dInput + r.lowerBound, dOut + r.lowerBound, input + r.lowerBound, r.count) { dy, x in
                let s: VectorMath.V8 = VectorMath.sigmoid(x)
                let slope: VectorMath.V8 = s * (1 + x * (1 - s))
                return dy * slope
            }
        }
    }

    /// Plain-loop reference of ``siluForward(out:input:count:)`` in Double.
    public static func siluForwardReference(out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, count: Int) {
        for i in 0..<count {
            let x = Double(input[i])
            out[i] = Float(x / (1 + Foundation.exp(-x)))
        }
    }

    /// Plain-loop reference of ``siluBackward(dInput:dOut:input:count:)`` in Double.
    public static func siluBackwardReference(dInput: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>,
                                             input: UnsafePointer<Float>, count: Int) {
        for i in 0..<count {
            let x = Double(input[i])
            let s = 1 / (1 + Foundation.exp(-x))
            dInput[i] = Float(Double(dInput[i]) + Double(dOut[i]) * s * (1 + x * (1 - s)))
        }
    }

    // MARK: SwiGLU

    /// SwiGLU on a fused gate/up buffer (Llama MLP: `down(silu(gate(x)) ⊙ up(x))`):
    /// `out[r, f] = silu(gateUp[r, f]) · gateUp[r, F + f]`.
    /// - Parameters:
    ///   - out: `(rows, F)`.
    ///   - gateUp: `(rows, 2F)`: gate in columns `0..<F`, up in columns `F..<2F` of each row.
    public static func swigluForward(out: UnsafeMutablePointer<Float>, gateUp: UnsafePointer<Float>, rows: Int, F: Int) {
        parallelFor(rows, minChunk: VectorMath.rowChunk(4 * F)) { range in
            for r in range {
                let g = gateUp + r * 2 * F, u = g + F, y = out + r * F
                var i = 0
                while i + 8 <= F {
                    let gv = VectorMath.load(g + i)
                    VectorMath.store(gv * VectorMath.sigmoid(gv) * VectorMath.load(u + i), y + i)
                    i += 8
                }
                if i < F {
                    let k = F - i
                    let gv = VectorMath.loadPartial(g + i, k)
                    VectorMath.storePartial(gv * VectorMath.sigmoid(gv) * VectorMath.loadPartial(u + i, k), y + i, k)
                }
            }
        }
    }

    /// Accumulates `dGate += dOut · up · silu'(gate)` and `dUp += dOut · silu(gate)` into the
    /// fused `(rows, 2F)` gradient (same column layout as `gateUp`).
    public static func swigluBackward(dGateUp: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, gateUp: UnsafePointer<Float>,
                                      rows: Int, F: Int) {
        parallelFor(rows, minChunk: VectorMath.rowChunk(6 * F)) { range in
            for r in range {
                let g = gateUp + r * 2 * F, u = g + F, dy = dOut + r * F
                let dg = dGateUp + r * 2 * F, du = dg + F
                var i = 0
                while i < F {
                    let k = Swift.min(8, F - i)
                    let full = k == 8
                    let gv = full ? VectorMath.load(g + i) : VectorMath.loadPartial(g + i, k)
                    let uv = full ? VectorMath.load(u + i) : VectorMath.loadPartial(u + i, k)
                    let dyv = full ? VectorMath.load(dy + i) : VectorMath.loadPartial(dy + i, k)
                    let s = VectorMath.sigmoid(gv)
                    let slope: VectorMath.V8 = s * (1 + gv * (1 - s))
                    let dgv: VectorMath.V8 = dyv * uv * slope
                    let duv: VectorMath.V8 = dyv * gv * s
                    if full {
                        VectorMath.store(VectorMath.load(dg + i) + dgv, dg + i)
                        VectorMath.store(VectorMath.load(du + i) + duv, du + i)
                    } else {
                        VectorMath.storePartial(VectorMath.loadPartial(dg + i, k) + dgv, dg + i, k)
                        VectorMath.storePartial(VectorMath.loadPartial(du + i, k) + duv, du + i, k)
                    }
                    i += 8
                }
            }
        }
    }

    /// Plain-loop reference of ``swigluForward(out:gateUp:rows:F:)`` in Double.
    public static func swigluForwardReference(out: UnsafeMutablePointer<Float>, gateUp: UnsafePointer<Float>, rows: Int, F: Int) {
        for r in 0..<rows {
            for f in 0..<F {
                let g = Double(gateUp[r * 2 * F + f]), u = Double(gateUp[r * 2 * F + F + f])
                out[r * F + f] = Float(g / (1 + Foundation.exp(-g)) * u)
            }
        }
    }

    /// Plain-loop reference of ``swigluBackward(dGateUp:dOut:gateUp:rows:F:)`` in Double.
    public static func swigluBackwardReference(dGateUp: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>,
                                               gateUp: UnsafePointer<Float>, rows: Int, F: Int) {
        for r in 0..<rows {
            for f in 0..<F {
                let gi = r * 2 * F + f, ui = gi + F
                let g = Double(gateUp[gi]), u = Double(gateUp[ui]), dy = Double(dOut[r * F + f])
                let s = 1 / (1 + Foundation.exp(-g))
                dGateUp[gi] = Float(Double(dGateUp[gi]) + dy * u * s * (1 + g * (1 - s)))
                dGateUp[ui] = Float(Double(dGateUp[ui]) + dy * g * s)
            }
        }
    }

    // MARK: Constants

    static let halfSqrt2: Float = 0.707_106_781_186_547_5
    static let invSqrt2Pi: Float = 0.398_942_280_401_432_7
    /// Elements per chunk for transcendental kernels (~10–40 µs of work per chunk).
    static let transcendentalChunk = 16_384
}

// MARK: - Tensor-level wrappers

/// GELU of every element (tanh form by default, `exact: true` for the erf form); a new tensor.
public func gelu(_ t: Tensor, exact: Bool = false) -> Tensor {
    let out = Tensor(zeros: t.shape)
    if exact {
        Activation.geluErfForward(out: out.pointer, input: t.pointer, count: t.count)
    } else {
        Activation.geluTanhForward(out: out.pointer, input: t.pointer, count: t.count)
    }
    return out
}

/// SiLU (`x σ(x)`) of every element; a new tensor.
public func silu(_ t: Tensor) -> Tensor {
    let out = Tensor(zeros: t.shape)
    Activation.siluForward(out: out.pointer, input: t.pointer, count: t.count)
    return out
}

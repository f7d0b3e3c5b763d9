// The Transformer module owns the models: configurations (HF config.json, GGUF metadata), flat
// parameters, training forward/backward, KV-cache inference (InferenceSession), the one plain
// decoding loop and its prompt rule (DecodingLoop over a DecodingModel; Generator samples with it),
// sampling, AdamW, model files (HF directories, GGUF load/write, quantize), native quantised
// weights, the vocabulary-compatibility rule of a pair (SharedVocabulary), drafts made of target
// layers (DraftLayers) and ChatML (ChatTemplate).

import Foundation
import Tensor

/// AdamW hyper-parameters (Loshchilov & Hutter, decoupled weight decay).
public struct AdamWSettings: Codable, Equatable, Sendable {
    public var learningRate: Float = 3e-4
    public var beta1: Float = 0.9
    public var beta2: Float = 0.95
    public var eps: Float = 1e-8
    /// Applied only to parameters whose ``ParameterInfo/decay`` is true (matrices, not norms or biases).
    public var weightDecay: Float = 0.1
    public init(learningRate: Float = 3e-4, beta1: Float = 0.9, beta2: Float = 0.95, eps: Float = 1e-8, weightDecay: Float = 0.1) {
        self.learningRate = learningRate; self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.weightDecay = weightDecay
    }
}

/// AdamW over a flat ``ParameterSet``, with the update of `torch.optim.AdamW`:
///
///     p ← p · (1 − lr·wd)                       (decayed parameters only)
///     m ← β1·m + (1 − β1)·g,   v ← β2·v + (1 − β2)·g²
///     p ← p − lr/(1 − β1ᵗ) · m / (sqrt(v)/sqrt(1 − β2ᵗ) + eps)
public final class AdamW {
    public var settings: AdamWSettings
    /// First and second moments, same layout as the parameters.
    public let m: ParameterSet, v: ParameterSet
    /// Steps taken so far (t in the formulas after the next step is t + 1).
    public private(set) var stepCount: Int = 0
    /// Contiguous ranges of the flat buffer with their decay flag.
    private let ranges: [(range: Range<Int>, decay: Bool)]

    public init(parameters: ParameterSet, settings: AdamWSettings) {
        self.settings = settings
        m = parameters.zerosLike()
        v = parameters.zerosLike()
        ranges = parameters.infos.map { ($0.offset..<($0.offset + $0.count), $0.decay) }
    }

    /// One update with learning rate `lr` (from the schedule).
    public func step(parameters: ParameterSet, gradients: ParameterSet, lr: Float) {
        stepCount += 1
        let s = settings, t = Float(stepCount)
        let bc1 = 1 - pow(s.beta1, t), bc2 = 1 - pow(s.beta2, t)
        let stepSize = lr / bc1, bc2Sqrt = bc2.squareRoot(), decay = 1 - lr * s.weightDecay
        let p = parameters.flat.pointer, g = gradients.flat.pointer, mp = m.flat.pointer, vp = v.flat.pointer
        for (range, decayed) in ranges {
            let d = decayed ? decay : 1
            parallelFor(range.count, minChunk: 1 << 15) { r in
                // Eight lanes at a time, then the tail: the same IEEE operations in the same order
                // per element as the scalar formula (no contraction, no reassociation), so the
                // result is bitwise the scalar loop's, at a fraction of its time.
                let b1 = SIMD8<Float>(repeating: s.beta1), b2 = SIMD8<Float>(repeating: s.beta2)
                let c1 = SIMD8<Float>(repeating: 1 - s.beta1), c2 = SIMD8<Float>(repeating: 1 - s.beta2)
                let dv = SIMD8<Float>(repeating: d), step = SIMD8<Float>(repeating: stepSize)
                let bc = SIMD8<Float>(repeating: bc2Sqrt), eps = SIMD8<Float>(repeating: s.eps)
                var j = r.lowerBound
                while j + 8 <= r.upperBound {
                    let i = range.lowerBound + j
                    var pv = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
                    let gv = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD8<Float>.self)
                    var mv = UnsafeRawPointer(mp + i).loadUnaligned(as: SIMD8<Float>.self)
                    var vv = UnsafeRawPointer(vp + i).loadUnaligned(as: SIMD8<Float>.self)
                    pv = pv * dv
                    mv = b1 * mv + c1 * gv
                    vv = b2 * vv + c2 * gv * gv
                    pv = pv - step * mv / (vv.squareRoot() / bc + eps)
                    UnsafeMutableRawPointer(p + i).storeBytes(of: pv, as: SIMD8<Float>.self)
                    UnsafeMutableRawPointer(mp + i).storeBytes(of: mv, as: SIMD8<Float>.self)
                    UnsafeMutableRawPointer(vp + i).storeBytes(of: vv, as: SIMD8<Float>.self)
                    j += 8
                }
                for j in j..<r.upperBound {
                    let i = range.lowerBound + j
                    p[i] *= d
                    let gi = g[i]
                    mp[i] = s.beta1 * mp[i] + (1 - s.beta1) * gi
                    vp[i] = s.beta2 * vp[i] + (1 - s.beta2) * gi * gi
                    p[i] -= stepSize * mp[i] / (vp[i].squareRoot() / bc2Sqrt + s.eps)
                }
            }
        }
    }

    public func restore(stepCount: Int) { self.stepCount = stepCount }
}

/// Gradient clipping by global norm (like `torch.nn.utils.clip_grad_norm_`).
public enum GradientClipping {
    /// The L2 norm of all gradients, accumulated in Double.
    public static func globalNorm(_ g: ParameterSet) -> Double {
        // Fixed chunks of `normChunk` elements, each summed in Double with four interleaved
        // accumulators, the chunk sums then added in chunk order: the result does not depend on
        // the thread count (resumed runs stay bitwise), and the adds are not one serial chain.
        let p = g.flat.pointer, n = g.count
        let chunks = (n + normChunk - 1) / normChunk
        var partial = [Double](repeating: 0, count: chunks)
        partial.withUnsafeMutableBufferPointer { out in
            let o = out.baseAddress!
            parallelFor(chunks, minChunk: 4) { r in
                for c in r {
                    let lo = c * normChunk, hi = min(n, lo + normChunk)
                    var a = SIMD4<Double>(repeating: 0)
                    var i = lo
                    while i + 4 <= hi {
                        let x = SIMD4<Double>(Double(p[i]), Double(p[i + 1]), Double(p[i + 2]), Double(p[i + 3]))
                        a += x * x
                        i += 4
                    }
                    var t = (a[0] + a[1]) + (a[2] + a[3])
                    while i < hi { t += Double(p[i]) * Double(p[i]); i += 1 }
                    o[c] = t
                }
            }
        }
        return partial.reduce(0, +).squareRoot()
    }

    /// Elements per partial sum of ``globalNorm(_:)``.
    static let normChunk = 1 << 16

    @discardableResult
    public static func clip(_ g: ParameterSet, maxNorm: Double) -> Double {
        let norm = globalNorm(g)
        if maxNorm > 0 && norm > maxNorm {
            Elementwise.scale(g.flat.pointer, by: Float(maxNorm / (norm + 1e-6)), count: g.count)
        }
        return norm
    }
}

/// Learning-rate schedules.
public enum LearningRateSchedule: String, Codable, CaseIterable, Sendable {
    case constant, cosine

    /// Learning rate at step `step` (0-based) of `total`: linear warm-up from lr/warmup to lr over
    /// `warmup` steps, then constant, or cosine decay to `minFraction`·lr at the last step.
    public func rate(step: Int, total: Int, warmup: Int, base: Float, minFraction: Float = 0.1) -> Float {
        if warmup > 0 && step < warmup { return base * Float(step + 1) / Float(warmup) }
        switch self {
        case .constant: return base
        case .cosine:
            let span = max(1, total - warmup - 1)
            let progress = min(1, Float(step - warmup) / Float(span))
            let minLR = base * minFraction
            return minLR + 0.5 * (base - minLR) * (1 + cos(Float.pi * progress))
        }
    }
}

import Foundation

/// The project's seeded random generator: **xoshiro256\*\*** (Blackman & Vigna, 2018), seeded by
/// expanding a 64-bit seed with **SplitMix64**.
///
/// It is a value type whose whole state is four `UInt64` words plus a cached normal deviate, so
/// it is `Codable` (checkpoints save it and `--resume` continues the exact stream) and it never
/// depends on threads: code that needs randomness in parallel loops draws it up front or forks
/// one generator per work item with ``fork(_:)``.
public struct RandomGenerator: RandomNumberGenerator, Codable, Equatable, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64
    private var spareNormal: Float?

    /// A generator whose stream is a pure function of `seed`.
    public init(seed: UInt64) {
        var x = seed
        func splitmix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitmix(); s1 = splitmix(); s2 = splitmix(); s3 = splitmix()
        spareNormal = nil
    }

    /// Next 64 random bits (xoshiro256**).
    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = (s3 << 45) | (s3 >> 19)
        return result
    }

    /// An independent generator for work item `index` (seeded from this stream and the index),
    /// so parallel work is reproducible regardless of scheduling.
    public mutating func fork(_ index: Int) -> RandomGenerator {
        RandomGenerator(seed: next() ^ (UInt64(truncatingIfNeeded: index) &* 0x9E37_79B9_7F4A_7C15))
    }

    /// Uniform in [0, 1) with 24 random bits (every value exactly representable as Float).
    public mutating func uniform() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// Uniform in [0, 1) as a Double with 53 random bits.
    public mutating func uniformDouble() -> Double {
        Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// Standard normal deviate by the Box–Muller transform (the second value is cached).
    public mutating func normal() -> Float {
        if let s = spareNormal { spareNormal = nil; return s }
        var u1 = uniformDouble()
        while u1 <= 0 { u1 = uniformDouble() }
        let u2 = uniformDouble()
        let r = (-2 * Foundation.log(u1)).squareRoot()
        let a = 2 * Double.pi * u2
        spareNormal = Float(r * Foundation.sin(a))
        return Float(r * Foundation.cos(a))
    }

    /// Normal deviate with the given mean and standard deviation.
    public mutating func normal(mean: Float, std: Float) -> Float { mean + std * normal() }

    /// Fills `tensor` with N(mean, std²) deviates in element order.
    public mutating func fillNormal(_ tensor: Tensor, mean: Float = 0, std: Float = 1) {
        let p = tensor.pointer
        for i in 0..<tensor.count { p[i] = normal(mean: mean, std: std) }
    }

    /// Fills `tensor` with uniform deviates in [low, high).
    public mutating func fillUniform(_ tensor: Tensor, low: Float = 0, high: Float = 1) {
        let p = tensor.pointer
        for i in 0..<tensor.count { p[i] = low + (high - low) * uniform() }
    }

    /// Index drawn from the categorical distribution with (not necessarily normalised)
    /// non-negative weights `probs[0..<n]`, by inverse CDF with one uniform draw.
    /// Zero-weight entries are never drawn. Precondition: the total weight is positive.
    public mutating func categorical(_ probs: UnsafePointer<Float>, count n: Int) -> Int {
        let total = RandomGenerator.sum(probs, count: n)
        precondition(total > 0 && total.isFinite,
                     "categorical: weights sum to \(total) (NaN/Inf logits?); use checkedCategorical to get an error instead")
        let r = uniformDouble() * total
        var acc: Double = 0
        var last = 0
        var i = 0
        while i < n {
            // Chunks of 8 zeros add nothing to the running sum: skip them with one compare.
            if i + 8 <= n && !any(VectorMath.load(probs + i) .> 0) { i += 8; continue }
            if probs[i] > 0 {
                acc += Double(probs[i])
                last = i
                if r < acc { return i }
            }
            i += 1
        }
        return last  // r landed on the rounding edge of the total
    }

    /// ``categorical(_:count:)`` that throws instead of trapping when the weights cannot be a
    /// distribution: a NaN, infinite or negative weight, or a total of 0 (logits of a model whose
    /// weights are corrupt, or an overflow upstream).
    /// - Throws: ``TensorError/invalidDistribution(_:)`` naming the first bad index and value.
    public mutating func checkedCategorical(_ probs: UnsafePointer<Float>, count n: Int) throws -> Int {
        // Finite, non-negative floats cannot overflow a Double sum, and it is positive exactly
        // when one of them is: one branch-free scan instead of a second serial sum.
        var bad = false, positive = false
        var i = 0
        while i + 8 <= n {   // 8 lanes at a time: p ≥ 0 and p < ∞ (false for NaN), and any p > 0
            let p = VectorMath.load(probs + i)
            bad = bad || !all((p .>= 0) .& (p .< .infinity)); positive = positive || any(p .> 0)
            i += 8
        }
        while i < n { let p = probs[i]; bad = bad || !(p.isFinite && p >= 0); positive = positive || p > 0; i += 1 }
        if bad, let i = (0..<n).first(where: { !(probs[$0].isFinite && probs[$0] >= 0) }) {
            throw TensorError.invalidDistribution("weight \(i) of \(n) is \(probs[i]); sampling needs finite, non-negative weights (check the model's weights and logits for NaN/Inf)")
        }
        guard positive else {
            throw TensorError.invalidDistribution("the \(n) weights sum to 0; sampling needs a positive finite total")
        }
        return categorical(probs, count: n)
    }

    /// Σ probs[i] in Double, in 4 interleaved partial sums (i mod 4) added at the end: a fixed
    /// order (the same bits on every run and thread count) without one serial chain of n adds.
    /// The four partial sums are the lanes of one `SIMD4<Double>` (the same additions, vectorised).
    public static func sum(_ probs: UnsafePointer<Float>, count n: Int) -> Double {
        var s = SIMD4<Double>(repeating: 0)
        var i = 0
        while i + 4 <= n {
            s += SIMD4<Double>(Double(probs[i]), Double(probs[i + 1]), Double(probs[i + 2]), Double(probs[i + 3]))
            i += 4
        }
        while i < n { s[0] += Double(probs[i]); i += 1 }
        return (s[0] + s[1]) + (s[2] + s[3])
    }

    /// ``checkedCategorical(_:count:)`` of an n-wide row that is zero outside `ids` (ascending,
    /// unique, in `0..<n`), given as its K values `values[k]` at index `ids[k]` and their
    /// ``SubsetLanes`` (width 4): the same index and the same draw from this stream (one uniform),
    /// for K reads instead of n — the total is ``sum(_:lanes:)`` (bitwise the full row's) and the
    /// inverse-CDF scan meets the positive weights in the same ascending order. Used for a trimmed
    /// draft head's distribution.
    /// - Throws: ``TensorError/invalidDistribution(_:)`` for a NaN, infinite or negative value or a
    ///   total of 0.
    public mutating func checkedCategorical(_ values: UnsafePointer<Float>, ids: UnsafeBufferPointer<Int32>,
                                            lanes: SubsetLanes, count n: Int) throws -> Int {
        let K = ids.count
        var bad = false, k = 0
        while k + 8 <= K {   // finite and non-negative, 8 lanes at a time (false for NaN)
            let v = VectorMath.load(values + k)
            bad = bad || !all((v .>= 0) .& (v .< .infinity))
            k += 8
        }
        while k < K { bad = bad || !(values[k].isFinite && values[k] >= 0); k += 1 }
        if bad, let k = (0..<K).first(where: { !(values[$0].isFinite && values[$0] >= 0) }) {
            throw TensorError.invalidDistribution("weight \(ids[k]) of \(n) is \(values[k]); sampling needs finite, non-negative weights (check the model's weights and logits for NaN/Inf)")
        }
        let total = RandomGenerator.sum(values, lanes: lanes)
        guard total > 0 else {
            throw TensorError.invalidDistribution("the \(n) weights sum to 0; sampling needs a positive finite total")
        }
        let r = uniformDouble() * total
        var acc: Double = 0
        var last = 0
        for k in 0..<K where values[k] > 0 {
            acc += Double(values[k])
            last = Int(ids[k])
            if r < acc { return last }
        }
        return last  // r landed on the rounding edge of the total
    }

    /// Index drawn from the categorical distribution with weights `probs`.
    public mutating func categorical(_ probs: [Float]) -> Int {
        probs.withUnsafeBufferPointer { categorical($0.baseAddress!, count: $0.count) }
    }
}

/// Vector building blocks shared by the fast kernels (softmax family, cross-entropy,
/// activations): 8-lane reductions over a row and a vectorised `exp`.
///
/// Swift does not vectorise floating-point reductions (it must keep the sequential order) nor
/// calls to `expf`, so these are written with `SIMD8<Float>`. Every function here visits the
/// elements in a fixed order that depends only on `n`, so results are deterministic.
enum VectorMath {
    typealias V8 = SIMD8<Float>

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> V8 {
        UnsafeRawPointer(p).loadUnaligned(as: V8.self)
    }

    @inline(__always)
    static func store(_ v: V8, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: V8.self)
    }

    /// `max_i p[i]` for `n >= 1`.
    @inline(__always)
    static func max(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var i = 0
        var m = -Float.infinity
        if n >= 8 {
            var acc = load(p)
            i = 8
            // replace(with:where:) rather than pointwiseMax, which compiles to a call per vector.
            while i + 8 <= n { let x = load(p + i); acc.replace(with: x, where: x .> acc); i += 8 }
            m = acc.max()
        }
        while i < n { m = Swift.max(m, p[i]); i += 1 }
        return m
    }

    /// `Σ_i p[i]` with 8 interleaved partial sums (lane j sums indices ≡ j mod 8), then the tail.
    @inline(__always)
    static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = V8(repeating: 0)
        var i = 0
        while i + 8 <= n { acc += load(p + i); i += 8 }
        var s = acc.sum()
        while i < n { s += p[i]; i += 1 }
        return s
    }

    /// `Σ_i a[i] · b[i]`, same order as ``sum(_:_:)``.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = V8(repeating: 0)
        var i = 0
        while i + 8 <= n { acc += load(a + i) * load(b + i); i += 8 }
        var s = acc.sum()
        while i < n { s += a[i] * b[i]; i += 1 }
        return s
    }

    // Cephes-style single-precision exp: x = k·ln2 + r with |r| ≤ ln2/2, a degree-6 polynomial
    // for e^r, and 2^k assembled in the exponent bits. Relative error ≈ 2 ulp on the range
    // below; inputs under `expLow` give exactly 0 (so -inf masks give 0), above `expHigh`
    // are clamped (e^88.3 ≈ 2e38, the largest finite result).
    static let expLow: Float = -87.33
    static let expHigh: Float = 88.3
    private static let log2e: Float = 1.442_695_04
    private static let ln2Hi: Float = 0.693_359_375
    private static let ln2Lo: Float = -2.121_944_4e-4
    private static let roundMagic: Float = 12_582_912  // 1.5 · 2^23
    private static let roundMagicBits = Int32(bitPattern: Float(12_582_912).bitPattern)

    /// Element-wise `e^x`.
    @inline(__always)
    static func exp(_ x: V8) -> V8 {
        // Clamped with masks: pointwiseMin/Max compile to calls with per-lane branches.
        var xc = x
        xc.replace(with: V8(repeating: expLow), where: xc .< V8(repeating: expLow))
        xc.replace(with: V8(repeating: expHigh), where: xc .> V8(repeating: expHigh))
        // Round x·log2(e) to the nearest integer k by adding 1.5·2^23: the sum's low mantissa
        // bits then hold k, which also gives the integer without a float-to-int conversion.
        let shifted = xc * log2e + roundMagic
        let k = shifted - roundMagic
        let r = xc - k * ln2Hi - k * ln2Lo
        var p: V8 = V8(repeating: 1.987_569_15e-4)
        p = p * r + 1.398_199_95e-3
        p = p * r + 8.333_451_9e-3
        p = p * r + 4.166_579_59e-2
        p = p * r + 1.666_666_55e-1
        p = p * r + 5.000_000_12e-1
        p = p * (r * r) + r + 1
        let ki = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- roundMagicBits
        let scale = unsafeBitCast((ki &+ 127) &<< 23, to: V8.self)
        return (p * scale).replacing(with: 0, where: x .< expLow)
    }

    /// ``exp(_:)``, or zeros without evaluating it when every lane is below ``expLow`` (where it
    /// gives exactly 0 anyway): the logits a trimmed output layer excludes cost one compare.
    @inline(__always)
    static func expOrZero(_ x: V8) -> V8 {
        any(x .>= V8(repeating: expLow)) ? exp(x) : V8(repeating: 0)
    }

    /// Scalar `e^x` with the same polynomial (for tails, so a row's elements are all computed
    /// by the same formula).
    @inline(__always)
    static func exp(_ x: Float) -> Float {
        exp(V8(repeating: x))[0]
    }

    /// `out[i] = e^((input[i] − shift)·scale)`, eight at a time (``expOrZero(_:)``: a chunk that
    /// all underflows is stored as zeros), the tail through one partial vector: every element is
    /// the lane-wise ``exp(_:)`` of its own argument, whatever its neighbours. `out` may alias `input`.
    @inline(__always)
    static func expScaled(out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, n: Int, shift: Float, scale: Float) {
        let mv = V8(repeating: shift), sv = V8(repeating: scale)
        var i = 0
        while i + 8 <= n { store(expOrZero((load(input + i) - mv) * sv), out + i); i += 8 }
        if i < n {
            let e = exp((loadPartial(input + i, n - i) - mv) * sv)
            for j in 0..<(n - i) { out[i + j] = e[j] }
        }
    }

    /// `out[i] = e^(input[i] - shift)`; returns `Σ_i out[i]` (order as ``sum(_:_:)``).
    /// `out` may alias `input`.
    @inline(__always)
    static func expShifted(out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, n: Int, shift: Float) -> Float {
        var acc = V8(repeating: 0)
        var i = 0
        let s = V8(repeating: shift)
        while i + 8 <= n {
            let e = exp(load(input + i) - s)
            store(e, out + i)
            acc += e
            i += 8
        }
        var total = acc.sum()
        while i < n { let e = exp(input[i] - shift); out[i] = e; total += e; i += 1 }
        return total
    }

    /// `Σ_i e^(input[i] - shift)` without storing the terms.
    @inline(__always)
    static func sumExpShifted(_ input: UnsafePointer<Float>, n: Int, shift: Float) -> Float {
        var acc = V8(repeating: 0)
        var i = 0
        let s = V8(repeating: shift)
        while i + 8 <= n { acc += exp(load(input + i) - s); i += 8 }
        var total = acc.sum()
        while i < n { total += exp(input[i] - shift); i += 1 }
        return total
    }

    /// The first `k` (< 8) elements of `p`, the other lanes 0: lets a row's tail go through the
    /// same vector formula as its body, so every element's result is independent of where
    /// chunk boundaries fall.
    @inline(__always)
    static func loadPartial(_ p: UnsafePointer<Float>, _ k: Int) -> V8 {
        var v = V8(repeating: 0)
        for j in 0..<k { v[j] = p[j] }
        return v
    }

    /// Stores the first `k` lanes of `v` to `p`.
    @inline(__always)
    static func storePartial(_ v: V8, _ p: UnsafeMutablePointer<Float>, _ k: Int) {
        for j in 0..<k { p[j] = v[j] }
    }

    /// `out[i] = f(a[i])` for `i < n`, 8 at a time (the tail through the same `f`).
    @inline(__always)
    static func map(out: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ n: Int, _ f: (V8) -> V8) {
        var i = 0
        while i + 8 <= n { store(f(load(a + i)), out + i); i += 8 }
        if i < n { storePartial(f(loadPartial(a + i, n - i)), out + i, n - i) }
    }

    /// `out[i] += f(a[i], b[i])` for `i < n`, 8 at a time (the tail through the same `f`).
    @inline(__always)
    static func accumulate(into out: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                           _ n: Int, _ f: (V8, V8) -> V8) {
        var i = 0
        while i + 8 <= n { store(load(out + i) + f(load(a + i), load(b + i)), out + i); i += 8 }
        if i < n {
            let k = n - i
            storePartial(loadPartial(out + i, k) + f(loadPartial(a + i, k), loadPartial(b + i, k)), out + i, k)
        }
    }

    /// Element-wise logistic sigmoid `1 / (1 + e^-x)`.
    @inline(__always)
    static func sigmoid(_ x: V8) -> V8 {
        1 / (1 + exp(-x))
    }

    /// Rows per chunk of ``parallelFor(_:minChunk:_:)`` for row kernels touching `perRow`
    /// elements: about 16K elements per chunk, below which a second thread costs more than it saves.
    @inline(__always)
    static func rowChunk(_ perRow: Int) -> Int {
        Swift.max(1, 16_384 / Swift.max(1, perRow))
    }

    /// Columns per chunk for kernels that sum over rows in parallel over columns (weight and
    /// bias gradients, embedding scatter-add): about 16K elements per chunk, and at least 16
    /// columns so each row segment fills whole vectors.
    @inline(__always)
    static func columnChunk(rows: Int) -> Int {
        Swift.max(16, 16_384 / Swift.max(1, rows))
    }

    /// Elements per chunk for element-wise kernels.
    static let elementChunk = 32_768
}

/// The row softmax of attention and its backward, vectorised with `SIMD8<Float>` (the package is
/// built for baseline x86-64, so every operation here is SSE2: no rounding instruction, no
/// gather, no float↔int conversion beyond bit casts).
extension Attention {
    /// In place: `p[0..<visible] = softmax(scale · p[0..<visible])`, `p[visible..<count] = 0`.
    /// The maximum is subtracted before exponentiating, so large scores do not overflow.
    @inline(__always)
    static func causalSoftmaxRow(_ p: UnsafeMutablePointer<Float>, visible: Int, count: Int, scale: Float) {
        let raw = UnsafeMutableRawPointer(p)
        var j = 0
        var top8 = SIMD8<Float>(repeating: -.infinity)
        while j + 8 <= visible {
            let x = scale * raw.loadUnaligned(fromByteOffset: 4 * j, as: SIMD8<Float>.self)
            top8.replace(with: x, where: x .> top8)  // not pointwiseMax: that one is not inlined
            j += 8
        }
        var top = top8.max()
        while j < visible { top = Swift.max(top, scale * p[j]); j += 1 }
        var sum8 = SIMD8<Float>(repeating: 0)
        j = 0
        while j + 8 <= visible {
            let e = exp8(scale * raw.loadUnaligned(fromByteOffset: 4 * j, as: SIMD8<Float>.self) - top)
            raw.storeBytes(of: e, toByteOffset: 4 * j, as: SIMD8<Float>.self)
            sum8 += e
            j += 8
        }
        if j < visible {  // the tail through one padded vector
            var x = SIMD8<Float>(repeating: -.infinity)
            for l in 0..<(visible - j) { x[l] = scale * p[j + l] - top }
            let e = exp8(x)
            for l in 0..<(visible - j) { p[j + l] = e[l]; sum8[l] += e[l] }
        }
        let inverse = 1 / sum8.sum()
        j = 0
        while j + 8 <= visible {
            raw.storeBytes(of: inverse * raw.loadUnaligned(fromByteOffset: 4 * j, as: SIMD8<Float>.self),
                           toByteOffset: 4 * j, as: SIMD8<Float>.self)
            j += 8
        }
        while j < visible { p[j] *= inverse; j += 1 }
        if visible < count { (p + visible).update(repeating: 0, count: count - visible) }
    }

    /// In place: `d[j] = P[j] · (d[j] − Σ_i P[i] d[i])` for `j < visible`, `d[visible..<count] = 0`.
    @inline(__always)
    static func softmaxBackwardRow(_ d: UnsafeMutablePointer<Float>, probs p: UnsafePointer<Float>, visible: Int, count: Int) {
        let rd = UnsafeMutableRawPointer(d), rp = UnsafeRawPointer(p)
        var dot8 = SIMD8<Float>(repeating: 0)
        var j = 0
        while j + 8 <= visible {
            dot8 += rp.loadUnaligned(fromByteOffset: 4 * j, as: SIMD8<Float>.self)
                * rd.loadUnaligned(fromByteOffset: 4 * j, as: SIMD8<Float>.self)
            j += 8
        }
        var dot = dot8.sum()
        while j < visible { dot += p[j] * d[j]; j += 1 }
        j = 0
        while j + 8 <= visible {
            let x = rd.loadUnaligned(fromByteOffset: 4 * j, as: SIMD8<Float>.self)
            let y = rp.loadUnaligned(fromByteOffset: 4 * j, as: SIMD8<Float>.self) * (x - dot)
            rd.storeBytes(of: y, toByteOffset: 4 * j, as: SIMD8<Float>.self)
            j += 8
        }
        while j < visible { d[j] = p[j] * (d[j] - dot); j += 1 }
        if visible < count { (d + visible).update(repeating: 0, count: count - visible) }
    }

    /// `exp` of eight floats to about 2 ulp (Cephes `expf`: `x = n·ln2 + r`, |r| ≤ ln2/2, degree-6
    /// polynomial for `e^r`, `2^n` built in the exponent bits). Inputs are clamped to
    /// [−87.3, 88.7], so `exp(−∞)` gives 1.2e-38 rather than 0 (harmless next to a softmax's
    /// largest term, which is 1).
    @inline(__always)
    static func exp8(_ x: SIMD8<Float>) -> SIMD8<Float> {
        let low = SIMD8<Float>(repeating: -87.33654), high = SIMD8<Float>(repeating: 88.37626)
        var xc = x  // clamped by masks (pointwiseMin/Max compile to calls with per-lane branches)
        xc.replace(with: low, where: xc .< low)
        xc.replace(with: high, where: xc .> high)
        // n = round(x / ln2) by the 1.5·2^23 trick; the integer n sits in t's low mantissa bits.
        let magic: Float = 12_582_912
        let t = xc * 1.442_695_04 + magic
        let n = t - magic
        var r = xc - n * 0.693_359_375  // ln2 split in two for an exact first product
        r = r - n * -2.121_944_4e-4
        var poly = SIMD8<Float>(repeating: 1.987_569_15e-4)
        poly = poly * r + 1.398_199_95e-3
        poly = poly * r + 8.333_451_9e-3
        poly = poly * r + 4.166_579_59e-2
        poly = poly * r + 1.666_666_55e-1
        poly = poly * r + 5.000_000_12e-1
        poly = poly * (r * r) + r + 1
        let nBits = unsafeBitCast(t, to: SIMD8<Int32>.self) &- Int32(bitPattern: magic.bitPattern)
        let twoToN = unsafeBitCast((nBits &+ 127) &<< 23, to: SIMD8<Float>.self)
        return poly * twoToN
    }
}

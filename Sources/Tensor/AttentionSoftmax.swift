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

    /// `exp` of eight floats: the project's one vectorised exponential (``VectorMath/exp(_:)``,
    /// Cephes-style, about 2 ulp; inputs below −87.33 give exactly 0).
    @inline(__always)
    static func exp8(_ x: SIMD8<Float>) -> SIMD8<Float> { VectorMath.exp(x) }
}

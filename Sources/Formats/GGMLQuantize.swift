/// Quantisation of Float32 rows into ggml blocks, the inverse direction of `GGMLDequantize.swift`,
/// for writing GGUF files that llama.cpp loads (`specdistill quantize`). Round-to-nearest
/// formulas (llama.cpp's reference quantisers for Q8_0 and Q4_0; a min/max fit for Q4_K), so for
/// each element the error after dequantisation is bounded by half a quantisation step:
/// - Q8_0: d = max|x| / 127, q = round(x / d) ∈ [−127, 127]: |x − d·q| ≤ d/2 + 127·d·2⁻¹¹ (the
///   second term: d is stored as f16, relative rounding ≤ 2⁻¹¹, multiplied by |q| ≤ 127).
/// - Q4_0: d = m / −8 with m the element of largest |x| (sign kept), q = clamp(round(x/d) + 8, 0, 15):
///   |x − d·(q − 8)| ≤ |d|/2, and ≤ |d| at the clamped end of the range (plus f16 rounding of d).
/// - Q4_K: per sub-block of 32 a scale s = (max − min)/15 and an offset −min (min ≤ 0), stored as
///   6-bit multiples sc, mn of the super-block's f16 `d = max s / 63` and `dmin = max(−min) / 63`;
///   q = round((x − min)/(d·sc)) ∈ 0…15. Error ≤ (s + d/2)/2 (half the effective step d·sc ≤ s + d/2)
///   + 15·d/2 (the step's own 6-bit rounding, times q) + dmin/2 (the offset's rounding).
///   (llama.cpp's quantiser searches scales iteratively and gets ~10% lower error; the format is the same.)
extension GGMLType {
    /// Types `quantize(_:count:)` can write.
    public static let quantizable: Set<GGMLType> = [.f32, .f16, .q8_0, .q4_0, .q4_K]

    /// `count` floats as this type's bytes (`count / blockSize · blockBytes`).
    /// - Precondition: `self` is in ``quantizable`` and `count` is a multiple of `blockSize`.
    public func quantize(_ x: UnsafePointer<Float>, count: Int) -> [UInt8] {
        precondition(Self.quantizable.contains(self), "GGMLType.quantize: \(self) has no quantiser")
        precondition(count % blockSize == 0, "GGMLType.quantize: count \(count) is not a multiple of \(blockSize) for \(self)")
        let nb = count / blockSize
        var out = [UInt8](repeating: 0, count: nb * blockBytes)
        out.withUnsafeMutableBufferPointer { o in
            let p = o.baseAddress!
            switch self {
            case .f32: UnsafeMutableRawPointer(p).copyMemory(from: x, byteCount: count * 4)
            case .f16: for i in 0..<count { putF16(p, 2 * i, x[i]) }
            case .q8_0: for b in 0..<nb { Self.quantizeQ8_0(x + 32 * b, p + 34 * b) }
            case .q4_0: for b in 0..<nb { Self.quantizeQ4_0(x + 32 * b, p + 18 * b) }
            case .q4_K: for b in 0..<nb { Self.quantizeQ4_K(x + 256 * b, p + 144 * b) }
            default: preconditionFailure("unreachable")
            }
        }
        return out
    }

    static func quantizeQ8_0(_ x: UnsafePointer<Float>, _ p: UnsafeMutablePointer<UInt8>) {
        var amax: Float = 0
        for j in 0..<32 { amax = max(amax, abs(x[j])) }
        let d = amax / 127, id: Float = d > 0 ? 1 / d : 0
        putF16(p, 0, d)
        for j in 0..<32 { p[2 + j] = UInt8(bitPattern: Int8(max(-127, min(127, (x[j] * id).rounded())))) }
    }

    static func quantizeQ4_0(_ x: UnsafePointer<Float>, _ p: UnsafeMutablePointer<UInt8>) {
        var amax: Float = 0, m: Float = 0
        for j in 0..<32 where abs(x[j]) > amax { amax = abs(x[j]); m = x[j] }
        let d = m / -8, id: Float = d != 0 ? 1 / d : 0
        putF16(p, 0, d)
        func q(_ v: Float) -> UInt8 { UInt8(max(0, min(15, Int((v * id + 8.5).rounded(.down))))) }
        for j in 0..<16 { p[2 + j] = q(x[j]) | q(x[j + 16]) << 4 }
    }

    static func quantizeQ4_K(_ x: UnsafePointer<Float>, _ p: UnsafeMutablePointer<UInt8>) {
        // Per sub-block: scale s_j = (max − min)/15 ≥ 0 and offset m_j = −min ≥ 0 (min ≤ 0 forced,
        // as llama.cpp does, so that x = s·q − m covers 0).
        var scale = [Float](repeating: 0, count: 8), offset = [Float](repeating: 0, count: 8)
        for j in 0..<8 {
            var lo = x[32 * j], hi = x[32 * j]
            for l in 0..<32 { lo = min(lo, x[32 * j + l]); hi = max(hi, x[32 * j + l]) }
            lo = min(lo, 0)
            scale[j] = (hi - lo) / 15; offset[j] = -lo
        }
        let maxScale = scale.max()!, maxOffset = offset.max()!
        let d = maxScale / 63, dmin = maxOffset / 63
        putF16(p, 0, d); putF16(p, 2, dmin)
        // Use the f16-rounded d, dmin as the decoder will.
        let dq = HalfFloat.fromF16(HalfFloat.toF16(d)), dminq = HalfFloat.fromF16(HalfFloat.toF16(dmin))
        var sc = [UInt8](repeating: 0, count: 8), mn = [UInt8](repeating: 0, count: 8)
        for j in 0..<8 {
            sc[j] = dq > 0 ? UInt8(max(0, min(63, (scale[j] / dq).rounded()))) : 0
            mn[j] = dminq > 0 ? UInt8(max(0, min(63, (offset[j] / dminq).rounded()))) : 0
        }
        let s = p + 4
        for j in 0..<4 {
            s[j] = (sc[j] & 63) | ((sc[j + 4] >> 4) << 6)
            s[j + 4] = (mn[j] & 63) | ((mn[j + 4] >> 4) << 6)
            s[j + 8] = (sc[j + 4] & 0x0F) | ((mn[j + 4] & 0x0F) << 4)
        }
        let qs = p + 16
        for c in 0..<4 {
            var q0 = [UInt8](repeating: 0, count: 32), q1 = q0
            for (h, j) in [2 * c, 2 * c + 1].enumerated() {
                let step = dq * Float(sc[j]), m = dminq * Float(mn[j])
                let inv: Float = step > 0 ? 1 / step : 0
                for l in 0..<32 {
                    let q = UInt8(max(0, min(15, ((x[32 * j + l] + m) * inv).rounded())))
                    if h == 0 { q0[l] = q } else { q1[l] = q }
                }
            }
            for l in 0..<32 { qs[32 * c + l] = q0[l] | q1[l] << 4 }
        }
    }
}

@inline(__always)
private func putF16(_ p: UnsafeMutablePointer<UInt8>, _ offset: Int, _ v: Float) {
    let h = HalfFloat.toF16(v)
    p[offset] = UInt8(h & 0xFF); p[offset + 1] = UInt8(h >> 8)
}

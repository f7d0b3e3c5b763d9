/// Quantisation of Float32 rows into ggml blocks, the inverse direction of `GGMLDequantize.swift`,
/// for writing GGUF files that llama.cpp loads (`specdistill quantize`). Round-to-nearest
/// formulas (llama.cpp's reference quantisers for Q8_0 and Q4_0; a min/max fit for Q4_K), so for
/// each element the error after dequantisation is bounded by half a quantisation step:
/// - Q8_0: d = max|x| / 127, q = round(x / d) ∈ [−127, 127]: |x − d·q| ≤ d/2 + 127·d·2⁻¹¹ (the
///   second term: d is stored as f16, relative rounding ≤ 2⁻¹¹, multiplied by |q| ≤ 127).
/// - Q4_0: d = m / −8 with m the element of largest |x| (sign kept), q = clamp(round(x/d) + 8, 0, 15):
///   |x − d·(q − 8)| ≤ |d|/2, and ≤ |d| at the clamped end of the range (plus f16 rounding of d).
/// - Q4_K (L = 15) and Q5_K (L = 31): per sub-block of 32 a scale s = (max − min)/L and an offset
///   −min (min ≤ 0), stored as 6-bit multiples sc, mn of the super-block's f16 `d = max s / 63` and
///   `dmin = max(−min) / 63`; q = round((x − min)/(d·sc)) ∈ 0…L. Error ≤ (s + d/2)/2 (half the
///   effective step d·sc ≤ s + d/2) + L·d/2 (the step's own 6-bit rounding, times q) + dmin/2 (the
///   offset's rounding). (llama.cpp's quantisers search scales iteratively and get ~10% lower
///   error; the formats are the same.)
/// - F16: round to nearest even, |x − y| ≤ 2⁻¹¹·|x| in the normal range (2⁻²⁵ absolute below it).
/// - BF16: ggml's `GGML_FP32_TO_BF16`: round to nearest even on the top 16 bits (NaN kept quiet),
///   |x − y| ≤ 2⁻⁸·|x|.
extension GGMLType {
    /// Types `quantize(_:count:)` can write.
    public static let quantizable: Set<GGMLType> = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_K, .q5_K]

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
            case .bf16:
                for i in 0..<count {
                    let h = HalfFloat.toBF16(x[i])
                    p[2 * i] = UInt8(h & 0xFF); p[2 * i + 1] = UInt8(h >> 8)
                }
            case .q8_0: for b in 0..<nb { Self.quantizeQ8_0(x + 32 * b, p + 34 * b) }
            case .q4_0: for b in 0..<nb { Self.quantizeQ4_0(x + 32 * b, p + 18 * b) }
            case .q4_K: for b in 0..<nb { Self.quantizeQ4_K(x + 256 * b, p + 144 * b) }
            case .q5_K: for b in 0..<nb { Self.quantizeQ5_K(x + 256 * b, p + 176 * b) }
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

    /// Q4_K: d, dmin, scales (``fitK(_:levels:_:)``), then qs[128]: byte chunk c holds sub-block
    /// 2c in its low nibbles and 2c + 1 in its high nibbles.
    static func quantizeQ4_K(_ x: UnsafePointer<Float>, _ p: UnsafeMutablePointer<UInt8>) {
        let q = fitK(x, levels: 15, p), qs = p + 16
        for c in 0..<4 { for l in 0..<32 { qs[32 * c + l] = q[64 * c + l] | q[64 * c + 32 + l] << 4 } }
    }

    /// Q5_K: as Q4_K with q ∈ 0…31: the low 4 bits in qs[128] (at byte 48), bit 4 of element l of
    /// sub-block j in bit j of qh[l] (qh[32] at byte 16).
    static func quantizeQ5_K(_ x: UnsafePointer<Float>, _ p: UnsafeMutablePointer<UInt8>) {
        let q = fitK(x, levels: 31, p), qh = p + 16, qs = p + 48
        for l in 0..<32 {
            var h: UInt8 = 0
            for j in 0..<8 { h |= (q[32 * j + l] >> 4) << UInt8(j) }
            qh[l] = h
        }
        for c in 0..<4 { for l in 0..<32 { qs[32 * c + l] = (q[64 * c + l] & 0x0F) | (q[64 * c + 32 + l] & 0x0F) << 4 } }
    }

    /// The min/max fit shared by Q4_K and Q5_K (one super-block of 256): writes d and dmin (f16) at
    /// p and the 12 packed 6-bit scale/min bytes at p + 4 (the layout ``scaleMinK4(_:_:)`` reads),
    /// and returns q[256] ∈ 0…levels with x ≈ (d·sc_j)·q − dmin·mn_j for element 32j + l.
    static func fitK(_ x: UnsafePointer<Float>, levels: Int, _ p: UnsafeMutablePointer<UInt8>) -> [UInt8] {
        // Per sub-block: scale s_j = (max − min)/L ≥ 0 and offset m_j = −min ≥ 0 (min ≤ 0 forced,
        // as llama.cpp does, so that x = s·q − m covers 0).
        let L = Float(levels)
        var scale = [Float](repeating: 0, count: 8), offset = [Float](repeating: 0, count: 8)
        for j in 0..<8 {
            var lo = x[32 * j], hi = x[32 * j]
            for l in 0..<32 { lo = min(lo, x[32 * j + l]); hi = max(hi, x[32 * j + l]) }
            lo = min(lo, 0)
            scale[j] = (hi - lo) / L; offset[j] = -lo
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
        var q = [UInt8](repeating: 0, count: 256)
        for j in 0..<8 {
            let step = dq * Float(sc[j]), m = dminq * Float(mn[j])
            let inv: Float = step > 0 ? 1 / step : 0
            for l in 0..<32 { q[32 * j + l] = UInt8(max(0, min(L, ((x[32 * j + l] + m) * inv).rounded()))) }
        }
        return q
    }
}

@inline(__always)
private func putF16(_ p: UnsafeMutablePointer<UInt8>, _ offset: Int, _ v: Float) {
    let h = HalfFloat.toF16(v)
    p[offset] = UInt8(h & 0xFF); p[offset + 1] = UInt8(h >> 8)
}

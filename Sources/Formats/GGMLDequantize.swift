/// Dequantisation of ggml blocks to Float32: plain scalar loops, one function per type, following
/// the block layouts of ggml (`ggml-common.h`, `dequantize_row_*` in `ggml-quants.c`) and gguf-py
/// (`gguf/quants.py`). Products are evaluated in the same order as those references (for
/// example `(d · sc) · q − dmin · m` for Q4_K), so results match them bit for bit.
///
/// All multi-byte fields are little-endian; `d`, `m`, `dmin` are IEEE binary16.
extension GGMLType {
    /// Converts `count` elements stored as this type at `src` into `into[0..<count]`.
    /// - Precondition: `isDequantizable`, and `count` is a multiple of `blockSize`; `src` holds
    ///   `count / blockSize * blockBytes` readable bytes.
    public func dequantize(_ src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, count: Int) {
        precondition(isDequantizable, "GGMLType.dequantize: \(self) has no dequantiser")
        precondition(count >= 0 && count % blockSize == 0, "GGMLType.dequantize: count \(count) is not a multiple of \(blockSize) for \(self)")
        let nb = count / blockSize
        let q = src.assumingMemoryBound(to: UInt8.self)
        switch self {
        case .f32: UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: count * 4)
        case .f16: for i in 0..<count { dst[i] = HalfFloat.fromF16(half(q, 2 * i)) }
        case .bf16: for i in 0..<count { dst[i] = HalfFloat.fromBF16(half(q, 2 * i)) }
        case .q4_0: Self.q4_0(q, dst, nb)
        case .q4_1: Self.q4_1(q, dst, nb)
        case .q5_0: Self.q5_0(q, dst, nb)
        case .q5_1: Self.q5_1(q, dst, nb)
        case .q8_0: Self.q8_0(q, dst, nb)
        case .q4_K: Self.q4_K(q, dst, nb)
        case .q5_K: Self.q5_K(q, dst, nb)
        case .q6_K: Self.q6_K(q, dst, nb)
        default: preconditionFailure("unreachable: \(self) is listed as dequantizable without a dequantiser")
        }
    }
}

@inline(__always)
private func half(_ p: UnsafePointer<UInt8>, _ offset: Int) -> UInt16 {
    UInt16(p[offset]) | UInt16(p[offset + 1]) << 8
}

@inline(__always)
private func loadF16(_ p: UnsafePointer<UInt8>, _ offset: Int) -> Float { HalfFloat.fromF16(half(p, offset)) }

// MARK: Legacy quants, QK = 32 elements per block. Byte j of qs holds element j (low nibble)
// and element j + 16 (high nibble).

extension GGMLType {
    /// Q4_0 (18 bytes): d; qs[16]. x = d · (q − 8), q ∈ 0…15.
    static func q4_0(_ src: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>, _ nb: Int) {
        for b in 0..<nb {
            let p = src + b * 18, out = y + b * 32
            let d = loadF16(p, 0)
            for j in 0..<16 {
                out[j] = d * Float(Int(p[2 + j] & 0x0F) - 8)
                out[j + 16] = d * Float(Int(p[2 + j] >> 4) - 8)
            }
        }
    }

    /// Q4_1 (20 bytes): d, m; qs[16]. x = d · q + m.
    static func q4_1(_ src: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>, _ nb: Int) {
        for b in 0..<nb {
            let p = src + b * 20, out = y + b * 32
            let d = loadF16(p, 0), m = loadF16(p, 2)
            for j in 0..<16 {
                out[j] = d * Float(p[4 + j] & 0x0F) + m
                out[j + 16] = d * Float(p[4 + j] >> 4) + m
            }
        }
    }

    /// Q5_0 (22 bytes): d; qh (u32, bit j = 5th bit of element j); qs[16]. x = d · (q − 16).
    static func q5_0(_ src: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>, _ nb: Int) {
        for b in 0..<nb {
            let p = src + b * 22, out = y + b * 32
            let d = loadF16(p, 0)
            let qh = UInt32(p[2]) | UInt32(p[3]) << 8 | UInt32(p[4]) << 16 | UInt32(p[5]) << 24
            for j in 0..<16 {
                let lo = Int(p[6 + j] & 0x0F) | Int((qh >> UInt32(j)) & 1) << 4
                let hi = Int(p[6 + j] >> 4) | Int((qh >> UInt32(j + 16)) & 1) << 4
                out[j] = d * Float(lo - 16)
                out[j + 16] = d * Float(hi - 16)
            }
        }
    }

    /// Q5_1 (24 bytes): d, m; qh; qs[16]. x = d · q + m, q ∈ 0…31.
    static func q5_1(_ src: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>, _ nb: Int) {
        for b in 0..<nb {
            let p = src + b * 24, out = y + b * 32
            let d = loadF16(p, 0), m = loadF16(p, 2)
            let qh = UInt32(p[4]) | UInt32(p[5]) << 8 | UInt32(p[6]) << 16 | UInt32(p[7]) << 24
            for j in 0..<16 {
                let lo = UInt32(p[8 + j] & 0x0F) | ((qh >> UInt32(j)) & 1) << 4
                let hi = UInt32(p[8 + j] >> 4) | ((qh >> UInt32(j + 16)) & 1) << 4
                out[j] = d * Float(lo) + m
                out[j + 16] = d * Float(hi) + m
            }
        }
    }

    /// Q8_0 (34 bytes): d; qs[32] as int8. x = q · d.
    static func q8_0(_ src: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>, _ nb: Int) {
        for b in 0..<nb {
            let p = src + b * 34, out = y + b * 32
            let d = loadF16(p, 0)
            for j in 0..<32 { out[j] = Float(Int8(bitPattern: p[2 + j])) * d }
        }
    }
}

// MARK: K-quants, QK_K = 256 elements per super-block.

extension GGMLType {
    /// The 6-bit scale and min of sub-block `j` (0…7) packed in 12 bytes: for j < 4 the low 6
    /// bits of bytes j and j + 4; for j ≥ 4 the nibbles of byte j + 4 joined with the top 2 bits
    /// of bytes j − 4 (scale) and j (min).
    @inline(__always)
    static func scaleMinK4(_ s: UnsafePointer<UInt8>, _ j: Int) -> (sc: Float, m: Float) {
        if j < 4 { return (Float(s[j] & 63), Float(s[j + 4] & 63)) }
        let sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4)
        let m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4)
        return (Float(sc), Float(m))
    }

    /// Q4_K (144 bytes): d, dmin; scales[12]; qs[128]. Eight sub-blocks of 32; qs byte chunk c
    /// (32 bytes) holds sub-block 2c in its low nibbles and 2c + 1 in its high nibbles.
    /// x = (d · sc) · q − dmin · m.
    static func q4_K(_ src: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>, _ nb: Int) {
        for b in 0..<nb {
            let p = src + b * 144, out = y + b * 256
            let d = loadF16(p, 0), dmin = loadF16(p, 2)
            let scales = p + 4, qs = p + 16
            for c in 0..<4 {
                let (sc0, m0) = scaleMinK4(scales, 2 * c), (sc1, m1) = scaleMinK4(scales, 2 * c + 1)
                let d0 = d * sc0, dm0 = dmin * m0, d1 = d * sc1, dm1 = dmin * m1
                for l in 0..<32 {
                    let byte = qs[32 * c + l]
                    out[64 * c + l] = d0 * Float(byte & 0x0F) - dm0
                    out[64 * c + 32 + l] = d1 * Float(byte >> 4) - dm1
                }
            }
        }
    }

    /// Q5_K (176 bytes): d, dmin; scales[12]; qh[32]; qs[128]. As Q4_K, plus the 5th bit of
    /// element l of sub-block s in bit s of qh[l]. x = (d · sc) · q − dmin · m, q ∈ 0…31.
    static func q5_K(_ src: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>, _ nb: Int) {
        for b in 0..<nb {
            let p = src + b * 176, out = y + b * 256
            let d = loadF16(p, 0), dmin = loadF16(p, 2)
            let scales = p + 4, qh = p + 16, qs = p + 48
            for c in 0..<4 {
                let (sc0, m0) = scaleMinK4(scales, 2 * c), (sc1, m1) = scaleMinK4(scales, 2 * c + 1)
                let d0 = d * sc0, dm0 = dmin * m0, d1 = d * sc1, dm1 = dmin * m1
                for l in 0..<32 {
                    let byte = qs[32 * c + l], high = qh[l]
                    let q0 = (byte & 0x0F) | ((high >> UInt8(2 * c)) & 1) << 4
                    let q1 = (byte >> 4) | ((high >> UInt8(2 * c + 1)) & 1) << 4
                    out[64 * c + l] = d0 * Float(q0) - dm0
                    out[64 * c + 32 + l] = d1 * Float(q1) - dm1
                }
            }
        }
    }

    /// Q6_K (210 bytes): ql[128]; qh[64]; scales[16] as int8; d. Two halves of 128 elements;
    /// in half h, element r (0…127) takes its low 4 bits from ql[64h + r mod 64] (high nibble
    /// when r ≥ 64) and its high 2 bits from qh[32h + r mod 32] (shifted by 2 · (r / 32)).
    /// x = (d · scales[e / 16]) · (q − 32) for element e of the super-block.
    static func q6_K(_ src: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>, _ nb: Int) {
        for b in 0..<nb {
            let p = src + b * 210, out = y + b * 256
            let ql = p, qh = p + 128, scales = p + 192
            let d = loadF16(p, 208)
            for h in 0..<2 {
                for r in 0..<128 {
                    let lowByte = ql[64 * h + r % 64]
                    let low = r < 64 ? lowByte & 0x0F : lowByte >> 4
                    let high = (qh[32 * h + r % 32] >> UInt8(2 * (r / 32))) & 3
                    let q = Int(low | high << 4) - 32
                    let e = 128 * h + r
                    let scale = d * Float(Int8(bitPattern: scales[e / 16]))
                    out[e] = scale * Float(q)
                }
            }
        }
    }
}

/// Conversions of 16-bit floating-point bit patterns to Float32, exact for every input
/// (subnormals, infinities and NaNs included), with no dependency on the host's Float16 support.
public enum HalfFloat {
    /// IEEE 754 binary16 (1 sign, 5 exponent, 10 mantissa bits) → binary32.
    @inline(__always)
    public static func fromF16(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exp = UInt32(h >> 10) & 0x1F
        let mant = UInt32(h) & 0x3FF
        if exp == 0x1F {  // inf / NaN: keep the payload
            return Float(bitPattern: sign | 0x7F80_0000 | (mant << 13))
        }
        if exp == 0 {  // zero / subnormal: mant × 2^-24, exact in binary32
            let magnitude = Float(mant) * 0x1p-24
            return sign != 0 ? -magnitude : magnitude
        }
        return Float(bitPattern: sign | ((exp + 112) << 23) | (mant << 13))
    }

    /// bfloat16 (the upper half of a binary32) → binary32.
    @inline(__always)
    static func fromBF16(_ b: UInt16) -> Float { Float(bitPattern: UInt32(b) << 16) }

    /// binary32 → bfloat16 as ggml's `GGML_FP32_TO_BF16`: round to nearest even on the top 16
    /// bits (overflow to ±inf), a NaN kept and made quiet.
    static func toBF16(_ f: Float) -> UInt16 {
        let u = f.bitPattern
        if u & 0x7FFF_FFFF > 0x7F80_0000 { return UInt16(u >> 16) | 64 }
        return UInt16((u &+ (0x7FFF + ((u >> 16) & 1))) >> 16)
    }

    /// binary32 → IEEE binary16 with round-to-nearest-even (overflow to ±inf, NaN kept quiet).
    public static func toF16(_ f: Float) -> UInt16 {
        let bits = f.bitPattern
        let sign = UInt16((bits >> 16) & 0x8000)
        let exp = Int((bits >> 23) & 0xFF)
        var mant = bits & 0x7F_FFFF
        if exp == 0xFF { return sign | 0x7C00 | (mant != 0 ? 0x200 | UInt16(mant >> 13) : 0) }
        var e = exp - 127 + 15
        if e >= 0x1F { return sign | 0x7C00 }
        if e <= 0 {  // subnormal half (or zero)
            if e < -10 { return sign }
            mant |= 0x80_0000
            let shift = UInt32(14 - e)
            var half = mant >> shift
            let rem = mant & ((1 << shift) - 1)
            let halfway = UInt32(1) << (shift - 1)
            if rem > halfway || (rem == halfway && (half & 1) == 1) { half += 1 }
            return sign | UInt16(half)
        }
        var half = mant >> 13
        let rem = mant & 0x1FFF
        if rem > 0x1000 || (rem == 0x1000 && (half & 1) == 1) {
            half += 1
            if half == 0x400 { half = 0; e += 1 }
            if e >= 0x1F { return sign | 0x7C00 }
        }
        return sign | UInt16(e << 10) | UInt16(half)
    }
}

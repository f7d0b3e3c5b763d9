import Foundation

/// SplitMix64: a tiny seeded generator, so input `i` of a campaign is the same on every run and
/// in the child process that re-creates it.
public struct FuzzRandom {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in `0..<n` (n > 0).
    public mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
    public mutating func chance(_ p: Double) -> Bool { Double(next() >> 11) / Double(1 << 53) < p }
    public mutating func pick<T>(_ xs: [T]) -> T { xs[below(xs.count)] }
}

/// Structure-aware mutations of binary files (GGUF, safetensors, teacher-cache shards): most
/// edits land in the header (`headerEnd` bytes), where sizes, counts, offsets and types live.
public enum BinaryMutator {
    /// Integers that break unchecked size arithmetic: 0, ±1, sign and word boundaries, 2^62.
    static let interesting64: [UInt64] = [0, 1, 2, 3, 7, 8, 31, 32, 255, 256, 4096, 65535, 1 << 20, 1 << 30, 1 << 31,
                                          (1 << 31) - 1, 1 << 32, (1 << 32) - 1, 1 << 40, 1 << 62, UInt64(Int64.max),
                                          UInt64.max, UInt64.max - 1, UInt64(bitPattern: -2), 0x8000_0000_0000_0000]
    /// Float bit patterns: NaN, ±Inf, huge, tiny, negative.
    static let interestingF32: [UInt32] = [0x7FC0_0000, 0x7F80_0000, 0xFF80_0000, 0x7F7F_FFFF, 0x0000_0001, 0xBF80_0000, 0]

    /// One mutated copy of `data`.
    public static func mutate(_ data: Data, headerEnd: Int, rng: inout FuzzRandom) -> Data {
        var b = [UInt8](data)
        let rounds = 1 + rng.below(3)
        for _ in 0..<rounds { mutateOnce(&b, headerEnd: max(1, min(headerEnd, b.count)), rng: &rng) }
        return Data(b)
    }

    static func offset(_ b: [UInt8], headerEnd: Int, rng: inout FuzzRandom, align: Int = 1) -> Int {
        guard !b.isEmpty else { return 0 }
        let limit = rng.chance(0.85) ? headerEnd : b.count
        let o = rng.below(limit)
        return rng.chance(0.5) ? o / align * align : o
    }

    static func write(_ b: inout [UInt8], _ v: UInt64, bytes n: Int, at o: Int) {
        for k in 0..<n where o + k < b.count { b[o + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(k))) }
    }

    static func mutateOnce(_ b: inout [UInt8], headerEnd: Int, rng: inout FuzzRandom) {
        switch rng.below(9) {
        case 0:  // truncate
            if !b.isEmpty { b.removeSubrange(offset(b, headerEnd: b.count, rng: &rng)...) }
        case 1:  // bit flips
            for _ in 0..<(1 + rng.below(8)) where !b.isEmpty {
                b[offset(b, headerEnd: headerEnd, rng: &rng)] ^= UInt8(1 << rng.below(8))
            }
        case 2, 3:  // an interesting integer over a 1/2/4/8-byte field (sizes, counts, offsets, types)
            let n = rng.pick([1, 2, 4, 8, 8, 4])
            write(&b, rng.pick(interesting64), bytes: n, at: offset(b, headerEnd: headerEnd, rng: &rng, align: 4))
        case 4:  // a counter nudged by ±1 (off-by-one lengths)
            let o = offset(b, headerEnd: headerEnd, rng: &rng, align: 4)
            if o < b.count { b[o] = rng.chance(0.5) ? b[o] &+ 1 : b[o] &- 1 }
        case 5:  // insert bytes (misaligns everything after)
            let o = offset(b, headerEnd: headerEnd, rng: &rng)
            b.insert(contentsOf: (0..<(1 + rng.below(16))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: min(o, b.count))
        case 6:  // delete bytes
            let o = offset(b, headerEnd: headerEnd, rng: &rng)
            if o < b.count { b.removeSubrange(o..<min(b.count, o + 1 + rng.below(16))) }
        case 7:  // NaN / Inf / huge floats over the data (weights, log-probabilities)
            for _ in 0..<(1 + rng.below(4)) where b.count >= 4 {
                let o = (headerEnd + rng.below(max(1, b.count - headerEnd))) / 4 * 4
                write(&b, UInt64(rng.pick(interestingF32)), bytes: 4, at: min(o, b.count - 4))
            }
        default:  // duplicate a chunk of the header over another place
            guard b.count > 8 else { return }
            let from = offset(b, headerEnd: headerEnd, rng: &rng), to = offset(b, headerEnd: headerEnd, rng: &rng)
            let n = min(1 + rng.below(32), b.count - from, b.count - to)
            if n > 0 { let chunk = Array(b[from..<(from + n)]); b.replaceSubrange(to..<(to + n), with: chunk) }
        }
    }
}

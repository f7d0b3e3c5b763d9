import CKernels
import Formats
import Tensor
import XCTest

/// Random ggml blocks: every quantised bit random, the f16 scale fields set to sane values
/// (d in [0.002, 0.02] · scale, mins in [−0.1, 0.1] · scale). Any bit pattern is a valid block, so this covers the
/// layouts without a quantiser; the reference is GGMLDequantize's value of the same bytes.
/// F32 / F16 / BF16 (where random bits would be mostly huge or NaN): normal values · 0.05 · scale
/// (BF16 truncated from float32; every finite half pattern is checked in QuantKernelTests).
func randomQuantRows(_ type: GGMLType, rows: Int, cols: Int, scale: Float = 1, rng: inout RandomGenerator) -> [UInt8] {
    let nb = cols / type.blockSize, bb = type.blockBytes
    var out = [UInt8](repeating: 0, count: rows * nb * bb)
    for i in out.indices { out[i] = UInt8(truncatingIfNeeded: rng.next()) }
    func put(_ v: Float, _ at: Int) {
        let h = Float16(v).bitPattern
        out[at] = UInt8(h & 0xFF); out[at + 1] = UInt8(h >> 8)
    }
    if [.f32, .f16, .bf16].contains(type) {
        for i in 0..<(rows * cols) {
            let v = 0.05 * scale * rng.normal(), bits = v.bitPattern
            switch type {
            case .f32: for j in 0..<4 { out[4 * i + j] = UInt8(truncatingIfNeeded: bits >> (8 * j)) }
            case .f16: put(v, 2 * i)
            default: out[2 * i] = UInt8(truncatingIfNeeded: bits >> 16); out[2 * i + 1] = UInt8(truncatingIfNeeded: bits >> 24)
            }
        }
        return out
    }
    for b in 0..<(rows * nb) {
        let p = b * bb, d = scale * (0.002 + 0.018 * rng.uniform()), m = scale * (0.2 * rng.uniform() - 0.1)
        switch type {
        case .q6_K: put(d, p + 208)
        case .q4_1, .q5_1, .q4_K, .q5_K: put(d, p); put(type == .q4_K || type == .q5_K ? 0.01 * d * 10 : m, p + 2)
        default: put(d, p)
        }
    }
    return out
}

/// Row-major (rows, cols) floats of the blocks, by the exact scalar dequantiser.
func dequantRows(_ type: GGMLType, _ bytes: [UInt8], rows: Int, cols: Int) -> [Float] {
    var out = [Float](repeating: 0, count: rows * cols)
    bytes.withUnsafeBytes { src in out.withUnsafeMutableBufferPointer { type.dequantize(src.baseAddress!, into: $0.baseAddress!, count: rows * cols) } }
    return out
}

/// The quantised row kernels (``sd_quant_rows_times_wt_with``), every type × path (portable, AVX2
/// when the CPU has it), against a Double reference on the dequantised weights, and their bitwise
/// batch invariance (M rows together = each row alone) and thread-split invariance.
final class QuantKernelTests: XCTestCase {
    /// Activations are rounded to d·q with d = max|a_block| / 127, so each |a − d·q| ≤ d/2 =
    /// max|a_block| / 254: a dot product with weights w errs by at most Σ_k |w_k| · max|a_block(k)| / 254.
    static let activationQuantStep = 1.0 / 254.0
    /// Float32 accumulation of at most a few hundred block terms plus the rounding of a · 127/max
    /// (relative 2⁻²⁴ each): far below 1e-5 of Σ |w·a|; the headroom keeps the test about the math.
    static let floatSlack = 1e-5
    /// F16 / BF16 (no activation quantisation, exact weight conversion): each output is K/16 fused
    /// multiply-adds per lane, one lane-wise add and a 3-level horizontal sum, each rounding by at
    /// most 2⁻²⁴ of a partial sum ≤ Σ|w·a|: |C − Σ w·a| ≤ (K/16 + 4) · 2⁻²⁴ · Σ|w·a| (first order;
    /// the factor 1.01 covers the second).
    static let halfRounding = 0x1p-24

    static let types: [GGMLType] = [.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K, .f16, .bf16]
    var paths: [Int32] { Array(0...sd_quant_isa()) }

    /// Elements per block of the kernels (QuantKernels.h): ggml's block, but 16 for F16 / BF16.
    static func kernelBlock(_ t: GGMLType) -> Int { t == .f16 || t == .bf16 ? 16 : t.blockSize }

    /// Per-output error bound: the activation quantisation (see ``activationQuantStep``), or for
    /// F16 / BF16 the float32 rounding (``halfRounding``).
    static func bound(_ t: GGMLType, _ w: [Float], _ a: [Float], n: Int, m: Int, K: Int) -> Double {
        let block = kernelBlock(t)
        if block == 16 {
            var mag = 0.0
            for k in 0..<K { mag += Double(abs(w[n * K + k] * a[m * K + k])) }
            return Double(K / 16 + 4) * Self.halfRounding * mag * 1.01 + 1e-30
        }
        var e = 0.0, mag = 0.0
        for b in stride(from: 0, to: K, by: block) {
            var amax = 0.0
            for k in b..<(b + block) { amax = max(amax, Double(abs(a[m * K + k]))) }
            for k in b..<(b + block) {
                e += Double(abs(w[n * K + k])) * amax * Self.activationQuantStep
                mag += Double(abs(w[n * K + k] * a[m * K + k]))
            }
        }
        return e * 1.001 + Self.floatSlack * mag + 1e-7
    }

    func run(_ isa: Int32, _ t: GGMLType, M: Int, N: Int, K: Int, a: UnsafePointer<Float>, w: [UInt8],
             c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool = false) {
        w.withUnsafeBytes { wp in
            sd_quant_rows_times_wt_with(isa, Int32(t.rawValue), Int32(M), Int32(N), Int32(K), a, Int32(K), wp.baseAddress!,
                                        K / t.blockSize * t.blockBytes, c, Int32(ldc), accumulate ? 1 : 0)
        }
    }

    func testEveryTypeAndPathMatchesReference() {
        var rng = RandomGenerator(seed: 13)
        for t in Self.types {
            let kb = Self.kernelBlock(t)
            XCTAssertEqual(sd_quant_supported(Int32(t.rawValue), Int32(kb)), 1, "\(t)")
            XCTAssertEqual(sd_quant_supported(Int32(t.rawValue), Int32(kb + 32)), 32 % kb == 0 ? 1 : 0, "\(t)")
            XCTAssertEqual(sd_quant_supported(Int32(t.rawValue), Int32(kb + 8)), 0, "\(t)")
            // F16 / BF16: one block, a few, and a real row length (576, SmolLM2's C).
            for blocks in kb == 16 ? [1, 3, 36] : [1, 3] {
                let K = blocks * kb, N = 37, M = 16
                let w = randomQuantRows(t, rows: N, cols: K, rng: &rng), wf = dequantRows(t, w, rows: N, cols: K)
                let a = (0..<(M * K)).map { _ in rng.normal() * (rng.uniform() < 0.1 ? 4 : 1) }
                for isa in paths {
                    var c = [Float](repeating: 0, count: M * N)
                    a.withUnsafeBufferPointer { ap in run(isa, t, M: M, N: N, K: K, a: ap.baseAddress!, w: w, c: &c, ldc: N) }
                    var worst = 0.0
                    for m in 0..<M { for n in 0..<N {
                        var ref = 0.0
                        for k in 0..<K { ref += Double(wf[n * K + k]) * Double(a[m * K + k]) }
                        let err = abs(Double(c[m * N + n]) - ref), tol = Self.bound(t, wf, a, n: n, m: m, K: K)
                        worst = max(worst, err / tol)
                        if !(err <= tol) { XCTFail("\(t) isa \(isa) K \(K) m \(m) n \(n): \(c[m * N + n]) vs \(ref), tol \(tol)"); return }
                    } }
                    // The bound must not be vacuous: the kernel uses it by a visible fraction (measured
                    // 0.08–0.38; F16 / BF16 at K = 576 0.014, as their worst-case rounding bound grows
                    // like K and the actual error like √K).
                    XCTAssertGreaterThan(worst, kb == 16 ? 0.005 : 0.01, "\(t) isa \(isa) K \(K): error far below the bound; is the bound too loose?")
                }
            }
        }
    }

    func testBatchAndThreadInvarianceBitwise() {
        var rng = RandomGenerator(seed: 14)
        for t in Self.types {
            let K = Self.kernelBlock(t) == 16 ? 80 : 2 * t.blockSize, N = 29   // F16 / BF16: 5 blocks
            let w = randomQuantRows(t, rows: N, cols: K, rng: &rng), rowBytes = K / t.blockSize * t.blockBytes
            let a = (0..<(16 * K)).map { _ in rng.normal() }
            for isa in paths {
                // Each row alone.
                var alone = [Float](repeating: 0, count: 16 * N)
                a.withUnsafeBufferPointer { ap in
                    for m in 0..<16 { alone.withUnsafeMutableBufferPointer { run(isa, t, M: 1, N: N, K: K, a: ap.baseAddress! + m * K, w: w, c: $0.baseAddress! + m * N, ldc: N) } }
                }
                for M in 1...16 {
                    var together = [Float](repeating: 0, count: M * N)
                    a.withUnsafeBufferPointer { ap in run(isa, t, M: M, N: N, K: K, a: ap.baseAddress!, w: w, c: &together, ldc: N) }
                    XCTAssertEqual(together.map(\.bitPattern), Array(alone[0..<(M * N)]).map(\.bitPattern), "\(t) isa \(isa) M \(M)")
                }
                // N split into 1, 2, 3 parts (as threads would take it), activations quantised once.
                for parts in 1...3 {
                    var split = [Float](repeating: 0, count: 16 * N)
                    var qa = [UInt8](repeating: 0, count: 16 * sd_quant_act_row_bytes(Int32(t.rawValue), Int32(K)))
                    a.withUnsafeBufferPointer { ap in qa.withUnsafeMutableBytes { sd_quant_act(Int32(t.rawValue), 16, Int32(K), ap.baseAddress!, Int32(K), $0.baseAddress!) } }
                    for p in 0..<parts {
                        let lo = N * p / parts, hi = N * (p + 1) / parts
                        qa.withUnsafeBytes { q in w.withUnsafeBytes { wp in split.withUnsafeMutableBufferPointer { cp in
                            sd_quant_rows_times_wt_q(isa, Int32(t.rawValue), 16, Int32(hi - lo), Int32(K), q.baseAddress!,
                                                     wp.baseAddress! + lo * rowBytes, rowBytes, cp.baseAddress! + lo, Int32(N), 0)
                        } } }
                    }
                    XCTAssertEqual(split.map(\.bitPattern), alone.map(\.bitPattern), "\(t) isa \(isa) split in \(parts)")
                }
                // accumulate adds to C.
                var acc = [Float](repeating: 1.5, count: N)
                a.withUnsafeBufferPointer { ap in run(isa, t, M: 1, N: N, K: K, a: ap.baseAddress!, w: w, c: &acc, ldc: N, accumulate: true) }
                for n in 0..<N { XCTAssertEqual(acc[n], 1.5 + alone[n], "\(t) accumulate") }
            }
        }
    }

    /// Q4_K, Q5_K and Q6_K sum exact int32 super-block products and then use the same scalar float
    /// expression on both paths; F16 / BF16 use the same lanes, fused multiply-adds and final sum
    /// on both paths: AVX2 and portable agree bit for bit (QuantKernels.h).
    func testPathsAgreeBitwiseWhereTheHeaderPromises() throws {
        guard sd_quant_isa() >= 1 else { throw XCTSkip("no AVX2 on this CPU") }
        var rng = RandomGenerator(seed: 15)
        for t in [GGMLType.q4_K, .q5_K, .q6_K, .f16, .bf16] {
            let K = t.blockSize == 256 ? 512 : 592, N = 9, M = 11   // 592 = 37 blocks of 16
            let w = randomQuantRows(t, rows: N, cols: K, rng: &rng), a = (0..<(M * K)).map { _ in rng.normal() }
            var c0 = [Float](repeating: 0, count: M * N), c1 = c0
            a.withUnsafeBufferPointer { ap in
                run(0, t, M: M, N: N, K: K, a: ap.baseAddress!, w: w, c: &c0, ldc: N)
                run(1, t, M: M, N: N, K: K, a: ap.baseAddress!, w: w, c: &c1, ldc: N)
            }
            XCTAssertEqual(c0.map(\.bitPattern), c1.map(\.bitPattern), "\(t)")
        }
    }

    /// Every finite F16 and BF16 bit pattern (subnormals and ±0 included), through both paths: with one-hot activations (a = e_j) output n is weight
    /// (n, j) itself (one exact product, sums with zeros), so this checks the on-the-fly conversion
    /// against HalfFloat's, value for value (-0 and +0 compare equal).
    func testEveryHalfPatternConvertsExactly() {
        for t in [GGMLType.f16, .bf16] {
            let patterns = (0...UInt16.max).filter { h in
                t == .f16 ? (h >> 10) & 0x1F != 0x1F : Float(bitPattern: UInt32(h) << 16).isFinite   // ∞ · 0 would be NaN
            }
            let K = 16, N = (patterns.count + K - 1) / K
            var w = [UInt8](repeating: 0, count: N * K * 2)
            for (i, h) in patterns.enumerated() { w[2 * i] = UInt8(h & 0xFF); w[2 * i + 1] = UInt8(h >> 8) }
            let wf = dequantRows(t, w, rows: N, cols: K)
            var a = [Float](repeating: 0, count: K * K)
            for j in 0..<K { a[j * K + j] = 1 }
            for isa in paths {
                var c = [Float](repeating: .nan, count: K * N)
                a.withUnsafeBufferPointer { ap in run(isa, t, M: K, N: N, K: K, a: ap.baseAddress!, w: w, c: &c, ldc: N) }
                var bad = 0
                for n in 0..<N { for j in 0..<K where c[j * N + n] != wf[n * K + j] {
                    if bad == 0 { XCTFail("\(t) isa \(isa) weight (\(n), \(j)): \(c[j * N + n]) vs \(wf[n * K + j])") }
                    bad += 1
                } }
                XCTAssertEqual(bad, 0, "\(t) isa \(isa)")
            }
        }
    }
}

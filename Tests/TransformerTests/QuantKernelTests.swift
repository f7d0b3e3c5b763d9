import CKernels
import Formats
import Tensor
import XCTest

/// Random ggml blocks: every quantised bit random, the f16 scale fields set to sane values
/// (d in [0.002, 0.02] · scale, mins in [−0.1, 0.1] · scale). Any bit pattern is a valid block, so this covers the
/// layouts without a quantiser; the reference is GGMLDequantize's value of the same bytes.
func randomQuantRows(_ type: GGMLType, rows: Int, cols: Int, scale: Float = 1, rng: inout RandomGenerator) -> [UInt8] {
    let nb = cols / type.blockSize, bb = type.blockBytes
    var out = [UInt8](repeating: 0, count: rows * nb * bb)
    for i in out.indices { out[i] = UInt8(truncatingIfNeeded: rng.next()) }
    func put(_ v: Float, _ at: Int) {
        let h = Float16(v).bitPattern
        out[at] = UInt8(h & 0xFF); out[at + 1] = UInt8(h >> 8)
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

    static let types: [GGMLType] = [.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q6_K]
    var paths: [Int32] { Array(0...sd_quant_isa()) }

    /// Per-output error bound of the activation quantisation (see ``activationQuantStep``).
    static func bound(_ w: [Float], _ a: [Float], n: Int, m: Int, K: Int, block: Int) -> Double {
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
            XCTAssertEqual(sd_quant_supported(Int32(t.rawValue), Int32(t.blockSize)), 1, "\(t)")
            XCTAssertEqual(sd_quant_supported(Int32(t.rawValue), Int32(t.blockSize + 32)), t.blockSize == 32 ? 1 : 0)
            for blocks in [1, 3] {
                let K = blocks * t.blockSize, N = 37, M = 16
                let w = randomQuantRows(t, rows: N, cols: K, rng: &rng), wf = dequantRows(t, w, rows: N, cols: K)
                let a = (0..<(M * K)).map { _ in rng.normal() * (rng.uniform() < 0.1 ? 4 : 1) }
                for isa in paths {
                    var c = [Float](repeating: 0, count: M * N)
                    a.withUnsafeBufferPointer { ap in run(isa, t, M: M, N: N, K: K, a: ap.baseAddress!, w: w, c: &c, ldc: N) }
                    var worst = 0.0
                    for m in 0..<M { for n in 0..<N {
                        var ref = 0.0
                        for k in 0..<K { ref += Double(wf[n * K + k]) * Double(a[m * K + k]) }
                        let err = abs(Double(c[m * N + n]) - ref), tol = Self.bound(wf, a, n: n, m: m, K: K, block: t.blockSize)
                        worst = max(worst, err / tol)
                        if !(err <= tol) { XCTFail("\(t) isa \(isa) K \(K) m \(m) n \(n): \(c[m * N + n]) vs \(ref), tol \(tol)"); return }
                    } }
                    // The bound must not be vacuous: the kernel uses it by a visible fraction.
                    XCTAssertGreaterThan(worst, 0.01, "\(t) isa \(isa): error far below the bound; is the bound too loose?")
                }
            }
        }
    }

    func testBatchAndThreadInvarianceBitwise() {
        var rng = RandomGenerator(seed: 14)
        for t in Self.types {
            let K = 2 * t.blockSize, N = 29
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

    /// Q4_K and Q6_K sum exact int32 super-block products and then use the same scalar float
    /// expression on both paths, so AVX2 and portable agree bit for bit.
    func testKQuantPathsAgreeBitwise() throws {
        guard sd_quant_isa() >= 1 else { throw XCTSkip("no AVX2 on this CPU") }
        var rng = RandomGenerator(seed: 15)
        for t in [GGMLType.q4_K, .q6_K] {
            let K = 512, N = 9, M = 11
            let w = randomQuantRows(t, rows: N, cols: K, rng: &rng), a = (0..<(M * K)).map { _ in rng.normal() }
            var c0 = [Float](repeating: 0, count: M * N), c1 = c0
            a.withUnsafeBufferPointer { ap in
                run(0, t, M: M, N: N, K: K, a: ap.baseAddress!, w: w, c: &c0, ldc: N)
                run(1, t, M: M, N: N, K: K, a: ap.baseAddress!, w: w, c: &c1, ldc: N)
            }
            XCTAssertEqual(c0.map(\.bitPattern), c1.map(\.bitPattern), "\(t)")
        }
    }
}

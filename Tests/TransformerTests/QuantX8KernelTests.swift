import CKernels
import Formats
import Tensor
import Transformer
import XCTest

/// The interleaved ("x8") kernels (``sd_x8_rows_times_wt_q``, ``QuantizedMatrix/interleaved(release:)``):
/// exact repacking, the value against a Double reference on the dequantised weights (the same
/// activation-quantisation bound as the plain kernels), AVX2 equal to the portable loop bit for
/// bit, and batch, thread-split and lane invariance.
final class QuantX8KernelTests: XCTestCase {
    static let types: [GGMLType] = [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q6_K]
    /// Every path this CPU runs; at AVX-512 VNNI and above, with and without the 512-bit pairs of
    /// groups (forced, whatever ``sd_x8_pairs_preferred()`` chooses here); at AVX2 on a CPU with
    /// AVX-VNNI, with and without it (forced).
    var paths: [Int32] {
        let top = sd_quant_isa()
        return Array(0...top) + (top >= 2 ? [2 | Int32(SD_X8_PAIRS_ON), 2 | Int32(SD_X8_PAIRS_OFF)] : [])
            + (top >= 1 && sd_x8_avx_vnni_preferred() != 0 ? [1 | Int32(SD_X8_AVXVNNI_ON), 1 | Int32(SD_X8_AVXVNNI_OFF)] : [])
    }

    func matrix(_ t: GGMLType, _ w: [UInt8], rows: Int, cols: Int) -> QuantizedMatrix {
        let buf = OwnedBytes(count: w.count)
        w.withUnsafeBytes { buf.pointer.copyMemory(from: $0.baseAddress!, byteCount: w.count) }
        let seg = QuantizedMatrix.Segment(type: t, rows: rows, base: UnsafeRawPointer(buf.pointer),
                                          rowBytes: cols / t.blockSize * t.blockBytes)
        return QuantizedMatrix(segments: [seg], cols: cols, owners: [buf])
    }

    func testPackUnpackRoundTripIsExact() {
        var rng = RandomGenerator(seed: 21)
        for t in Self.types {
            let K = t.blockSize == 256 ? 512 : 96, rb = K / t.blockSize * t.blockBytes
            let w = randomQuantRows(t, rows: 8, cols: K, rng: &rng)
            var g = [UInt8](repeating: 0, count: Int(sd_x8_group_bytes(Int32(t.rawValue), Int32(K))))
            XCTAssertGreaterThanOrEqual(g.count, 8 * rb, "\(t): an interleaved group holds its 8 rows")
            w.withUnsafeBytes { wp in g.withUnsafeMutableBytes { XCTAssertEqual(sd_x8_pack(Int32(t.rawValue), Int32(K), wp.baseAddress!, rb, $0.baseAddress!), 1) } }
            for i in 0..<8 {
                var row = [UInt8](repeating: 0, count: rb)
                g.withUnsafeBytes { gp in row.withUnsafeMutableBytes { sd_x8_unpack_row(Int32(t.rawValue), Int32(K), gp.baseAddress!, Int32(i), $0.baseAddress!) } }
                XCTAssertEqual(row, Array(w[(i * rb)..<((i + 1) * rb)]), "\(t) row \(i)")
            }
        }
    }

    func testInterleavedMatrixMatchesReferenceAndPortableBitwise() throws {
        var rng = RandomGenerator(seed: 22)
        for t in Self.types {
            let K = t.blockSize == 256 ? 512 : 96, N = 37, M = 9   // N: four groups and a partial one
            let w = randomQuantRows(t, rows: N, cols: K, rng: &rng), wf = dequantRows(t, w, rows: N, cols: K)
            let x8 = try matrix(t, w, rows: N, cols: K).interleaved()
            XCTAssertTrue(x8.segments.allSatisfy(\.interleaved), "\(t) was not interleaved")
            let a = (0..<(M * K)).map { _ in rng.normal() * (rng.uniform() < 0.1 ? 4 : 1) }
            var outs: [[Float]] = []
            for isa in paths {
                var qa = [UInt8](repeating: 0, count: M * sd_quant_act_row_bytes(Int32(t.rawValue), Int32(K)))
                var c = [Float](repeating: 0, count: M * N)
                a.withUnsafeBufferPointer { ap in qa.withUnsafeMutableBytes { sd_quant_act(Int32(t.rawValue), Int32(M), Int32(K), ap.baseAddress!, Int32(K), $0.baseAddress!) } }
                // Four whole groups through the C entry, the partial one through the matrix below.
                qa.withUnsafeBytes { q in c.withUnsafeMutableBufferPointer { cp in
                    sd_x8_rows_times_wt_q(isa, Int32(t.rawValue), Int32(M), 4, Int32(K), q.baseAddress!, x8.segments[0].base, cp.baseAddress!, Int32(N), 0)
                } }
                outs.append(c)
                var worst = 0.0
                for m in 0..<M { for n in 0..<32 {
                    var ref = 0.0
                    for k in 0..<K { ref += Double(wf[n * K + k]) * Double(a[m * K + k]) }
                    let err = abs(Double(c[m * N + n]) - ref), tol = QuantKernelTests.bound(t, wf, a, n: n, m: m, K: K)
                    worst = max(worst, err / tol)
                    if !(err <= tol) { XCTFail("\(t) isa \(isa) m \(m) n \(n): \(c[m * N + n]) vs \(ref), tol \(tol)"); return }
                } }
                XCTAssertGreaterThan(worst, 0.01, "\(t) isa \(isa): error far below the bound; is the bound too loose?")
            }
            for (i, out) in outs.enumerated().dropFirst() {
                XCTAssertEqual(out.map(\.bitPattern), outs[0].map(\.bitPattern), "\(t): isa \(paths[i]) ≠ portable")
            }
            // The whole matrix (partial group included) through apply, against the same rows of
            // the plain layout's reference within the bound, and each row alone = all together.
            var together = [Float](repeating: 0, count: M * N), scratch: [UInt8] = []
            a.withUnsafeBufferPointer { ap in together.withUnsafeMutableBufferPointer {
                x8.apply(m: M, input: ap.baseAddress!, lda: K, out: $0.baseAddress!, ldc: N, accumulate: false, scratch: &scratch)
            } }
            for m in 0..<M {
                var alone = [Float](repeating: 0, count: N)
                a.withUnsafeBufferPointer { ap in alone.withUnsafeMutableBufferPointer {
                    x8.apply(m: 1, input: ap.baseAddress! + m * K, lda: K, out: $0.baseAddress!, ldc: N, accumulate: false, scratch: &scratch)
                } }
                XCTAssertEqual(alone.map(\.bitPattern), Array(together[(m * N)..<((m + 1) * N)]).map(\.bitPattern), "\(t) row \(m) alone ≠ batched")
                for n in 32..<N {
                    var ref = 0.0
                    for k in 0..<K { ref += Double(wf[n * K + k]) * Double(a[m * K + k]) }
                    XCTAssertLessThanOrEqual(abs(Double(together[m * N + n]) - ref), QuantKernelTests.bound(t, wf, a, n: n, m: m, K: K), "\(t) tail row \(n)")
                }
            }
            if t == .q4_1 {
                // A row gives the same bits in any lane of any group: rows 3…34 gathered (a
                // different grouping) equal the same rows of the full matrix.
                let sub = try x8.gathering(rows: Array(3..<35)).interleaved()
                var c = [Float](repeating: 0, count: M * 32)
                a.withUnsafeBufferPointer { ap in c.withUnsafeMutableBufferPointer {
                    sub.apply(m: M, input: ap.baseAddress!, lda: K, out: $0.baseAddress!, ldc: 32, accumulate: false, scratch: &scratch)
                } }
                for m in 0..<M { for j in 0..<32 { XCTAssertEqual(c[m * 32 + j].bitPattern, together[m * N + 3 + j].bitPattern) } }
                // accumulate adds to the output.
                var acc = [Float](repeating: 1.5, count: N)
                a.withUnsafeBufferPointer { ap in acc.withUnsafeMutableBufferPointer {
                    x8.apply(m: 1, input: ap.baseAddress!, lda: K, out: $0.baseAddress!, ldc: N, accumulate: true, scratch: &scratch)
                } }
                for n in 0..<N { XCTAssertEqual(acc[n], 1.5 + together[n], "accumulate, row \(n)") }
            }
        }
    }

    /// Every pass width (1…20 rows: one pass of each register-held width on AVX2 and AVX-512,
    /// one AMX tile of 9…16 rows, then several of each) on every path of this CPU gives, row by
    /// row, the portable loop's bits. Three groups: the 512-bit kernels' pairs of groups and the
    /// odd last group. With large activations (|q_a| near 127) and extreme weights, so int16
    /// shortcuts would overflow.
    func testEveryPassWidthOnEveryPathGivesThePortableBits() throws {
        var rng = RandomGenerator(seed: 25)
        for t in Self.types {
            let K = t.blockSize == 256 ? 512 : 128, G = 3, Mmax = 20
            var w = randomQuantRows(t, rows: 8 * G, cols: K, rng: &rng)
            // Weight row 1 at its largest magnitudes against an all-positive activation row 0:
            // every product at its bound, where a sum kept in int16 too long wraps (Q5_0: 8 · 2 · 31 · 127).
            let bb = t.blockBytes, qs: [GGMLType: Range<Int>] = [.q4_0: 2..<18, .q4_1: 4..<20, .q5_0: 2..<22, .q5_1: 4..<24, .q8_0: 2..<34]
            if let range = qs[t] {
                for b in 0..<(K / t.blockSize) { for j in range { w[(K / t.blockSize + b) * bb + j] = t == .q8_0 ? 0x7F : 0xFF } }
            }
            let x8 = try matrix(t, w, rows: 8 * G, cols: K).interleaved()
            var a = (0..<(Mmax * K)).map { _ in rng.uniform() < 0.5 ? rng.normal() : (rng.uniform() < 0.5 ? -1 : 1) * 3 }
            for k in 0..<K { a[k] = 3 }
            let rb = sd_quant_act_row_bytes(Int32(t.rawValue), Int32(K))
            var qa = [UInt8](repeating: 0, count: Mmax * rb)
            a.withUnsafeBufferPointer { ap in qa.withUnsafeMutableBytes { sd_quant_act(Int32(t.rawValue), Int32(Mmax), Int32(K), ap.baseAddress!, Int32(K), $0.baseAddress!) } }
            func run(_ isa: Int32, _ M: Int) -> [UInt32] {
                var c = [Float](repeating: 0, count: M * 8 * G)
                qa.withUnsafeBytes { q in c.withUnsafeMutableBufferPointer {
                    sd_x8_rows_times_wt_q(isa, Int32(t.rawValue), Int32(M), Int32(G), Int32(K), q.baseAddress!, x8.segments[0].base, $0.baseAddress!, Int32(8 * G), 0)
                } }
                return c.map(\.bitPattern)
            }
            let reference = run(0, Mmax)
            XCTAssertTrue(reference.contains { $0 != 0 }, "\(t): the outputs are not all zero")
            // Both prefetch targets of the one-row passes (L1, L2: sd_x8_set_prefetch_l2) on every path.
            let prefetch = sd_x8_prefetch_l2()
            defer { sd_x8_set_prefetch_l2(prefetch) }
            for l2: Int32 in [0, 1] { sd_x8_set_prefetch_l2(l2); for isa in paths { for M in 1...Mmax {
                let got = run(isa, M)
                if let i = got.indices.first(where: { got[$0] != reference[$0] }) {
                    XCTFail("\(t) isa \(isa), \(M) rows, prefetch into L\(l2 + 1): output \(i) is \(Float(bitPattern: got[i])), portable \(Float(bitPattern: reference[i]))")
                }
            } } }
        }
    }

    func testDequantizedRowsOfInterleavedMatrixAreTheFileValues() throws {
        var rng = RandomGenerator(seed: 23)
        for t in Self.types {
            let K = t.blockSize == 256 ? 256 : 64, N = 13
            let w = randomQuantRows(t, rows: N, cols: K, rng: &rng), wf = dequantRows(t, w, rows: N, cols: K)
            let x8 = try matrix(t, w, rows: N, cols: K).interleaved()
            var row = [Float](repeating: 0, count: K)
            for r in 0..<N {
                row.withUnsafeMutableBufferPointer { x8.dequantizeRow(r, into: $0.baseAddress!) }
                XCTAssertEqual(row, Array(wf[(r * K)..<((r + 1) * K)]), "\(t) row \(r)")
            }
        }
    }

    /// The AVX2 activation quantisation gives the portable bytes — blocks of 32 (legacy types:
    /// d, s, q) and of 256 (K-quants: d, the 16 group sums, q) — including rounding ties (values
    /// whose a · 127/max|a| lands on k + ½), NaN (→ 0, ignored by max|a|), ±∞ and zeros.
    func testActivationQuantisationPathsGiveTheSameBytes() throws {
        guard sd_quant_isa() >= 1 else { throw XCTSkip("no AVX2 on this CPU") }
        var rng = RandomGenerator(seed: 24)
        let K = 512, M = 6
        var a = (0..<(M * K)).map { _ in rng.normal() * (rng.uniform() < 0.1 ? 8 : 1) }
        for k in 0..<32 { a[k] = Float(k) - 15.5 }          // block of ties: max 15.5, 127/15.5 · (k − 15.5)
        a[40] = .nan; a[70] = .infinity; a[100] = -.infinity
        for k in 128..<160 { a[k] = 0 }                      // an all-zero block of 32
        for k in 256..<512 { a[k] = 0 }                      // an all-zero block of 256
        a[K + 5] = 127 * 2.5 / 127                           // a tie on another row
        for k in 0..<256 { a[2 * K + k] = Float(k % 32) - 15.5 }   // a whole block of 256 in ties
        for type: Int32 in [3, 12] {
            var qa0 = [UInt8](repeating: 0, count: M * sd_quant_act_row_bytes(type, Int32(K))), qa1 = qa0
            a.withUnsafeBufferPointer { ap in
                qa0.withUnsafeMutableBytes { sd_quant_act_with(0, type, Int32(M), Int32(K), ap.baseAddress!, Int32(K), $0.baseAddress!) }
                qa1.withUnsafeMutableBytes { sd_quant_act_with(1, type, Int32(M), Int32(K), ap.baseAddress!, Int32(K), $0.baseAddress!) }
            }
            if let i = qa0.indices.first(where: { qa0[$0] != qa1[$0] }) {
                XCTFail("type \(type): byte \(i) of the quantised rows is \(qa1[i]) on AVX2, \(qa0[i]) portable")
            }
            XCTAssertNotEqual(qa0, [UInt8](repeating: 0, count: qa0.count), "type \(type): the quantised rows are not all zero")
        }
    }

    /// A NaN or infinite f16 scale (d, or Q4_1's min / Q4_K's dmin) in any row is refused by the
    /// repacking at load, naming the row and block; finite scales still pack.
    func testNonFiniteScalesAreRefusedNamingRowAndBlock() throws {
        var rng = RandomGenerator(seed: 23)
        for t in Self.types {
            let K = t.blockSize == 256 ? 512 : 96, N = 13, rb = K / t.blockSize * t.blockBytes
            let w = randomQuantRows(t, rows: N, cols: K, rng: &rng)
            XCTAssertNoThrow(try matrix(t, w, rows: N, cols: K).interleaved(), "\(t)")
            let scaleOffsets = t == .q6_K ? [208] : (t == .q4_1 || t == .q5_1 || t == .q4_K ? [0, 2] : [0])
            for offset in scaleOffsets {
                for bits: UInt16 in [0x7E00, 0x7C00, 0xFC00] {   // NaN, +Inf, -Inf
                    var bad = w
                    let at = 11 * rb + 1 * t.blockBytes + offset   // row 11 (the partial group), block 1
                    bad[at] = UInt8(bits & 0xFF); bad[at + 1] = UInt8(bits >> 8)
                    XCTAssertThrowsError(try matrix(t, bad, rows: N, cols: K).interleaved(), "\(t) offset \(offset)") {
                        XCTAssertTrue("\($0)".contains("row 11, block 1") && "\($0)".contains("corrupt"), "\(t): \($0)")
                    }
                }
            }
        }
    }

    /// Repacking hands the source to `release` in contiguous pieces of ≥ ``QuantizedMatrix/releaseChunkBytes``
    /// (ending on 64 KB boundaries) while it runs, covering the segment exactly once, so a large
    /// matrix's mapped pages are dropped as it is copied (peak memory ≈ the file, issue 13).
    func testRepackingReleasesTheSourceInContiguousPiecesAsItGoes() throws {
        let t = GGMLType.q8_0, K = 4096, N = 4099, rb = K / 32 * 34   // 17.8 MB, a partial last group
        let m = matrix(t, [UInt8](repeating: 0, count: N * rb), rows: N, cols: K)
        let base = m.segments[0].base
        var pieces: [(Int, Int)] = []
        let packed = try m.interleaved { p, n in pieces.append((p - base, n)) }
        XCTAssertTrue(packed.segments[0].interleaved)
        XCTAssertGreaterThanOrEqual(pieces.count, 2, "released while repacking, not once at the end")
        XCTAssertEqual(pieces.first?.0, 0)
        for (a, b) in zip(pieces, pieces.dropFirst()) {
            XCTAssertEqual(a.0 + a.1, b.0, "contiguous")
            XCTAssertGreaterThanOrEqual(a.1, QuantizedMatrix.releaseChunkBytes)
            XCTAssertEqual(Int(bitPattern: base + b.0) % 65536, 0, "pieces end on 64 KB boundaries")
        }
        XCTAssertEqual(pieces.map(\.1).reduce(0, +), N * rb, "the whole segment, once")
    }
}

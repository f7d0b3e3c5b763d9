import Foundation
import Formats
import Tensor
import Transformer
import XCTest

/// A tiny llama GGUF written with GGUFWriter whose matrices use every type with a native kernel,
/// mixed inside fused matrices (attn_q/k Q4_K + attn_v Q6_K, as in Q4_K_M files; ffn_gate Q4_1 +
/// ffn_up Q5_0; ffn_gate Q5_K + ffn_up F16, which switches activation format inside one matrix),
/// an F16 token embedding, plus one matrix without a kernel (an F32 output layer): loaded native
/// and f32 from the same file. And a model of F16 / BF16 matrices only, whose native logits differ
/// from the f32 load's by float32 rounding alone.
final class NativeWeightsMixedTypesTests: XCTestCase {
    /// V 40, C 256, L 2, NH 4, NKV 2, HS 64, F 512 (K-quant rows need K % 256 = 0).
    static let C = 256, F = 512, V = 40
    /// Native and f32 logits differ through the activation quantisation only (≤ max|a_block|/254
    /// per element; each matrix is checked against that bound below) compounded through 2 layers
    /// of random weights, which amplify errors (sharper attention made it 30%: Q/K weights are
    /// scaled down for that reason). Measured max |Δ| / max|logit| = 0.046 on this file; the
    /// precise checks are the per-matrix ones, this one catches wiring (segment order, which
    /// linear uses which matrix), which gives O(1) differences.
    static let relativeLogitTolerance = 0.1
    /// F16 / BF16 matrices multiply float32 activations with the weights converted exactly: native
    /// and f32 logits differ only by float32 summation order (each dot product within
    /// (K/16 + 4)·2⁻²⁴·Σ|w·a|, QuantKernelTests), compounded through 2 layers: ~1e-6 relative
    /// (0 on AVX2, where the f32 kernel sums in the same order); 1e-4 of max |logit| leaves room,
    /// while a wrong conversion or row gives O(1).
    static let halfRelativeLogitTolerance = 1e-4

    /// Matrix types per layer: attn_q, attn_k, attn_v, attn_output, ffn_gate, ffn_up, ffn_down.
    static let mixedTypes: [[GGMLType]] = [[.q4_K, .q4_K, .q6_K, .q4_0, .q4_1, .q5_0, .q8_0],
                                           [.bf16, .bf16, .bf16, .q5_1, .q5_K, .f16, .q4_K]]

    func writeFixture(types: [[GGMLType]] = mixedTypes, embed: GGMLType = .f16, output: GGMLType = .f32) throws -> URL {
        var rng = RandomGenerator(seed: 99)
        var w = GGUFWriter()
        let meta: [(String, GGUFValue)] = [
            ("general.architecture", .string("llama")), ("llama.block_count", .uint32(2)), ("llama.context_length", .uint32(32)),
            ("llama.embedding_length", .uint32(UInt32(Self.C))), ("llama.feed_forward_length", .uint32(UInt32(Self.F))),
            ("llama.attention.head_count", .uint32(4)), ("llama.attention.head_count_kv", .uint32(2)),
            ("llama.attention.layer_norm_rms_epsilon", .float32(1e-5)),
        ]
        for (k, v) in meta { try w.add(key: k, v) }
        func quant(_ name: String, _ rows: Int, _ cols: Int, _ t: GGMLType) throws {
            try w.addRaw(tensor: name, shape: [rows, cols], type: t, bytes: randomQuantRows(t, rows: rows, cols: cols, scale: (t.blockSize == 256 ? 0.02 : 0.3) * (name.contains("attn_q") || name.contains("attn_k") ? 0.1 : 1), rng: &rng))
        }
        func norm(_ name: String) throws {
            try w.add(tensor: name, shape: [Self.C], values: (0..<Self.C).map { _ in 0.5 + rng.uniform() })
        }
        let C = Self.C, F = Self.F
        try quant("token_embd.weight", Self.V, C, embed)
        for l in 0..<2 {
            let t = types[l], p = "blk.\(l)."
            try norm(p + "attn_norm.weight")
            try quant(p + "attn_q.weight", 256, C, t[0]); try quant(p + "attn_k.weight", 128, C, t[1])
            try quant(p + "attn_v.weight", 128, C, t[2]); try quant(p + "attn_output.weight", C, 256, t[3])
            try norm(p + "ffn_norm.weight")
            try quant(p + "ffn_gate.weight", F, C, t[4]); try quant(p + "ffn_up.weight", F, C, t[5])
            try quant(p + "ffn_down.weight", C, F, t[6])
        }
        try norm("output_norm.weight")
        try quant("output.weight", Self.V, C, output)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("native-mixed-\(getpid()).gguf")
        try w.write(to: url)
        return url
    }

    func testMixedTypesLoadNativelyAndMatchTheFloatLoad() throws {
        let url = try writeFixture()
        defer { try? FileManager.default.removeItem(at: url) }
        let n = try GGUFModelLoader.load(url, weights: .native), f = try GGUFModelLoader.load(url, weights: .f32)
        XCTAssertTrue(f.notes.isEmpty)
        XCTAssertEqual(n.notes.count, 1)
        XCTAssertTrue(n.notes.first?.contains("F32") == true && n.notes.first?.contains("output.weight") == true, "\(n.notes)")
        let native = try XCTUnwrap(n.model.native)
        XCTAssertNil(native.head, "F32 has no kernel: the output layer stays float32")
        XCTAssertEqual(native.embed?.segments.map(\.type), [.f16])
        XCTAssertEqual(native.layers[0].qkv?.segments.map(\.type), [.q4_K, .q4_K, .q6_K])
        XCTAssertEqual(native.layers[0].mlpUp?.segments.map(\.type), [.q4_1, .q5_0])
        XCTAssertEqual(native.layers[1].mlpUp?.segments.map(\.type), [.q5_K, .f16])
        XCTAssertEqual(native.layers[1].qkv?.segments.map(\.type), [.bf16], "equal types: q, k, v in one owned buffer")
        // The native rows are the f32 load's numbers (RoPE row order undone on the bytes).
        var row = [Float](repeating: 0, count: 512)
        for (name, m) in native.matrices {
            let ref = f.model.parameters[name]
            for r in 0..<m.rows {
                row.withUnsafeMutableBufferPointer { m.dequantizeRow(r, into: $0.baseAddress!) }
                for k in 0..<m.cols where row[k].bitPattern != ref.pointer[r * m.cols + k].bitPattern {
                    XCTFail("\(name) row \(r) col \(k)"); return
                }
            }
        }
        // Every native matrix (segments of mixed types) times random rows vs the Double reference
        // on the f32 load, within the bound of QuantKernelTests for each row's type.
        var rng = RandomGenerator(seed: 5)
        var scratch: [UInt8] = []
        for (name, m) in native.matrices where name != "embed.weight" {
            let M = 3, K = m.cols, N = m.rows, ref = f.model.parameters[name]
            let x = (0..<(M * K)).map { _ in rng.normal() }
            var out = [Float](repeating: 0, count: M * N)
            x.withUnsafeBufferPointer { xp in out.withUnsafeMutableBufferPointer { op in
                m.apply(m: M, input: xp.baseAddress!, lda: K, out: op.baseAddress!, ldc: N, accumulate: false, scratch: &scratch)
            } }
            let w = Array(UnsafeBufferPointer(start: ref.pointer, count: N * K))
            let rowTypes = m.segments.flatMap { Array(repeating: $0.type, count: $0.rows) }
            for i in 0..<M { for r in 0..<N {
                var dot = 0.0
                for k in 0..<K { dot += Double(w[r * K + k]) * Double(x[i * K + k]) }
                let bound = QuantKernelTests.bound(rowTypes[r], w, x, n: r, m: i, K: K)
                if !(abs(Double(out[i * N + r]) - dot) <= bound + 1e-6) {
                    XCTFail("\(name) (\(m.segments.map(\.type))) row \(i) out \(r): \(out[i * N + r]) vs \(dot), bound \(bound)"); return
                }
            } }
        }
        let ids = [1, 7, 3, 39, 0, 12]
        let ln = try InferenceSession(model: n.model).append(ids).array, lf = try InferenceSession(model: f.model).append(ids).array
        let scale = Double(lf.map { abs($0) }.max()!), diff = zip(ln, lf).map { Double(abs($0 - $1)) }.max()!
        print("mixed types: max |Δlogit| \(diff), max |logit| \(scale)")
        XCTAssertLessThan(diff, Self.relativeLogitTolerance * scale)
        XCTAssertGreaterThan(diff, 0, "native logits equal to float32 ones bit for bit: the native path was not used")
        // Batch invariance through every segment type.
        let s = InferenceSession(model: n.model)
        let together = try s.append(ids).array.map(\.bitPattern)
        s.reset()
        var alone: [UInt32] = []
        for t in ids { alone += try s.append([t]).array.map(\.bitPattern) }
        XCTAssertEqual(together, alone)
        // Training materialises the float32 matrices: a forward then sees the f32 load's numbers.
        n.model.materializeFloatWeights()
        for (name, _) in native.matrices {
            XCTAssertEqual(n.model.parameters[name].array, f.model.parameters[name].array, name)
        }
    }

    /// F16 / BF16 matrices only (BF16 embedding and output): native logits within float32
    /// rounding of the f32 load's, appends batch- and thread-invariant.
    func testHalfModelMatchesTheFloatLoadClosely() throws {
        let url = try writeFixture(types: [[.f16, .f16, .f16, .bf16, .f16, .f16, .bf16], [.bf16, .bf16, .f16, .f16, .bf16, .bf16, .f16]],
                                   embed: .bf16, output: .f16)
        defer { try? FileManager.default.removeItem(at: url) }
        let n = try GGUFModelLoader.load(url, weights: .native), f = try GGUFModelLoader.load(url, weights: .f32)
        XCTAssertTrue(n.notes.isEmpty, "\(n.notes)")
        XCTAssertEqual(n.model.native?.matrices.count, 1 + 1 + 4 * 2)   // embed, head, 4 linears per layer
        let ids = [1, 7, 3, 39, 0, 12, 5]
        let ln = try InferenceSession(model: n.model).append(ids).array, lf = try InferenceSession(model: f.model).append(ids).array
        let scale = Double(lf.map { abs($0) }.max()!), diff = zip(ln, lf).map { Double(abs($0 - $1)) }.max()!
        print("F16/BF16 model: max |Δlogit| \(diff), max |logit| \(scale)")
        XCTAssertLessThan(diff, Self.halfRelativeLogitTolerance * scale)
        // (On AVX2 the f32 kernels sum in the same lanes and order, so diff is 0 there.) The
        // native matrices were what ran: their float32 parameters are still untouched zeros.
        XCTAssertTrue(n.model.parameters["layers.0.qkv.weight"].array.allSatisfy { $0 == 0 })
        let saved = Threads.count
        defer { Threads.count = saved }
        var reference: [UInt32]? = nil
        for threads in [1, 2] {
            Threads.count = threads
            let s = InferenceSession(model: n.model)
            let together = try s.append(ids).array.map(\.bitPattern)
            s.reset()
            var alone: [UInt32] = []
            for t in ids { alone += try s.append([t]).array.map(\.bitPattern) }
            XCTAssertEqual(together, alone, "threads \(threads)")
            if let reference { XCTAssertEqual(together, reference, "2 threads differ from 1") }
            reference = together
        }
    }

    /// `quantize --type q5_k / bf16` (GGUFModelWriter with the Q5_K and BF16 quantisers) on the
    /// F16 model: the file loads natively with every matrix in that type, and its native logits
    /// stay near the F16 model's (BF16 weights within 2⁻⁸ relative; Q5_K within a 5-bit step of
    /// each sub-block's range — ~4% RMS of these normal weights — plus the activation
    /// quantisation, amplified through 2 random layers). Measured max |Δlogit| / max |logit|:
    /// BF16 0.0046, Q5_K 0.080; the tolerances leave 3–4× room, while a wrong bit layout gives O(1).
    func testWrittenQ5KAndBF16FilesLoadNativelyNearTheFloatModel() throws {
        let url = try writeFixture(types: Array(repeating: Array(repeating: .f16, count: 7), count: 2), embed: .f16, output: .f16)
        defer { try? FileManager.default.removeItem(at: url) }
        let f = try GGUFModelLoader.load(url, weights: .f32).model
        let ids = [1, 7, 3, 39, 0, 12, 5]
        let reference = try InferenceSession(model: f).append(ids).array
        let scale = Double(reference.map { abs($0) }.max()!)
        for (type, tolerance) in [(GGMLType.bf16, 0.02), (.q5_K, 0.25)] {
            let out = url.deletingPathExtension().appendingPathExtension("\(type).gguf")
            defer { try? FileManager.default.removeItem(at: out) }
            let notes = try GGUFModelWriter.write(f, to: out, type: type, tokenizerSource: nil)
            XCTAssertTrue(notes.isEmpty, "\(notes)")
            let n = try GGUFModelLoader.load(out, weights: .native)
            XCTAssertTrue(n.notes.isEmpty, "\(n.notes)")
            let native = try XCTUnwrap(n.model.native)
            XCTAssertEqual(native.matrices.count, 1 + 1 + 4 * 2)
            XCTAssertEqual(Set(native.matrices.flatMap { $0.matrix.segments.map(\.type) }), [type])
            let logits = try InferenceSession(model: n.model).append(ids).array
            let diff = zip(logits, reference).map { Double(abs($0 - $1)) }.max()!
            print("written \(type), native: max |Δlogit| \(diff), max |logit| \(scale)")
            XCTAssertLessThan(diff, tolerance * scale, "\(type)")
            XCTAssertGreaterThan(diff, 0, "\(type): logits equal the F16 model's; was the file quantised?")
        }
    }

    /// A NaN scale in a natively kept matrix is refused at load (checked by the repacking, which
    /// copies every scale anyway), naming the file, tensor, row and block; the f32 load, which
    /// dequantises, refuses it through its finite check.
    func testNaNScaleOfANativeMatrixIsRefusedAtLoad() throws {
        let url = try writeFixture()
        defer { try? FileManager.default.removeItem(at: url) }
        let f = try GGUFFile(url: url), t = try f.tensorInfo("blk.1.ffn_down.weight")   // Q4_K, rows of F = 512
        let rowBytes = Self.F / 256 * GGMLType.q4_K.blockBytes
        let at = f.dataOffset + t.offset + 5 * rowBytes + GGMLType.q4_K.blockBytes   // row 5, block 1: its d
        var bytes = try Data(contentsOf: url)
        bytes.replaceSubrange(at..<(at + 2), with: [0x00, 0x7E])   // f16 NaN
        try bytes.write(to: url)
        XCTAssertThrowsError(try GGUFModelLoader.load(url, weights: .native)) {
            XCTAssertTrue("\($0)".contains("blk.1.ffn_down.weight") && "\($0)".contains("row 5, block 1"), "\($0)")
        }
        XCTAssertThrowsError(try GGUFModelLoader.load(url, weights: .f32)) { XCTAssertTrue("\($0)".contains("corrupt"), "\($0)") }
    }
}

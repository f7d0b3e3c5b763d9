import Foundation
import Formats
import Tensor
import TestSupport
import Transformer
import XCTest

/// `specdistill quantize` (GGUFModelWriter, GGMLType.quantize): the files it writes must be the
/// ones llama.cpp's own converter writes. The oracle is the fixtures gguf-py wrote from the golden
/// models (Scripts/make-gguf-model-fixtures): writing the same model must give the same tensors,
/// byte for byte — names, shapes, the llama RoPE row permutation and gguf-py's Q8_0 rounding.
final class GGUFWriterTests: XCTestCase {
    func tempFile(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("gguf-writer-\(UUID().uuidString)-\(name)")
    }

    func assertSameTensors(_ ours: GGUFFile, _ reference: GGUFFile, _ label: String) throws {
        XCTAssertEqual(Set(ours.tensorInfos.map(\.name)), Set(reference.tensorInfos.map(\.name)), label)
        for info in reference.tensorInfos {
            let mine = try ours.tensorInfo(info.name)
            XCTAssertEqual(mine.shape, info.shape, "\(label) \(info.name)")
            XCTAssertEqual(mine.type, info.type, "\(label) \(info.name)")
            let a = try ours.withRawBytes(info.name) { Array($0) }, b = try reference.withRawBytes(info.name) { Array($0) }
            XCTAssertEqual(a.count, b.count, "\(label) \(info.name)")
            let differing = zip(a, b).filter { $0 != $1 }.count
            XCTAssertEqual(differing, 0, "\(label) \(info.name): \(differing) of \(b.count) bytes differ from gguf-py's")
        }
    }

    /// F32: the model loaded from gguf-py's llama and qwen2 files writes back identical tensors,
    /// and the architecture keys the loader reads.
    func testFloatFilesEqualTheConvertersFiles() throws {
        for name in ["llama", "qwen2"] {
            let reference = try GGUFFile(url: GGUFFixtures.url("\(name).gguf"))
            let (model, _) = try GGUFModelLoader.load(reference.url)
            let out = tempFile("\(name).gguf")
            defer { try? FileManager.default.removeItem(at: out) }
            try GGUFModelWriter.write(model, to: out, type: .f32, tokenizerSource: nil)
            let ours = try GGUFFile(url: out)
            try assertSameTensors(ours, reference, name)
            for key in ["block_count", "embedding_length", "feed_forward_length", "attention.head_count", "attention.head_count_kv"] {
                XCTAssertEqual(ours["\(name).\(key)"]?.int, reference["\(name).\(key)"]?.int, "\(name).\(key)")
            }
            let back = try GGUFModelLoader.load(out).0
            XCTAssertEqual(back.config, model.config)
            XCTAssertEqual(back.parameters.flat.array.map(\.bitPattern), model.parameters.flat.array.map(\.bitPattern), name)
        }
    }

    /// Q8_0: the golden llama_tied model quantised by our writer equals gguf-py's Q8_0 file byte
    /// for byte (d = max|x|/127 as f16, q = roundf(x/d), half away from zero), F32 norms included.
    func testQ8FileEqualsGGUFPy() throws {
        let reference = try GGUFFile(url: GGUFFixtures.url("llama_tied-q8_0.gguf"))
        let f = try Golden.load("llama_tied")
        let out = tempFile("llama_tied-q8_0.gguf")
        defer { try? FileManager.default.removeItem(at: out) }
        try GGUFModelWriter.write(f.model, to: out, type: .q8_0, tokenizerSource: nil)
        try assertSameTensors(try GGUFFile(url: out), reference, "llama_tied q8_0")
    }

    /// `quantize --output-tensor-type / --token-embedding-type`: under Q4_0 the output layer and the
    /// token embedding stay Q8_0 unless chosen; chosen, exactly those two tensors change type (every
    /// other tensor byte for byte the default file's), and the chosen output layer dequantises
    /// within Q4_0's bound (GGMLQuantize.swift: amax/8 of each block of 32, f16 rounding of d) of the
    /// model's float weights.
    func testOutputAndEmbeddingTypesAreTheChosenOnes() throws {
        let reference = try GGUFFile(url: GGUFFixtures.url("llama.gguf"))
        let model = try GGUFModelLoader.load(reference.url).0
        XCTAssertNotNil(reference.tensorInfos.first { $0.name == "output.weight" }, "the untied fixture has an output layer")
        let plain = tempFile("llama-q4_0.gguf"), chosen = tempFile("llama-q4_0-head.gguf")
        defer { for u in [plain, chosen] { try? FileManager.default.removeItem(at: u) } }
        try GGUFModelWriter.write(model, to: plain, type: .q4_0, tokenizerSource: nil)
        try GGUFModelWriter.write(model, to: chosen, type: .q4_0, tokenizerSource: nil, outputType: .q4_0, embeddingType: .f16)
        let a = try GGUFFile(url: plain), b = try GGUFFile(url: chosen)
        XCTAssertEqual(try a.tensorInfo("output.weight").type, .q8_0)
        XCTAssertEqual(try a.tensorInfo("token_embd.weight").type, .q8_0)
        XCTAssertEqual(try b.tensorInfo("output.weight").type, .q4_0)
        XCTAssertEqual(try b.tensorInfo("token_embd.weight").type, .f16)
        for info in a.tensorInfos where info.name != "output.weight" && info.name != "token_embd.weight" {
            XCTAssertEqual(try b.tensorInfo(info.name).type, info.type, info.name)
            XCTAssertEqual(try b.withRawBytes(info.name) { Array($0) }, try a.withRawBytes(info.name) { Array($0) }, info.name)
        }
        let back = try GGUFModelLoader.load(chosen).0
        let w = model.weights.lmHead, v = back.weights.lmHead, C = model.config.hiddenSize
        var worst = 0.0
        for r in 0..<model.config.vocabSize {
            for b in stride(from: 0, to: C, by: 32) {
                var amax: Float = 0
                for j in b..<(b + 32) { amax = max(amax, abs(w[r * C + j])) }
                let bound = Double(max(amax, 1e-30) / 8 * (1 + 8.0 / 2048))
                for j in b..<(b + 32) { worst = max(worst, Double(abs(v[r * C + j] - w[r * C + j])) / bound) }
            }
        }
        XCTAssertLessThanOrEqual(worst, 1.0, "the Q4_0 output layer is off by more than Q4_0's bound")
        XCTAssertGreaterThan(worst, 0.05, "the output layer did not change: not quantised to Q4_0")
    }

    /// `nativeCopy` (how `train` times a draft as it ships): the Q8_0 copy holds Q8_0 matrices,
    /// leaves no file behind, and its first logits equal those of the written file loaded natively.
    func testNativeCopyEqualsTheWrittenFileLoadedNatively() throws {
        let f = try Golden.load("llama_tied")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("native-copy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let copy = try GGUFModelWriter.nativeCopy(f.model, type: .q8_0, directory: dir)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
        XCTAssertEqual(Set(try XCTUnwrap(copy.native).matrices.flatMap { $0.matrix.segments.map(\.type) }), [.q8_0])
        let out = tempFile("llama_tied-copy-q8_0.gguf")
        defer { try? FileManager.default.removeItem(at: out) }
        try GGUFModelWriter.write(f.model, to: out, type: .q8_0, tokenizerSource: nil)
        let loaded = try GGUFModelLoader.load(out, weights: .native).model
        let ids = [1, 5, 2, 7]
        XCTAssertEqual(try InferenceSession(model: copy).append(ids).array.map(\.bitPattern),
                       try InferenceSession(model: loaded).append(ids).array.map(\.bitPattern))
    }

    /// Quantisers against the element-wise bounds in GGMLQuantize.swift's documentation, through
    /// the independent dequantisers (checked against gguf-py in FormatsTests), on values with a
    /// wide dynamic range; and the bound is tight enough to fail a wrong rounding (1.5 steps).
    func testQuantisersStayWithinHalfAStep() {
        var rng = RandomGenerator(seed: 11)
        let n = 256 * 8
        let x = (0..<n).map { i in rng.normal() * (i % 256 < 128 ? 0.05 : 2) }
        for type in [GGMLType.q8_0, .q4_0, .q4_K, .q5_K, .f16, .bf16] {
            let bytes = x.withUnsafeBufferPointer { type.quantize($0.baseAddress!, count: n) }
            XCTAssertEqual(bytes.count, n / type.blockSize * type.blockBytes)
            var y = [Float](repeating: 0, count: n)
            bytes.withUnsafeBytes { b in y.withUnsafeMutableBufferPointer { type.dequantize(b.baseAddress!, into: $0.baseAddress!, count: n) } }
            for b in 0..<(n / 32) {
                let block = x[(32 * b)..<(32 * b + 32)]
                let amax = block.map { abs($0) }.max()!
                // The bounds of GGMLQuantize.swift's documentation. f16 rounding of d (relative
                // 2^-11) moves the element of largest |q| by |q|·d·2^-11 (Q8_0: 127/2048 of a step).
                let bound: Float
                switch type {
                case .q8_0: bound = amax / 127 * (0.5 + 127.0 / 2048)
                case .q4_0: bound = amax / 8 * (1 + 8.0 / 2048)
                case .f16: bound = amax * 0x1p-11   // nearest-even: half an ulp, ≤ 2⁻¹¹ relative (no subnormals here)
                case .bf16: bound = amax * 0x1p-8
                default:
                    let sb = x[(256 * (b / 8))..<(256 * (b / 8) + 256)]
                    let L: Float = type == .q4_K ? 15 : 31
                    let subs = stride(from: 0, to: 256, by: 32).map { o -> (scale: Float, offset: Float) in
                        let s = sb[(sb.startIndex + o)..<(sb.startIndex + o + 32)]
                        return ((s.max()! - min(s.min()!, 0)) / L, -min(s.min()!, 0))
                    }
                    let dq = subs.map(\.scale).max()! / 63, dmq = subs.map(\.offset).max()! / 63
                    let scale = (block.max()! - min(block.min()!, 0)) / L
                    bound = (0.5 * (scale + 0.5 * dq) + L / 2 * dq + 0.5 * dmq) * (1 + 1.0 / 1024)
                }
                for i in (32 * b)..<(32 * b + 32) {
                    XCTAssertLessThanOrEqual(abs(x[i] - y[i]), bound + 1e-7, "\(type) element \(i)")
                }
            }
            XCTAssertGreaterThan(zip(x, y).map { abs($0 - $1) }.max()!, 0, "\(type): lossless? the test would not see a bug")
        }
        // BF16 as ggml rounds (GGML_FP32_TO_BF16): ties to even on the top 16 bits, NaN quiet.
        let cases: [(UInt32, UInt16)] = [(0x3F80_8000, 0x3F80), (0x3F81_8000, 0x3F82), (0x3F80_8001, 0x3F81),
                                         (0x7F7F_FFFF, 0x7F80), (0x7F80_0001, 0x7FC0), (0x8000_0000, 0x8000)]
        for (f, h) in cases {
            let bytes = [Float(bitPattern: f)].withUnsafeBufferPointer { GGMLType.bf16.quantize($0.baseAddress!, count: 1) }
            XCTAssertEqual(UInt16(bytes[0]) | UInt16(bytes[1]) << 8, h, String(f, radix: 16))
        }
    }
}

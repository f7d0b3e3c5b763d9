import Foundation
import Formats
import Tensor
import TestSupport
import Transformer
import XCTest

/// GGUF model files written by gguf-py the way llama.cpp's converter lays them out
/// (Scripts/make-gguf-model-fixtures, from the HF golden fixtures): loading them must give
/// Hugging Face's logits, through both RoPE layouts (llama: permuted rows; qwen2 / gptneox: not).
enum GGUFFixtures {
    static var root: URL { Golden.root.appendingPathComponent("gguf") }
    static func url(_ name: String) -> URL { root.appendingPathComponent(name) }
    /// Float32 logits of one model on the golden batch (B, T) through the training forward.
    static func logits(_ m: TransformerModel, _ f: Golden.Fixture) -> [Float] {
        let ws = TrainingWorkspace(config: m.config, B: f.B, T: f.T)
        m.forward(tokens: f.tokens, workspace: ws)
        return ws.logits.array
    }
}

final class GGUFModelTests: XCTestCase {
    /// Each architecture: the GGUF loads through ModelBundle (no tokenizer embedded), its
    /// parameters equal bit for bit those loaded from the HF directory, and its logits match
    /// transformers' golden logits (Golden.logitsAtol, the golden tests' tolerance), for the
    /// training forward and the KV-cache session.
    func testEveryArchitectureMatchesTransformers() throws {
        for name in ["llama", "qwen2", "gpt2", "gpt_neox"] {
            let bundle = try ModelBundle.load(GGUFFixtures.url("\(name).gguf").path)
            XCTAssertEqual(bundle.format, "gguf")
            XCTAssertNil(bundle.tokenizer, "\(name): the fixture embeds no tokenizer")
            let f = try Golden.load(name)
            let m = bundle.model
            XCTAssertEqual(m.config.architecture, f.model.config.architecture, name)
            XCTAssertEqual(m.config.numKVHeads, f.model.config.numKVHeads, name)
            XCTAssertEqual(m.config.rotaryDim, f.model.config.rotaryDim, name)
            XCTAssertEqual(m.config.parallelResidual, f.model.config.parallelResidual, name)
            XCTAssertEqual(m.config.normEps, f.model.config.normEps, name)
            XCTAssertEqual(m.parameters.infos.map(\.name), f.model.parameters.infos.map(\.name), name)
            XCTAssertEqual(m.parameters.flat.array.map(\.bitPattern), f.model.parameters.flat.array.map(\.bitPattern),
                           "\(name): GGUF parameters differ from the HF directory's")
            let expected = try f.golden.floats("logits")
            let cmp = compare(GGUFFixtures.logits(m, f), expected, rtol: 0, atol: Golden.logitsAtol)
            print("\(name).gguf logits: \(cmp.passed ? "OK" : "NOT OK") max abs err \(cmp.maxAbs)")
            XCTAssertTrue(cmp.passed, "\(name).gguf logits \(cmp)")
            let s = InferenceSession(model: m, maxT: 16)
            let cached = try s.append(f.tokens.prefix(f.T).map(Int.init)).array
            XCTAssertTrue(compare(cached, try f.golden.floats("cached_logits"), rtol: 0, atol: Golden.logitsAtol).passed,
                          "\(name).gguf cached logits")
        }
    }

    /// F16 and Q8_0 files: logits match transformers run on the weights gguf-py dequantises from
    /// the same file (Golden.logitsAtol). The F32 golden differs by more than the tolerance
    /// (quantisation moves the logits by ≥ 5e-3), so this comparison can tell the two apart.
    func testQuantisedFilesMatchTransformersOnDequantisedWeights() throws {
        let f = try Golden.load("llama_tied")
        for type in ["f16", "q8_0"] {
            let (m, tok) = try GGUFModelLoader.load(GGUFFixtures.url("llama_tied-\(type).gguf"))
            XCTAssertNil(tok)
            XCTAssertTrue(m.config.tieWordEmbeddings)
            let golden = try SafetensorsFile(url: GGUFFixtures.url("llama_tied-\(type).golden.safetensors"))
            let ours = GGUFFixtures.logits(m, f)
            let cmp = compare(ours, try golden.floats("logits"), rtol: 0, atol: Golden.logitsAtol)
            print("llama_tied-\(type).gguf logits: \(cmp.passed ? "OK" : "NOT OK") max abs err \(cmp.maxAbs)")
            XCTAssertTrue(cmp.passed, "\(type): \(cmp)")
            XCTAssertFalse(compare(ours, try f.golden.floats("logits"), rtol: 0, atol: Golden.logitsAtol).passed,
                           "\(type): logits equal the float32 model's; the file was not quantised?")
        }
    }

    /// The F16 file loaded with `--weights native` (every matrix kept F16, multiplied by the F16
    /// row kernels through the KV-cache session) against transformers' logits on the weights
    /// gguf-py dequantises from it: an oracle independent of the kernels, Golden.logitsAtol.
    func testF16FileLoadedNativeMatchesTransformers() throws {
        let f = try Golden.load("llama_tied")
        let r = try GGUFModelLoader.load(GGUFFixtures.url("llama_tied-f16.gguf"), weights: .native)
        XCTAssertTrue(r.notes.isEmpty, "\(r.notes)")
        let native = try XCTUnwrap(r.model.native, "F16 matrices must load natively")
        XCTAssertEqual(Set(native.matrices.flatMap { $0.matrix.segments.map(\.type) }), [.f16])
        let golden = try SafetensorsFile(url: GGUFFixtures.url("llama_tied-f16.golden.safetensors")).floats("logits")
        let V = r.model.config.vocabSize
        for b in 0..<f.B {
            let s = InferenceSession(model: r.model, maxT: 16)
            let ours = try s.append(f.tokens[(b * f.T)..<((b + 1) * f.T)].map(Int.init)).array
            let cmp = compare(ours, Array(golden[(b * f.T * V)..<((b + 1) * f.T * V)]), rtol: 0, atol: Golden.logitsAtol)
            print("llama_tied-f16.gguf native, sequence \(b): \(cmp.passed ? "OK" : "NOT OK") max abs err \(cmp.maxAbs)")
            XCTAssertTrue(cmp.passed, "sequence \(b): \(cmp)")
        }
    }

    /// llama.cpp's permutation on a hand-worked head: HF rows [a0 a1 | b0 b1] (rotary pairs
    /// (a_i, b_i)) become adjacent pairs [a0 b0 a1 b1]; unpermute inverts it.
    func testRoPEPermutationByHand() {
        let hf: [Float] = [0, 1, 2, 3, 10, 11, 12, 13]   // 2 heads × HS 4, one column
        let gguf = GGUFModelLoader.permuteRoPE(hf, heads: 2, HS: 4, cols: 1)
        XCTAssertEqual(gguf, [0, 2, 1, 3, 10, 12, 11, 13])
        XCTAssertEqual(GGUFModelLoader.unpermuteRoPE(gguf, heads: 2, HS: 4, cols: 1), hf)
        var rng = RandomGenerator(seed: 7)
        let wide = (0..<(3 * 8 * 5)).map { _ in rng.nextFloat() }
        XCTAssertEqual(GGUFModelLoader.unpermuteRoPE(GGUFModelLoader.permuteRoPE(wide, heads: 3, HS: 8, cols: 5), heads: 3, HS: 8, cols: 5), wide)
    }

    /// `convert`: the HF directory written from a GGUF reloads with the same parameters (and
    /// so, by the test above, transformers' logits); no tokenizer files without a tokenizer.
    func testConvertWritesAReloadableDirectory() throws {
        for name in ["llama", "gpt2", "gpt_neox"] {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gguf-convert-\(name)-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: dir) }
            let written = try GGUFModelLoader.convert(GGUFFixtures.url("\(name).gguf"), to: dir)
            XCTAssertEqual(written, ["config.json", "model.safetensors"])
            let back = try TransformerModel.load(directory: dir)
            let f = try Golden.load(name)
            XCTAssertEqual(back.config, try GGUFModelLoader.load(GGUFFixtures.url("\(name).gguf")).0.config)
            let cmp = compare(GGUFFixtures.logits(back, f), try f.golden.floats("logits"), rtol: 0, atol: Golden.logitsAtol)
            XCTAssertTrue(cmp.passed, "\(name) converted: \(cmp)")
        }
    }
}

extension RandomGenerator {
    /// Uniform in [-1, 1) (test helper).
    mutating func nextFloat() -> Float { uniform() * 2 - 1 }
}

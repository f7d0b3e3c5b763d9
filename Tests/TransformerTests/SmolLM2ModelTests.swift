import Foundation
import Formats
import Tensor
import TestSupport
import Transformer
import XCTest

/// The real SmolLM2-135M-Instruct GGUF (Scripts/get-model smollm2) against Hugging Face
/// transformers loading the same file (`from_pretrained(dir, gguf_file=…)`, dequantised to
/// float32): expected values written by Scripts/compare-smollm2 into Fixtures/gguf/.
final class SmolLM2ModelTests: XCTestCase {
    /// Both sides compute in float32 from identical dequantised weights; logits of size ≈ 20
    /// through 30 layers in a different summation order (BLAS vs PyTorch) differ by ~1e-4, so the
    /// issue's 1e-3 holds with margin, while a wrong RoPE layout or norm epsilon moves them by > 0.1.
    static let logitsAtol = 1e-3
    /// Mean NLL per token: per-token errors of ≤ 1e-3 in the logits bound it by ~2e-3; measured ~1e-5.
    static let meanNLLAtol = 1e-3

    nonisolated(unsafe) static var cached: ModelBundle?

    /// The SmolLM2 file (``RealModels/smolLM2Path()``: fails under CI=true when it cannot be had).
    func modelPath() throws -> String { try RealModels.smolLM2Path() }

    /// The loaded model, shared by the tests of this class.
    func bundle() throws -> ModelBundle {
        if let b = Self.cached { return b }
        let b = try ModelBundle.load(try modelPath())
        Self.cached = b
        return b
    }

    func testEncodesAndGreedilyContinuesLikeTransformers() throws {
        let b = try bundle()
        let tok = try b.requireTokenizer()
        let ids = tok.encode("The capital of France is")
        XCTAssertEqual(ids, [504, 3575, 282, 4649, 314])
        let g = Generator(model: b.model, settings: SamplingSettings(temperature: 0, topK: 0, topP: 1), seed: 1, maxT: 64)
        var out: [Int] = []
        try g.generate(prompt: ids, maxTokens: 8) { out.append($0) }
        XCTAssertEqual(tok.decode(out), " Paris.\n\nThe answer is:")
        let fixture = try JSONSerialization.jsonObject(with: Data(contentsOf: GGUFFixtures.url("smollm2-perplexity.json"))) as! [String: Any]
        XCTAssertEqual(out, fixture["greedy_ids"] as? [Int], "greedy ids differ from transformers' generate")
    }

    /// Every position of three prompts: the 40 largest logits (ids and values) and 64 fixed
    /// vocabulary ids; and every logit of the first prompt's last position.
    func testLogitsMatchTransformers() throws {
        let b = try bundle()
        let tok = try b.requireTokenizer()
        let f = try SafetensorsFile(url: GGUFFixtures.url("smollm2-logits.safetensors"))
        let V = b.model.config.vocabSize
        let sample = try f.floats("sample_ids").map { Int($0) }
        let session = InferenceSession(model: b.model, maxT: 64)
        var worst = 0.0
        for k in 0..<3 {
            let prompt = try XCTUnwrap(f.metadata["prompt\(k)"])
            let ids = try f.floats("p\(k).ids").map { Int($0) }
            XCTAssertEqual(tok.encode(prompt), ids, "prompt \(k) tokenises differently from transformers")
            session.reset()
            let logits = try session.append(ids).array   // (T, V)
            let T = ids.count
            let topIDs = try f.floats("p\(k).top_ids").map { Int($0) }, top = try f.floats("p\(k).top_logits")
            let sampled = try f.floats("p\(k).sample_logits")
            let ours = (0..<(T * 40)).map { logits[($0 / 40) * V + topIDs[$0]] }
            let oursSampled = (0..<(T * 64)).map { logits[($0 / 64) * V + sample[$0 % 64]] }
            for (name, a, e) in [("top-40", ours, top), ("sampled", oursSampled, sampled)] {
                let c = compare(a, e, rtol: 0, atol: Self.logitsAtol)
                worst = max(worst, c.maxAbs)
                XCTAssertTrue(c.passed, "prompt \(k) \(name) logits: \(c)")
            }
            // The argmax at every position agrees (first of the top 40).
            for t in 0..<T {
                let row = logits[(t * V)..<((t + 1) * V)]
                XCTAssertEqual(row.firstIndex(of: row.max()!)! - t * V, topIDs[t * 40], "prompt \(k) position \(t) argmax")
            }
            if k == 0 {
                let c = compare(Array(logits[((T - 1) * V)..<(T * V)]), try f.floats("p0.last_logits"), rtol: 0, atol: Self.logitsAtol)
                worst = max(worst, c.maxAbs)
                XCTAssertTrue(c.passed, "prompt 0 last-position logits: \(c)")
            }
        }
        print("SmolLM2 logits vs transformers: max abs err \(worst)")
    }

    /// SmolLM2's template adds its default system message; rendering and ids match transformers'
    /// apply_chat_template, from the committed template text and from the GGUF's own metadata.
    func testChatTemplateMatchesTransformers() throws {
        let b = try bundle()
        let tok = try b.requireTokenizer()
        let fixture = try SmolLM2ChatFixture.load()
        let fromGGUF = try XCTUnwrap(try ChatTemplate.find(forModelAt: b.path))
        XCTAssertEqual(fromGGUF, try ChatTemplate(jinja: fixture.template, source: "smollm2-chat.json"))
        XCTAssertEqual(fromGGUF.defaultSystemPrompt, "You are a helpful AI assistant named SmolLM, trained by Hugging Face")
        for c in fixture.cases {
            XCTAssertEqual(fromGGUF.render(c.messages), c.rendered)
            XCTAssertEqual(tok.encode(c.rendered, addSpecialTokens: false), c.ids, "ids of \(c.rendered.debugDescription)")
        }
    }

    /// Perplexity on a Macbeth passage (context 512, stride 256: three windows), against
    /// transformers' with the same windowing.
    func testPerplexityMatchesTransformers() throws {
        let b = try bundle()
        let tok = try b.requireTokenizer()
        let fixture = try JSONSerialization.jsonObject(with: Data(contentsOf: GGUFFixtures.url("smollm2-perplexity.json"))) as! [String: Any]
        let text = fixture["text"] as! String, ids = fixture["ids"] as! [Int]
        XCTAssertEqual(tok.encode(text), ids, "the passage tokenises differently from transformers")
        let expected = (fixture["results"] as! [[String: Any]]).first { $0["context"] as? Int == 512 }!
        let start = Date()
        let r = try perplexity(model: b.model, tokens: ids, context: 512, stride: 256)
        let seconds = Date().timeIntervalSince(start)
        XCTAssertEqual(r.scoredTokens, expected["count"] as? Int)
        XCTAssertEqual(r.windows, expected["windows"] as? Int)
        let theirs = expected["mean_nll"] as! Double
        print(String(format: "SmolLM2 perplexity, %d tokens, context 512 stride 256: specdistill %.4f (mean NLL %.6f) | transformers %.4f (mean NLL %.6f); %.1f s",
                     ids.count, r.perplexity, r.meanNLL, exp(theirs), theirs, seconds))
        XCTAssertEqual(r.meanNLL, theirs, accuracy: Self.meanNLLAtol)
    }

    /// Load time (dequantise + layout) and resident memory around the load, for the report
    /// (run alone, `--filter SmolLM2ModelTests/testLoadTimeAndMemory`, for a clean process);
    /// checks the parameter count (134,515,008 floats: tied embeddings, as in the file).
    func testLoadTimeAndMemory() throws {
        let path = try modelPath()
        func memory() -> String {
            let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
            return status.split(separator: "\n").filter { $0.hasPrefix("VmRSS") || $0.hasPrefix("VmHWM") }
                .map { $0.split(whereSeparator: \.isWhitespace).joined(separator: " ") }.joined(separator: ", ")
        }
        let before = memory()
        let start = Date()
        let (model, tokenizer) = try GGUFModelLoader.load(URL(fileURLWithPath: path))
        let seconds = Date().timeIntervalSince(start)
        XCTAssertEqual(model.parameterCount, 134_515_008)
        XCTAssertNotNil(tokenizer)
        print(String(format: "SmolLM2 GGUF load (open, dequantise, layout, tokenizer): %.2f s; before: %@; after: %@ (float32 parameters: %.0f MB; other SmolLM2 tests of this process may hold a second copy)",
                     seconds, before, memory(), Double(model.parameterCount * 4) / 1e6))
    }
}

/// Fixtures/gguf/smollm2-chat.json (Scripts/compare-smollm2).
struct SmolLM2ChatFixture: Decodable {
    struct Case: Decodable { let messages: [ChatMessage]; let rendered: String; let ids: [Int] }
    let template: String
    let cases: [Case]
    enum CodingKeys: String, CodingKey { case template = "chat_template", cases }
    static func load() throws -> SmolLM2ChatFixture {
        try JSONDecoder().decode(SmolLM2ChatFixture.self, from: Data(contentsOf: GGUFFixtures.url("smollm2-chat.json")))
    }
}

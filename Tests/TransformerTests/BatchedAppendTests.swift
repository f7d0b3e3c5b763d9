import Tensor
import TestSupport
import Transformer
import XCTest

/// ``InferenceSession/append(_:)`` over a batch of sessions (continuous batching): each row's
/// logits are bitwise those of appending its tokens to its session alone (oracle: the
/// single-session append, itself tested against the full forward and transformers' logits), for
/// every architecture's position scheme, and a batch that cannot be appended changes nothing.
final class BatchedAppendTests: XCTestCase {
    /// Sessions at different lengths, extended by 1, 2 and 3 tokens in one batch, against the
    /// same appends one session at a time — for RoPE (Llama, GPT-NeoX's partial rotary, parallel
    /// residual) and learned positions (GPT-2).
    func testBatchedRowsEqualEachSessionAloneBitwise() throws {
        for architecture in [Architecture.llama, .gpt2, .gptNeoX] {
            let config = ModelConfig.preset("tiny", architecture: architecture, vocabSize: 97, context: 32)!
            let model = try TransformerModel(config: config)
            model.initialize(seed: 3)
            let prompts = [[5, 9, 14, 2], [7], [3, 3, 8, 60, 1, 11]]
            let next = [[41], [12, 96], [0, 33, 7]]
            var alone: [[UInt32]] = []
            for (p, t) in zip(prompts, next) {
                let s = InferenceSession(model: model, maxT: 16)
                _ = try s.append(p)
                alone.append(try s.append(t).array.map(\.bitPattern))
            }
            let sessions = prompts.map { _ in InferenceSession(model: model, maxT: 16) }
            for (s, p) in zip(sessions, prompts) { _ = try s.append(p) }
            let together = try InferenceSession.append(Array(zip(sessions, next))).array.map(\.bitPattern)
            XCTAssertEqual(together, alone.flatMap { $0 }, "\(architecture): batched rows differ from single-session appends")
            XCTAssertEqual(sessions.map(\.length), zip(prompts, next).map { $0.count + $1.count })
            // A second batched step continues each sequence from its own position.
            let again = try InferenceSession.append(sessions.map { ($0, [4]) }).array.map(\.bitPattern)
            for (b, (p, t)) in zip(prompts, next).enumerated() {
                let s = InferenceSession(model: model, maxT: 16)
                _ = try s.append(p + t)
                XCTAssertEqual(Array(again[(b * 97)..<((b + 1) * 97)]), try s.append([4]).array.map(\.bitPattern),
                               "\(architecture): second step of sequence \(b)")
            }
        }
    }

    /// A member that would overflow its cache, or an id outside the vocabulary, throws a message
    /// naming the problem before anything runs: no session's length moves.
    func testABatchThatCannotBeAppendedChangesNoSession() throws {
        let config = ModelConfig.preset("tiny", vocabSize: 50, context: 32)!
        let model = try TransformerModel(config: config)
        model.initialize(seed: 1)
        let a = InferenceSession(model: model, maxT: 8), b = InferenceSession(model: model, maxT: 4)
        _ = try a.append([1, 2]); _ = try b.append([1, 2, 3])
        XCTAssertThrowsError(try InferenceSession.append([(a, [4]), (b, [5, 6])])) { e in
            XCTAssertTrue("\(e)".contains("exceed the context of 4"), "\(e)")
        }
        XCTAssertThrowsError(try InferenceSession.append([(a, [4]), (b, [50])])) { e in
            XCTAssertTrue("\(e)".contains("outside the model's vocabulary of 50"), "\(e)")
        }
        XCTAssertThrowsError(try InferenceSession.append([])) { e in XCTAssertTrue("\(e)".contains("empty batch"), "\(e)") }
        XCTAssertEqual([a.length, b.length], [2, 3])
    }

    /// Native GGUF weights: the real SmolLM2 file, eight sequences at once (two passes of the
    /// 4-row kernels), equal bitwise to each alone.
    func testNativeBatchOfEightEqualsEachAlone() throws {
        let bundle = try ModelBundle.load(RealModels.smolLM2Path(), weights: .native)
        let tok = try bundle.requireTokenizer()
        let texts = ["Hello", "The capital of France is", "1 + 1 =", "def f(x):", "Once upon a time", "Q: why?", "Speculative", "A B C D E"]
        let prompts = texts.map { tok.encode($0) }
        var alone = [[UInt32]](repeating: [], count: prompts.count)
        for (i, p) in prompts.enumerated() {
            let s = InferenceSession(model: bundle.model, maxT: 32)
            if p.count > 1 { _ = try s.append(Array(p.dropLast())) }
            alone[i] = try s.append([p[p.count - 1]]).array.map(\.bitPattern)
        }
        let fresh = prompts.map { _ in InferenceSession(model: bundle.model, maxT: 32) }
        for (s, p) in zip(fresh, prompts) where p.count > 1 { _ = try s.append(Array(p.dropLast())) }
        let together = try InferenceSession.append(zip(fresh, prompts).map { ($0, [$1[$1.count - 1]]) }).array.map(\.bitPattern)
        XCTAssertEqual(together, alone.flatMap { $0 })
    }

    /// `extend` (a prompt prefix without logits) leaves the cache bitwise as `append` does: the
    /// next position's logits are equal, for float32 and native weights.
    func testExtendLeavesTheCacheAsAppendDoes() throws {
        let config = ModelConfig.preset("tiny", vocabSize: 61, context: 32)!
        let tiny = try TransformerModel(config: config)
        tiny.initialize(seed: 5)
        let native = try ModelBundle.load(RealModels.smolLM2Path(), weights: .native).model
        for (model, prompt) in [(tiny, [3, 14, 15, 9, 2, 6]), (native, [504, 3575, 314, 7042, 30, 198])] {
            let a = InferenceSession(model: model, maxT: 16), b = InferenceSession(model: model, maxT: 16)
            _ = try a.append(prompt)
            try b.extend(prompt)
            XCTAssertEqual(b.length, prompt.count)
            XCTAssertEqual(try a.append([7]).array.map(\.bitPattern), try b.append([7]).array.map(\.bitPattern))
        }
    }
}

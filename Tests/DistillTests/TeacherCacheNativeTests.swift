import Distill
import Formats
import Foundation
import Tensor
import TestSupport
import Tokenizers
import Transformer
import XCTest

/// The teacher cache built through native (GGUF-typed) weights: ``InferenceSession`` per example.
final class TeacherCacheNativeTests: XCTestCase {
    let T = 16

    /// A tiny llama teacher written as Q8_0 GGUF and loaded natively and as float32, with the
    /// corpus tokenizer and dataset of ``TeacherCacheTests``.
    func setup(K: Int = 8) throws -> (tok: Tokenizer, native: TransformerModel, f32: TransformerModel, data: PromptDataset,
                                      identity: TeacherCacheIdentity) {
        let tok = try BPETrainer(vocabularySize: 280).train(TeacherCacheTests.corpus)
        // F a multiple of 32 (Q8_0 blocks along every matrix's columns).
        let config = ModelConfig(architecture: .llama, vocabSize: tok.vocabularySize, hiddenSize: 64, numLayers: 2, numHeads: 4,
                                 intermediateSize: 192, maxPositions: 32, tieWordEmbeddings: false)
        let model = try TransformerModel(config: config)
        model.initialize(seed: 1)
        Elementwise.scale(model.parameters["lm_head.weight"].pointer, by: 20, count: model.parameters["lm_head.weight"].count)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("tcache-native-\(UUID().uuidString).gguf")
        defer { try? FileManager.default.removeItem(at: url) }
        try GGUFModelWriter.write(model, to: url, type: .q8_0, tokenizerSource: nil)
        let native = try GGUFModelLoader.load(url, weights: .native).model, f32 = try GGUFModelLoader.load(url, weights: .f32).model
        XCTAssertNotNil(native.native?.head, "the Q8_0 output layer is held natively")
        let identity = TeacherCacheIdentity(targetSHA256: "aa", dataSHA256: "bb", template: "plain", topK: K, temperature: 1.5,
                                            context: T, vocabSize: tok.vocabularySize)
        return (tok, native, f32, TinyPair.dataset(TeacherCacheTests.corpus), identity)
    }

    func tempDir() throws -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("tcache-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        return u
    }

    func builder(_ teacher: TransformerModel, _ s: (tok: Tokenizer, native: TransformerModel, f32: TransformerModel, data: PromptDataset,
                                                    identity: TeacherCacheIdentity)) -> TeacherCacheBuilder {
        var b = TeacherCacheBuilder(teacher: teacher, tokenizer: s.tok, dataset: s.data, identity: s.identity)
        b.examplesPerShard = 3; b.batchSize = 2; b.appendRows = 3  // appends of 3 rows: several per example
        return b
    }

    /// The packing rule: supervised positions are the contiguous range whose next token is a
    /// response token, inside the T inputs; a response cut off entirely leaves none.
    func testPackedSequenceSupervisedRange() {
        let a = PackedSequence(prompt: [1, 2, 3], response: [4, 5], T: 6)
        XCTAssertEqual(a.tokens, [1, 2, 3, 4, 5]); XCTAssertEqual(a.supervised, 2..<4); XCTAssertEqual(a.inputCount, 5)
        let b = PackedSequence(prompt: [1, 2, 3, 4, 5], response: [6, 7, 8, 9], T: 6)  // left-truncated to T + 1 = 7
        XCTAssertEqual(b.tokens, [3, 4, 5, 6, 7, 8, 9]); XCTAssertEqual(b.supervised, 2..<6); XCTAssertEqual(b.inputCount, 6)
        let c = PackedSequence(prompt: [1, 2, 3, 4, 5, 6, 7, 8], response: [9], T: 4)  // one prompt token kept… response still fits
        XCTAssertEqual(c.tokens, [5, 6, 7, 8, 9]); XCTAssertEqual(c.supervised, 3..<4)
        let d = PackedSequence(prompt: [1], response: [2, 3, 4, 5, 6, 7], T: 3)  // response longer than the context
        XCTAssertEqual(d.tokens, [1, 2, 3, 4]); XCTAssertEqual(d.supervised, 0..<3)
    }

    /// Stored rows equal a one-token-at-a-time session over the packed tokens (the native kernels are
    /// batch-invariant, so its logits are bitwise those of the builder's appends) reduced to top-K in
    /// Double: same positions and ids, log-probs and tails to float tolerance.
    func testNativeBuildEqualsSessionOracle() throws {
        let s = try setup()
        let cache = try builder(s.native, s).build(into: try tempDir())
        XCTAssertEqual(cache.manifest.weights, "native")
        let V = s.native.config.vocabSize, K = s.identity.topK
        var checked = 0
        for i in 0..<s.data.examples.count {
            let packed = PackedSequence(prompt: s.data.promptIDs(i, tokenizer: s.tok), response: s.data.responseIDs(i, tokenizer: s.tok), T: T)
            let session = InferenceSession(model: s.native, maxT: T)
            var logits: [[Float]] = []
            for t in 0..<packed.inputCount { logits.append(try session.append([packed.tokens[t]]).array) }
            let stored = cache.rows(example: i)
            XCTAssertEqual(stored.positions.map { Int($0) }, Array(packed.supervised), "example \(i) positions")
            for (m, t) in packed.supervised.enumerated() {
                XCTAssertEqual(logits[t].count, V)
                assertCachedRow(stored, m, K: K, teacher: logits[t].map(Double.init), temperature: s.identity.temperature,
                                "example \(i) t \(t)")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 20)
    }

    /// Native and float32 builds of the same file store the same positions and nearly the same
    /// distributions (the native kernels quantise activations to 8 bits): the top-1 ids agree at
    /// ≥ 90% of positions and the top-1 log-probability within 0.05 where they agree. A wrong row or
    /// position would agree at chance (≈ 1/V).
    func testNativeAndFloatBuildsAgree() throws {
        let s = try setup()
        let native = try builder(s.native, s).build(into: try tempDir()), f32 = try builder(s.f32, s).build(into: try tempDir())
        XCTAssertEqual(f32.manifest.weights, "f32")
        let K = s.identity.topK
        var agree = 0, total = 0, worst = 0.0
        for i in 0..<s.data.examples.count {
            let a = native.rows(example: i), b = f32.rows(example: i)
            XCTAssertEqual(Array(a.positions), Array(b.positions), "example \(i)")
            for m in 0..<min(a.positions.count, b.positions.count) {
                total += 1
                if a.ids[m * K] == b.ids[m * K] {
                    agree += 1; worst = max(worst, Double(abs(a.logProbs[m * K] - b.logProbs[m * K])))
                }
            }
        }
        XCTAssertGreaterThan(total, 20)
        XCTAssertGreaterThanOrEqual(Double(agree) / Double(total), 0.9, "top-1 agreement \(agree)/\(total)")
        XCTAssertLessThan(worst, 0.05)
    }

    /// An interrupted native build resumes byte-identical; resuming it with float32 weights is
    /// refused (one cache never mixes the two), naming the weights and the fix.
    func testNativeResumeAndOtherWeightsRefused() throws {
        let s = try setup()
        let whole = try tempDir(), split = try tempDir()
        try builder(s.native, s).build(into: whole)
        struct Stop: Error {}
        XCTAssertThrowsError(try builder(s.native, s).build(into: split) { if case .shardWritten(0, _) = $0 { throw Stop() } })
        XCTAssertThrowsError(try builder(s.f32, s).build(into: split)) {
            XCTAssertTrue("\($0)".contains("--weights native") && "\($0)".contains("--weights f32"), "\($0)")
        }
        try builder(s.native, s).build(into: split)
        for name in try FileManager.default.contentsOfDirectory(atPath: whole.path).sorted() {
            XCTAssertEqual(try Data(contentsOf: whole.appendingPathComponent(name)), try Data(contentsOf: split.appendingPathComponent(name)), name)
        }
        // A complete cache serves either: the weights are not part of its identity.
        XCTAssertNoThrow(try builder(s.f32, s).build(into: split))
    }

    /// A context longer than the target's positions is refused before anything is computed.
    func testContextBeyondTheTargetIsRefused() throws {
        var s = try setup()
        s.identity.context = 64
        XCTAssertThrowsError(try builder(s.native, s).build(into: try tempDir())) {
            XCTAssertTrue("\($0)".contains("--context 64") && "\($0)".contains("32 positions"), "\($0)")
        }
    }

    /// The real target (SmolLM2-135M Q4_1, native): cached rows of two GSM8K-like examples at
    /// context 48 equal one-token session appends (bitwise logits) reduced to top-16 in Double.
    func testSmolLM2NativeCacheEqualsSessionOracle() throws {
        let bundle = try ModelBundle.load(RealModels.smolLM2Path(), weights: .native)
        let tok = try XCTUnwrap(bundle.tokenizer), model = bundle.model
        let data = PromptDataset(examples: [
            PromptExample(prompt: "Question: Tom has 3 apples and buys 5 more. How many apples?\nAnswer:", response: " Tom has 3 + 5 = 8 apples. The final answer is: 8"),
            PromptExample(prompt: "Summarise: The council voted to close the bridge for repairs.", response: " The bridge will close for repairs."),
        ], template: .plain)
        let identity = TeacherCacheIdentity(targetSHA256: "x", dataSHA256: "y", template: "plain", topK: 16, temperature: 1, context: 48,
                                            vocabSize: tok.vocabularySize)
        var b = TeacherCacheBuilder(teacher: model, tokenizer: tok, dataset: data, identity: identity)
        b.appendRows = 7
        let cache = try b.build(into: try tempDir())
        var checked = 0
        for i in 0..<2 {
            let packed = PackedSequence(prompt: data.promptIDs(i, tokenizer: tok), response: data.responseIDs(i, tokenizer: tok), T: 48)
            let session = InferenceSession(model: model, maxT: 48)
            let stored = cache.rows(example: i)
            XCTAssertEqual(stored.positions.map { Int($0) }, Array(packed.supervised))
            var m = 0
            for t in 0..<packed.inputCount {
                let u = try session.append([packed.tokens[t]]).array
                guard packed.supervised.contains(t) else { continue }
                assertCachedRow(stored, m, K: 16, teacher: u.map(Double.init), temperature: 1, "example \(i) t \(t)", tolerance: 1e-4)
                m += 1; checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 15)
    }
}

import Foundation
import SpecDecode
import Transformer
import TestSupport
import XCTest

/// Greedy speculative decoding with a target whose matrices stay in their GGUF types
/// (SmolLM2-135M Q4_1, `--weights native`) gives exactly the plain greedy output: it rests on the
/// quantised kernels' batch invariance (verification of gamma + 1 rows = single steps, bitwise).
final class NativeWeightsDecodingTests: XCTestCase {
    /// The SmolLM2 file (``RealModels/smolLM2Path()``: fails under CI=true when it cannot be had).
    func modelPath() throws -> String { try RealModels.smolLM2Path() }

    func testGreedySpeculativeEqualsGreedyPlainWithNativeTarget() throws {
        let bundle = try ModelBundle.load(try modelPath(), weights: .native)
        XCTAssertNotNil(bundle.model.native)
        let tok = try bundle.requireTokenizer()
        // A draft of 4 of the target's 30 layers (float32: a draft built from target layers is
        // always float32), and the native target itself as a second draft.
        let draft = try bundle.model.truncatedCopy(layers: bundle.model.evenlySpacedLayers(4))
        var accepted = 0, rejections = 0
        for text in ["The capital of France is", "def fibonacci(n):"] {
            let prompt = tok.encode(text), maxTokens = 24
            let plain = try PlainDecoder(model: SessionModel(model: bundle.model, maxT: 64), sampling: .greedy, seed: 1)
                .decode(prompt: prompt, maxTokens: maxTokens)
            for (d, gamma) in [(draft, 2), (draft, 5), (bundle.model, 4)] {
                let dec = try makeDecoder(target: SessionModel(model: bundle.model, maxT: 64), draft: SessionModel(model: d, maxT: 64),
                                          draftSettings: DraftSettings(draftMax: gamma))
                let out = try dec.decode(prompt: prompt, maxTokens: maxTokens)
                XCTAssertEqual(out.tokens, plain.tokens, "\(text), gamma \(gamma), self-draft \(d === bundle.model)")
                accepted += out.statistics.accepted; rejections += out.statistics.rejections
                if d === bundle.model { XCTAssertEqual(out.statistics.rejections, 0, "the same model must accept every draft") }
            }
        }
        XCTAssertGreaterThan(accepted, 0); XCTAssertGreaterThan(rejections, 0)
    }
}

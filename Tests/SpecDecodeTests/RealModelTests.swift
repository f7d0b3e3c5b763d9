import Foundation
import SpecDecode
import Transformer
import XCTest

/// Greedy equality on the runtime's real tiny models (the Llama fixtures of TransformerTests:
/// V 96, C 32, L 2, context 64), where it rests on batch-invariant verification, not on
/// construction: a verification row that differed from single-step decoding by one rounding
/// could flip a near-tied argmax.
final class RealModelTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("TransformerTests/Fixtures")

    func load(_ name: String) throws -> TransformerModel {
        try TransformerModel.load(directory: RealModelTests.fixtures.appendingPathComponent(name))
    }

    /// Prompts of 1, 5 and 20 tokens (20 > 16: the prompt prefill takes the sgemm path).
    let prompts: [[Int]] = [[7], [1, 40, 3, 95, 12], (0..<20).map { ($0 * 37 + 11) % 96 }]

    func testGreedySpeculativeEqualsGreedyPlain() throws {
        let llama = try load("llama"), tied = try load("llama_tied")
        var accepted = 0, rejections = 0
        for (t, d) in [(llama, tied), (tied, llama)] {
            for prompt in prompts {
                let maxTokens = 64 - prompt.count + 1   // up to the context limit
                let plain = try PlainDecoder(model: SessionModel(model: t), sampling: .greedy, seed: 1)
                    .decode(prompt: prompt, maxTokens: maxTokens)
                XCTAssertEqual(plain.tokens.count, maxTokens)
                for settings in scheduleSweep {
                    let dec = try makeDecoder(target: SessionModel(model: t), draft: SessionModel(model: d), draftSettings: settings)
                    let out = try dec.decode(prompt: prompt, maxTokens: maxTokens)
                    XCTAssertEqual(out.tokens, plain.tokens, "prompt \(prompt.count) tokens, \(settings)")
                    accepted += out.statistics.accepted; rejections += out.statistics.rejections
                }
            }
        }
        XCTAssertGreaterThan(accepted, 0); XCTAssertGreaterThan(rejections, 0)
    }

    /// The same model as target and draft: single-step draft logits and batched verification
    /// logits are bitwise equal, so every draft is accepted.
    func testSameModelAcceptsEverything() throws {
        let llama = try load("llama")
        for gamma in [1, 2, 4, 8] {
            let dec = try makeDecoder(target: SessionModel(model: llama), draft: SessionModel(model: llama),
                                      draftSettings: DraftSettings(draftMax: gamma))
            for prompt in prompts {
                let s = try dec.decode(prompt: prompt, maxTokens: 3 * (gamma + 1)).statistics
                XCTAssertEqual(s.rejections, 0, "gamma \(gamma), prompt \(prompt.count) tokens")
                XCTAssertEqual(s.derived.tokensPerTargetCall, Double(gamma + 1))
            }
        }
    }

    /// Weight bytes per step, by hand for the fixture (V 96, C 32, L 2, NH 4, NKV 2, HS 8, F 64):
    /// per layer 32 + 64·32 + 32·32 + 32 + 128·32 + 32·64 = 9280; 2 layers + final norm 32 +
    /// head 96·32 = 21664 floats (the gathered embedding excluded; when tied it is the head).
    func testWeightBytesPerStep() throws {
        XCTAssertEqual(try load("llama").weightBytesPerStep(), 21664 * 4)
        XCTAssertEqual(try load("llama_tied").weightBytesPerStep(), 21664 * 4)
    }
}

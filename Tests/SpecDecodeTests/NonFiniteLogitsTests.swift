import Foundation
import SpecDecode
import Transformer
import XCTest

/// Sampling from NaN or +Inf logits (a model with corrupt weights) ends decoding with an error
/// naming the model, where it used to trap in `RandomGenerator.categorical`.
final class NonFiniteLogitsTests: XCTestCase {
    let V = 6
    let sampling = SamplingSettings(temperature: 1)

    /// A transition model whose logits after token `bad` are all `value`.
    func model(poisoning bad: Int, with value: Float, seed: UInt64) -> TransitionModel {
        let good = TransitionModel.random(V: V, seed: seed)
        var table = good.table
        for j in 0..<V { table[bad * V + j] = value }
        return TransitionModel(width: V, table: table)
    }

    func testSpeculativeSamplingThrowsNamingTheModel() throws {
        for value: Float in [.nan, .infinity] {
            // Broken draft: every context's draft logits are non-finite.
            let badDraft = TransitionModel(width: V, table: [Float](repeating: value, count: V * V))
            let d1 = try makeDecoder(target: TransitionModel.random(V: V, seed: 1), draft: badDraft, sampling: sampling,
                                     draftSettings: DraftSettings(draftMax: 3))
            XCTAssertThrowsError(try d1.decode(prompt: [0], maxTokens: 20)) {
                XCTAssertTrue("\($0)".contains("draft model's logits"), "\(value): \($0)")
                XCTAssertTrue("\($0)".contains("NaN/Inf"), "\($0)")
            }
            // Broken target: its logits after every token are non-finite (judging and bonus tokens).
            let badTarget = TransitionModel(width: V, table: [Float](repeating: value, count: V * V))
            let d2 = try makeDecoder(target: badTarget, draft: TransitionModel.random(V: V, seed: 2), sampling: sampling,
                                     draftSettings: DraftSettings(draftMax: 3))
            XCTAssertThrowsError(try d2.decode(prompt: [0], maxTokens: 20)) {
                XCTAssertTrue("\($0)".contains("target model's logits"), "\(value): \($0)")
            }
            XCTAssertThrowsError(try PlainDecoder(model: badTarget.fresh(), sampling: sampling, seed: 1).decode(prompt: [0], maxTokens: 5)) {
                XCTAssertTrue("\($0)".contains("NaN/Inf"), "\(value): \($0)")
            }
        }
    }

    /// −Inf logits are masked tokens, not an error; finite models decode as before.
    func testMaskedAndFiniteLogitsStillDecode() throws {
        let masked = model(poisoning: 2, with: -.infinity, seed: 3)
        var table = masked.table
        table[2 * V + 4] = 0   // after token 2 only token 4 is possible
        let target = TransitionModel(width: V, table: table)
        let d = try makeDecoder(target: target, draft: TransitionModel.random(V: V, seed: 4), sampling: sampling,
                                draftSettings: DraftSettings(draftMax: 3))
        let out = try d.decode(prompt: [2], maxTokens: 30).tokens
        XCTAssertEqual(out.count, 30)
        let seq = [2] + out
        for i in 1..<seq.count where seq[i - 1] == 2 { XCTAssertEqual(seq[i], 4, "after 2 only 4 has probability > 0") }
    }
}

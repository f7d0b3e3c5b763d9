import Foundation
import SpecDecode
import Tensor
import Transformer
import XCTest

/// A draft that reads the target's hidden states (``FeatureDraftModel`` over a
/// ``FeatureRecordingModel``): the staleness rule, the features it reads, and greedy output equal
/// to plain decoding.
final class FeatureDraftTests: XCTestCase {
    /// A tiny llama target and a 1-layer feature draft from its layers with random (non-zero) W.
    func pair(D: Int = 3) throws -> (TransformerModel, TransformerModel) {
        var c = ModelConfig.preset("tiny", vocabSize: 60, context: 64)!
        c.numLayers = 3
        let target = try TransformerModel(config: c)
        target.initialize(seed: 5)
        Elementwise.scale(target.parameters["lm_head.weight"].pointer, by: 8, count: target.parameters["lm_head.weight"].count)
        // All the target's layers, so that the draft agrees often; W perturbs it into rejections.
        let draft = try target.truncatedCopy(layers: [0, 1, 2]).addingFeatureInput(staleness: D, width: c.hiddenSize)
        var rng = RandomGenerator(seed: 6)
        rng.fillNormal(draft.parameters[FeatureInput.parameterName], std: 0.05)
        return (target, draft)
    }

    func testStalenessAndFeaturesFollowTheRule() throws {
        let (target, draft) = try pair()
        let C = target.config.hiddenSize
        let features = TargetFeatures(width: C, capacity: 64)
        let t = FeatureRecordingModel(InferenceSession(model: target, maxT: 64), features: features)
        let session = InferenceSession(model: draft, maxT: 64)
        let d = try FeatureDraftModel(session, features: features)
        let prompt = [4, 9, 17, 2, 30], P = prompt.count
        try t.extend(Array(prompt.dropLast()))
        _ = try t.append([prompt.last!])
        let lastPromptState = Array(UnsafeBufferPointer(start: t.lastHiddenStates!.pointer, count: C))
        try d.extend(prompt)
        XCTAssertEqual(d.staleness, [0, 0, 0, 0, 0], "the target holds no state before the last prompt position")
        // Drafting: the newest state is at P − 1 while the target waits.
        var logits: [[Float]] = []
        for (k, tok) in [11, 12, 13, 14].enumerated() {
            let l = try d.append([tok])
            logits.append(Array(UnsafeBufferPointer(start: l.pointer, count: l.shape[1])))
            XCTAssertEqual(d.staleness, [Int32(min(k + 1, 3))], "draft token \(k + 1) at position \(P + k)")
        }
        // The first drafted row read the last prompt state with W_1: recompute it directly.
        let check = InferenceSession(model: draft, maxT: 64)
        try check.extend(prompt)
        let direct = try lastPromptState.withUnsafeBufferPointer { try check.append([11], features: $0.baseAddress!, staleness: [1]) }
        XCTAssertEqual(Array(UnsafeBufferPointer(start: direct.pointer, count: direct.shape[1])), logits[0])
        // Verification of 11, 12, 13; two accepted: both caches roll back to P + 2.
        _ = try t.append([11, 12, 13])
        let verified = Array(UnsafeBufferPointer(start: t.lastHiddenStates!.pointer, count: 3 * C))
        t.truncate(to: P + 2); d.truncate(to: P + 2)
        XCTAssertEqual(features.length, P + 2)
        // The next token reads the state at P + 1 (row 1 of the verification) with d = 1.
        let next = try d.append([20])
        XCTAssertEqual(d.staleness, [1])
        check.truncate(to: P)
        for (tok, age) in [(11, Int32(1)), (12, 2)] {   // the draft read 11 and 12 with the last prompt state
            _ = try lastPromptState.withUnsafeBufferPointer { try check.append([tok], features: $0.baseAddress!, staleness: [age]) }
        }
        let direct2 = try Array(verified[C..<(2 * C)]).withUnsafeBufferPointer { try check.append([20], features: $0.baseAddress!, staleness: [1]) }
        XCTAssertEqual(Array(UnsafeBufferPointer(start: direct2.pointer, count: direct2.shape[1])),
                       Array(UnsafeBufferPointer(start: next.pointer, count: next.shape[1])))
        // A catch-up of two tokens whose states the target holds reads d = 1 for both.
        t.truncate(to: P + 2); _ = try t.append([20, 21]); d.truncate(to: P + 2)
        _ = try d.append([20, 21])
        XCTAssertEqual(d.staleness, [1, 1])
    }

    func testGreedyOutputEqualsPlainDecoding() throws {
        let (target, draft) = try pair()
        var accepted = 0, rejected = 0
        for prompt in [[3], [5, 8, 13, 21], [40, 2, 2, 7, 19, 33, 1, 0, 12]] {
            let plain = try PlainDecoder(model: InferenceSession(model: target, maxT: 64), sampling: .greedy, seed: 1)
                .decode(prompt: prompt, maxTokens: 30)
            for settings in [DraftSettings(draftMax: 1), DraftSettings(draftMax: 3), DraftSettings(draftMax: 6, schedule: .adaptive)] {
                let p = try SpeculativePair.make(target: InferenceSession(model: target, maxT: 64), draft: InferenceSession(model: draft, maxT: 64))
                XCTAssertTrue(p.draft is FeatureDraftModel)
                let out = try SpeculativeDecoder(target: p.target, draft: p.draft,
                                                 configuration: SpeculativeConfiguration(draft: settings), vocabularySize: 60)
                    .decode(prompt: prompt, maxTokens: 30)
                XCTAssertEqual(out.tokens, plain.tokens, "prompt \(prompt), \(settings)")
                accepted += out.statistics.accepted; rejected += out.statistics.rejections
            }
        }
        XCTAssertGreaterThan(accepted, 0, "accepted"); XCTAssertGreaterThan(rejected, 0, "rejected")
    }

    func testMismatchedWidthIsRefused() throws {
        let (_, draft) = try pair()
        XCTAssertThrowsError(try FeatureDraftModel(InferenceSession(model: draft, maxT: 8), features: TargetFeatures(width: 7, capacity: 8))) {
            XCTAssertTrue("\($0)".contains("width"), "\($0)")
        }
    }
}

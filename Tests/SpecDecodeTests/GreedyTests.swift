import SpecDecode
import Transformer
import XCTest

/// Exact logic tests on transition models (algorithms.md §6 item 4).
final class GreedyTests: XCTestCase {
    /// A target and a draft that agrees with it often but not always (order-2 contexts).
    func pair(V: Int = 7, seed: UInt64 = 11, noise: Float = 1.2) -> (TransitionModel, TransitionModel) {
        let target = TransitionModel.random(V: V, order: 2, seed: seed)
        return (target, TransitionModel.perturbed(target, seed: seed + 100, noise: noise))
    }

    let prompts: [[Int]] = [[3], [0, 1, 2], [6, 6, 5, 4, 1, 0, 2, 3, 3, 1, 5, 6, 0, 2, 4, 4, 1, 0, 2, 5]]

    func testGreedySpeculativeEqualsGreedyPlain() throws {
        let (target, draft) = pair()
        var sawRejection = false, sawFullAcceptance = false
        for prompt in prompts {
            let plain = try PlainDecoder(model: target.fresh(), sampling: .greedy, seed: 1).decode(prompt: prompt, maxTokens: 40)
            for settings in scheduleSweep {
                let dec = try makeDecoder(target: target.fresh(), draft: draft.fresh(), draftSettings: settings)
                let out = try dec.decode(prompt: prompt, maxTokens: 40)
                XCTAssertEqual(out.tokens, plain.tokens, "prompt \(prompt), \(settings)")
                XCTAssertEqual(out.stopReason, .maxTokens)
                XCTAssertEqual(out.tokens.count, 40)
                let s = out.statistics
                XCTAssertEqual(s.emitted, s.accepted + s.rejections + s.bonusTokens, "every token accounted for")
                sawRejection = sawRejection || s.rejections > 0
                sawFullAcceptance = sawFullAcceptance || s.bonusTokens > 0
            }
        }
        XCTAssertTrue(sawRejection && sawFullAcceptance, "the pair must exercise both rejections and bonus tokens")
    }

    func testDraftEqualToTargetAcceptsEverything() throws {
        let (target, _) = pair()
        for gamma in [1, 2, 4, 8] {
            let dec = try makeDecoder(target: target.fresh(), draft: target.fresh(), draftSettings: DraftSettings(draftMax: gamma))
            let maxTokens = 6 * (gamma + 1)
            var events: [RoundEvent] = []
            let out = try dec.decode(prompt: [1, 2], maxTokens: maxTokens, onRound: { events.append($0) })
            let s = out.statistics
            XCTAssertEqual(s.accepted, s.drafted, "gamma \(gamma)")
            XCTAssertEqual(s.rejections, 0)
            XCTAssertEqual(s.rounds, 6)
            XCTAssertEqual(s.derived.alphaPerJudged, 1)
            XCTAssertEqual(s.derived.tokensPerTargetCall, Double(gamma + 1))
            XCTAssertEqual(events.map(\.emitted.count), [Int](repeating: gamma + 1, count: 6))
            XCTAssertEqual(s.acceptanceHistogram.last, 6)
        }
    }

    /// After every round: the target caches the sequence minus its last token; the draft caches
    /// a prefix of the sequence, one token shorter after a fully accepted round (it never saw x_gamma).
    func testCacheContentsAfterEveryRound() throws {
        let (target0, draft0) = pair()
        for settings in scheduleSweep {
            let target = target0.fresh(), draft = draft0.fresh()
            let dec = try makeDecoder(target: target, draft: draft, draftSettings: settings)
            let prompt = [2, 5, 1]
            var sequence = prompt
            var rounds = 0, draftBefore = prompt.count - 1
            let out = try dec.decode(prompt: prompt, maxTokens: 30, onRound: { e in
                rounds += 1
                sequence += e.emitted
                XCTAssertEqual(target.length, sequence.count - 1, "target length, round \(rounds)")
                XCTAssertEqual(target.tokens, Array(sequence.dropLast()), "target cache contents, round \(rounds)")
                let fullyAccepted = e.drafted > 0 && e.accepted == e.drafted && e.emitted.count == e.drafted + 1
                if e.drafted == 0 {
                    // No draft (gamma capped to 0, or the confidence stop at the first token): the
                    // draft was fed the unseen tokens or left alone.
                    XCTAssertTrue(draft.length == sequence.count - 1 || draft.length == draftBefore, "round \(rounds)")
                } else if (settings.draftPMin == 0 && !settings.costAwareStop) || e.rejected {
                    // It never saw the last draft x_gamma when all were accepted.
                    XCTAssertEqual(draft.length, sequence.count - (fullyAccepted ? 2 : 1), "draft length, round \(rounds)")
                } else {
                    // A confidence stop may have fed x_gamma before ending the draft.
                    XCTAssertTrue((sequence.count - 2...sequence.count - 1).contains(draft.length), "round \(rounds)")
                }
                draftBefore = draft.length
                XCTAssertEqual(draft.tokens, Array(sequence.prefix(draft.length)), "draft cache contents, round \(rounds)")
                XCTAssertEqual(e.targetLength, target.length)
                XCTAssertEqual(e.draftLength, draft.length)
            })
            XCTAssertEqual(prompt + out.tokens, sequence)
            // Target appends: the prefill, then one verification of drafted + 1 tokens per round.
            XCTAssertEqual(target.appendSizes.count, rounds + 1)
            XCTAssertEqual(target.appendSizes.dropFirst().reduce(0, +), out.statistics.drafted + rounds)
            XCTAssertTrue(draft.appendSizes.dropFirst().allSatisfy { $0 == 1 || $0 == 2 }, "draft feeds 1 or 2 tokens")
        }
    }

    /// A draft that is wrong after token 3 on a cycle 0 → 1 → … → 7 → 0; the rounds, worked by hand:
    /// drafts [1,2,3,0] → accept 3, replace with 4; [5,6,7,0] all accepted + bonus 1;
    /// [2,3,0,1] → accept 2, replace with 4; gamma capped to 3 by max tokens: [5,6,7] + bonus 0.
    func testForcedRejections() throws {
        let target = TransitionModel.cycle(V: 8)
        let draft = TransitionModel.cycle(V: 8) { $0 == 3 ? 0 : $0 + 1 }
        let dec = try makeDecoder(target: target, draft: draft, draftSettings: DraftSettings(draftMax: 4))
        var events: [RoundEvent] = []
        let out = try dec.decode(prompt: [0], maxTokens: 16, onRound: { events.append($0) })
        XCTAssertEqual(out.tokens, [1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0])
        XCTAssertEqual(events.map(\.drafted), [4, 4, 4, 3])
        XCTAssertEqual(events.map(\.accepted), [3, 4, 2, 3])
        XCTAssertEqual(events.map(\.rejected), [true, false, true, false])
        XCTAssertEqual(out.origins, [.draft, .draft, .draft, .resampled, .draft, .draft, .draft, .draft, .bonus,
                                     .draft, .draft, .resampled, .draft, .draft, .draft, .bonus])
        let s = out.statistics
        XCTAssertEqual(s.judgedAtPosition, [4, 4, 4, 2])
        XCTAssertEqual(s.acceptedAtPosition, [4, 4, 3, 1])
        XCTAssertEqual(s.acceptanceHistogram, [0, 0, 1, 2, 1])
        XCTAssertEqual(s.derived.alphaPerJudged!, 12.0 / 14.0, accuracy: 1e-12)
        XCTAssertEqual(s.derived.acceptedPerDrafted!, 12.0 / 15.0, accuracy: 1e-12)
        XCTAssertEqual(s.derived.tokensPerTargetCall, 4)
    }

    func testStopsAtEOSLikePlainDecoding() throws {
        let target = TransitionModel.cycle(V: 8)
        for settings in scheduleSweep {
            let dec = try makeDecoder(target: target.fresh(), draft: TransitionModel.cycle(V: 8) { $0 == 5 ? 1 : $0 + 1 },
                                      draftSettings: settings)
            let out = try dec.decode(prompt: [1], maxTokens: 50, stopTokens: [6])
            XCTAssertEqual(out.tokens, [2, 3, 4, 5, 6])
            XCTAssertEqual(out.stopReason, .endOfSequence)
        }
    }

    /// The context: prompt + output may hold capacity + 1 tokens (the last never enters a cache).
    func testContextLimitAndTooLongPrompt() throws {
        let (target, draft) = pair()
        let cap = 24
        let t = TransitionModel(width: 7, order: 2, table: target.table, capacity: cap)
        let plain = try PlainDecoder(model: t, sampling: .greedy, seed: 1).decode(prompt: [1, 2, 3, 4, 5], maxTokens: 100)
        XCTAssertEqual(plain.stopReason, .contextLimit)
        XCTAssertEqual(plain.tokens.count, cap + 1 - 5)
        for draftCap in [cap, 12, 6] {
            let d = TransitionModel(width: 7, order: 2, table: draft.table, capacity: draftCap)
            let dec = try makeDecoder(target: t.fresh(), draft: d, draftSettings: DraftSettings(draftMax: 4))
            let out = try dec.decode(prompt: [1, 2, 3, 4, 5], maxTokens: 100)
            XCTAssertEqual(out.tokens, plain.tokens, "draft capacity \(draftCap)")
            XCTAssertEqual(out.stopReason, .contextLimit)
        }
        let dec = try makeDecoder(target: t.fresh(), draft: draft.fresh(), draftSettings: DraftSettings(draftMax: 4))
        XCTAssertThrowsError(try dec.decode(prompt: [Int](repeating: 1, count: cap + 1), maxTokens: 5)) { error in
            XCTAssertEqual(error as? SpecDecodeError,
                           .promptTooLong("the prompt has 25 tokens but the target's context holds 24; shorten the prompt"))
        }
        XCTAssertThrowsError(try dec.decode(prompt: [], maxTokens: 5))
        let full = try dec.decode(prompt: [Int](repeating: 1, count: cap), maxTokens: 5)
        XCTAssertEqual(full.tokens.count, 1, "a prompt filling the context still gets one token")
    }

    /// The confidence stop: a draft that is unsure (uniform logits) after token 3 never proposes the
    /// token after 3, unless the floor draftMin forces it.
    func testConfidenceStopAndFloor() throws {
        let target = TransitionModel.cycle(V: 8)
        var table = TransitionModel.cycle(V: 8).table
        for j in 0..<8 { table[3 * 8 + j] = 0 }   // uniform after 3: top probability 1/8
        let draft = TransitionModel(width: 8, table: table)
        let dec = try makeDecoder(target: target.fresh(), draft: draft.fresh(), draftSettings: DraftSettings(draftMax: 4, draftPMin: 0.5))
        let out = try dec.decode(prompt: [0], maxTokens: 40)
        XCTAssertEqual(out.tokens, (1...40).map { $0 % 8 })
        for (i, t) in out.tokens.enumerated() where t == 4 { XCTAssertNotEqual(out.origins[i], .draft, "token 4 at \(i)") }
        XCTAssertEqual(out.statistics.rejections, 0, "the stop removes the only token the draft gets wrong")

        let floored = try makeDecoder(target: target.fresh(), draft: draft.fresh(),
                                      draftSettings: DraftSettings(draftMax: 4, draftMin: 4, draftPMin: 0.5))
        var emitted = 0, rounds = 0
        _ = try floored.decode(prompt: [0], maxTokens: 41, onRound: { e in
            XCTAssertEqual(e.drafted, min(4, 41 - emitted - 1), "the floor keeps every draft at 4 (less at the end)")
            emitted += e.emitted.count; rounds += 1
        })
        XCTAssertGreaterThan(rounds, 5)
    }

    /// Logit rows padded past the vocabulary (huge padding logits) are masked.
    func testPaddingIsMasked() throws {
        let V = 6, W = 9
        var table = TransitionModel.random(V: W, seed: 5).table
        for r in 0..<W { for j in V..<W { table[r * W + j] = 50 } }
        let target = TransitionModel(width: W, table: table)
        let draft = TransitionModel.perturbed(TransitionModel(width: W, table: table), seed: 9, noise: 1)
        let plain = try PlainDecoder(model: target.fresh(), sampling: .greedy, seed: 1, vocabularySize: V).decode(prompt: [2], maxTokens: 30)
        let dec = try makeDecoder(target: target.fresh(), draft: draft, draftSettings: DraftSettings(draftMax: 3), vocabularySize: V)
        XCTAssertEqual(try dec.decode(prompt: [2], maxTokens: 30).tokens, plain.tokens)
        XCTAssertTrue(plain.tokens.allSatisfy { $0 < V })
        let sampled = try makeDecoder(target: target.fresh(), draft: draft.fresh(), sampling: SamplingSettings(temperature: 1),
                                      draftSettings: DraftSettings(draftMax: 3), vocabularySize: V)
        XCTAssertTrue(try sampled.decode(prompt: [2], maxTokens: 200).tokens.allSatisfy { $0 < V })
        // Different widths without a shared vocabulary size are refused.
        XCTAssertThrowsError(try makeDecoder(target: target.fresh(), draft: TransitionModel.random(V: V, seed: 1),
                                             draftSettings: DraftSettings()))
    }

    func testInvalidSettingsAreRefused() {
        let m = TransitionModel.cycle(V: 4)
        let bad: [(SamplingSettings, AcceptanceRule?, DraftSettings)] = [
            (.greedy, nil, DraftSettings(draftMax: 0)),
            (.greedy, nil, DraftSettings(draftMax: 3, draftMin: 4)),
            (.greedy, nil, DraftSettings(draftMax: 3, draftPMin: 1.5)),
            (SamplingSettings(temperature: 1), .greedy, DraftSettings()),
            (SamplingSettings(temperature: 1), .lossy(.lin, epsilon: 0), DraftSettings()),
            (SamplingSettings(temperature: 1), .lossy(.exp, epsilon: 1.5), DraftSettings()),
        ]
        for (s, a, d) in bad {
            XCTAssertThrowsError(try SpeculativeDecoder(target: m, draft: m.fresh(),
                                                        configuration: SpeculativeConfiguration(sampling: s, acceptance: a, draft: d)),
                                 "\(s) \(String(describing: a)) \(d)")
        }
    }
}

import SpecDecode
import XCTest

/// ``VerificationCost`` (v by row count) against hand-computed values, and the adaptive schedule
/// choosing its draft length from it.
final class VerificationCostTests: XCTestCase {
    func testMeasuredInterpolatedAndExtrapolatedCosts() throws {
        var v = VerificationCost(maxRows: 6)
        XCTAssertNil(v.verifyCost(gamma: 1), "nothing timed")
        v.record(rows: 1, seconds: 2.0)
        XCTAssertEqual(v.verifyCost(gamma: 0), 1)
        XCTAssertNil(v.verifyCost(gamma: 1), "only one-row calls timed")
        v.record(rows: 2, seconds: 2.2)
        v.record(rows: 5, seconds: 4.0)
        XCTAssertEqual(try XCTUnwrap(v.verifyCost(gamma: 1)), 1.1, accuracy: 1e-12)   // measured: 2.2 / 2
        XCTAssertEqual(try XCTUnwrap(v.verifyCost(gamma: 4)), 2.0, accuracy: 1e-12)   // measured: 4 / 2
        // 3 rows: between 2 rows (2.2 s) and 5 rows (4.0 s): 2.2 + 1.8 · 1/3 = 2.8 s → 1.4.
        XCTAssertEqual(try XCTUnwrap(v.verifyCost(gamma: 2)), 1.4, accuracy: 1e-12)
        // 6 rows: the line through (1, 2 s) and (5, 4 s): 2 + 0.5 · 5 = 4.5 s → 2.25.
        XCTAssertEqual(try XCTUnwrap(v.verifyCost(gamma: 5)), 2.25, accuracy: 1e-12)
        XCTAssertNil(v.verifyCost(gamma: 6), "beyond maxRows")
        XCTAssertNil(v.verifyCost(gamma: -1))
        // The median of the last 8 calls of a row count: of 2.2 and 3.0, 2.6; one slow call among
        // fast ones does not move it; the ninth call replaces the first.
        v.record(rows: 2, seconds: 3.0)
        XCTAssertEqual(try XCTUnwrap(v.seconds(rows: 2)), 2.6, accuracy: 1e-12)
        for t in [2.0, 2.1, 40.0, 2.3, 2.2, 2.4] { v.record(rows: 2, seconds: t) }   // [2.2 3.0 2.0 2.1 40 2.3 2.2 2.4]
        XCTAssertEqual(try XCTUnwrap(v.seconds(rows: 2)), 2.25, accuracy: 1e-12)
        v.record(rows: 2, seconds: 9.0)   // replaces 2.2: [2.0 2.1 2.2 2.3 2.4 3.0 9.0 40]
        XCTAssertEqual(try XCTUnwrap(v.seconds(rows: 2)), 2.35, accuracy: 1e-12)
        // The decayed mean (auto-off's and lookup's): 0.9 per call of the same row count.
        var m = VerificationCost(maxRows: 6, estimate: .decayedMean)
        m.record(rows: 1, seconds: 2.0); m.record(rows: 2, seconds: 2.2); m.record(rows: 2, seconds: 3.0)
        XCTAssertEqual(try XCTUnwrap(m.seconds(rows: 2)), (0.9 * 2.2 + 3.0) / 1.9, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(m.verifyCost(gamma: 1)), (0.9 * 2.2 + 3.0) / 1.9 / 2.0, accuracy: 1e-12)
        // Noise never makes more rows cheaper than one.
        v.record(rows: 3, seconds: 1.0)
        XCTAssertEqual(v.verifyCost(gamma: 2), 1)
        // Calls beyond maxRows, non-finite or non-positive times are ignored.
        v.record(rows: 7, seconds: 1); v.record(rows: 4, seconds: .nan); v.record(rows: 4, seconds: 0)
        XCTAssertNil(v.seconds(rows: 4))
    }

    /// At alpha 0.5 and c 0.04 the textbook rule (v = 1) drafts 3; when 4 rows cost 1.45 plain
    /// steps and 3 rows 1.1, the full model drafts 2 (1.75 / 1.18 = 1.48× against 1.875 / 1.57 =
    /// 1.19×); with flat costs it drafts 3 again.
    func testAdaptiveScheduleDraftsLessWhenRowsAreExpensive() {
        func controller(threeRows: Double, fourRows: Double) -> DraftLengthController {
            var m = DraftLengthController(settings: DraftSettings(draftMax: 3, schedule: .adaptive), costSource: .measured,
                                          priorCostRatio: 0.04)
            m.recordTargetCall(rows: 1, seconds: 1.0)
            m.recordTargetCall(rows: 3, seconds: threeRows)
            m.recordTargetCall(rows: 4, seconds: fourRows)
            // alpha stays 0.5: one acceptance and one rejection on top of the 1 + 1 prior.
            m.record(drafted: 3, accepted: 1, rejected: true, draftSeconds: 0.12, draftCalls: 3, verifySeconds: fourRows)
            return m
        }
        let expensive = controller(threeRows: 1.1, fourRows: 1.45)
        XCTAssertEqual(expensive.alphaEstimate, 0.5, accuracy: 1e-12)
        XCTAssertEqual(expensive.current, 2)
        XCTAssertEqual(controller(threeRows: 1.0, fourRows: 1.0).current, 3)
        // Without a timed plain step the rule is the textbook one (c = draft step / verify call).
        var textbook = DraftLengthController(settings: DraftSettings(draftMax: 3, schedule: .adaptive), costSource: .measured,
                                             priorCostRatio: 0.04)
        textbook.record(drafted: 3, accepted: 1, rejected: true, draftSeconds: 0.12, draftCalls: 3, verifySeconds: 1.45)
        XCTAssertEqual(textbook.current, 3)
    }
}

/// Timing steps: with the cost-aware stop and measured costs the decoder takes a plain step after every
/// ``SpeculativeDecoder/timingInterval`` target calls without a one-row call, so v compares
/// verification with a current plain step; with fixed costs it never does.
final class TimingStepTests: XCTestCase {
    func testAPlainStepEveryIntervalWithMeasuredCosts() throws {
        let target = TransitionModel.cycle(V: 8), draft = TransitionModel.cycle(V: 8)
        let configuration = SpeculativeConfiguration(draft: DraftSettings(draftMax: 2, draftPMinAuto: true))
        let dec = try SpeculativeDecoder(target: target.fresh(), draft: draft.fresh(), configuration: configuration,
                                         costSource: .measured)
        var sinceOneRow = 0, timing = 0
        let out = try dec.decode(prompt: [0], maxTokens: 300, onRound: { e in
            if e.kind == .plain {
                XCTAssertEqual(sinceOneRow, SpeculativeDecoder.timingInterval, "a timing step after exactly the interval")
                XCTAssertEqual(e.emitted.count, 1)
                sinceOneRow = 0; timing += 1
            } else {
                sinceOneRow = e.drafted == 0 ? 0 : sinceOneRow + 1
            }
        })
        XCTAssertEqual(out.tokens, (1...300).map { $0 % 8 }, "timing steps emit the target's tokens")
        XCTAssertGreaterThanOrEqual(timing, 2)
        XCTAssertEqual(out.statistics.timingSteps, timing)
        XCTAssertNil(out.statistics.fallback, "not counted as auto-off's fallback")
        XCTAssertNotNil(dec.controller.verification.plainStepSeconds, "the plain step is timed")
        let s = out.statistics
        XCTAssertEqual(s.emitted, s.accepted + s.rejections + s.bonusTokens + timing)
        XCTAssertEqual(s.derived.tokensPerTargetCall, Double(s.emitted - timing) / Double(s.targetCalls), "timing steps are not rounds")

        let fixed = try SpeculativeDecoder(target: target.fresh(), draft: draft.fresh(), configuration: configuration,
                                           costSource: .fixed(0.1))
        XCTAssertNil(try fixed.decode(prompt: [0], maxTokens: 300).statistics.timingSteps)
        let adaptive = try SpeculativeDecoder(target: target.fresh(), draft: draft.fresh(),
                                              configuration: SpeculativeConfiguration(draft: DraftSettings(draftMax: 2, schedule: .adaptive)),
                                              costSource: .measured)
        XCTAssertNil(try adaptive.decode(prompt: [0], maxTokens: 300).statistics.timingSteps, "the adaptive schedule takes none")
    }
}

import Foundation
import SpecDecode
import XCTest

/// The cost-aware confidence stop (``DraftStop``): its values worked by hand, its calibration,
/// and the decoder feeding it.
final class DraftStopTests: XCTestCase {
    /// v(0) = 1, v(1) = 1.1, v(2) = 1.5: a second row is cheap, a third is not.
    let v: (Int) -> Double = { [1, 1.1, 1.5, 2.0][$0] }

    /// By hand, prefix 1, ā 0.5, c 0.1, R 1.2: k = 1 gives 0.5 − 1.2·(0.1 + 0.1) = 0.26;
    /// k = 2 gives 0.75 − 1.2·(0.2 + 0.5) = −0.09; k = 3 gives 0.875 − 1.2·(0.3 + 1.0) = −0.685.
    func testContinuationValueByHand() {
        XCTAssertEqual(DraftStop.continuationValue(prefix: 1, kept: 0, maxCount: 3, alpha: 0.5, costRatio: 0.1,
                                                   verifyCost: v, rate: 1.2), 0.26, accuracy: 1e-12)
        // From one kept draft with prefix 0.5: k = 2 gives 0.25 − 1.2·(0.1 + 0.4) = −0.35,
        // k = 3 gives 0.375 − 1.2·(0.2 + 0.9) < 0: stopping (0) is best.
        XCTAssertEqual(DraftStop.continuationValue(prefix: 0.5, kept: 1, maxCount: 3, alpha: 0.5, costRatio: 0.1,
                                                   verifyCost: v, rate: 1.2), 0)
        // Free rows and free drafting: every further token pays, value Σ 0.5^m = 0.875.
        XCTAssertEqual(DraftStop.continuationValue(prefix: 1, kept: 0, maxCount: 3, alpha: 0.5, costRatio: 0,
                                                   verifyCost: { _ in 1 }, rate: 1.2), 0.875, accuracy: 1e-12)
        XCTAssertEqual(DraftStop.continuationValue(prefix: 1, kept: 3, maxCount: 3, alpha: 0.9, costRatio: 0,
                                                   verifyCost: { _ in 1 }, rate: 1), 0, "nothing left to draft")
    }

    /// A token is kept when its expected tokens pay for its row at the current rate: with R = 1
    /// (no rounds yet) and the second row costing 0.4 plain steps, a token at position 1 after a
    /// sure first one is kept at acceptance 0.45 and dropped at 0.35.
    func testKeepsWhatPaysForItsRow() {
        let stop = DraftStop()
        XCTAssertEqual(stop.rate, 1)
        let expensive: (Int) -> Double = { [1, 1.0, 1.4, 1.8][$0] }
        XCTAssertTrue(stop.keeps(acceptance: 0.45, prefix: 1, kept: 1, maxCount: 2, costRatio: 0.1, verifyCost: expensive))
        XCTAssertFalse(stop.keeps(acceptance: 0.35, prefix: 1, kept: 1, maxCount: 2, costRatio: 0.1, verifyCost: expensive))
        // The same token where rows are free is kept.
        XCTAssertTrue(stop.keeps(acceptance: 0.05, prefix: 1, kept: 1, maxCount: 2, costRatio: 0.1, verifyCost: { _ in 1 }))
        // A higher rate (speculation already pays 1.5×) raises the bar: 0.5 < 1.5 · 0.4.
        var fast = DraftStop()
        for _ in 0..<200 { fast.recordRound(emitted: 3, cost: 2) }
        XCTAssertEqual(fast.rate, 1.5, accuracy: 1e-12)
        XCTAssertFalse(fast.keeps(acceptance: 0.5, prefix: 1, kept: 1, maxCount: 2, costRatio: 0.1, verifyCost: expensive))
        XCTAssertTrue(fast.keeps(acceptance: 0.65, prefix: 1, kept: 1, maxCount: 2, costRatio: 0.1, verifyCost: expensive))
    }

    /// Calibration starts at the bin's centre (a calibrated draft) and moves to what is observed;
    /// the mean acceptance follows the drafted tokens' calibrated values; the rate never drops below 1.
    func testCalibrationRateAndMean() {
        var stop = DraftStop()
        XCTAssertEqual(stop.acceptance(confidence: 0.93), 0.95, accuracy: 1e-12)
        XCTAssertEqual(stop.acceptance(confidence: 0.0), 0.05, accuracy: 1e-12)
        XCTAssertEqual(stop.acceptance(confidence: 1.0), 0.95, accuracy: 1e-12, "q = 1 falls in the top bin")
        XCTAssertEqual(stop.meanAcceptance, 0.5)
        for _ in 0..<400 { stop.recordJudged(confidence: 0.93, accepted: 0) }
        XCTAssertLessThan(stop.acceptance(confidence: 0.95), 0.01, "a confident draft that is always wrong")
        XCTAssertEqual(stop.acceptance(confidence: 0.55), 0.55, accuracy: 1e-12, "other bins keep their prior")
        for _ in 0..<400 { stop.recordJudged(confidence: 0.3, accepted: 0.7) }
        XCTAssertEqual(stop.acceptance(confidence: 0.3), 0.7, accuracy: 1e-3, "fractional counts (sampling)")
        for _ in 0..<400 { stop.recordDrafted(confidence: 0.3) }
        XCTAssertEqual(stop.meanAcceptance, 0.7, accuracy: 1e-3)
        for _ in 0..<50 { stop.recordRound(emitted: 1, cost: 2) }
        XCTAssertEqual(stop.rate, 1, "never below plain decoding's rate")
    }

    /// In the decoder: greedy output equals plain output, and the calibration learns what the
    /// draft's confidence means — a draft sure of every token but unsure (uniform, confidence 1/8)
    /// after 3, where its token (0) is always wrong.
    func testDecoderFeedsTheCalibration() throws {
        let target = TransitionModel.cycle(V: 8)
        var table = TransitionModel.cycle(V: 8).table
        for j in 0..<8 { table[3 * 8 + j] = 0 }
        let draft = TransitionModel(width: 8, table: table)
        let dec = try makeDecoder(target: target.fresh(), draft: draft.fresh(),
                                  draftSettings: DraftSettings(draftMax: 4, draftPMinAuto: true))
        let out = try dec.decode(prompt: [0], maxTokens: 120)
        XCTAssertEqual(out.tokens, (1...120).map { $0 % 8 })
        let stop = try XCTUnwrap(dec.draftStop)
        XCTAssertLessThan(stop.acceptance(confidence: 0.125), 0.05, "the unsure token is learned to be wrong")
        let sure = Foundation.exp(4.0) / (Foundation.exp(4.0) + 7)   // the cycle's logit 4 against seven 0s: 0.886, prior 0.85
        XCTAssertGreaterThan(stop.acceptance(confidence: sure), 0.95, "sure tokens are learned to be right")
        XCTAssertGreaterThan(stop.rate, 1)
    }

    /// The stop replaces auto-off: the decoder runs it with the switch off whatever the settings.
    func testReplacesAutoOff() throws {
        let target = TransitionModel.cycle(V: 8), draft = TransitionModel.cycle(V: 8)
        let configuration = SpeculativeConfiguration(draft: DraftSettings(draftMax: 3, draftPMinAuto: true), autoOff: AutoOffSettings())
        let dec = try SpeculativeDecoder(target: target.fresh(), draft: draft.fresh(), configuration: configuration)
        XCTAssertFalse(dec.speculationSwitch.settings.enabled)
        let out = try dec.decode(prompt: [0], maxTokens: 50)
        XCTAssertEqual(out.tokens, (1...50).map { $0 % 8 })
        XCTAssertNil(out.statistics.fallback, "no auto-off statistics: the switch never ran")
        let plain = try SpeculativeDecoder(target: target.fresh(), draft: draft.fresh(),
                                           configuration: SpeculativeConfiguration(draft: DraftSettings(draftMax: 3), autoOff: AutoOffSettings()))
        XCTAssertTrue(plain.speculationSwitch.settings.enabled, "without the stop auto-off runs as configured")
    }

    func testSettings() throws {
        XCTAssertThrowsError(try DraftSettings(draftMax: 4, draftPMin: 0.5, draftPMinAuto: true).validate())
        XCTAssertTrue(DraftSettings(draftPMinAuto: true).costAwareStop)
        XCTAssertFalse(DraftSettings().costAwareStop)
        XCTAssertNil(DraftSettings().draftPMinAuto, "off is not written to JSON, so older result files still decode")
        let old = try JSONDecoder().decode(DraftSettings.self, from: Data(#"{"draftMax":5,"draftMin":0,"draftPMin":0,"schedule":"constant"}"#.utf8))
        XCTAssertFalse(old.costAwareStop)
    }
}

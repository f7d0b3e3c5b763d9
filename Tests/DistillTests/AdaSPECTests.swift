import Distill
import Foundation
import Tensor
import TestSupport
import XCTest

/// algorithms.md §6 item 7 and the AdaSPEC gradient: the quantile rule on hand-made gaps, the
/// kept count inside the objective, k = 1 equals forward KL, finite differences with k < 1.
final class AdaSPECTests: XCTestCase {
    /// Thresholds and kept counts from `numpy.quantile(deltas, 1 - k)` (numpy's default linear
    /// method), with ties at the threshold kept.
    func testQuantileRuleOnHandMadeGapsWithTies() {
        let cases: [(deltas: [Double], k: Double, threshold: Double, kept: Int)] = [
            ([1, 2, 3, 4, 5], 0.4, 3.4, 2),
            ([1, 2, 2, 2, 3], 0.4, 2.0, 4),  // ties at the threshold: all three 2s kept
            ([5, 1, 4, 2, 3, 0], 0.4, 3.0, 3),  // unsorted input; virtual index exactly 3
            ([0.3, 0.3, 0.3, 0.3], 0.4, 0.3, 4),  // all equal: all kept
            ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.4, 6.3999999999999995, 4),
            ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.25, 7.75, 3),
            ([3, 1, 2, 2, 5, 2], 0.5, 2.0, 5),
            ([7], 0.4, 7.0, 1),
            ([1, 1, 2, 2, 3, 3, 4, 4], 0.3, 3.0, 4),
        ]
        for c in cases {
            XCTAssertEqual(AdaSPECSelection.threshold(deltas: c.deltas, keepFraction: c.k), c.threshold, "\(c.deltas) k=\(c.k)")
            let mask = AdaSPECSelection.keepMask(deltas: c.deltas, keepFraction: c.k)
            XCTAssertEqual(mask.filter { $0 }.count, c.kept, "kept count for \(c.deltas) k=\(c.k)")
            XCTAssertEqual(mask, c.deltas.map { $0 >= c.threshold })
        }
        // k = 1 keeps everything; the quantile's ends are the minimum and maximum.
        XCTAssertEqual(AdaSPECSelection.keepMask(deltas: [4, -1, 2], keepFraction: 1), [true, true, true])
        XCTAssertEqual(AdaSPECSelection.quantile([4, -1, 2], 0), -1)
        XCTAssertEqual(AdaSPECSelection.quantile([4, -1, 2], 1), 4)
    }

    /// Inside the objective the kept count is what the rule gives on the gaps computed by the
    /// Double references, for several k (including hand-made tied gaps: duplicated rows).
    func testObjectiveKeepsTheCountTheRuleImplies() {
        var rng = RandomGenerator(seed: 531)
        let targets: [Int32] = [3, 1, -1, 0, 2, 2, 4, -1, 1, 1, 0, 3, -1, 2, 2, 1]
        var batch = TestBatch(B: 2, T: 8, V: 11, targets: targets, rng: &rng)
        // Rows 8–10 repeat row 1's logits: four exactly tied gaps.
        for r in 8...10 { for i in 0..<11 { batch.student[r * 11 + i] = batch.student[11 + i]
            batch.teacher[r * 11 + i] = batch.teacher[11 + i]; batch.reference[r * 11 + i] = batch.reference[11 + i] } }
        let supervised = (0..<16).filter { targets[$0] >= 0 }
        let deltas = supervised.map { referenceGap(batch, $0, T: 1) }
        for k in [0.1, 0.25, 0.4, 0.5, 0.8, 1] {
            var objective = AdaSPECObjective(keepFraction: k)
            let (result, g) = batch.gradient(&objective)
            let sorted = deltas.sorted()
            let h = Double(sorted.count - 1) * (1 - k)  // linear interpolation, written out here
            let lo = Int(h), frac = h - Double(lo)
            let threshold = lo + 1 < sorted.count ? sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]) : sorted[lo]
            let expectedKept = deltas.filter { $0 >= threshold - 1e-9 }.count
            XCTAssertEqual(deltas.filter { abs($0 - threshold) < 1e-4 && abs($0 - threshold) > 1e-9 }.count, 0,
                           "no gap is ambiguous at float precision (k=\(k))")
            XCTAssertEqual(objective.lastKeptCount, expectedKept, "kept count at k=\(k)")
            XCTAssertEqual(objective.lastSupervisedCount, 13)
            XCTAssertEqual(result.tokens, 13)
            assertClose(objective.lastThreshold, threshold, rtol: 1e-4, atol: 1e-5, "threshold at k=\(k)")
            // Rows with gradient = kept rows.
            let rowsWithGradient = (0..<16).filter { r in (0..<11).contains { g[r * 11 + $0] != 0 } }
            let keptRows = zip(supervised, deltas).filter { $0.1 >= threshold - 1e-9 }.map { $0.0 }
            XCTAssertEqual(rowsWithGradient, keptRows, "rows receiving gradient at k=\(k)")
            // Loss = Σ kept L_draft / N.
            let expectedLoss = keptRows.reduce(0.0) { $0 + referenceDraftLoss(batch, $1, T: 1) } / 13
            assertClose(result.loss, expectedLoss, rtol: fastRtol, atol: fastAtol, "loss at k=\(k)")
        }
        XCTAssertEqual(Set(deltas).count, deltas.count - 3, "rows 8–10 repeat row 1: four equal gaps")
    }

    /// k = 1 keeps every token and equals DistillationObjective(forward KL, per token) bit for bit
    /// (loss and gradient), with and without temperature.
    func testKeepAllEqualsForwardKLPerToken() {
        var rng = RandomGenerator(seed: 532)
        let targets: [Int32] = [-1, 0, 1, 2, 3, -1, 4, 5, 6, -1, -1, 7]
        let batch = TestBatch(B: 3, T: 4, V: 19, targets: targets, rng: &rng)
        for (T, squared) in [(Float(1), false), (1.8, true)] {
            var adaspec = AdaSPECObjective(keepFraction: 1, temperature: T, scaleByTemperatureSquared: squared)
            var fkl = DistillationObjective(divergence: .forwardKL, temperature: T, scaleByTemperatureSquared: squared,
                                            normalization: .perToken)
            var ga = [Float](repeating: 0.5, count: 12 * 19), gf = ga
            let ra = batch.evaluate(&adaspec, dLogits: &ga, scale: 0.3)
            let rf = batch.evaluate(&fkl, dLogits: &gf, scale: 0.3)
            XCTAssertEqual(ra, rf, "k = 1 result equals forward KL per token at T=\(T)")
            XCTAssertEqual(adaspec.lastKeptCount, 8)
            assertBitwiseEqual(ga, gf, "k = 1 gradient equals forward KL per token at T=\(T)")
        }
    }

    /// Finite differences through the masked loss with k < 1 and both denominators. The gaps are
    /// spread by giving each row a different reference (some equal to the teacher, L_ref = 0)
    /// and the test asserts every gap is ≥ 0.05 from the threshold: a ±1e-2 change of one student
    /// logit moves L_draft (so a gap, and the interpolated threshold) by at most 1e-2 · |q_j − p_j| / T
    /// < 0.01, so the mask never changes during the finite differences.
    func testGradientsMatchFiniteDifferencesWithFixedMask() {
        var rng = RandomGenerator(seed: 533)
        let targets: [Int32] = [0, 1, 2, -1, 3, 4, 5, -1, 1, 2]
        for (T, denominator) in [(Float(1), AdaSPECObjective.KeptNormalization.allSupervised), (1.5, .keptTokens)] {
            var batch = TestBatch(B: 2, T: 5, V: 6, targets: targets, rng: &rng)
            for r in 0..<10 {
                let mix = Float(r % 4) / 3  // 0, 1/3, 2/3, 1 of the way from the teacher to noise
                for i in 0..<6 { batch.reference[r * 6 + i] = batch.teacher[r * 6 + i] + mix * 2 * rng.normal() }
            }
            let supervised = (0..<10).filter { targets[$0] >= 0 }
            let deltas = supervised.map { referenceGap(batch, $0, T: Double(T)) }
            let threshold = AdaSPECSelection.threshold(deltas: deltas, keepFraction: 0.5)
            let margin = deltas.map { abs($0 - threshold) }.min()!
            XCTAssertGreaterThan(margin, 0.05, "gaps too close to the threshold for a fixed mask (T=\(T))")
            let objective = AdaSPECObjective(keepFraction: 0.5, temperature: T, denominator: denominator)
            var probe = objective
            _ = batch.gradient(&probe)
            XCTAssertEqual(probe.lastKeptCount, deltas.filter { $0 >= threshold }.count)
            XCTAssertLessThan(probe.lastKeptCount, 8, "k < 1 drops tokens")
            batch.checkGradient(objective, "AdaSPEC T=\(T) \(denominator)")
        }
    }

    /// The kept-count denominator divides the same kept sum by the kept count.
    func testKeptDenominator() {
        var rng = RandomGenerator(seed: 534)
        let targets: [Int32] = [0, 1, 2, 3, 4, -1, 5, 6, 7, 8]
        let batch = TestBatch(B: 2, T: 5, V: 9, targets: targets, rng: &rng)
        var all = AdaSPECObjective(keepFraction: 0.4), kept = AdaSPECObjective(keepFraction: 0.4, denominator: .keptTokens)
        let (ra, ga) = batch.gradient(&all)
        let (rk, gk) = batch.gradient(&kept)
        XCTAssertEqual(all.lastKeptCount, kept.lastKeptCount)
        let ratio = 9.0 / Double(kept.lastKeptCount)
        assertClose(rk.loss, ra.loss * ratio, rtol: 1e-12, atol: 0)
        assertClose(gk, ga.map { Double($0) * ratio }, rtol: 1e-6, atol: 1e-9)
    }

    /// Results do not depend on the thread count.
    func testThreadCountIndependence() {
        var rng = RandomGenerator(seed: 535)
        let targets = (0..<32).map { Int32($0 % 7 == 0 ? -1 : $0) }
        let batch = TestBatch(B: 2, T: 16, V: 2100, targets: targets, rng: &rng)
        var objective = AdaSPECObjective(keepFraction: 0.4, temperature: 1.2)
        let one = withThreads(1) { batch.gradient(&objective) }
        let two = withThreads(2) { batch.gradient(&objective) }
        XCTAssertEqual(one.result.loss.bitPattern, two.result.loss.bitPattern)
        assertBitwiseEqual(one.gradient, two.gradient, "AdaSPEC gradient 1 vs 2 threads")
    }

    /// L_draft − L_ref of row r by the Double references.
    private func referenceGap(_ batch: TestBatch, _ r: Int, T: Double) -> Double {
        let u = batch.row(batch.teacher, r)
        return DivergenceReference.forwardKL(teacher: u, student: batch.row(batch.student, r), temperature: T).value
            - DivergenceReference.forwardKL(teacher: u, student: batch.row(batch.reference, r), temperature: T).value
    }

    private func referenceDraftLoss(_ batch: TestBatch, _ r: Int, T: Double) -> Double {
        DivergenceReference.forwardKL(teacher: batch.row(batch.teacher, r), student: batch.row(batch.student, r), temperature: T).value
    }
}

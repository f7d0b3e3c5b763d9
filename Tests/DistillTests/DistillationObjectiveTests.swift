import Distill
import Foundation
import Tensor
import TestSupport
import XCTest

/// The whole DistillSpec objective: finite differences through it, its loss against the Double
/// references with each normalisation, ignored rows, accumulation, thread independence.
final class DistillationObjectiveTests: XCTestCase {
    /// B = 3, T = 4: sequence 0 has 3 supervised rows, sequence 1 has 1, sequence 2 has none.
    let targets: [Int32] = [-1, 2, 0, 4, -1, -1, 1, -1, -1, -1, -1, -1]

    /// Gradients of the objective by central differences, for every divergence, both
    /// normalisations, T = 1 and T ≠ 1 (with and without the T² factor).
    func testGradientsMatchFiniteDifferences() {
        var rng = RandomGenerator(seed: 521)
        for d in allDivergences {
            for normalization in LossNormalization.allCases {
                for (T, squared) in [(Float(1), false), (1.7, false), (0.6, true)] {
                    var batch = TestBatch(B: 3, T: 4, V: 6, targets: targets, rng: &rng)
                    if d == .tvd { separateFromTies(&batch, T: T) }
                    let objective = DistillationObjective(divergence: d, temperature: T, scaleByTemperatureSquared: squared,
                                                          normalization: normalization)
                    batch.checkGradient(objective, "\(d) \(normalization) T=\(T) T²=\(squared)")
                }
            }
        }
    }

    /// The loss equals the normalised sum of the Double reference divergences, computed here
    /// from the definitions of the two normalisations; `tokens` is N.
    func testLossMatchesReferenceNormalisation() {
        var rng = RandomGenerator(seed: 522)
        var batch = TestBatch(B: 3, T: 4, V: 17, targets: targets, rng: &rng)
        // A sharp teacher on row 6 (alone in its sequence) makes its divergence larger than the
        // others', so the two normalisations give clearly different losses.
        for i in 0..<17 { batch.teacher[6 * 17 + i] *= 4 }
        for d in allDivergences {
            for T in testTemperatures {
                let D = (0..<12).map { r in
                    DivergenceReference.evaluate(d, teacher: batch.row(batch.teacher, r), student: batch.row(batch.student, r),
                                                 temperature: Double(T)).value
                }
                // Per sequence: (mean of rows 1, 2, 3 + row 6) / 2 sequences; per token: sum of 4 rows / 4.
                let perSequence = ((D[1] + D[2] + D[3]) / 3 + D[6]) / 2
                let perToken = (D[1] + D[2] + D[3] + D[6]) / 4
                XCTAssertGreaterThan(abs(perSequence - perToken), 1e-2 * perToken, "the normalisations differ on this batch")
                for (normalization, expected) in [(LossNormalization.perSequence, perSequence), (.perToken, perToken)] {
                    for squared in [false, true] {
                        var objective = DistillationObjective(divergence: d, temperature: T, scaleByTemperatureSquared: squared,
                                                              normalization: normalization)
                        let (result, _) = batch.gradient(&objective)
                        let factor = squared ? Double(T) * Double(T) : 1
                        assertClose(result.loss, expected * factor, rtol: fastRtol, atol: fastAtol, "\(d) \(normalization) T=\(T)")
                        XCTAssertEqual(result.tokens, 4)
                    }
                }
            }
        }
    }

    /// The gradient is the reference gradient times the normalisation weight and `scale`, added
    /// into what `dLogits` held; unsupervised rows keep their prefilled values bit for bit.
    func testGradientAccumulatesWithScaleAndSkipsIgnoredRows() {
        var rng = RandomGenerator(seed: 523)
        let batch = TestBatch(B: 3, T: 4, V: 17, targets: targets, rng: &rng)
        let weights: [Int: Double] = [1: 1.0 / 6, 2: 1.0 / 6, 3: 1.0 / 6, 6: 1.0 / 2]  // 1/(S n_b), S = 2
        for d in allDivergences {
            var objective = DistillationObjective(divergence: d, temperature: 1.3)
            let prefill = (0..<(12 * 17)).map { _ in rng.normal() }
            var g = prefill
            _ = batch.evaluate(&objective, dLogits: &g, scale: 0.25)
            for r in 0..<12 {
                let added = (0..<17).map { Double(g[r * 17 + $0]) - Double(prefill[r * 17 + $0]) }
                if let w = weights[r] {
                    let ref = DivergenceReference.evaluate(d, teacher: batch.row(batch.teacher, r),
                                                           student: batch.row(batch.student, r), temperature: 1.3).gradient
                    assertClose(added, ref.map { 0.25 * w * $0 }, rtol: fastRtol, atol: fastAtol, "\(d) row \(r)")
                } else {
                    assertBitwiseEqual(Array(g[(r * 17)..<((r + 1) * 17)]), Array(prefill[(r * 17)..<((r + 1) * 17)]),
                                       "\(d): ignored row \(r) changed")
                }
            }
        }
    }

    /// A batch without supervised rows gives loss 0, no tokens and no gradient.
    func testBatchWithoutSupervisedRows() {
        var rng = RandomGenerator(seed: 524)
        let batch = TestBatch(B: 2, T: 3, V: 5, targets: [Int32](repeating: -1, count: 6), rng: &rng)
        var objective = DistillationObjective(divergence: .forwardKL)
        let (result, g) = batch.gradient(&objective)
        XCTAssertEqual(result, ObjectiveResult(loss: 0, tokens: 0))
        XCTAssertTrue(g.allSatisfy { $0 == 0 })
    }

    /// Results are bitwise identical with 1 and 2 threads (the batch is large enough to split),
    /// and a second call on the same objective (reused scratch) gives the same bits.
    func testThreadCountIndependence() {
        var rng = RandomGenerator(seed: 525)
        let targets = (0..<32).map { Int32($0 % 5 == 0 ? -1 : $0) }
        let batch = TestBatch(B: 2, T: 16, V: 2100, targets: targets, rng: &rng)
        for d in allDivergences {
            var objective = DistillationObjective(divergence: d, temperature: 0.8, normalization: .perToken)
            let one = withThreads(1) { batch.gradient(&objective) }
            let two = withThreads(2) { batch.gradient(&objective) }
            let again = withThreads(2) { batch.gradient(&objective) }
            XCTAssertEqual(one.result.loss.bitPattern, two.result.loss.bitPattern, "\(d) loss 1 vs 2 threads")
            assertBitwiseEqual(one.gradient, two.gradient, "\(d) gradient 1 vs 2 threads")
            assertBitwiseEqual(two.gradient, again.gradient, "\(d) gradient on a second call")
        }
    }

    /// The recorded settings name the divergence, beta, temperature, T² and normalisation.
    func testMetadataRecordsTheSettings() {
        let objective = DistillationObjective(divergence: .jsd(beta: 0.25), temperature: 2, scaleByTemperatureSquared: true,
                                              normalization: .perToken)
        XCTAssertEqual(objective.name, "jsd")
        XCTAssertEqual(objective.metadata, ["objective": "jsd", "beta": "0.25", "temperature": "2.0",
                                            "scaleByTemperatureSquared": "true", "normalization": "perToken"])
        XCTAssertEqual(Divergence(name: "rkl"), .reverseKL)
        XCTAssertEqual(Divergence(name: "jsd", beta: 0.9), .jsd(beta: 0.9))
        XCTAssertNil(Divergence(name: "jsd", beta: 1.5))
        XCTAssertNil(Divergence(name: "kl"))
    }

    /// Moves student rows away from TVD's ties (as in the divergence tests), so ±step
    /// perturbations of the logits never flip a sign of p − q.
    private func separateFromTies(_ batch: inout TestBatch, T: Float) {
        let V = batch.V, step = Double(GradTolerance.step)
        var rng = RandomGenerator(seed: 529)
        for r in 0..<(batch.B * batch.T) {
            while true {
                let p = DivergenceReference.distribution(batch.row(batch.teacher, r), temperature: Double(T)).p
                let q = DivergenceReference.distribution(batch.row(batch.student, r), temperature: Double(T)).p
                if zip(p, q).allSatisfy({ abs($0 - $1) > 4 * $1 * step / Double(T) }) { break }
                for i in 0..<V { batch.student[r * V + i] = rng.normal() * 1.5 }
            }
        }
    }
}

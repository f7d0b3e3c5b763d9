import Distill
import Foundation
import Tensor
import Tokenizers
import Transformer
import XCTest

/// "Will this draft pay?" (DraftCost) and the on-policy λ schedule (LambdaSchedule).
final class SpeedupForecastTests: XCTestCase {
    /// E[tau] against the closed form written out term by term (sum of alpha^i, i = 0…gamma).
    func testExpectedTokensMatchTheGeometricSum() {
        for alpha in [0.0, 0.1, 0.37, 0.5, 0.9, 0.999, 1.0] {
            for g in 1...8 {
                let sum = (0...g).reduce(0.0) { $0 + Foundation.pow(alpha, Double($1)) }
                XCTAssertEqual(DraftCost.expectedTokens(alpha: alpha, gamma: g), sum, accuracy: 1e-9, "alpha \(alpha), gamma \(g)")
            }
        }
    }

    /// The best gamma and its speedup against an exhaustive search done here with the sum form of tau.
    func testBestDraftLengthAgainstExhaustiveSearch() {
        let shapes: [(c: Double, v: [Double])] = [
            (0.05, (1...8).map { 1 + 0.05 * Double($0) }), (0.2, [Double](repeating: 1, count: 8)),
            (0.01, (1...8).map { 1.2 + 0.1 * Double($0) }),
        ]
        for (c, v) in shapes {
            let costs = DraftCostMeasurement(draftStepSeconds: c * 0.01, targetStepSeconds: 0.01, verifySeconds: v.map { $0 * 0.01 },
                                             draftOutputRows: 1, context: 1)
            for alpha in [0.05, 0.3, 0.6, 0.8, 0.95] {
                var bestG = 0, bestS = -1.0
                for g in 1...8 {
                    let tau = (0...g).reduce(0.0) { $0 + Foundation.pow(alpha, Double($1)) }
                    let s = tau / (Double(g) * c + v[g - 1])
                    if s > bestS + 1e-15 { bestG = g; bestS = s }
                }
                let got = DraftCost.bestDraftLength(alpha: alpha, costs: costs)
                XCTAssertEqual(got.gamma, bestG, "alpha \(alpha), c \(c)")
                XCTAssertEqual(got.speedup, bestS, accuracy: 1e-9)
            }
        }
        // Very low alpha with v > 1 predicts a slowdown; high alpha with cheap drafts a speedup.
        let costs = DraftCostMeasurement(draftStepSeconds: 0.001, targetStepSeconds: 0.01, verifySeconds: [Double](repeating: 0.012, count: 8),
                                         draftOutputRows: 1, context: 1)
        XCTAssertLessThan(DraftCost.bestDraftLength(alpha: 0.05, costs: costs).speedup, 1)
        XCTAssertGreaterThan(DraftCost.bestDraftLength(alpha: 0.9, costs: costs).speedup, 2)
    }

    // MARK: - On a tiny model

    func tinyPair() throws -> (Tokenizer, TransformerModel, TransformerModel, PromptDataset) {
        try TinyPair.make(peakedTeacher: false)
    }

    /// Several candidates timed in one loop: one measurement per draft, in order, with its own step
    /// time and head rows and the target's times shared; one timing event per pass and one
    /// `finished` per draft.
    func testCandidatesAreTimedTogether() throws {
        let (_, teacher, student, _) = try tinyPair()
        var timing = 0, finished = 0
        let costs = try DraftCost.measure(drafts: [(student, Array(0..<50)), (student, nil), (teacher, nil)], target: teacher,
                                          context: 16, repetitions: 3, maxGamma: 4) {
            switch $0 {
            case .timing: timing += 1
            case .finished: finished += 1
            }
        }
        XCTAssertEqual(costs.count, 3)
        XCTAssertEqual([timing, finished], [4, 3], "warm-up + 3 repetitions; one result per draft")
        XCTAssertEqual(costs.map(\.draftOutputRows), [50, student.config.vocabSize, teacher.config.vocabSize])
        for c in costs {
            XCTAssertEqual(c.targetStepSeconds, costs[0].targetStepSeconds)
            XCTAssertEqual(c.verifySeconds, costs[0].verifySeconds)
            XCTAssertEqual(c.maxGamma, 4)
            XCTAssertEqual(c.context, 16)
            XCTAssertGreaterThan(c.draftStepSeconds, 0)
        }
    }

    /// Timing a tiny pair gives positive costs (with a trimmed head: its rows), and the evaluation's
    /// metrics carry the forecast keys with values consistent with its own acceptance.
    func testEvaluationMetricsIncludeTheForecast() throws {
        let (tok, teacher, student, data) = try tinyPair()
        let ids = Array(0..<50)
        var events: [String] = []
        let costs = try DraftCost.measure(draft: student, target: teacher, draftOutputIDs: ids, context: 16, repetitions: 3) {
            if case .timing(let what) = $0 { events.append(what) }
        }
        XCTAssertEqual(costs.draftOutputRows, 50)
        XCTAssertEqual(costs.maxGamma, 8)
        XCTAssertEqual(events.count, 4, "one event per pass: warm-up + 3 repetitions")
        XCTAssertGreaterThan(costs.draftStepSeconds, 0)
        XCTAssertGreaterThan(costs.targetStepSeconds, 0)
        XCTAssertTrue(costs.verifySeconds.allSatisfy { $0 > 0 })
        let evaluator = try DistillationEvaluator(target: teacher, dataset: data, tokenizer: tok, examples: 5, B: 5, T: 16)
        evaluator.costs = costs
        let m = evaluator.evaluate(student)
        for form in ["greedy", "sampling"] {
            let alpha = m["acceptance_\(form)"]!
            for g in 1...8 {
                let tau = m["expected_tokens_\(form)_g\(g)"]!
                XCTAssertEqual(tau, (0...g).reduce(0.0) { $0 + Foundation.pow(alpha, Double($1)) }, accuracy: 1e-9)
                XCTAssertTrue(tau >= 1 && tau <= Double(g + 1))
            }
            let gamma = Int(m["best_gamma_\(form)"]!)
            XCTAssertTrue((1...8).contains(gamma))
            let s = m["predicted_speedup_\(form)"]!
            XCTAssertEqual(s, m["expected_tokens_\(form)_g\(gamma)"]! / (Double(gamma) * m["cost_ratio_c"]! + m["verify_cost_g\(gamma)"]!),
                           accuracy: 1e-9)
            XCTAssertTrue(s > 0 && s.isFinite)
        }
        XCTAssertGreaterThan(m["cost_ratio_c"]!, 0)
        // Without costs: the expected tokens only.
        evaluator.costs = nil
        let plain = evaluator.evaluate(student)
        XCTAssertNotNil(plain["expected_tokens_greedy_g4"])
        XCTAssertNil(plain["predicted_speedup_greedy"])
    }

    // MARK: - λ schedule

    func testLambdaScheduleShape() {
        let s = LambdaSchedule(start: 0.1, end: 0.5, warmupSteps: 10, rampSteps: 40)
        XCTAssertEqual(s.lambda(atStep: 0), 0.1)
        XCTAssertEqual(s.lambda(atStep: 9), 0.1)
        XCTAssertEqual(s.lambda(atStep: 30), 0.3, accuracy: 1e-12)
        XCTAssertEqual(s.lambda(atStep: 50), 0.5)
        XCTAssertEqual(s.lambda(atStep: 1000), 0.5)
        XCTAssertEqual(LambdaSchedule(start: 0, end: 1, warmupSteps: 5, rampSteps: 0).lambda(atStep: 5), 1)
        XCTAssertThrowsError(try LambdaSchedule(start: -0.1, end: 1).validate())
    }

    /// Over 1,600 steps (2 micro-batches each) ramping 0 → 1, the on-policy batches per quarter
    /// match the schedule's mean λ in that quarter (tolerance 4 binomial standard deviations ≈
    /// 0.05; a constant λ or a ramp in micro-batches instead of steps misses by ≥ 0.12).
    func testOnPolicyFractionFollowsTheSchedule() throws {
        let (tok, _, student, data) = try tinyPair()
        let sampler = ResponseSampler(model: student, settings: SamplingSettings(temperature: 1), maxNewTokens: 1, stopTokens: [], maxT: 32)
        let steps = 1600, accum = 2
        let schedule = LambdaSchedule(start: 0, end: 1, warmupSteps: 400, rampSteps: 800)
        let source = try DistillationSource(dataset: data, tokenizer: tok, kind: .mixed, schedule: schedule, gradAccum: accum,
                                            teacher: nil, student: sampler)
        var rng = RandomGenerator(seed: 9)
        var onPolicy = [Int](repeating: 0, count: 4)
        for step in 0..<steps {
            for _ in 0..<accum {
                _ = try source.nextBatch(B: 1, T: 8, rng: &rng)
                if source.lastKind == .student { onPolicy[step / (steps / 4)] += 1 }
            }
        }
        let perQuarter = Double(steps / 4 * accum)
        let expected = [0.0, 0.25, 0.75, 1.0]   // mean λ over steps 0–399, 400–799, 800–1199, 1200–1599
        for q in 0..<4 {
            XCTAssertEqual(Double(onPolicy[q]) / perQuarter, expected[q], accuracy: 0.05, "quarter \(q): \(onPolicy)")
        }
        XCTAssertEqual(onPolicy[0], 0, "no on-policy batch during the warm-up")
        XCTAssertEqual(onPolicy[3], Int(perQuarter), "only on-policy batches after the ramp")
    }

    /// A source restarted at step k with the generator of that step (as --resume restores it)
    /// draws the same batches as the uninterrupted run.
    func testResumedSourceDrawsTheSameBatches() throws {
        let (tok, _, student, data) = try tinyPair()
        let sampler = ResponseSampler(model: student, settings: SamplingSettings(temperature: 1), maxNewTokens: 3, stopTokens: [], maxT: 32)
        let schedule = LambdaSchedule(start: 0, end: 1, rampSteps: 20)
        let full = try DistillationSource(dataset: data, tokenizer: tok, kind: .mixed, schedule: schedule, gradAccum: 2,
                                          teacher: nil, student: sampler)
        var rng = RandomGenerator(seed: 3)
        var batches: [TrainingBatch] = [], kinds: [DataSourceKind?] = []
        var rngAt10 = rng
        for step in 0..<20 {
            if step == 10 { rngAt10 = rng }
            for _ in 0..<2 { batches.append(try full.nextBatch(B: 2, T: 12, rng: &rng)); kinds.append(full.lastKind) }
        }
        let resumed = try DistillationSource(dataset: data, tokenizer: tok, kind: .mixed, schedule: schedule, gradAccum: 2, startStep: 10,
                                             teacher: nil, student: sampler)
        var r = rngAt10
        for i in 20..<40 {
            let b = try resumed.nextBatch(B: 2, T: 12, rng: &r)
            XCTAssertEqual(b.tokens, batches[i].tokens, "batch \(i)")
            XCTAssertEqual(b.targets, batches[i].targets, "batch \(i)")
            XCTAssertEqual(resumed.lastKind, kinds[i])
        }
        XCTAssertTrue(kinds.contains(.student) && kinds.contains(.fixed))
    }
}

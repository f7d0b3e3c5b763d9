import Foundation
import SpecDecode
import Tensor
import Transformer
import XCTest

/// The analytic model (algorithms.md §2.4, §6 item 6), the draft-length schedules and the statistics.
final class TheoryTests: XCTestCase {
    func testTauByHand() {
        XCTAssertEqual(SpeedupModel.tau(alpha: 0.5, gamma: 2), 1.75, accuracy: 1e-12)      // 1 + .5 + .25
        XCTAssertEqual(SpeedupModel.tau(alpha: 0.8, gamma: 4), 3.3616, accuracy: 1e-12)    // 1 + .8 + .64 + .512 + .4096
        XCTAssertEqual(SpeedupModel.tau(alpha: 1, gamma: 5), 6)
        XCTAssertEqual(SpeedupModel.tau(alpha: 0, gamma: 5), 1)
        XCTAssertEqual(SpeedupModel.speedup(alpha: 0.8, gamma: 4, costRatio: 0.1), 3.3616 / 1.4, accuracy: 1e-12)
    }

    /// S(g) = tau(0.8, g)/(0.1 g + 1): 1.636, 2.033, 2.271, 2.401, 2.459, 2.470, 2.448 for g = 1…7.
    func testBestDraftLength() {
        XCTAssertEqual(SpeedupModel.bestDraftLength(alpha: 0.8, costRatio: 0.1, in: 1...10), 6)
        XCTAssertEqual(SpeedupModel.bestDraftLength(alpha: 0.8, costRatio: 0.1, in: 1...4), 4)
        XCTAssertEqual(SpeedupModel.bestDraftLength(alpha: 0.9, costRatio: 0, in: 1...12), 12, "free drafts: draft the most")
        XCTAssertEqual(SpeedupModel.bestDraftLength(alpha: 0.05, costRatio: 0.3, in: 2...9), 2, "hopeless draft: the floor")
    }

    /// Rounds simulated directly with Bernoulli(alpha) acceptances (accept until the first failure
    /// or gamma, then one target token) emit tau(alpha, gamma) tokens per round on average.
    func testSimulatedBernoulliAcceptancesReproduceTau() {
        var rng = RandomGenerator(seed: 4)
        let rounds = 200_000
        for alpha in [0.3, 0.6, 0.9] {
            for gamma in [1, 2, 4, 8] {
                var sum = 0.0, sumSq = 0.0
                for _ in 0..<rounds {
                    var k = 0
                    while k < gamma && rng.uniformDouble() < alpha { k += 1 }
                    sum += Double(k + 1); sumSq += Double((k + 1) * (k + 1))
                }
                let mean = sum / Double(rounds), sd = ((sumSq / Double(rounds) - mean * mean) / Double(rounds)).squareRoot()
                XCTAssertEqual(mean, SpeedupModel.tau(alpha: alpha, gamma: Double(gamma)), accuracy: 5 * sd, "alpha \(alpha) gamma \(gamma)")
            }
        }
    }

    /// The same through the decoder: p uniform over 4 tokens and q = (1 − λ)p + λ·e_t after token t
    /// give `sum min(p, q) = 1 − 0.75λ = alpha` after every context, so each judged draft is an
    /// independent Bernoulli(alpha) acceptance. Measured tokens per target call and alpha must
    /// match tau(alpha, gamma) and alpha.
    func testDecoderAcceptancesReproduceTau() throws {
        let V = 4
        let target = TransitionModel.probabilities([[Double]](repeating: [Double](repeating: 0.25, count: V), count: V))
        for alpha in [0.4, 0.7, 0.9] {
            let lambda = (1 - alpha) / 0.75
            let draft = TransitionModel.probabilities((0..<V).map { t in (0..<V).map { (1 - lambda) * 0.25 + ($0 == t ? lambda : 0) } })
            for gamma in [1, 2, 4, 8] {
                let dec = try makeDecoder(target: target.fresh(), draft: draft.fresh(), sampling: SamplingSettings(temperature: 1),
                                          draftSettings: DraftSettings(draftMax: gamma), seed: UInt64(gamma))
                var perRound: [Double] = []
                let out = try dec.decode(prompt: [0], maxTokens: 40_000, onRound: { e in
                    if e.drafted == gamma { perRound.append(Double(e.emitted.count)) }
                })
                let n = Double(perRound.count)
                let mean = perRound.reduce(0, +) / n
                let sd = (perRound.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / (n - 1) / n).squareRoot()
                let label = "alpha \(alpha), gamma \(gamma)"
                XCTAssertEqual(mean, SpeedupModel.tau(alpha: alpha, gamma: Double(gamma)), accuracy: 5 * sd, label)
                let s = out.statistics
                let judged = Double(s.accepted + s.rejections)
                XCTAssertEqual(s.derived.alphaPerJudged!, alpha, accuracy: 5 * (alpha * (1 - alpha) / judged).squareRoot(), label)
            }
        }
    }

    func testHeuristicSchedule() {
        var c = DraftLengthController(settings: DraftSettings(draftMax: 6, draftMin: 2, schedule: .heuristic), priorCostRatio: 0.1)
        XCTAssertEqual(c.current, 6)
        var seen: [Int] = []
        for (drafted, accepted) in [(6, 2), (5, 5), (6, 0), (5, 1), (4, 0), (3, 0), (2, 0), (2, 2), (4, 4)] {
            c.record(drafted: drafted, accepted: accepted, rejected: accepted < drafted, draftSeconds: 0, draftCalls: drafted, verifySeconds: 0)
            seen.append(c.current)
        }
        // −1, +2 (capped at 6), −1, −1, −1, −1, −1 (floor 2), +2, +2
        XCTAssertEqual(seen, [5, 6, 5, 4, 3, 2, 2, 4, 6])
    }

    func testAdaptiveSchedule() {
        let settings = DraftSettings(draftMax: 10, draftMin: 2, schedule: .adaptive)
        var c = DraftLengthController(settings: settings, costSource: .fixed(0.1), priorCostRatio: 0.5)
        XCTAssertEqual(c.alphaEstimate, 0.5)
        XCTAssertEqual(c.current, SpeedupModel.bestDraftLength(alpha: 0.5, costRatio: 0.1, in: 2...10))
        for _ in 0..<200 { c.record(drafted: c.current, accepted: c.current, rejected: false, draftSeconds: 0, draftCalls: 1, verifySeconds: 0) }
        XCTAssertGreaterThan(c.alphaEstimate, 0.99)
        XCTAssertEqual(c.current, 10, "a draft that is always right drafts the most")
        for _ in 0..<200 { c.record(drafted: c.current, accepted: 0, rejected: true, draftSeconds: 0, draftCalls: 1, verifySeconds: 0) }
        XCTAssertLessThan(c.alphaEstimate, 0.01)
        XCTAssertEqual(c.current, 2, "a draft that is always wrong drafts the floor")
        // Measured cost: draft steps as expensive as target calls (c = 1) → short drafts even at alpha 0.8.
        var m = DraftLengthController(settings: settings, costSource: .measured, priorCostRatio: 0.01)
        for i in 0..<400 {
            let accepted = i % 5 == 4 ? 0 : m.current   // 4 of 5 rounds fully accepted
            m.record(drafted: m.current, accepted: accepted, rejected: accepted == 0, draftSeconds: 0.01 * Double(m.current),
                     draftCalls: m.current, verifySeconds: 0.01)
        }
        XCTAssertEqual(m.costRatioEstimate, 1, accuracy: 1e-9)
        XCTAssertEqual(m.current, SpeedupModel.bestDraftLength(alpha: m.alphaEstimate, costRatio: 1, in: 2...10))
        XCTAssertEqual(m.current, 2)
    }

    func testStatisticsDerivedValues() {
        var s = SpeculativeStatistics()
        let empty = s.derived
        XCTAssertNil(empty.alphaPerJudged); XCTAssertNil(empty.costRatio); XCTAssertNil(empty.measuredSpeedup)
        XCTAssertNil(empty.tokensPerTargetCall); XCTAssertNil(empty.predictedSpeedup)
        s.rounds = 10; s.targetCalls = 10; s.draftCalls = 40; s.drafted = 40; s.accepted = 24; s.rejections = 8
        s.bonusTokens = 2; s.emitted = 34
        s.draftSeconds = 0.4; s.verifySeconds = 0.5; s.otherSeconds = 0.1
        s.targetWeightBytes = 1000; s.draftWeightBytes = 100
        var b = PlainStatistics(); b.emitted = 20; b.decodeSeconds = 1.0
        s.baseline = b
        let d = s.derived
        XCTAssertEqual(d.alphaPerJudged!, 0.75, accuracy: 1e-12)          // 24 / 32
        XCTAssertEqual(d.acceptedPerDrafted!, 0.6, accuracy: 1e-12)       // 24 / 40
        XCTAssertEqual(d.meanDraftLength!, 4, accuracy: 1e-12)
        XCTAssertEqual(d.tokensPerTargetCall!, 3.4, accuracy: 1e-12)
        XCTAssertEqual(d.draftStepSeconds!, 0.01, accuracy: 1e-12)
        XCTAssertEqual(d.targetCallSeconds!, 0.05, accuracy: 1e-12)
        XCTAssertEqual(d.costRatio!, 0.2, accuracy: 1e-12)
        XCTAssertEqual(d.predictedSpeedup!, 3.4 / 1.8, accuracy: 1e-12)
        XCTAssertEqual(d.predictedTokensPerTargetCall!, (1 - pow(0.75, 5)) / 0.25, accuracy: 1e-12)
        XCTAssertEqual(d.memoryBoundSpeedup!, 3.4 / 1.4, accuracy: 1e-12)
        XCTAssertEqual(d.baselineSecondsPerToken!, 0.05, accuracy: 1e-12)
        XCTAssertEqual(d.measuredSpeedup!, 0.05 / (1.0 / 34), accuracy: 1e-12)
        XCTAssertEqual(d.verifyCostInTargetSteps!, 1, accuracy: 1e-12)
        XCTAssertEqual(d.baselineCostRatio!, 0.2, accuracy: 1e-12)                  // 0.01 / 0.05
        XCTAssertEqual(d.predictedSpeedupFromBaseline!, 3.4 / 1.8, accuracy: 1e-12)
        XCTAssertEqual(d.predictedSpeedupWithVerifyCost!, 3.4 / 1.8, accuracy: 1e-12)
        s.verifySeconds = 1.0                                                        // verification = 2 plain steps
        XCTAssertEqual(s.derived.predictedSpeedupWithVerifyCost!, 3.4 / (0.8 + 2), accuracy: 1e-12)
        XCTAssertEqual(s.derived.predictedSpeedupFromBaseline!, 3.4 / 1.8, accuracy: 1e-12)
        // Plain fallback: 6 more tokens from plain steps (f = 6/40); rounds keep tau 3.4 (34 tokens
        // in 10 calls) and S_r = 3.4/2.8, so S = 1 / (0.15 + 0.85 · 2.8/3.4) (40 tokens cost 6 + 28 plain steps).
        var fb = FallbackStatistics(); fb.plainSteps = 6; fb.plainSeconds = 0.3
        s.fallback = fb; s.emitted = 40
        XCTAssertEqual(s.derived.tokensPerTargetCall!, 3.4, accuracy: 1e-12)
        XCTAssertEqual(s.derived.predictedSpeedupWithVerifyCost!, 40 / (6 + 10 * 2.8), accuracy: 1e-12)
        XCTAssertEqual(s.derived.predictedSpeedupFromBaseline!, 40 / (6 + 10 * 1.8), accuracy: 1e-12)
        s.fallback = nil; s.emitted = 34
        s.verifySeconds = 0.5
        var sum = s
        sum.add(s)
        XCTAssertEqual(sum.emitted, 68); XCTAssertEqual(sum.baseline?.emitted, 40)
        XCTAssertEqual(sum.derived.alphaPerJudged!, 0.75, accuracy: 1e-12)
        let json = try? JSONEncoder().encode(s)
        XCTAssertEqual(json.flatMap { try? JSONDecoder().decode(SpeculativeStatistics.self, from: $0) }, s)
    }
}

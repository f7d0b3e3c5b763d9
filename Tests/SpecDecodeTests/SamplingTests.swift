import SpecDecode
import Transformer
import XCTest

/// Sampling speculative decoding reproduces the target distribution (algorithms.md §6 items 5, 8).
final class SamplingTests: XCTestCase {
    /// A random target over V = 5 and a draft with noisy copies of its logits (alpha ≈ 0.6–0.8:
    /// accepted drafts, residual samples and bonus tokens all occur often).
    let V = 5
    lazy var target = TransitionModel.random(V: V, seed: 21, scale: 1.5)
    lazy var draft = TransitionModel.perturbed(target, seed: 22, noise: 4)
    /// Runs per configuration: a cell of probability 0.05 has a standard deviation of ≈ 31 counts,
    /// while sampling replacements from p instead of the residual moves cells by hundreds.
    let runs = 20_000

    /// The joint distribution of the first two emitted tokens after the prompt [2] is the
    /// target's `p(a | 2) · p(b | a)`, at T ∈ {0.5, 1}, with and without top-k, for gamma 1 (the
    /// second token is often a bonus) and gamma 3 (mostly accepted drafts and residual samples).
    func testEmittedTokensFollowTheTarget() throws {
        for (T, topK) in [(0.5, 0), (1.0, 0), (0.5, 3), (1.0, 3)] {
            let settings = SamplingSettings(temperature: Float(T), topK: topK)
            func p(_ context: Int) -> [Double] {
                referenceDistribution(target.table[(context * V)..<((context + 1) * V)], temperature: T, topK: topK)
            }
            let first = p(2)
            let expected = (0..<(V * V)).map { first[$0 / V] * p($0 / V)[$0 % V] }
            for gamma in [1, 3] {
                let dec = try makeDecoder(target: target.fresh(), draft: draft.fresh(), sampling: settings,
                                          draftSettings: DraftSettings(draftMax: gamma), seed: 1000 + UInt64(gamma))
                var counts = [Int](repeating: 0, count: V * V)
                var total = SpeculativeStatistics()
                for _ in 0..<runs {
                    let out = try dec.decode(prompt: [2], maxTokens: 4)
                    counts[out.tokens[0] * V + out.tokens[1]] += 1
                    total.add(out.statistics)
                }
                let label = "T \(T), top-k \(topK), gamma \(gamma), alpha \(total.derived.alphaPerJudged!)"
                XCTAssertGreaterThan(total.rejections, runs / 20, "\(label): the pair must reject often")
                ChiSquare(observed: counts, expected: expected).assertConsistent(label)
                // The first token alone, a sharper test of the replacement at position 1.
                let firstCounts = (0..<V).map { a in (0..<V).reduce(0) { $0 + counts[a * V + $1] } }
                ChiSquare(observed: firstCounts, expected: first).assertConsistent(label + ", first token")
            }
        }
    }

    /// eps = 1 makes every lenience exactly lossless: the same seed gives the same tokens.
    func testLossyWithEpsilonOneEqualsLossless() throws {
        for settings in [SamplingSettings(temperature: 1), SamplingSettings(temperature: 0.7, topK: 3)] {
            let reference = try makeDecoder(target: target.fresh(), draft: draft.fresh(), sampling: settings,
                                            acceptance: .rejection, draftSettings: DraftSettings(draftMax: 3), seed: 5)
            let expected = try (0..<50).map { try reference.decode(prompt: [$0 % V], maxTokens: 30).tokens }
            for f in Lenience.allCases {
                let dec = try makeDecoder(target: target.fresh(), draft: draft.fresh(), sampling: settings,
                                          acceptance: .lossy(f, epsilon: 1), draftSettings: DraftSettings(draftMax: 3), seed: 5)
                let got = try (0..<50).map { try dec.decode(prompt: [$0 % V], maxTokens: 30).tokens }
                XCTAssertEqual(got, expected, "\(f) with eps 1")
            }
        }
    }

    /// Lenience accepts more (each f(p, eps) ≥ p for eps < 1), and changes nothing when greedy.
    func testLenienceAcceptsMoreAndIsInertWhenGreedy() throws {
        func alpha(_ rule: AcceptanceRule) throws -> Double {
            let dec = try makeDecoder(target: target.fresh(), draft: draft.fresh(), sampling: SamplingSettings(temperature: 1),
                                      acceptance: rule, draftSettings: DraftSettings(draftMax: 3), seed: 9)
            return try dec.decode(prompt: [0], maxTokens: 4000).statistics.derived.alphaPerJudged!
        }
        let lossless = try alpha(.rejection)
        for f in Lenience.allCases {
            XCTAssertGreaterThan(try alpha(.lossy(f, epsilon: 0.3)), lossless + 0.05, "\(f)")
        }
        let plain = try PlainDecoder(model: target.fresh(), sampling: .greedy, seed: 1).decode(prompt: [1], maxTokens: 40).tokens
        for f in Lenience.allCases {
            let dec = try makeDecoder(target: target.fresh(), draft: draft.fresh(), acceptance: .lossy(f, epsilon: 0.2),
                                      draftSettings: DraftSettings(draftMax: 4))
            XCTAssertEqual(try dec.decode(prompt: [1], maxTokens: 40).tokens, plain, "\(f) at temperature 0")
        }
    }

    /// The acceptance probabilities `min(1, f(p, eps)/q)`, worked by hand for p = 0.1, q = 0.5, eps = 0.5:
    /// lin 0.2/0.5 = 0.4; sq 0.4/0.5 = 0.8; exp sqrt(0.1)/0.5 = 0.63246; lossless 0.1/0.5 = 0.2.
    func testAcceptanceProbabilities() {
        XCTAssertEqual(AcceptanceRule.lossy(.lin, epsilon: 0.5).acceptanceProbability(p: 0.1, q: 0.5), 0.4, accuracy: 1e-12)
        XCTAssertEqual(AcceptanceRule.lossy(.sq, epsilon: 0.5).acceptanceProbability(p: 0.1, q: 0.5), 0.8, accuracy: 1e-12)
        XCTAssertEqual(AcceptanceRule.lossy(.exp, epsilon: 0.5).acceptanceProbability(p: 0.1, q: 0.5), 0.632456, accuracy: 1e-6)
        XCTAssertEqual(AcceptanceRule.rejection.acceptanceProbability(p: 0.1, q: 0.5), 0.2, accuracy: 1e-12)
        XCTAssertEqual(AcceptanceRule.rejection.acceptanceProbability(p: 0.6, q: 0.5), 1)
    }

    /// A target that is certain (p one-hot on t + 1) and a uniform draft: every draft is accepted
    /// with probability 1/V and every rejection resamples the target's token, so the output is
    /// the target's cycle exactly.
    func testForcedRejectionsWhenSampling() throws {
        let V = 4
        let certain = TransitionModel.probabilities((0..<V).map { t in (0..<V).map { $0 == (t + 1) % V ? 1.0 : 0.0 } })
        let uniform = TransitionModel.probabilities([[Double]](repeating: [Double](repeating: 0.25, count: V), count: V))
        let dec = try makeDecoder(target: certain, draft: uniform, sampling: SamplingSettings(temperature: 1),
                                  draftSettings: DraftSettings(draftMax: 3), seed: 3)
        let out = try dec.decode(prompt: [0], maxTokens: 4000)
        XCTAssertEqual(out.tokens, (1...4000).map { $0 % V })
        let s = out.statistics
        let judged = Double(s.accepted + s.rejections)
        let sd = (0.25 * 0.75 / judged).squareRoot()
        XCTAssertEqual(s.derived.alphaPerJudged!, 0.25, accuracy: 4 * sd, "accepted \(s.accepted) of \(judged)")
    }

    /// A seed reproduces a run bit for bit (tokens, origins, every counter), for every schedule
    /// (the adaptive one with a fixed cost ratio); another seed gives another run.
    func testSeededRunsAreBitReproducible() throws {
        let sampling = SamplingSettings(temperature: 0.8, topK: 4, topP: 0.9)
        func run(_ settings: DraftSettings, seed: UInt64) throws -> ([[Int]], [[TokenOrigin]], SpeculativeStatistics) {
            let dec = try makeDecoder(target: target.fresh(), draft: draft.fresh(), sampling: sampling,
                                      acceptance: .lossy(.sq, epsilon: 0.8), draftSettings: settings, seed: seed)
            var tokens: [[Int]] = [], origins: [[TokenOrigin]] = [], stats = SpeculativeStatistics()
            for prompt in [[0], [1, 2], [4, 4, 3]] {
                let out = try dec.decode(prompt: prompt, maxTokens: 50)
                tokens.append(out.tokens); origins.append(out.origins); stats.add(out.statistics)
            }
            stats.prefillSeconds = 0; stats.draftSeconds = 0; stats.verifySeconds = 0; stats.otherSeconds = 0
            return (tokens, origins, stats)
        }
        for settings in scheduleSweep {
            let a = try run(settings, seed: 77), b = try run(settings, seed: 77), c = try run(settings, seed: 78)
            XCTAssertEqual(a.0, b.0, "\(settings)")
            XCTAssertEqual(a.1, b.1)
            XCTAssertEqual(a.2, b.2)
            XCTAssertNotEqual(a.0, c.0, "another seed must change the run")
        }
    }
}

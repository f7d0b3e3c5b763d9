import Foundation
import SpecDecode
import Tensor
import Transformer
import XCTest

/// The baselines of help-mode decoding (issue 17): asking at random positions, and asking where
/// the student's entropy or top-1 probability says it is unsure — each against an oracle computed
/// here in Double from the transition tables.
final class HelpPolicyTests: XCTestCase {
    let V = 7
    let prompts: [[Int]] = [[3], [0, 1, 2], [6, 6, 5, 4, 1, 0, 2, 3, 3, 1, 5, 6, 0, 2, 4]]

    func teacher() -> TransitionModel { TransitionModel.random(V: V, order: 2, seed: 41) }

    /// The order-2 row after `context` in Double (TransitionModel.context(at:)).
    func row(_ m: TransitionModel, after context: [Int]) -> [Double] {
        let n = context.count, ctx = (n > 1 ? context[n - 2] : 0) * m.logitWidth + context[n - 1]
        return m.table[(ctx * m.logitWidth)..<(ctx * m.logitWidth + V)].map(Double.init)
    }

    func probabilities(_ z: [Double]) -> [Double] {
        let m = z.max()!, e = z.map { Foundation.exp($0 - m) }, s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    func testScoresAgainstTheirDefinitions() {
        for seed in 0..<20 as Range<UInt64> {
            var rng = RandomGenerator(seed: seed)
            let z = (0..<V).map { _ in Float(rng.uniformDouble() * 8 - 4) }
            let q = probabilities(z.map(Double.init))
            let entropy = -q.reduce(0) { $0 + ($1 > 0 ? $1 * Foundation.log($1) : 0) }
            z.withUnsafeBufferPointer { p in
                XCTAssertEqual(UncertaintyMeasure.entropy.score(p.baseAddress!, vocabularySize: V), entropy, accuracy: 1e-12)
                XCTAssertEqual(UncertaintyMeasure.lowTopProbability.score(p.baseAddress!, vocabularySize: V), 1 - q.max()!, accuracy: 1e-12)
            }
        }
        let uniform = [Float](repeating: 0.3, count: V)
        uniform.withUnsafeBufferPointer { XCTAssertEqual(UncertaintyMeasure.entropy.score($0.baseAddress!, vocabularySize: V), Foundation.log(Double(V)), accuracy: 1e-12) }
    }

    func testThresholdAsksAtTheRequestedFraction() {
        let scores = (1...10).map { Double($0) / 10 }.shuffled()
        for (fraction, asks) in [(0.0, 0), (0.1, 1), (0.3, 3), (0.5, 5), (1.0, 10)] {
            let t = UncertaintyMeasure.threshold(scores: scores, fraction: fraction)
            XCTAssertEqual(scores.filter { $0 >= t }.count, asks, "fraction \(fraction)")
        }
    }

    /// With the teacher equal to the student, the text is the student's greedy text whatever it
    /// asks, so each decision can be replayed: asked exactly where the score reaches the threshold.
    func testUncertaintyPolicyAsksExactlyWhereTheStudentIsUnsure() throws {
        let student = teacher()
        for measure in UncertaintyMeasure.allCases {
            var asked = 0, total = 0
            for prompt in prompts {
                let t = measure == .entropy ? 1.0 : 0.5
                let d = try HelpDecoder(student: student.fresh(), teacher: student.fresh(), helpTokenID: nil,
                                        configuration: HelpConfiguration(budget: 1, policy: .uncertainty(measure, threshold: t)), vocabularySize: V)
                let out = try d.decode(prompt: prompt, maxTokens: 30)
                var context = prompt
                for (i, token) in out.tokens.enumerated() {
                    let q = probabilities(row(student, after: context))
                    let score = measure == .entropy ? -q.reduce(0) { $0 + $1 * Foundation.log($1) } : 1 - q.max()!
                    XCTAssertEqual(out.origins[i] == .target, score >= t, "\(measure) prompt \(prompt) token \(i)")
                    asked += score >= t ? 1 : 0; total += 1
                    context.append(token)
                }
                XCTAssertEqual(out.statistics.teacherTokens, out.origins.filter { $0 == .target }.count)
            }
            XCTAssertTrue(asked > 0 && asked < total, "\(measure): the threshold splits the positions (\(asked) of \(total))")
        }
    }

    /// Random asking: p = 0 is the student's greedy text, p = 1 the teacher's, and p = 0.3 asks at
    /// a fraction within 4 binomial standard deviations of 0.3 over 600 positions.
    func testRandomPolicyAsksAtItsProbability() throws {
        let student = TransitionModel.random(V: V, order: 2, seed: 9)
        func run(_ p: Double, seed: UInt64, _ prompt: [Int], _ n: Int) throws -> HelpOutput {
            let d = try HelpDecoder(student: student.fresh(), teacher: teacher(), helpTokenID: nil,
                                    configuration: HelpConfiguration(budget: 1, seed: seed, policy: .random(probability: p)), vocabularySize: V)
            return try d.decode(prompt: prompt, maxTokens: n)
        }
        for prompt in prompts {
            let plain = try PlainDecoder(model: student.fresh(), sampling: .greedy, seed: 1, vocabularySize: V).decode(prompt: prompt, maxTokens: 30)
            let teacherGreedy = try PlainDecoder(model: teacher(), sampling: .greedy, seed: 1, vocabularySize: V).decode(prompt: prompt, maxTokens: 30)
            XCTAssertEqual(try run(0, seed: 1, prompt, 30).tokens, plain.tokens)
            XCTAssertEqual(try run(1, seed: 1, prompt, 30).tokens, teacherGreedy.tokens)
        }
        var asked = 0, total = 0
        for seed in 1...20 as ClosedRange<UInt64> {
            let out = try run(0.3, seed: seed, [1, 2], 30)
            asked += out.statistics.teacherTokens; total += out.tokens.count
        }
        let sd = (0.3 * 0.7 / Double(total)).squareRoot()
        XCTAssertEqual(Double(asked) / Double(total), 0.3, accuracy: 4 * sd)
    }

    func testLearnedPolicyNeedsAHelpAction() {
        XCTAssertThrowsError(try HelpDecoder(student: teacher(), teacher: teacher(), helpTokenID: nil,
                                             configuration: HelpConfiguration(budget: 0.2), vocabularySize: V))
    }
}

import Foundation
import SpecDecode
import Tensor
import Transformer
import XCTest

/// The learned help head (issue 17; algorithms.md §5.4, extended): its features against their definitions,
/// its decision rule against the baseline it generalises, its hidden-state path, the budget
/// multipliers and the checks of a file that does not fit the pair.
final class HelpHeadTests: XCTestCase {
    let V = 7
    let prompts: [[Int]] = [[3], [0, 1, 2], [6, 6, 5, 4, 1, 0, 2, 3, 3, 1, 5, 6, 0, 2, 4]]

    func logitsHead(weights: [Double], bias: Double = 0, budgets: [Double] = [], multipliers: [Double] = []) -> HelpHead {
        HelpHead(hiddenSize: 0, vocabularySize: V, mean: [0, 0, 0, 0], scale: [1, 1, 1, 1], weights: weights, bias: bias,
                 budgets: budgets, multipliers: multipliers)
    }

    /// q = (0.5, 0.3, 0.2): H = −Σ q log q, 1 − q₁ = 0.5, log q₁, log(q₁/q₂) — hand-computed.
    func testLogitFeaturesAgainstTheirDefinitions() {
        let head = logitsHead(weights: [0, 0, 0, 0])
        let z: [Float] = [log(0.5), log(0.3), log(0.2)].map { Float($0) + 3 }
        var out = [Double](repeating: .nan, count: 4)
        z.withUnsafeBufferPointer { zp in out.withUnsafeMutableBufferPointer { head.features(hidden: nil, logits: zp.baseAddress!, vocabularySize: 3, position: 0, into: $0.baseAddress!) } }
        let H = -(0.5 * log(0.5) + 0.3 * log(0.3) + 0.2 * log(0.2))
        XCTAssertEqual(out[0], H, accuracy: 1e-6)
        XCTAssertEqual(out[1], 0.5, accuracy: 1e-6)
        XCTAssertEqual(out[2], log(0.5), accuracy: 1e-6)
        XCTAssertEqual(out[3], log(0.5 / 0.3), accuracy: 1e-6)
    }

    /// With a horizon, the features end with u = max(0, 1 − t/N) and u times each statistic; a
    /// head file without the key reads as having none.
    func testPositionFeaturesFollowTheResponsePosition() throws {
        let head = HelpHead(hiddenSize: 0, vocabularySize: V, mean: [Double](repeating: 0, count: 9), scale: [Double](repeating: 1, count: 9),
                            weights: [Double](repeating: 0, count: 9), bias: 0, horizon: 8)
        XCTAssertEqual(head.featureCount, 9)
        let z: [Float] = [log(0.5), log(0.3), log(0.2)].map { Float($0) }
        for (t, u) in [(0, 1.0), (2, 0.75), (8, 0.0), (11, 0.0)] {
            var out = [Double](repeating: .nan, count: 9)
            z.withUnsafeBufferPointer { zp in out.withUnsafeMutableBufferPointer { head.features(hidden: nil, logits: zp.baseAddress!, vocabularySize: 3, position: t, into: $0.baseAddress!) } }
            XCTAssertEqual(out[4], u, "t \(t)")
            for i in 0..<4 { XCTAssertEqual(out[5 + i], u * out[i], accuracy: 1e-15, "t \(t) statistic \(i)") }
        }
        XCTAssertNoThrow(try head.check(hiddenSize: 0, vocabularySize: V, maxTokens: 8))
        XCTAssertThrowsError(try head.check(hiddenSize: 0, vocabularySize: V, maxTokens: 128)) {
            XCTAssertTrue("\($0)".contains("horizon of 8") && "\($0)".contains("-n 8"), "\($0)")
        }
        XCTAssertNoThrow(try logitsHead(weights: [1, 0, 0, 0]).check(hiddenSize: 0, vocabularySize: V, maxTokens: 128))
        let old = try JSONEncoder().encode(logitsHead(weights: [1, 0, 0, 0]))
        XCTAssertFalse(String(decoding: old, as: UTF8.self).contains("horizon"))
        XCTAssertNil(try JSONDecoder().decode(HelpHead.self, from: old).horizon)
    }

    /// A head reading only u (weight 1) with multiplier 0.65 asks exactly while 1 − t/N > 0.65: at
    /// the first 4 positions of N = 10, whatever the text.
    func testDecoderPassesTheResponsePosition() throws {
        var weights = [Double](repeating: 0, count: 9); weights[4] = 1
        let head = HelpHead(hiddenSize: 0, vocabularySize: V, mean: [Double](repeating: 0, count: 9), scale: [Double](repeating: 1, count: 9),
                            weights: weights, bias: 0, horizon: 10)
        let student = TransitionModel.random(V: V, order: 2, seed: 9), teacher = TransitionModel.random(V: V, order: 2, seed: 41)
        for prompt in prompts {
            let d = try HelpDecoder(student: student.fresh(), teacher: teacher.fresh(), helpTokenID: nil,
                                    configuration: HelpConfiguration(budget: 1, policy: .head(head, multiplier: 0.65)), vocabularySize: V)
            let out = try d.decode(prompt: prompt, maxTokens: 10)
            XCTAssertEqual(out.origins, (0..<out.tokens.count).map { $0 < 4 ? .target : .draft }, "prompt \(prompt)")
        }
    }

    func testGainIsTheStandardisedLinearForm() {
        var head = logitsHead(weights: [1, -2, 0.5, 3], bias: 0.25)
        head.mean = [1, 0, -1, 2]; head.scale = [2, 1, 4, 0.5]
        let x = [3.0, 0.5, 1.0, 2.5]
        // 1·(3−1)/2 − 2·0.5 + 0.5·(1+1)/4 + 3·(2.5−2)/0.5 + 0.25
        XCTAssertEqual(x.withUnsafeBufferPointer { head.gain(rawFeatures: $0.baseAddress!, position: 7) }, 1 - 1 + 0.25 + 3 + 0.25, accuracy: 1e-12)
    }

    /// The product form: G = σ(wᵀφ + β) · max(0, 1 − t/N), the linear score untouched; a file
    /// without the key reads as the linear head; a decode at another -n is refused.
    func testProductFormIsTheProbabilityTimesTheRemainingShare() throws {
        var head = logitsHead(weights: [1, -2, 0.5, 3], bias: 0.25)
        head.mean = [1, 0, -1, 2]; head.scale = [2, 1, 4, 0.5]; head.stakeHorizon = 8
        let x = [3.0, 0.5, 1.0, 2.5], z = 1 - 1 + 0.25 + 3 + 0.25
        x.withUnsafeBufferPointer { p in
            XCTAssertEqual(head.linearScore(rawFeatures: p.baseAddress!), z, accuracy: 1e-12)
            for (t, u) in [(0, 1.0), (2, 0.75), (6, 0.25), (8, 0.0), (11, 0.0)] {
                XCTAssertEqual(head.gain(rawFeatures: p.baseAddress!, position: t), u / (1 + exp(-z)), accuracy: 1e-12, "t \(t)")
            }
        }
        let data = try JSONEncoder().encode(head)
        XCTAssertEqual(try JSONDecoder().decode(HelpHead.self, from: data), head)
        var object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        object["stakeHorizon"] = nil
        XCTAssertNil(try JSONDecoder().decode(HelpHead.self, from: JSONSerialization.data(withJSONObject: object)).stakeHorizon)
        XCTAssertNoThrow(try head.check(hiddenSize: 7, vocabularySize: V, maxTokens: 8))
        XCTAssertThrowsError(try head.check(hiddenSize: 7, vocabularySize: V, maxTokens: 16)) { XCTAssertTrue("\($0)".contains("-n 8"), "\($0)") }
    }

    /// A head whose gain is 1 − q₁ and whose multiplier sits just below t asks at exactly the
    /// positions where the top-1 baseline at threshold t asks: same text, same origins.
    func testHeadOnTopProbabilityAsksWhereTheTopOneBaselineAsks() throws {
        let student = TransitionModel.random(V: V, order: 2, seed: 9)
        let teacher = TransitionModel.random(V: V, order: 2, seed: 41)
        for t in [0.2, 0.35, 0.5] {
            var asked = 0
            for prompt in prompts {
                let baseline = try HelpDecoder(student: student.fresh(), teacher: teacher.fresh(), helpTokenID: nil,
                                               configuration: HelpConfiguration(budget: 1, policy: .uncertainty(.lowTopProbability, threshold: t)),
                                               vocabularySize: V)
                let head = try HelpDecoder(student: student.fresh(), teacher: teacher.fresh(), helpTokenID: nil,
                                           configuration: HelpConfiguration(budget: 1, policy: .head(logitsHead(weights: [0, 1, 0, 0]), multiplier: t.nextDown)),
                                           vocabularySize: V)
                var scores: [Double] = []
                head.onScore = { scores.append($0) }
                let a = try baseline.decode(prompt: prompt, maxTokens: 40), b = try head.decode(prompt: prompt, maxTokens: 40)
                XCTAssertEqual(a.tokens, b.tokens, "threshold \(t), prompt \(prompt)")
                XCTAssertEqual(a.origins, b.origins, "threshold \(t), prompt \(prompt)")
                XCTAssertEqual(scores.count, b.tokens.count)
                XCTAssertEqual(scores.filter { $0 > t.nextDown }.count, b.statistics.teacherTokens)
                asked += b.statistics.teacherTokens
            }
            XCTAssertGreaterThan(asked, 0, "threshold \(t) asks somewhere")
        }
    }

    /// The position-weighted top-1 baseline at threshold t asks where a head reading only
    /// u·(1 − q₁) with multiplier just below t asks (same text, same origins), and where
    /// (1 − q₁)·(1 − t/N) ≥ t computed from the student's own logits says.
    func testPositionWeightedBaselineAsksWhereItsScoreSays() throws {
        let student = TransitionModel.random(V: V, order: 2, seed: 9), teacher = TransitionModel.random(V: V, order: 2, seed: 41)
        var weights = [Double](repeating: 0, count: 9); weights[6] = 1
        let head = HelpHead(hiddenSize: 0, vocabularySize: V, mean: [Double](repeating: 0, count: 9), scale: [Double](repeating: 1, count: 9),
                            weights: weights, bias: 0, horizon: 30)
        var asked = 0, kept = 0
        for t in [0.15, 0.3] {
            for prompt in prompts {
                let baseline = try HelpDecoder(student: student.fresh(), teacher: teacher.fresh(), helpTokenID: nil,
                                               configuration: HelpConfiguration(budget: 1, policy: .positionWeighted(.lowTopProbability, threshold: t, horizon: 30)),
                                               vocabularySize: V)
                var scores: [Double] = []
                baseline.onScore = { scores.append($0) }
                let viaHead = try HelpDecoder(student: student.fresh(), teacher: teacher.fresh(), helpTokenID: nil,
                                              configuration: HelpConfiguration(budget: 1, policy: .head(head, multiplier: t.nextDown)), vocabularySize: V)
                let a = try baseline.decode(prompt: prompt, maxTokens: 30), b = try viaHead.decode(prompt: prompt, maxTokens: 30)
                XCTAssertEqual(a.tokens, b.tokens, "threshold \(t), prompt \(prompt)")
                XCTAssertEqual(a.origins, b.origins, "threshold \(t), prompt \(prompt)")
                // The oracle: the student's logits after the emitted prefix, scored by hand.
                let replay = student.fresh()
                var z = try replay.append(prompt)
                for (i, token) in a.tokens.enumerated() {
                    let row = Array(UnsafeBufferPointer(start: z.pointer + (z.shape[0] - 1) * V, count: V)).map(Double.init)
                    let m = row.max()!, top = 1 / row.reduce(0) { $0 + Foundation.exp($1 - m) }
                    let expected = (1 - top) * max(0, 1 - Double(i) / 30)
                    XCTAssertEqual(scores[i], expected, accuracy: 1e-9, "position \(i)")
                    XCTAssertEqual(a.origins[i] == .target, expected >= t, "position \(i)")
                    asked += a.origins[i] == .target ? 1 : 0
                    kept += a.origins[i] == .target ? 0 : 1
                    z = try replay.append([token])
                }
            }
        }
        XCTAssertGreaterThan(asked, 0); XCTAssertGreaterThan(kept, 0)
    }

    /// A student exposing one-hot hidden states of its last token: a head with weight 1 on token 4
    /// and multiplier 0.5 asks exactly after each 4 (and nowhere else); without hidden states the
    /// decoder refuses.
    func testHiddenStatePathReadsTheLastRow() throws {
        let inner = TransitionModel.random(V: V, order: 1, seed: 3)
        let teacher = TransitionModel.random(V: V, order: 1, seed: 5)
        var weights = [Double](repeating: 0, count: V + 4); weights[4] = 1
        let head = HelpHead(hiddenSize: V, vocabularySize: V, mean: [Double](repeating: 0, count: V + 4),
                            scale: [Double](repeating: 1, count: V + 4), weights: weights, bias: 0)
        let config = HelpConfiguration(budget: 1, policy: .head(head, multiplier: 0.5))
        var sawFour = false
        for prompt in prompts {
            let d = try HelpDecoder(student: OneHotHidden(inner.fresh()), teacher: teacher.fresh(), helpTokenID: nil,
                                    configuration: config, vocabularySize: V)
            let out = try d.decode(prompt: prompt, maxTokens: 40)
            var previous = prompt.last!
            for (i, token) in out.tokens.enumerated() {
                XCTAssertEqual(out.origins[i] == .target, previous == 4, "prompt \(prompt) token \(i)")
                sawFour = sawFour || previous == 4
                previous = token
            }
        }
        XCTAssertTrue(sawFour, "some position follows a 4")
        let d = try HelpDecoder(student: inner.fresh(), teacher: teacher.fresh(), helpTokenID: nil, configuration: config, vocabularySize: V)
        XCTAssertThrowsError(try d.decode(prompt: [1, 2], maxTokens: 5)) { XCTAssertTrue("\($0)".contains("hidden states"), "\($0)") }
    }

    func testMultiplierInterpolatesBetweenFittedBudgets() throws {
        let head = logitsHead(weights: [0, 0, 0, 0], budgets: [0.1, 0.3, 0.5], multipliers: [2, 1, 0.2])
        XCTAssertEqual(try head.multiplier(budget: 0.1), 2)
        XCTAssertEqual(try head.multiplier(budget: 0.2), 1.5, accuracy: 1e-12)
        XCTAssertEqual(try head.multiplier(budget: 0.4), 0.6, accuracy: 1e-12)
        XCTAssertEqual(try head.multiplier(budget: 0.5), 0.2)
        XCTAssertEqual(try head.multiplier(budget: 0), .infinity)
        XCTAssertThrowsError(try head.multiplier(budget: 0.05)) { XCTAssertTrue("\($0)".contains("outside"), "\($0)") }
        XCTAssertThrowsError(try head.multiplier(budget: 0.8))
        XCTAssertThrowsError(try logitsHead(weights: [0, 0, 0, 0]).multiplier(budget: 0.2))
    }

    func testChecksAndFilesNameTheProblem() throws {
        let head = HelpHead(hiddenSize: 8, vocabularySize: V, mean: [Double](repeating: 0, count: 12), scale: [Double](repeating: 1, count: 12),
                            weights: [Double](repeating: 0.5, count: 12), bias: 1, budgets: [0.2], multipliers: [0.7])
        XCTAssertNoThrow(try head.check(hiddenSize: 8, vocabularySize: V))
        XCTAssertThrowsError(try head.check(hiddenSize: 16, vocabularySize: V)) { XCTAssertTrue("\($0)".contains("size 8"), "\($0)") }
        XCTAssertThrowsError(try head.check(hiddenSize: 8, vocabularySize: V + 1)) { XCTAssertTrue("\($0)".contains("vocabulary"), "\($0)") }
        var broken = head; broken.scale[3] = 0
        XCTAssertThrowsError(try broken.check(hiddenSize: 8, vocabularySize: V))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("helphead-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("head.json")
        try head.write(to: url)
        XCTAssertEqual(try HelpHead.read(from: url), head)
        try Data("{\"hiddenSize\": 3".utf8).write(to: url)
        XCTAssertThrowsError(try HelpHead.read(from: url)) { XCTAssertTrue("\($0)".contains(url.path), "\($0)") }
    }
}

/// A ``TransitionModel`` that exposes one-hot hidden states of each appended token.
final class OneHotHidden: ForwardingModel {
    private var hidden = Tensor(zeros: [0])
    init(_ inner: TransitionModel) { super.init(inner) }
    override var lastHiddenStates: Tensor? { hidden.count > 0 ? hidden : nil }
    override func append(_ tokens: [Int]) throws -> Tensor {
        let out = try inner.append(tokens)
        hidden = Tensor(zeros: [tokens.count, logitWidth])
        for (i, t) in tokens.enumerated() { hidden.pointer[i * logitWidth + t] = 1 }
        return out
    }
}

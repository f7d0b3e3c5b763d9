import Evaluation
import Foundation
import SpecDecode
import Tensor
import Transformer
import XCTest

/// ``HelpHeadFitter``: the collected gains against the teacher's logits computed independently,
/// the regression recovering a known linear gain, and multipliers that ask at their fraction.
final class HelpHeadFitTests: XCTestCase {
    func model(seed: UInt64, scale: Float) throws -> TransformerModel {
        let m = try TransformerModel(config: ModelConfig(architecture: .llama, vocabSize: 50, hiddenSize: 16, numLayers: 2,
                                                         numHeads: 2, intermediateSize: 24, maxPositions: 64))
        m.initialize(seed: seed)
        for p in m.parameters.infos where p.shape.count == 2 {
            let t = m.parameters[p.name]
            for i in 0..<t.count { t.pointer[i] *= scale }
        }
        return m
    }

    func testCollectedGainsAreTheTeachersLogitGaps() throws {
        let student = try model(seed: 3, scale: 8), teacher = try model(seed: 4, scale: 8)
        let prompts = [[1, 2, 3], [7], [5, 9, 11, 13, 2]]
        let fitter = HelpHeadFitter(student: student, teacher: teacher, vocabularySize: 50, maxTokens: 9, stopTokens: [], useHidden: true)
        let samples = try fitter.collect(prompts: prompts)
        XCTAssertEqual(samples.count, 27)
        XCTAssertEqual(samples.width, 16 + HelpHead.logitFeatureCount)
        var zeros = 0
        for (i, prompt) in prompts.enumerated() {
            // The student's greedy text, then the teacher's logits over prompt + text in one append.
            let plain = InferenceSession(model: student, maxT: 64)
            var text: [Int] = [], last = try plain.append(prompt).row(prompt.count - 1)
            for _ in 0..<9 {
                let a = Sampler.argmax(last.pointer, count: 50)
                text.append(a)
                last = try plain.append([a]).row(0)
            }
            let u = try InferenceSession(model: teacher, maxT: 64).append(prompt + text)
            let rows = (0..<samples.count).filter { samples.prompt[$0] == i }
            XCTAssertEqual(rows.count, 9)
            for (k, r) in rows.enumerated() {
                let row = u.row(prompt.count - 1 + k)
                let m = (0..<50).map { row.pointer[$0] }.max()!
                XCTAssertEqual(samples.gains[r], Double(m - row.pointer[text[k]]), accuracy: 1e-3, "prompt \(i) position \(k)")
                XCTAssertGreaterThanOrEqual(samples.gains[r], 0)
                zeros += samples.gains[r] == 0 ? 1 : 0
            }
        }
        XCTAssertEqual(zeros, samples.agreements)
        XCTAssertLessThan(samples.agreements, samples.count, "random pairs disagree somewhere")
    }

    func testFitRecoversALinearGain() throws {
        let student = try model(seed: 3, scale: 1), teacher = try model(seed: 4, scale: 1)
        let fitter = HelpHeadFitter(student: student, teacher: teacher, vocabularySize: 50, maxTokens: 4, stopTokens: [], useHidden: false)
        var samples = HelpHeadFitter.Samples(width: 4)
        var rng = RandomGenerator(seed: 11)
        for r in 0..<400 {
            let f = (0..<4).map { i in rng.uniformDouble() * Double(i + 1) + Double(i) }
            samples.features += f
            samples.gains.append(2 * f[1] - f[3] + 0.5)
            samples.prompt.append(r / 20)
        }
        let head = try fitter.fit(samples)
        XCTAssertEqual(head.fit["rho"], 0.1, "the smallest ridge fits an exact linear target best")
        samples.features.withUnsafeBufferPointer { f in
            for r in 0..<400 { XCTAssertEqual(head.gain(rawFeatures: f.baseAddress! + r * 4, position: 0), samples.gains[r], accuracy: 0.02) }
        }
        XCTAssertThrowsError(try HelpHeadFitter(student: student, teacher: teacher, vocabularySize: 50, maxTokens: 4, stopTokens: [],
                                                useHidden: true).fit(HelpHeadFitter.Samples(width: 20)))
    }

    /// Positions count up within each prompt's rows; the position features are u = 1 − t/N and
    /// u times each of the last four columns; the at-stake target is disagreement × u, which a
    /// head with position features fits exactly when the disagreement is linear in a statistic.
    func testPositionFeaturesAndTheAtStakeTarget() throws {
        var s = HelpHeadFitter.Samples(width: 5)
        s.features = (0..<25).map(Double.init)
        s.gains = [0, 2, 0, 1, 3]; s.prompt = [0, 0, 0, 4, 4]; s.agreements = 2
        XCTAssertEqual(s.positions, [0, 1, 2, 0, 1])
        let p = s.withPositionFeatures(horizon: 4)
        XCTAssertEqual(p.width, 10)
        // Row 2 (t = 2, u = 0.5): raw 10…14, statistics 11…14.
        XCTAssertEqual(Array(p.features[20..<30]), [10, 11, 12, 13, 14, 0.5, 5.5, 6, 6.5, 7])
        XCTAssertEqual(Array(p.features[30..<40]), [15, 16, 17, 18, 19, 1, 16, 17, 18, 19])   // row 3: t = 0, u = 1
        XCTAssertEqual(Array(p.features[40..<50]), [20, 21, 22, 23, 24, 0.75, 15.75, 16.5, 17.25, 18])   // row 4: t = 1
        XCTAssertEqual(p.gains, s.gains); XCTAssertEqual(p.prompt, s.prompt); XCTAssertEqual(p.agreements, 2)

        // Disagreement = 1[statistic 1 > 0.5] on 40 prompts of 8 positions, N = 8: the at-stake
        // target is 1[…]·(1 − t/8), a product the position features hold (u·s_1 and u).
        let student = try model(seed: 3, scale: 1), teacher = try model(seed: 4, scale: 1)
        var fitter = HelpHeadFitter(student: student, teacher: teacher, vocabularySize: 50, maxTokens: 8, stopTokens: [], useHidden: false)
        fitter.target = .atStake
        fitter.horizon = 8
        var raw = HelpHeadFitter.Samples(width: 4)
        var rng = RandomGenerator(seed: 5)
        for r in 0..<320 {
            let f = [rng.uniformDouble(), (rng.uniformDouble() < 0.3 ? 1 : 0), rng.uniformDouble(), rng.uniformDouble()]
            raw.features += f
            raw.gains.append(f[1] > 0.5 ? 0.7 : 0)
            raw.prompt.append(r / 8)
        }
        let samples = raw.withPositionFeatures(horizon: 8)
        let head = try fitter.fit(samples)
        XCTAssertEqual(head.horizon, 8)
        XCTAssertEqual(head.featureCount, 9)
        let t = samples.positions
        samples.features.withUnsafeBufferPointer { f in
            for r in 0..<320 {
                let expected = raw.gains[r] > 0 ? 1 - Double(t[r]) / 8 : 0
                XCTAssertEqual(head.gain(rawFeatures: f.baseAddress! + r * 9, position: t[r]), expected, accuracy: 0.02, "row \(r)")
            }
        }
        XCTAssertEqual(head.fit["target_at_stake"], 1)
    }

    /// The product form on samples whose disagreement is drawn with probability σ(3·f₀ − 1): the
    /// logistic fit recovers that probability (a linear probability model misses it by up to 0.3)
    /// and the head's gain at position t is it times 1 − t/N.
    func testExpectedStakeFitsTheDisagreementProbabilityTimesTheRemainingShare() throws {
        let student = try model(seed: 3, scale: 1), teacher = try model(seed: 4, scale: 1)
        var fitter = HelpHeadFitter(student: student, teacher: teacher, vocabularySize: 50, maxTokens: 8, stopTokens: [], useHidden: false)
        fitter.target = .expectedStake
        var samples = HelpHeadFitter.Samples(width: 4)
        var rng = RandomGenerator(seed: 21)
        let truth = { (f: [Double]) in 1 / (1 + exp(-(3 * f[0] - 1))) }
        for r in 0..<8000 {
            let f = [rng.uniformDouble() * 2 - 1, rng.uniformDouble(), rng.uniformDouble(), rng.uniformDouble()]
            samples.features += f
            samples.gains.append(rng.uniformDouble() < truth(f) ? 0.5 : 0)
            samples.prompt.append(r / 8)
        }
        let head = try fitter.fit(samples)
        XCTAssertEqual(head.stakeHorizon, 8)
        XCTAssertNil(head.horizon)
        XCTAssertEqual(head.fit["target_expected_stake"], 1)
        XCTAssertGreaterThan(head.fit["validation_r2_rho_\(head.fit["rho"]!)"]!, 0.1, "log-loss well below the constant model's")
        let t = samples.positions
        samples.features.withUnsafeBufferPointer { f in
            for r in stride(from: 0, to: 8000, by: 97) {
                let x = Array(f[(r * 4)..<(r * 4 + 4)])
                XCTAssertEqual(head.gain(rawFeatures: f.baseAddress! + r * 4, position: t[r]), truth(x) * (1 - Double(t[r]) / 8),
                               accuracy: 0.04, "row \(r)")
            }
        }
    }

    /// A head that reads the hidden state as well: the penalty falls on the C hidden-state weights
    /// only, so at a very large ρ the fit is the statistics-only fit (hidden columns pure noise
    /// here). With one penalty for every column the statistics' weights and the intercept would be
    /// shrunk too (a model near the constant: the failure the light penalty exists for).
    func testHiddenStateWeightsAloneAreShrunk() throws {
        let student = try model(seed: 3, scale: 1), teacher = try model(seed: 4, scale: 1)
        let C = student.config.hiddenSize, F = C + 4
        var samples = HelpHeadFitter.Samples(width: F)
        var rng = RandomGenerator(seed: 41)
        for r in 0..<8000 {
            let hidden = (0..<C).map { _ in rng.uniformDouble() * 2 - 1 }
            let stats = [rng.uniformDouble() * 2 - 1, rng.uniformDouble(), rng.uniformDouble(), rng.uniformDouble()]
            samples.features += hidden + stats
            samples.gains.append(rng.uniformDouble() < 1 / (1 + exp(-(3 * stats[0] - 1))) ? 0.5 : 0)
            samples.prompt.append(r / 8)
        }
        var withHidden = HelpHeadFitter(student: student, teacher: teacher, vocabularySize: 50, maxTokens: 8, stopTokens: [], useHidden: true)
        withHidden.target = .expectedStake
        withHidden.ridgeGrid = [1e4]
        var statsOnly = withHidden
        statsOnly.useHidden = false
        statsOnly.ridgeGrid = [1e-3]
        let big = try withHidden.fit(samples), small = try statsOnly.fit(samples.logitStatisticsOnly(hiddenSize: C))
        XCTAssertEqual(big.hiddenSize, C)
        for i in 0..<C { XCTAssertEqual(big.weights[i], 0, accuracy: 0.01, "hidden w[\(i)]") }
        for i in 0..<4 { XCTAssertEqual(big.weights[C + i], small.weights[i], accuracy: 0.01, "statistic w[\(i)]") }
        XCTAssertEqual(big.bias, small.bias, accuracy: 0.01)
        XCTAssertGreaterThan(abs(small.weights[0]), 1, "the informative statistic carries weight")
    }

    func testMultiplierAsksAtTheFraction() {
        let scores = (0..<50).map { Double($0 % 10) / 7 }.shuffled()
        for (fraction, asks) in [(0.1, 5), (0.3, 15), (0.5, 25)] {
            let lambda = HelpHeadFitter.multiplier(scores: scores, fraction: fraction)
            XCTAssertEqual(scores.filter { $0 > lambda }.count, asks, "fraction \(fraction)")
        }
        XCTAssertEqual(HelpHeadFitter.multiplier(scores: scores, fraction: 0), .infinity)
    }

    func testSamplesRoundTripAndDamagedFilesAreNamed() throws {
        var s = HelpHeadFitter.Samples(width: 6)
        s.features = (0..<18).map { Double($0) * 0.5 - 3 }
        s.gains = [0, 1.25, 0]; s.prompt = [0, 0, 1]; s.agreements = 2; s.binding = String(repeating: "ab", count: 32)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hhs-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("samples.bin")
        try s.write(to: url)
        let back = try HelpHeadFitter.Samples.read(from: url, expectedBinding: s.binding)
        XCTAssertEqual(back.binding, s.binding)
        XCTAssertThrowsError(try HelpHeadFitter.Samples.read(from: url, expectedBinding: String(repeating: "cd", count: 32))) {
            XCTAssertTrue("\($0)".contains("other models, prompts or --max-tokens"), "\($0)")
        }
        XCTAssertEqual(back.features, s.features); XCTAssertEqual(back.gains, s.gains)
        XCTAssertEqual(back.prompt, s.prompt); XCTAssertEqual(back.agreements, 2); XCTAssertEqual(back.width, 6)
        let logits = back.logitStatisticsOnly(hiddenSize: 2)
        XCTAssertEqual(logits.width, 4)
        XCTAssertEqual(logits.features, [-2, -1.5, -1, -0.5, 1, 1.5, 2, 2.5, 4, 4.5, 5, 5.5])
        let data = try Data(contentsOf: url)
        // The binding changes with either model file, the prompts and -n, and only with them.
        let a = dir.appendingPathComponent("a.gguf"), b = dir.appendingPathComponent("b.gguf")
        try Data("student".utf8).write(to: a); try Data("teacher".utf8).write(to: b)
        let bind = { (s: URL, t: URL, p: [[Int]], n: Int) in try HelpHeadFitter.binding(student: s, teacher: t, prompts: p, maxTokens: n) }
        let base = try bind(a, b, [[1, 2], [3]], 8)
        XCTAssertEqual(base.count, 64); XCTAssertEqual(base, try bind(a, b, [[1, 2], [3]], 8))
        for other in [try bind(b, a, [[1, 2], [3]], 8), try bind(a, b, [[1], [2, 3]], 8), try bind(a, b, [[1, 2], [3]], 9)] {
            XCTAssertNotEqual(other, base)
        }
        try data.prefix(data.count - 8).write(to: url)
        XCTAssertThrowsError(try HelpHeadFitter.Samples.read(from: url)) { XCTAssertTrue("\($0)".contains("truncated"), "\($0)") }
        try Data("nope".utf8).write(to: url)
        XCTAssertThrowsError(try HelpHeadFitter.Samples.read(from: url)) { XCTAssertTrue("\($0)".contains(url.path), "\($0)") }
    }

    /// Gains 0, 3, 1, 0, 6: asking at the top 40% by score collects the gains there, the oracle 9 of 10.
    func testCapturedGainCountsTheAskedPositions() {
        let gains = [0.0, 3, 1, 0, 6]
        let c = HelpHeadFitter.capturedGain(scores: [0.9, 0.1, 0.8, 0.2, 0.3], gains: gains, fraction: 0.4)
        XCTAssertEqual(c.captured, 0.1, accuracy: 1e-12)   // positions 0 and 2: 0 + 1
        XCTAssertEqual(c.oracle, 0.9, accuracy: 1e-12)
        XCTAssertEqual(HelpHeadFitter.capturedGain(scores: gains, gains: gains, fraction: 0.4).captured, 0.9, accuracy: 1e-12)
    }
}

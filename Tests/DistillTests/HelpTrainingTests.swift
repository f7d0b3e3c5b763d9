import Distill
import Foundation
import Tensor
import TestSupport
import Tokenizers
import Transformer
import XCTest

/// The help action, budgets, rewards, packing, rollouts and the PCL trainer on tiny models.
final class HelpTrainingTests: XCTestCase {
    static let corpus = TinyPair.corpus

    func makePair(tied: Bool = false) throws -> (Tokenizer, TransformerModel, TransformerModel, PromptDataset) {
        let tok = try BPETrainer(vocabularySize: 280).train(Self.corpus)
        let config = ModelConfig(architecture: .llama, vocabSize: tok.vocabularySize, hiddenSize: 16, numLayers: 2, numHeads: 2,
                                 intermediateSize: 24, maxPositions: 64, tieWordEmbeddings: tied)
        let teacher = try TransformerModel(config: config)
        teacher.initialize(seed: 1)
        Elementwise.scale(teacher.weights.lmHead, by: 40, count: config.vocabSize * config.hiddenSize)
        let base = try TransformerModel(config: config)
        base.initialize(seed: 2)
        let student = try HelpAction.adding(to: base)
        return (tok, teacher, student, TinyPair.dataset(Self.corpus))
    }

    func tempDir() throws -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("pcl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        return u
    }

    /// The extra row leaves every other logit unchanged, gives `<help>` logit 0, and survives a
    /// save/load round trip through config.json's `help_token_id`.
    func testHelpRowPreservesLogitsAndRoundTrips() throws {
        for tied in [false, true] {
            let tok = try BPETrainer(vocabularySize: 280).train(Self.corpus)
            let config = ModelConfig(architecture: .llama, vocabSize: tok.vocabularySize, hiddenSize: 16, numLayers: 2, numHeads: 2,
                                     intermediateSize: 24, maxPositions: 64, tieWordEmbeddings: tied)
            let base = try TransformerModel(config: config)
            base.initialize(seed: 3)
            let student = try HelpAction.adding(to: base)
            let V = config.vocabSize
            XCTAssertEqual(student.config.vocabSize, V + 1)
            XCTAssertEqual(student.config.helpTokenID, V)
            let ids = [3, 17, 40, 2, 9]
            let a = try InferenceSession(model: base).append(ids).array
            let b = try InferenceSession(model: student).append(ids).array
            for r in 0..<ids.count {
                XCTAssertEqual(Array(a[(r * V)..<((r + 1) * V)]), Array(b[(r * (V + 1))..<(r * (V + 1) + V)]), "tied \(tied) row \(r)")
                XCTAssertEqual(b[r * (V + 1) + V], 0)
            }
            let dir = try tempDir()
            try student.save(directory: dir)
            let json = try String(contentsOf: dir.appendingPathComponent("config.json"), encoding: .utf8)
            XCTAssertTrue(json.contains("\"help_token_id\" : \(V)"), json)
            let loaded = try TransformerModel.load(directory: dir)
            XCTAssertEqual(loaded.config, student.config)
            XCTAssertThrowsError(try HelpAction.adding(to: student))
        }
    }

    /// Calibration sets the help row so the model's own forward gives the asked mean probability,
    /// leaving the other logits unchanged (tied and untied heads).
    func testCalibrationReachesTheProbability() throws {
        for tied in [false, true] {
            let (_, _, student, _) = try makePair(tied: tied)
            let V = student.config.vocabSize - 1
            let ids = [5, 9, 33, 2, 71, 100, 12, 250, 3]
            let before = try InferenceSession(model: student).append(ids).array
            for target in [0.02, 0.3] {
                let reached = try HelpAction.calibrate(student, tokens: ids, probability: target)
                assertClose(reached, target, rtol: 1e-6, atol: 1e-9)
                let measured = try XCTUnwrap(HelpAction.initialHelpProbability(student, tokens: ids))
                assertClose(measured, target, rtol: 1e-3, atol: 1e-6, "tied \(tied)")
                let after = try InferenceSession(model: student).append(ids).array
                for r in 0..<ids.count {
                    XCTAssertEqual(Array(before[(r * (V + 1))..<(r * (V + 1) + V)]), Array(after[(r * (V + 1))..<(r * (V + 1) + V)]))
                }
            }
        }
    }

    func testBudgetsAndDualAscent() throws {
        XCTAssertEqual(try HelpBudget.parse("0.2, 0,0.1,0.2"), [0, 0.1, 0.2])
        XCTAssertThrowsError(try HelpBudget.parse("0,1.5"))
        XCTAssertEqual(HelpBudget.prompt("Q", budget: 0.2), "teacher budget: 20%\nQ")
        var m = BudgetMultipliers(budgets: [0, 0.5], learningRate: 2)
        m.update(1, helpActions: 1, actions: 4)          // 0 + 2 (0.25 − 0.5) < 0 → clipped at 0
        XCTAssertEqual(m.lambdas, [0, 0])
        m.update(0, helpActions: 3, actions: 10)         // 0 + 2 · 0.3
        m.update(1, helpActions: 8, actions: 10)         // 0 + 2 · 0.3
        assertClose(m.lambdas, [0.6, 0.6], rtol: 1e-12, atol: 1e-12)
        m.update(0, helpActions: 0, actions: 10)         // 0.6 − 0 → stays (budget 0, fraction 0)
        assertClose(m.lambdas, [0.6, 0.6], rtol: 1e-12, atol: 1e-12)
    }

    /// Rewards are the teacher's log-softmax of the text token, minus the penalty on help rows.
    func testRewardsAreTeacherLogProbabilities() {
        var rng = RandomGenerator(seed: 811)
        let Vt = 17, rows = 5
        let u = (0..<(rows * Vt)).map { _ in rng.normal() * 2 }
        let text: [Int32] = [3, -1, 16, 0, 5], actions: [Int32] = [3, -1, 17, 0, 17]
        let penalty: [Float] = [0.5, 0.5, 0.5, 0.25, 0.25]
        var rewards = [Float](repeating: 9, count: rows)
        u.withUnsafeBufferPointer {
            PCLRewards.fill(&rewards, teacherLogits: $0.baseAddress!, Vt: Vt, textTargets: text, actions: actions, helpID: 17, penalty: penalty)
        }
        for r in 0..<rows {
            guard text[r] >= 0 else { XCTAssertEqual(rewards[r], 0); continue }
            let row = (0..<Vt).map { Double(u[r * Vt + $0]) }
            let lse = log(row.reduce(0) { $0 + exp($1) })
            let expected = row[Int(text[r])] - lse - (actions[r] == 17 ? Double(penalty[r]) : 0)
            assertClose(Double(rewards[r]), expected, rtol: 1e-5, atol: 1e-5, "row \(r)")
        }
    }

    func emptyBatch(B: Int, T: Int) -> PCLBatch {
        PCLBatch(B: B, T: T, kind: "test")
    }

    /// Packing: action rows, text targets that differ from help actions, EOS paths terminal,
    /// cut paths bootstrapping from a row inside the sequence, long prompts left-truncated.
    func testPackPath() {
        var batch = emptyBatch(B: 4, T: 8)
        let help = 99
        // Fits, ends with EOS (7): rows 2..<5, terminal.
        packPath(prompt: [1, 2, 3], path: HelpPath(text: [10, 11, 7], actions: [10, help, 7], endedByStop: true), row: 0, batch: &batch)
        XCTAssertEqual(Array(batch.tokens[0..<6]), [1, 2, 3, 10, 11, 7])
        XCTAssertEqual(Array(batch.actions[0..<8]), [-1, -1, 10, Int32(help), 7, -1, -1, -1])
        XCTAssertEqual(Array(batch.textTargets[0..<8]), [-1, -1, 10, 11, 7, -1, -1, -1])
        XCTAssertFalse(batch.bootstrap[0])
        // Cut at the length limit: bootstraps from row 5 (input 12).
        packPath(prompt: [1, 2, 3], path: HelpPath(text: [10, 11, 12], actions: [10, 11, 12], endedByStop: false), row: 1, batch: &batch)
        XCTAssertEqual(Array(batch.actions[8..<16]), [-1, -1, 10, 11, 12, -1, -1, -1])
        XCTAssertTrue(batch.bootstrap[1])
        XCTAssertEqual(batch.tokens[8 + 5], 12)
        // Long prompt: left-truncated so the path fits T + 1 tokens.
        let used = packPath(prompt: [1, 2, 3, 4, 5, 6, 7], path: HelpPath(text: [20, 21, 22], actions: [20, 21, 22], endedByStop: true), row: 2, batch: &batch)
        XCTAssertEqual(used, 3)
        XCTAssertEqual(Array(batch.tokens[16..<24]), [2, 3, 4, 5, 6, 7, 20, 21])
        XCTAssertEqual(Array(batch.actions[16..<24]), [-1, -1, -1, -1, -1, 20, 21, 22])
        XCTAssertFalse(batch.bootstrap[2])
        // A path longer than the window: cut with the last row kept for the bootstrap state.
        let long = Array(30..<45)
        let u2 = packPath(prompt: [1], path: HelpPath(text: long, actions: long, endedByStop: true), row: 3, batch: &batch)
        XCTAssertEqual(u2, 7)
        XCTAssertEqual(Array(batch.actions[24..<32]), [30, 31, 32, 33, 34, 35, 36, -1])
        XCTAssertTrue(batch.bootstrap[3])
        XCTAssertEqual(batch.tokens[24 + 7], 36)
    }

    /// Rollouts: wherever the student took `<help>`, the text holds the teacher's greedy token
    /// after that context (recomputed here with a fresh session); elsewhere the action itself.
    func testRolloutHelpTokensAreTeacherGreedy() throws {
        let (tok, teacher, student, _) = try makePair()
        // A large random help row, so that help is taken at some positions and not at others.
        let h = student.config.helpTokenID!, C = student.config.hiddenSize
        var rng = RandomGenerator(seed: 812)
        for c in 0..<C { student.weights.lmHead[h * C + c] = rng.normal() * 4 }
        let rollout = HelpRollout(student: student, teacher: teacher, settings: SamplingSettings(temperature: 1), maxNewTokens: 24,
                                  stopTokens: [], maxT: 64, teacherVocabulary: tok.vocabularySize)
        var helps = 0, total = 0
        for seed in 0..<4 {
            var r = RandomGenerator(seed: UInt64(900 + seed))
            let prompt = tok.encode("the cat", addSpecialTokens: true)
            let path = try rollout.sample(prompt: prompt, rng: &r)
            XCTAssertEqual(path.text.count, 24)
            for i in 0..<path.text.count {
                total += 1
                if path.actions[i] == h {
                    helps += 1
                    let logits = try InferenceSession(model: teacher).prefill(prompt + path.text[..<i])
                    XCTAssertEqual(path.text[i], Sampler.argmax(logits.pointer, count: tok.vocabularySize), "seed \(seed) position \(i)")
                } else {
                    XCTAssertEqual(path.text[i], path.actions[i])
                    XCTAssertLessThan(path.actions[i], tok.vocabularySize)
                }
            }
        }
        XCTAssertGreaterThan(helps, 0)
        XCTAssertLessThan(helps, total)
    }

    func makeTrainer(_ student: TransformerModel, _ teacher: TransformerModel, dir: URL?, tok: Tokenizer, data: PromptDataset,
                     steps: Int) throws -> (PCLTrainer, PCLSource) {
        var s = TrainingSettings()
        s.steps = steps; s.batchSize = 3; s.context = 24; s.gradAccum = 1; s.saveEvery = 2; s.seed = 11
        s.optimizer = AdamWSettings(learningRate: 3e-3)
        var run = PCLRunSettings()
        run.pcl = PCLSettings(steps: 4, entropyWeight: 1, discount: 1)
        run.lambdaOn = 0.6; run.offPolicy = [.dataset, .replay, .teacher]; run.replaySize = 5
        run.budgets = [0, 0.2, 0.5]; run.dualLearningRate = 0.5; run.maxNewTokens = 10
        let trainer = try PCLTrainer(model: student, teacher: teacher, settings: s, run: run, runDirectory: dir)
        let rollout = HelpRollout(student: student, teacher: teacher, settings: SamplingSettings(temperature: 1), maxNewTokens: 10,
                                  stopTokens: [], maxT: 40, teacherVocabulary: tok.vocabularySize)
        let teacherSampler = ResponseSampler(model: teacher, settings: SamplingSettings(temperature: 1), maxNewTokens: 10, stopTokens: [], maxT: 40)
        let source = try PCLSource(dataset: data, tokenizer: tok, rollout: rollout, teacherSampler: teacherSampler, lambdaOn: 0.6,
                                   offPolicy: run.offPolicy, replaySize: 5, budgets: run.budgets, stopTokens: [])
        return (trainer, source)
    }

    /// An interrupted run resumed from its checkpoint ends bitwise where an uninterrupted one
    /// does: weights, multipliers and replay buffer (they are in the checkpoint).
    func testResumeIsExact() throws {
        let (tok, teacher, _, data) = try makePair()
        func fresh() throws -> TransformerModel { try makePair().2 }
        // Make help likely so that the multipliers move.
        func boost(_ m: TransformerModel) {
            let h = m.config.helpTokenID!, C = m.config.hiddenSize
            var rng = RandomGenerator(seed: 5)
            for c in 0..<C { m.weights.lmHead[h * C + c] = rng.normal() * 3 }
        }
        let full = try fresh(); boost(full)
        let dirA = try tempDir()
        let (a, sa) = try makeTrainer(full, teacher, dir: dirA, tok: tok, data: data, steps: 6)
        var metrics: [StepMetrics] = []
        a.onEvent = { if case .step(let m) = $0 { metrics.append(m) } }
        try a.train(source: sa)
        XCTAssertTrue(metrics.contains { $0.source == "student" })
        XCTAssertTrue(metrics.contains { $0.source != "student" })
        XCTAssertTrue(a.multipliers.lambdas.contains { $0 > 0 }, "dual ascent moved a multiplier: \(a.multipliers.lambdas)")
        XCTAssertTrue(metrics.allSatisfy { $0.loss.isFinite && $0.loss > 0 })

        let dirB = try tempDir()
        let first = try fresh(); boost(first)
        let (b1, sb1) = try makeTrainer(first, teacher, dir: dirB, tok: tok, data: data, steps: 6)
        for _ in 0..<4 { _ = try b1.trainStep(source: sb1) }
        try b1.saveCheckpoint(source: sb1)   // interrupted after step 4
        let second = try fresh()   // weights come from the checkpoint
        let (b2, sb2) = try makeTrainer(second, teacher, dir: dirB, tok: tok, data: data, steps: 6)
        XCTAssertTrue(try b2.resume(source: sb2))
        XCTAssertEqual(b2.step, 4)
        try b2.train(source: sb2)
        XCTAssertEqual(second.parameters.flat.array.map(\.bitPattern), full.parameters.flat.array.map(\.bitPattern))
        XCTAssertEqual(b2.multipliers, a.multipliers)
        XCTAssertEqual(sb2.replay, sa.replay)
    }
}

import Distill
import Evaluation
import Foundation
import Plots
import SpecDecode
import Tokenizers
import Transformer
import XCTest

/// End-to-end runs of the evaluation on a tiny random Llama-style target (V 300 from a BPE
/// tokenizer trained here) with drafts made of its layers. The oracles are properties that hold
/// whatever the weights: a draft identical to the target is always accepted; at temperature 0
/// speculative output equals plain output; plain output equals an independent PlainDecoder run.
final class RunnerTests: XCTestCase {
    static let texts = (0..<40).map { "What is \($0) plus \($0 % 7)? \($0) + \($0 % 7) = \($0 + $0 % 7). The final answer is: \($0 + $0 % 7)" }
    static let tokenizer: Tokenizer = try! BPETrainer(vocabularySize: 300).train(texts)
    static let target: TransformerModel = {
        let m = try! TransformerModel(config: ModelConfig(architecture: .llama, vocabSize: 300, hiddenSize: 32, numLayers: 3,
                                                          numHeads: 2, intermediateSize: 48, maxPositions: 96))
        m.initialize(seed: 5)
        // Larger weights than the training initialisation give peaked, varied next-token choices.
        for p in m.parameters.infos where p.shape.count == 2 {
            let t = m.parameters[p.name]
            for i in 0..<t.count { t.pointer[i] *= 12 }
        }
        return m
    }()

    var task: TaskData {
        let examples = (0..<5).map { i in
            EvaluationExample(task: .gsm8k, prompt: "What is \(i) plus \(i + 1)?\n", response: "The final answer is: \(2 * i + 1)")
        }
        return TaskData(name: "gsm8k", task: .gsm8k, examples: examples, source: "memory")
    }

    func settings(maxTokens: Int = 12) -> EvaluationSettings {
        var s = EvaluationSettings()
        s.maxTokens = maxTokens
        s.draft = DraftSettings(draftMax: 3)
        s.teacherForcedContext = 64
        s.teacherForcedBatch = 2  // 5 examples: the last batch is partly padding
        return s
    }

    func drafts() throws -> [NamedDraft] {
        let t = Self.target
        return [NamedDraft(name: "copy", model: try t.truncatedCopy(layers: [0, 1, 2]), tokenizer: nil, source: "all layers"),
                NamedDraft(name: "one-layer", model: try t.truncatedCopy(layers: [0]), tokenizer: Self.tokenizer, source: "layer 0")]
    }

    func testGreedyEvaluation() throws {
        let runner = try EvaluationRunner(target: Self.target, tokenizer: Self.tokenizer, targetName: "tiny", drafts: drafts(),
                                          settings: settings(), stopTokens: [])
        var mismatches: [String] = [], stages: [String] = []
        runner.onEvent = { e in
            if case .mismatch(let m) = e { mismatches.append(m) }
            if case .stage(let name, _) = e { stages.append(name) }
        }
        let r = try runner.run(tasks: [task])
        XCTAssertEqual(stages, ["gsm8k: teacher-forced acceptance", "gsm8k: decoding"])
        XCTAssertEqual(mismatches, [])
        let t = try XCTUnwrap(r.tasks.first)
        XCTAssertEqual(t.examples, 5)

        // Plain outputs = an independent plain decode of the same prompts.
        let session = SessionModel(model: Self.target)
        let plain = PlainDecoder(model: session, sampling: .greedy, seed: 1, vocabularySize: 300)
        for (i, e) in task.examples.enumerated() {
            let out = try plain.decode(prompt: Self.tokenizer.encode(e.prompt), maxTokens: 12)
            XCTAssertEqual(t.plain.outputs[i], Self.tokenizer.decode(out.tokens, skipSpecialTokens: true), "prompt \(i)")
            let correct: Double = ArithmeticAnswer.isCorrect(output: t.plain.outputs[i], answer: "\(2 * i + 1)") ? 1 : 0
            XCTAssertEqual(t.plain.scores[i], correct)
        }
        XCTAssertEqual(t.plain.statistics.prompts, 5)
        XCTAssertEqual(t.plain.statistics.emitted, 60)
        XCTAssertEqual(t.plain.reachedMaxTokens, 5, "no stop tokens: every output runs to --max-tokens")
        XCTAssertTrue(ResultsTables.text(r).contains("5 of 5 plain outputs stopped at --max-tokens 12 before ending"))
        XCTAssertTrue(ResultsTables.markdown(r).contains("(the exact_match column scores them as cut)"))
        var ended = r
        ended.tasks[0].plain.reachedMaxTokens = 0
        XCTAssertFalse(ResultsTables.text(ended).contains("stopped at"), "no note when every output ended")

        // The draft that is the target: every draft accepted, teacher-forced acceptance 1.
        let copy = try XCTUnwrap(t.draft("copy"))
        XCTAssertEqual(copy.statistics.rejections, 0)
        XCTAssertEqual(copy.derived.alphaPerJudged, 1)
        XCTAssertEqual(copy.teacherForced?.greedy, 1)
        XCTAssertEqual(try XCTUnwrap(copy.teacherForced?.sampling), 1, accuracy: 1e-5)  // Σ min(p, p) = Σ p = 1 in float
        XCTAssertEqual(try XCTUnwrap(copy.teacherForced?.forwardKL), 0, accuracy: 1e-5)
        // 5 prompts × (prompt "The final answer is: N" + EOS) response tokens counted.
        let responseTokens = task.examples.map { PromptDataset.responseIDs($0.response!, tokenizer: Self.tokenizer).count }.reduce(0, +)
        XCTAssertEqual(copy.teacherForced?.tokens, responseTokens)
        // 12 tokens with gamma 3 and no rejection: rounds emit 4, 4, 4 → 3 target calls per prompt.
        XCTAssertEqual(copy.statistics.targetCalls, 15)
        XCTAssertEqual(copy.derived.tokensPerTargetCall, 4)

        for d in t.drafts {
            XCTAssertEqual(d.outputsIdenticalToPlain, true, d.name)
            XCTAssertEqual(d.outputs, t.plain.outputs, d.name)
            XCTAssertEqual(d.scores, t.plain.scores)
            XCTAssertEqual(d.statistics.prompts, 5)
            XCTAssertEqual(d.statistics.baseline?.prompts, 5, "each prompt's plain run is the baseline")
            XCTAssertNotNil(d.derived.measuredSpeedup)
            let tf = try XCTUnwrap(d.teacherForced)
            XCTAssertTrue((0...1).contains(tf.greedy) && tf.sampling >= 0 && tf.sampling <= 1 + 1e-6)
        }
        let one = try XCTUnwrap(t.draft("one-layer"))
        XCTAssertEqual(one.statistics.accepted + one.statistics.rejections + one.statistics.bonusTokens, 60,
                       "every emitted token is an accepted draft, a replacement or a bonus (no stop tokens)")

        // JSON round trip, tables and charts of these results.
        let decoded = try JSONDecoder().decode(EvaluationResults.self, from: r.json())
        XCTAssertEqual(decoded, r)
        let summary = ResultsTables.summary(r)
        XCTAssertEqual(summary.header, ["method", "gsm8k"])
        XCTAssertEqual(summary.rows.map(\.first), ["copy", "one-layer"])
        XCTAssertTrue(summary.rows[0][1].hasPrefix("1.000 / "), summary.rows[0][1])
        let bars = try parseSVG(EvaluationCharts.acceptanceByTask(r).svg())
        XCTAssertEqual(bars.elements("rect", class: "bar").count, 2)
        let lines = try parseSVG(EvaluationCharts.acceptanceByPosition(r).svg())
        XCTAssertEqual(lines.elements("polyline", class: "series-line").count, 2)
    }

    /// A draft with a trimmed head is judged teacher-forced as it decodes: its logits outside the
    /// subset (here poisoned to win every argmax) must not count. Without the subset applied,
    /// teacher-forced greedy acceptance would be 0.
    func testTeacherForcedAcceptanceUsesTheDraftsSubset() throws {
        let t = Self.target, V = t.config.vocabSize, C = t.config.hiddenSize
        let poisoned = try t.truncatedCopy(layers: [0, 1, 2])
        let head = poisoned.weights.lmHead, poison = Array((V - 8)..<V)
        for id in poison { for j in 0..<C { head[id * C + j] = 1e3 } }
        var d = NamedDraft(name: "trimmed", model: poisoned, tokenizer: nil, source: "copy, poisoned outside the subset")
        d.outputSubset = try OutputSubset(ids: Array(0..<(V - 8)), vocabularySize: V)
        let runner = try EvaluationRunner(target: t, tokenizer: Self.tokenizer, targetName: "tiny", drafts: [d],
                                          settings: settings(maxTokens: 4), stopTokens: [])
        let r = try runner.run(tasks: [task])
        let tf = try XCTUnwrap(r.tasks.first?.draft("trimmed")?.teacherForced)
        XCTAssertGreaterThan(tf.greedy, 0.5, "the poisoned rows outside the subset were counted")
    }

    func testSamplingRunsWithoutIdentityCheck() throws {
        var s = settings(maxTokens: 6)
        s.sampling = SamplingSettings(temperature: 0.8)
        let runner = try EvaluationRunner(target: Self.target, tokenizer: Self.tokenizer, targetName: "tiny", drafts: drafts(),
                                          settings: s, stopTokens: [])
        let r = try runner.run(tasks: [task])
        for d in r.tasks[0].drafts {
            XCTAssertNil(d.outputsIdenticalToPlain); XCTAssertEqual(d.mismatches, [])
            XCTAssertEqual(d.teacherForced?.temperature, 0.8)
        }
        XCTAssertEqual(r.tasks[0].draft("copy")?.teacherForced?.greedy, 1)
    }

    func testBadInputIsRefused() throws {
        // A draft with another vocabulary.
        let other = try BPETrainer(vocabularySize: 290).train(Self.texts)
        let small = try TransformerModel(config: ModelConfig(architecture: .llama, vocabSize: 290, hiddenSize: 16, numLayers: 1,
                                                             numHeads: 2, intermediateSize: 16, maxPositions: 96))
        XCTAssertThrowsError(try EvaluationRunner(target: Self.target, tokenizer: Self.tokenizer, targetName: "tiny",
                                                  drafts: [NamedDraft(name: "alien", model: small, tokenizer: other, source: "x")],
                                                  settings: settings(), stopTokens: [])) {
            XCTAssertTrue("\($0)".contains("draft \"alien\" (x) does not fit the target tiny"), "\($0)")
            XCTAssertTrue("\($0)".contains("300 tokens and the draft's 290"), "\($0)")
        }
        let d = try drafts()
        XCTAssertThrowsError(try EvaluationRunner(target: Self.target, tokenizer: Self.tokenizer, targetName: "tiny",
                                                  drafts: [d[0], d[0]], settings: settings(), stopTokens: [])) {
            XCTAssertTrue("\($0)".contains("two drafts are named \"copy\""), "\($0)")
        }
        var bad = settings()
        bad.draft.draftMax = 0
        XCTAssertThrowsError(try EvaluationRunner(target: Self.target, tokenizer: Self.tokenizer, targetName: "tiny", drafts: d,
                                                  settings: bad, stopTokens: [])) {
            XCTAssertTrue("\($0)".contains("draft-max must be ≥ 1"), "\($0)")
        }
        // A prompt longer than the context.
        let runner = try EvaluationRunner(target: Self.target, tokenizer: Self.tokenizer, targetName: "tiny", drafts: d,
                                          settings: settings(), stopTokens: [])
        let long = TaskData(name: "xsum", task: .xsum, examples: [EvaluationExample(task: .xsum, prompt: String(repeating: "What is 7? ", count: 80))],
                            source: "long.jsonl")
        XCTAssertThrowsError(try runner.run(tasks: [long])) {
            XCTAssertTrue("\($0)".contains("long.jsonl: example 1 has a prompt of"), "\($0)")
        }
        XCTAssertThrowsError(try runner.run(tasks: [task, task])) { XCTAssertTrue("\($0)".contains("given twice"), "\($0)") }
    }

    func testDraftLayerSpecifications() throws {
        let t = Self.target  // 3 layers
        XCTAssertEqual(try DraftLayers.parse("2", of: t), [0, 2])
        XCTAssertEqual(try DraftLayers.parse("even:3", of: t), [0, 1, 2])
        XCTAssertEqual(try DraftLayers.parse("0-1,2", of: t), [0, 1, 2])
        XCTAssertEqual(try DraftLayers.parse("1,", of: t), [1])
        for bad in ["0", "4", "0-3", "x", "2-1"] { XCTAssertThrowsError(try DraftLayers.parse(bad, of: t), bad) }
    }
}

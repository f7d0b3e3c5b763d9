import Distill
import Foundation
import Tensor
import Tokenizers
import Transformer
import XCTest

final class DistillationDataTests: XCTestCase {
    func testPackMasksPromptAndPadding() {
        var tokens = [Int32](repeating: 0, count: 2 * 6), targets = [Int32](repeating: 0, count: 2 * 6)
        // Row 0: prompt [1, 2, 3], response [4, 5] → positions 2, 3 predict 4, 5; the rest ignored.
        packExample(prompt: [1, 2, 3], response: [4, 5], T: 6, pad: 9, tokens: &tokens, targets: &targets, row: 0)
        XCTAssertEqual(Array(tokens[0..<6]), [1, 2, 3, 4, 5, 9])
        XCTAssertEqual(Array(targets[0..<6]), [-1, -1, 4, 5, -1, -1])
        // Row 1: too long (prompt 5 + response 4 = 9 > T + 1 = 7): the prompt is cut from the left.
        packExample(prompt: [1, 2, 3, 4, 5], response: [6, 7, 8, 9], T: 6, pad: 0, tokens: &tokens, targets: &targets, row: 1)
        XCTAssertEqual(Array(tokens[6..<12]), [3, 4, 5, 6, 7, 8])
        XCTAssertEqual(Array(targets[6..<12]), [-1, -1, 6, 7, 8, 9])
    }

    func testGSM8KFormatting() {
        let a = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips.\n#### 72"
        XCTAssertEqual(GSM8K.convert(answer: a), "Natalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = 72 clips.\nThe final answer is: 72")
        XCTAssertEqual(PromptTemplate.gsm8k.render("Q?"), "Q?\nAnswer the above question. First think step by step and then answer the final number.\n")
        XCTAssertEqual(PromptTemplate.chatml.render("hi"), "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")
        // Scripts/get-data's GSM8K prompts already end with the instruction: never doubled.
        let baked = "Q?\nAnswer the above question. First think step by step and then answer the final number.\n"
        XCTAssertEqual(PromptTemplate.gsm8k.render(baked), baked)
        XCTAssertEqual(PromptTemplate.gsm8kChat.render(baked), PromptTemplate.gsm8kChat.render("Q?"))
    }

    func testDatasetErrorsNameTheLine() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ds-\(UUID()).jsonl")
        try Data("{\"prompt\": \"a\", \"response\": \"b\"}\n{\"prompt\": \"c\"}\n".utf8).write(to: url)
        XCTAssertThrowsError(try PromptDataset.load(url, template: .plain, requireResponses: true)) {
            XCTAssertTrue("\($0)".contains(":2:") && "\($0)".contains("response"), "\($0)")
        }
        XCTAssertEqual(try PromptDataset.load(url, template: .plain, requireResponses: false).examples.count, 2)
        try Data("{\"question\": 1}\n".utf8).write(to: url)
        XCTAssertThrowsError(try PromptDataset.load(url, template: .plain, requireResponses: false)) {
            XCTAssertTrue("\($0)".contains(":1:") && "\($0)".contains("prompt"), "\($0)")
        }
    }

    // MARK: - A tiny teacher/student pair with a real tokenizer

    func makePair() throws -> (Tokenizer, TransformerModel, TransformerModel, PromptDataset) {
        try TinyPair.make(peakedTeacher: true)
    }

    func testSourcesAreDeterministicAndMixAsAsked() throws {
        let (tok, teacher, student, data) = try makePair()
        let sampler = ResponseSampler(model: student, settings: SamplingSettings(temperature: 1), maxNewTokens: 6, stopTokens: [], maxT: 32)
        let teacherSampler = ResponseSampler(model: teacher, settings: SamplingSettings(temperature: 1), maxNewTokens: 6, stopTokens: [], maxT: 32)
        for kind in DataSourceKind.allCases {
            let a = try DistillationSource(dataset: data, tokenizer: tok, kind: kind, lambda: 0.5, teacher: teacherSampler, student: sampler)
            let b = try DistillationSource(dataset: data, tokenizer: tok, kind: kind, lambda: 0.5, teacher: teacherSampler, student: sampler)
            var r1 = RandomGenerator(seed: 4), r2 = RandomGenerator(seed: 4)
            for _ in 0..<3 {
                let x = try a.nextBatch(B: 3, T: 16, rng: &r1), y = try b.nextBatch(B: 3, T: 16, rng: &r2)
                XCTAssertEqual(x.tokens, y.tokens, "\(kind)")
                XCTAssertEqual(x.targets, y.targets, "\(kind)")
                XCTAssertTrue(x.targets.contains { $0 >= 0 }, "\(kind): no supervised token")
            }
        }
        // lambda = 0 never uses the student, lambda = 1 always does.
        for (lambda, expected) in [(0.0, "fixed"), (1.0, "student")] {
            let m = try DistillationSource(dataset: data, tokenizer: tok, kind: .mixed, lambda: lambda, teacher: nil, student: sampler)
            var r = RandomGenerator(seed: 5)
            for _ in 0..<10 { _ = try m.nextBatch(B: 1, T: 16, rng: &r) }
            XCTAssertEqual(m.counts, [expected: 10])
        }
        // On-policy rows hold the student's own greedy continuation after the prompt.
        let greedy = ResponseSampler(model: student, settings: .greedy, maxNewTokens: 4, stopTokens: [], maxT: 32)
        let s = try DistillationSource(dataset: data, tokenizer: tok, kind: .student, lambda: 1, teacher: nil, student: greedy)
        var r = RandomGenerator(seed: 6)
        let batch = try s.nextBatch(B: 1, T: 16, rng: &r)
        let firstSupervised = batch.targets.firstIndex { $0 >= 0 }!
        let prefix = batch.tokens[0...firstSupervised].map(Int.init)
        var gen = RandomGenerator(seed: 0)
        let expected = try ResponseSampler(model: student, settings: .greedy, maxNewTokens: 4, stopTokens: [], maxT: 32)
            .sample(prompt: prefix, rng: &gen)
        XCTAssertEqual(batch.targets[firstSupervised..<(firstSupervised + 4)].map(Int.init), expected)
    }

    /// Forward-KL distillation on fixed data raises teacher-forced acceptance far above chance.
    func testDistillationRaisesAcceptance() throws {
        let (tok, teacher, student, data) = try makePair()
        let evaluator = try DistillationEvaluator(target: teacher, dataset: data, tokenizer: tok, examples: 5, B: 5, T: 16)
        let before = evaluator.evaluate(student)
        var settings = TrainingSettings()
        settings.steps = 60; settings.batchSize = 5; settings.context = 16
        settings.optimizer = AdamWSettings(learningRate: 1e-2, weightDecay: 0); settings.schedule = .constant
        let trainer = try Trainer(model: student, teacher: teacher, objective: DistillationObjective(divergence: .forwardKL),
                                  settings: settings, runDirectory: nil)
        var source = try DistillationSource(dataset: data, tokenizer: tok, kind: .fixed, lambda: 0, teacher: nil, student: nil)
        try trainer.run(source: &source)
        let after = evaluator.evaluate(student)
        XCTAssertLessThan(after["fkl"]!, before["fkl"]! * 0.5, "forward KL should fall: \(before) → \(after)")
        XCTAssertGreaterThan(after["acceptance_greedy"]!, before["acceptance_greedy"]! + 0.3, "\(before) → \(after)")
        XCTAssertGreaterThan(after["acceptance_sampling"]!, before["acceptance_sampling"]! + 0.2, "\(before) → \(after)")
    }

    /// A teacher whose logit width is padded past the tokenizer distils into an unpadded student
    /// exactly as if the padding were absent: the padding columns are dropped (LogitWidth).
    func testPaddedTeacherWidthIsMasked() throws {
        let (tok, teacher, student, data) = try makePair()
        var c = teacher.config
        c.vocabSize += 8
        let padded = try TransformerModel(config: c)
        for info in padded.parameters.infos {
            let dst = padded.parameters[info.name], src = teacher.parameters[info.name]
            if info.shape == src.shape { try dst.assign(src) } else {
                // (V + 8, C): the real rows, then padding rows with large weights that would
                // dominate the teacher's distribution if they were not masked.
                dst.fill(0.5)
                dst.pointer.update(from: src.pointer, count: src.count)
            }
        }
        func train(_ t: TransformerModel, _ s: TransformerModel) throws -> [Float] {
            var settings = TrainingSettings()
            settings.steps = 5; settings.batchSize = 5; settings.context = 16
            let trainer = try Trainer(model: s, teacher: t, objective: DistillationObjective(divergence: .forwardKL),
                                      settings: settings, runDirectory: nil)
            var source = try DistillationSource(dataset: data, tokenizer: tok, kind: .fixed, lambda: 0, teacher: nil, student: nil)
            try trainer.run(source: &source)
            return s.parameters.flat.array
        }
        let s1 = try student.truncatedCopy(layers: [0, 1]), s2 = try student.truncatedCopy(layers: [0, 1])
        let plain = try train(teacher, s1), masked = try train(padded, s2)
        let c2 = zip(plain, masked).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(c2, 1e-5, "training against the padded teacher differs by \(c2)")
    }
}

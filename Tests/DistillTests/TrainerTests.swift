import Distill
import Foundation
import Tensor
import Transformer
import XCTest

final class TrainerTests: XCTestCase {
    func tinyConfig() -> ModelConfig {
        ModelConfig(architecture: .llama, vocabSize: 50, hiddenSize: 16, numLayers: 2, numHeads: 2, intermediateSize: 24, maxPositions: 16)
    }

    func corpus() -> [Int32] {
        var rng = RandomGenerator(seed: 77)
        // A learnable stream: mostly t+1 mod 50, sometimes random.
        var out: [Int32] = [0]
        for _ in 0..<4000 { out.append(rng.uniform() < 0.8 ? (out.last! + 1) % 50 : Int32(rng.next() % 50)) }
        return out
    }

    func settings(steps: Int) -> TrainingSettings {
        var s = TrainingSettings()
        s.steps = steps; s.batchSize = 4; s.context = 12; s.gradAccum = 2
        s.optimizer = AdamWSettings(learningRate: 3e-3)
        s.warmup = 2; s.saveEvery = 3; s.seed = 5
        return s
    }

    func tempDir() throws -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("trainer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        return u
    }

    /// Cross-entropy training lowers the loss on a learnable stream.
    func testTrainingLowersLoss() throws {
        let model = try TransformerModel(config: tinyConfig())
        model.initialize(seed: 1)
        let trainer = try Trainer(model: model, objective: CrossEntropyObjective(), settings: settings(steps: 60), runDirectory: nil)
        var source = TokenStreamSource(tokens: corpus())
        var losses: [Double] = []
        trainer.onEvent = { if case .step(let m) = $0 { losses.append(m.loss) } }
        try trainer.run(source: &source)
        XCTAssertEqual(losses.count, 60)
        XCTAssertLessThan(losses.suffix(5).reduce(0, +) / 5, losses.prefix(5).reduce(0, +) / 5 - 0.5)
    }

    /// An interrupted run resumed from its checkpoint ends bit-identical to an uninterrupted run:
    /// same data order (RNG restored), same optimizer moments and step count.
    func testResumeContinuesExactly() throws {
        let full = try tempDir(), split = try tempDir()
        let m1 = try TransformerModel(config: tinyConfig()); m1.initialize(seed: 1)
        let t1 = try Trainer(model: m1, objective: CrossEntropyObjective(), settings: settings(steps: 7), runDirectory: full)
        var s1 = TokenStreamSource(tokens: corpus())
        try t1.run(source: &s1)

        // "Interrupted" run: 4 steps (checkpoint at 3), then one more step that is lost.
        let m2 = try TransformerModel(config: tinyConfig()); m2.initialize(seed: 1)
        let t2 = try Trainer(model: m2, objective: CrossEntropyObjective(), settings: settings(steps: 7), runDirectory: split)
        var s2 = TokenStreamSource(tokens: corpus())
        t2.onEvent = { _ in }
        for _ in 0..<3 { _ = try t2.trainStep(source: &s2) }
        try t2.saveCheckpoint()
        _ = try t2.trainStep(source: &s2)
        // Metrics of a step after the checkpoint that resume must drop.
        try Data("{\"step\":4,\"loss\":1}\n".utf8).write(to: split.appendingPathComponent("metrics.jsonl"))

        let m3 = try TransformerModel(config: tinyConfig()); m3.initialize(seed: 99)  // overwritten by resume
        let t3 = try Trainer(model: m3, objective: CrossEntropyObjective(), settings: settings(steps: 7), runDirectory: split)
        XCTAssertTrue(try t3.resume())
        XCTAssertEqual(t3.step, 3)
        var s3 = TokenStreamSource(tokens: corpus())
        try t3.run(source: &s3)
        XCTAssertEqual(m3.parameters.flat.array, m1.parameters.flat.array, "resumed run differs from the uninterrupted one")
        XCTAssertEqual(t3.optimizer.m.flat.array, t1.optimizer.m.flat.array)
        let lines = try String(contentsOf: split.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 4, "steps 4…7 after resume; the stale step-4 line is dropped")
        XCTAssertFalse(FileManager.default.fileExists(atPath: split.appendingPathComponent("checkpoint.tmp").path))
        // The checkpoint is a loadable model directory.
        let reloaded = try TransformerModel.load(directory: split.appendingPathComponent("checkpoint"))
        XCTAssertEqual(reloaded.parameters.flat.array, m3.parameters.flat.array)
    }

    func testResumeRefusesDifferentSettings() throws {
        let dir = try tempDir()
        let m = try TransformerModel(config: tinyConfig()); m.initialize(seed: 1)
        let t = try Trainer(model: m, objective: CrossEntropyObjective(), settings: settings(steps: 3), runDirectory: dir)
        var s = TokenStreamSource(tokens: corpus())
        try t.run(source: &s)
        var other = settings(steps: 3)
        other.optimizer.learningRate = 1
        let t2 = try Trainer(model: m, objective: CrossEntropyObjective(), settings: other, runDirectory: dir)
        XCTAssertThrowsError(try t2.resume()) { XCTAssertTrue("\($0)".contains("different settings"), "\($0)") }
    }

    func testBadCorpusLinesNameTheLine() throws {
        let dir = try tempDir()
        let url = dir.appendingPathComponent("data.jsonl")
        try Data("{\"text\": \"ok\"}\nnot json\n".utf8).write(to: url)
        XCTAssertThrowsError(try TextCorpus.documents(url)) { XCTAssertTrue("\($0)".contains("data.jsonl:2"), "\($0)") }
        try Data("{\"title\": \"x\"}\n".utf8).write(to: url)
        XCTAssertThrowsError(try TextCorpus.documents(url)) { XCTAssertTrue("\($0)".contains("\"text\""), "\($0)") }
        XCTAssertThrowsError(try TextCorpus.documents(dir.appendingPathComponent("missing.txt"))) {
            XCTAssertTrue("\($0)".contains("missing.txt"), "\($0)")
        }
    }
}

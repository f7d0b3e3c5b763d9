import Distill
import Foundation
import Transformer
import XCTest

/// The run logs (`metrics.jsonl`, `evaluations.jsonl`) of a run killed at any moment and resumed
/// hold each step once, as an uninterrupted run's do (`Scripts/kill-resume` does this with real
/// SIGKILLs through the CLI).
extension TrainerTests {
    /// Steps of the JSON lines of `file` in `dir`.
    func loggedSteps(_ dir: URL, _ file: String) throws -> [Int] {
        let text = (try? String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)) ?? ""
        return try text.split(separator: "\n").map {
            try XCTUnwrap((try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["step"] as? Int)
        }
    }

    /// Runs `trainer` to the end with an evaluation (the trainer logs it in its run directory).
    func runLogging(_ trainer: Trainer, dir: URL) throws {
        var source = TokenStreamSource(tokens: corpus())
        try trainer.run(source: &source) { _ in ["acceptance": 0.5] }
    }

    /// A run killed before its first checkpoint left steps 1–2 and the step-0 evaluation; the
    /// same command with --resume finds no checkpoint and starts over — its logs must too (they
    /// used to keep the stale lines: steps 1, 2, 1, 2, … and two step-0 evaluations).
    func testRunKilledBeforeItsFirstCheckpointStartsItsLogsOver() throws {
        let dir = try tempDir()
        try Data("{\"step\":1,\"loss\":9}\n{\"step\":2,\"loss\":9}\n{\"step\":3,\"lo".utf8).write(to: dir.appendingPathComponent(RunLog.metricsFile))
        try RunLog.appendEvaluation(in: dir, step: 0, metrics: ["acceptance": 0.5])
        let m = try TransformerModel(config: tinyConfig()); m.initialize(seed: 1)
        let t = try Trainer(model: m, objective: CrossEntropyObjective(), settings: settings(steps: 7), runDirectory: dir)
        XCTAssertFalse(try t.resume(), "no checkpoint to resume from")
        try runLogging(t, dir: dir)
        XCTAssertEqual(try loggedSteps(dir, RunLog.metricsFile), Array(1...7))
        XCTAssertEqual(try loggedSteps(dir, RunLog.evaluationsFile), [0, 7])
    }

    /// Evaluations are logged before the checkpoint of their step, and a resume drops the ones
    /// after its checkpoint: killed between an evaluation and its checkpoint, the run redoes both.
    func testEvaluationsPrecedeTheirCheckpointAndResumeTrimsThem() throws {
        let full = try tempDir(), split = try tempDir()
        var s = settings(steps: 7)
        s.evalEvery = 3
        var order: [String] = []
        let m1 = try TransformerModel(config: tinyConfig()); m1.initialize(seed: 1)
        let t1 = try Trainer(model: m1, objective: CrossEntropyObjective(), settings: s, runDirectory: full)
        var source = TokenStreamSource(tokens: corpus())
        t1.onEvent = {
            switch $0 {
            case .evaluation(let step, _): order.append("eval \(step)")
            case .checkpoint(let step, _): order.append("checkpoint \(step)")
            default: break
            }
        }
        try t1.run(source: &source) { _ in ["acceptance": 0.5] }
        XCTAssertEqual(order, ["eval 0", "eval 3", "checkpoint 3", "eval 6", "checkpoint 6", "eval 7", "checkpoint 7"])

        // Killed after the checkpoint of step 3, having logged steps 4–5 and an evaluation at 5.
        let m2 = try TransformerModel(config: tinyConfig()); m2.initialize(seed: 1)
        let t2 = try Trainer(model: m2, objective: CrossEntropyObjective(), settings: s, runDirectory: split)
        var s2 = TokenStreamSource(tokens: corpus())
        try RunLog.appendEvaluation(in: split, step: 0, metrics: ["acceptance": 0.5])
        for _ in 0..<3 { _ = try t2.trainStep(source: &s2) }
        try RunLog.appendEvaluation(in: split, step: 3, metrics: ["acceptance": 0.5])
        try t2.saveCheckpoint()
        try RunLog.appendEvaluation(in: split, step: 5, metrics: ["acceptance": 0.5])
        let m3 = try TransformerModel(config: tinyConfig()); m3.initialize(seed: 1)
        let t3 = try Trainer(model: m3, objective: CrossEntropyObjective(), settings: s, runDirectory: split)
        XCTAssertTrue(try t3.resume())
        XCTAssertEqual(try loggedSteps(split, RunLog.evaluationsFile), [0, 3], "the evaluation after the checkpoint is dropped")
        try runLogging(t3, dir: split)
        XCTAssertEqual(try loggedSteps(split, RunLog.evaluationsFile), try loggedSteps(full, RunLog.evaluationsFile))
        XCTAssertEqual(m3.parameters.flat.array, m1.parameters.flat.array)
    }

    /// A new run (no --resume) in the directory of a run killed before its first checkpoint
    /// starts its logs over; a directory holding a checkpoint (or only checkpoint.old, killed
    /// between the renames) is refused, naming --resume.
    func testNewRunStartsItsLogsOverAndRefusesACheckpoint() throws {
        let dir = try tempDir()
        try Data("{\"step\":1,\"loss\":9}\n".utf8).write(to: dir.appendingPathComponent(RunLog.metricsFile))
        try RunLog.startNewRun(in: dir)
        XCTAssertEqual(try loggedSteps(dir, RunLog.metricsFile), [])
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("checkpoint.old"), withIntermediateDirectories: true)
        XCTAssertThrowsError(try RunLog.startNewRun(in: dir)) { XCTAssertTrue("\($0)".contains("--resume"), "\($0)") }
    }
}

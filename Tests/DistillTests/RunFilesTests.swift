import Distill
import Foundation
import Tensor
import Tokenizers
import Transformer
import XCTest

/// The files the library writes in a run directory (``RunLog``): `run.json` from the caller's
/// ``RunRecord`` completed by the trainer, `evaluations.jsonl`, `metrics.jsonl` with the
/// objective's statistics — for both trainers, through ``DistillationRun``, ``AdaSPECStages``
/// and ``PCLSetup``.
final class RunFilesTests: XCTestCase {
    func tempDir() throws -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("runfiles-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: u) }
        return u
    }

    /// The JSON objects of the lines of `dir/file`.
    func lines(_ dir: URL, _ file: String) throws -> [[String: Any]] {
        let text = (try? String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)) ?? ""
        return try text.split(separator: "\n").map { try XCTUnwrap(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
    }

    func steps(_ dir: URL, _ file: String) throws -> [Int] { try lines(dir, file).map { $0["step"] as? Int ?? -1 } }

    func settings(steps: Int) -> TrainingSettings {
        var s = TrainingSettings()
        s.steps = steps; s.batchSize = 2; s.context = 24; s.gradAccum = 1; s.saveEvery = 2; s.evalEvery = 2; s.seed = 3
        s.optimizer = AdamWSettings(learningRate: 3e-3)
        return s
    }

    /// A ``DistillationRun`` on the tiny pair: fixed data, a constant evaluation.
    func distillationRun(_ pair: (Tokenizer, TransformerModel, TransformerModel, PromptDataset), steps: Int,
                         resuming: Bool = false, stopAt: Int? = nil) -> DistillationRun {
        let (tok, teacher, _, data) = pair
        return DistillationRun(target: teacher, tokenizer: tok, trainSet: data, settings: settings(steps: steps), maxNewTokens: 6,
                               evaluate: { _ in ["acceptance_greedy": 0.5] }, resuming: resuming, stopAt: stopAt,
                               record: RunRecord(stage: "", target: "tiny-target", data: "corpus"))
    }

    // MARK: - Trainer

    /// A distillation stage writes run.json (the caller's provenance, the trainer's objective
    /// metadata, settings and ranks) and logs its evaluations (before, every evalEvery, after).
    func testDistillationStageWritesRunRecordAndEvaluations() throws {
        let pair = try TinyPair.make(peakedTeacher: true)
        let dir = try tempDir()
        let run = distillationRun(pair, steps: 4)
        let objective = DistillationObjective(divergence: .jsd(beta: 0.25), temperature: 2)
        var events: [String] = []
        var observed = run
        observed.observe = { start in
            XCTAssertFalse(start.alreadyFinished)
            return { if case .evaluation(let step, _) = $0 { events.append("eval \(step)") } }
        }
        let outcome = try observed.runStage(DistillationStage(label: "draft (jsd)", objective: objective, dataSource: .fixed, directory: dir),
                                            model: pair.2)
        XCTAssertEqual(outcome.state, .finished)
        XCTAssertEqual(outcome.step, 4)
        XCTAssertEqual(events, ["eval 0", "eval 2", "eval 4"])
        XCTAssertEqual(try steps(dir, RunLog.evaluationsFile), [0, 2, 4])
        XCTAssertEqual(try lines(dir, RunLog.evaluationsFile).first?["acceptance_greedy"] as? Double, 0.5)
        XCTAssertEqual(try steps(dir, RunLog.metricsFile), [1, 2, 3, 4])

        let record = try XCTUnwrap(try RunRecord.read(in: dir))
        XCTAssertEqual(record.stage, "draft (jsd)")
        XCTAssertEqual(record.objective, objective.metadata)
        XCTAssertEqual(record.settings, run.settings)
        XCTAssertEqual(record.ranks, 1)
        XCTAssertEqual(record.dataSource, "fixed")
        XCTAssertNil(record.lambdaSchedule, "only mixed data records its schedule")
        XCTAssertEqual(record.target, "tiny-target")
        XCTAssertEqual(record.maxNewTokens, 6)
        // The keys `specdistill train` has always written.
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("run.json"))) as? [String: Any])
        XCTAssertEqual(Set(json.keys), ["stage", "objective", "dataSource", "genTemperature", "maxNewTokens", "target", "data",
                                        "settings", "ranks"])
        XCTAssertEqual((json["objective"] as? [String: String])?["beta"], "0.25")
    }

    /// A plain Trainer without a record writes no run.json but logs its evaluations.
    func testTrainerWithoutRecordLogsEvaluationsOnly() throws {
        let pair = try TinyPair.make(peakedTeacher: false)
        let dir = try tempDir()
        let trainer = try Trainer(model: pair.2, objective: CrossEntropyObjective(), settings: settings(steps: 2), runDirectory: dir)
        var source = try DistillationSource(dataset: pair.3, tokenizer: pair.0, kind: .fixed, lambda: 0, teacher: nil, student: nil)
        try trainer.run(source: &source) { _ in ["val_loss": 1] }
        XCTAssertEqual(try steps(dir, RunLog.evaluationsFile), [0, 2])
        XCTAssertNil(try RunRecord.read(in: dir))
    }

    // MARK: - Objective statistics

    /// Cross-entropy that reports a statistic of its own: the trainer records any objective's
    /// statistics, not only AdaSPEC's.
    struct CountingObjective: Objective {
        var inner = CrossEntropyObjective()
        var calls = 0
        var name: String { "counting" }
        var needsTeacher: Bool { false }
        var metadata: [String: String] { ["objective": name, "inner": inner.name] }
        var stepStatistics: [String: Double] { ["calls": Double(calls)] }
        mutating func evaluate(_ input: ObjectiveInput, dLogits: UnsafeMutablePointer<Float>, scale: Float) -> ObjectiveResult {
            calls += 1
            return inner.evaluate(input, dLogits: dLogits, scale: scale)
        }
    }

    func testObjectiveStatisticsAndMetadataGoThroughTheProtocol() throws {
        let pair = try TinyPair.make(peakedTeacher: false)
        let dir = try tempDir()
        var s = settings(steps: 3)
        s.gradAccum = 2
        let trainer = try Trainer(model: pair.2, objective: CountingObjective(), settings: s, runDirectory: dir)
        trainer.record = RunRecord(stage: "counting")
        var source = try DistillationSource(dataset: pair.3, tokenizer: pair.0, kind: .fixed, lambda: 0, teacher: nil, student: nil)
        var reported: [StepMetrics] = []
        trainer.onEvent = { if case .step(let m) = $0 { reported.append(m) } }
        try trainer.run(source: &source)
        XCTAssertEqual(reported.map { $0.statistics["calls"] }, [2, 4, 6])
        XCTAssertEqual(try lines(dir, RunLog.metricsFile).map { $0["calls"] as? Double }, [2, 4, 6], "flattened into the line")
        XCTAssertEqual(try RunRecord.read(in: dir)?.objective, ["objective": "counting", "inner": "ce"])
        XCTAssertEqual(CrossEntropyObjective().metadata, ["objective": "ce"], "the default metadata")
        XCTAssertEqual(CrossEntropyObjective().stepStatistics, [:])
    }

    // MARK: - AdaSPEC

    /// The two stages from the library: OUT/reference (FKL, fixed data) and OUT/draft (the token
    /// filter, its kept fraction in every metrics line); a resumed run finds both finished.
    func testAdaSPECStagesProduceBothDirectories() throws {
        let pair = try TinyPair.make(peakedTeacher: true)
        let out = try tempDir()
        let stages = AdaSPECStages(keepFraction: 0.5)
        var starts: [String] = []
        var run = distillationRun(pair, steps: 2)
        run.observe = { start in starts.append(start.stage.label); return { _ in } }
        let initial = pair.2.parameters.flat.array
        let result = try stages.run(run, initialisation: pair.2, dataSource: .fixed, out: out)
        XCTAssertTrue(result.finished)
        XCTAssertEqual(result.outcomes.map(\.label), [AdaSPECStages.referenceLabel, "draft (adaspec k=0.5)"])
        XCTAssertEqual(starts, result.outcomes.map(\.label))
        XCTAssertEqual(pair.2.parameters.flat.array, initial, "the initialisation is copied, not trained")
        for (name, objective) in [("reference", "fkl"), ("draft", "adaspec")] {
            let dir = out.appendingPathComponent(name)
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("checkpoint/model.safetensors").path), name)
            XCTAssertEqual(try RunRecord.read(in: dir)?.objective?["objective"], objective)
            XCTAssertEqual(try steps(dir, RunLog.metricsFile), [1, 2], name)
            XCTAssertEqual(try steps(dir, RunLog.evaluationsFile), [0, 2], name)
        }
        let draftLines = try lines(out.appendingPathComponent("draft"), RunLog.metricsFile)
        for line in draftLines {
            let kept = try XCTUnwrap(line["keptFraction"] as? Double, "\(line)")
            XCTAssertTrue(kept > 0 && kept <= 1, "kept fraction \(kept)")
        }
        XCTAssertNil(try lines(out.appendingPathComponent("reference"), RunLog.metricsFile).first?["keptFraction"])
        let draft = try XCTUnwrap(result.draft)
        XCTAssertEqual(try TransformerModel.load(directory: out.appendingPathComponent("draft/checkpoint")).parameters.flat.array,
                       draft.parameters.flat.array)

        // Resumed: both stages already finished, nothing rewritten.
        let again = try stages.run(distillationRun(pair, steps: 2, resuming: true), initialisation: pair.2, dataSource: .fixed, out: out)
        XCTAssertEqual(again.outcomes.map(\.state), [.alreadyFinished, .alreadyFinished])
        XCTAssertEqual(again.draft?.parameters.flat.array, draft.parameters.flat.array, "restored from the checkpoint")
        XCTAssertEqual(try steps(out.appendingPathComponent("draft"), RunLog.evaluationsFile), [0, 2])
    }

    /// Stopped in the reference stage, the draft stage does not start; resumed, the run ends as an
    /// uninterrupted one, each step logged once (the logs are cut back to the checkpoint).
    func testAdaSPECStopAndResumeTrimsTheLogs() throws {
        let pair = try TinyPair.make(peakedTeacher: true)
        let full = try tempDir(), split = try tempDir()
        let stages = AdaSPECStages(keepFraction: 0.5)
        let uninterrupted = try stages.run(distillationRun(pair, steps: 4), initialisation: pair.2, dataSource: .fixed, out: full)

        let stopped = try stages.run(distillationRun(pair, steps: 4, stopAt: 2), initialisation: pair.2, dataSource: .fixed, out: split)
        XCTAssertFalse(stopped.finished)
        XCTAssertNil(stopped.draft)
        XCTAssertEqual(stopped.outcomes.map(\.state), [.stopped])
        XCTAssertEqual(stopped.outcomes.first?.step, 2)
        XCTAssertFalse(FileManager.default.fileExists(atPath: split.appendingPathComponent("draft").path))
        // A kill after the checkpoint of step 2 left lines of step 3.
        let reference = split.appendingPathComponent("reference")
        try RunLog.appendEvaluation(in: reference, step: 3, metrics: ["acceptance_greedy": 0.1])
        let metrics = reference.appendingPathComponent(RunLog.metricsFile)
        try Data((String(contentsOf: metrics, encoding: .utf8) + "{\"step\":3,\"loss\":9}\n").utf8).write(to: metrics)

        let resumed = try stages.run(distillationRun(pair, steps: 4, resuming: true), initialisation: pair.2, dataSource: .fixed, out: split)
        XCTAssertTrue(resumed.finished)
        for name in ["reference", "draft"] {
            for file in [RunLog.metricsFile, RunLog.evaluationsFile] {
                XCTAssertEqual(try steps(split.appendingPathComponent(name), file), try steps(full.appendingPathComponent(name), file), "\(name)/\(file)")
            }
        }
        XCTAssertEqual(resumed.draft?.parameters.flat.array, uninterrupted.draft?.parameters.flat.array)
    }

    /// Resuming mixed data with another λ schedule than run.json's is refused before any state is
    /// restored, naming the flags; an old run.json with only a constant `lambda` is read too.
    func testResumeChecksTheLambdaSchedule() throws {
        let pair = try TinyPair.make(peakedTeacher: true)
        let dir = try tempDir()
        var record = RunRecord(stage: "draft")
        record.lambda = 0.5
        record.dataSource = "mixed"
        record.lambdaSchedule = LambdaSchedule(start: 0, end: 0.5, warmupSteps: 1, rampSteps: 3)
        try record.write(in: dir)
        XCTAssertNoThrow(try record.checkResumable(in: dir))
        var other = record
        other.lambdaSchedule = LambdaSchedule(start: 0, end: 0.5, warmupSteps: 2, rampSteps: 2)
        XCTAssertThrowsError(try other.checkResumable(in: dir)) { XCTAssertTrue("\($0)".contains("--lambda-warmup-steps"), "\($0)") }
        let trainer = try Trainer(model: pair.2, teacher: pair.1, objective: DistillationObjective(divergence: .forwardKL),
                                  settings: settings(steps: 2), runDirectory: dir)
        trainer.record = other
        XCTAssertThrowsError(try trainer.prepare(resuming: true))
        XCTAssertNoThrow(try trainer.prepare(resuming: false), "a new run does not compare")

        // A run.json from before schedules: {"lambda": 0.3, …} is the constant 0.3.
        try Data("{\"lambda\" : 0.3, \"stage\" : \"draft\", \"dataSource\" : \"mixed\"}".utf8).write(to: dir.appendingPathComponent("run.json"))
        other.lambdaSchedule = .constant(0.3)
        XCTAssertNoThrow(try other.checkResumable(in: dir))
        other.lambdaSchedule = .constant(0.4)
        XCTAssertThrowsError(try other.checkResumable(in: dir))
    }

    // MARK: - metrics.jsonl lines

    /// Lines written before statistics went through the protocol (AdaSPEC's top-level
    /// `keptFraction`; PCL's lines without `tokensPerSecond`) decode, and re-encode to the same bytes.
    func testMetricsLinesOfBothTrainersRoundTrip() throws {
        let adaspec = #"{"elapsedSeconds":1.5,"gradNorm":0.25,"keptFraction":0.4375,"learningRate":0.003,"loss":1.25,"step":3,"tokens":16,"tokensPerSecond":100}"#
        let pcl = #"{"elapsedSeconds":2,"gradNorm":0.5,"learningRate":0.003,"loss":0.75,"multipliers":[0,0.25],"source":"student","step":1,"teacherFraction":0.125,"tokens":12}"#
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        let a = try JSONDecoder().decode(StepMetrics.self, from: Data(adaspec.utf8))
        XCTAssertEqual(a.statistics, ["keptFraction": 0.4375])
        XCTAssertEqual(a.tokensPerSecond, 100)
        XCTAssertNil(a.source)
        let p = try JSONDecoder().decode(StepMetrics.self, from: Data(pcl.utf8))
        XCTAssertEqual(p.source, "student")
        XCTAssertEqual(p.multipliers, [0, 0.25])
        XCTAssertNil(p.tokensPerSecond)
        XCTAssertEqual(p.statistics, [:])
        XCTAssertEqual(String(decoding: try e.encode(a), as: UTF8.self), adaspec)
        XCTAssertEqual(String(decoding: try e.encode(p), as: UTF8.self), pcl)
    }

    // MARK: - PCL

    /// The PCL setup from the library adds and calibrates the help row; the PCL trainer writes
    /// run.json (with the PCL settings), its evaluations, and metrics lines with its fields.
    func testPCLSetupAndTrainerWriteTheRunFiles() throws {
        let (tok, teacher, base, data) = try TinyPair.make(peakedTeacher: true)
        let dir = try tempDir()
        var s = settings(steps: 2)
        s.evalEvery = 0
        var run = PCLRunSettings()
        run.pcl = PCLSettings(steps: 4)
        run.lambdaOn = 0.5; run.offPolicy = [.dataset]; run.replaySize = 0
        run.budgets = [0, 0.2]; run.maxNewTokens = 6
        let setup = PCLSetup(target: teacher, tokenizer: tok, trainSet: data, settings: s, run: run, helpInitProbability: 0.05)
        let (student, added) = try setup.student(from: base)
        XCTAssertEqual(added?.id, base.config.vocabSize)
        XCTAssertEqual(student.config.helpTokenID, base.config.vocabSize)
        XCTAssertEqual(try XCTUnwrap(added?.probability), 0.05, accuracy: 0.01)
        XCTAssertEqual(try setup.student(from: student).added, nil, "a student with a help action is kept as it is")
        var noBudgets = setup
        noBudgets.run.budgets = []
        XCTAssertTrue(try noBudgets.student(from: base).model === base)

        let (trainer, source) = try setup.makeTrainer(student: student, directory: dir)
        trainer.record = RunRecord(stage: "pcl", target: "tiny-target")
        XCTAssertFalse(try trainer.prepare(resuming: false, source: source))
        var evaluated: [Int] = []
        trainer.onEvent = { if case .evaluation(let step, _) = $0 { evaluated.append(step) } }
        try trainer.train(source: source) { _ in ["acceptance_greedy": 0.25] }
        XCTAssertEqual(evaluated, [0, 2])
        XCTAssertEqual(try steps(dir, RunLog.evaluationsFile), [0, 2])
        let record = try XCTUnwrap(try RunRecord.read(in: dir))
        XCTAssertEqual(record.pcl, run)
        XCTAssertEqual(record.settings, s)
        XCTAssertEqual(record.objective, trainer.objective.metadata)
        XCTAssertNil(record.ranks)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("run.json"))) as? [String: Any])
        XCTAssertEqual(Set(json.keys), ["stage", "objective", "pcl", "target", "settings"])
        let metrics = try lines(dir, RunLog.metricsFile)
        XCTAssertEqual(metrics.map { $0["step"] as? Int }, [1, 2])
        for line in metrics {
            XCTAssertNotNil(line["source"] as? String)
            XCTAssertEqual((line["multipliers"] as? [Double])?.count, 2)
            XCTAssertNil(line["tokensPerSecond"])
        }
        // Resumed from the final checkpoint with a stale line after it: the logs end at step 2.
        try RunLog.appendEvaluation(in: dir, step: 3, metrics: ["acceptance_greedy": 0])
        let (again, againSource) = try setup.makeTrainer(student: try setup.student(from: base).model, directory: dir)
        XCTAssertTrue(try again.prepare(resuming: true, source: againSource))
        XCTAssertEqual(try steps(dir, RunLog.evaluationsFile), [0, 2])
    }
}

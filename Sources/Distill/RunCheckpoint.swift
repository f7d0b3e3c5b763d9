import Foundation
import Formats
import Tensor
import Transformer

/// The run-directory files shared by ``Trainer`` and ``PCLTrainer`` (checkpoints and
/// `metrics.jsonl`). Checkpoint layout: `RUN/checkpoint/` holds a
/// loadable model directory (config.json, model.safetensors), `optimizer.safetensors` (AdamW
/// moments `m`, `v`, flat) and `trainer_state.json` (the trainer's own Codable state). A new
/// checkpoint is written to `checkpoint.tmp/`, the old one renamed to `checkpoint.old/`, the new
/// one renamed into place, then the old one deleted — at every instant a complete checkpoint exists.
enum RunCheckpoint {
    /// Writes a checkpoint of `model`, `optimizer` and `state` into `dir/checkpoint`; returns its URL.
    static func write<State: Encodable>(runDirectory dir: URL, model: TransformerModel, optimizer: AdamW, state: State,
                                        prettyPrinted: Bool) throws -> URL {
        let fm = FileManager.default
        let final = dir.appendingPathComponent("checkpoint")
        let tmp = dir.appendingPathComponent("checkpoint.tmp"), old = dir.appendingPathComponent("checkpoint.old")
        try? fm.removeItem(at: tmp)
        try model.save(directory: tmp)
        var writer = SafetensorsWriter()
        try writer.add("m", shape: [optimizer.m.count], pointer: optimizer.m.flat.pointer)
        try writer.add("v", shape: [optimizer.v.count], pointer: optimizer.v.flat.pointer)
        try writer.write(to: tmp.appendingPathComponent("optimizer.safetensors"))
        let e = JSONEncoder()
        e.outputFormatting = prettyPrinted ? [.prettyPrinted, .sortedKeys] : [.sortedKeys]
        try AtomicFile.write(e.encode(state), to: tmp.appendingPathComponent("trainer_state.json"))
        try? fm.removeItem(at: old)
        if fm.fileExists(atPath: final.path) { try fm.moveItem(at: final, to: old) }
        try fm.moveItem(at: tmp, to: final)
        try? fm.removeItem(at: old)
        return final
    }

    /// The checkpoint to resume from: `dir/checkpoint`, else `dir/checkpoint.old` (a run stopped
    /// between the two renames), else nil.
    static func locate(runDirectory dir: URL) -> URL? {
        let fm = FileManager.default
        for name in ["checkpoint", "checkpoint.old"] {
            let url = dir.appendingPathComponent(name)
            if fm.fileExists(atPath: url.path) { return url }
        }
        return nil
    }

    /// Decodes `trainer_state.json` of the checkpoint at `url`.
    /// - Throws: ``DistillError/checkpoint(_:)`` naming the file and the fix.
    static func readState<State: Decodable>(_ type: State.Type, at url: URL, what: String) throws -> State {
        let stateURL = url.appendingPathComponent("trainer_state.json")
        do { return try JSONDecoder().decode(State.self, from: Data(contentsOf: stateURL)) } catch {
            throw DistillError.checkpoint("\(stateURL.path): unreadable \(what) (\(error)); delete the checkpoint directory to start over")
        }
    }

    /// Throws unless the counters of a decoded trainer state can be true of a run of `settings`:
    /// format version 1, 0 ≤ step ≤ the run's steps, 0 ≤ optimizer steps ≤ step × grad-accum
    /// (a negative or huge step would reach the progress display and the schedules unchecked).
    static func checkCounters(version: Int, step: Int, optimizerSteps: Int, settings: TrainingSettings, at url: URL) throws {
        let file = url.appendingPathComponent("trainer_state.json").path
        guard version == 1 else {
            throw DistillError.checkpoint("\(file): formatVersion \(version) is not 1 (written by another version of specdistill?); delete the checkpoint directory to start over")
        }
        guard step >= 0, step <= settings.steps else {
            throw DistillError.checkpoint("\(file): step \(step) is outside 0...\(settings.steps) (the run's steps); the file is corrupt — delete the checkpoint directory to start over")
        }
        guard optimizerSteps >= 0, optimizerSteps <= step else {
            throw DistillError.checkpoint("\(file): optimizerSteps \(optimizerSteps) is outside 0...\(step) (the step); the file is corrupt — delete the checkpoint directory to start over")
        }
    }

    /// Loads the weights and AdamW moments of the checkpoint at `url` into `model` and `optimizer`.
    static func restore(model: TransformerModel, optimizer: AdamW, from url: URL, optimizerSteps: Int) throws {
        let weights = try SafetensorsFile(url: url.appendingPathComponent("model.safetensors"))
        try model.loadWeights(from: weights, path: url.path)
        try model.checkFinite(path: url.path)
        let optURL = url.appendingPathComponent("optimizer.safetensors")
        let opt = try SafetensorsFile(url: optURL)
        try opt.read("m", into: optimizer.m.flat.pointer, count: optimizer.m.count)
        try opt.read("v", into: optimizer.v.flat.pointer, count: optimizer.v.count)
        // AdamW divides by sqrt(v): a negative or non-finite moment turns every weight into NaN.
        for (name, t) in [("m", optimizer.m.flat), ("v", optimizer.v.flat)] {
            let p = t.pointer
            for i in 0..<t.count where !p[i].isFinite || (name == "v" && p[i] < 0) {
                throw DistillError.checkpoint("\(optURL.path): AdamW moment \(name) holds \(p[i]) at element \(i); the checkpoint is corrupt — delete the checkpoint directory to start over")
            }
        }
        optimizer.restore(stepCount: optimizerSteps)
    }

    /// Appends one JSON line (sorted keys) to `dir/metrics.jsonl` (no-op without a run directory).
    static func appendMetrics<M: Encodable>(_ m: M, in dir: URL?) throws {
        guard let dir else { return }
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        var line = try e.encode(m)
        line.append(0x0A)
        try RunLog.append(line, to: dir.appendingPathComponent(RunLog.metricsFile))
    }

    /// Drops the `metrics.jsonl` and `evaluations.jsonl` lines (``RunLog``) of steps after `step`:
    /// written after the checkpoint by an interrupted run, they are written again on resume. Step
    /// -1 (no checkpoint yet) empties both logs. Lines cut short by a kill do not decode and go too.
    static func trimMetrics(in dir: URL?, after step: Int) throws {
        guard let dir else { return }
        AtomicFile.removeLeftovers(in: dir)
        for name in [RunLog.metricsFile, RunLog.evaluationsFile] {
            let url = dir.appendingPathComponent(name)
            guard let text = try? String(contentsOf: url, encoding: .utf8) else { continue }
            struct StepOnly: Decodable { var step: Int }
            let kept = JSONLines.lines(text).map(\.text).filter { line in
                guard let s = try? JSONDecoder().decode(StepOnly.self, from: Data(line.utf8)) else { return false }
                return s.step <= step
            }
            try AtomicFile.write(Data((kept.joined(separator: "\n") + (kept.isEmpty ? "" : "\n")).utf8), to: url)
        }
    }
}

/// The files a trainer writes in its run directory beside the checkpoints (rank 0 only in a
/// data-parallel job): `run.json` (``RunRecord``, when the caller gave one, at the start of the
/// run), `metrics.jsonl` (one ``StepMetrics`` line per optimizer step) and `evaluations.jsonl`
/// (one line per evaluation, `{"step", metric: value…}`). Both logs end at the last checkpoint
/// after a resume, so an interrupted and resumed run leaves the same steps, each once, as an
/// uninterrupted one: the trainers log a step's evaluation before checkpointing that step.
public enum RunLog {
    public static let metricsFile = "metrics.jsonl"
    public static let evaluationsFile = "evaluations.jsonl"

    /// Prepares `dir` for a new run (no `--resume`): refuses a directory holding a checkpoint
    /// (`checkpoint/` or `checkpoint.old/`), and empties the logs a run killed before its first
    /// checkpoint left, so the new run's steps are logged once.
    /// - Throws: ``DistillError/checkpoint(_:)`` naming `--resume` and `--out`.
    public static func startNewRun(in dir: URL) throws {
        if let url = RunCheckpoint.locate(runDirectory: dir) {
            throw DistillError.checkpoint("\(dir.path) already holds a checkpoint (\(url.lastPathComponent)); pass --resume to continue that run or choose another --out")
        }
        try RunCheckpoint.trimMetrics(in: dir, after: -1)
    }

    /// Appends `{"step": step, metric: value…}` (sorted keys) to `dir/evaluations.jsonl` (no-op
    /// without a run directory). The trainers call it for each evaluation of their run.
    public static func appendEvaluation(in dir: URL?, step: Int, metrics: [String: Double]) throws {
        guard let dir else { return }
        var record: [String: Any] = ["step": step]
        for (k, v) in metrics { record[k] = v }
        var line = try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])
        line.append(0x0A)
        try append(line, to: dir.appendingPathComponent(evaluationsFile))
    }

    /// One evaluation of a run at `step`, as both trainers do it: the metrics of `evaluate(model)`
    /// are appended to `dir/evaluations.jsonl` (``appendEvaluation(in:step:metrics:)``), then
    /// reported as ``TrainingEvent/evaluation(step:metrics:)``.
    /// - Throws: what `evaluate` or the append throws (nothing is reported then).
    static func evaluate(_ model: TransformerModel, step: Int, in dir: URL?,
                         with evaluate: (TransformerModel) throws -> [String: Double],
                         onEvent: (TrainingEvent) -> Void) throws {
        let metrics = try evaluate(model)
        try appendEvaluation(in: dir, step: step, metrics: metrics)
        onEvent(.evaluation(step: step, metrics: metrics))
    }

    /// Appends `line` to the file at `url`, creating it when missing.
    static func append(_ line: Data, to url: URL) throws {
        if let h = try? FileHandle(forWritingTo: url) {
            defer { try? h.close() }
            try h.seekToEnd()
            try h.write(contentsOf: line)
        } else {
            try line.write(to: url)
        }
    }
}

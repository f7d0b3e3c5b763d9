import Foundation
import Formats
import Tensor
import Transformer

/// What a PCL checkpoint records beside the model and optimizer moments.
struct PCLTrainerState: Codable {
    var formatVersion = 1
    var step: Int
    var optimizerSteps: Int
    var rng: RandomGenerator
    var settings: TrainingSettings
    var run: PCLRunSettings
    var multipliers: BudgetMultipliers
    var replay: [ReplayEntry]
}

/// Checkpoints of ``PCLTrainer``: `RUN/checkpoint/` holds a loadable model directory (its
/// config.json records `help_token_id`), `optimizer.safetensors` (AdamW `m`, `v`) and
/// `trainer_state.json` (step, RNG, settings, budget multipliers, replay buffer). Written to
/// `checkpoint.tmp/` and renamed into place as ``Trainer``'s are, so a complete one always exists.
extension PCLTrainer {
    var checkpointURL: URL? { runDirectory?.appendingPathComponent("checkpoint") }

    /// Writes a checkpoint of the current step (no-op without a run directory).
    public func saveCheckpoint(source: PCLSource) throws {
        guard let dir = runDirectory, let final = checkpointURL else { return }
        let fm = FileManager.default
        let tmp = dir.appendingPathComponent("checkpoint.tmp"), old = dir.appendingPathComponent("checkpoint.old")
        try? fm.removeItem(at: tmp)
        try model.save(directory: tmp)
        var writer = SafetensorsWriter()
        try writer.add("m", shape: [optimizer.m.count], pointer: optimizer.m.flat.pointer)
        try writer.add("v", shape: [optimizer.v.count], pointer: optimizer.v.flat.pointer)
        try writer.write(to: tmp.appendingPathComponent("optimizer.safetensors"))
        let state = PCLTrainerState(step: step, optimizerSteps: optimizer.stepCount, rng: rng, settings: settings, run: run,
                                    multipliers: multipliers, replay: source.replay)
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        try e.encode(state).write(to: tmp.appendingPathComponent("trainer_state.json"), options: .atomic)
        try? fm.removeItem(at: old)
        if fm.fileExists(atPath: final.path) { try fm.moveItem(at: final, to: old) }
        try fm.moveItem(at: tmp, to: final)
        try? fm.removeItem(at: old)
        onEvent(.checkpoint(step: step, path: final.path))
    }

    /// Restores model, optimizer, step, RNG, multipliers and `source`'s replay buffer from the
    /// run directory's last checkpoint.
    /// - Returns: false when there is no checkpoint.
    /// - Throws: when the checkpoint's settings differ from this run's (both are listed).
    @discardableResult
    public func resume(source: PCLSource) throws -> Bool {
        guard let dir = runDirectory, var url = checkpointURL else { return false }
        let fm = FileManager.default
        if !fm.fileExists(atPath: url.path) {
            let old = dir.appendingPathComponent("checkpoint.old")
            guard fm.fileExists(atPath: old.path) else { return false }
            url = old
        }
        let stateURL = url.appendingPathComponent("trainer_state.json")
        let state: PCLTrainerState
        do { state = try JSONDecoder().decode(PCLTrainerState.self, from: Data(contentsOf: stateURL)) } catch {
            throw DistillError.checkpoint("\(stateURL.path): unreadable PCL trainer state (\(error)); delete the checkpoint directory to start over")
        }
        guard state.settings == settings, state.run == run else {
            throw DistillError.checkpoint("\(url.path) was written with different settings; resume with the same options or use a new --out directory.\n  checkpoint: \(state.settings) \(state.run)\n  now:        \(settings) \(run)")
        }
        let weights = try SafetensorsFile(url: url.appendingPathComponent("model.safetensors"))
        try model.loadWeights(from: weights, path: url.path)
        let opt = try SafetensorsFile(url: url.appendingPathComponent("optimizer.safetensors"))
        try opt.read("m", into: optimizer.m.flat.pointer, count: optimizer.m.count)
        try opt.read("v", into: optimizer.v.flat.pointer, count: optimizer.v.count)
        optimizer.restore(stepCount: state.optimizerSteps)
        step = state.step
        rng = state.rng
        multipliers = state.multipliers
        source.restore(replay: state.replay)
        try trimMetrics(after: state.step)
        return true
    }

    /// Drops metrics lines of steps after `step` (written after the checkpoint by an interrupted run).
    private func trimMetrics(after step: Int) throws {
        guard let dir = runDirectory else { return }
        let url = dir.appendingPathComponent("metrics.jsonl")
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return }
        struct StepOnly: Decodable { var step: Int }
        let kept = text.split(separator: "\n").filter { line in
            guard let s = try? JSONDecoder().decode(StepOnly.self, from: Data(line.utf8)) else { return false }
            return s.step <= step
        }
        try (kept.joined(separator: "\n") + (kept.isEmpty ? "" : "\n")).write(to: url, atomically: true, encoding: .utf8)
    }
}

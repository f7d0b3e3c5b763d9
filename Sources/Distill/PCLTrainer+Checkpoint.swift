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

/// Checkpoints of ``PCLTrainer`` in ``RunCheckpoint``'s layout (the model's config.json records
/// `help_token_id`); `trainer_state.json` holds step, RNG, settings, budget multipliers and the
/// replay buffer.
extension PCLTrainer {
    /// Writes a checkpoint of the current step (no-op without a run directory).
    public func saveCheckpoint(source: PCLSource) throws {
        guard let dir = runDirectory else { return }
        let state = PCLTrainerState(step: step, optimizerSteps: optimizer.stepCount, rng: rng, settings: settings, run: run,
                                    multipliers: multipliers, replay: source.replay)
        let final = try RunCheckpoint.write(runDirectory: dir, model: model, optimizer: optimizer, state: state, prettyPrinted: false)
        onEvent(.checkpoint(step: step, path: final.path))
    }

    /// Restores model, optimizer, step, RNG, multipliers and `source`'s replay buffer from the
    /// run directory's last checkpoint.
    /// - Returns: false when there is no checkpoint (the logs of a run killed before its first
    ///   checkpoint are then emptied, as in ``Trainer/resume()``).
    /// - Throws: when the checkpoint's settings differ from this run's (both are listed), or
    ///   ``record`` from the run directory's `run.json` (``RunRecord/checkResumable(in:)``).
    @discardableResult
    public func resume(source: PCLSource) throws -> Bool {
        guard let dir = runDirectory else { return false }
        try record?.checkResumable(in: dir)
        guard let url = RunCheckpoint.locate(runDirectory: dir) else {
            try RunCheckpoint.trimMetrics(in: dir, after: -1)
            return false
        }
        let state = try RunCheckpoint.readState(PCLTrainerState.self, at: url, what: "PCL trainer state")
        guard state.settings == settings, state.run == run else {
            throw DistillError.checkpoint("\(url.path) was written with different settings; resume with the same options or use a new --out directory.\n  checkpoint: \(state.settings) \(state.run)\n  now:        \(settings) \(run)")
        }
        try RunCheckpoint.checkCounters(version: state.formatVersion, step: state.step, optimizerSteps: state.optimizerSteps,
                                        settings: state.settings, at: url)
        try RunCheckpoint.restore(model: model, optimizer: optimizer, from: url, optimizerSteps: state.optimizerSteps)
        step = state.step
        rng = state.rng
        multipliers = state.multipliers
        source.restore(replay: state.replay)
        try RunCheckpoint.trimMetrics(in: runDirectory, after: state.step)
        return true
    }

    /// Starts or continues the run in the run directory: ``resume(source:)`` when `resuming`,
    /// else ``RunLog/startNewRun(in:)`` (refusing a directory that holds a checkpoint).
    /// - Returns: whether a checkpoint was restored.
    @discardableResult
    public func prepare(resuming: Bool, source: PCLSource) throws -> Bool {
        if resuming { return try resume(source: source) }
        if let dir = runDirectory { try RunLog.startNewRun(in: dir) }
        return false
    }
}

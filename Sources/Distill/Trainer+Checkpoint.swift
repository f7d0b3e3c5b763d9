import Foundation
import Formats
import Tensor
import Transformer

/// What a checkpoint records beside the model and optimizer moments.
struct TrainerState: Codable {
    var formatVersion = 1
    var step: Int
    var optimizerSteps: Int
    var rng: RandomGenerator
    var settings: TrainingSettings
    var objective: String
}

/// Checkpoints in ``RunCheckpoint``'s layout; `trainer_state.json` holds step, RNG state,
/// settings and the objective's name.
extension Trainer {
    /// Writes a checkpoint of the current step (no-op without a run directory, and on every rank
    /// but 0 of a data-parallel job: the ranks hold the same model).
    public func saveCheckpoint() throws {
        guard let dir = runDirectory, communicator.isRoot else { return }
        let state = TrainerState(step: step, optimizerSteps: optimizer.stepCount, rng: rng, settings: settings, objective: objective.name)
        let final = try RunCheckpoint.write(runDirectory: dir, model: model, optimizer: optimizer, state: state, prettyPrinted: true)
        onEvent(.checkpoint(step: step, path: final.path))
    }

    /// Restores model, optimizer, step and RNG from the run directory's last checkpoint, and cuts
    /// the run's logs (``RunLog``) back to that step. Every rank of a data-parallel job reads the
    /// checkpoint (the run directory is on a shared file system); rank 0 alone cuts the logs.
    /// - Returns: false when there is no checkpoint to resume from (the logs of a run killed
    ///   before its first checkpoint are then emptied: the run starts over).
    /// - Throws: when the checkpoint's settings differ from this run's (the message lists them),
    ///   or ``record`` from the run directory's `run.json` (``RunRecord/checkResumable(in:)``).
    @discardableResult
    public func resume() throws -> Bool {
        guard let dir = runDirectory else { return false }
        try record?.checkResumable(in: dir)
        let logs = communicator.isRoot ? dir : nil
        guard let url = RunCheckpoint.locate(runDirectory: dir) else {
            try RunCheckpoint.trimMetrics(in: logs, after: -1)
            return false
        }
        let state = try RunCheckpoint.readState(TrainerState.self, at: url, what: "trainer state")
        guard state.settings == settings else {
            throw DistillError.checkpoint("\(url.path) was written with different settings; resume with the same options or use a new --out directory.\n  checkpoint: \(state.settings)\n  now:        \(settings)")
        }
        try RunCheckpoint.checkCounters(version: state.formatVersion, step: state.step, optimizerSteps: state.optimizerSteps,
                                        settings: settings, at: url)
        try RunCheckpoint.restore(model: model, optimizer: optimizer, from: url, optimizerSteps: state.optimizerSteps)
        restore(step: state.step, rng: state.rng)
        try RunCheckpoint.trimMetrics(in: logs, after: state.step)
        return true
    }

    /// Starts or continues the run in the run directory: ``resume()`` when `resuming`, else
    /// ``RunLog/startNewRun(in:)`` on rank 0 (refusing a directory that holds a checkpoint).
    /// - Returns: whether a checkpoint was restored.
    @discardableResult
    public func prepare(resuming: Bool) throws -> Bool {
        if resuming { return try resume() }
        if let dir = runDirectory, communicator.isRoot { try RunLog.startNewRun(in: dir) }
        return false
    }
}

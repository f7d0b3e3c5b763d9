import Cluster
import Foundation
import Tokenizers
import Transformer

/// One stage of a distillation run: a model trained with one objective on one kind of data into
/// one run directory (``DistillationRun/runStage(_:model:reference:)``).
public struct DistillationStage {
    /// The stage's name in progress and in `run.json` (``RunRecord/stage``).
    public var label: String
    public var objective: any Objective
    public var dataSource: DataSourceKind
    /// The run directory (created when missing): checkpoints and the files of ``RunLog``.
    public var directory: URL

    public init(label: String, objective: any Objective, dataSource: DataSourceKind, directory: URL) {
        self.label = label; self.objective = objective; self.dataSource = dataSource; self.directory = directory
    }
}

/// A stage about to train (or found finished), as ``DistillationRun/observe`` sees it.
public struct StageStart {
    public var stage: DistillationStage
    /// The teacher's distributions come from ``DistillationRun/teacherCache``.
    public var teacherFromCache: Bool
    /// The resumed stage had already reached its last step: it will not train (and reports no events).
    public var alreadyFinished: Bool
    /// The trainer's step after resuming (0 for a new stage).
    public var step: Int
}

/// How a stage ended.
public struct StageOutcome: Equatable, Sendable {
    public enum State: Equatable, Sendable {
        /// Trained to its last step in this call.
        case finished
        /// Resumed from the checkpoint of its last step: nothing to do (no evaluation, no files written).
        case alreadyFinished
        /// Ended early at ``DistillationRun/stopAt`` with a checkpoint; continue with ``DistillationRun/resuming``.
        case stopped
    }
    public var label: String
    public var directory: URL
    /// The trainer's step at the end.
    public var step: Int
    public var state: State
}

/// What the stages of a distillation run share — the target, the data, the settings, how
/// responses are sampled, the evaluation and where progress goes — so that a stage is the model
/// it trains, its objective, its data kind and its directory. ``runStage(_:model:reference:)``
/// builds the ``Trainer`` and its batch source, starts or resumes the run, and trains; the trainer
/// writes `run.json` (from ``record``), `metrics.jsonl`, `evaluations.jsonl` and the checkpoints.
/// ``AdaSPECStages`` runs AdaSPEC's two stages with it.
public struct DistillationRun {
    public var target: TransformerModel
    public var tokenizer: Tokenizer
    public var trainSet: PromptDataset
    /// Every stage's settings (steps, batch, optimizer, schedule, output subset …).
    public var settings: TrainingSettings
    /// λ by step for mixed data (``DataSourceKind/mixed``).
    public var lambdaSchedule: LambdaSchedule
    /// Sampling of generated responses (teacher, student and mixed data).
    public var sampling: SamplingSettings
    public var maxNewTokens: Int
    /// Tokens that end a generated response.
    public var stopTokens: Set<Int>
    /// Serves the teacher of fixed-data stages whose objective needs one (no teacher forward runs).
    public var teacherCache: TeacherCache?
    /// Evaluation (metrics by name) before, every `evalEvery` steps and after each stage; it runs
    /// on rank 0 only. nil: none.
    public var evaluate: ((TransformerModel) throws -> [String: Double])?
    public var communicator: Communicator
    /// Continue each stage from its checkpoint (``Trainer/prepare(resuming:)``).
    public var resuming: Bool
    /// End a stage after this step with a checkpoint (``Trainer/run(source:evaluate:stopAt:)``).
    public var stopAt: Int?
    /// Where the run came from, for each stage's `run.json`: the stage fills in ``RunRecord/stage``,
    /// ``RunRecord/dataSource``, ``RunRecord/lambdaSchedule`` (mixed data), ``RunRecord/genTemperature``
    /// and ``RunRecord/maxNewTokens``; the trainer the objective, settings and ranks.
    public var record: RunRecord
    /// Called for each stage once it is started or resumed, before it trains; returns the
    /// stage's event handler (rank 0 alone reports events).
    public var observe: (StageStart) -> (TrainingEvent) -> Void

    public init(target: TransformerModel, tokenizer: Tokenizer, trainSet: PromptDataset, settings: TrainingSettings,
                lambdaSchedule: LambdaSchedule = .constant(0.5), sampling: SamplingSettings = SamplingSettings(temperature: 1),
                maxNewTokens: Int = 128, stopTokens: Set<Int> = [], teacherCache: TeacherCache? = nil,
                evaluate: ((TransformerModel) throws -> [String: Double])? = nil, communicator: Communicator = .single,
                resuming: Bool = false, stopAt: Int? = nil, record: RunRecord = RunRecord(stage: ""),
                observe: @escaping (StageStart) -> (TrainingEvent) -> Void = { _ in { _ in } }) {
        self.target = target; self.tokenizer = tokenizer; self.trainSet = trainSet; self.settings = settings
        self.lambdaSchedule = lambdaSchedule; self.sampling = sampling; self.maxNewTokens = maxNewTokens
        self.stopTokens = stopTokens; self.teacherCache = teacherCache; self.evaluate = evaluate
        self.communicator = communicator; self.resuming = resuming; self.stopAt = stopAt; self.record = record
        self.observe = observe
    }

    /// Trains `model` (in place) as `stage` says, against ``target`` and, for objectives that need
    /// one, `reference`: fixed data with a teacher cache reads the teacher from it; teacher data
    /// samples each prompt's response once from the target; student and mixed data sample from
    /// `model` as it trains. A resumed stage continues from its checkpoint with the batches an
    /// uninterrupted one draws.
    /// - Throws: the trainer's errors (settings, a checkpoint that does not match, a `run.json`
    ///   with another λ schedule, files).
    @discardableResult
    public func runStage(_ stage: DistillationStage, model: TransformerModel, reference: TransformerModel? = nil) throws -> StageOutcome {
        let dir = stage.directory, kind = stage.dataSource, steps = settings.steps
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let cached = (kind == .fixed && stage.objective.needsTeacher) ? teacherCache : nil
        let trainer = try Trainer(model: model, teacher: cached == nil ? target : nil, reference: reference, objective: stage.objective,
                                  settings: settings, runDirectory: dir, teacherFromCache: cached != nil, communicator: communicator)
        var record = self.record
        record.stage = stage.label
        record.dataSource = kind.rawValue
        record.lambdaSchedule = kind == .mixed ? lambdaSchedule : nil
        record.genTemperature = sampling.temperature
        record.maxNewTokens = maxNewTokens
        trainer.record = record
        try trainer.prepare(resuming: resuming)
        let finished = resuming && trainer.step >= steps
        let onEvent = observe(StageStart(stage: stage, teacherFromCache: cached != nil, alreadyFinished: finished, step: trainer.step))
        if finished { return StageOutcome(label: stage.label, directory: dir, step: trainer.step, state: .alreadyFinished) }
        let maxT = min(model.config.maxPositions, target.config.maxPositions, settings.context + 1 + maxNewTokens)
        let teacherSampler = kind == .teacher
            ? ResponseSampler(model: target, settings: sampling, maxNewTokens: maxNewTokens, stopTokens: stopTokens, maxT: maxT) : nil
        let studentSampler = kind == .student || kind == .mixed
            ? ResponseSampler(model: model, settings: sampling, maxNewTokens: maxNewTokens, stopTokens: stopTokens, maxT: maxT) : nil
        let source = try DistillationSource(dataset: trainSet, tokenizer: tokenizer, kind: kind, schedule: lambdaSchedule,
                                            gradAccum: settings.gradAccum, startStep: trainer.step,
                                            teacher: teacherSampler, student: studentSampler)
        trainer.onEvent = onEvent
        if let cached {
            var cachedSource = try TeacherCacheSource(dataset: trainSet, tokenizer: tokenizer, cache: cached,
                                                      withStates: model.config.featureStaleness > 0)
            try trainer.run(source: &cachedSource, evaluate: evaluate, stopAt: stopAt)
        } else {
            var source = source
            try trainer.run(source: &source, evaluate: evaluate, stopAt: stopAt)
        }
        return StageOutcome(label: stage.label, directory: dir, step: trainer.step, state: trainer.step < steps ? .stopped : .finished)
    }
}

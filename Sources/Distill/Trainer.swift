import Cluster
import Foundation
import Tensor
import Transformer

/// Settings of a training run (recorded in the run directory; `--resume` checks they match).
public struct TrainingSettings: Codable, Equatable, Sendable {
    public var steps: Int = 1000
    /// B (sequences per micro-batch) and T (tokens per sequence).
    public var batchSize: Int = 8
    public var context: Int = 256
    /// Micro-batches per optimizer step, over all ranks of a data-parallel job (each of N ranks
    /// runs gradAccum / N of them), so the global batch — and a resumed run — does not depend on N.
    public var gradAccum: Int = 1
    public var optimizer = AdamWSettings()
    public var schedule: LearningRateSchedule = .cosine
    public var warmup: Int = 0
    /// Global gradient-norm clip (0 = off).
    public var clip: Double = 1.0
    public var seed: UInt64 = 1
    /// Checkpoint every N steps (0 = only at the end).
    public var saveEvery: Int = 0
    /// Evaluate every N steps (0 = only before and after).
    public var evalEvery: Int = 0
    /// The draft's trimmed output layer while training: token ids (ascending) whose logits the
    /// draft computes; the objective compares the draft with the teacher conditioned on them
    /// (``LogitWidth/gatherColumns(_:width:ids:into:targets:rows:)``). nil: the whole vocabulary.
    public var outputSubset: [Int]? = nil
    public init() {}
}

/// A generic training loop: batches from a ``BatchSource``, forward, an ``Objective`` (with teacher
/// logits when it needs them), backward, gradient clipping, AdamW and a learning-rate schedule.
/// Checkpoints (model directory + optimizer moments + trainer state with the RNG) are written to
/// a temporary directory and renamed, so an interrupted run resumes from the last complete one.
/// With a run directory the trainer writes the run's files there itself (``RunLog``): `run.json`
/// from ``record``, `metrics.jsonl` and `evaluations.jsonl` — on rank 0 only.
public final class Trainer {
    public let model: TransformerModel
    public let teacher: TransformerModel?
    /// AdaSPEC's reference model (forward only), when the objective needs one.
    public let reference: TransformerModel?
    public var objective: any Objective
    public let settings: TrainingSettings
    public let runDirectory: URL?
    public let optimizer: AdamW
    /// The ranks sharing each step (``Communicator/single`` for one process); see Trainer+DataParallel.
    public let communicator: Communicator
    public private(set) var step = 0
    /// Seconds the last step waited for the slowest rank, and of its gradient all-reduce (nil for
    /// one process).
    public internal(set) var lastReduction: (wait: Double, allReduce: Double)?
    /// The step's gradient sum when a rank runs more than one micro-batch (see Trainer+DataParallel).
    let gradientSum: Tensor?
    public private(set) var rng: RandomGenerator
    /// Receives events; set before ``run(source:evaluate:stopAt:)``.
    public var onEvent: (TrainingEvent) -> Void = { _ in }
    /// What the run is, written as `run.json` when ``run(source:evaluate:stopAt:)`` starts (with
    /// the objective's metadata, the settings and the rank count filled in); nil: no `run.json`.
    /// ``resume()`` checks it against the `run.json` of the run it continues.
    public var record: RunRecord?
    private let workspace: TrainingWorkspace
    private let teacherWorkspace: TrainingWorkspace?
    private let referenceWorkspace: TrainingWorkspace?
    private let dLogits: Tensor
    /// The teacher's / reference's logits at the student's width, when the widths differ.
    private let teacherAdapted: Tensor?, referenceAdapted: Tensor?
    /// The teacher's / reference's logits at the output subset's columns (B, T, |S|), with a subset.
    private let teacherGathered: Tensor?, referenceGathered: Tensor?
    /// The trimmed head's vocabulary ids, for objectives against a sparse (cached) teacher.
    private let studentIDs: StudentIDs?

    /// - Parameters:
    ///   - teacherFromCache: batches carry the teacher (``TrainingBatch/cachedTeacher``), so no
    ///     teacher model is needed and no teacher forward runs.
    ///   - communicator: the ranks of a data-parallel job; `settings.gradAccum` must be a multiple
    ///     of their number.
    public init(model: TransformerModel, teacher: TransformerModel? = nil, reference: TransformerModel? = nil,
                objective: any Objective, settings: TrainingSettings, runDirectory: URL?, teacherFromCache: Bool = false,
                communicator: Communicator = .single) throws {
        guard settings.batchSize > 0, settings.context > 0, settings.steps >= 0, settings.gradAccum > 0 else {
            throw DistillError.settings("batch size, context and grad-accum must be positive and steps non-negative")
        }
        guard settings.context <= model.config.maxPositions else {
            throw DistillError.settings("--context \(settings.context) exceeds the model's maximum of \(model.config.maxPositions) positions")
        }
        guard settings.gradAccum % communicator.size == 0 else {
            throw DistillError.settings("--grad-accum \(settings.gradAccum) (micro-batches per step over all ranks) is not a multiple of the \(communicator.size) ranks; use --grad-accum \(communicator.size * max(1, settings.gradAccum / communicator.size)) or run \(settings.gradAccum) ranks")
        }
        if objective.needsTeacher && teacher == nil && !teacherFromCache {
            throw DistillError.settings("objective '\(objective.name)' needs a teacher model")
        }
        if objective.needsReference && reference == nil {
            throw DistillError.settings("objective '\(objective.name)' needs a reference model")
        }
        // Logit widths may differ by padding (checked against the tokenizer by SharedVocabulary);
        // the teacher's and reference's logits are re-laid to the student's width (LogitWidth).
        self.model = model
        self.teacher = teacher
        self.reference = reference
        self.objective = objective
        self.settings = settings
        self.runDirectory = runDirectory
        self.communicator = communicator
        self.gradientSum = settings.gradAccum / communicator.size > 1 ? Tensor(zeros: [model.gradients.count]) : nil
        self.optimizer = AdamW(parameters: model.parameters, settings: settings.optimizer)
        self.rng = RandomGenerator(seed: settings.seed)
        self.workspace = TrainingWorkspace(config: model.config, B: settings.batchSize, T: settings.context)
        if let ids = settings.outputSubset {
            guard !ids.isEmpty, zip(ids, ids.dropFirst()).allSatisfy({ $0 < $1 }), ids.first! >= 0,
                  ids.last! < model.config.vocabSize else {
                throw DistillError.settings("the output subset must be ascending unique token ids below \(model.config.vocabSize)")
            }
            guard objective.needsTeacher else {
                throw DistillError.settings("an output subset needs a teacher-based objective ('\(objective.name)' scores target ids, not subset columns)")
            }
            workspace.setOutputSubset(ids)
        }
        self.studentIDs = workspace.headIDs.map { StudentIDs($0) }
        self.teacherWorkspace = teacher.map { TrainingWorkspace(config: $0.config, B: settings.batchSize, T: settings.context) }
        self.referenceWorkspace = reference.map { TrainingWorkspace(config: $0.config, B: settings.batchSize, T: settings.context) }
        self.dLogits = Tensor(zeros: [settings.batchSize, settings.context, workspace.headWidth])
        let V = model.config.vocabSize, subset = settings.outputSubset != nil
        self.teacherAdapted = teacher.flatMap { $0.config.vocabSize == V ? nil : Tensor(zeros: [settings.batchSize, settings.context, V]) }
        self.referenceAdapted = reference.flatMap { $0.config.vocabSize == V ? nil : Tensor(zeros: [settings.batchSize, settings.context, V]) }
        self.teacherGathered = subset && teacher != nil ? Tensor(zeros: [settings.batchSize, settings.context, workspace.headWidth]) : nil
        self.referenceGathered = subset && reference != nil ? Tensor(zeros: [settings.batchSize, settings.context, workspace.headWidth]) : nil
    }

    /// Runs one optimizer step (gradAccum micro-batches); returns its metrics.
    public func trainStep<S: BatchSource>(source: inout S) throws -> (loss: Double, tokens: Int, gradNorm: Double, lr: Float) {
        let s = settings
        model.gradients.zero()
        var lossSum = 0.0, tokens = 0
        // Every rank draws every micro-batch of the step (same RNG), and computes only its slice;
        // each micro-batch's gradient is summed on its own (Trainer+DataParallel).
        let mine = localMicroBatches
        for j in 0..<s.gradAccum {
            guard mine.contains(j) else { try source.skipBatch(B: s.batchSize, T: s.context, rng: &rng); continue }
            let batch = try source.nextBatch(B: s.batchSize, T: s.context, rng: &rng)
            // Objectives give unsupervised rows no gradient, so every output layer runs only at
            // the supervised rows (TransformerModel+TrainingHead).
            for ws in [workspace, teacherWorkspace, referenceWorkspace] { ws?.setScoredRows(targets: batch.targets) }
            let cached = batch.cachedTeacher
            if objective.needsTeacher && cached == nil && teacher == nil {
                throw DistillError.settings("objective '\(objective.name)' needs a teacher: the batch has no cached teacher and no teacher model was given")
            }
            if let teacher, let tw = teacherWorkspace, objective.needsTeacher || workspace.features != nil, cached == nil {
                teacher.forward(tokens: batch.tokens, workspace: tw)
            }
            if let fs = workspace.features { try feedTargetStates(fs, batch: batch, microBatch: j) }
            model.forward(tokens: batch.tokens, workspace: workspace)
            if let reference, let rw = referenceWorkspace, objective.needsReference {
                reference.forward(tokens: batch.tokens, workspace: rw)
            }
            dLogits.fill(0)
            let V = model.config.vocabSize, rows = s.batchSize * s.context
            var teacherLogits = teacherWorkspace.map { UnsafePointer($0.logits.pointer) }
            if let a = teacherAdapted, let tw = teacherWorkspace, let t = teacher, objective.needsTeacher, cached == nil {
                LogitWidth.adapt(tw.logits.pointer, fromWidth: t.config.vocabSize, into: a.pointer, toWidth: V, rows: rows)
                teacherLogits = UnsafePointer(a.pointer)
            }
            var referenceLogits = referenceWorkspace.map { UnsafePointer($0.logits.pointer) }
            if let a = referenceAdapted, let rw = referenceWorkspace, let r = reference, objective.needsReference {
                LogitWidth.adapt(rw.logits.pointer, fromWidth: r.config.vocabSize, into: a.pointer, toWidth: V, rows: rows)
                referenceLogits = UnsafePointer(a.pointer)
            }
            if let ids = workspace.headIDs {
                // A trimmed head against a dense teacher (and reference): their distributions
                // conditioned on the subset. A cached teacher is mapped by the objective instead.
                batch.targets.withUnsafeBufferPointer { targets in
                    if let g = teacherGathered, let t = teacherLogits, cached == nil {
                        LogitWidth.gatherColumns(t, width: V, ids: ids, into: g.pointer, targets: targets.baseAddress!, rows: rows)
                        teacherLogits = UnsafePointer(g.pointer)
                    }
                    if let g = referenceGathered, let r = referenceLogits {
                        LogitWidth.gatherColumns(r, width: V, ids: ids, into: g.pointer, targets: targets.baseAddress!, rows: rows)
                        referenceLogits = UnsafePointer(g.pointer)
                    }
                }
            }
            func evaluate(_ sparse: SparseTeacher?) -> ObjectiveResult {
                batch.targets.withUnsafeBufferPointer { targets in
                    objective.evaluate(
                        ObjectiveInput(B: s.batchSize, T: s.context, V: workspace.headWidth,
                                       studentLogits: workspace.logits.pointer,
                                       teacherLogits: objective.needsTeacher && sparse == nil ? teacherLogits : nil,
                                       referenceLogits: objective.needsReference ? referenceLogits : nil,
                                       targets: targets.baseAddress!, sparseTeacher: sparse,
                                       // A sparse teacher keeps vocabulary ids: the objective maps
                                       // them to the trimmed head's columns (bucketed, conditioned on S).
                                       studentIDs: sparse != nil ? studentIDs : nil),
                        dLogits: dLogits.pointer, scale: 1 / Float(s.gradAccum))
                }
            }
            let result = if let cached, objective.needsTeacher { cached.withSparseTeacher { evaluate($0) } } else { evaluate(nil) }
            model.backward(dLogits: dLogits.pointer, workspace: workspace)
            accumulateMicroBatch(j, of: mine)
            lossSum += result.loss
            tokens += result.tokens
        }
        try reduceGradients(lossSum: &lossSum, tokens: &tokens)
        let norm = GradientClipping.clip(model.gradients, maxNorm: s.clip)
        let lr = s.schedule.rate(step: step, total: s.steps, warmup: s.warmup, base: s.optimizer.learningRate)
        optimizer.step(parameters: model.parameters, gradients: model.gradients, lr: lr)
        step += 1
        return (lossSum / Double(s.gradAccum), tokens, norm, lr)
    }

    /// The feature input of a draft that reads the target's states (``FeatureStaleness``): from the
    /// batch's cached states, else from the teacher forward that just ran.
    private func feedTargetStates(_ fs: FeatureScratch, batch: TrainingBatch, microBatch j: Int) throws {
        let s = settings, D = model.config.featureStaleness
        var rng = FeatureStaleness.generator(seed: s.seed, step: step, microBatch: j)
        if let cached = batch.cachedTeacher {
            guard cached.stateWidth == fs.Cf else {
                throw DistillError.settings("the draft reads the target's hidden states (width \(fs.Cf)) and the batch's teacher cache holds \(cached.stateWidth == 0 ? "none" : "width \(cached.stateWidth)"): build the cache with --states")
            }
            cached.states.withUnsafeBufferPointer {
                FeatureStaleness.fill(fs, states: $0.baseAddress!, targets: batch.targets, B: s.batchSize, T: s.context, D: D, rng: &rng)
            }
        } else if let tw = teacherWorkspace, let t = teacher, t.config.hiddenSize == fs.Cf {
            FeatureStaleness.fill(fs, states: tw.finalHidden, targets: batch.targets, B: s.batchSize, T: s.context, D: D, rng: &rng)
        } else {
            throw DistillError.settings("the draft reads the target's hidden states (width \(fs.Cf)): give it the target as teacher (hidden size \(fs.Cf)) or a teacher cache built with --states")
        }
    }

    /// Trains until `settings.steps`, reporting progress, evaluating and checkpointing.
    /// - Parameters:
    ///   - evaluate: optional evaluation (metrics by name) run before the first step, every
    ///     `evalEvery` steps and at the end.
    ///   - stopAt: ends this run after that step with a checkpoint (no final evaluation), so a job
    ///     fits a time limit and continues with ``resume()``: the run is the same as without it.
    public func run<S: BatchSource>(source: inout S, evaluate: ((TransformerModel) throws -> [String: Double])? = nil,
                                    stopAt: Int? = nil) throws {
        let start = Date()
        try synchronizeRanks()
        // Rank 0 alone reports, evaluates and writes (metrics, checkpoints); the others wait for it
        // in the next collective.
        let root = communicator.isRoot
        let evaluate = root ? evaluate : nil
        let onEvent: (TrainingEvent) -> Void = root ? self.onEvent : { _ in }
        if root { try writeRecord() }
        onEvent(.started(totalSteps: settings.steps, resumedAt: step))
        // Each evaluation is logged (rank 0 alone evaluates), then reported.
        func evaluation(_ evaluate: (TransformerModel) throws -> [String: Double]) throws {
            try RunLog.evaluate(model, step: step, in: runDirectory, with: evaluate, onEvent: onEvent)
        }
        if let evaluate, step == 0 { try evaluation(evaluate) }
        var totalTokens = 0
        let end = min(settings.steps, stopAt ?? settings.steps)
        while step < end {
            let t0 = Date()
            let r = try trainStep(source: &source)
            totalTokens += r.tokens
            let dt = Date().timeIntervalSince(t0)
            let metrics = StepMetrics(step: step, loss: r.loss, learningRate: r.lr, gradNorm: r.gradNorm, tokens: r.tokens,
                                      tokensPerSecond: Double(settings.batchSize * settings.context * settings.gradAccum) / max(dt, 1e-9),
                                      elapsedSeconds: Date().timeIntervalSince(start),
                                      allReduceSeconds: lastReduction?.allReduce, rankWaitSeconds: lastReduction?.wait,
                                      statistics: objective.stepStatistics)
            if root { try appendMetrics(metrics) }
            onEvent(.step(metrics))
            // Evaluate before checkpointing: a run killed in between redoes both on resume, so the
            // evaluation log holds each step once (RunLog).
            if let evaluate, settings.evalEvery > 0 && step % settings.evalEvery == 0 && step < settings.steps {
                try evaluation(evaluate)
            }
            if settings.saveEvery > 0 && step % settings.saveEvery == 0 && step < end { try saveCheckpoint() }
        }
        if step < settings.steps {
            try saveCheckpoint()
            onEvent(.finished(step: step, seconds: Date().timeIntervalSince(start)))
            return
        }
        if let evaluate { try evaluation(evaluate) }
        try saveCheckpoint()
        onEvent(.finished(step: step, seconds: Date().timeIntervalSince(start)))
    }

    func restore(step: Int, rng: RandomGenerator) {
        self.step = step
        self.rng = rng
    }

    private func appendMetrics(_ m: StepMetrics) throws { try RunCheckpoint.appendMetrics(m, in: runDirectory) }

    /// Writes ``record`` as `run.json`, with this trainer's objective metadata, settings and ranks.
    private func writeRecord() throws {
        guard var record, let runDirectory else { return }
        record.objective = objective.metadata
        record.settings = settings
        record.ranks = communicator.size
        try record.write(in: runDirectory)
    }
}

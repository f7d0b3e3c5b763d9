import Foundation
import Tensor
import Transformer

/// Settings of a PCL distillation run beyond ``TrainingSettings`` (recorded; `--resume` checks them).
public struct PCLRunSettings: Codable, Equatable, Sendable {
    public var pcl = PCLSettings()
    /// Probability of fresh on-policy rollouts per batch (lambda_on).
    public var lambdaOn: Double = 0.5
    public var offPolicy: [PCLDemonstration] = [.dataset, .replay]
    public var replaySize: Int = 256
    /// The help budgets (empty: no `<help>` action).
    public var budgets: [Double] = []
    /// eta of the dual ascent on the budget multipliers.
    public var dualLearningRate: Double = 1
    /// Sampling temperature of the rollouts.
    public var rolloutTemperature: Float = 1
    public var maxNewTokens: Int = 128
    public init() {}
}

/// The PCL training loop (algorithms.md §5): a batch of paths from a ``PCLSource``, the student's
/// and teacher's forward on the packed tokens, rewards from the teacher (shaped by the budget
/// multipliers), ``PCLObjective``, backward, global-norm clipping, AdamW, then — after on-policy
/// batches — dual ascent on each budget's multiplier toward its measured teacher fraction.
/// Checkpoints hold the model, the optimizer moments, the RNG, the multipliers and the replay
/// buffer, so a resumed run continues exactly. With a run directory it writes the run's files
/// there as ``Trainer`` does (``RunLog``): `run.json` from ``record``, `metrics.jsonl` (the PCL
/// fields of ``StepMetrics``) and `evaluations.jsonl`.
public final class PCLTrainer {
    public let model: TransformerModel
    public let teacher: TransformerModel
    public let settings: TrainingSettings
    public let run: PCLRunSettings
    public let runDirectory: URL?
    public let optimizer: AdamW
    public var objective: PCLObjective
    public internal(set) var multipliers: BudgetMultipliers
    public internal(set) var step = 0
    public internal(set) var rng: RandomGenerator
    public var onEvent: (TrainingEvent) -> Void = { _ in }
    /// What the run is, written as `run.json` when ``train(source:evaluate:)`` starts (with the
    /// objective's metadata, the settings and the PCL settings filled in); nil: no `run.json`.
    public var record: RunRecord?
    private let workspace: TrainingWorkspace, teacherWorkspace: TrainingWorkspace
    private let dLogits: Tensor
    private var rewards: [Float]

    public init(model: TransformerModel, teacher: TransformerModel, settings: TrainingSettings, run: PCLRunSettings,
                runDirectory: URL?) throws {
        guard settings.batchSize > 0, settings.context > 1, settings.steps >= 0, settings.gradAccum > 0 else {
            throw DistillError.settings("batch size and grad-accum must be positive, context ≥ 2 and steps non-negative")
        }
        guard settings.context <= model.config.maxPositions, settings.context <= teacher.config.maxPositions else {
            throw DistillError.settings("--context \(settings.context) exceeds a model's maximum of \(min(model.config.maxPositions, teacher.config.maxPositions)) positions")
        }
        try run.pcl.validate()
        if !run.budgets.isEmpty && model.config.helpTokenID == nil {
            throw DistillError.settings("help budgets need a student with a help action (HelpAction.adding(to:))")
        }
        self.model = model; self.teacher = teacher; self.settings = settings; self.run = run
        self.runDirectory = runDirectory
        optimizer = AdamW(parameters: model.parameters, settings: settings.optimizer)
        objective = PCLObjective(settings: run.pcl)
        multipliers = BudgetMultipliers(budgets: run.budgets, learningRate: run.dualLearningRate)
        rng = RandomGenerator(seed: settings.seed)
        workspace = TrainingWorkspace(config: model.config, B: settings.batchSize, T: settings.context)
        teacherWorkspace = TrainingWorkspace(config: teacher.config, B: settings.batchSize, T: settings.context)
        dLogits = Tensor(zeros: [settings.batchSize, settings.context, model.config.vocabSize])
        rewards = [Float](repeating: 0, count: settings.batchSize * settings.context)
    }

    /// One optimizer step (gradAccum batches); returns its metrics without the timing
    /// (``StepMetrics/elapsedSeconds`` 0).
    public func trainStep(source: PCLSource) throws -> StepMetrics {
        let s = settings, rows = s.batchSize * s.context
        model.gradients.zero()
        var lossSum = 0.0, windows = 0
        var kinds: [String] = []
        var help = 0, actions = 0
        var counts: [Int: (help: Int, actions: Int)] = [:]
        for _ in 0..<s.gradAccum {
            let batch = try source.nextBatch(B: s.batchSize, T: s.context, rng: &rng)
            kinds.append(batch.kind)
            model.forward(tokens: batch.tokens, workspace: workspace)
            teacher.forward(tokens: batch.tokens, workspace: teacherWorkspace)
            var penalty = [Float](repeating: 0, count: rows)
            for b in 0..<s.batchSize where batch.budgetIndex[b] >= 0 {
                let l = Float(multipliers.lambdas[batch.budgetIndex[b]])
                for t in 0..<s.context { penalty[b * s.context + t] = l }
            }
            PCLRewards.fill(&rewards, teacherLogits: teacherWorkspace.logits.pointer, Vt: teacher.config.vocabSize,
                            textTargets: batch.textTargets, actions: batch.actions, helpID: model.config.helpTokenID, penalty: penalty)
            dLogits.fill(0)
            let input = PCLInput(B: s.batchSize, T: s.context, V: model.config.vocabSize, studentLogits: workspace.logits.pointer,
                                 actions: batch.actions, rewards: rewards, bootstrap: batch.bootstrap)
            let result = objective.evaluate(input, dLogits: dLogits.pointer, scale: 1 / Float(s.gradAccum))
            model.backward(dLogits: dLogits.pointer, workspace: workspace)
            lossSum += result.loss
            windows += result.tokens
            if batch.kind == "student" {
                for (k, c) in batch.helpCounts {
                    help += c.help; actions += c.actions
                    let old = counts[k] ?? (0, 0)
                    counts[k] = (old.help + c.help, old.actions + c.actions)
                }
            }
        }
        let norm = GradientClipping.clip(model.gradients, maxNorm: s.clip)
        let lr = s.schedule.rate(step: step, total: s.steps, warmup: s.warmup, base: s.optimizer.learningRate)
        optimizer.step(parameters: model.parameters, gradients: model.gradients, lr: lr)
        for k in counts.keys.sorted() { multipliers.update(k, helpActions: counts[k]!.help, actions: counts[k]!.actions) }
        step += 1
        return StepMetrics(step: step, loss: lossSum / Double(s.gradAccum), learningRate: lr, gradNorm: norm, tokens: windows,
                           elapsedSeconds: 0, source: kinds.joined(separator: ","),
                           teacherFraction: actions > 0 ? Double(help) / Double(actions) : nil, multipliers: multipliers.lambdas)
    }

    /// Trains until `settings.steps`, checkpointing every `saveEvery` steps and at the end.
    /// - Parameter evaluate: optional evaluation (metrics by name), run before the first step and
    ///   at the end, before the final checkpoint (so a resumed run logs each evaluation once).
    public func train(source: PCLSource, evaluate: ((TransformerModel) throws -> [String: Double])? = nil) throws {
        let start = Date()
        try writeRecord()
        onEvent(.started(totalSteps: settings.steps, resumedAt: step))
        func evaluation(_ evaluate: (TransformerModel) throws -> [String: Double]) throws {
            try RunLog.evaluate(model, step: step, in: runDirectory, with: evaluate, onEvent: onEvent)
        }
        if let evaluate, step == 0 { try evaluation(evaluate) }
        while step < settings.steps {
            var m = try trainStep(source: source)
            m.elapsedSeconds = Date().timeIntervalSince(start)
            try appendMetrics(m)
            onEvent(.step(m))
            if settings.saveEvery > 0 && step % settings.saveEvery == 0 && step < settings.steps { try saveCheckpoint(source: source) }
        }
        if let evaluate { try evaluation(evaluate) }
        try saveCheckpoint(source: source)
        onEvent(.finished(step: step, seconds: Date().timeIntervalSince(start)))
    }

    private func appendMetrics(_ m: StepMetrics) throws { try RunCheckpoint.appendMetrics(m, in: runDirectory) }

    /// Writes ``record`` as `run.json`, with the objective's metadata, the settings and the PCL settings.
    private func writeRecord() throws {
        guard var record, let runDirectory else { return }
        record.objective = objective.metadata
        record.settings = settings
        record.pcl = run
        try record.write(in: runDirectory)
    }
}

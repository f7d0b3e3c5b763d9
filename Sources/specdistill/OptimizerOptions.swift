import ArgumentParser
import SpecDistill

/// The batch and optimisation flags `train` and `pretrain` share, declared once. Distilling a
/// draft and pretraining from scratch want different batch sizes, learning rates and schedules,
/// so those flags are optional here and each command supplies its ``Defaults``.
struct OptimizerOptions: ParsableArguments {
    /// A command's values for the flags left out.
    struct Defaults {
        var batchSize: Int, learningRate: Float, schedule: LearningRateSchedule, warmup: Int
        static let train = Defaults(batchSize: 8, learningRate: 3e-4, schedule: .constant, warmup: 0)
        static let pretrain = Defaults(batchSize: 16, learningRate: 1e-3, schedule: .cosine, warmup: 50)
    }

    @Option(name: .customLong("batch-size"), help: "Sequences per micro-batch, B (default: train 8, pretrain 16).")
    var batchSize: Int?
    @Option(name: .customLong("grad-accum"), help: "Micro-batches per step, over all ranks of an mpirun job (a multiple of the ranks).")
    var gradAccum = 1
    @Option(help: "Peak learning rate (default: train 3e-4, pretrain 1e-3).")
    var lr: Float?
    @Option(name: .customLong("weight-decay"), help: "AdamW weight decay (matrices only).")
    var weightDecay: Float = 0.1
    @Option(help: "Learning-rate schedule: constant or cosine (default: train constant, pretrain cosine).")
    var schedule: LearningRateSchedule?
    @Option(help: "Linear warm-up steps (default: train 0, pretrain 50).")
    var warmup: Int?
    @Option(help: "Clip the global gradient norm to this value (0 = off).")
    var clip: Double = 1

    func validate() throws {
        if let batchSize, batchSize < 1 { throw ValidationError("--batch-size must be ≥ 1, got \(batchSize)") }
        if gradAccum < 1 { throw ValidationError("--grad-accum must be ≥ 1, got \(gradAccum)") }
        if let lr, !(lr > 0) { throw ValidationError("--lr must be > 0, got \(lr)") }
        if !(weightDecay >= 0) { throw ValidationError("--weight-decay must be ≥ 0, got \(weightDecay)") }
        if let warmup, warmup < 0 { throw ValidationError("--warmup must be ≥ 0, got \(warmup)") }
        if !(clip >= 0) { throw ValidationError("--clip must be ≥ 0 (0 = off), got \(clip)") }
    }

    /// Writes batch size, accumulation, AdamW, schedule, warm-up and clip into `settings`.
    func apply(to settings: inout TrainingSettings, defaults: Defaults) {
        settings.batchSize = batchSize ?? defaults.batchSize; settings.gradAccum = gradAccum
        settings.optimizer = AdamWSettings(learningRate: lr ?? defaults.learningRate, weightDecay: weightDecay)
        settings.schedule = schedule ?? defaults.schedule
        settings.warmup = warmup ?? defaults.warmup; settings.clip = clip
    }
}

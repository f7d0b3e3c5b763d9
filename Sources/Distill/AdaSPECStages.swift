import Foundation
import Transformer

/// AdaSPEC's two stages (Hu et al. 2025; algorithms.md §4):
///
/// 1. **Reference** (skipped when a reference model is given): a copy of the draft's
///    initialisation distilled from the target with forward KL on fixed data (the dataset's
///    responses) into `OUT/reference`.
/// 2. **Draft**: another copy of the same initialisation trained with ``AdaSPECObjective`` —
///    forward KL on the fraction k of tokens with the largest loss gap to the reference — on the
///    run's data kind into `OUT/draft`.
///
/// Both stages share the ``DistillationRun`` (settings, steps per stage, evaluation, resume); each
/// directory is a run directory of its own (checkpoints, `run.json`, `metrics.jsonl`,
/// `evaluations.jsonl`). A resumed run finds a finished reference stage already finished (its
/// weights restored from its checkpoint) and continues the draft.
public struct AdaSPECStages {
    /// k ∈ (0, 1], the fraction of tokens kept by the draft's filter.
    public var keepFraction: Double
    /// Distillation temperature of both stages.
    public var temperature: Float
    /// Loss normalisation of the reference's forward KL.
    public var referenceNormalization: LossNormalization

    public init(keepFraction: Double = 0.4, temperature: Float = 1, referenceNormalization: LossNormalization = .perSequence) {
        self.keepFraction = keepFraction; self.temperature = temperature; self.referenceNormalization = referenceNormalization
    }

    /// Stage labels (in `run.json` and progress), as `specdistill train` has always written them.
    public static let referenceLabel = "reference (fkl, fixed data)"
    public var draftLabel: String { "draft (adaspec k=\(keepFraction))" }

    /// What ``run(_:initialisation:reference:dataSource:out:)`` produced.
    public struct Result {
        /// The reference model (trained in stage 1, or the one given).
        public var reference: TransformerModel
        /// The trained draft; nil when stage 1 stopped early (``DistillationRun/stopAt``).
        public var draft: TransformerModel?
        /// The stages run, in order (one when the reference was given, or when stage 1 stopped).
        public var outcomes: [StageOutcome]
        /// Whether every stage reached its last step (finished now or before).
        public var finished: Bool { draft != nil && outcomes.allSatisfy { $0.state != .stopped } }
    }

    /// Runs the stages into `out/reference` and `out/draft`. `initialisation` is not modified:
    /// each stage trains a copy of it.
    /// - Parameters:
    ///   - reference: a given reference model (skips stage 1).
    ///   - dataSource: the draft stage's data (the reference always uses fixed data).
    /// - Returns: the models and how each stage ended; the draft stage does not run when the
    ///   reference stage stopped early.
    public func run(_ run: DistillationRun, initialisation: TransformerModel, reference given: TransformerModel? = nil,
                    dataSource: DataSourceKind, out: URL) throws -> Result {
        let layers = Array(0..<initialisation.config.numLayers)
        var outcomes: [StageOutcome] = []
        let reference: TransformerModel
        if let given {
            reference = given
        } else {
            reference = try initialisation.truncatedCopy(layers: layers)
            let fkl = DistillationObjective(divergence: .forwardKL, temperature: temperature, normalization: referenceNormalization)
            let stage = DistillationStage(label: Self.referenceLabel, objective: fkl, dataSource: .fixed,
                                          directory: out.appendingPathComponent("reference"))
            outcomes.append(try run.runStage(stage, model: reference))
            if outcomes.last?.state == .stopped { return Result(reference: reference, draft: nil, outcomes: outcomes) }
        }
        let draft = try initialisation.truncatedCopy(layers: layers)
        let stage = DistillationStage(label: draftLabel, objective: AdaSPECObjective(keepFraction: keepFraction, temperature: temperature),
                                      dataSource: dataSource, directory: out.appendingPathComponent("draft"))
        outcomes.append(try run.runStage(stage, model: draft, reference: reference))
        return Result(reference: reference, draft: draft, outcomes: outcomes)
    }
}

import Foundation
import Tensor
import Tokenizers
import Transformer

/// Held-out evaluation of a draft against its target on fixed prompt/response pairs:
/// teacher-forced acceptance in both forms of algorithms.md §2.5 (sampling: mean Σ min(p, q);
/// greedy: mean 1[argmax p = argmax q]) and the forward KL, over response tokens only.
/// The batches are fixed (the first examples of the dataset), so numbers are comparable across
/// evaluations and runs.
public final class DistillationEvaluator {
    public let target: TransformerModel
    public let dataset: PromptDataset
    public let tokenizer: Tokenizer
    public let B: Int, T: Int
    public let temperature: Float
    /// The pair's measured costs (``DraftCost/measure(draft:target:draftOutputIDs:context:repetitions:maxGamma:onEvent:)``):
    /// when set, ``evaluate(_:)`` also predicts the speedup.
    public var costs: DraftCostMeasurement?
    private var batches: [TrainingBatch] = []

    public init(target: TransformerModel, dataset: PromptDataset, tokenizer: Tokenizer, examples: Int, B: Int, T: Int,
                temperature: Float = 1) throws {
        self.target = target; self.dataset = dataset; self.tokenizer = tokenizer
        self.B = B; self.T = T; self.temperature = temperature
        let n = min(examples, dataset.examples.count)
        guard n > 0 else { throw DistillError.data("the evaluation set is empty") }
        let pad = tokenizer.padTokenID ?? tokenizer.eosTokenID ?? 0
        var i = 0
        while i < n {
            var tokens = [Int32](repeating: Int32(pad), count: B * T), targets = [Int32](repeating: -1, count: B * T)
            for b in 0..<B where i + b < n {
                guard let r = dataset.examples[i + b].response else {
                    throw DistillError.data("evaluation example \(i + b + 1) has no response; held-out data needs responses")
                }
                packExample(prompt: dataset.promptIDs(i + b, tokenizer: tokenizer),
                            response: PromptDataset.responseIDs(r, tokenizer: tokenizer),
                            T: T, pad: pad, tokens: &tokens, targets: &targets, row: b)
            }
            batches.append(TrainingBatch(B: B, T: T, tokens: tokens, targets: targets))
            i += B
        }
    }

    /// `acceptance_sampling`, `acceptance_greedy`, `fkl` (mean per supervised token) and `tokens`;
    /// then "will this draft pay?" (``DraftCost/forecast(greedyAlpha:samplingAlpha:costs:maxGamma:)``):
    /// expected tokens per target call for gamma = 1…8 under both forms of alpha and, with
    /// ``costs``, the predicted speedup at the best gamma.
    public func evaluate(_ draft: TransformerModel) -> [String: Double] {
        let wsDraft = TrainingWorkspace(config: draft.config, B: B, T: T)
        let wsTarget = TrainingWorkspace(config: target.config, B: B, T: T)
        var acceptance = TeacherForcedAcceptance(temperature: temperature)
        var fkl = DistillationObjective(divergence: .forwardKL, temperature: temperature, normalization: .perToken)
        let V = draft.config.vocabSize
        let scratch = Tensor(zeros: [B, T, V])
        let adapted = target.config.vocabSize == V ? nil : Tensor(zeros: [B, T, V])
        var klSum = 0.0, klTokens = 0
        for batch in batches {
            draft.forward(tokens: batch.tokens, workspace: wsDraft)
            target.forward(tokens: batch.tokens, workspace: wsTarget)
            var teacher = UnsafePointer(wsTarget.logits.pointer)
            if let adapted {
                LogitWidth.adapt(teacher, fromWidth: target.config.vocabSize, into: adapted.pointer, toWidth: V, rows: B * T)
                teacher = UnsafePointer(adapted.pointer)
            }
            batch.targets.withUnsafeBufferPointer { t in
                acceptance.add(student: wsDraft.logits.pointer, teacher: teacher, targets: t.baseAddress!,
                               rows: B * T, V: draft.config.vocabSize)
                let r = fkl.evaluate(ObjectiveInput(B: B, T: T, V: draft.config.vocabSize, studentLogits: wsDraft.logits.pointer,
                                                    teacherLogits: teacher, targets: t.baseAddress!),
                                     dLogits: scratch.pointer, scale: 0)
                klSum += r.loss * Double(r.tokens); klTokens += r.tokens
            }
        }
        var metrics = ["acceptance_sampling": acceptance.sampling, "acceptance_greedy": acceptance.greedy,
                       "fkl": klSum / Double(max(klTokens, 1)), "tokens": Double(acceptance.count)]
        metrics.merge(DraftCost.forecast(greedyAlpha: acceptance.greedy, samplingAlpha: acceptance.sampling, costs: costs)) { a, _ in a }
        return metrics
    }
}

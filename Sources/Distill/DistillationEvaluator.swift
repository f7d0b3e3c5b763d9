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
                guard dataset.examples[i + b].response != nil else {
                    throw DistillError.data("evaluation example \(i + b + 1) has no response; held-out data needs responses")
                }
                packExample(prompt: dataset.promptIDs(i + b, tokenizer: tokenizer),
                            response: dataset.responseIDs(i + b, tokenizer: tokenizer),
                            T: T, pad: pad, tokens: &tokens, targets: &targets, row: b)
            }
            batches.append(TrainingBatch(B: B, T: T, tokens: tokens, targets: targets))
            i += B
        }
    }

    /// `acceptance_sampling`, `acceptance_greedy`, `fkl` (mean per supervised token; with a trimmed
    /// head, against the target conditioned on the subset) and `tokens`; then "will this draft
    /// pay?" (``DraftCost/forecast(greedyAlpha:samplingAlpha:costs:maxGamma:)``): expected tokens
    /// per target call for gamma = 1…8 under both forms of alpha and, with ``costs``, the
    /// predicted speedup at the best gamma.
    /// - Parameter outputSubset: the draft's trimmed output layer (ascending token ids), evaluated
    ///   as decoding uses it: the draft's q is 0 outside the subset, the target's p is complete.
    public func evaluate(_ draft: TransformerModel, outputSubset: [Int]? = nil) -> [String: Double] {
        let wsDraft = TrainingWorkspace(config: draft.config, B: B, T: T)
        let wsTarget = TrainingWorkspace(config: target.config, B: B, T: T)
        wsDraft.setOutputSubset(outputSubset)
        let expanded = outputSubset.map { _ in Tensor(zeros: [B, T, draft.config.vocabSize]) }
        let gathered = outputSubset.map { Tensor(zeros: [B, T, $0.count]) }
        var acceptance = TeacherForcedAcceptance(temperature: temperature)
        var fkl = DistillationObjective(divergence: .forwardKL, temperature: temperature, normalization: .perToken)
        let V = draft.config.vocabSize
        let scratch = Tensor(zeros: [B, T, V])
        let adapted = target.config.vocabSize == V ? nil : Tensor(zeros: [B, T, V])
        var klSum = 0.0, klTokens = 0
        for (batchIndex, batch) in batches.enumerated() {
            wsDraft.setScoredRows(targets: batch.targets)
            wsTarget.setScoredRows(targets: batch.targets)
            target.forward(tokens: batch.tokens, workspace: wsTarget)
            if let fs = wsDraft.features, target.config.hiddenSize == fs.Cf {
                // A draft reading the target's states: staleness drawn as in training, from a
                // generator fixed per batch so every evaluation sees the same draws.
                var rng = FeatureStaleness.generator(seed: 0xE7A1, step: batchIndex, microBatch: 0)
                FeatureStaleness.fill(fs, states: wsTarget.finalHidden, targets: batch.targets, B: B, T: T,
                                      D: draft.config.featureStaleness, rng: &rng)
            }
            draft.forward(tokens: batch.tokens, workspace: wsDraft)
            var student = UnsafePointer(wsDraft.logits.pointer)
            if let expanded, let ids = wsDraft.headIDs {
                Self.expand(student, ids: ids, into: expanded.pointer, V: V, rows: B * T)
                student = UnsafePointer(expanded.pointer)
            }
            var teacher = UnsafePointer(wsTarget.logits.pointer)
            if let adapted {
                LogitWidth.adapt(teacher, fromWidth: target.config.vocabSize, into: adapted.pointer, toWidth: V, rows: B * T)
                teacher = UnsafePointer(adapted.pointer)
            }
            batch.targets.withUnsafeBufferPointer { t in
                acceptance.add(student: student, teacher: teacher, targets: t.baseAddress!,
                               rows: B * T, V: draft.config.vocabSize)
                // With a trimmed head the forward KL is the training objective's: against the target
                // conditioned on the subset (the unconditioned one is infinite).
                var klTeacher = teacher, klStudent = UnsafePointer(wsDraft.logits.pointer), width = wsDraft.headWidth
                if let gathered, let ids = wsDraft.headIDs {
                    LogitWidth.gatherColumns(teacher, width: V, ids: ids, into: gathered.pointer, targets: t.baseAddress!, rows: B * T)
                    klTeacher = UnsafePointer(gathered.pointer)
                } else {
                    klStudent = student; width = V
                }
                let r = fkl.evaluate(ObjectiveInput(B: B, T: T, V: width, studentLogits: klStudent,
                                                    teacherLogits: klTeacher, targets: t.baseAddress!),
                                     dLogits: scratch.pointer, scale: 0)
                klSum += r.loss * Double(r.tokens); klTokens += r.tokens
            }
        }
        var metrics = ["acceptance_sampling": acceptance.sampling, "acceptance_greedy": acceptance.greedy,
                       "fkl": klSum / Double(max(klTokens, 1)), "tokens": Double(acceptance.count)]
        metrics.merge(DraftCost.forecast(greedyAlpha: acceptance.greedy, samplingAlpha: acceptance.sampling, costs: costs)) { a, _ in a }
        return metrics
    }

    /// Subset logits (rows, |S|) laid out at full width V, with ``excludedLogit`` outside S.
    static func expand(_ source: UnsafePointer<Float>, ids: [Int32], into destination: UnsafeMutablePointer<Float>, V: Int, rows: Int) {
        let K = ids.count
        parallelFor(rows, minChunk: 8) { range in
            for r in range {
                let d = destination + r * V, s = source + r * K
                d.update(repeating: excludedLogit, count: V)
                for j in 0..<K { d[Int(ids[j])] = s[j] }
            }
        }
    }

    /// The logit of tokens outside a trimmed head: finite (0 · logit stays 0 in KL sums) and low
    /// enough that its probability underflows to 0 (the value decoding uses, `OutputSubset.excludedLogit`).
    static let excludedLogit: Float = -1e30
}

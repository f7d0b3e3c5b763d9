// The Benchmarks module owns the project's speed measurements of the runtime and of distillation,
// each against a yardstick measured in the same run: `bench model` (ModelBenchmark: training MFU
// against the sgemm peak, batch-1 decoding, append-k cost) and `bench distill`
// (DistillationBenchmark: a distillation step's FLOPs against the sgemm bound).

import Foundation
import Tensor
import Transformer
import Distill

/// `specdistill bench distill`: one distillation step (teacher forward, draft forward, objective,
/// draft backward, clipping + AdamW) timed phase by phase, with the FLOPs of each phase and the
/// `cblas_sgemm` rate measured in the same run as the yardstick.
///
/// FLOP counts (multiply-add = 2 FLOPs), per token of a (B, T) batch, for a model with L layers:
/// - forward of the layers: `2 · P_layers` (P_layers = parameters of the linear layers) plus
///   causal attention `2 · L · T · NH · HS` (scores and values, half of the T × T square);
/// - output layer: `2 · C · V_head` at each row where logits are computed (V_head = V, or the kept
///   rows of a trimmed head);
/// - backward: twice the forward of the same parts (input and weight gradients).
/// The step's bound is its FLOPs at the same-run sgemm rate; `fractionOfBound` is bound / measured.
public enum DistillationBenchmark {
    /// One timed phase.
    public struct Phase: Codable, Sendable {
        public var name: String
        public var seconds: Double
        public var gflop: Double
        public var gflops: Double { seconds > 0 ? gflop / seconds : 0 }
    }

    public struct Result: Codable, Sendable {
        public var teacherLayers: Int, draftLayers: Int
        public var B: Int, T: Int, V: Int, threads: Int
        /// Rows with a supervised target (where the loss and its gradient are computed).
        public var supervisedRows: Int
        /// Logit width of the draft's output layer (V, or the kept tokens of a trimmed head).
        public var draftHeadWidth: Int
        public var phases: [Phase]
        public var stepSeconds: Double
        public var stepGFLOP: Double
        public var sgemmGFLOPs: Double
        /// Seconds the step's FLOPs take at the sgemm rate ÷ measured seconds.
        public var fractionOfBound: Double
        public var tokensPerSecond: Double
    }

    /// Forward FLOPs of `config` over `rows` positions of sequences of length T, with the output
    /// layer applied at `headRows` rows of `headWidth` logits.
    public static func forwardGFLOP(_ c: ModelConfig, rows: Int, T: Int, headRows: Int, headWidth: Int) -> Double {
        let C = Double(c.hiddenSize), F = Double(c.intermediateSize), A = Double(c.numHeads * c.headSize)
        let perLayer = C * Double(c.qkvWidth) + A * C + C * F * (c.usesSwiGLU ? 3 : 2)
        let layers = 2 * perLayer * Double(c.numLayers) * Double(rows)
        let attention = 2 * Double(c.numLayers) * Double(T) * A * Double(rows)
        return (layers + attention + 2 * C * Double(headWidth) * Double(headRows)) / 1e9
    }

    /// Times `steps` distillation steps (median per phase, after one warm-up step) of forward KL
    /// from `teacher` into `draft` on random tokens, with the first `1 − supervisedFraction` of
    /// each sequence unsupervised (a prompt) and the rest supervised (a response).
    /// - Parameters:
    ///   - restrictHead: evaluate both output layers only at supervised rows (as the trainer does).
    ///   - draftVocabulary: the draft's trimmed output layer, K kept tokens (nil: all V); the
    ///     teacher's logits are gathered to those columns.
    public static func run(teacher: TransformerModel, draft: TransformerModel, B: Int, T: Int,
                           supervisedFraction: Double = 0.5, steps: Int = 3, restrictHead: Bool = true,
                           draftVocabulary: Int? = nil) throws -> Result {
        let V = draft.config.vocabSize
        guard teacher.config.vocabSize == V else {
            throw DistillError.vocabulary("bench distill: teacher and draft logit widths differ (\(teacher.config.vocabSize) vs \(V))")
        }
        let tw = TrainingWorkspace(config: teacher.config, B: B, T: T)
        let dw = TrainingWorkspace(config: draft.config, B: B, T: T)
        let adam = AdamW(parameters: draft.parameters, settings: AdamWSettings(learningRate: 1e-5))
        var rng = RandomGenerator(seed: 3)
        let tokens = (0..<(B * T)).map { _ in Int32(rng.next() % UInt64(V)) }
        let promptLength = Int((1 - supervisedFraction) * Double(T))
        let targets = (0..<(B * T)).map { r -> Int32 in
            let t = r % T
            return t >= promptLength && t < T - 1 ? tokens[r + 1] : -1
        }
        let supervised = targets.filter { $0 >= 0 }.count
        if restrictHead { tw.setScoredRows(targets: targets); dw.setScoredRows(targets: targets) }
        let ids: [Int32]? = draftVocabulary.map { k in (0..<min(k, V)).map(Int32.init) }
        if let ids { dw.setOutputSubset(ids.map(Int.init)) }
        let Vh = dw.headWidth
        let dLogits = Tensor(zeros: [B, T, Vh])
        let gathered = ids.map { _ in Tensor(zeros: [B, T, Vh]) }
        var objective = DistillationObjective(divergence: .forwardKL)
        var times: [[Double]] = Array(repeating: [], count: 5)
        for s in 0...steps {
            var t = ModelBenchmark.now()
            func lap(_ i: Int) { let u = ModelBenchmark.now(); if s > 0 { times[i].append(u - t) }; t = u }
            draft.gradients.zero()
            teacher.forward(tokens: tokens, workspace: tw)
            lap(0)
            draft.forward(tokens: tokens, workspace: dw)
            lap(1)
            dLogits.fill(0)
            _ = targets.withUnsafeBufferPointer {
                var teacherLogits = UnsafePointer(tw.logits.pointer)
                if let ids, let g = gathered {
                    LogitWidth.gatherColumns(tw.logits.pointer, width: V, ids: ids, into: g.pointer, targets: $0.baseAddress!, rows: B * T)
                    teacherLogits = UnsafePointer(g.pointer)
                }
                return objective.evaluate(ObjectiveInput(B: B, T: T, V: Vh, studentLogits: dw.logits.pointer,
                                                         teacherLogits: teacherLogits, targets: $0.baseAddress!),
                                          dLogits: dLogits.pointer, scale: 1)
            }
            lap(2)
            draft.backward(dLogits: dLogits.pointer, workspace: dw)
            lap(3)
            _ = GradientClipping.clip(draft.gradients, maxNorm: 1)
            adam.step(parameters: draft.parameters, gradients: draft.gradients, lr: 1e-5)
            lap(4)
        }
        let rows = B * T
        let headRows = restrictHead ? supervised : rows
        let teacherF = forwardGFLOP(teacher.config, rows: rows, T: T, headRows: headRows, headWidth: V)
        let draftF = forwardGFLOP(draft.config, rows: rows, T: T, headRows: headRows, headWidth: Vh)
        let names = ["teacher forward", "draft forward", "objective", "draft backward", "clip + AdamW"]
        let flops = [teacherF, draftF, 0, 2 * draftF, 0]
        let phases = (0..<5).map { Phase(name: names[$0], seconds: ModelBenchmark.median(times[$0]), gflop: flops[$0]) }
        let step = phases.reduce(0) { $0 + $1.seconds }, total = flops.reduce(0, +)
        let sgemm = ModelBenchmark.sgemmPeakGFLOPs(C: draft.config.hiddenSize)
        return Result(teacherLayers: teacher.config.numLayers, draftLayers: draft.config.numLayers, B: B, T: T, V: V,
                      threads: Threads.count, supervisedRows: supervised, draftHeadWidth: Vh, phases: phases, stepSeconds: step,
                      stepGFLOP: total, sgemmGFLOPs: sgemm, fractionOfBound: total / sgemm / step,
                      tokensPerSecond: Double(rows) / step)
    }
}

import Tensor
import Transformer

/// Mean next-token cross-entropy over fixed, non-overlapping windows of held-out tokens
/// (deterministic: the same windows every evaluation).
public struct ValidationLoss {
    public let tokens: [Int32]
    public let context: Int
    public let batchSize: Int
    /// At most this many windows are scored.
    public var maxWindows = 64

    public init(tokens: [Int32], context: Int, batchSize: Int) {
        self.tokens = tokens; self.context = context; self.batchSize = batchSize
    }

    /// `["val_loss": mean cross-entropy]` of `model` on the held-out windows.
    public func evaluate(_ model: TransformerModel) throws -> [String: Double] {
        let T = context
        let windows = min(maxWindows, (tokens.count - 1) / T)
        guard windows > 0 else { throw DistillError.data("held-out set of \(tokens.count) tokens is shorter than one window of \(T + 1)") }
        let B = min(batchSize, windows)
        let ws = TrainingWorkspace(config: model.config, B: B, T: T)
        var objective = CrossEntropyObjective()
        let scratch = Tensor(zeros: [B, T, model.config.vocabSize])
        var total = 0.0, count = 0
        var w = 0
        while w < windows {
            var x = [Int32](repeating: 0, count: B * T), y = [Int32](repeating: -1, count: B * T)
            for b in 0..<B where w + b < windows {
                let start = (w + b) * T
                for t in 0..<T { x[b * T + t] = tokens[start + t]; y[b * T + t] = tokens[start + t + 1] }
            }
            model.forward(tokens: x, workspace: ws)
            let r = y.withUnsafeBufferPointer {
                objective.evaluate(ObjectiveInput(B: B, T: T, V: model.config.vocabSize, studentLogits: ws.logits.pointer,
                                                  targets: $0.baseAddress!), dLogits: scratch.pointer, scale: 0)
            }
            total += r.loss * Double(r.tokens); count += r.tokens
            w += B
        }
        return ["val_loss": total / Double(max(count, 1))]
    }
}

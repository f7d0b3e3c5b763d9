import Foundation
import SpecDecode
import Tensor
import Transformer

/// A deterministic "transition" language model: the logits at a position are a fixed row of a
/// table chosen by the last `order` tokens (1 or 2; missing context reads as token 0). Batched
/// and single-step logits agree by construction, so a failing test points at decoding logic, not
/// at float rounding. It records its cache contents (`tokens`) and every append's size.
final class TransitionModel: DecodingModel {
    let logitWidth: Int
    let order: Int
    /// (V^order, logitWidth): row `context` holds the logits after that context.
    let table: [Float]
    let capacity: Int
    let batchInvariantRows = Int.max
    let weightBytesPerStep: Int
    private(set) var tokens: [Int] = []
    private(set) var appendSizes: [Int] = []

    init(width: Int, order: Int = 1, table: [Float], capacity: Int = 1 << 20, weightBytes: Int = 1) {
        precondition(order == 1 || order == 2, "order 1 or 2")
        precondition(table.count == (order == 1 ? width : width * width) * width, "table must be (V^order, V)")
        self.logitWidth = width; self.order = order; self.table = table; self.capacity = capacity
        self.weightBytesPerStep = weightBytes
    }

    var length: Int { tokens.count }

    /// The table row for the logits after `position`: its token, or (previous token, token).
    func context(at position: Int) -> Int {
        if order == 1 { return tokens[position] }
        return (position > 0 ? tokens[position - 1] : 0) * logitWidth + tokens[position]
    }

    func append(_ new: [Int]) throws -> Tensor {
        guard !new.isEmpty, tokens.count + new.count <= capacity else {
            throw SpecDecodeError.promptTooLong("transition model: \(tokens.count) + \(new.count) > \(capacity)")
        }
        for t in new { precondition(t >= 0 && t < logitWidth, "token \(t) outside the vocabulary") }
        tokens += new
        appendSizes.append(new.count)
        let n = new.count, V = logitWidth
        let out = Tensor(zeros: [n, V])
        for i in 0..<n {
            let row = context(at: tokens.count - n + i)
            for j in 0..<V { out.pointer[i * V + j] = table[row * V + j] }
        }
        return out
    }

    func truncate(to n: Int) {
        precondition(n >= 0 && n <= tokens.count, "truncate(to: \(n)) with \(tokens.count) positions")
        tokens.removeLast(tokens.count - n)
    }

    /// A copy with an empty cache.
    func fresh() -> TransitionModel {
        TransitionModel(width: logitWidth, order: order, table: table, capacity: capacity, weightBytes: weightBytesPerStep)
    }

    // MARK: Factories

    /// Normal(0, scale) logits for every context (`order` 1 or 2).
    static func random(V: Int, order: Int = 1, seed: UInt64, scale: Float = 2, capacity: Int = 1 << 20) -> TransitionModel {
        var rng = RandomGenerator(seed: seed)
        let rows = order == 1 ? V : V * V
        let table = (0..<(rows * V)).map { _ in rng.normal() * scale }
        return TransitionModel(width: V, order: order, table: table, capacity: capacity)
    }

    /// `base` plus Normal(0, noise) on every logit: a draft that mostly agrees with `base`.
    static func perturbed(_ base: TransitionModel, seed: UInt64, noise: Float) -> TransitionModel {
        var rng = RandomGenerator(seed: seed)
        return TransitionModel(width: base.logitWidth, order: base.order, table: base.table.map { $0 + noise * rng.normal() },
                               capacity: base.capacity)
    }

    /// Logits `log p` from probability rows (row = last token); p = 0 gives −∞.
    static func probabilities(_ rows: [[Double]], capacity: Int = 1 << 20) -> TransitionModel {
        let V = rows[0].count
        return TransitionModel(width: V, table: rows.flatMap { $0.map { $0 > 0 ? Float(Foundation.log($0)) : -Float.infinity } },
                               capacity: capacity)
    }

    /// Greedy next token `next(t)` (logit 4 for it, 0 elsewhere).
    static func cycle(V: Int, capacity: Int = 1 << 20, next: (Int) -> Int = { $0 + 1 }) -> TransitionModel {
        var table = [Float](repeating: 0, count: V * V)
        for t in 0..<V { table[t * V + next(t) % V] = 4 }
        return TransitionModel(width: V, table: table, capacity: capacity)
    }
}

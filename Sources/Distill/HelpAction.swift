import Foundation
import Tensor
import Transformer

/// The student's `<help>` action (algorithms.md §5.4): one extra output row past the model's
/// vocabulary. Taking it makes the teacher emit its greedy token (the text gets that token, not
/// a symbol) at cost 1; the id is recorded as `help_token_id` in the student's config.json.
public enum HelpAction {
    /// A copy of `model` with one more vocabulary row, the `<help>` action, at id V (the old
    /// vocabulary size): `embed.weight` (and `lm_head.weight` when untied) grow from (V, C) to
    /// (V + 1, C), every other parameter is copied.
    ///
    /// The new row is zero, so `<help>`'s logit is exactly 0 while a trained language model's
    /// logsumexp is large (SmolLM2-135M: ≈ 15–25 on text), making `p(<help>) = exp(−logsumexp)`
    /// tiny at first; ``initialHelpProbability(_:tokens:)`` measures it. The row is never an input
    /// (the text receives the teacher's token), so with tied embeddings it acts only as the head row.
    /// - Throws: when the model already has a help action.
    public static func adding(to model: TransformerModel) throws -> TransformerModel {
        if let h = model.config.helpTokenID {
            throw ModelError.invalidConfig("the model already has a help action (help_token_id \(h)); start from it as it is")
        }
        var c = model.config
        let V = c.vocabSize, C = c.hiddenSize
        c.vocabSize = V + 1
        c.helpTokenID = V
        let copy = try TransformerModel(config: c)
        model.materializeFloatWeights()
        for info in copy.parameters.infos {
            let dst = copy.parameters[info.name], src = model.parameters[info.name]
            if info.name == "embed.weight" || info.name == "lm_head.weight" {
                dst.fill(0)
                dst.pointer.update(from: src.pointer, count: V * C)
            } else {
                try dst.assign(src)
            }
        }
        return copy
    }

    /// Sets the `<help>` row so that its mean probability over the positions of `tokens` is
    /// `probability` (an exploration rate: a zero row gives SmolLM2 a probability near e^−20, so
    /// rollouts would never try help and PCL would never see its reward).
    ///
    /// The row is `c · Σ_j p̄_j w_j` — `w_j` the output rows, `p̄` the model's next-token
    /// distribution averaged over the positions — so `<help>`'s logit is `c · Σ_j p̄_j z_j`, a
    /// multiple of a weighted mean of the other logits, computable from the logits themselves;
    /// c is found by bisection on the mean help probability. With tied embeddings the row is also
    /// the (never used) input embedding of `<help>`.
    /// - Returns: the mean help probability reached.
    @discardableResult
    public static func calibrate(_ model: TransformerModel, tokens: [Int], probability: Double) throws -> Double {
        guard let h = model.config.helpTokenID else { throw ModelError.invalidConfig("calibrate: the model has no help action") }
        guard probability > 0 && probability < 1, !tokens.isEmpty else {
            throw ModelError.invalidConfig("calibrate: the probability must be in (0, 1) and the calibration text non-empty")
        }
        let c = model.config, V = c.vocabSize, C = c.hiddenSize, n = tokens.count
        let head = model.weights.lmHead
        (head + h * C).update(repeating: 0, count: C)
        let logits = try InferenceSession(model: model, maxT: n).append(tokens).array   // help logit 0 here
        var pBar = [Double](repeating: 0, count: V)
        var lse = [Double](repeating: 0, count: n), score = [Double](repeating: 0, count: n)
        for r in 0..<n {
            let row = logits.withUnsafeBufferPointer { $0.baseAddress! + r * V }
            var m = -Double.infinity
            for j in 0..<V where j != h { m = max(m, Double(row[j])) }
            var sum = 0.0
            for j in 0..<V where j != h { sum += exp(Double(row[j]) - m) }
            lse[r] = m + log(sum)
            for j in 0..<V where j != h { pBar[j] += exp(Double(row[j]) - lse[r]) / Double(n) }
        }
        for r in 0..<n {
            var s = 0.0
            for j in 0..<V where j != h { s += pBar[j] * Double(logits[r * V + j]) }
            score[r] = s
        }
        // Mean over positions of sigmoid(c·s_r − lse_r): the help probability with logit c·s_r.
        func mean(_ k: Double) -> Double {
            (0..<n).reduce(0.0) { acc, r in let x = k * score[r] - lse[r]; return acc + 1 / (1 + exp(-x)) } / Double(n)
        }
        // mean(k) is monotone in k (each term is a sigmoid of k·s_r); bracket the root, then bisect.
        let below0 = mean(0) < probability
        let up = (mean(1) > mean(0)) == below0
        var lo = 0.0, hi = up ? 1.0 : -1.0
        while (mean(hi) < probability) == below0 && abs(hi) < 1e6 { hi *= 2 }
        for _ in 0..<100 {
            let mid = (lo + hi) / 2
            if (mean(mid) < probability) == below0 { lo = mid } else { hi = mid }
        }
        let k = (lo + hi) / 2
        for col in 0..<C {
            var w = 0.0
            for j in 0..<V where j != h { w += pBar[j] * Double(head[j * C + col]) }
            head[h * C + col] = Float(k * w)
        }
        return mean(k)
    }

    /// The model's mean probability of `<help>` over the positions of `tokens` (a diagnostic of
    /// the initialisation; nil without a help action).
    public static func initialHelpProbability(_ model: TransformerModel, tokens: [Int]) throws -> Double? {
        guard let h = model.config.helpTokenID, !tokens.isEmpty else { return nil }
        let session = InferenceSession(model: model, maxT: tokens.count)
        let logits = try session.append(tokens)
        let V = model.config.vocabSize
        var total = 0.0
        for r in 0..<tokens.count {
            let row = logits.pointer + r * V
            total += exp(Double(row[h]) - softValue(row, V: V, tau: 1))
        }
        return total / Double(tokens.count)
    }
}

/// The teacher budget as stated in the prompt: "teacher budget: 20%" on its own line before the
/// user's text, so one student learns every operating point of the budget set.
public enum HelpBudget {
    /// `"teacher budget: P%\n" + text`, P the budget in percent rounded to an integer.
    public static func prompt(_ text: String, budget: Double) -> String {
        "teacher budget: \(Int((budget * 100).rounded()))%\n" + text
    }

    /// Parses "0,0.1,0.2" into budgets in [0, 1] (sorted, unique); throws naming a bad entry.
    public static func parse(_ list: String) throws -> [Double] {
        var out: [Double] = []
        for part in list.split(separator: ",") {
            guard let b = Double(part.trimmingCharacters(in: .whitespaces)), b >= 0, b <= 1 else {
                throw DistillError.settings("--help-budgets: '\(part)' is not a fraction in [0, 1]; give e.g. 0,0.1,0.2")
            }
            out.append(b)
        }
        guard !out.isEmpty else { throw DistillError.settings("--help-budgets is empty; give e.g. 0,0.1,0.2") }
        return Array(Set(out)).sorted()
    }
}

/// Lagrange multipliers of the budget constraints, one per budget (algorithms.md §5.4):
/// dual ascent `lambda_b ← max(0, lambda_b + eta (measured teacher fraction − b))` after each
/// on-policy batch, and the shaped reward `r' = r − lambda_b · c`.
public struct BudgetMultipliers: Codable, Equatable, Sendable {
    public var budgets: [Double]
    public var lambdas: [Double]
    /// eta, the dual step size.
    public var learningRate: Double

    public init(budgets: [Double], learningRate: Double, initial: Double = 0) {
        self.budgets = budgets; self.learningRate = learningRate
        lambdas = [Double](repeating: initial, count: budgets.count)
    }

    /// One dual-ascent step for budget index `i` given `helpActions` of `actions` on-policy actions.
    public mutating func update(_ i: Int, helpActions: Int, actions: Int) {
        guard actions > 0 else { return }
        let fraction = Double(helpActions) / Double(actions)
        lambdas[i] = max(0, lambdas[i] + learningRate * (fraction - budgets[i]))
    }
}

/// Rewards of PCL distillation: `r(s_u, a_u) = log softmax(u_u)[y_u]`, the teacher's
/// log-probability of the token `y_u` the text received (for `<help>` that is the teacher's own
/// token, so `r(s, <help>) = log p(teacher's token | s)`), minus `lambda · c` for help actions.
public enum PCLRewards {
    /// Writes `rewards[r]` for rows with `textTargets[r] ≥ 0` (0 elsewhere).
    /// - Parameters:
    ///   - teacherLogits: (rows, Vt) at the teacher's own width.
    ///   - textTargets: (rows) the next text token, −1 off the path.
    ///   - actions: (rows) the action taken; `helpID` marks help.
    ///   - penalty: (rows) `lambda_b` of each row's budget (the cost of a help action there).
    public static func fill(_ rewards: inout [Float], teacherLogits: UnsafePointer<Float>, Vt: Int, textTargets: [Int32],
                            actions: [Int32], helpID: Int?, penalty: [Float]) {
        let rows = textTargets.count
        precondition(rewards.count == rows && actions.count == rows && penalty.count == rows, "PCLRewards: row counts differ")
        rewards.withUnsafeMutableBufferPointer { rb in
            let rp = rb.baseAddress!
            parallelFor(rows, minChunk: 4) { range in
                for r in range {
                    let y = Int(textTargets[r])
                    guard y >= 0 else { rp[r] = 0; continue }
                    precondition(y < Vt, "PCLRewards: text token \(y) outside the teacher's width \(Vt)")
                    let row = teacherLogits + r * Vt
                    var reward = Double(row[y]) - softValue(row, V: Vt, tau: 1)
                    if let h = helpID, Int(actions[r]) == h { reward -= Double(penalty[r]) }
                    rp[r] = Float(reward)
                }
            }
        }
    }
}

import Foundation
import SpecDecode
import Tensor
import Transformer

/// Fits a ``HelpHead`` for a student–teacher pair (algorithms.md §5.4, extended by this project's design) in three stages:
/// 1. ``collect(prompts:onPrompt:)``: the student decodes each training prompt greedily on its
///    own, recording the head's raw features at every position; the teacher then reads prompt and
///    response in one batched append, and each position's target is the one-step gain
///    `g = max_j u_j − u[a_s]` (u the teacher's logits, a_s the student's greedy token — the
///    log-softmax normaliser cancels, so this is `log p_T(a*) − log p_T(a_s)`).
/// 2. ``fit(_:)``: features standardised, ridge regression (``Ridge``, LAPACKE) with ρ chosen from
///    a grid by the squared error on the last fifth of the prompts, then refitted on all; for the
///    product form (``Target/expectedStake``) ridge-penalised logistic regression (``LogisticRidge``)
///    with ρ chosen by the held-out log-loss.
/// 3. ``calibrate(_:budgets:prompts:rounds:onRound:)``: the multipliers λ_b by fixed-point
///    iteration on the states the policy itself visits — decode with λ_b, set λ_b to the gain above
///    which a fraction b of the visited positions lie, repeat — so the teacher fraction on these
///    prompts is b without any threshold at decoding time.
public struct HelpHeadFitter {
    public let student: TransformerModel
    public let teacher: TransformerModel
    /// The shared vocabulary (tokens either model may emit).
    public let vocabularySize: Int
    public let maxTokens: Int
    public let stopTokens: Set<Int>
    /// Read the student's hidden state (C features) besides the four logit statistics.
    public var useHidden: Bool
    /// The ridge grid of ``fit(_:)``, for standardised features.
    public var ridgeGrid: [Double] = [0.1, 1, 10, 100, 1000, 10000]
    /// ρ's multiplier (``Ridge/solve(x:y:rows:columns:rho:penalty:)``'s m_i) on the columns the
    /// fit leaves nearly free: the intercept always, and the logit statistics and position features
    /// of a head that also reads the hidden state. The C hidden-state weights get 1, so the largest
    /// ρ of the grid tends to the statistics-only fit instead of to a constant model (with one
    /// penalty for all, ρ = 10⁴ scored a held-out pseudo-R² of −0.96 on GSM8K, below the constant).
    public var lightPenalty = 1e-4
    /// What the head regresses on (`help-head --predict`): the one-step gain (the default), or the
    /// indicator that the student's greedy token is not the teacher's (a linear probability model of
    /// disagreement: what agreement with the teacher's text counts), or that indicator times the
    /// share of the answer still to come (``Target/atStake``).
    public var target: Target = .gain
    /// N of the head's position features (``HelpHead/horizon``; nil: none). `help-head --position` sets it to `-n`.
    public var horizon: Int?

    /// See ``target``.
    public enum Target: String, Codable, CaseIterable, Sendable {
        case gain, disagreement
        /// 1[a_s ≠ a*] · max(0, 1 − t/N) at response position t of N decoded tokens: the share of
        /// the answer a disagreement at t puts at risk, if the texts do not meet again. Greedy
        /// continuations that leave the teacher's text rarely return to it (the first disagreement
        /// is at median position 12 of 128 on GSM8K for the Qwen pair), so an early miss costs
        /// agreement with the teacher's text on most of what follows; the one-step targets weigh
        /// every position alike.
        case atStake = "at-stake"
        /// The product form (``HelpHead/stakeHorizon``): a logistic model of disagreement
        /// (``LogisticRidge``), times u = max(0, 1 − t/N) at decoding — the conditional expectation
        /// of the at-stake target, learning only its unknown factor.
        case expectedStake = "expected-stake"
    }

    public init(student: TransformerModel, teacher: TransformerModel, vocabularySize: Int, maxTokens: Int,
                stopTokens: Set<Int>, useHidden: Bool) {
        self.student = student; self.teacher = teacher; self.vocabularySize = vocabularySize
        self.maxTokens = maxTokens; self.stopTokens = stopTokens; self.useHidden = useHidden
    }

    /// Features and gains of the positions of the collected prompts.
    public struct Samples: Sendable {
        /// Features per position.
        public var width: Int
        /// (count, width) raw features, row-major.
        public var features: [Double] = []
        /// (count) one-step gains.
        public var gains: [Double] = []
        /// Index of the prompt of each position.
        public var prompt: [Int] = []
        public var count: Int { gains.count }
        /// Positions where the student's greedy token is the teacher's.
        public var agreements = 0
        /// Each position's index in its prompt's response (0-based): rows are stored prompt by
        /// prompt in decoding order.
        public var positions: [Int] {
            var out = [Int](repeating: 0, count: prompt.count)
            for r in prompt.indices.dropFirst() where prompt[r] == prompt[r - 1] { out[r] = out[r - 1] + 1 }
            return out
        }
        /// What the positions were collected from (``HelpHeadFitter/binding(student:teacher:prompts:maxTokens:)``):
        /// a file of samples is only reused by a run with the same binding.
        public var binding = ""
        public init(width: Int) { self.width = width }
    }

    /// An empty head of the right shape (its features describe this student).
    var shape: HelpHead {
        let F = (useHidden ? student.config.hiddenSize : 0) + HelpHead.logitFeatureCount
            + (horizon == nil ? 0 : HelpHead.positionFeatureCount)
        return HelpHead(hiddenSize: useHidden ? student.config.hiddenSize : 0, vocabularySize: vocabularySize,
                        mean: [Double](repeating: 0, count: F), scale: [Double](repeating: 1, count: F),
                        weights: [Double](repeating: 0, count: F), bias: 0, horizon: horizon,
                        stakeHorizon: target == .expectedStake ? maxTokens : nil)
    }

    /// Stage 1 (see the type's documentation). `onPrompt(done, total)` after each prompt. The
    /// samples hold no position features (``Samples/withPositionFeatures(horizon:)`` adds them).
    public func collect(prompts: [[Int]], onPrompt: (Int, Int) -> Void = { _, _ in }) throws -> Samples {
        var head = shape
        head.horizon = nil
        let V = vocabularySize, F = head.featureCount
        let maxT = (prompts.map(\.count).max() ?? 1) + maxTokens + 1
        let s = InferenceSession(model: student, maxT: min(maxT, student.config.maxPositions))
        let t = InferenceSession(model: teacher, maxT: min(maxT, teacher.config.maxPositions))
        var out = Samples(width: F)
        var row = [Double](repeating: 0, count: F)
        for (i, prompt) in prompts.enumerated() {
            var greedy: [Int] = []
            let first = out.count
            let r = try DecodingLoop.run(s, prompt: prompt, maxTokens: maxTokens, stopTokens: stopTokens, choose: { z in
                let hidden = useHidden ? s.lastHiddenStates.map { UnsafePointer($0.pointer) } : nil
                row.withUnsafeMutableBufferPointer { head.features(hidden: hidden, logits: z, vocabularySize: V, position: greedy.count, into: $0.baseAddress!) }
                out.features += row
                let a = Sampler.argmax(z, count: V)
                greedy.append(a)
                return (a, a)
            })
            guard !r.tokens.isEmpty else { onPrompt(i + 1, prompts.count); continue }
            // The teacher's logits at every state the student decoded from, in one append.
            t.reset()
            if prompt.count > 1 { try t.extend(Array(prompt.dropLast())) }
            let u = try t.append([prompt[prompt.count - 1]] + r.tokens.dropLast())
            let W = teacher.config.vocabSize
            for k in 0..<r.tokens.count {
                let row = u.pointer + k * W
                var m = -Float.infinity
                for j in 0..<V { m = max(m, row[j]) }
                out.gains.append(Double(m) - Double(row[greedy[k]]))
                if row[greedy[k]] == m { out.agreements += 1 }
                out.prompt.append(i)
            }
            precondition(out.count - first == greedy.count, "HelpHeadFitter: positions and gains disagree")
            onPrompt(i + 1, prompts.count)
        }
        return out
    }

    /// Stage 2: the fitted head (no multipliers yet). `fit` records the positions, the agreement
    /// rate, ρ, the validation R² of each ρ tried, and — on the validation prompts — the share of
    /// the one-step gain the head's ranking collects at fractions 0.1, 0.2, 0.3, 0.5 beside the
    /// entropy and top-1 rankings and the oracle (``capturedGain(scores:gains:fraction:)``).
    public func fit(_ samples: Samples) throws -> HelpHead {
        let n = samples.count, F = samples.width
        guard n >= 2 * F / 10 + 20 else {
            throw SpecDecodeError.invalidSettings("\(n) positions are too few to fit \(F) features; give more prompts (--examples) or use --features logits")
        }
        var head = shape
        precondition(F == head.featureCount, "HelpHeadFitter.fit: samples of width \(F) for a head of \(head.featureCount) features")
        let positions = samples.positions
        // Standardisation from all positions.
        for f in 0..<F {
            var mean = 0.0
            for r in 0..<n { mean += samples.features[r * F + f] }
            mean /= Double(n)
            var v = 0.0
            for r in 0..<n { let d = samples.features[r * F + f] - mean; v += d * d }
            let sd = (v / Double(n)).squareRoot()
            head.mean[f] = mean; head.scale[f] = sd > 1e-12 ? sd : 1
        }
        // Design matrix with an intercept column; the penalty shrinks the hidden state's weights (and
        // the statistics' when there is no hidden state), not the intercept.
        let p = F + 1
        let C0 = head.hiddenSize
        let penalty = (0..<p).map { f -> Double in f < C0 || (C0 == 0 && f < F) ? 1 : lightPenalty }
        var x = [Double](repeating: 0, count: n * p)
        for r in 0..<n {
            for f in 0..<F { x[r * p + f] = (samples.features[r * F + f] - head.mean[f]) / head.scale[f] }
            x[r * p + F] = 1
        }
        let y = samples.gains.indices.map { r -> Double in
            let g = samples.gains[r]
            switch target {
            case .gain: return g
            case .disagreement, .expectedStake: return g > 0 ? 1 : 0
            case .atStake: return g > 0 ? ResponsePosition.remainingShare(positions[r], of: maxTokens) : 0
            }
        }
        // Validation split by prompt: the last fifth of the prompts.
        let prompts = (samples.prompt.max() ?? 0) + 1
        let cut = max(1, prompts - max(1, prompts / 5))
        let trainRows = (0..<n).filter { samples.prompt[$0] < cut }, validRows = (0..<n).filter { samples.prompt[$0] >= cut }
        var best = (rho: ridgeGrid[0], error: Double.infinity, scores: [Double]())
        var record: [String: Double] = [:]
        if !trainRows.isEmpty && !validRows.isEmpty && prompts > 1 {
            let xt = trainRows.flatMap { x[($0 * p)..<($0 * p + p)] }, yt = trainRows.map { y[$0] }
            let yMean = validRows.reduce(0.0) { $0 + y[$1] } / Double(validRows.count)
            let total = validRows.reduce(0.0) { $0 + pow(y[$1] - yMean, 2) }
            // The product form is scored by log-loss against the constant model's (McFadden's
            // pseudo-R²), the linear heads by squared error against the mean's.
            let nullLoss = validRows.reduce(0.0) { $0 + HelpHeadFitter.logLoss(probability: yMean, target: y[$1]) }
            for rho in ridgeGrid {
                let w = try solve(x: xt, y: yt, rows: trainRows.count, columns: p, rho: rho, penalty: penalty)
                var error = 0.0, scores: [Double] = []
                for r in validRows {
                    var g = 0.0
                    for f in 0..<p { g += w[f] * x[r * p + f] }
                    if target == .expectedStake {
                        error += HelpHeadFitter.logLoss(probability: LogisticRidge.sigmoid(g), target: y[r])
                        scores.append(LogisticRidge.sigmoid(g) * ResponsePosition.remainingShare(positions[r], of: maxTokens))
                    } else {
                        error += pow(g - y[r], 2)
                        scores.append(g)
                    }
                }
                record["validation_r2_rho_\(rho)"] = 1 - error / max(target == .expectedStake ? nullLoss : total, 1e-12)
                if error < best.error { best = (rho, error, scores) }
            }
            // Offline: the share of the held-out gain collected at each fraction by the head and by
            // the confidence scores the baselines use (entropy, 1 − top-1), and by the oracle.
            let gains = validRows.map { samples.gains[$0] }
            let C = head.hiddenSize
            let stake = validRows.map { ResponsePosition.remainingShare(positions[$0], of: maxTokens) }
            let top1 = validRows.map { samples.features[$0 * F + C + 1] }
            let rankings = [("head", best.scores), ("entropy", validRows.map { samples.features[$0 * F + C] }),
                            ("top1", top1), ("top1_stake", zip(top1, stake).map { $0 * $1 })]
            // The same for the positions where the student's token is not the teacher's (what
            // agreement with the teacher's text counts): the share of them among the asked ones,
            // and of the at-stake mass (disagreements weighted by the share of the answer after them).
            let disagreements = gains.map { $0 > 0 ? 1.0 : 0.0 }
            let atStake = zip(disagreements, stake).map { $0 * $1 }
            for fraction in [0.1, 0.2, 0.3, 0.5] {
                for (name, scores) in rankings {
                    let c = HelpHeadFitter.capturedGain(scores: scores, gains: gains, fraction: fraction)
                    record["validation_captured_\(name)_\(fraction)"] = c.captured
                    record["validation_captured_oracle_\(fraction)"] = c.oracle
                    let d = HelpHeadFitter.capturedGain(scores: scores, gains: disagreements, fraction: fraction)
                    record["validation_caught_\(name)_\(fraction)"] = d.captured
                    record["validation_caught_oracle_\(fraction)"] = d.oracle
                    let a = HelpHeadFitter.capturedGain(scores: scores, gains: atStake, fraction: fraction)
                    record["validation_stake_\(name)_\(fraction)"] = a.captured
                    record["validation_stake_oracle_\(fraction)"] = a.oracle
                }
            }
        }
        let w = try solve(x: x, y: y, rows: n, columns: p, rho: best.rho, penalty: penalty)
        head.weights = Array(w[0..<F]); head.bias = w[F]
        record["positions"] = Double(n)
        record["prompts"] = Double(prompts)
        record["agreement"] = Double(samples.agreements) / Double(n)
        record["mean_gain"] = samples.gains.reduce(0, +) / Double(n)
        record["rho"] = best.rho
        record["target_disagreement"] = target == .disagreement ? 1 : 0
        record["target_at_stake"] = target == .atStake ? 1 : 0
        record["target_expected_stake"] = target == .expectedStake ? 1 : 0
        head.fit = record
        return head
    }

    /// Stage 3: sets `head`'s budgets and multipliers. The start is the gain quantile over the
    /// collected (never-asking) states in `initial`; each round decodes `prompts` with the teacher
    /// (greedy, no guard) at every budget and moves λ_b to the quantile of the visited positions.
    /// `onRound(round, budget, measured fraction)` reports each decode.
    /// - Returns: the measured teacher fraction of each round (rows) and budget (columns).
    @discardableResult
    public func calibrate(_ head: inout HelpHead, budgets: [Double], prompts: [[Int]], initial: Samples, rounds: Int,
                          onRound: (Int, Double, Double) -> Void = { _, _, _ in }) throws -> [[Double]] {
        let bs = budgets.filter { $0 > 0 }.sorted()
        guard !bs.isEmpty, bs.allSatisfy({ $0 <= 1 }) else {
            throw SpecDecodeError.invalidSettings("--budgets must hold fractions in (0, 1]; got \(budgets)")
        }
        var scores: [Double] = []
        initial.features.withUnsafeBufferPointer { f in
            let positions = initial.positions
            for r in 0..<initial.count { scores.append(head.gain(rawFeatures: f.baseAddress! + r * initial.width, position: positions[r])) }
        }
        head.budgets = bs
        head.multipliers = bs.map { HelpHeadFitter.multiplier(scores: scores, fraction: $0) }
        let maxT = (prompts.map(\.count).max() ?? 1) + maxTokens + 1
        let s = InferenceSession(model: student, maxT: min(maxT, student.config.maxPositions))
        let t = InferenceSession(model: teacher, maxT: min(maxT, teacher.config.maxPositions))
        var measured: [[Double]] = []
        for round in 0..<rounds {
            var fractions: [Double] = []
            for (k, b) in bs.enumerated() {
                let config = HelpConfiguration(budget: b, policy: .head(head, multiplier: head.multipliers[k]))
                let decoder = try HelpDecoder(student: s, teacher: t, helpTokenID: nil, configuration: config, vocabularySize: vocabularySize)
                var visited: [Double] = []
                decoder.onScore = { visited.append($0) }
                var total = HelpStatistics()
                for p in prompts { total.add(try decoder.decode(prompt: p, maxTokens: maxTokens, stopTokens: stopTokens).statistics) }
                let f = total.teacherFraction ?? 0
                fractions.append(f)
                onRound(round + 1, b, f)
                head.multipliers[k] = HelpHeadFitter.multiplier(scores: visited, fraction: b)
            }
            measured.append(fractions)
        }
        return measured
    }

    /// The fit of ``fit(_:)``: logistic for the product form, least squares otherwise.
    private func solve(x: [Double], y: [Double], rows: Int, columns: Int, rho: Double, penalty: [Double]) throws -> [Double] {
        target == .expectedStake ? try LogisticRidge.solve(x: x, y: y, rows: rows, columns: columns, rho: rho, penalty: penalty)
                                 : try Ridge.solve(x: x, y: y, rows: rows, columns: columns, rho: rho, penalty: penalty)
    }

    /// −[y log p + (1 − y) log(1 − p)], p clamped away from 0 and 1.
    static func logLoss(probability: Double, target y: Double) -> Double {
        let q = min(max(probability, 1e-12), 1 - 1e-12)
        return -(y * Foundation.log(q) + (1 - y) * Foundation.log(1 - q))
    }

    /// The λ at which `gain > λ` holds for a fraction `fraction` of `scores` (just below the
    /// score of that rank; +∞ when there are none).
    public static func multiplier(scores: [Double], fraction: Double) -> Double {
        let t = UncertaintyMeasure.threshold(scores: scores, fraction: fraction)
        return t.isFinite ? t.nextDown : t
    }
}

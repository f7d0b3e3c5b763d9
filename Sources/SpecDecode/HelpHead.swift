import Foundation
import Tensor

/// A learned help decision on the student's state (issue 17; algorithms.md §5.4 extended by
/// this project's design): a linear head on the student predicts the one-step **gain of asking**,
///
///     g(s) = r(s, a*) − r(s, a_s) = log p_T(a* | s) − log p_T(a_s | s) ≥ 0,
///
/// a* the teacher's greedy token and a_s the student's — what the text gains, in the teacher's
/// log-probability reward of §5.1, when the teacher's token replaces the student's (0 where they
/// agree). The head is `G(s) = wᵀ φ(s) + β`, with φ the standardised features of
/// ``features(hidden:logits:vocabularySize:position:into:)``: the student's final hidden state h (C values,
/// when ``hiddenSize`` > 0) and four statistics of its next-token distribution q (entropy,
/// 1 − max q, log max q, and the log-ratio of its top two probabilities).
///
/// **Decision (the argmax rule).** The `<help>` action's soft Q-value is parameterised as an
/// advantage over the student's greedy token, `z_help = max_a z_a + G(s) − λ_b`, so `<help>` is
/// the argmax of the V + 1 actions exactly when `G(s) > λ_b`: the Lagrangian of §5.4 with the
/// one-step gain as the help action's reward and λ_b the budget's multiplier (cost 1 per ask).
/// The multipliers are fitted so the teacher fraction on training prompts equals each budget
/// (``multiplier(budget:)`` interpolates between them); nothing is hand-set at decoding time.
/// The gain is myopic: it ignores that a wrong token also changes every later state (README,
/// "a help head that learns when to ask", measures what that costs against the baselines).
///
/// **Position features** (``horizon`` set, `help-head --position`). A token that leaves the
/// teacher's text early puts more of the answer at risk than one near the end. With horizon N the
/// head also reads u = max(0, 1 − t/N) at response position t (0-based) and u times each of the
/// four logit statistics, so a linear head can express "how unsure, times how much text is still
/// to come" — the shape of the `at-stake` target (``HelpHeadFitter/Target/atStake``).
///
/// **Product form** (``stakeHorizon`` set, `help-head --predict expected-stake`). The at-stake
/// target 1[a_s ≠ a*] · u factorises, and its second factor is known at decoding time, so its
/// conditional expectation is exactly `P(a_s ≠ a* | s) · u`. The product head learns only the
/// unknown factor, a logistic model of disagreement, and multiplies:
///
///     G(s) = σ(wᵀφ(s) + β) · max(0, 1 − t/N),   N = ``stakeHorizon``.
///
/// The hand-set `top1-position` baseline is this form with 1 − max q in place of the fitted
/// probability.
public struct HelpHead: Codable, Equatable, Sendable {
    /// C of the student whose hidden states the head reads (0: logit statistics only).
    public var hiddenSize: Int
    /// The shared vocabulary V the logit statistics range over.
    public var vocabularySize: Int
    /// Standardisation of the features, φ_i = (raw_i − mean_i) / scale_i.
    public var mean: [Double]
    public var scale: [Double]
    /// w and β.
    public var weights: [Double]
    public var bias: Double
    /// The budgets b the multipliers were fitted for (ascending) and λ_b for each.
    public var budgets: [Double]
    public var multipliers: [Double]
    /// What the fit saw (for the record; not used to decide).
    public var fit: [String: Double]
    /// N of the position features (nil: none; files without the key read as nil).
    public var horizon: Int?
    /// N of the product form (nil: the linear head G = wᵀφ + β; files without the key read as nil).
    public var stakeHorizon: Int?

    /// Statistics of the next-token distribution in ``features(hidden:logits:vocabularySize:position:into:)``.
    public static let logitFeatureCount = 4

    /// Position features when ``horizon`` is set: u and u times each logit statistic.
    public static let positionFeatureCount = 1 + logitFeatureCount

    /// Features per position: C + 4, plus 5 with position features.
    public var featureCount: Int { hiddenSize + HelpHead.logitFeatureCount + (horizon == nil ? 0 : HelpHead.positionFeatureCount) }

    public init(hiddenSize: Int, vocabularySize: Int, mean: [Double], scale: [Double], weights: [Double], bias: Double,
                budgets: [Double] = [], multipliers: [Double] = [], fit: [String: Double] = [:], horizon: Int? = nil,
                stakeHorizon: Int? = nil) {
        precondition(horizon.map { $0 > 0 } ?? true, "HelpHead: the horizon must be positive")
        precondition(stakeHorizon.map { $0 > 0 } ?? true, "HelpHead: the stake horizon must be positive")
        self.hiddenSize = hiddenSize; self.vocabularySize = vocabularySize; self.mean = mean; self.scale = scale
        self.weights = weights; self.bias = bias; self.budgets = budgets; self.multipliers = multipliers; self.fit = fit
        self.horizon = horizon; self.stakeHorizon = stakeHorizon
    }

    /// Writes the raw (unstandardised) features of one position into `out` (``featureCount``
    /// values): h, then H(q), 1 − q_1, log q_1, log q_1 − log q_2 (q_1 ≥ q_2 the top two
    /// probabilities of q = softmax(z) over the first V logits), in Double; with ``horizon``, the
    /// position features of ``positionFeatures(position:horizon:statistics:into:)`` at `position`.
    public func features(hidden: UnsafePointer<Float>?, logits z: UnsafePointer<Float>, vocabularySize V: Int,
                         position: Int, into out: UnsafeMutablePointer<Double>) {
        if hiddenSize > 0 {
            precondition(hidden != nil, "HelpHead: this head reads hidden states and none were given")
            for i in 0..<hiddenSize { out[i] = Double(hidden![i]) }
        }
        var m1 = -Double.infinity, m2 = -Double.infinity
        for j in 0..<V {
            let v = Double(z[j])
            if v > m1 { m2 = m1; m1 = v } else if v > m2 { m2 = v }
        }
        var sum = 0.0, weighted = 0.0
        for j in 0..<V {
            let d = Double(z[j]) - m1, e = Foundation.exp(d)
            sum += e; weighted += e * d
        }
        let logTop = -Foundation.log(sum)                       // log q_1 = −log Σ e^{z − max}
        let f = out + hiddenSize
        f[0] = Foundation.log(sum) - weighted / sum             // H(q)
        f[1] = 1 - Foundation.exp(logTop)
        f[2] = logTop
        f[3] = m2.isFinite ? m1 - m2 : 0                        // log q_1 − log q_2
        if let horizon { HelpHead.positionFeatures(position: position, horizon: horizon, statistics: f, into: f + HelpHead.logitFeatureCount) }
    }

    /// u = max(0, 1 − t/N) and u·s_i for the four logit statistics s (5 values into `out`).
    public static func positionFeatures(position t: Int, horizon N: Int, statistics s: UnsafePointer<Double>,
                                        into out: UnsafeMutablePointer<Double>) {
        let u = ResponsePosition.remainingShare(t, of: N)
        out[0] = u
        for i in 0..<logitFeatureCount { out[1 + i] = u * s[i] }
    }

    /// wᵀφ + β from raw features (``featureCount`` values): G(s) itself for the linear head, the
    /// logit of the disagreement probability for the product form.
    public func linearScore(rawFeatures x: UnsafePointer<Double>) -> Double {
        var g = bias
        for i in 0..<featureCount { g += weights[i] * (x[i] - mean[i]) / scale[i] }
        return g
    }

    /// G(s) from raw features (``featureCount`` values) at response position `position` (0-based;
    /// read only by the product form).
    public func gain(rawFeatures x: UnsafePointer<Double>, position: Int) -> Double {
        let score = linearScore(rawFeatures: x)
        guard let N = stakeHorizon else { return score }
        return LogisticRidge.sigmoid(score) * ResponsePosition.remainingShare(position, of: N)
    }

    /// G(s) of one position (the response's `position`-th token, 0-based) from the student's
    /// hidden state and logits.
    public func gain(hidden: UnsafePointer<Float>?, logits: UnsafePointer<Float>, vocabularySize V: Int, position: Int,
                     scratch: inout [Double]) -> Double {
        if scratch.count < featureCount { scratch = [Double](repeating: 0, count: featureCount) }
        return scratch.withUnsafeMutableBufferPointer { s in
            features(hidden: hidden, logits: logits, vocabularySize: V, position: position, into: s.baseAddress!)
            return gain(rawFeatures: s.baseAddress!, position: position)
        }
    }

    /// λ_b for budget b: the fitted multiplier at a fitted budget, linear between neighbours;
    /// +∞ (never ask) at b = 0.
    /// - Throws: for a budget outside the fitted range, naming the range and the fix.
    public func multiplier(budget b: Double) throws -> Double {
        if b == 0 { return .infinity }
        guard let lo = budgets.first, let hi = budgets.last, budgets.count == multipliers.count else {
            throw SpecDecodeError.invalidSettings("the help head has no fitted budgets (fitted with --calibration 0?); fit it with `specdistill help-head --budgets ... --calibration N`")
        }
        guard b >= lo - 1e-9 && b <= hi + 1e-9 else {
            throw SpecDecodeError.invalidSettings("budget \(b) is outside the help head's fitted budgets \(lo)…\(hi); refit it with `--budgets` covering \(b)")
        }
        guard let k = budgets.firstIndex(where: { $0 >= b - 1e-9 }) else { return multipliers[multipliers.count - 1] }
        if k == 0 || abs(budgets[k] - b) < 1e-9 { return multipliers[k] }
        let t = (b - budgets[k - 1]) / (budgets[k] - budgets[k - 1])
        return multipliers[k - 1] + t * (multipliers[k] - multipliers[k - 1])
    }

    /// Checks that the head was fitted for a student of hidden size `C` over vocabulary `V`, and
    /// (when given) that its position features were fitted for responses of `maxTokens` tokens:
    /// u = 1 − t/N means something else under another N.
    public func check(hiddenSize C: Int, vocabularySize V: Int, maxTokens: Int? = nil) throws {
        if let N = horizon ?? stakeHorizon, let maxTokens, maxTokens != N {
            throw SpecDecodeError.invalidSettings("the help head reads the response position against a horizon of \(N) tokens (help-head -n \(N)); decode with -n \(N), or fit a head with -n \(maxTokens)")
        }
        if let horizon, let stakeHorizon, horizon != stakeHorizon {
            throw SpecDecodeError.invalidSettings("the help head's position features (horizon \(horizon)) and product form (horizon \(stakeHorizon)) disagree; the file is damaged, fit it again")
        }
        guard hiddenSize == 0 || hiddenSize == C else {
            throw SpecDecodeError.invalidSettings("the help head reads hidden states of size \(hiddenSize) but the student's are \(C); fit a head for this student")
        }
        guard vocabularySize == V else {
            throw SpecDecodeError.invalidSettings("the help head was fitted over a vocabulary of \(vocabularySize) tokens, this pair shares \(V); fit a head for this pair")
        }
        guard mean.count == featureCount, scale.count == featureCount, weights.count == featureCount,
              scale.allSatisfy({ $0 > 0 && $0.isFinite }), weights.allSatisfy(\.isFinite) else {
            throw SpecDecodeError.invalidSettings("the help head's arrays do not hold \(featureCount) finite features (scales > 0); the file is damaged, fit it again")
        }
    }

    /// Reads a head written by ``write(to:)``; throws naming the file.
    public static func read(from url: URL) throws -> HelpHead {
        do {
            return try JSONDecoder().decode(HelpHead.self, from: Data(contentsOf: url))
        } catch {
            throw SpecDecodeError.invalidSettings("\(url.path): not a help head written by `specdistill help-head` (\(error))")
        }
    }

    /// Writes the head as JSON through a temporary file and a rename.
    public func write(to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let tmp = url.appendingPathExtension("tmp")
        try encoder.encode(self).write(to: tmp)
        _ = try? FileManager.default.removeItem(at: url)
        try FileManager.default.moveItem(at: tmp, to: url)
    }
}

import Foundation

/// Who decides, at each position of help-mode decoding, that the student hands the token to the
/// teacher: the student's learned `<help>` action, or one of the baselines the learned policy has
/// to beat at equal teacher use (issue 17): asking at random positions, or asking where the
/// student's own distribution q says it is unsure.
public enum HelpPolicy: Codable, Equatable, Sendable {
    /// The student's `<help>` action (sampled like any token, or taken above
    /// ``HelpConfiguration/helpThreshold``): needs a student trained with `--help-budgets`.
    case learned
    /// Ask at each position with probability p, independently of the text (one draw of the
    /// decoder's generator per position).
    case random(probability: Double)
    /// Ask when the student's uncertainty ``UncertaintyMeasure/score(_:vocabularySize:)`` is at
    /// least `threshold`.
    case uncertainty(UncertaintyMeasure, threshold: Double)
    /// Ask when the uncertainty times the share of the answer still to come,
    /// `score · ResponsePosition.remainingShare(t, of: horizon)` at response position t, is at
    /// least `threshold`: a hand-set baseline that, like the help head's position features, spends
    /// more of the budget early, where a miss leaves the teacher's text for longer.
    case positionWeighted(UncertaintyMeasure, threshold: Double, horizon: Int)
    /// Ask when the learned ``HelpHead``'s predicted gain G(s) exceeds the budget's multiplier
    /// λ_b (``HelpHead/multiplier(budget:)``): the argmax rule with `<help>`'s logit
    /// `max_a z_a + G(s) − λ_b`. Needs a student that exposes its hidden states when the head reads them.
    case head(HelpHead, multiplier: Double)

    /// Whether the policy uses the student's `<help>` action.
    public var usesHelpAction: Bool { self == .learned }
}

/// Where a position lies in the response.
public enum ResponsePosition {
    /// u = max(0, 1 − t/N): the share of an N-token answer after position t (0-based), what a
    /// disagreement at t puts at risk if the texts do not meet again.
    public static func remainingShare(_ t: Int, of N: Int) -> Double { max(0, 1 - Double(t) / Double(N)) }
}

/// How unsure the student is at one position, from its logits z over the vocabulary (temperature
/// 1, `<help>` and padding left out): larger is less sure.
public enum UncertaintyMeasure: String, Codable, CaseIterable, Sendable {
    /// H(q) = −Σ_j q_j log q_j in nats, q = softmax(z).
    case entropy
    /// 1 − max_j q_j (the student's top-1 probability, reversed).
    case lowTopProbability

    /// The score of one logits row (V values), in Double, max-subtracted.
    public func score(_ z: UnsafePointer<Float>, vocabularySize V: Int) -> Double {
        var m = -Double.infinity
        for j in 0..<V { m = max(m, Double(z[j])) }
        var sum = 0.0, weighted = 0.0
        for j in 0..<V {
            let d = Double(z[j]) - m, e = Foundation.exp(d)
            sum += e
            weighted += e * d
        }
        switch self {
        // H = log Σ e^{d} − Σ e^{d} d / Σ e^{d}, with d = z − max z.
        case .entropy: return Foundation.log(sum) - weighted / sum
        case .lowTopProbability: return 1 - 1 / sum
        }
    }

    /// The score times ``ResponsePosition/remainingShare(_:of:)`` at response position `position`
    /// when `horizon` is given (the position-weighted baselines), else the plain score.
    public func score(_ z: UnsafePointer<Float>, vocabularySize V: Int, position: Int, horizon: Int?) -> Double {
        let s = score(z, vocabularySize: V)
        return horizon.map { s * ResponsePosition.remainingShare(position, of: $0) } ?? s
    }

    /// The threshold t at which asking when `score ≥ t` asks at a fraction `fraction` of the
    /// positions whose scores are `scores`: the score of rank ⌈(1 − fraction)·n⌉ in ascending
    /// order (+∞ for fraction 0, never asking; the smallest score for fraction 1).
    public static func threshold(scores: [Double], fraction: Double) -> Double {
        guard fraction > 0, !scores.isEmpty else { return .infinity }
        let sorted = scores.sorted()
        let asks = min(sorted.count, max(1, Int((fraction * Double(sorted.count)).rounded())))
        return sorted[sorted.count - asks]
    }
}

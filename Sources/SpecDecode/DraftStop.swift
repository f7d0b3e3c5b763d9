import Foundation

/// The cost-aware confidence stop (`--draft-p-min auto`): after each drafted token, whether to
/// keep it for verification and whether to draft another, from the draft's confidence, what that
/// confidence has meant so far, and what a verified row costs on this machine.
///
/// A fixed `--draft-p-min` threshold is right for one host and one draft only: where extra
/// verified rows cost little (memory-bound targets) a low-confidence token is still worth
/// verifying, and where each row costs a fifth of a plain step (compute-bound quantised targets)
/// it is not. This rule prices each decision in the same units as the speedup model
/// (``SpeedupModel``): tokens emitted and target plain steps of cost.
///
/// **Calibration.** The draft's confidence q (its top probability, at temperature 1 when greedy)
/// is mapped to the probability `a(q)` that the token is accepted given that its predecessors
/// were, per confidence bin of width 1 / ``bins``: decayed counts `A_b / (A_b + R_b)` of judged
/// tokens, starting from ``priorWeight`` pseudo-counts at the bin's centre (a calibrated draft).
/// Tokens the rule drops are never judged, so their evidence would stop; after a round whose kept
/// drafts were all accepted, the first dropped token is scored against the target's row at its
/// position instead (greedy: the argmax; sampling: `min(1, p(x)/q(x))` as a fractional count).
///
/// **Decision (Dinkelbach's rule for a renewal-reward process).** With R the rate speculation
/// achieves (emitted tokens per plain step of modelled cost, ``rate``), a round should take an
/// action iff its expected tokens exceed R times its expected cost. With i drafts kept and
/// probability P that all of them are accepted, the value of drafting on up to k > i tokens is
/// `Σ_{m=i+1}^{k} P·ā^(m−i) − R·((k−i)·c + v(k) − v(i))`, with ā the mean calibrated acceptance of
/// drafted tokens, c the draft step and v(k) the verification of k drafts (both in plain steps,
/// measured by the decoder); drafting continues iff the best k has a positive value. A token just
/// drafted with acceptance a = a(q) is kept iff `P·a − R·(v(i+1) − v(i))` plus the best value of
/// continuing from prefix probability P·a is positive (its own draft step is already paid).
///
/// **Measured** (SmolLM2-135M Q4_1 target, the 1-layer feature draft distilled on 6,973 target
/// answers, 20 GSM8K test prompts × 128 tokens, 2-core Xeon, six alternating runs, no auto-off):
/// 1.17× plain decoding (1.15–1.22) against 1.09× (1.04–1.23) for the adaptive schedule; α 0.59
/// against 0.55 with a verification of 1.19–1.27 plain steps against 1.25–1.59.
public struct DraftStop: Sendable {
    /// Confidence bins of width 1 / bins.
    public static let bins = 10
    /// Weight of the past per recorded token (calibration) and per round (rate).
    public static let decay = 0.98
    /// Pseudo-counts per bin at the start: `a(q)` = the bin's centre with this weight.
    public static let priorWeight = 2.0
    private var acceptedWeight: [Double], rejectedWeight: [Double]
    private var meanAcceptanceSum = 0.0, meanAcceptanceWeight = 0.0
    private var rateTokens = 0.0, rateCost = 0.0

    public init() {
        acceptedWeight = (0..<DraftStop.bins).map { DraftStop.priorWeight * (Double($0) + 0.5) / Double(DraftStop.bins) }
        rejectedWeight = acceptedWeight.map { DraftStop.priorWeight - $0 }
    }

    static func bin(_ q: Double) -> Int { min(DraftStop.bins - 1, max(0, Int(q * Double(DraftStop.bins)))) }

    /// a(q): the calibrated probability that a token drafted with confidence q is accepted.
    public func acceptance(confidence q: Double) -> Double {
        let b = DraftStop.bin(q)
        return acceptedWeight[b] / (acceptedWeight[b] + rejectedWeight[b])
    }

    /// ā: the decayed mean of a(q) over drafted tokens (kept or not); 0.5 before any.
    public var meanAcceptance: Double { meanAcceptanceWeight > 0 ? meanAcceptanceSum / meanAcceptanceWeight : 0.5 }

    /// R: emitted tokens per plain step of modelled cost over recent speculative rounds (at least 1,
    /// what plain decoding achieves; 1 before any round).
    public var rate: Double { rateCost > 0 ? max(1, rateTokens / rateCost) : 1 }

    /// Records a drafted token's confidence (for ā), whether or not it is kept.
    public mutating func recordDrafted(confidence q: Double) {
        let d = DraftStop.decay
        meanAcceptanceSum = d * meanAcceptanceSum + acceptance(confidence: q)
        meanAcceptanceWeight = d * meanAcceptanceWeight + 1
    }

    /// Records a judged token (or a dropped one scored against the target): `accepted` is 1 or 0,
    /// or a probability for a fractional count.
    public mutating func recordJudged(confidence q: Double, accepted: Double) {
        let d = DraftStop.decay, b = DraftStop.bin(q), a = min(max(accepted, 0), 1)
        acceptedWeight[b] = d * acceptedWeight[b] + a
        rejectedWeight[b] = d * rejectedWeight[b] + (1 - a)
    }

    /// Records a speculative round: `emitted` tokens for `cost` plain steps (drafts · c + v).
    public mutating func recordRound(emitted: Int, cost: Double) {
        guard cost.isFinite, cost > 0 else { return }
        let d = DraftStop.decay
        rateTokens = d * rateTokens + Double(emitted)
        rateCost = d * rateCost + cost
    }

    /// The best value (≥ 0: stopping is worth 0) of drafting on from `kept` drafts whose prefix is
    /// accepted with probability `prefix`, up to `maxCount` drafts; see the type's documentation.
    public static func continuationValue(prefix: Double, kept i: Int, maxCount: Int, alpha: Double, costRatio c: Double,
                                         verifyCost v: (Int) -> Double, rate R: Double) -> Double {
        guard i < maxCount else { return 0 }
        var best = 0.0, gain = 0.0, P = prefix
        let vi = v(i)
        for k in (i + 1)...maxCount {
            P *= alpha
            gain += P
            best = max(best, gain - R * (Double(k - i) * c + v(k) - vi))
        }
        return best
    }

    /// Whether to draft another token after `kept` drafts with prefix probability `prefix`.
    public func continues(prefix: Double, kept: Int, maxCount: Int, costRatio c: Double, verifyCost v: (Int) -> Double) -> Bool {
        DraftStop.continuationValue(prefix: prefix, kept: kept, maxCount: maxCount, alpha: meanAcceptance, costRatio: c,
                                    verifyCost: v, rate: rate) > 0
    }

    /// Whether to keep a token just drafted at position `kept` (0-based) with calibrated acceptance
    /// `a`, after `kept` drafts with prefix probability `prefix`.
    public func keeps(acceptance a: Double, prefix: Double, kept i: Int, maxCount: Int, costRatio c: Double,
                      verifyCost v: (Int) -> Double) -> Bool {
        let P = prefix * a, R = rate
        return P - R * (v(i + 1) - v(i))
            + DraftStop.continuationValue(prefix: P, kept: i + 1, maxCount: maxCount, alpha: meanAcceptance, costRatio: c,
                                          verifyCost: v, rate: R) > 0
    }
}

import Foundation

/// Who proposed a round's drafts.
public enum DraftSource: String, Codable, CaseIterable, Sendable {
    /// Prompt lookup / n-gram match (``PromptLookup``): deterministic, one-hot q, c ≈ 0.
    case lookup
    /// A draft model (``DecodingModel``): drafts sampled from q (argmax when greedy).
    case model
}

/// How a chain of a lookup and a draft model (llama.cpp's `--spec-type ngram-…` with `-md`)
/// picks the source of a round. Lookup is asked first in both; it drafts nothing without a match.
public enum ChainPolicy: String, Codable, CaseIterable, Sendable {
    /// The first source with a proposal drafts the round: lookup when it matches, else the model
    /// (llama.cpp's chain order).
    case first
    /// The source with the larger predicted tokens per unit of cost drafts the round: for a
    /// proposal of k tokens from a source with running acceptance alpha and cost ratio c (c = 0
    /// for lookup; the draft-length controller's estimate for the model, at the model's gamma),
    /// `(1 + E[accepted]) / (1 + k·c)` with `E[accepted] = Σ_{i=1..k} alpha^i`, the expected
    /// accepted prefix of k drafts judged independently. Ties go to lookup.
    case expected
}

/// Counters of one draft source in a run (per-proposer statistics; see ``SpeculativeStatistics/sources``).
public struct DraftSourceStatistics: Codable, Equatable, Sendable {
    /// Rounds this source drafted, tokens it proposed, tokens accepted, rejection events.
    public var rounds = 0
    public var drafted = 0
    public var accepted = 0
    public var rejections = 0
    /// Seconds spent proposing (lookup) or in draft calls (model).
    public var draftSeconds = 0.0
    public init() {}

    public mutating func add(_ o: DraftSourceStatistics) {
        rounds += o.rounds; drafted += o.drafted; accepted += o.accepted; rejections += o.rejections
        draftSeconds += o.draftSeconds
    }

    /// alpha = accepted / (accepted + rejections) (algorithms.md §2.5), nil before any judgement.
    public var alpha: Double? { ratio(Double(accepted), Double(accepted + rejections)) }
    /// Mean tokens emitted per round this source drafted: accepted + 1 (bonus or replacement),
    /// less tokens cut by a stop (ignored here).
    public var tokensPerRound: Double? { ratio(Double(accepted + rounds), Double(rounds)) }
}

/// The chain's per-source running acceptance and its choice between two proposals (``ChainPolicy``).
///
/// Running alpha per source is `A / (A + R)` with A the accepted drafts and R the rejection events,
/// decayed by ``decay`` per round of that source and started at one pseudo-acceptance and one
/// pseudo-rejection (alpha 0.5), as in ``DraftLengthController``. A source that proposed but was
/// passed over gets no evidence, so its estimate relaxes toward the prior instead
/// (`A ← d·A + (1 − d)`, the same for R): a source written off early is tried again once the
/// other's lead is smaller than the prior's pull (exploration, a design choice).
public struct DraftChain: Sendable {
    public let policy: ChainPolicy
    /// Weight of the past per round of a source.
    public static let decay = 0.95
    private var acceptedWeight: [Double] = [1, 1], rejectedWeight: [Double] = [1, 1]

    public init(policy: ChainPolicy) { self.policy = policy }

    /// The running alpha of `source`.
    public func alphaEstimate(_ source: DraftSource) -> Double {
        let i = DraftChain.slot(source)
        return acceptedWeight[i] / (acceptedWeight[i] + rejectedWeight[i])
    }

    /// Whether lookup drafts the round, given its proposal of `lookupCount ≥ 1` tokens and a
    /// model that would draft `modelGamma` tokens (0: no model) at cost ratio `modelCost`.
    public func prefersLookup(lookupCount: Int, modelGamma: Int, modelCost: Double) -> Bool {
        guard modelGamma > 0 else { return true }
        switch policy {
        case .first: return true
        case .expected:
            let lookup = (1 + DraftChain.expectedAccepted(alpha: alphaEstimate(.lookup), count: lookupCount))
            let model = (1 + DraftChain.expectedAccepted(alpha: alphaEstimate(.model), count: modelGamma))
                / (1 + Double(modelGamma) * max(0, modelCost))
            return lookup >= model
        }
    }

    /// Records a round drafted by `source`.
    public mutating func record(_ source: DraftSource, accepted: Int, rejected: Bool) {
        let i = DraftChain.slot(source), d = DraftChain.decay
        acceptedWeight[i] = d * acceptedWeight[i] + Double(accepted)
        rejectedWeight[i] = d * rejectedWeight[i] + (rejected ? 1 : 0)
    }

    /// Records that `source` proposed but the other source drafted the round.
    public mutating func recordPassedOver(_ source: DraftSource) {
        let i = DraftChain.slot(source), d = DraftChain.decay
        acceptedWeight[i] = d * acceptedWeight[i] + (1 - d)
        rejectedWeight[i] = d * rejectedWeight[i] + (1 - d)
    }

    /// `Σ_{i=1..k} alpha^i`: the expected accepted prefix of k drafts each accepted with
    /// probability alpha (the geometric series behind tau, algorithms.md §2.4: tau = 1 + this).
    public static func expectedAccepted(alpha: Double, count k: Int) -> Double {
        var sum = 0.0, term = 1.0
        for _ in 0..<max(0, k) { term *= alpha; sum += term }
        return sum
    }

    @inline(__always)
    static func slot(_ s: DraftSource) -> Int { s == .lookup ? 0 : 1 }
}

// The SpecDecode module owns decoding: plain, speculative and help-mode decoders over a
// DecodingModel, acceptance rules, draft-length schedules, the verification-cost model, auto-off,
// prompt lookup and lookup/model chains, and the statistics every decoder reports.

import Foundation

/// DistillSpec's lenience function f(p, eps) for lossy speculative decoding (algorithms.md §2.3):
/// a drafted token x is accepted with probability `min(1, f(p(x), eps) / q(x))`, eps in (0, 1].
/// Every form equals p at eps = 1 (lossless); smaller eps accepts more draft tokens.
public enum Lenience: String, Codable, CaseIterable, Sendable {
    /// `f = p / eps`
    case lin
    /// `f = p / eps²`
    case sq
    /// `f = p^eps`
    case exp

    /// f(p, eps).
    @inlinable
    public func apply(_ p: Double, epsilon eps: Double) -> Double {
        switch self {
        case .lin: return p / eps
        case .sq: return p / (eps * eps)
        case .exp: return p > 0 ? Foundation.pow(p, eps) : 0
        }
    }
}

/// How the target decides on each drafted token (algorithms.md §2.1–2.3).
///
/// p is the target's distribution and q the draft's at the same position, both after the shared
/// temperature / top-k / top-p filtering.
public enum AcceptanceRule: Codable, Equatable, Sendable {
    /// Accept while the draft's argmax equals the target's argmax; at the first mismatch emit the
    /// target's argmax (lowest index wins ties). Requires temperature 0.
    case greedy
    /// Lossless speculative sampling: accept x with probability `min(1, p(x)/q(x))`; on the first
    /// rejection emit a sample of the residual `norm(max(0, p − q))` (or of p when the residual
    /// sums to 0); when every draft is accepted emit a bonus sample of the next p.
    case rejection
    /// DistillSpec's lossy rule: accept with probability `min(1, f(p(x), eps)/q(x))`; rejection
    /// and bonus as in ``rejection`` (residual `norm(max(0, p − q))`, a design choice of this
    /// project). eps = 1 is exactly ``rejection``.
    case lossy(Lenience, epsilon: Double)

    /// Acceptance probability of a drafted token with target probability `p` and draft
    /// probability `q` (> 0, the token was drawn from q).
    @inlinable
    public func acceptanceProbability(p: Double, q: Double) -> Double {
        switch self {
        case .greedy, .rejection: return min(1, p / q)
        case .lossy(let f, let eps): return min(1, f.apply(p, epsilon: eps) / q)
        }
    }

    /// Checks the parameters against the sampling settings.
    /// - Throws: ``SpecDecodeError/invalidSettings(_:)`` for eps outside (0, 1] or greedy
    ///   acceptance with a positive temperature.
    public func validate(temperature: Float) throws {
        switch self {
        case .greedy where temperature > 0:
            throw SpecDecodeError.invalidSettings(
                "greedy acceptance needs temperature 0 (got \(temperature)); use rejection or lossy acceptance to sample")
        case .lossy(_, let eps) where !(eps > 0 && eps <= 1):
            throw SpecDecodeError.invalidSettings("lossy acceptance needs epsilon in (0, 1], got \(eps)")
        default: return
        }
    }

    /// A short label for reports: `greedy`, `rejection`, `lossy(sq, eps 0.5)`.
    public var label: String {
        switch self {
        case .greedy: return "greedy"
        case .rejection: return "rejection"
        case .lossy(let f, let eps): return "lossy(\(f.rawValue), eps \(eps))"
        }
    }
}

/// Errors a user can cause (bad settings, mismatched models, prompts that do not fit).
public enum SpecDecodeError: Error, CustomStringConvertible, Equatable {
    case invalidSettings(String)
    case vocabularyMismatch(String)
    case promptTooLong(String)
    /// A model's logits at a sampled position are no distribution (NaN or +Inf).
    case invalidLogits(String)

    public var description: String {
        switch self {
        case .invalidSettings(let s), .vocabularyMismatch(let s), .promptTooLong(let s), .invalidLogits(let s): return s
        }
    }
}

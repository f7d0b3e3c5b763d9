import Dispatch
import Foundation
import Tensor
import Transformer

/// Where an emitted token came from.
public enum TokenOrigin: String, Codable, Sendable {
    /// A draft token the target accepted.
    case draft
    /// The target's replacement after a rejection (residual sample, or its argmax when greedy).
    case resampled
    /// The target's token after every draft of a round was accepted (or a round without drafts).
    case bonus
    /// Plain decoding: the target alone (also the auto-off rule's plain fallback steps).
    case target
}

/// One emitted token, as streamed to the caller.
public struct DecodedToken: Equatable, Sendable {
    public var id: Int
    public var origin: TokenOrigin
    public init(id: Int, origin: TokenOrigin) { self.id = id; self.origin = origin }
}

/// What one round did, reported after its rollback (for tests and progress displays).
public struct RoundEvent: Equatable, Sendable {
    /// Tokens drafted (gamma of this round, after the confidence stop and the limits).
    public var drafted: Int
    /// Drafted tokens accepted.
    public var accepted: Int
    /// Whether a rejection ended the round.
    public var rejected: Bool
    /// Tokens emitted by the round.
    public var emitted: [Int]
    /// Cache lengths after the rollback.
    public var targetLength: Int
    public var draftLength: Int
    /// A drafted round, a probe round of the auto-off rule, or a plain fallback step.
    public var kind: SpeculationSwitch.Step = .speculative
    /// Who drafted the round (nil: nobody — a plain step, or a round that drafted nothing).
    public var source: DraftSource? = nil
}

/// The result of ``PlainDecoder/decode(prompt:maxTokens:stopTokens:onToken:)``.
public struct PlainOutput: Sendable {
    public var tokens: [Int]
    public var stopReason: StopReason
    public var statistics: PlainStatistics
}

/// The result of ``SpeculativeDecoder/decode(prompt:maxTokens:stopTokens:onToken:onRound:)``.
public struct SpeculativeOutput: Sendable {
    public var tokens: [Int]
    public var origins: [TokenOrigin]
    public var stopReason: StopReason
    public var statistics: SpeculativeStatistics
}

/// Monotonic seconds (DispatchTime).
@inline(__always)
func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

enum DecodingSupport {
    /// Checks that the prompt is non-empty and fits every model's cache: the rule of
    /// ``DecodingLoop/promptProblem(_:capacity:role:)``, with this module's errors.
    /// - Throws: ``SpecDecodeError/invalidSettings(_:)`` for an empty prompt,
    ///   ``SpecDecodeError/promptTooLong(_:)`` for one a model's cache cannot hold.
    static func checkPrompt(_ prompt: [Int], models: [(name: String, model: DecodingModel)]) throws {
        precondition(!models.isEmpty, "checkPrompt needs at least one model")
        for (name, m) in models {
            guard let problem = DecodingLoop.promptProblem(prompt, capacity: m.capacity, role: name) else { continue }
            throw problem == .empty ? SpecDecodeError.invalidSettings(problem.description)
                                    : SpecDecodeError.promptTooLong(problem.description)
        }
    }
}

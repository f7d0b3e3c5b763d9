import Dispatch
import Tensor

/// Why decoding stopped.
public enum StopReason: String, Codable, Sendable {
    /// A stop token was emitted (it is part of the output).
    case endOfSequence
    /// `maxTokens` tokens were emitted.
    case maxTokens
    /// The target's cache is full: prompt + output hold capacity + 1 tokens (the last one never
    /// needs to enter the cache).
    case contextLimit
}

/// The one plain autoregressive loop over a ``DecodingModel``, which generation (`generate`,
/// sampled training data), plain decoding (`decode`, `eval`'s baseline), the decoding benchmark
/// and PCL's help rollouts all run.
///
/// The prompt without its last token is appended in one call (the cache reset first); then each
/// step appends the last token alone, hands its logits row to `choose`, and emits the token
/// `choose` returns:
///
///     prefill(prompt[0 ..< n−1]);  last = prompt[n−1]
///     repeat: logits = append([last]);  (action, token) = choose(logits);  emit;  last = token
///
/// until `maxTokens` tokens, a token of `stopTokens` (emitted), a full cache, or a `choose` that
/// returns nil (a second model it consults, PCL's teacher, has no room). Appending the
/// last prompt token alone is what the speculative decoder does ahead of its drafts, so with a
/// batch-invariant model a greedy `choose` here gives exactly the speculative decoder's greedy
/// output.
public enum DecodingLoop {
    /// What a run did.
    public struct Result: Codable, Sendable {
        /// The emitted tokens (ending with the stop token when one was emitted).
        public var tokens: [Int] = []
        public var stopReason: StopReason = .maxTokens
        /// Single-token appends (model calls after the prefill).
        public var steps = 0
        public var prefillSeconds = 0.0
        public var decodeSeconds = 0.0
    }

    /// Runs the loop (see the type's documentation).
    /// - Parameters:
    ///   - choose: from the step's logits row (``DecodingModel/logitWidth`` values), the action the
    ///     policy took and the token emitted for it — the same id except for PCL's `<help>`
    ///     action, whose token is the teacher's; nil ends the run with ``StopReason/contextLimit``
    ///     and emits nothing (the step still counts in ``Result/steps``).
    ///   - onToken: called with each `(action, token)` as it is emitted.
    /// - Throws: ``ModelError/shape(_:)`` for an empty prompt or one that fills the cache, and
    ///   what `model.append`, `choose` or `onToken` throw.
    @discardableResult
    public static func run(_ model: DecodingModel, prompt: [Int], maxTokens: Int, stopTokens: Set<Int> = [],
                           choose: (UnsafePointer<Float>) throws -> (action: Int, token: Int)?,
                           onToken: (_ action: Int, _ token: Int) throws -> Void = { _, _ in }) throws -> Result {
        try checkPrompt(prompt, capacity: model.capacity)
        var result = Result()
        let t0 = seconds()
        try prefillAllButLast(model, prompt)
        let t1 = seconds()
        result.prefillSeconds = t1 - t0
        var last = prompt[prompt.count - 1]
        while result.tokens.count < maxTokens {
            if model.length + 1 > model.capacity { result.stopReason = .contextLimit; break }
            let logits = try model.append([last])
            result.steps += 1
            guard let (action, token) = try choose(logits.pointer) else { result.stopReason = .contextLimit; break }
            result.tokens.append(token)
            try onToken(action, token)
            last = token
            if stopTokens.contains(token) { result.stopReason = .endOfSequence; break }
        }
        result.decodeSeconds = seconds() - t1
        return result
    }

    /// What is wrong with a prompt for a cache of some capacity (``promptProblem(_:capacity:role:)``).
    public enum PromptProblem: Equatable, Sendable, CustomStringConvertible {
        /// No token at all: there is no last token to append.
        case empty
        /// More tokens than the `role`'s cache holds.
        case tooLong(tokens: Int, capacity: Int, role: String)

        /// The message, naming the fix.
        public var description: String {
            switch self {
            case .empty: return "the prompt is empty; give at least one token"
            case let .tooLong(tokens, capacity, role):
                return "the prompt has \(tokens) tokens but the \(role)'s context holds \(capacity); shorten the prompt"
            }
        }
    }

    /// The prompt rule of every decoder (this loop, the speculative and help decoders): a prompt
    /// is non-empty and fits a cache of `capacity` positions (all of it; the last token is
    /// appended by the first step). Returns nil when it does, else what is wrong.
    public static func promptProblem(_ prompt: [Int], capacity: Int, role: String = "model") -> PromptProblem? {
        if prompt.isEmpty { return .empty }
        if prompt.count > capacity { return .tooLong(tokens: prompt.count, capacity: capacity, role: role) }
        return nil
    }

    /// Throws unless `prompt` is non-empty and fits a cache of `capacity` positions
    /// (``promptProblem(_:capacity:role:)``).
    /// - Throws: ``ModelError/shape(_:)`` with the problem's message.
    public static func checkPrompt(_ prompt: [Int], capacity: Int, role: String = "model") throws {
        if let problem = promptProblem(prompt, capacity: capacity, role: role) { throw ModelError.shape(problem.description) }
    }

    /// Resets `model` and appends the prompt without its last token (which the decode path
    /// appends: alone in plain decoding, ahead of the drafts in speculative verification — the
    /// two paths that are bitwise equal).
    public static func prefillAllButLast(_ model: DecodingModel, _ prompt: [Int]) throws {
        model.truncate(to: 0)
        if prompt.count > 1 { try model.extend(Array(prompt.dropLast())) }
    }

    @inline(__always)
    static func seconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }
}

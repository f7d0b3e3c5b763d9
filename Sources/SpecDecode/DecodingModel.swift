import Tensor
import Transformer

/// A language model as the decoders of this module drive it: a KV cache of one sequence that
/// grows by ``append(_:)`` and rolls back by ``truncate(to:)``.
///
/// Conventions: ``append(_:)`` puts `tokens` at positions `length..<length+n` and returns their
/// logits, shape (n, ``logitWidth``), row i predicting the token after `tokens[i]`. The returned
/// tensor may be a view that the next call overwrites.
///
/// The real implementation is ``SessionModel`` (a ``InferenceSession``); tests drive the decoders
/// with deterministic models whose batched and single-step logits agree by construction.
public protocol DecodingModel: AnyObject {
    /// Width of a logit row (the model's V; may exceed the shared vocabulary when padded).
    var logitWidth: Int { get }
    /// Positions currently in the cache.
    var length: Int { get }
    /// Positions the cache can hold.
    var capacity: Int { get }
    /// Appends of at most this many tokens give bitwise the logits of the same tokens appended
    /// one at a time (what makes greedy speculative output equal greedy plain output).
    var batchInvariantRows: Int { get }
    /// Bytes of weights read to decode one position (the memory-bound cost used by MBSU and as
    /// the adaptive schedule's prior for the cost ratio).
    var weightBytesPerStep: Int { get }
    /// Appends `tokens` and returns their logits (n, ``logitWidth``).
    /// - Throws: when the cache would overflow or a token id is outside the model's vocabulary.
    func append(_ tokens: [Int]) throws -> Tensor
    /// Keeps the first `n` positions (`n ≤ length`).
    func truncate(to n: Int)
}

/// A ``TransformerModel`` with its KV cache (an ``InferenceSession``) as a ``DecodingModel``.
public final class SessionModel: DecodingModel {
    public let session: InferenceSession

    /// A session with room for `maxT` positions (default and upper bound: the model's context).
    /// - Parameter outputSubset: a trimmed output layer for a draft (see ``OutputSubset``): only
    ///   those logits are computed, the others are ``OutputSubset/excludedLogit``.
    public init(model: TransformerModel, maxT: Int? = nil, outputSubset: OutputSubset? = nil) {
        session = InferenceSession(model: model, maxT: maxT)
        if let outputSubset { session.restrictOutput(to: outputSubset.ids, excludedLogit: OutputSubset.excludedLogit) }
    }

    public var model: TransformerModel { session.model }
    public var logitWidth: Int { session.model.config.vocabSize }
    public var length: Int { session.length }
    public var capacity: Int { session.maxT }
    public var batchInvariantRows: Int { InferenceSession.batchInvariantRows }
    public var weightBytesPerStep: Int { SessionModel.weightBytesPerStep(session.model, outputRows: session.outputRows) }

    public func append(_ tokens: [Int]) throws -> Tensor { try session.append(tokens) }
    public func truncate(to n: Int) { session.truncate(to: n) }

    /// Bytes of weights one decoding step reads: ``TransformerModel/weightBytesPerStep(outputRows:)``.
    public static func weightBytesPerStep(_ model: TransformerModel, outputRows: Int? = nil) -> Int {
        model.weightBytesPerStep(outputRows: outputRows)
    }
}

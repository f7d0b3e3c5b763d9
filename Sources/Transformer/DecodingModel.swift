import Tensor

/// A language model as every decoding loop drives it (``DecodingLoop``, the speculative decoder): a KV cache of one sequence that
/// grows by ``append(_:)`` and rolls back by ``truncate(to:)``.
///
/// Conventions: ``append(_:)`` puts `tokens` at positions `length..<length+n` and returns their
/// logits, shape (n, ``logitWidth``), row i predicting the token after `tokens[i]`. The returned
/// tensor may be a view that the next call overwrites.
///
/// The real implementation is ``InferenceSession`` (and SpecDecode's `SessionModel`, a session with
/// a trimmed output layer); tests drive the decoders with deterministic models whose batched and
/// single-step logits agree by construction.
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
    /// Appends `tokens` whose logits nobody reads (a prompt's prefix); a model may skip its output
    /// layer. The cache ends exactly as after ``append(_:)``.
    func extend(_ tokens: [Int]) throws
    /// The hidden states behind the last append's logits, (n, C), or nil (default: nil).
    var lastHiddenStates: Tensor? { get }
    /// The ids a trimmed output layer scores, ascending, when every other logit is so low that its
    /// probability is exactly 0 at any temperature; nil for a full output layer (default: nil).
    /// Samplers may then work on these K entries instead of V.
    var outputIDs: [Int32]? { get }
}

extension DecodingModel {
    /// Appends and drops the logits.
    public func extend(_ tokens: [Int]) throws { _ = try append(tokens) }
    /// The hidden states behind the last append's logits, (n, C); nil for a model without them
    /// (``InferenceSession/lastHiddenStates`` is the real one).
    public var lastHiddenStates: Tensor? { nil }
    /// A full output layer.
    public var outputIDs: [Int32]? { nil }
}

/// An ``InferenceSession`` is the model's ``DecodingModel``.
extension InferenceSession: DecodingModel {
    public var logitWidth: Int { model.config.vocabSize }
    public var capacity: Int { maxT }
    public var batchInvariantRows: Int { InferenceSession.batchInvariantRows }
    public var weightBytesPerStep: Int { model.weightBytesPerStep(outputRows: outputRows) }
    public var outputIDs: [Int32]? { sortedOutputIDs }
}

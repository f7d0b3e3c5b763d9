import Tensor
import Transformer

/// Plain autoregressive decoding over a ``DecodingModel``: one single-token `append` per emitted
/// token, sampled with the same ``Sampler`` settings the speculative decoder uses, so `--compare`
/// measures both under identical rules (and at temperature 0 they emit identical tokens).
public final class PlainDecoder {
    public let model: DecodingModel
    public let sampler: Sampler
    public var rng: RandomGenerator
    private var probs: [Float]

    /// - Parameters:
    ///   - vocabularySize: tokens that may be sampled (default: the logit width); logits past it
    ///     (padding) are masked.
    public init(model: DecodingModel, sampling: SamplingSettings, seed: UInt64, vocabularySize: Int? = nil) {
        let V = vocabularySize ?? model.logitWidth
        precondition(V >= 1 && V <= model.logitWidth, "vocabulary size \(V) outside 1...\(model.logitWidth)")
        self.model = model
        sampler = Sampler(settings: sampling, vocabularySize: V)
        rng = RandomGenerator(seed: seed)
        probs = [Float](repeating: 0, count: V)
    }

    /// Emits up to `maxTokens` tokens after `prompt` (``DecodingLoop``); stops after a token of
    /// `stopTokens` (which is emitted) or when the cache is full.
    /// - Throws: ``SpecDecodeError/promptTooLong(_:)`` when the prompt does not fit the context.
    public func decode(prompt: [Int], maxTokens: Int, stopTokens: Set<Int> = [],
                       onToken: (DecodedToken) -> Void = { _ in }) throws -> PlainOutput {
        try DecodingSupport.checkPrompt(prompt, models: [("model", model)])
        let r = try DecodingLoop.run(model, prompt: prompt, maxTokens: maxTokens, stopTokens: stopTokens,
                                     choose: { logits in let t = try next(logits); return (t, t) },
                                     onToken: { _, token in onToken(DecodedToken(id: token, origin: .target)) })
        var stats = PlainStatistics()
        stats.prompts = 1; stats.promptTokens = prompt.count
        stats.prefillSeconds = r.prefillSeconds
        stats.decodeSeconds = r.decodeSeconds
        stats.targetCalls = r.steps
        stats.emitted = r.tokens.count
        return PlainOutput(tokens: r.tokens, stopReason: r.stopReason, statistics: stats)
    }

    /// The token after `logits`: the argmax when greedy, else a draw from the sampler's distribution.
    private func next(_ logits: UnsafePointer<Float>) throws -> Int {
        try probs.withUnsafeMutableBufferPointer { pb -> Int in
            if sampler.settings.isGreedy { return Sampler.argmax(logits, count: sampler.vocabularySize) }
            sampler.distribution(logits, into: pb.baseAddress!)
            do { return try rng.checkedCategorical(pb.baseAddress!, count: sampler.vocabularySize) } catch {
                throw SpecDecodeError.invalidLogits("the model's logits are not a distribution (\(error)); its weights or activations hold NaN/Inf — check or re-create the model file")
            }
        }
    }
}

import Tensor

/// Sampled generation with the KV cache (``DecodingLoop`` with a ``Sampler``): one `append` per token.
public final class Generator {
    public let model: TransformerModel
    public let sampler: Sampler
    public var rng: RandomGenerator
    public let session: InferenceSession
    private var probs: [Float]

    public init(model: TransformerModel, settings: SamplingSettings, seed: UInt64, maxT: Int? = nil) {
        self.model = model
        self.sampler = Sampler(settings: settings, vocabularySize: model.config.vocabSize)
        self.rng = RandomGenerator(seed: seed)
        self.session = InferenceSession(model: model, maxT: maxT)
        self.probs = [Float](repeating: 0, count: model.config.vocabSize)
    }

    /// Generates up to `maxTokens` tokens after `prompt`, calling `onToken` for each; stops after a
    /// token in `stopTokens` (which is reported) or at the context limit.
    /// - Returns: the loop's result: the tokens, why it stopped, prefill and decode seconds.
    /// - Throws: ``ModelError/shape(_:)`` when the prompt is empty or does not fit the context.
    @discardableResult
    public func generate(prompt: [Int], maxTokens: Int, stopTokens: Set<Int> = [],
                         onToken: (Int) -> Void = { _ in }) throws -> DecodingLoop.Result {
        try generate(prompt: prompt, maxTokens: maxTokens, stopTokens: stopTokens, rng: &rng, onToken: onToken)
    }

    /// The same loop drawing from a caller's random stream (the distillation trainers sample the
    /// student's and the teacher's responses from theirs, so a resumed run draws the same tokens).
    /// It is ``DecodingLoop`` over this generator's session.
    @discardableResult
    public func generate(prompt: [Int], maxTokens: Int, stopTokens: Set<Int> = [], rng: inout RandomGenerator,
                         onToken: (Int) -> Void = { _ in }) throws -> DecodingLoop.Result {
        try DecodingLoop.run(session, prompt: prompt, maxTokens: maxTokens, stopTokens: stopTokens, choose: { logits in
            let token = probs.withUnsafeMutableBufferPointer { sampler.sample(logits, scratch: $0.baseAddress!, rng: &rng) }
            return (token, token)
        }, onToken: { _, token in onToken(token) })
    }
}

import Foundation
import Tensor

/// Plain autoregressive generation with the KV cache: one `append` per token.
public final class Generator {
    public let model: TransformerModel
    public let sampler: Sampler
    public var rng: RandomGenerator
    public let session: InferenceSession
    private var probs: [Float]

    public struct Stats: Codable, Sendable {
        public var generated = 0
        public var prefillSeconds = 0.0
        public var decodeSeconds = 0.0
        public var stoppedAtEOS = false
    }

    public init(model: TransformerModel, settings: SamplingSettings, seed: UInt64, maxT: Int? = nil) {
        self.model = model
        self.sampler = Sampler(settings: settings, vocabularySize: model.config.vocabSize)
        self.rng = RandomGenerator(seed: seed)
        self.session = InferenceSession(model: model, maxT: maxT)
        self.probs = [Float](repeating: 0, count: model.config.vocabSize)
    }

    /// Generates up to `maxTokens` tokens after `prompt`, calling `onToken` for each; stops after a
    /// token in `stopTokens` (which is reported) or at the context limit.
    /// - Throws: when the prompt does not fit the context.
    @discardableResult
    public func generate(prompt: [Int], maxTokens: Int, stopTokens: Set<Int> = [], onToken: (Int) -> Void = { _ in }) throws -> Stats {
        try generate(prompt: prompt, maxTokens: maxTokens, stopTokens: stopTokens, rng: &rng, onToken: onToken)
    }

    /// The same loop drawing from a caller's random stream (the distillation trainers sample the
    /// student's and the teacher's responses from theirs, so a resumed run draws the same tokens).
    @discardableResult
    public func generate(prompt: [Int], maxTokens: Int, stopTokens: Set<Int> = [], rng: inout RandomGenerator,
                         onToken: (Int) -> Void = { _ in }) throws -> Stats {
        var stats = Stats()
        guard !prompt.isEmpty else { throw ModelError.shape("generate: empty prompt") }
        guard prompt.count < session.maxT else {
            throw ModelError.shape("the prompt has \(prompt.count) tokens but the context holds \(session.maxT); shorten the prompt")
        }
        let t0 = DispatchTime.now().uptimeNanoseconds
        var logits = try session.prefill(prompt)
        let t1 = DispatchTime.now().uptimeNanoseconds
        stats.prefillSeconds = Double(t1 - t0) * 1e-9
        while stats.generated < maxTokens {
            let token = probs.withUnsafeMutableBufferPointer { sampler.sample(logits.pointer, scratch: $0.baseAddress!, rng: &rng) }
            stats.generated += 1
            onToken(token)
            if stopTokens.contains(token) { stats.stoppedAtEOS = true; break }
            if session.length >= session.maxT || stats.generated >= maxTokens { break }
            logits = try session.append([token]).row(0)
        }
        stats.decodeSeconds = Double(DispatchTime.now().uptimeNanoseconds - t1) * 1e-9
        return stats
    }
}

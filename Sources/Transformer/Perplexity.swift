import Foundation
import Tensor

/// The result of ``perplexity(model:tokens:context:stride:onWindow:)``.
public struct PerplexityResult: Equatable, Sendable, Codable {
    /// Σ −log p(x_t | context) over the scored tokens (natural log).
    public var totalNLL: Double
    /// Number of scored tokens: N − 1 (every token but the first).
    public var scoredTokens: Int
    /// Number of forward windows run.
    public var windows: Int

    /// Mean negative log-likelihood per scored token (nats); 0 when nothing was scored.
    public var meanNLL: Double { scoredTokens > 0 ? totalNLL / Double(scoredTokens) : 0 }
    /// exp(mean NLL).
    public var perplexity: Double { exp(meanNLL) }
}

/// Perplexity of `tokens` under `model`, scored with a sliding window like llama.cpp's and
/// Hugging Face's (the "strided" evaluation of the transformers perplexity guide):
///
///     for begin in 0, stride, 2·stride, …:
///         end = min(begin + context, N)
///         run the model on tokens[begin..<end] (fresh KV cache)
///         score every target t in max(prevEnd, begin + 1)..<end as −log softmax(logits[t − 1 − begin])[tokens[t]]
///         prevEnd = end; stop when end == N
///
/// Every token but the first is scored exactly once, with between `context − stride` and
/// `context − 1` tokens of left context (all of its prefix when that is shorter). Unlike the
/// guide's code, which averages each window's loss and re-weights it by the window's target
/// count, the sum here is exact per token.
/// - Parameters:
///   - tokens: the token ids (N ≥ 2), each in 0..<V.
///   - context: window length in tokens, 2 ≤ context ≤ the model's maximum positions.
///   - stride: how far each window moves, 1 ≤ stride ≤ context.
///   - onWindow: called after each window with (tokens scored so far, N − 1).
/// - Throws: ``ModelError`` for an invalid context/stride, fewer than 2 tokens, or a token id
///   outside the vocabulary.
public func perplexity(model: TransformerModel, tokens: [Int], context: Int, stride: Int,
                       onWindow: (_ scored: Int, _ total: Int) -> Void = { _, _ in }) throws -> PerplexityResult {
    let N = tokens.count, V = model.config.vocabSize
    guard N >= 2 else { throw ModelError.shape("perplexity needs at least 2 tokens, got \(N)") }
    guard context >= 2, context <= model.config.maxPositions else {
        throw ModelError.shape("perplexity: context \(context) must be between 2 and the model's \(model.config.maxPositions) positions")
    }
    guard stride >= 1, stride <= context else {
        throw ModelError.shape("perplexity: stride \(stride) must be between 1 and the context \(context)")
    }
    let session = InferenceSession(model: model, maxT: context)
    var result = PerplexityResult(totalNLL: 0, scoredTokens: 0, windows: 0)
    var prevEnd = 0
    var begin = 0
    while begin < N {
        let end = min(begin + context, N)
        let first = max(prevEnd, begin + 1)
        if first < end {
            session.reset()
            // Only rows first−1−begin ..< end−1−begin are needed, but the cache must see every token.
            let logits = try session.append(Array(tokens[begin..<end]))
            for t in first..<end {
                result.totalNLL += negativeLogSoftmax(logits.pointer + (t - 1 - begin) * V, V: V, target: tokens[t])
            }
            result.scoredTokens += end - first
            result.windows += 1
            onWindow(result.scoredTokens, N - 1)
        }
        prevEnd = end
        if end == N { break }
        begin += stride
    }
    return result
}

/// Perplexity in llama.cpp's scheme (`llama-perplexity -c context`, its default without
/// `--ppl-stride`), so the two tools can be compared on the same file and tokens:
///
///     chunks = N / context (at most maxChunks), each tokens[i·context ..< (i+1)·context]
///     with its first token replaced by BOS when `bos` is given (llama.cpp does so when the
///     vocabulary adds BOS); fresh KV cache per chunk
///     score targets t = first + 1 … context − 1 of each chunk, first = context / 2, as
///     −log softmax(logits[t − 1])[chunk[t]]
///
/// so `context − context/2 − 1` tokens per chunk, each with at least `context/2` tokens of left
/// context; the leftover `N mod context` tokens are not scored.
/// - Throws: ``ModelError`` for a context outside 4…max positions, fewer than two chunks of
///   tokens (llama.cpp's own minimum, 2·context), or a token id outside the vocabulary.
public func perplexityInChunks(model: TransformerModel, tokens: [Int], context: Int, bos: Int?, maxChunks: Int? = nil,
                               onChunk: (_ done: Int, _ total: Int) -> Void = { _, _ in }) throws -> PerplexityResult {
    let N = tokens.count, V = model.config.vocabSize
    guard context >= 4, context <= model.config.maxPositions else {
        throw ModelError.shape("perplexity: context \(context) must be between 4 and the model's \(model.config.maxPositions) positions")
    }
    guard N >= 2 * context else {
        throw ModelError.shape("perplexity: llama.cpp's scheme needs at least 2 × context = \(2 * context) tokens, the text has \(N); give a longer text or a smaller --context")
    }
    if let bos, !(0..<V).contains(bos) { throw ModelError.shape("perplexity: BOS id \(bos) is outside the vocabulary (V = \(V))") }
    let chunks = min(N / context, maxChunks ?? Int.max), first = context / 2
    let session = InferenceSession(model: model, maxT: context)
    var result = PerplexityResult(totalNLL: 0, scoredTokens: 0, windows: 0)
    for i in 0..<chunks {
        var chunk = Array(tokens[i * context ..< (i + 1) * context])
        if let bos { chunk[0] = bos }
        session.reset()
        let logits = try session.append(chunk)
        for t in (first + 1)..<context {
            result.totalNLL += negativeLogSoftmax(logits.pointer + (t - 1) * V, V: V, target: chunk[t])
        }
        result.scoredTokens += context - first - 1
        result.windows += 1
        onChunk(i + 1, chunks)
    }
    return result
}

/// −log softmax(row)[target] = logsumexp(row) − row[target], in double precision.
func negativeLogSoftmax(_ row: UnsafePointer<Float>, V: Int, target: Int) -> Double {
    var m = -Float.infinity
    for j in 0..<V { m = max(m, row[j]) }
    var s = 0.0
    for j in 0..<V { s += Foundation.exp(Double(row[j] - m)) }
    return Double(m) + Foundation.log(s) - Double(row[target])
}

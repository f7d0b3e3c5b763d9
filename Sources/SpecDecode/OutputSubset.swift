/// A draft's trimmed output layer: the draft scores only `ids`, a subset of the vocabulary, and
/// every other token gets the logit ``excludedLogit`` (probability 0 after softmax).
///
/// Why: a small draft built from a large-vocabulary target carries the target's whole output
/// matrix (V × C; for SmolLM2, 49,152 × 576 floats = 113 MB, two thirds of a 4-layer draft's
/// bytes per step), so on a memory-bound CPU the draft's cost ratio c is dominated by a layer
/// whose rare rows are almost never the right proposal. Keeping the K most frequent tokens of the
/// draft's training text cuts that read to K × C (FR-Spec / VocabTrim do the same on GPUs).
///
/// Exactness: speculative decoding stays lossless — the rejection rule only needs the draft's
/// distribution q, and q = 0 outside the subset is a valid distribution (the residual
/// max(0, p − q) then covers those tokens); greedy outputs stay identical to plain greedy
/// decoding (a proposal outside the target's argmax is rejected either way). Only acceptance can
/// drop, by at most the target's probability mass outside the subset.
public struct OutputSubset: Equatable, Sendable {
    /// The kept token ids, ascending and unique.
    public let ids: [Int]
    /// The logit written for tokens outside the subset: finite (so 0 · logit stays 0 in entropy
    /// and KL sums) and low enough that exp(logit − max) underflows to 0 in float32.
    public static let excludedLogit: Float = -1e30

    /// A subset from explicit ids (sorted and de-duplicated).
    /// - Throws: ``SpecDecodeError/invalidSettings(_:)`` when empty or an id is outside `0..<vocabularySize`.
    public init(ids: [Int], vocabularySize: Int) throws {
        let unique = Array(Set(ids)).sorted()
        guard !unique.isEmpty else { throw SpecDecodeError.invalidSettings("an output subset needs at least one token id") }
        if let bad = unique.first(where: { $0 < 0 || $0 >= vocabularySize }) {
            throw SpecDecodeError.invalidSettings("output subset: token id \(bad) is outside the vocabulary of \(vocabularySize)")
        }
        self.ids = unique
    }

    /// The `k` most frequent ids of `streams` (ties: the lower id first) together with `always`
    /// (special tokens such as EOS / end-of-turn, which a draft must be able to propose).
    /// Tokens that never occur are not kept, so the subset may be smaller than `k + always.count`.
    /// - Throws: when `k < 1`, or an id is outside `0..<vocabularySize`.
    public static func mostFrequent(_ k: Int, in streams: [[Int]], always: [Int], vocabularySize: Int) throws -> OutputSubset {
        guard k >= 1 else { throw SpecDecodeError.invalidSettings("--draft-vocab must be at least 1, got \(k)") }
        var counts = [Int](repeating: 0, count: vocabularySize)
        for stream in streams {
            for t in stream {
                guard t >= 0 && t < vocabularySize else {
                    throw SpecDecodeError.invalidSettings("output subset: token id \(t) is outside the vocabulary of \(vocabularySize)")
                }
                counts[t] += 1
            }
        }
        let ranked = (0..<vocabularySize).filter { counts[$0] > 0 }.sorted { counts[$0] != counts[$1] ? counts[$0] > counts[$1] : $0 < $1 }
        return try OutputSubset(ids: Array(ranked.prefix(k)) + always, vocabularySize: vocabularySize)
    }

    /// The fraction of the tokens of `streams` that the subset contains (its coverage).
    public func coverage(of streams: [[Int]]) -> Double {
        let kept = Set(ids)
        var total = 0, inside = 0
        for s in streams { total += s.count; inside += s.reduce(0) { $0 + (kept.contains($1) ? 1 : 0) } }
        return total == 0 ? 0 : Double(inside) / Double(total)
    }
}

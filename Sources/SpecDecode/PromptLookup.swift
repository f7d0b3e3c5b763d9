/// Settings of draftless speculation by prompt lookup (``PromptLookup``).
public struct LookupSettings: Codable, Equatable, Sendable {
    /// The n-gram sizes matched, longest first: n = nMax, nMax − 1, …, nMin (llama.cpp's
    /// `--spec-ngram-size`, vLLM's `prompt_lookup_min` / `prompt_lookup_max`). Default 2…3: on
    /// SmolLM2-135M / XSum the first drafted token was accepted 40%, 65% and 96% of the time when
    /// matching n ≥ 1, n ≥ 2 and n ≥ 3 tokens (README, issue 18).
    public var nMin: Int
    public var nMax: Int
    /// Most tokens proposed per round (nil: the draft settings' `draftMax`). Hugging Face's
    /// `prompt_lookup_num_tokens`.
    public var draftMax: Int?
    /// With a draft model too: which source drafts a round (``ChainPolicy``). Default
    /// ``ChainPolicy/expected``: with SmolLM2-135M and its 1-layer draft it was 1.8% faster than
    /// ``ChainPolicy/first`` on average over 2 runs × 2 tasks, with higher α in 3 of 4 (README, issue 18).
    public var chain: ChainPolicy
    /// Verify only as many proposed tokens as pay for their verification rows (``LookupLength``);
    /// false: every proposed token (up to `draftMax`).
    public var adaptive: Bool

    public init(nMin: Int = 2, nMax: Int = 3, draftMax: Int? = nil, chain: ChainPolicy = .expected, adaptive: Bool = true) {
        self.nMin = nMin; self.nMax = nMax; self.draftMax = draftMax; self.chain = chain; self.adaptive = adaptive
    }

    /// - Throws: ``SpecDecodeError/invalidSettings(_:)`` naming the offending value.
    public func validate() throws {
        if nMin < 1 || nMax < nMin || nMax > 16 {
            throw SpecDecodeError.invalidSettings("lookup n-gram sizes need 1 ≤ min ≤ max ≤ 16, got \(nMin)...\(nMax)")
        }
        if let d = draftMax, d < 1 { throw SpecDecodeError.invalidSettings("lookup draft-max must be ≥ 1, got \(d)") }
    }
}

/// Draftless proposals: the tokens that followed the latest earlier occurrence of the sequence's
/// last n tokens (prompt lookup; Saxena 2023, Hugging Face `prompt_lookup_num_tokens`, llama.cpp
/// `--spec-type ngram-*`, vLLM's n-gram proposer).
///
/// **Matching.** For n = nMax down to nMin: if the last n tokens of prompt + output occurred
/// earlier, propose up to gamma tokens that followed their most recent occurrence, stopping at
/// the end of the sequence. The context (prompt and output so far) is searched first; then a
/// static **corpus** (text tokenized with the target's tokenizer, `--lookup-corpus`), at the same
/// n, before a shorter n is tried. No match at nMin: no proposal (the round drafts nothing, or a
/// draft model drafts it; see ``ChainPolicy``). Both are ``NGramIndex``es, so a proposal costs
/// O(nMax − nMin + 1) hash probes and appending a token as many updates: c ≈ 0.
///
/// **Rejection sampling with a deterministic proposal.** A proposal is not sampled: q is one-hot
/// on the proposed token x. Speculative sampling (algorithms.md §2.1) then accepts x with
/// probability `min(1, p(x)/q(x)) = min(1, p(x)/1) = p(x)`, and on rejection samples the
/// residual `norm(max(p − q, 0))`: `max(p − q, 0)` is p with x's entry set to 0 (p(x) − 1 ≤ 0),
/// so the residual is p without x, renormalised by `1 − p(x)`. The emitted token is x with
/// probability p(x) and y ≠ x with probability `(1 − p(x)) · p(y)/(1 − p(x)) = p(y)`: exactly p,
/// as for any draft. Lossy acceptance uses `min(1, f(p(x), eps))`. At temperature 0 the greedy
/// rule applies unchanged (accept while x is the target's argmax).
///
/// **State.** The context index holds the committed sequence only; ``observe(_:)`` indexes the
/// tokens added since the last call, so each committed token is indexed once. Rejected drafts
/// never enter the index, so rollback needs no undo.
public final class PromptLookup {
    public let settings: LookupSettings
    private var context: NGramIndex
    private let corpus: NGramIndex?

    /// - Parameter corpus: token ids of extra text to match in (empty: prompt and output only).
    public init(settings: LookupSettings, corpus: [Int] = []) {
        self.settings = settings
        context = NGramIndex(nMin: settings.nMin, nMax: settings.nMax)
        self.corpus = corpus.isEmpty ? nil : NGramIndex(nMin: settings.nMin, nMax: settings.nMax, sequence: corpus)
    }

    /// Tokens of the corpus index (0 without a corpus).
    public var corpusTokens: Int { corpus?.count ?? 0 }

    /// Starts a new sequence with room for `capacity` tokens.
    public func reset(capacity: Int = 0) {
        context.removeAll()
        context.reserveCapacity(capacity)
    }

    /// Indexes the tokens of `sequence` past the ones already seen. `sequence` must extend the
    /// sequence seen so far (the decoder's committed tokens only grow within one decode).
    public func observe(_ sequence: [Int]) {
        for i in context.count..<sequence.count { context.append(sequence[i]) }
    }

    /// Appends up to `maxCount` proposed tokens to `drafts` (which the caller keeps allocated).
    /// - Returns: the n of the match, or nil without a proposal.
    @discardableResult
    public func propose(maxCount: Int, into drafts: inout [Int]) -> Int? {
        let end = context.count
        guard maxCount > 0, end > 0 else { return nil }
        for n in stride(from: min(settings.nMax, end), through: settings.nMin, by: -1) {
            if let f = context.follower(of: context.tokens, end: end, n: n) {
                for i in f..<min(end, f + maxCount) { drafts.append(context.tokens[i]) }
                return n
            }
            if let corpus, let f = corpus.follower(of: context.tokens, end: end, n: n) {
                for i in f..<min(corpus.count, f + maxCount) { drafts.append(corpus.tokens[i]) }
                return n
            }
        }
        return nil
    }
}

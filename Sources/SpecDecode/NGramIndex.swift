/// An incremental index of the n-grams of a growing token sequence: for every n in
/// `nMin...nMax` and every n-gram that has a following token, the position of that following
/// token at the n-gram's **most recent** occurrence.
///
/// Entries: when token `t_m` is appended, every n-gram ending at `m − 1` (`t_{m−n} … t_{m−1}`,
/// n ≤ m) now has a follower and maps to position m, replacing an earlier occurrence. The
/// sequence's own suffix therefore has no entry until another token follows it, and a look-up of
/// the suffix finds the latest *earlier* occurrence — the prompt-lookup match of Hugging Face's
/// `prompt_lookup_num_tokens` and llama.cpp's n-gram speculation.
///
/// Cost: appending a token costs `nMax − nMin + 1` hash-map updates and a look-up as many probes,
/// independent of the sequence length (no rescans). Keys are 64-bit hashes of the n tokens; a
/// look-up compares the stored occurrence token by token, so a hash collision can lose a match
/// but never return a wrong one.
///
/// Rollback: only tokens the decoder has committed (prompt and emitted output) enter the index —
/// drafts never do — so a rejected draft needs no undo; ``removeAll()`` starts a new sequence.
public struct NGramIndex: Sendable {
    /// The shortest and longest n-gram indexed (1 ≤ nMin ≤ nMax).
    public let nMin: Int
    public let nMax: Int
    /// The indexed sequence.
    public private(set) var tokens: [Int] = []
    /// Index n − nMin: n-gram hash → position of the token that followed its latest occurrence.
    private var followers: [[UInt64: Int32]]

    public init(nMin: Int, nMax: Int) {
        precondition(nMin >= 1 && nMin <= nMax, "n-gram sizes need 1 ≤ nMin ≤ nMax, got \(nMin)...\(nMax)")
        self.nMin = nMin; self.nMax = nMax
        followers = [[UInt64: Int32]](repeating: [:], count: nMax - nMin + 1)
    }

    /// An index of `sequence`.
    public init(nMin: Int, nMax: Int, sequence: [Int]) {
        self.init(nMin: nMin, nMax: nMax)
        reserveCapacity(sequence.count)
        for t in sequence { append(t) }
    }

    public var count: Int { tokens.count }

    /// Room for `n` tokens without regrowing (decoders reserve prompt + max new tokens).
    public mutating func reserveCapacity(_ n: Int) {
        tokens.reserveCapacity(n)
        for k in followers.indices { followers[k].reserveCapacity(n) }
    }

    /// Forgets the sequence, keeping the storage.
    public mutating func removeAll() {
        tokens.removeAll(keepingCapacity: true)
        for k in followers.indices { followers[k].removeAll(keepingCapacity: true) }
    }

    /// Appends `token` and indexes the n-grams it follows.
    public mutating func append(_ token: Int) {
        let m = tokens.count
        tokens.append(token)
        guard m >= nMin else { return }
        for n in nMin...min(nMax, m) {
            followers[n - nMin][NGramIndex.hash(tokens, from: m - n, count: n)] = Int32(m)
        }
    }

    /// Position of the token that followed the latest occurrence of `context[end − n ..< end]`
    /// in this index's sequence, or nil (none, or n outside `nMin...nMax`, or `end < n`).
    public func follower(of context: [Int], end: Int, n: Int) -> Int? {
        guard n >= nMin, n <= nMax, end >= n,
              let j = followers[n - nMin][NGramIndex.hash(context, from: end - n, count: n)] else { return nil }
        let f = Int(j)
        for i in 0..<n where tokens[f - n + i] != context[end - n + i] { return nil }   // a hash collision
        return f
    }

    /// FNV-1a style hash of `a[from ..< from + count]` (64-bit, with the count mixed in).
    @inline(__always)
    static func hash(_ a: [Int], from: Int, count n: Int) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ UInt64(n)
        for i in from..<(from + n) {
            h = (h ^ UInt64(bitPattern: Int64(a[i]))) &* 0x0000_0100_0000_01b3
            h ^= h >> 29
        }
        return h
    }
}

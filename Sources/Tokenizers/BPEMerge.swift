/// The merge order of a BPE vocabulary: for two adjacent tokens, whether they merge, into which
/// token, and with which priority (lower `rank` merges first; equal ranks merge leftmost first).
public protocol MergeRanking {
    func merge(_ left: Int, _ right: Int) -> (rank: Double, merged: Int)?
}

/// Ranks from an explicit merges list: rank = the merge's line number (Hugging Face `merges`,
/// GGUF `tokenizer.ggml.merges`).
public struct MergeTable: MergeRanking, Sendable {
    /// key `left << 32 | right` → value `rank << 32 | merged`.
    var table: [Int: Int] = [:]

    public init() {}

    /// Adds `left right → merged` with the given rank. A pair listed twice keeps its first rank
    /// (llama.cpp) or, with `overwrite`, its last (Hugging Face builds a map from the list).
    public mutating func add(left: Int, right: Int, merged: Int, rank: Int, overwrite: Bool = false) {
        let key = left << 32 | right
        if overwrite || table[key] == nil { table[key] = rank << 32 | merged }
    }

    public var count: Int { table.count }

    @inline(__always)
    public func merge(_ left: Int, _ right: Int) -> (rank: Double, merged: Int)? {
        guard let v = table[left << 32 | right] else { return nil }
        return (Double(v >> 32), v & 0xFFFF_FFFF)
    }
}

/// Ranks from SentencePiece scores (llama.cpp's "llama" vocabularies without merges): two
/// tokens merge when their concatenation is a token, the highest-scoring concatenation first,
/// leftmost first on ties — the order of llama.cpp's `llm_tokenizer_spm`.
///
/// Every split of every mergeable token into two tokens is precomputed into a `MergeTable`
/// whose rank is the dense rank of the merged token's score (equal scores → equal ranks, so
/// ties still go to the leftmost pair); `mergeByConcatenation` is the plain definition.
public struct ScoreRanking: MergeRanking, Sendable {
    let pieces: [String]
    let pieceToID: [TokenText: Int]
    let scores: [Float]
    /// Tokens that may result from a merge (normal, user-defined and unused; not control or byte).
    let mergeable: [Bool]
    let table: MergeTable

    init(pieces: [String], pieceToID: [TokenText: Int], scores: [Float], mergeable: [Bool]) {
        self.pieces = pieces
        self.pieceToID = pieceToID
        self.scores = scores
        self.mergeable = mergeable
        let distinct = Array(Set(scores)).sorted(by: >)
        let denseRank = Dictionary(uniqueKeysWithValues: distinct.enumerated().map { ($1, $0) })
        var table = MergeTable()
        for (id, p) in pieces.enumerated() where mergeable[id] && pieceToID[TokenText(p)] == id {
            let scalars = Array(p.unicodeScalars)
            guard scalars.count > 1 else { continue }
            for k in 1..<scalars.count {
                if let li = pieceToID[TokenText(scalars: scalars[..<k])], let ri = pieceToID[TokenText(scalars: scalars[k...])] {
                    table.add(left: li, right: ri, merged: id, rank: denseRank[scores[id]]!)
                }
            }
        }
        self.table = table
    }

    @inline(__always)
    public func merge(_ left: Int, _ right: Int) -> (rank: Double, merged: Int)? {
        table.merge(left, right)
    }

    /// The definition: look the concatenation up; rank = −score.
    public func mergeByConcatenation(_ left: Int, _ right: Int) -> (rank: Double, merged: Int)? {
        guard let id = pieceToID[TokenText(pieces[left] + pieces[right])], mergeable[id] else { return nil }
        return (-Double(scores[id]), id)
    }
}

/// Applies BPE merges to a sequence of token ids until no adjacent pair has a merge.
public enum BPEMerge {
    /// Fast merge: a linked list of symbols and a binary heap of candidate pairs ordered by
    /// (rank, position); stale heap entries (a neighbour changed) are skipped. O(n log n).
    public static func apply<R: MergeRanking>(_ ids: inout [Int], ranking: R) {
        let n = ids.count
        if n < 2 { return }
        if n <= 8 { return applyReference(&ids, ranking: ranking) }
        var next = [Int](unsafeUninitializedCapacity: n) { b, c in for i in 0..<n { b[i] = i + 1 }; c = n }
        var prev = [Int](unsafeUninitializedCapacity: n) { b, c in for i in 0..<n { b[i] = i - 1 }; c = n }
        var heap = PairHeap()
        heap.reserve(n)
        for i in 0..<(n - 1) {
            if let m = ranking.merge(ids[i], ids[i + 1]) {
                heap.push(.init(rank: m.rank, pos: i, left: ids[i], right: ids[i + 1], merged: m.merged))
            }
        }
        while let top = heap.pop() {
            let i = top.pos
            let j = next[i]
            // Stale: the left symbol was absorbed (-1 id), or either side changed since the push.
            guard ids[i] == top.left, j < n, ids[j] == top.right else { continue }
            ids[i] = top.merged
            ids[j] = -1
            let k = next[j]
            next[i] = k
            if k < n { prev[k] = i }
            if prev[i] >= 0, let m = ranking.merge(ids[prev[i]], ids[i]) {
                heap.push(.init(rank: m.rank, pos: prev[i], left: ids[prev[i]], right: ids[i], merged: m.merged))
            }
            if k < n, let m = ranking.merge(ids[i], ids[k]) {
                heap.push(.init(rank: m.rank, pos: i, left: ids[i], right: ids[k], merged: m.merged))
            }
        }
        ids.removeAll { $0 < 0 }
    }

    /// Plain reference: repeatedly scan all adjacent pairs and merge the one with the lowest
    /// (rank, position). O(n²); also the fast path for short words.
    public static func applyReference<R: MergeRanking>(_ ids: inout [Int], ranking: R) {
        while ids.count > 1 {
            var best: (rank: Double, pos: Int, merged: Int)? = nil
            for i in 0..<(ids.count - 1) {
                if let m = ranking.merge(ids[i], ids[i + 1]), best == nil || m.rank < best!.rank {
                    best = (m.rank, i, m.merged)
                }
            }
            guard let b = best else { return }
            ids[b.pos] = b.merged
            ids.remove(at: b.pos + 1)
        }
    }
}

/// Candidate merges, lowest (rank, position) first.
typealias PairHeap = BinaryHeap<MergeCandidate>

/// A merge of the pair at `pos` (`left`, `right` → `merged`) of BPE rank `rank`.
struct MergeCandidate: HeapOrdered {
    var rank: Double; var pos: Int; var left: Int; var right: Int; var merged: Int

    @inline(__always)
    static func before(_ a: MergeCandidate, _ b: MergeCandidate) -> Bool {
        a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos)
    }
}

extension MergeTable {
    /// The merges in rank order as (left, right, merged) ids.
    public var orderedMerges: [(left: Int, right: Int, merged: Int)] {
        table.sorted { $0.value >> 32 < $1.value >> 32 }
            .map { (left: $0.key >> 32, right: $0.key & 0xFFFF_FFFF, merged: $0.value & 0xFFFF_FFFF) }
    }
}

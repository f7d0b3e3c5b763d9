/// Trains a byte-level BPE tokenizer (GPT-2 style) on text, following the algorithm of Hugging
/// Face `tokenizers`' `BpeTrainer` so that both produce the same vocabulary and merges:
///
/// 1. Pre-tokenize every text with the GPT-2 pattern and map bytes to `ByteLevel` characters;
///    count the distinct words.
/// 2. Vocabulary: the special tokens, then all 256 byte characters sorted by code point.
/// 3. Repeat until the vocabulary has `vocabularySize` entries: take the adjacent pair with the
///    highest count over all words (count × word frequency), ties → smallest (left id, right id);
///    add the concatenation as a new token, merge the pair in every word that held it when it was
///    counted, and update the counts of the neighbouring pairs. Counts are checked lazily: a
///    popped candidate whose count changed is pushed back with the new count.
/// 4. Stop early when the best count is below `minFrequency` or no pair is left.
public struct BPETrainer: Sendable {
    public var vocabularySize: Int
    public var minFrequency: Int
    /// Added first (ids 0, 1, …) and registered as special added tokens; the first is BOS and EOS.
    public var specialTokens: [String]

    public init(vocabularySize: Int, minFrequency: Int = 0, specialTokens: [String] = ["<|endoftext|>"]) {
        self.vocabularySize = vocabularySize
        self.minFrequency = minFrequency
        self.specialTokens = specialTokens
    }

    /// Trains on `texts` (each one a document; nothing is matched across texts).
    /// - Throws: `TokenizerError` when the vocabulary size is smaller than the special tokens + 256 bytes.
    public func train(_ texts: [String]) throws -> Tokenizer {
        let base = Set(specialTokens.map(TokenText.init)).count + 256
        guard vocabularySize >= base else {
            throw TokenizerError("BPETrainer: vocabularySize \(vocabularySize) is smaller than the \(base) special and byte tokens; use at least \(base)")
        }
        // 1. Word counts.
        var wordCounts: [[Unicode.Scalar]: Int] = [:]
        let pre = CompiledPreTokenizerStep(unchecked: .byteLevel(addPrefixSpace: false, useRegex: true))
        for text in texts {
            for w in pre.apply([Array(text.unicodeScalars)], firstSegment: true) { wordCounts[w, default: 0] += 1 }
        }
        // 2. Initial vocabulary.
        var idToWord: [String] = []
        var wordToID: [TokenText: Int] = [:]
        func add(_ s: String) -> Int {
            if let id = wordToID[TokenText(s)] { return id }
            idToWord.append(s)
            wordToID[TokenText(s)] = idToWord.count - 1
            return idToWord.count - 1
        }
        for t in specialTokens { _ = add(t) }
        for s in ByteLevel.byteToScalar.sorted(by: { $0.value < $1.value }) { _ = add(String(s)) }

        // Words as id sequences, in a fixed order (sorted) so that training is reproducible.
        let sortedWords = wordCounts.sorted { $0.key.lexicographicallyPrecedes($1.key) { $0.value < $1.value } }
        var words: [[Int]] = sortedWords.map { $0.key.map { wordToID[TokenText(String($0))]! } }
        let counts: [Int] = sortedWords.map(\.value)

        // 3. Pair counts and where each pair occurs.
        var pairCounts: [Int: Int] = [:]
        var whereToUpdate: [Int: Set<Int>] = [:]
        for (i, w) in words.enumerated() where w.count > 1 {
            for k in 0..<(w.count - 1) {
                let p = w[k] << 32 | w[k + 1]
                pairCounts[p, default: 0] += counts[i]
                whereToUpdate[p, default: []].insert(i)
            }
        }
        var queue = CountHeap()
        func flushUpdates() {
            for p in whereToUpdate.keys.sorted() {
                let c = pairCounts[p] ?? 0
                if c > 0 { queue.push(count: c, pair: p, positions: whereToUpdate[p]!) }
            }
            whereToUpdate.removeAll(keepingCapacity: true)
        }
        flushUpdates()

        var merges: [(pair: Int, merged: Int)] = []
        while idToWord.count < vocabularySize, var top = queue.pop() {
            let current = pairCounts[top.pair] ?? 0
            if top.count != current {
                top.count = current
                queue.push(count: top.count, pair: top.pair, positions: top.positions)
                continue
            }
            if top.count < 1 || top.count < minFrequency { break }
            let a = top.pair >> 32, b = top.pair & 0xFFFF_FFFF
            let newID = add(idToWord[a] + idToWord[b])
            merges.append((top.pair, newID))
            for i in top.positions.sorted() {
                for (pair, change) in Self.merge(&words[i], a, b, newID) {
                    pairCounts[pair, default: 0] += change * counts[i]
                    if change > 0 { whereToUpdate[pair, default: []].insert(i) }
                }
            }
            flushUpdates()
        }

        // A pair merged twice keeps its last rank, as when Hugging Face builds its merge map.
        var table = MergeTable()
        for (rank, m) in merges.enumerated() {
            table.add(left: m.pair >> 32, right: m.pair & 0xFFFF_FFFF, merged: m.merged, rank: rank, overwrite: true)
        }
        let model = BPEModel(pieces: idToWord, merges: .table(table), byteFallback: false, unknownID: nil,
                             fuseUnknown: false, ignoreMerges: false)
        let added = specialTokens.map { AddedToken(id: wordToID[TokenText($0)]!, content: $0, special: true) }
        let first = specialTokens.first.flatMap { wordToID[TokenText($0)] }
        return try Tokenizer(model: model, preTokenizers: [.byteLevel(addPrefixSpace: false, useRegex: true)],
                             decoders: [.byteLevel], addedTokens: added, bos: first, eos: first)
    }

    /// Merges every non-overlapping occurrence of (a, b), left to right, into `merged`; returns the
    /// pair-count changes (+1 / −1 per occurrence) exactly as Hugging Face's `Word::merge` reports
    /// them (the merged pair itself is not decremented).
    static func merge(_ w: inout [Int], _ a: Int, _ b: Int, _ merged: Int) -> [(Int, Int)] {
        var changes: [(Int, Int)] = []
        var i = 0
        while i < w.count {
            if w[i] == a && i + 1 < w.count && w[i + 1] == b {
                if i > 0 {
                    changes.append((w[i - 1] << 32 | a, -1))
                    changes.append((w[i - 1] << 32 | merged, 1))
                }
                w[i] = merged
                w.remove(at: i + 1)
                if i < w.count - 1 {
                    changes.append((merged << 32 | w[i + 1], 1))
                    changes.append((b << 32 | w[i + 1], -1))
                }
            }
            i += 1
        }
        return changes
    }
}

/// Merge candidates of the trainer: highest count first, then smallest pair, then first pushed.
struct CountHeap {
    struct Entry: HeapOrdered {
        var count: Int; var pair: Int; var seq: Int; var positions: Set<Int>

        static func before(_ x: Entry, _ y: Entry) -> Bool {
            if x.count != y.count { return x.count > y.count }
            if x.pair != y.pair { return x.pair < y.pair }
            return x.seq < y.seq
        }
    }
    private var heap = BinaryHeap<Entry>()
    private var seq = 0

    mutating func push(count: Int, pair: Int, positions: Set<Int>) {
        heap.push(Entry(count: count, pair: pair, seq: seq, positions: positions))
        seq += 1
    }

    mutating func pop() -> Entry? { heap.pop() }
}

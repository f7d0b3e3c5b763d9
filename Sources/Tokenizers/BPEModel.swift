import Foundation

/// The BPE model of a tokenizer: a vocabulary, a merge order, and what to do with characters
/// that are not in the vocabulary (byte fallback to `<0xNN>` tokens, or an unknown token).
public struct BPEModel: Sendable {
    /// How merges are ranked.
    public enum Merges: Sendable {
        /// An explicit merges list (Hugging Face `merges`, GGUF `tokenizer.ggml.merges`).
        case table(MergeTable)
        /// SentencePiece scores (GGUF "llama" vocabularies).
        case scores(ScoreRanking)
    }

    /// Token strings by id (the vocabulary; id = index).
    public let pieces: [String]
    /// Ids by token text, compared byte-wise (`TokenText`); a text listed twice keeps its first id.
    public let pieceToID: [TokenText: Int]
    public let merges: Merges
    /// `<0xNN>` tokens are used for characters missing from the vocabulary.
    public let byteFallback: Bool
    public let unknownID: Int?
    /// Consecutive unknown characters become one unknown token.
    public let fuseUnknown: Bool
    /// A pre-token that is itself a vocabulary entry is emitted whole, without merging.
    public let ignoreMerges: Bool

    /// Ids of single-scalar tokens, the starting symbols of every word.
    let scalarToID: [Unicode.Scalar: Int]
    /// `byteTokenIDs[b]` is the id of `<0xNN>` for byte b, or -1.
    let byteTokenIDs: [Int]

    /// A BPE model from a vocabulary (id = index) and merges in rank order.
    /// - Parameters:
    ///   - merges: (left, right) token strings; each concatenation must be in the vocabulary.
    ///   - unknownToken: the token for characters that are neither in the vocabulary nor byte-encodable.
    /// - Throws: `TokenizerError` naming a merge or unknown token that is not in the vocabulary.
    public init(vocabulary: [String], merges: [(String, String)], byteFallback: Bool = false,
                unknownToken: String? = nil, ignoreMerges: Bool = false) throws {
        let map = TokenText.firstIDs(vocabulary)
        var table = MergeTable()
        for (rank, m) in merges.enumerated() {
            guard let l = map[TokenText(m.0)], let r = map[TokenText(m.1)], let merged = map[TokenText(m.0 + m.1)] else {
                throw TokenizerError("BPE merge \(rank) (\(m.0.debugDescription), \(m.1.debugDescription)) uses a token missing from the vocabulary")
            }
            table.add(left: l, right: r, merged: merged, rank: rank, overwrite: true)
        }
        var unknown: Int? = nil
        if let u = unknownToken {
            guard let id = map[TokenText(u)] else { throw TokenizerError("unknown token \(u.debugDescription) is not in the vocabulary") }
            unknown = id
        }
        self.init(pieces: vocabulary, merges: .table(table), byteFallback: byteFallback, unknownID: unknown,
                  fuseUnknown: false, ignoreMerges: ignoreMerges)
    }

    init(pieces: [String], merges: Merges, byteFallback: Bool, unknownID: Int?, fuseUnknown: Bool,
         ignoreMerges: Bool) {
        self.pieces = pieces
        let map = TokenText.firstIDs(pieces)
        self.pieceToID = map
        self.merges = merges
        self.byteFallback = byteFallback
        self.unknownID = unknownID
        self.fuseUnknown = fuseUnknown
        self.ignoreMerges = ignoreMerges
        var scalars: [Unicode.Scalar: Int] = [:]
        for (i, p) in pieces.enumerated() {
            var it = p.unicodeScalars.makeIterator()
            if let s = it.next(), it.next() == nil, scalars[s] == nil { scalars[s] = i }
        }
        self.scalarToID = scalars
        self.byteTokenIDs = (0..<256).map { map[TokenText(String(format: "<0x%02X>", $0))] ?? -1 }
    }

    /// The id of a token text (compared byte-wise), nil when it is not in the vocabulary.
    public func id(of piece: String) -> Int? { pieceToID[TokenText(piece)] }

    /// Appends the token ids of one pre-token (`word`) to `out`.
    func encode(word: [Unicode.Scalar], into out: inout [Int]) {
        if ignoreMerges {
            if let id = pieceToID[TokenText(scalars: word)] { out.append(id); return }
        }
        var ids: [Int] = []
        ids.reserveCapacity(word.count)
        var lastWasUnknown = false
        for s in word {
            if let id = scalarToID[s] { ids.append(id); lastWasUnknown = false; continue }
            if byteFallback {
                var all = true
                var bytes: [Int] = []
                UTF8.encode(s) { b in
                    let id = byteTokenIDs[Int(b)]
                    if id < 0 { all = false }
                    bytes.append(id)
                }
                if all { ids.append(contentsOf: bytes); lastWasUnknown = false; continue }
            }
            if let unk = unknownID {
                if !(fuseUnknown && lastWasUnknown) { ids.append(unk) }
                lastWasUnknown = true
            }
            // Without an unknown token the character is dropped, as Hugging Face does.
        }
        switch merges {
        case .table(let table): BPEMerge.apply(&ids, ranking: table)
        case .scores(let ranking): BPEMerge.apply(&ids, ranking: ranking)
        }
        out.append(contentsOf: ids)
    }
}

// The Tokenizers module owns text ↔ token ids: tokenizer.json BPE (byte-level and SentencePiece
// style), GGUF vocabularies, pre-tokenizer patterns, added tokens, and a BPE trainer.

/// A token matched verbatim in the text before normalization and pre-tokenization
/// (tokenizer.json `added_tokens`; GGUF control and user-defined tokens).
public struct AddedToken: Sendable, Equatable {
    public var id: Int
    public var content: String
    /// Special tokens (BOS, EOS, chat markers) can be skipped when decoding.
    public var special: Bool
    /// Whitespace just before (lstrip) or after (rstrip) a match belongs to the match.
    public var lstrip: Bool = false
    public var rstrip: Bool = false

    public init(id: Int, content: String, special: Bool, lstrip: Bool = false, rstrip: Bool = false) {
        self.id = id
        self.content = content
        self.special = special
        self.lstrip = lstrip
        self.rstrip = rstrip
    }
}

/// A piece of input text after added-token matching.
enum TextSegment: Equatable {
    case text(Substring, startsText: Bool)
    case token(Int)
}

/// Finds added tokens in text: at each position the longest added token that starts there,
/// scanning left to right (Hugging Face's leftmost-longest matching).
struct AddedTokenMatcher: Sendable {
    let tokens: [AddedToken]
    private let bytes: [[UInt8]]
    /// Candidate token indices by first UTF-8 byte, longest first.
    private let byFirstByte: [[Int]]

    init(_ tokens: [AddedToken]) {
        self.tokens = tokens.filter { !$0.content.isEmpty }
        let utf8 = self.tokens.map { Array($0.content.utf8) }
        bytes = utf8
        var table = [[Int]](repeating: [], count: 256)
        for (i, b) in utf8.enumerated() { table[Int(b[0])].append(i) }
        for k in 0..<256 { table[k].sort { utf8[$0].count > utf8[$1].count } }
        byFirstByte = table
    }

    func split(_ text: String) -> [TextSegment] {
        if tokens.isEmpty { return [.text(text[...], startsText: true)] }
        let utf8 = Array(text.utf8)
        let n = utf8.count
        var out: [TextSegment] = []
        var segmentStart = 0
        var i = 0
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
        func emitText(_ lo: Int, _ hi: Int) {
            if hi > lo {
                let s = text.utf8.index(text.startIndex, offsetBy: lo)
                let e = text.utf8.index(text.startIndex, offsetBy: hi)
                out.append(.text(text[s..<e], startsText: lo == 0))
            }
        }
        while i < n {
            var matched: Int? = nil
            for t in byFirstByte[Int(utf8[i])] {
                let b = bytes[t]
                if i + b.count <= n && utf8[i..<i + b.count].elementsEqual(b) { matched = t; break }
            }
            guard let t = matched else { i += 1; continue }
            var textEnd = i
            if tokens[t].lstrip { while textEnd > segmentStart && isSpace(utf8[textEnd - 1]) { textEnd -= 1 } }
            emitText(segmentStart, textEnd)
            out.append(.token(tokens[t].id))
            i += bytes[t].count
            if tokens[t].rstrip { while i < n && isSpace(utf8[i]) { i += 1 } }
            segmentStart = i
        }
        emitText(segmentStart, n)
        return out
    }
}

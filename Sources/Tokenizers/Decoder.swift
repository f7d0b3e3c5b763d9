/// One step of a tokenizer.json `decoder` (a `Sequence` is a list of these). Steps map the list
/// of token strings to a new list; the results are concatenated at the end.
public enum DecoderStep: Sendable, Equatable {
    /// Byte-level characters back to bytes, then UTF-8 (invalid sequences become U+FFFD).
    case byteLevel
    /// `replacement` back to spaces; the first token loses its leading space unless `prepend` is never.
    case metaspace(replacement: Unicode.Scalar, prepend: PreTokenizerStep.PrependScheme)
    /// Literal replacement inside each token.
    case replace(pattern: String, content: String)
    /// Runs of `<0xNN>` tokens become the UTF-8 text of their bytes (each byte U+FFFD if invalid).
    case byteFallback
    /// All tokens joined into one.
    case fuse
    /// Removes up to `start` leading and `stop` trailing `content` characters from each token.
    case strip(content: Unicode.Scalar, start: Int, stop: Int)

    static let supportedKinds = ["ByteLevel", "Metaspace", "Sequence", "Replace (String pattern)", "ByteFallback", "Fuse", "Strip"]

    func apply(_ tokens: [String]) -> [String] {
        switch self {
        case .byteLevel:
            var bytes: [UInt8] = []
            for t in tokens { ByteLevel.decode(t, into: &bytes) }
            return [String(decoding: bytes, as: UTF8.self)]
        case .metaspace(let replacement, let prepend):
            return tokens.enumerated().map { i, t in
                var s = String(String.UnicodeScalarView(t.unicodeScalars.map { $0 == replacement ? " " : $0 }))
                if i == 0 && prepend != .never && s.unicodeScalars.first == " " { s.unicodeScalars.removeFirst() }
                return s
            }
        case .replace(let pattern, let content):
            return tokens.map { NormalizerStep.replace(pattern: pattern, content: content).apply($0) }
        case .byteFallback:
            var out: [String] = []
            var pending: [UInt8] = []
            func flush() {
                guard !pending.isEmpty else { return }
                if let s = String(validating: pending, as: UTF8.self) { out.append(s) }
                else { out.append(contentsOf: repeatElement("\u{FFFD}", count: pending.count)) }
                pending.removeAll()
            }
            for t in tokens {
                if let b = Self.byteToken(t) { pending.append(b) } else { flush(); out.append(t) }
            }
            flush()
            return out
        case .fuse:
            return [tokens.joined()]
        case .strip(let content, let start, let stop):
            return tokens.map { t in
                var s = Array(t.unicodeScalars)
                var k = 0
                while k < start && s.first == content { s.removeFirst(); k += 1 }
                k = 0
                while k < stop && s.last == content { s.removeLast(); k += 1 }
                return String(String.UnicodeScalarView(s))
            }
        }
    }

    /// The byte of a `<0xNN>` token string.
    static func byteToken(_ t: String) -> UInt8? {
        let u = Array(t.utf8)
        guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
        return UInt8(String(decoding: u[3...4], as: UTF8.self), radix: 16)
    }
}

/// Turns a stream of token ids into text as it becomes complete. A byte-level token can end in
/// the middle of a UTF-8 character; such text is held back until the following tokens finish it.
///
/// It decodes a short window of recent ids with and without the newest ones and returns the
/// difference, so decoders that treat the first token specially (Metaspace, Strip) act only once.
public struct StreamingDecoder {
    public let tokenizer: Tokenizer
    public let skipSpecialTokens: Bool
    private var ids: [Int] = []
    private var prefixOffset = 0
    private var readOffset = 0

    public init(tokenizer: Tokenizer, skipSpecialTokens: Bool = false) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
    }

    /// Adds one id; returns the text that became complete (empty while a character is unfinished).
    public mutating func add(_ id: Int) -> String {
        ids.append(id)
        let prefix = tokenizer.decode(Array(ids[prefixOffset..<readOffset]), skipSpecialTokens: skipSpecialTokens)
        let full = tokenizer.decode(Array(ids[prefixOffset...]), skipSpecialTokens: skipSpecialTokens)
        if full.unicodeScalars.count > prefix.unicodeScalars.count && full.unicodeScalars.last != "\u{FFFD}" {
            let delta = String(String.UnicodeScalarView(full.unicodeScalars.dropFirst(prefix.unicodeScalars.count)))
            prefixOffset = readOffset
            readOffset = ids.count
            return delta
        }
        return ""
    }

    /// The text still held back (an unfinished character, decoded with replacement characters).
    public mutating func finish() -> String {
        let prefix = tokenizer.decode(Array(ids[prefixOffset..<readOffset]), skipSpecialTokens: skipSpecialTokens)
        let full = tokenizer.decode(Array(ids[prefixOffset...]), skipSpecialTokens: skipSpecialTokens)
        prefixOffset = ids.count
        readOffset = ids.count
        guard full.unicodeScalars.count > prefix.unicodeScalars.count else { return "" }
        return String(String.UnicodeScalarView(full.unicodeScalars.dropFirst(prefix.unicodeScalars.count)))
    }
}

/// The text of a token as a dictionary key: equal when the UTF-8 bytes are equal.
///
/// Swift's `String` compares and hashes by Unicode canonical equivalence, so `"a\u{300}"` (a +
/// combining grave) and `"\u{E0}"` (à) are one `String` key. Vocabularies hold such pairs as
/// distinct tokens — llama.cpp's gemma-4 vocabulary has 434 of them (`"▁và"` written both ways) —
/// and Hugging Face `tokenizers` (Rust `String`) and llama.cpp (`std::string`) tell them apart by
/// their bytes. Every map or set keyed by token text in this module (vocabulary, merges, added
/// tokens, the trainer's vocabulary, the tokenizer.json writer) uses `TokenText`, so that two
/// tokens are the same only when their bytes are.
///
/// It wraps the `String` itself (no copy: small strings stay inline), and only equality and
/// hashing change.
public struct TokenText: Hashable, Sendable, CustomStringConvertible {
    public let string: String

    @inline(__always)
    public init(_ string: String) { self.string = string }

    /// The token made of `scalars`, in order.
    public init<S: Sequence<Unicode.Scalar>>(scalars: S) {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        self.string = String(view)
    }

    public var description: String { string }

    @inline(__always)
    public static func == (a: TokenText, b: TokenText) -> Bool {
        var x = a.string, y = b.string
        return x.withUTF8 { p in y.withUTF8 { q in p.elementsEqual(q) } }
    }

    @inline(__always)
    public func hash(into hasher: inout Hasher) {
        var s = string
        s.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// Each token's first id: `pieces[id]` → `id`, the lowest id when a text appears twice.
    public static func firstIDs(_ pieces: [String]) -> [TokenText: Int] {
        var map: [TokenText: Int] = [:]
        map.reserveCapacity(pieces.count)
        for (id, p) in pieces.enumerated() where map[TokenText(p)] == nil { map[TokenText(p)] = id }
        return map
    }

    /// The two tokens of a merge line `"left right"`, split at the first space byte at or after
    /// byte `minimumLeftBytes` — by bytes, not `Character`s: a space followed by a combining mark
    /// (`"ह ै"`) is one `Character`. nil when there is no such space.
    ///
    /// Hugging Face `tokenizers` splits at the first space (`minimumLeftBytes` 0); llama.cpp
    /// searches from the second byte (1), so that a left token may itself be `" "`.
    public static func splitMerge(_ line: String, minimumLeftBytes: Int) -> (String, String)? {
        let utf8 = line.utf8
        guard utf8.count > minimumLeftBytes, let space = utf8.dropFirst(minimumLeftBytes).firstIndex(of: 0x20) else { return nil }
        let scalars = line.unicodeScalars
        return (String(String.UnicodeScalarView(scalars[..<space])), String(String.UnicodeScalarView(scalars[utf8.index(after: space)...])))
    }
}

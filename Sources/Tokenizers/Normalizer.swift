import Foundation

/// One step of a tokenizer.json `normalizer` (a `Sequence` is a list of these), applied to each
/// text segment between added tokens before pre-tokenization.
public enum NormalizerStep: Sendable, Equatable {
    /// Puts `prefix` before a non-empty segment.
    case prepend(String)
    /// Replaces every occurrence of the literal `pattern` by `content`.
    case replace(pattern: String, content: String)
    /// Unicode canonical composition (NFC).
    case nfc

    /// The normalizer kinds this module reads from tokenizer.json.
    static let supportedKinds = ["Sequence", "Prepend", "Replace (String pattern)", "NFC"]

    func apply(_ text: String) -> String {
        switch self {
        case .prepend(let prefix):
            return text.isEmpty ? text : prefix + text
        case .replace(let pattern, let content):
            // Literal scalar-by-scalar matching (no canonical-equivalence folding).
            let s = Array(text.unicodeScalars), needle = Array(pattern.unicodeScalars)
            guard !needle.isEmpty else { return text }
            var out = String.UnicodeScalarView()
            var i = 0
            while i < s.count {
                if i + needle.count <= s.count && s[i] == needle[0] && s[i..<i + needle.count].elementsEqual(needle) {
                    out.append(contentsOf: content.unicodeScalars)
                    i += needle.count
                } else {
                    out.append(s[i])
                    i += 1
                }
            }
            return String(out)
        case .nfc:
            return text.precomposedStringWithCanonicalMapping
        }
    }
}

import Foundation

/// The lines of a JSONL file as the readers see them: split at a line ending ("\n", "\r\n"
/// — one `Character` in Swift, so splitting at "\n" alone misses it — or a lone "\r"; never at
/// U+2028/U+2029/U+0085, which JSON strings may hold unescaped, as GSM8K's do), a UTF-8
/// byte-order mark dropped, surrounding whitespace trimmed, blank lines skipped, each with its
/// 1-based line number for error messages.
public enum JSONLines {
    public static func lines(_ text: String) -> [(number: Int, text: String)] {
        var body = Substring(text)
        if body.first == "\u{FEFF}" { body = body.dropFirst() }
        var out: [(Int, String)] = []
        for (i, line) in body.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }).enumerated() {
            let s = line.trimmingCharacters(in: .whitespaces)
            if !s.isEmpty { out.append((i + 1, s)) }
        }
        return out
    }

    /// The JSON object on a line, or nil when the line is not one.
    public static func object(_ line: String) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
    }
}

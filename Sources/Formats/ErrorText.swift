/// Bounds on what error messages repeat from a file: a corrupt file can hold a 100 MB "name",
/// and a message must stay readable (and cheap to build) whatever the file holds.
public enum ErrorText {
    /// The longest message an error's `description` returns.
    public static let maxMessage = 2000
    /// The longest name (tensor, key, token) quoted inside a message.
    public static let maxName = 120

    /// `s` cut to `limit` characters, with the full length said when cut.
    public static func clip(_ s: String, limit: Int = maxMessage) -> String {
        guard s.utf8.count > limit else { return s }
        let head = s.prefix(limit)
        return head.count < s.count ? "\(head)… (message cut; \(s.count) characters in all)" : s
    }

    /// A name read from a file, made printable (control characters escaped) and cut to `maxName`.
    public static func name(_ s: Substring) -> String { name(String(s)) }
    public static func name(_ s: String) -> String {
        let head = s.utf8.count > maxName ? String(s.prefix(maxName)) : s
        var out = ""
        for u in head.unicodeScalars {
            if u.value < 0x20 || u.value == 0x7F || u.value == 0xFFFD { out += "\\u{\(String(u.value, radix: 16))}" } else { out.unicodeScalars.append(u) }
        }
        return head.count < s.count ? out + "…(\(s.utf8.count) bytes)" : out
    }
}

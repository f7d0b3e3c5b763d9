// The Evaluation module owns evaluation on tasks: metrics (exact match, ROUGE-L, pass@1 in a
// sandbox), the runner over drafts and tasks against plain decoding, result tables and charts.

import Foundation

/// Exact-match scoring of arithmetic answers (GSM8K, ASDiv).
///
/// The final number of an output is the first number after the last "The final answer is:"
/// (case-insensitive; the phrase the AdaSPEC-formatted references end with), or else the last
/// number in the text. A number is an optional minus sign, ASCII digits with optional thousands
/// commas between digits, and an optional decimal part ("1,234.50"). Normalisation removes the
/// commas and leading zeros, and trailing zeros of a decimal part together with a bare point
/// ("18.0" → "18", "2.50" → "2.5", "-0" → "0"), so equal values compare equal as strings.
public enum ArithmeticAnswer {
    public static let marker = "the final answer is:"

    /// The normalised final number of `text`, or nil when it contains no number.
    public static func extract(_ text: String) -> String? {
        let lower = text.lowercased()
        if let r = lower.range(of: marker, options: .backwards),
           let first = numbers(in: String(lower[r.upperBound...])).first {
            return normalize(first)
        }
        return numbers(in: text).last.flatMap(normalize)
    }

    /// The normalised form of the first number in `s` (an answer field such as "1,000" or "$18"),
    /// nil when there is none.
    public static func normalize(_ s: String) -> String? {
        guard let raw = numbers(in: s).first else { return nil }
        var negative = false
        var digits = Substring(raw)
        if digits.hasPrefix("-") { negative = true; digits = digits.dropFirst() }
        var text = digits.replacingOccurrences(of: ",", with: "")
        if text.contains(".") {
            while text.hasSuffix("0") { text.removeLast() }
            if text.hasSuffix(".") { text.removeLast() }
        }
        var integer = text.prefix { $0 != "." }
        let fraction = text.dropFirst(integer.count)
        while integer.count > 1 && integer.hasPrefix("0") { integer = integer.dropFirst() }
        if integer.isEmpty { integer = "0" }
        let value = String(integer) + fraction
        return negative && value != "0" ? "-" + value : value
    }

    /// Whether the final number of `output` equals `answer` after normalisation.
    public static func isCorrect(output: String, answer: String) -> Bool {
        guard let a = normalize(answer), let o = extract(output) else { return false }
        return a == o
    }

    /// The numbers of `text` in order, as written (commas kept).
    public static func numbers(in text: String) -> [String] {
        let c = Array(text.unicodeScalars)
        func isDigit(_ i: Int) -> Bool { i >= 0 && i < c.count && c[i].value >= 48 && c[i].value <= 57 }
        var out: [String] = []
        var i = 0
        while i < c.count {
            guard isDigit(i) else { i += 1; continue }
            // A minus directly before counts unless it joins two words or numbers ("10-12", "x-2").
            let joins = i >= 2 && (Character(c[i - 2]).isLetter || Character(c[i - 2]).isNumber)
            let start = (i > 0 && c[i - 1] == "-" && !joins) ? i - 1 : i
            var j = i
            while isDigit(j) || (j < c.count && c[j] == "," && isDigit(j - 1) && isDigit(j + 1)) { j += 1 }
            if j < c.count && c[j] == "." && isDigit(j + 1) {
                j += 1
                while isDigit(j) { j += 1 }
            }
            var s = ""
            s.unicodeScalars.append(contentsOf: c[start..<j])
            out.append(s)
            i = j
        }
        return out
    }
}

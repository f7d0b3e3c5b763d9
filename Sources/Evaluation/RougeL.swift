import Foundation

/// ROUGE-L (Lin 2004, §3.1): with X the reference of m words, Y the candidate of n words and
/// LCS(X, Y) the length of their longest common subsequence,
/// `R = LCS/m`, `P = LCS/n`, `F1 = 2PR / (P + R)` (0 when LCS = 0).
///
/// Words are maximal runs of letters and digits of the lower-cased text (punctuation and spaces
/// separate words), as the reference implementation `rouge_score` tokenises ASCII text (without
/// stemming); letters outside ASCII are kept as letters here.
public enum RougeL {
    public struct Score: Equatable, Sendable {
        public var precision: Double, recall: Double, f1: Double
        public var lcs: Int
    }

    /// Lower-cased letter/digit words of `text`.
    public static func tokenize(_ text: String) -> [String] {
        var words: [String] = []
        var current = ""
        for ch in text.lowercased() {
            if ch.isLetter || ch.isNumber { current.append(ch) }
            else if !current.isEmpty { words.append(current); current = "" }
        }
        if !current.isEmpty { words.append(current) }
        return words
    }

    /// Length of the longest common subsequence of `a` and `b` (dynamic programming over two rows,
    /// O(|a|·|b|) time, O(|b|) memory).
    public static func lcsLength<T: Equatable>(_ a: [T], _ b: [T]) -> Int {
        if a.isEmpty || b.isEmpty { return 0 }
        var previous = [Int](repeating: 0, count: b.count + 1)
        var current = previous
        for i in 1...a.count {
            for j in 1...b.count {
                current[j] = a[i - 1] == b[j - 1] ? previous[j - 1] + 1 : max(previous[j], current[j - 1])
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }

    /// ROUGE-L of `candidate` against `reference`.
    public static func score(candidate: String, reference: String) -> Score {
        let y = tokenize(candidate), x = tokenize(reference)
        let l = lcsLength(x, y)
        guard l > 0 else { return Score(precision: 0, recall: 0, f1: 0, lcs: 0) }
        let p = Double(l) / Double(y.count), r = Double(l) / Double(x.count)
        return Score(precision: p, recall: r, f1: 2 * p * r / (p + r), lcs: l)
    }
}

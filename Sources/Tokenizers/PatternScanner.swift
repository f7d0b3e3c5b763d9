/// Hand-written scanners for the pre-tokenizer split patterns of the known model families. Each
/// returns the matches of the pattern over a scalar array with the semantics of a regex
/// `find_iter` (leftmost match at each position, alternatives tried in order, greedy runs with
/// the backtracking the pattern implies); the unmatched gaps are handled by the split behaviour.
///
/// - `gpt2` (GPT-2, GPT-NeoX, StarCoder after digit splitting):
///   `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
/// - `llama3` (Llama 3, SmolLM3): `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|`
///   ` ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
/// - `qwen2`: as `llama3` with `\p{N}` (one digit) instead of `\p{N}{1,3}`.
public enum KnownPattern: String, Sendable, CaseIterable {
    case gpt2, llama3, qwen2

    /// The regex source text of each pattern, as written in tokenizer.json files.
    public var regex: String {
        switch self {
        case .gpt2:
            return #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
        case .llama3:
            return #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        case .qwen2:
            return #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        }
    }

    /// The known pattern whose regex text is `source`, nil for any other text. The GPT-2 pattern
    /// is also recognised without its final `|\s+` (llama.cpp's spelling; same matches).
    public init?(regex source: String) {
        if let p = KnownPattern.allCases.first(where: { $0.regex == source }) {
            self = p
        } else if source + #"|\s+"# == KnownPattern.gpt2.regex {
            self = .gpt2
        } else {
            return nil
        }
    }

    /// The matches of the pattern in `s`, as half-open index ranges in increasing order.
    func matches(_ s: [Unicode.Scalar]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var i = 0
        let n = s.count
        while i < n {
            let end = matchEnd(s, at: i)
            precondition(end > i, "pattern scanner made no progress at \(i)")
            out.append(i..<end)
            i = end
        }
        return out
    }

    /// The end of the match that starts at `i` (every scalar starts a match of these patterns:
    /// each is whitespace, letter, number, or other, and each class has an alternative).
    private func matchEnd(_ s: [Unicode.Scalar], at i: Int) -> Int {
        let n = s.count
        @inline(__always) func cls(_ k: Int) -> UInt8 { k < n ? ScalarClass.of(s[k]) : 255 }
        @inline(__always) func run(from k: Int, _ want: UInt8) -> Int {
            var j = k
            while j < n && ScalarClass.of(s[j]) == want { j += 1 }
            return j
        }
        @inline(__always) func isOther(_ k: Int) -> Bool { k < n && ScalarClass.of(s[k]) == 0 }
        @inline(__always) func isNewline(_ k: Int) -> Bool { k < n && (s[k] == "\r" || s[k] == "\n") }

        if let e = contraction(s, at: i, caseInsensitive: self != .gpt2) { return e }
        let c0 = cls(i)
        switch self {
        case .gpt2:
            let start = (s[i] == " " && i + 1 < n && cls(i + 1) != ScalarClass.space) ? i + 1 : i
            let c = cls(start)
            if c == ScalarClass.letter || c == ScalarClass.number { return run(from: start, c) }
            if c == 0 {
                var j = start
                while isOther(j) { j += 1 }
                return j
            }
        case .llama3, .qwen2:
            if c0 == ScalarClass.letter { return run(from: i, ScalarClass.letter) }
            if c0 != ScalarClass.number && !isNewline(i) && cls(i + 1) == ScalarClass.letter {
                return run(from: i + 1, ScalarClass.letter)
            }
            if c0 == ScalarClass.number {
                let limit = self == .llama3 ? 3 : 1
                var j = i
                while j < n && j - i < limit && cls(j) == ScalarClass.number { j += 1 }
                return j
            }
            let start = (s[i] == " " && isOther(i + 1)) ? i + 1 : i
            if isOther(start) {
                var j = start
                while isOther(j) { j += 1 }
                while isNewline(j) { j += 1 }
                return j
            }
            // \s*[\r\n]+ : the whitespace run up to and including its last newline.
            let wsEnd = run(from: i, ScalarClass.space)
            var k = wsEnd - 1
            while k >= i && !isNewline(k) { k -= 1 }
            if k >= i { return k + 1 }
        }
        // \s+(?!\S) then \s+
        precondition(c0 == ScalarClass.space, "unclassified scalar \(s[i])")
        let wsEnd = run(from: i, ScalarClass.space)
        if wsEnd == n || wsEnd - 1 == i { return wsEnd }
        return wsEnd - 1
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d` at `i` (optionally case-insensitive): the end of the match.
    private func contraction(_ s: [Unicode.Scalar], at i: Int, caseInsensitive: Bool) -> Int? {
        guard s[i] == "'", i + 1 < s.count else { return nil }
        @inline(__always) func lower(_ k: Int) -> Unicode.Scalar? {
            guard k < s.count else { return nil }
            let c = s[k]
            if caseInsensitive, c.value >= 65, c.value <= 90 { return Unicode.Scalar(c.value + 32) }
            return c
        }
        switch lower(i + 1) {
        case "s", "t", "m", "d": return i + 2
        case "r": return lower(i + 2) == "e" ? i + 3 : nil
        case "v": return lower(i + 2) == "e" ? i + 3 : nil
        case "l": return lower(i + 2) == "l" ? i + 3 : nil
        default: return nil
        }
    }
}

import Foundation

/// What a split keeps of the pattern's matches (Hugging Face `SplitDelimiterBehavior`).
public enum SplitBehavior: String, Sendable {
    /// Matches and gaps each become pieces.
    case isolated = "Isolated"
    /// Matches are dropped, gaps kept.
    case removed = "Removed"
    /// Each match is joined to the piece before it.
    case mergedWithPrevious = "MergedWithPrevious"
    /// Each match is joined to the piece after it.
    case mergedWithNext = "MergedWithNext"
    /// Consecutive matches are joined into one piece.
    case contiguous = "Contiguous"
}

/// Where a split finds its matches.
public enum SplitPattern: Sendable {
    /// One of the hand-scanned model patterns.
    case known(KnownPattern)
    /// Every occurrence of a literal string.
    case literal(String)
    /// Digits: each digit alone (`individual`), or runs of digits (`\p{N}` / `\p{N}+`).
    case digits(individual: Bool)
    /// Any other regex: run by `ScalarRegex` (Oniguruma's meaning, as in Hugging Face
    /// `tokenizers`); a pattern outside its subset by NSRegularExpression (Foundation's ICU engine).
    case regex(String)

    func matches(_ s: [Unicode.Scalar], compiled: CompiledRegex?) -> [Range<Int>] {
        switch self {
        case .known(let p):
            return p.matches(s)
        case .digits(let individual):
            var out: [Range<Int>] = []
            var i = 0
            while i < s.count {
                if ScalarClass.of(s[i]) == ScalarClass.number {
                    var j = i + 1
                    if !individual { while j < s.count && ScalarClass.of(s[j]) == ScalarClass.number { j += 1 } }
                    out.append(i..<j)
                    i = j
                } else {
                    i += 1
                }
            }
            return out
        case .literal(let text):
            let needle = Array(text.unicodeScalars)
            guard !needle.isEmpty, s.count >= needle.count else { return [] }
            var out: [Range<Int>] = []
            var i = 0
            while i + needle.count <= s.count {
                if s[i] == needle[0] && Array(s[i..<i + needle.count]) == needle {
                    out.append(i..<i + needle.count)
                    i += needle.count
                } else {
                    i += 1
                }
            }
            return out
        case .regex:
            switch compiled {
            case .scalar(let re)?: return re.matches(s)
            case .icu(let re)?: return Self.icuMatches(s, re)
            case nil: preconditionFailure("regex split without compiled expression")
            }
        }
    }

    /// The matches of an NSRegularExpression (which works in UTF-16 offsets) as scalar ranges.
    static func icuMatches(_ s: [Unicode.Scalar], _ re: NSRegularExpression) -> [Range<Int>] {
        var string = ""
        string.unicodeScalars.append(contentsOf: s)
        let utf16 = Array(string.utf16)
        var scalarIndexOfUTF16 = [Int](repeating: 0, count: utf16.count + 1)
        var u = 0
        for (k, sc) in s.enumerated() {
            scalarIndexOfUTF16[u] = k
            u += sc.value > 0xFFFF ? 2 : 1
        }
        scalarIndexOfUTF16[u] = s.count
        let ns = string as NSString
        return re.matches(in: string, range: NSRange(location: 0, length: ns.length)).compactMap { m in
            guard m.range.length > 0 else { return nil }
            return scalarIndexOfUTF16[m.range.location]..<scalarIndexOfUTF16[m.range.location + m.range.length]
        }
    }
}

/// A Split regex ready to run: by `ScalarRegex` when it is in its subset, else by ICU.
enum CompiledRegex {
    case scalar(ScalarRegex)
    case icu(NSRegularExpression)
}

/// One pre-tokenization step of a tokenizer.json `pre_tokenizer` (a `Sequence` is a list of these).
/// Each step maps every piece to zero or more pieces; BPE then runs on each piece separately.
public enum PreTokenizerStep: Sendable {
    /// Byte-level: optionally a space before each piece that does not start with one, optionally a
    /// split by the GPT-2 pattern, then every UTF-8 byte mapped to its `ByteLevel` character.
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    /// A split by a pattern; `invert` splits on what the pattern does not match.
    case split(SplitPattern, behavior: SplitBehavior, invert: Bool)
    /// SentencePiece style: spaces become `replacement`, which is also put before the first piece
    /// (`prependFirst`) or before every piece (`prependAlways`); with `split`, pieces break before
    /// each `replacement`.
    case metaspace(replacement: Unicode.Scalar, prepend: PrependScheme, split: Bool)

    public enum PrependScheme: String, Sendable { case always, first, never }
}

/// A pre-tokenizer step with its regex compiled (when it has one).
struct CompiledPreTokenizerStep {
    let step: PreTokenizerStep
    let regex: CompiledRegex?

    /// A step without a regex (no compilation needed).
    init(unchecked step: PreTokenizerStep) {
        self.step = step
        self.regex = nil
    }

    init(_ step: PreTokenizerStep) throws {
        self.step = step
        if case .split(.regex(let source), _, _) = step {
            if let re = try? ScalarRegex(source) {
                regex = .scalar(re)
            } else {
                do {
                    regex = .icu(try NSRegularExpression(pattern: source))
                } catch {
                    throw TokenizerError("pre-tokenizer Split pattern \(source.debugDescription) is not a known model pattern and NSRegularExpression cannot compile it (\(error)); known patterns: \(KnownPattern.allCases.map(\.rawValue).joined(separator: ", "))")
                }
            }
        } else {
            regex = nil
        }
    }

    /// Applies the step to each piece; `isFirst` tells whether a piece begins the text segment.
    func apply(_ pieces: [[Unicode.Scalar]], firstSegment: Bool) -> [[Unicode.Scalar]] {
        var out: [[Unicode.Scalar]] = []
        out.reserveCapacity(pieces.count)
        for (index, piece) in pieces.enumerated() where !piece.isEmpty {
            switch step {
            case .byteLevel(let addPrefixSpace, let useRegex):
                var p = piece
                if addPrefixSpace && p.first != " " { p.insert(" ", at: 0) }
                if useRegex {
                    for r in KnownPattern.gpt2.matches(p) { out.append(ByteLevel.encode(Array(p[r]))) }
                } else if !p.isEmpty {
                    out.append(ByteLevel.encode(p))
                }
            case .split(let pattern, let behavior, let invert):
                let ranges = pattern.matches(piece, compiled: regex)
                Self.split(piece, matches: ranges, behavior: behavior, invert: invert, into: &out)
            case .metaspace(let replacement, let prepend, let split):
                var p = piece.map { $0 == " " ? replacement : $0 }
                let wantsPrefix = prepend == .always || (prepend == .first && firstSegment && index == 0)
                if wantsPrefix && !p.isEmpty && p.first != replacement { p.insert(replacement, at: 0) }
                if split {
                    var ranges: [Range<Int>] = []
                    for (k, c) in p.enumerated() where c == replacement { ranges.append(k..<k + 1) }
                    Self.split(p, matches: ranges, behavior: .mergedWithNext, invert: false, into: &out)
                } else if !p.isEmpty {
                    out.append(p)
                }
            }
        }
        return out
    }

    /// Cuts `s` at the matches and keeps matches and gaps as `behavior` says (non-empty pieces only).
    static func split(_ s: [Unicode.Scalar], matches: [Range<Int>], behavior: SplitBehavior, invert: Bool,
                      into out: inout [[Unicode.Scalar]]) {
        // Segments in order, each flagged as match or gap.
        var segments: [(Range<Int>, Bool)] = []
        var last = 0
        for m in matches {
            if m.lowerBound > last { segments.append((last..<m.lowerBound, invert)) }
            segments.append((m, !invert))
            last = m.upperBound
        }
        if last < s.count { segments.append((last..<s.count, invert)) }

        var pending: Range<Int>? = nil   // a piece that may still grow (merged behaviours)
        func emit(_ r: Range<Int>) { if !r.isEmpty { out.append(Array(s[r])) } }
        for (r, isMatch) in segments {
            switch behavior {
            case .isolated:
                emit(r)
            case .removed:
                if !isMatch { emit(r) }
            case .mergedWithPrevious:   // "a-b--c" → "a-", "b-", "-", "c"
                if isMatch {
                    if let p = pending { emit(p.lowerBound..<r.upperBound); pending = nil } else { emit(r) }
                } else {
                    if let p = pending { emit(p) }
                    pending = r
                }
            case .mergedWithNext:       // "a-b--c" → "a", "-b", "-", "-c"
                if isMatch {
                    if let p = pending { emit(p) }
                    pending = r
                } else if let p = pending {
                    emit(p.lowerBound..<r.upperBound); pending = nil
                } else {
                    emit(r)
                }
            case .contiguous:           // "a-b--c" → "a", "-", "b", "--", "c"
                if isMatch {
                    pending = pending.map { $0.lowerBound..<r.upperBound } ?? r
                } else {
                    if let p = pending { emit(p); pending = nil }
                    emit(r)
                }
            }
        }
        if let p = pending { emit(p) }
    }
}

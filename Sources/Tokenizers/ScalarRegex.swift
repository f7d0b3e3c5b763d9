/// A regular expression over Unicode scalars: the subset of Oniguruma syntax that pre-tokenizer
/// split patterns use (Hugging Face `tokenizers` runs them with Oniguruma; llama.cpp's
/// `tokenizer.ggml.pre` lists are the same patterns). Matching is backtracking and leftmost-first:
/// at each start the alternatives are tried in order and quantifiers are greedy (or lazy with a
/// trailing `?`), as in Oniguruma, ICU and PCRE.
///
/// Supported constructs (each has a unit test in `ScalarRegexTests`):
/// - literals, `.`, escapes `\r \n \t \f \v \e \a` and escaped punctuation (`\$`, `\[`, `\\` …);
/// - classes `[…]` and `[^…]` with ranges, nested classes and the escapes below;
/// - `\s \S` (White_Space), `\p{X} \P{X}` for a general category or group (`L`, `Lu`, `N`, `P`, `M`, …);
/// - groups `(…)` and `(?:…)` (nothing is captured), `(?i:…)` (case-insensitive literals),
///   lookaheads `(?=…)` and `(?!…)`;
/// - quantifiers `? * + {n} {n,} {n,m}`, lazy with a trailing `?`;
/// - anchors `^` and `$` (start / end of a line, Oniguruma's meaning: `$` also matches before `\n`).
///
/// Anything else (`\d`, `\w`, `\b`, possessive quantifiers, lookbehind, class intersection `&&`,
/// script properties) is refused with `ScalarRegex.Unsupported` rather than guessed.
public struct ScalarRegex: Sendable {
    /// A construct outside the supported subset.
    public struct Unsupported: Error, CustomStringConvertible {
        public let description: String
    }

    indirect enum Node {
        case set(ScalarSet)
        case concat([Node])
        case alternation([Node])
        case repetition(Node, min: Int, max: Int?, greedy: Bool)
        case lookahead(Node, negative: Bool)
        case lineStart, lineEnd
    }

    /// The pattern text as given.
    public let source: String
    /// Compiled programs: 0 is the pattern, the others are lookahead bodies.
    let programs: [[Op]]

    /// Parses and compiles `source`.
    /// - Throws: `Unsupported` naming the construct and its position.
    public init(_ source: String) throws {
        self.source = source
        var parser = Parser(Array(source.unicodeScalars))
        let node = try parser.parseAlternation(caseInsensitive: false)
        if parser.i < parser.p.count {
            throw Unsupported(description: "unbalanced ')' at scalar \(parser.i)")
        }
        var compiler = Compiler()
        _ = try compiler.program(for: node)
        programs = compiler.programs
    }

    /// The recursive-descent parser (one pass over the pattern's scalars).
    struct Parser {
        let p: [Unicode.Scalar]
        var i = 0
        init(_ p: [Unicode.Scalar]) { self.p = p }

        func fail(_ what: String) -> Unsupported {
            Unsupported(description: "\(what) at scalar \(i)")
        }

        mutating func parseAlternation(caseInsensitive ci: Bool) throws -> Node {
            var branches = [try parseConcat(caseInsensitive: ci)]
            while i < p.count && p[i] == "|" {
                i += 1
                branches.append(try parseConcat(caseInsensitive: ci))
            }
            return branches.count == 1 ? branches[0] : .alternation(branches)
        }

        mutating func parseConcat(caseInsensitive ci: Bool) throws -> Node {
            var items: [Node] = []
            while i < p.count && p[i] != "|" && p[i] != ")" {
                let atom = try parseAtom(caseInsensitive: ci)
                items.append(try parseQuantifier(on: atom))
            }
            return items.count == 1 ? items[0] : .concat(items)
        }

        mutating func parseQuantifier(on atom: Node) throws -> Node {
            guard i < p.count else { return atom }
            var min = 0, max: Int? = nil
            switch p[i] {
            case "?": max = 1; i += 1
            case "*": i += 1
            case "+": min = 1; i += 1
            case "{":
                // Oniguruma reads {,n} as {0,n}, ICU as literal text: refuse the ambiguity.
                if i + 1 < p.count && p[i + 1] == "," { throw fail("quantifier {,n}") }
                guard let (lo, hi, end) = counted(from: i) else { return atom }   // a literal '{'
                min = lo; max = hi; i = end
            default:
                return atom
            }
            if case .lookahead = atom { throw fail("quantified lookahead") }
            var greedy = true
            if i < p.count && p[i] == "?" { greedy = false; i += 1 }
            if i < p.count && p[i] == "+" { throw fail("possessive quantifier") }
            if i < p.count, "?*+".unicodeScalars.contains(p[i]) { throw fail("stacked quantifiers") }
            return .repetition(atom, min: min, max: max, greedy: greedy)
        }

        /// `{n}`, `{n,}` or `{n,m}` at `k`: the bounds and the index after `}`.
        func counted(from k: Int) -> (Int, Int?, Int)? {
            var j = k + 1
            func number() -> Int? {
                var v: Int? = nil
                while j < p.count, let d = Int(String(p[j])), p[j].isASCII, v ?? 0 < 100_000 { v = (v ?? 0) * 10 + d; j += 1 }
                return v
            }
            guard let lo = number() else { return nil }
            var hi: Int? = lo
            if j < p.count && p[j] == "," { j += 1; hi = number() }
            guard j < p.count && p[j] == "}", hi.map({ $0 >= lo }) ?? true else { return nil }
            return (lo, hi, j + 1)
        }

        mutating func parseAtom(caseInsensitive ci: Bool) throws -> Node {
            let c = p[i]
            i += 1
            switch c {
            case "(":
                var inner = ci
                var look: Bool? = nil   // negative?
                if i < p.count && p[i] == "?" {
                    guard i + 1 < p.count else { throw fail("unterminated group") }
                    switch p[i + 1] {
                    case ":": i += 2
                    case "=": look = false; i += 2
                    case "!": look = true; i += 2
                    case "i" where i + 2 < p.count && p[i + 2] == ":": inner = true; i += 3
                    default: throw fail("group kind (?\(p[i + 1])")
                    }
                }
                let body = try parseAlternation(caseInsensitive: inner)
                guard i < p.count && p[i] == ")" else { throw fail("missing ')'") }
                i += 1
                return look.map { .lookahead(body, negative: $0) } ?? body
            case "[": return .set(try parseClass())
            case ".": return .set(.dot)
            case "^": return .lineStart
            case "$": return .lineEnd
            case "\\": return .set(try parseEscape(inClass: false, caseInsensitive: ci))
            case "*", "+", "?": throw fail("quantifier without operand")
            default: return .set(Self.literal(c, caseInsensitive: ci))
            }
        }

        /// A class body after `[`, up to and including its `]`.
        mutating func parseClass() throws -> ScalarSet {
            var negated = false
            if i < p.count && p[i] == "^" { negated = true; i += 1 }
            var items: [ScalarSet.Item] = []
            var first = true
            while true {
                guard i < p.count else { throw fail("missing ']'") }
                let c = p[i]
                if c == "]" && !first { i += 1; break }
                first = false
                if c == "[" {
                    i += 1
                    items.append(.set(try parseClass()))
                    continue
                }
                if c == "&" && i + 1 < p.count && p[i + 1] == "&" { throw fail("class intersection &&") }
                // One member: a literal scalar (possibly escaped), or an escape standing for a set.
                var low: Unicode.Scalar
                if c == "\\" {
                    i += 1
                    let set = try parseEscape(inClass: true, caseInsensitive: false)
                    guard case .range(let lo, let hi)? = set.items.first, set.items.count == 1, lo == hi, !set.negated else {
                        items.append(.set(set))
                        continue
                    }
                    low = Unicode.Scalar(lo)!
                } else {
                    low = c
                    i += 1
                }
                // A range `a-z` (a '-' before ']' is a literal).
                if i + 1 < p.count && p[i] == "-" && p[i + 1] != "]" {
                    i += 1
                    var high = p[i]
                    i += 1
                    if high == "\\" {
                        let set = try parseEscape(inClass: true, caseInsensitive: false)
                        guard case .range(let lo, let hi)? = set.items.first, set.items.count == 1, lo == hi else {
                            throw fail("range ending in a class escape")
                        }
                        high = Unicode.Scalar(lo)!
                    }
                    guard high.value >= low.value else { throw fail("reversed range") }
                    items.append(.range(low.value, high.value))
                } else {
                    items.append(.range(low.value, low.value))
                }
            }
            return ScalarSet(items, negated: negated)
        }

        /// An escape after `\`: a set (`\s`, `\p{L}` …) or one literal scalar.
        mutating func parseEscape(inClass: Bool, caseInsensitive ci: Bool) throws -> ScalarSet {
            guard i < p.count else { throw fail("trailing backslash") }
            let c = p[i]
            i += 1
            switch c {
            case "s": return ScalarSet([.whitespace(negated: false)])
            case "S": return ScalarSet([.whitespace(negated: true)])
            case "p", "P":
                guard i < p.count && p[i] == "{", let close = p[i...].firstIndex(of: "}") else { throw fail("\\\(c) without {name}") }
                let name = String(String.UnicodeScalarView(p[(i + 1)..<close]))
                guard let mask = GeneralCategoryBits.mask(named: name) else { throw fail("property \\p{\(name)}") }
                i = close + 1
                return ScalarSet([.category(mask, negated: c == "P")])
            case "r": return Self.literal("\r", caseInsensitive: false)
            case "n": return Self.literal("\n", caseInsensitive: false)
            case "t": return Self.literal("\t", caseInsensitive: false)
            case "f": return Self.literal("\u{0C}", caseInsensitive: false)
            case "v": return Self.literal("\u{0B}", caseInsensitive: false)
            case "e": return Self.literal("\u{1B}", caseInsensitive: false)
            case "a": return Self.literal("\u{07}", caseInsensitive: false)
            default:
                // Escaped punctuation or space is itself; escaped letters and digits are other
                // constructs (\d \w \b \A \z \x \u \1 …), not supported.
                guard !(c.properties.isAlphabetic || ("0"..."9").contains(c)) else { throw fail("escape \\\(c)") }
                return Self.literal(c, caseInsensitive: ci)
            }
        }

        /// A literal scalar; under `(?i)` also its simple case variants (and the two non-ASCII
        /// scalars that case-fold to ASCII letters: U+212A KELVIN SIGN → k, U+017F LONG S → s).
        static func literal(_ c: Unicode.Scalar, caseInsensitive: Bool) -> ScalarSet {
            var values: Set<UInt32> = [c.value]
            if caseInsensitive {
                for m in [c.properties.lowercaseMapping, c.properties.uppercaseMapping] where m.unicodeScalars.count == 1 {
                    values.insert(m.unicodeScalars.first!.value)
                }
                if values.contains(0x6B) { values.insert(0x212A) }
                if values.contains(0x73) { values.insert(0x17F) }
            }
            return ScalarSet(values.sorted().map { .range($0, $0) })
        }
    }
}

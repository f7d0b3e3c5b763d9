import Foundation
import Tensor
import Tokenizers
import XCTest

/// `ScalarRegex`, the pre-tokenizer regex engine: one test per supported construct (expected
/// matches written out by hand), refusals of the unsupported ones, and agreement with ICU
/// (NSRegularExpression) and with the hand-written model scanners on random strings.
final class ScalarRegexTests: XCTestCase {
    /// The matched substrings of `pattern` in `text`.
    func found(_ pattern: String, _ text: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String] {
        let s = Array(text.unicodeScalars)
        return try ScalarRegex(pattern).matches(s).map { String(String.UnicodeScalarView(s[$0])) }
    }

    func testLiteralsAndEscapes() throws {
        XCTAssertEqual(try found("ab", "xabyab"), ["ab", "ab"])
        XCTAssertEqual(try found(#"\r\n|\t"#, "a\r\nb\tc"), ["\r\n", "\t"])
        XCTAssertEqual(try found(#"\$\.\\\["#, #"x$.\[y"#), [#"$.\["#])
        XCTAssertEqual(try found("日本", "日本語日本"), ["日本", "日本"])
        XCTAssertEqual(try found("a.c", "abc a\nc aéc"), ["abc", "aéc"])   // `.` is not \n
    }

    func testClasses() throws {
        XCTAssertEqual(try found("[a-c]+", "abcd cab"), ["abc", "cab"])
        XCTAssertEqual(try found("[^a-c ]+", "abcd cab"), ["d"])
        XCTAssertEqual(try found("[-x]+", "a-x-b"), ["-x-"])                 // '-' first is literal
        XCTAssertEqual(try found("[x-]+", "a-x-b"), ["-x-"])                 // '-' last is literal
        XCTAssertEqual(try found(#"[\]\\]+"#, #"a]\b"#), [#"]\"#])
        XCTAssertEqual(try found("[一-龥]+", "ab日本c"), ["日本"])
        XCTAssertEqual(try found("[a[0-9]]+", "xa1b"), ["a1"])               // nested class
        XCTAssertEqual(try found(#"[\r\n]"#, "a\r\nb"), ["\r", "\n"])
    }

    func testWhitespaceAndCategories() throws {
        XCTAssertEqual(try found(#"\s+"#, "a \t\u{A0}\u{3000}b\nc"), [" \t\u{A0}\u{3000}", "\n"])
        XCTAssertEqual(try found(#"\S+"#, "ab  c"), ["ab", "c"])
        XCTAssertEqual(try found(#"\p{L}+"#, "ab1Жя日 x"), ["ab", "Жя日", "x"])
        XCTAssertEqual(try found(#"\P{L}+"#, "ab1Жя"), ["1"])
        XCTAssertEqual(try found(#"\p{N}+"#, "a12½Ⅻ٣b"), ["12½Ⅻ٣"])
        XCTAssertEqual(try found(#"\p{Lu}"#, "aBcD"), ["B", "D"])
        XCTAssertEqual(try found(#"\p{P}+"#, "a!?,b$+c（）"), ["!?,", "（）"]) // $ and + are symbols
        XCTAssertEqual(try found(#"\p{S}+"#, "a$+<b"), ["$+<"])
        XCTAssertEqual(try found(#"[\p{L}\p{M}]+"#, "e\u{301}x 1"), ["e\u{301}x"])
        XCTAssertEqual(try found(#"[^\s\p{L}]+"#, "ab !? 12c"), ["!?", "12"])
    }

    func testGroupsAndAlternation() throws {
        // Leftmost-first: the first alternative that matches wins, not the longest.
        XCTAssertEqual(try found("a|ab", "ab"), ["a"])
        XCTAssertEqual(try found("ab|a", "ab"), ["ab"])
        XCTAssertEqual(try found("(?:ab)+", "ababa"), ["abab"])
        XCTAssertEqual(try found("(ab|cd)e", "abe cde ace"), ["abe", "cde"])
        XCTAssertEqual(try found("x(?:)y", "xy"), ["xy"])
    }

    func testCaseInsensitiveGroup() throws {
        XCTAssertEqual(try found("(?i:'s|'ll)", "'S 'lL 's 'x"), ["'S", "'lL", "'s"])
        XCTAssertEqual(try found("(?i:k)", "k K \u{212A}"), ["k", "K", "\u{212A}"])   // Kelvin sign folds to k
        XCTAssertEqual(try found("(?i:a)b", "AB Ab ab"), ["Ab", "ab"])               // only inside the group
    }

    func testLookahead() throws {
        XCTAssertEqual(try found(#"\s+(?!\S)"#, "a   b  "), ["  ", "  "])
        XCTAssertEqual(try found(#"a(?=b)"#, "ab ac"), ["a"])
        XCTAssertEqual(try found(#"\s+(?!\S)|\s+"#, "a   b"), ["  ", " "])
    }

    func testQuantifiers() throws {
        XCTAssertEqual(try found("ab?", "a ab abb"), ["a", "ab", "ab"])
        XCTAssertEqual(try found("ab*", "a ab abb"), ["a", "ab", "abb"])
        XCTAssertEqual(try found("ab+", "a ab abb"), ["ab", "abb"])
        XCTAssertEqual(try found(#"\p{N}{1,3}"#, "1234567"), ["123", "456", "7"])
        XCTAssertEqual(try found("a{2}", "aaaaa"), ["aa", "aa"])
        XCTAssertEqual(try found("a{2,}", "a aaaaa"), ["aaaaa"])
        XCTAssertEqual(try found("a+?", "aaa"), ["a", "a", "a"])                   // lazy
        XCTAssertEqual(try found("a{x", "a{x"), ["a{x"])                            // not a counter: literal
        XCTAssertEqual(try found("[0-9][0-9][0-9]", "12345678"), ["123", "456"])
    }

    func testAnchors() throws {
        XCTAssertEqual(try found(#"\s+$"#, "a  b  "), ["  "])
        XCTAssertEqual(try found(#"b$"#, "ab\nab"), ["b", "b"])                      // $ also before \n
        XCTAssertEqual(try found(#"^a"#, "aa\na"), ["a", "a"])
    }

    func testUnsupportedConstructsAreRefused() {
        for pattern in [#"\d+"#, #"\w"#, #"\bx"#, "a++", "(?<=a)b", #"[\p{L}&&[^a]]"#, #"\p{Han}"#, "(?i)a",
                        "(a*)*", "a{,2}", "a)", "(a", "[a", "*a", #"\x41"#] {
            XCTAssertThrowsError(try ScalarRegex(pattern), pattern) { error in
                XCTAssertTrue(error is ScalarRegex.Unsupported, "\(pattern): \(error)")
            }
        }
    }

    /// ICU's matches of `pattern` as substrings (the reference on random strings).
    func icu(_ pattern: String, _ text: String) throws -> [String] {
        let re = try NSRegularExpression(pattern: pattern)
        let ns = text as NSString
        return re.matches(in: text, range: NSRange(location: 0, length: ns.length))
            .filter { $0.range.length > 0 }.map { ns.substring(with: $0.range) }
    }

    /// The model patterns, through ScalarRegex, agree with ICU on random strings over letters,
    /// digits, marks, punctuation, symbols, CJK, Hangul, fullwidth forms and whitespace.
    func testAgreesWithICUOnModelPatterns() throws {
        let alphabet: [String] = ["a", "b", "s", "t", "l", "S", "L", "0", "7", "'", " ", " ", "\t", "\n", "\r", "!",
            ".", "$", "+", "<", "`", "|", "(", "é", "Ж", "日", "本", "가", "ࠀ", "😀", "\u{301}", "\u{A0}", "½", "Ⅻ",
            "！", "：", "‘", "\u{3000}", "。", "Ａ", "µ", "_", "~"]
        let patterns = [KnownPattern.gpt2.regex, KnownPattern.llama3.regex, KnownPattern.qwen2.regex,
                        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#,
                        #"\s?\p{L}+"#, #"\s?\p{P}+"#, "[一-龥ࠀ-一가-\u{D7FF}]+", "\\s?[!-/:-~！-／：-～‘-‟\u{3000}-。]+",
                        #"[\p{P}$+<=>^`|~]"#, #"[\p{P}\$\+<=>\^~\|]+"#, "[^\n]+|[\n]+"]
        var g = RandomGenerator(seed: 7)
        for pattern in patterns {
            var mismatches = 0
            for _ in 0..<500 {
                let n = Int(g.next() % 20)
                let text = (0..<n).map { _ in alphabet[Int(g.next() % UInt64(alphabet.count))] }.joined()
                let a = try found(pattern, text), b = try icu(pattern, text)
                if a != b {
                    if mismatches < 3 { XCTFail("\(pattern) on \(text.debugDescription): ScalarRegex \(a) vs ICU \(b)") }
                    mismatches += 1
                }
            }
            XCTAssertEqual(mismatches, 0, pattern)
        }
    }
}

import Tensor
import Foundation
import Tokenizers
import XCTest

/// The hand-written pattern scanners against ICU's regex engine (NSRegularExpression) running
/// the same pattern text, on random strings over a character set where both agree on what
/// `\s`, `\p{L}` and `\p{N}` mean; and the fast BPE merge against its plain reference.
final class PreTokenizerTests: XCTestCase {
    /// Letters, digits, apostrophe cases, spaces, newlines, punctuation, other scripts, emoji,
    /// combining marks, NBSP, other-number and letter-number characters.
    static let alphabet: [String] = ["a", "b", "s", "t", "e", "r", "v", "l", "m", "d", "S", "T", "R", "E", "L", "D",
        "0", "1", "7", "9", "'", "'", "'", " ", " ", " ", " ", "\t", "\n", "\n", "\r", "!", ".", ",", "-", "$", "(", ")",
        "é", "ß", "Ж", "я", "日", "本", "ก", "😀", "🦙", "\u{301}", "\u{A0}", "½", "²", "Ⅻ", "٣", "_", "~", "\u{3000}"]

    func randomString(_ g: inout RandomGenerator) -> String {
        let n = Int(g.next() % 24)
        return (0..<n).map { _ in Self.alphabet[Int(g.next() % UInt64(Self.alphabet.count))] }.joined()
    }

    func tokenizer(_ steps: [PreTokenizerStep]) throws -> Tokenizer {
        try Tokenizer(model: BPEModel(vocabulary: ["a"], merges: []), preTokenizers: steps, decoders: [])
    }

    func testKnownPatternsMatchICU() throws {
        var g = RandomGenerator(seed: 42)
        for pattern in KnownPattern.allCases {
            let fast = try tokenizer([.split(.known(pattern), behavior: .isolated, invert: false)])
            let icu = try tokenizer([.split(.regex(pattern.regex), behavior: .isolated, invert: false)])
            var mismatches = 0
            for _ in 0..<3000 {
                let s = randomString(&g)
                let a = fast.preTokenize(s), b = icu.preTokenize(s)
                if a != b {
                    if mismatches < 3 { XCTFail("\(pattern) on \(s.debugDescription): scanner \(a) vs ICU \(b)") }
                    mismatches += 1
                }
            }
            XCTAssertEqual(mismatches, 0, "\(pattern)")
        }
    }

    func testSplitBehaviours() throws {
        func split(_ b: SplitBehavior, invert: Bool = false) throws -> [String] {
            try tokenizer([.split(.literal("-"), behavior: b, invert: invert)]).preTokenize("the-final--countdown")
        }
        // Hugging Face `SplitDelimiterBehavior` documentation examples.
        XCTAssertEqual(try split(.removed), ["the", "final", "countdown"])
        XCTAssertEqual(try split(.isolated), ["the", "-", "final", "-", "-", "countdown"])
        XCTAssertEqual(try split(.mergedWithPrevious), ["the-", "final-", "-", "countdown"])
        XCTAssertEqual(try split(.mergedWithNext), ["the", "-final", "-", "-countdown"])
        XCTAssertEqual(try split(.contiguous), ["the", "-", "final", "--", "countdown"])
        XCTAssertEqual(try tokenizer([.split(.digits(individual: true), behavior: .isolated, invert: false)]).preTokenize("a123b"), ["a", "1", "2", "3", "b"])
        XCTAssertEqual(try tokenizer([.split(.digits(individual: false), behavior: .isolated, invert: false)]).preTokenize("a123b"), ["a", "123", "b"])
        XCTAssertEqual(try tokenizer([.metaspace(replacement: "▁", prepend: .always, split: true)]).preTokenize("hey friend"), ["▁hey", "▁friend"])
    }

    /// Empty text has no pre-tokens, even with a prefix space or a prepended ▁ (nothing to prefix).
    func testEmptyTextHasNoPieces() throws {
        XCTAssertEqual(try tokenizer([.byteLevel(addPrefixSpace: true, useRegex: true)]).preTokenize(""), [])
        XCTAssertEqual(try tokenizer([.metaspace(replacement: "▁", prepend: .always, split: false)]).preTokenize(""), [])
        XCTAssertEqual(try tokenizer([.byteLevel(addPrefixSpace: true, useRegex: true)]).preTokenize("hi"), ["Ġhi"])
    }

    func testByteLevelTable() {
        XCTAssertEqual(ByteLevel.byteToScalar[0x20], "Ġ")
        XCTAssertEqual(ByteLevel.byteToScalar[0x0A], "Ċ")
        XCTAssertEqual(ByteLevel.byteToScalar[Int(UInt8(ascii: "A"))], "A")
        XCTAssertEqual(Set(ByteLevel.byteToScalar).count, 256)
    }

    /// Heap-based merging equals the O(n²) reference on random merge tables and words of
    /// awkward lengths (ties in rank included).
    func testFastMergeMatchesReference() {
        var g = RandomGenerator(seed: 7)
        for trial in 0..<200 {
            let symbols = 3 + Int(g.next() % 5)
            var table = MergeTable()
            var next = symbols
            for _ in 0..<(10 + Int(g.next() % 40)) {
                let l = Int(g.next() % UInt64(next)), r = Int(g.next() % UInt64(next))
                table.add(left: l, right: r, merged: next, rank: Int(g.next() % 30))
                next += 1
            }
            for n in [1, 3, 17, 65, 200] {
                let word = (0..<n).map { _ in Int(g.next() % UInt64(symbols)) }
                var fast = word, reference = word
                BPEMerge.apply(&fast, ranking: table)
                BPEMerge.applyReference(&reference, ranking: table)
                XCTAssertEqual(fast, reference, "trial \(trial) n \(n)")
            }
        }
    }
}


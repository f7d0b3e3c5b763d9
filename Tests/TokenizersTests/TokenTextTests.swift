import Foundation
import Formats
import Tokenizers
import XCTest

/// Token texts compare byte-wise (`TokenText`), as in Hugging Face `tokenizers` and llama.cpp:
/// two tokens whose texts are canonically equivalent — equal as Swift `String`s — stay two
/// tokens through every way of building a tokenizer (gemma-4 has 434 such pairs).
final class TokenTextTests: XCTestCase {
    /// "a" + U+0300 (combining grave) and U+00E0 ("à"): canonically equivalent, different bytes.
    static let decomposed = "a\u{300}", composed = "\u{E0}"

    /// ids: 0 "a", 1 U+0300, 2 "à" (one scalar), 3 "a" + U+0300 (the merge of 0 and 1).
    static func tiny() throws -> Tokenizer {
        let model = try BPEModel(vocabulary: ["a", "\u{300}", composed, decomposed], merges: [("a", "\u{300}")])
        return try Tokenizer(model: model, preTokenizers: [], decoders: [.fuse])
    }

    /// Both texts keep their own id, encode to it, and decode to their own bytes.
    func assertDistinct(_ t: Tokenizer, composedID: Int, decomposedID: Int, _ label: String,
                        file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(t.id(of: Self.composed), composedID, "\(label) id(of: à)", file: file, line: line)
        XCTAssertEqual(t.id(of: Self.decomposed), decomposedID, "\(label) id(of: a + U+0300)", file: file, line: line)
        XCTAssertEqual(t.encode(Self.composed, addSpecialTokens: false), [composedID], "\(label) encode à", file: file, line: line)
        XCTAssertEqual(t.encode(Self.decomposed, addSpecialTokens: false), [decomposedID], "\(label) encode a + U+0300", file: file, line: line)
        XCTAssertEqual(Array(t.decode([composedID]).utf8), Array(Self.composed.utf8), "\(label) decode à", file: file, line: line)
        XCTAssertEqual(Array(t.decode([decomposedID]).utf8), Array(Self.decomposed.utf8), "\(label) decode a + U+0300", file: file, line: line)
        XCTAssertEqual(Array(t.piece(decomposedID).utf8), Array(Self.decomposed.utf8), "\(label) piece", file: file, line: line)
    }

    func testCanonicallyEquivalentTokensStayDistinct() throws {
        XCTAssertEqual(Self.composed, Self.decomposed, "the premise: Swift String equality is canonical")
        assertDistinct(try Self.tiny(), composedID: 2, decomposedID: 3, "BPEModel")
    }

    /// Written as tokenizer.json and read back, both tokens are still there (the vocabulary
    /// object must not become a String-keyed dictionary on either side).
    func testTokenizerJSONKeepsBothTexts() throws {
        let reloaded = try Tokenizer(tokenizerJSON: try Self.tiny().tokenizerJSON(), source: "written tiny")
        XCTAssertEqual(reloaded.vocabularySize, 4)
        assertDistinct(reloaded, composedID: 2, decomposedID: 3, "tokenizer.json")
    }

    /// From GGUF metadata (the gemma4 model: BPE with merges over the text itself).
    func testGGUFKeepsBothTexts() throws {
        let metadata: [String: GGUFValue] = [
            "tokenizer.ggml.model": .string("gemma4"),
            "tokenizer.ggml.tokens": .array(["a", "\u{300}", Self.composed, Self.decomposed, "▁"].map { .string($0) }),
            "tokenizer.ggml.merges": .array([.string("a \u{300}")]),
        ]
        assertDistinct(try Tokenizer(gguf: metadata), composedID: 2, decomposedID: 3, "GGUF")
    }

    /// Added tokens: matched by bytes in text, and looked up by bytes.
    func testAddedTokensStayDistinct() throws {
        let model = try BPEModel(vocabulary: ["x"], merges: [])
        let t = try Tokenizer(model: model, preTokenizers: [], decoders: [.fuse],
                              addedTokens: [AddedToken(id: 1, content: Self.composed, special: false),
                                            AddedToken(id: 2, content: Self.decomposed, special: false)])
        assertDistinct(t, composedID: 1, decomposedID: 2, "added tokens")
    }

    /// The trainer registers both special tokens, with ids 0 and 1.
    func testTrainerKeepsBothSpecialTokens() throws {
        let t = try BPETrainer(vocabularySize: 260, specialTokens: [Self.composed, Self.decomposed]).train(["ab ab ab"])
        XCTAssertEqual(t.id(of: Self.composed), 0)
        XCTAssertEqual(t.id(of: Self.decomposed), 1)
        XCTAssertEqual(t.encode(Self.composed + "ab" + Self.decomposed, addSpecialTokens: false).first, 0)
        XCTAssertEqual(t.encode(Self.composed + "ab" + Self.decomposed, addSpecialTokens: false).last, 1)
    }

    /// tokenizer.json strings are read byte for byte: a leading U+FEFF (which Foundation's
    /// JSONSerialization drops on Linux), escapes, surrogate pairs and control characters.
    func testTokenizerJSONKeepsEveryCharacter() throws {
        let texts = ["\u{FEFF}", "\u{FEFF}\u{FEFF}", "\u{FEFF}#", "#", "\"", "\\", "/", "\n", "\u{1}", "\u{7F}", "😀", Self.composed, Self.decomposed]
        let model = try BPEModel(vocabulary: texts, merges: [("\u{FEFF}", "\u{FEFF}"), ("\u{FEFF}", "#")])
        let original = try Tokenizer(model: model, preTokenizers: [], decoders: [.fuse])
        let reloaded = try Tokenizer(tokenizerJSON: original.tokenizerJSON(), source: "written")
        XCTAssertEqual(reloaded.vocabularySize, texts.count)
        for (id, text) in texts.enumerated() {
            XCTAssertEqual(Array(reloaded.piece(id).utf8), Array(text.utf8), "id \(id)")
            XCTAssertEqual(reloaded.id(of: text), id, "id(of:) \(text.debugDescription)")
        }
        XCTAssertEqual(reloaded.encode("\u{FEFF}\u{FEFF}", addSpecialTokens: false), [1])

        // Escaped forms read as the characters they stand for.
        let json = #"{"model": {"type": "BPE", "vocab": {"\ufeff": 0, "\ud83d\ude00": 1, "a\/b": 2, "\u00e0": 3, "a\u0300": 4}, "merges": []}}"#
        let escaped = try Tokenizer(tokenizerJSON: Data(json.utf8), source: "escaped")
        for (id, text) in ["\u{FEFF}", "😀", "a/b", Self.composed, Self.decomposed].enumerated() {
            XCTAssertEqual(Array(escaped.piece(id).utf8), Array(text.utf8), "escaped id \(id)")
        }
    }

    /// A "left right" merge line splits at the space byte, also when a combining mark follows
    /// the space (`" ै"` is one `Character`, so a `Character` search finds no space).
    func testMergeLineSplitsAtTheSpaceByte() throws {
        let json = #"{"model": {"type": "BPE", "vocab": {"ह": 0, "ै": 1, "है": 2}, "merges": ["ह ै"]}}"#
        let t = try Tokenizer(tokenizerJSON: Data(json.utf8), source: "devanagari")
        XCTAssertEqual(t.encode("है", addSpecialTokens: false), [2])
    }

    /// Malformed JSON is refused with the byte offset of the problem.
    func testMalformedJSONNamesTheOffset() {
        for (json, offset) in [(#"{"model": {"type": "BPE""#, 24), (#"{"a": "\ud800x"}"#, 13), (#"{"a": 1} x"#, 9),
                               (#"{"a": tru}"#, 6), (String(repeating: "[", count: 600), 512)] {
            XCTAssertThrowsError(try Tokenizer(tokenizerJSON: Data(json.utf8), source: "bad.json")) { error in
                XCTAssertTrue("\(error)".contains("bad.json") && "\(error)".contains("at byte \(offset)"), "\(json.prefix(40)): \(error)")
            }
        }
    }
}

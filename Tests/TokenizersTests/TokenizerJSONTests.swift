import Foundation
import Tokenizers
import XCTest

/// Tokenizers trained and run by Hugging Face `tokenizers` (Scripts/make-tokenizer-fixtures):
/// every Swift encoding, decoding and training result is compared with theirs.
final class TokenizerJSONTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let kinds = ["gpt2", "llama3", "spm", "gpt2-prefix", "spm-first"]

    struct Row: Decodable {
        let text: String
        let ids: [Int]
        let with_special: [Int]
        let decoded: String
        let decoded_skip: String
    }

    static func rows(_ kind: String) throws -> [Row] {
        try JSONDecoder().decode([Row].self, from: Data(contentsOf: fixtures.appendingPathComponent("trained-\(kind).expected.json")))
    }

    static func load(_ kind: String) throws -> Tokenizer {
        try Tokenizer(url: fixtures.appendingPathComponent("trained-\(kind).tokenizer.json"))
    }

    static func corpus() throws -> [String] {
        try JSONDecoder().decode([String].self, from: Data(contentsOf: fixtures.appendingPathComponent("bpe-corpus.json")))
    }

    /// Checks encode / decode of every fixture string against `tokenizers`' results.
    func assertMatches(_ tokenizer: Tokenizer, _ rows: [Row], _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        for r in rows {
            XCTAssertEqual(tokenizer.encode(r.text, addSpecialTokens: false), r.ids, "\(label) encode \(r.text.debugDescription)", file: file, line: line)
            XCTAssertEqual(tokenizer.encode(r.text), r.with_special, "\(label) encode+special \(r.text.debugDescription)", file: file, line: line)
            XCTAssertEqual(tokenizer.decode(r.ids), r.decoded, "\(label) decode \(r.text.debugDescription)", file: file, line: line)
            XCTAssertEqual(tokenizer.decode(r.ids, skipSpecialTokens: true), r.decoded_skip, "\(label) decode skip \(r.text.debugDescription)", file: file, line: line)
        }
    }

    func testEncodeDecodeMatchHuggingFace() throws {
        for kind in Self.kinds {
            assertMatches(try Self.load(kind), try Self.rows(kind), kind)
        }
    }

    func testSpecialTokenRoles() throws {
        let gpt2 = try Self.load("gpt2")
        XCTAssertEqual(gpt2.bosTokenID, gpt2.id(of: "<|endoftext|>"))
        XCTAssertEqual(gpt2.eosTokenID, gpt2.id(of: "<|endoftext|>"))
        XCTAssertFalse(gpt2.addBOS)
        XCTAssertTrue(gpt2.isSpecial(gpt2.id(of: "<|endoftext|>")!))
        XCTAssertEqual(gpt2.vocabularySize, 700)
        let llama3 = try Self.load("llama3")
        XCTAssertTrue(llama3.addBOS)
        XCTAssertEqual(llama3.bosTokenID, 0)
        XCTAssertEqual(llama3.eosTokenID, 1)
        XCTAssertEqual(llama3.piece(700), "<|tool|>")
        XCTAssertFalse(llama3.isSpecial(700))
        let spm = try Self.load("spm")
        XCTAssertEqual(spm.bosTokenID, 1)
        XCTAssertEqual(spm.eosTokenID, 2)
        XCTAssertEqual(spm.id(of: "<0x41>"), 3 + 0x41)
    }

    /// The Swift trainer reproduces the vocabulary and merges of `tokenizers`' BpeTrainer on the
    /// same corpus, and so every encoding.
    func testTrainerMatchesHuggingFace() throws {
        let trained = try BPETrainer(vocabularySize: 700, specialTokens: ["<|endoftext|>"]).train(try Self.corpus())
        let reference = try Self.load("gpt2")
        XCTAssertEqual(trained.vocabularySize, reference.vocabularySize)
        var firstDifference: Int? = nil
        for id in 0..<min(trained.vocabularySize, reference.vocabularySize) where trained.piece(id) != reference.piece(id) {
            firstDifference = id
            break
        }
        XCTAssertNil(firstDifference, "first differing id \(firstDifference ?? -1): swift \(firstDifference.map { trained.piece($0) } ?? "") vs tokenizers \(firstDifference.map { reference.piece($0) } ?? "")")
        let json = try JSONSerialization.jsonObject(with: trained.tokenizerJSON()) as! [String: Any]
        let refJSON = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.fixtures.appendingPathComponent("trained-gpt2.tokenizer.json"))) as! [String: Any]
        let merges = ((json["model"] as! [String: Any])["merges"] as! [[String]])
        let refMerges = ((refJSON["model"] as! [String: Any])["merges"] as! [[String]])
        XCTAssertEqual(merges, refMerges)
        assertMatches(trained, try Self.rows("gpt2"), "swift-trained")
        try Self.export(trained, as: "swift-trained-gpt2.json")
    }

    /// tokenizerJSON() written and read back encodes exactly as the original (all three fixtures
    /// and a trained tokenizer). With SPECDISTILL_EXPORT_DIR set the files are also written there
    /// for `Scripts/make-tokenizer-fixtures --check DIR`, which loads them in `tokenizers`.
    func testWrittenTokenizerJSONRoundTrips() throws {
        for kind in Self.kinds {
            let original = try Self.load(kind)
            let data = original.tokenizerJSON()
            let reloaded = try Tokenizer(tokenizerJSON: data, source: "written \(kind)")
            assertMatches(reloaded, try Self.rows(kind), "rewritten \(kind)")
            XCTAssertEqual(reloaded.bosTokenID, original.bosTokenID)
            XCTAssertEqual(reloaded.eosTokenID, original.eosTokenID)
            try Self.export(original, as: "swift-\(kind).json")
        }
    }

    static func export(_ tokenizer: Tokenizer, as name: String) throws {
        guard let dir = ProcessInfo.processInfo.environment["SPECDISTILL_EXPORT_DIR"] else { return }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try tokenizer.tokenizerJSON().write(to: URL(fileURLWithPath: dir).appendingPathComponent(name))
    }

    func testStreamingDecoderEmitsCompleteText() throws {
        for kind in Self.kinds {
            let tokenizer = try Self.load(kind)
            for r in try Self.rows(kind) {
                var stream = StreamingDecoder(tokenizer: tokenizer)
                var text = ""
                for id in r.ids {
                    let piece = stream.add(id)
                    XCTAssertFalse(piece.unicodeScalars.contains("\u{FFFD}"), "\(kind): partial character emitted for \(r.text.debugDescription)")
                    text += piece
                }
                text += stream.finish()
                XCTAssertEqual(text, r.decoded, "\(kind) streamed \(r.text.debugDescription)")
            }
        }
    }

    func testUnsupportedComponentsThrowClearErrors() throws {
        func message(_ json: String) -> String {
            do { _ = try Tokenizer(tokenizerJSON: Data(json.utf8), source: "x/tokenizer.json"); return "no error" }
            catch { return "\(error)" }
        }
        let wordPiece = message(#"{"model": {"type": "WordPiece", "vocab": {"a": 0}}}"#)
        XCTAssertTrue(wordPiece.contains("x/tokenizer.json") && wordPiece.contains("WordPiece") && wordPiece.contains("supported: BPE"), wordPiece)
        let unigram = message(#"{"model": {"type": "Unigram", "vocab": [["a", 0.0]]}}"#)
        XCTAssertTrue(unigram.contains("Unigram"), unigram)
        let lower = message(#"{"normalizer": {"type": "Lowercase"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}"#)
        XCTAssertTrue(lower.contains("Lowercase") && lower.contains("NFC") && lower.contains("Prepend"), lower)
        let badMerge = message(#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}}"#)
        XCTAssertTrue(badMerge.contains("merge 0"), badMerge)
    }
}

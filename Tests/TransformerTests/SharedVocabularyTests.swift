import Tokenizers
import Transformer
import XCTest

/// The one vocabulary-compatibility rule (``SharedVocabulary``) that train, decode, eval and the
/// evaluation runner share: accept and refuse cases, and the messages that name the fix.
final class SharedVocabularyTests: XCTestCase {
    let pieces = (0..<10).map { "tok\($0)" }

    func check(_ wt: Int, _ wd: Int, _ tp: [String]?, _ dp: [String]?) throws -> Int {
        try SharedVocabulary.check(targetWidth: wt, draftWidth: wd, targetPieces: tp, draftPieces: dp)
    }

    /// Refuses and returns the message (fails the test when the pair is accepted).
    func refusal(_ wt: Int, _ wd: Int, _ tp: [String]?, _ dp: [String]?, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            let V = try check(wt, wd, tp, dp)
            XCTFail("accepted with V \(V); expected a refusal", file: file, line: line)
            return ""
        } catch let e as VocabularyMismatch {
            return e.description
        } catch {
            XCTFail("unexpected error type \(type(of: error)): \(error)", file: file, line: line)
            return ""
        }
    }

    // MARK: Accepted

    func testEqualTokenizersGiveTheirSize() throws {
        XCTAssertEqual(try check(10, 10, pieces, pieces), 10)
        // Widths padded past the tokenizer, differently on each side: sample from the 10 real tokens.
        XCTAssertEqual(try check(16, 12, pieces, pieces), 10)
        XCTAssertEqual(try check(10, 64, pieces, pieces), 10)
    }

    /// The case that used to pass `train` and fail `decode`: a padded logit width and no tokenizer
    /// on the draft. The target's tokenizer defines V; both widths cover it.
    func testPaddedWidthWithoutDraftTokenizerIsAccepted() throws {
        XCTAssertEqual(try check(16, 10, pieces, nil), 10)
        XCTAssertEqual(try check(10, 16, pieces, nil), 10)
        XCTAssertEqual(try check(12, 16, nil, pieces), 10)
    }

    func testNoTokenizersNeedEqualWidths() throws {
        XCTAssertEqual(try check(7, 7, nil, nil), 7)
    }

    /// A PCL student appends its <help> action past V (width V + 1), with the target's tokenizer.
    func testHelpActionInThePaddingIsAccepted() throws {
        XCTAssertEqual(try check(10, 11, pieces, pieces), 10)
    }

    // MARK: Refused, with messages naming the problem and the fix

    func testDifferentStringsNameTheIdAndBothStrings() {
        var other = pieces
        other[6] = "ü6"
        other.append("extra")
        XCTAssertEqual(refusal(11, 11, pieces, other),
                       "the target's tokenizer has 10 tokens and the draft's 11; they first differ at id 6: "
                       + "target \"tok6\" vs draft \"ü6\"; use a draft trained with the target's tokenizer")
    }

    /// Token texts compare byte-wise: "a" + combining grave and "à" are canonically equivalent
    /// (equal as Swift `String`s) but different tokens.
    func testCanonicallyEquivalentStringsDiffer() {
        var target = pieces, draft = pieces
        target[3] = "a\u{300}"
        draft[3] = "\u{E0}"
        let m = refusal(10, 10, target, draft)
        XCTAssertTrue(m.contains("they first differ at id 3"), m)
    }

    func testExtraTokenNamesTheIdAndTheOwner() {
        XCTAssertEqual(refusal(11, 11, pieces, pieces + ["extra"]),
                       "the target's tokenizer has 10 tokens and the draft's 11; id 10 (\"extra\") exists only "
                       + "in the draft's; use a draft trained with the target's tokenizer")
        XCTAssertTrue(refusal(11, 11, pieces + ["more"], pieces).contains("id 10 (\"more\") exists only in the target's"))
        // Extra tokens are refused even when both widths are padded far past both tokenizers.
        XCTAssertFalse(refusal(64, 64, pieces, pieces + ["extra"]).isEmpty)
    }

    func testWidthBelowTheTokenizerIsRefused() {
        let m = refusal(10, 8, pieces, pieces)
        XCTAssertTrue(m.contains("the draft has 8 logits per position but their tokenizer has 10 tokens"), m)
        XCTAssertTrue(m.contains("vocab_size is at least 10"), m)
        // Also with one tokenizer: the tokenizer-less model's width is checked against it.
        let n = refusal(10, 8, pieces, nil)
        XCTAssertTrue(n.contains("the draft has 8 logits per position but the target's tokenizer has 10 tokens"), n)
        let t = refusal(9, 12, nil, pieces)
        XCTAssertTrue(t.contains("the target has 9 logits per position but the draft's tokenizer has 10 tokens"), t)
    }

    func testDifferentWidthsWithoutTokenizersAreRefused() {
        let m = refusal(10, 12, nil, nil)
        XCTAssertTrue(m.contains("the target has 10 logits per position and the draft 12"), m)
        XCTAssertTrue(m.contains("tokenizer.json"), m)
    }

    /// The messages name the second model's role (a PCL student, an AdaSPEC reference).
    func testMessagesNameTheRole() {
        XCTAssertThrowsError(try SharedVocabulary.check(targetWidth: 11, draftWidth: 11, targetPieces: pieces,
                                                        draftPieces: pieces + ["x"], role: "reference")) {
            XCTAssertEqual("\($0)", "the target's tokenizer has 10 tokens and the reference's 11; id 10 (\"x\") exists only "
                           + "in the reference's; use a reference trained with the target's tokenizer")
        }
        XCTAssertThrowsError(try SharedVocabulary.check(targetWidth: 10, draftWidth: 9, targetPieces: pieces, draftPieces: nil, role: "student")) {
            XCTAssertTrue("\($0)".contains("the student has 9 logits per position"), "\($0)")
        }
    }

    // MARK: The model-level form used by the commands

    func testModelsAndTokenizers() throws {
        let tok = try BPETrainer(vocabularySize: 280).train(["the cat sat on the mat", "a dog ran in the park"])
        let V = tok.vocabularySize
        func model(_ width: Int) throws -> TransformerModel {
            try TransformerModel(config: ModelConfig.preset("tiny", vocabSize: width, context: 16)!)
        }
        let target = try model(V + 8), draft = try model(V)
        // Padded target, draft without a tokenizer (as a draft directory without tokenizer.json).
        XCTAssertEqual(try SharedVocabulary.check(target: target, targetTokenizer: tok, draft: draft, draftTokenizer: nil), V)
        // The same tokenizer object (a draft made from the target's layers).
        XCTAssertEqual(try SharedVocabulary.check(target: target, targetTokenizer: tok, draft: draft, draftTokenizer: tok), V)
        // An equal tokenizer read separately (a draft directory with its own tokenizer.json).
        let copy = try BPETrainer(vocabularySize: 280).train(["the cat sat on the mat", "a dog ran in the park"])
        XCTAssertEqual(try SharedVocabulary.check(target: target, targetTokenizer: tok, draft: draft, draftTokenizer: copy), V)
        // A different tokenizer.
        let other = try BPETrainer(vocabularySize: 280).train(["completely different words here"])
        XCTAssertThrowsError(try SharedVocabulary.check(target: target, targetTokenizer: tok, draft: draft, draftTokenizer: other)) {
            XCTAssertTrue("\($0)".contains("they first differ at id") || "\($0)".contains("exists only in"), "\($0)")
        }
        // A draft too narrow for the tokenizer.
        XCTAssertThrowsError(try SharedVocabulary.check(target: target, targetTokenizer: tok, draft: try model(V - 8), draftTokenizer: nil)) {
            XCTAssertTrue("\($0)".contains("the draft has \(V - 8) logits per position"), "\($0)")
        }
    }
}

import SpecDecode
import XCTest

final class VocabularyTests: XCTestCase {
    let pieces = (0..<10).map { "tok\($0)" }

    func testSharedTokenizer() throws {
        XCTAssertEqual(try SharedVocabulary.check(targetWidth: 10, draftWidth: 10, targetPieces: pieces, draftPieces: pieces), 10)
        // Logit widths padded past the tokenizer: sample from the tokenizer's 10 tokens only.
        XCTAssertEqual(try SharedVocabulary.check(targetWidth: 16, draftWidth: 12, targetPieces: pieces, draftPieces: pieces), 10)
        // No tokenizers: equal widths only.
        XCTAssertEqual(try SharedVocabulary.check(targetWidth: 7, draftWidth: 7, targetPieces: nil, draftPieces: pieces), 7)
    }

    func testMismatchNamesSizesIdAndStrings() {
        var other = pieces
        other[6] = "ü6"
        other.append("extra")
        XCTAssertThrowsError(try SharedVocabulary.check(targetWidth: 11, draftWidth: 11, targetPieces: pieces, draftPieces: other)) {
            XCTAssertEqual("\($0)", "the target's tokenizer has 10 tokens and the draft's 11; they first differ at id 6: "
                           + "target \"tok6\" vs draft \"ü6\"; use a draft trained with the target's tokenizer")
        }
        XCTAssertThrowsError(try SharedVocabulary.check(targetWidth: 11, draftWidth: 11, targetPieces: pieces,
                                                        draftPieces: pieces + ["extra"])) {
            XCTAssertEqual("\($0)", "the target's tokenizer has 10 tokens and the draft's 11; id 10 (\"extra\") exists only "
                           + "in the draft's; use a draft trained with the target's tokenizer")
        }
        XCTAssertThrowsError(try SharedVocabulary.check(targetWidth: 10, draftWidth: 8, targetPieces: pieces, draftPieces: pieces)) {
            XCTAssertTrue("\($0)".contains("the draft has 8 logits per position but its tokenizer has 10 tokens"), "\($0)")
        }
        XCTAssertThrowsError(try SharedVocabulary.check(targetWidth: 10, draftWidth: 12, targetPieces: nil, draftPieces: nil)) {
            XCTAssertTrue("\($0)".contains("the target has 10 logits per position and the draft 12"), "\($0)")
        }
    }
}

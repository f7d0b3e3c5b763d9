import Foundation
import TestSupport
import XCTest

/// `tokenize` and `inspect` on llama.cpp's vocabulary-only GGUF files (`ggml-vocab-*.gguf`:
/// tokenizer metadata, no tensors), fetched by Scripts/get-vocab-vectors. Oracle: GPT-2's
/// well-known ids for "Hello world" (15496, 995) and the llama SentencePiece vocabulary's size
/// and special ids (32,000 tokens, BOS 1, EOS 2).
final class VocabularyOnlyGGUFTests: XCTestCase {
    /// The vocabulary-only file of Scripts/get-vocab-vectors (fetched when missing; under CI=true
    /// a missing file fails the test instead of skipping it).
    func vocabulary(_ name: String) throws -> String {
        try RealModels.vocabularyDirectory(names: [name]).appendingPathComponent("ggml-vocab-\(name).gguf").path
    }

    func testTokenizeAVocabularyOnlyFile() throws {
        let gguf = try vocabulary("gpt-2")
        let r = try CLI.run(["tokenize", "-m", gguf, "--text", "Hello world", "--json"], in: FileManager.default.temporaryDirectory)
        XCTAssertEqual(r.status, 0, r.transcript)
        let rows = try JSONSerialization.jsonObject(with: Data(r.lastLine.utf8)) as? [[String: Any]]
        XCTAssertEqual(rows?.compactMap { $0["id"] as? Int }, [15496, 995], r.transcript)
    }

    func testInspectAVocabularyOnlyFile() throws {
        let gguf = try vocabulary("llama-spm")
        let r = try CLI.run(["inspect", gguf], in: FileManager.default.temporaryDirectory)
        XCTAssertEqual(r.status, 0, r.transcript)
        XCTAssertTrue(r.stdout.contains("vocabulary only: no tensors"), r.transcript)
        XCTAssertTrue(r.stdout.contains("32000 tokens, bos 1, eos 2"), r.transcript)
    }
}

import Foundation
import XCTest

/// `tokenize` and `inspect` on llama.cpp's vocabulary-only GGUF files (`ggml-vocab-*.gguf`:
/// tokenizer metadata, no tensors), fetched by Scripts/get-vocab-vectors. Oracle: GPT-2's
/// well-known ids for "Hello world" (15496, 995) and the llama SentencePiece vocabulary's size
/// and special ids (32,000 tokens, BOS 1, EOS 2).
final class VocabularyOnlyGGUFTests: XCTestCase {
    /// The vocabulary directory of Scripts/get-vocab-vectors, fetched when missing; under CI=true a
    /// missing file fails the test instead of skipping it.
    func vocabulary(_ name: String) throws -> String {
        let env = ProcessInfo.processInfo.environment
        let dir = env["SPECDISTILL_VOCAB_DIR"].map(URL.init(fileURLWithPath:))
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/specdistill/vocab")
        let file = dir.appendingPathComponent("ggml-vocab-\(name).gguf")
        if !FileManager.default.fileExists(atPath: file.path) {
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                .appendingPathComponent("../../Scripts/get-vocab-vectors").standardized
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/bash")
            p.arguments = [script.path, dir.path]
            try? p.run()
            p.waitUntilExit()
        }
        if !FileManager.default.fileExists(atPath: file.path) {
            let message = "\(file.path) is missing and Scripts/get-vocab-vectors could not fetch it (needs PyPI)"
            if env["CI"] == "true" { XCTFail("CI=true: " + message) }
            throw XCTSkip(message)
        }
        return file.path
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

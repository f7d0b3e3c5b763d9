import Foundation
import Formats
import TestSupport
import Tokenizers
import XCTest

/// Encode throughput on a few MB of mixed text (prints MB/s; asserts only a generous floor so
/// that a pathological slowdown fails, not machine noise). Uses the GPT-2 GGUF vocabulary when
/// the llama.cpp vectors are present, else the small trained fixture; qwen35 and deepseek-llm time
/// the `ScalarRegex` engine on real vocabularies.
final class EncodeSpeedTests: XCTestCase {
    func testEncodeThroughput() throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
        let corpus = try JSONDecoder().decode([String].self, from: Data(contentsOf: fixtures.appendingPathComponent("bpe-corpus.json")))
        var text = corpus.joined(separator: "\n")
        let extra = "Ünïcödé 日本語テキスト 😀🚀 1234567 \t\n  spaces   and symbols {}[]() "
        while text.utf8.count < 4_000_000 { text += text.utf8.count % 3 == 0 ? extra : corpus.joined(separator: " ") }
        let megabytes = Double(text.utf8.count) / 1e6

        var tokenizers: [(String, Tokenizer)] = [("trained-gpt2 (700)", try Tokenizer(url: fixtures.appendingPathComponent("trained-gpt2.tokenizer.json")))]
        // The real vocabularies are fetched when missing (Scripts/get-vocab-vectors); without them
        // the small fixture still times the encoder, except under CI=true, where it fails.
        let names = ["gpt-2", "llama-bpe", "llama-spm", "qwen35", "deepseek-llm"]
        if let vocab = try? RealModels.vocabularyDirectory(names: [], loadOnly: names) {
            for name in names {
                let url = vocab.appendingPathComponent("ggml-vocab-\(name).gguf")
                tokenizers.append((name, try Tokenizer(gguf: try GGUFFile(url: url).metadata)))
            }
        }
        for (name, tokenizer) in tokenizers {
            // The SentencePiece vocabulary encodes each segment as one word: time it on lines.
            let input = name == "llama-spm" ? String(text.prefix(1_000_000)) : text
            let mb = Double(input.utf8.count) / 1e6
            let start = Date()
            let ids = name == "llama-spm"
                ? input.split(separator: "\n").flatMap { tokenizer.encode(String($0), addSpecialTokens: false) }
                : tokenizer.encode(input, addSpecialTokens: false)
            let seconds = Date().timeIntervalSince(start)
            print(String(format: "encode %@: %.2f MB in %.2f s = %.2f MB/s, %d tokens", name, mb, seconds, mb / seconds, ids.count))
            XCTAssertGreaterThan(mb / seconds, 0.2, "\(name) encodes pathologically slowly")
            XCTAssertGreaterThan(ids.count, 0)
        }
        _ = megabytes
    }
}

import Foundation
import Formats
import Transformer
import XCTest

/// `perplexity(model:tokens:context:stride:)` on the llama GGUF fixture. Oracles: transformers'
/// logits (golden) when one window covers the sequence; for short windows, the definition of
/// the sliding window written out token by token (each target's NLL from a fresh session on
/// exactly its window), which does not share the function's window loop.
final class GGUFPerplexityTests: XCTestCase {
    func testOneWindowEqualsTransformersLogits() throws {
        let (m, _) = try GGUFModelLoader.load(GGUFFixtures.url("llama.gguf"))
        let f = try Golden.load("llama")
        let V = m.config.vocabSize, T = f.T
        let golden = try f.golden.floats("logits")
        for b in 0..<f.B {
            let ids = f.tokens[(b * T)..<((b + 1) * T)].map(Int.init)
            var nll = 0.0
            for t in 1..<T {
                let row = golden[((b * T + t - 1) * V)..<((b * T + t) * V)].map(Double.init)
                let mx = row.max()!
                nll += mx + log(row.map { exp($0 - mx) }.reduce(0, +)) - row[ids[t]]
            }
            for (context, stride) in [(T, T), (64, 1), (10, 3)] {
                let r = try perplexity(model: m, tokens: ids, context: context, stride: stride)
                XCTAssertEqual(r.scoredTokens, T - 1)
                XCTAssertEqual(r.windows, 1)
                XCTAssertEqual(r.totalNLL, nll, accuracy: 1e-4 * Double(T), "row \(b) context \(context)")
                XCTAssertEqual(r.perplexity, exp(nll / Double(T - 1)), accuracy: 1e-3 * r.perplexity)
            }
        }
    }

    /// context 3, stride 2 over 7 tokens: windows [0,3) scores 1, 2; [2,5) scores 3, 4;
    /// [4,7) scores 5, 6. Target t in window [b, e) is predicted from tokens b..<t.
    func testSlidingWindowsScoreEachTokenOnceWithTheirWindow() throws {
        let (m, _) = try GGUFModelLoader.load(GGUFFixtures.url("llama.gguf"))
        let ids = try Golden.load("llama").tokens.prefix(7).map(Int.init)
        let V = m.config.vocabSize
        let windowStart = [1: 0, 2: 0, 3: 2, 4: 2, 5: 4, 6: 4]
        var expected = 0.0
        for t in 1..<7 {
            let s = InferenceSession(model: m, maxT: 8)
            let logits = try s.append(Array(ids[windowStart[t]!..<t])).array
            let row = logits[(logits.count - V)...].map(Double.init)
            let mx = row.max()!
            expected += mx + log(row.map { exp($0 - mx) }.reduce(0, +)) - row[ids[t]]
        }
        var progress: [Int] = []
        let r = try perplexity(model: m, tokens: ids, context: 3, stride: 2) { scored, total in
            XCTAssertEqual(total, 6)
            progress.append(scored)
        }
        XCTAssertEqual(r.windows, 3)
        XCTAssertEqual(r.scoredTokens, 6)
        XCTAssertEqual(progress, [2, 4, 6])
        XCTAssertEqual(r.totalNLL, expected, accuracy: 1e-5)
        // Shorter context → different (here: any) value; the window really is limited.
        let full = try perplexity(model: m, tokens: ids, context: 7, stride: 7)
        XCTAssertNotEqual(full.totalNLL, r.totalNLL, accuracy: 1e-4)
    }

    func testInvalidArgumentsThrow() throws {
        let (m, _) = try GGUFModelLoader.load(GGUFFixtures.url("llama.gguf"))
        let ids = [1, 2, 3, 4]
        for (tokens, context, stride, mention) in [([1], 4, 2, "at least 2"), (ids, 1, 1, "context 1"), (ids, 65, 4, "context 65"),
                                                    (ids, 4, 5, "stride 5"), (ids, 4, 0, "stride 0"), ([1, 999], 4, 2, "999")] {
            XCTAssertThrowsError(try perplexity(model: m, tokens: tokens, context: context, stride: stride)) { error in
                XCTAssertTrue("\(error)".contains(mention), "\(error)")
            }
        }
    }

    /// llama.cpp's scheme written out token by token: context 6 over 15 tokens → 2 chunks
    /// [0, 6) and [6, 12) (the last 3 tokens unscored), each with its first token replaced by
    /// BOS; targets 4 and 5 of each chunk (first = 3), each from a fresh session on the chunk's
    /// tokens before it. Without BOS the chunk's own first token stays.
    func testLlamaCppChunksScoreTheSecondHalfOfEachChunk() throws {
        let (m, _) = try GGUFModelLoader.load(GGUFFixtures.url("llama.gguf"))
        let ids = try Golden.load("llama").tokens.prefix(15).map(Int.init)
        let V = m.config.vocabSize
        for bos in [Optional(1), nil] {
            var expected = 0.0
            for c in 0..<2 {
                var chunk = Array(ids[(6 * c)..<(6 * c + 6)])
                if let bos { chunk[0] = bos }
                for t in 4..<6 {
                    let logits = try InferenceSession(model: m, maxT: 8).append(Array(chunk[..<t])).array
                    let row = logits[(logits.count - V)...].map(Double.init)
                    let mx = row.max()!
                    expected += mx + log(row.map { exp($0 - mx) }.reduce(0, +)) - row[chunk[t]]
                }
            }
            var progress: [Int] = []
            let r = try perplexityInChunks(model: m, tokens: ids, context: 6, bos: bos) { done, total in
                XCTAssertEqual(total, 2); progress.append(done)
            }
            XCTAssertEqual(r.windows, 2)
            XCTAssertEqual(r.scoredTokens, 4)
            XCTAssertEqual(progress, [1, 2])
            XCTAssertEqual(r.totalNLL, expected, accuracy: 1e-5, "BOS \(String(describing: bos))")
            XCTAssertEqual(try perplexityInChunks(model: m, tokens: ids, context: 6, bos: bos, maxChunks: 1).windows, 1)
        }
        XCTAssertThrowsError(try perplexityInChunks(model: m, tokens: ids, context: 8, bos: nil)) {
            XCTAssertTrue("\($0)".contains("2 × context = 16"), "\($0)")
        }
    }
}

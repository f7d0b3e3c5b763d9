import Foundation
import Formats
import Transformer
import XCTest

/// Bad GGUF model files: each load throws (no crash) with a message naming the file and the
/// problem. The files are variants of one valid tiny llama written with GGUFWriter; the valid
/// one loads, so each failure is due to the one change.
final class GGUFModelErrorTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("gguf-model-errors-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// V 10, C 8, L 1, NH 2, NKV 1, HS 4, F 16.
    static let metadata: [(String, GGUFValue)] = [
        ("general.architecture", .string("llama")), ("llama.block_count", .uint32(1)), ("llama.context_length", .uint32(32)),
        ("llama.embedding_length", .uint32(8)), ("llama.feed_forward_length", .uint32(16)),
        ("llama.attention.head_count", .uint32(2)), ("llama.attention.head_count_kv", .uint32(1)),
        ("llama.attention.layer_norm_rms_epsilon", .float32(1e-5)),
    ]
    static let tensors: [(String, [Int])] = [
        ("token_embd.weight", [10, 8]), ("blk.0.attn_norm.weight", [8]), ("blk.0.attn_q.weight", [8, 8]),
        ("blk.0.attn_k.weight", [4, 8]), ("blk.0.attn_v.weight", [4, 8]), ("blk.0.attn_output.weight", [8, 8]),
        ("blk.0.ffn_norm.weight", [8]), ("blk.0.ffn_gate.weight", [16, 8]), ("blk.0.ffn_up.weight", [16, 8]),
        ("blk.0.ffn_down.weight", [8, 16]), ("output_norm.weight", [8]),
    ]

    /// Writes the tiny llama with metadata `edit`ed and tensors `editTensors`ed.
    func file(_ name: String, metadata edit: (inout [(String, GGUFValue)]) -> Void = { _ in },
              tensors editTensors: (inout [(String, [Int])]) -> Void = { _ in },
              raw: [(String, [Int], GGMLType, [UInt8])] = []) throws -> URL {
        var meta = Self.metadata, tensors = Self.tensors
        edit(&meta)
        editTensors(&tensors)
        var w = GGUFWriter()
        for (k, v) in meta { try w.add(key: k, v) }
        for (n, shape) in tensors {
            try w.add(tensor: n, shape: shape, values: (0..<shape.reduce(1, *)).map { Float($0 % 7) * 0.01 })
        }
        for (n, shape, type, bytes) in raw { try w.addRaw(tensor: n, shape: shape, type: type, bytes: bytes) }
        let url = dir.appendingPathComponent(name)
        try w.write(to: url)
        return url
    }

    /// Asserts that loading `url` throws an error whose message contains every string in `mentions`.
    func assertLoadFails(_ url: URL, mentions: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try ModelBundle.load(url.path), file: file, line: line) { error in
            let message = "\(error)"
            for m in mentions + [url.lastPathComponent] {
                XCTAssertTrue(message.contains(m), "error does not mention \(m.debugDescription): \(message)", file: file, line: line)
            }
        }
    }

    func testValidTinyFileLoadsWithoutTokenizer() throws {
        let bundle = try ModelBundle.load(try file("valid.gguf").path)
        XCTAssertEqual(bundle.model.config.numKVHeads, 1)
        XCTAssertEqual(bundle.model.config.headSize, 4)
        XCTAssertNil(bundle.tokenizer, "no tokenizer.ggml.* keys: the model loads without a tokenizer")
        // Commands that need one get an error naming the file and a fix.
        XCTAssertThrowsError(try bundle.requireTokenizer()) { error in
            XCTAssertTrue("\(error)".contains("valid.gguf"), "\(error)")
            XCTAssertTrue("\(error)".contains("tokenizer"), "\(error)")
        }
    }

    func testInconsistentHeadCounts() throws {
        func set(_ key: String, _ v: UInt32) -> (inout [(String, GGUFValue)]) -> Void {
            { m in m = m.map { $0.0 == key ? ($0.0, .uint32(v)) : $0 } }
        }
        assertLoadFails(try file("heads.gguf", metadata: set("llama.attention.head_count", 3)),
                        mentions: ["embedding_length 8", "head_count 3", "not divisible"])
        assertLoadFails(try file("kvheads.gguf", metadata: set("llama.attention.head_count_kv", 3)),
                        mentions: ["head_count 2", "head_count_kv 3", "not a multiple"])
        assertLoadFails(try file("zeroheads.gguf", metadata: set("llama.attention.head_count", 0)), mentions: ["head_count 0"])
        // C 8, NH 4 → HS 2 is fine; C 8 with key_length 3 → odd head size for RoPE pairs.
        assertLoadFails(try file("odd.gguf", metadata: { $0.append(("llama.attention.key_length", .uint32(3))) }),
                        mentions: ["head size 3", "odd"])
        assertLoadFails(try file("partial.gguf", metadata: { $0.append(("llama.rope.dimension_count", .uint32(2))) }),
                        mentions: ["rope.dimension_count 2", "partial rotary"])
    }

    func testMissingOrMisshapenTensors() throws {
        assertLoadFails(try file("missing.gguf", tensors: { $0.removeAll { $0.0 == "blk.0.ffn_up.weight" } }),
                        mentions: ["'blk.0.ffn_up.weight'", "missing"])
        assertLoadFails(try file("shape.gguf", tensors: { t in t = t.map { $0.0 == "blk.0.attn_k.weight" ? ($0.0, [8, 8]) : $0 } }),
                        mentions: ["'blk.0.attn_k.weight'", "[8, 8]", "[4, 8]"])
        assertLoadFails(try file("noembd.gguf", tensors: { $0.removeAll { $0.0 == "token_embd.weight" } }),
                        mentions: ["'token_embd.weight'"])
        // A known ggml type without a dequantiser (I8): the tensor and the type are named.
        assertLoadFails(try file("i8.gguf", tensors: { $0.removeAll { $0.0 == "blk.0.attn_q.weight" } },
                                 raw: [("blk.0.attn_q.weight", [8, 8], .i8, [UInt8](repeating: 0, count: 64))]),
                        mentions: ["'blk.0.attn_q.weight'", "I8", "Q8_0"])
    }

    func testUnsupportedOrMissingArchitectureAndKeys() throws {
        assertLoadFails(try file("mamba.gguf", metadata: { m in m = m.map { $0.0 == "general.architecture" ? ($0.0, .string("mamba")) : $0 } }),
                        mentions: ["'mamba'", "not supported", "llama"])
        assertLoadFails(try file("noarch.gguf", metadata: { $0.removeAll { $0.0 == "general.architecture" } }),
                        mentions: ["general.architecture"])
        assertLoadFails(try file("noblocks.gguf", metadata: { $0.removeAll { $0.0 == "llama.block_count" } }),
                        mentions: ["llama.block_count"])
    }

    func testMalformedEmbeddedTokenizer() throws {
        assertLoadFails(try file("tok.gguf", metadata: { $0.append(("tokenizer.ggml.model", .string("gpt2"))) }),
                        mentions: ["tokenizer", "tokenizer.ggml.tokens"])
    }

    func testTruncatedFileAndWrongMagic() throws {
        let good = try Data(contentsOf: GGUFFixtures.url("llama.gguf"))
        for cut in [good.count - 1, good.count / 2, 100, 3] {
            let url = dir.appendingPathComponent("truncated-\(cut).gguf")
            try good.prefix(cut).write(to: url)
            assertLoadFails(url, mentions: ["truncated"])
        }
        var bad = good
        bad[3] = UInt8(ascii: "X")
        let url = dir.appendingPathComponent("magic.gguf")
        try bad.write(to: url)
        assertLoadFails(url, mentions: ["not a GGUF file"])
    }
}

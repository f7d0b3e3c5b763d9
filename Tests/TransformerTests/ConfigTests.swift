import Foundation
import Transformer
import XCTest

final class ConfigTests: XCTestCase {
    func decode(_ json: String) throws -> ModelConfig { try JSONDecoder().decode(ModelConfig.self, from: Data(json.utf8)) }

    func testSmolLM2StyleLlamaConfig() throws {
        let c = try decode("""
        {"model_type":"llama","vocab_size":49152,"hidden_size":576,"num_hidden_layers":30,"num_attention_heads":9,
         "num_key_value_heads":3,"intermediate_size":1536,"max_position_embeddings":8192,"rms_norm_eps":1e-5,
         "rope_theta":100000,"tie_word_embeddings":true,"bos_token_id":1,"eos_token_id":2}
        """)
        XCTAssertEqual(c.architecture, .llama)
        XCTAssertEqual(c.headSize, 64)
        XCTAssertEqual(c.numKVHeads, 3)
        XCTAssertEqual(c.qkvWidth, (9 + 6) * 64)
        XCTAssertEqual(c.ropeTheta, 100000)
        XCTAssertTrue(c.tieWordEmbeddings)
        XCTAssertFalse(c.qkvBias)
        XCTAssertEqual(c.rotaryDim, 64)
    }

    func testDefaultsAndV5RopeParameters() throws {
        let neox = try decode("""
        {"model_type":"gpt_neox","vocab_size":50304,"hidden_size":512,"num_hidden_layers":6,"num_attention_heads":8,
         "intermediate_size":2048,"rope_parameters":{"rope_type":"default","rope_theta":10000,"partial_rotary_factor":0.25}}
        """)
        XCTAssertEqual(neox.rotaryDim, 16)
        XCTAssertTrue(neox.parallelResidual)
        XCTAssertTrue(neox.qkvBias && neox.outputBias && neox.mlpBias)
        XCTAssertEqual(neox.hiddenAct, "gelu")
        let gpt2 = try decode(#"{"model_type":"gpt2","vocab_size":50257,"n_embd":768,"n_layer":12,"n_head":12}"#)
        XCTAssertEqual(gpt2.intermediateSize, 3072)
        XCTAssertEqual(gpt2.maxPositions, 1024)
        XCTAssertTrue(gpt2.tieWordEmbeddings)
        XCTAssertTrue(gpt2.geluIsTanh)
        let qwen = try decode("""
        {"model_type":"qwen2","vocab_size":151936,"hidden_size":896,"num_hidden_layers":24,"num_attention_heads":14,
         "num_key_value_heads":2,"intermediate_size":4864}
        """)
        XCTAssertTrue(qwen.qkvBias)
        XCTAssertFalse(qwen.outputBias)
    }

    func testRoundTripThroughJSON() throws {
        for arch in Architecture.allCases {
            let c = ModelConfig(architecture: arch, vocabSize: 100, hiddenSize: 64, numLayers: 2, numHeads: 4,
                                numKVHeads: arch == .llama || arch == .qwen2 ? 2 : 4, maxPositions: 128)
            let back = try decode(String(decoding: try JSONEncoder().encode(c), as: UTF8.self))
            XCTAssertEqual(back, c, "\(arch)")
        }
    }

    func testUnsupportedTypeListsSupported() {
        XCTAssertThrowsError(try decode(#"{"model_type":"mamba","vocab_size":10}"#)) { e in
            let s = "\(e)"
            XCTAssertTrue(s.contains("mamba") && s.contains("llama") && s.contains("gpt_neox"), s)
        }
    }

    func testMissingFieldNamed() {
        XCTAssertThrowsError(try decode(#"{"model_type":"llama","vocab_size":10,"hidden_size":8}"#)) { e in
            XCTAssertTrue("\(e)".contains("num_hidden_layers"), "\(e)")
        }
    }

    func testInconsistentHeadsRejected() throws {
        let c = try decode("""
        {"model_type":"llama","vocab_size":10,"hidden_size":64,"num_hidden_layers":1,"num_attention_heads":4,
         "num_key_value_heads":3,"intermediate_size":32}
        """)
        XCTAssertThrowsError(try c.validate()) { e in XCTAssertTrue("\(e)".contains("num_key_value_heads"), "\(e)") }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cfg-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent("config.json")
        try Data("{not json".utf8).write(to: url)
        XCTAssertThrowsError(try ModelConfig.load(url)) { e in XCTAssertTrue("\(e)".contains(url.path), "\(e)") }
    }

    func testScheduleShapes() {
        let s = LearningRateSchedule.cosine
        XCTAssertEqual(s.rate(step: 0, total: 100, warmup: 10, base: 1), 0.1, accuracy: 1e-6)
        XCTAssertEqual(s.rate(step: 9, total: 100, warmup: 10, base: 1), 1.0, accuracy: 1e-6)
        XCTAssertEqual(s.rate(step: 10, total: 100, warmup: 10, base: 1), 1.0, accuracy: 1e-6)
        XCTAssertEqual(s.rate(step: 99, total: 100, warmup: 10, base: 1), 0.1, accuracy: 1e-6)
        let mid = s.rate(step: 10 + 89 / 2, total: 100, warmup: 10, base: 1)
        XCTAssertEqual(mid, 0.55, accuracy: 0.02)
        XCTAssertEqual(LearningRateSchedule.constant.rate(step: 50, total: 100, warmup: 10, base: 0.3), 0.3)
    }
}

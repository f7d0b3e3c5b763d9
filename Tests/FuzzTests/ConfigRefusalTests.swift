import Foundation
import Transformer
import XCTest

/// Configurations the runtime cannot reproduce exactly, or that would allocate absurd amounts,
/// are refused with a message naming the key — one test per kind of refusal (issue 16, part 4).
final class ConfigRefusalTests: XCTestCase {
    let llama: [String: Any] = ["model_type": "llama", "vocab_size": 32, "hidden_size": 16, "num_hidden_layers": 1,
                                "num_attention_heads": 2, "intermediate_size": 24, "max_position_embeddings": 64]
    let neox: [String: Any] = ["model_type": "gpt_neox", "vocab_size": 32, "hidden_size": 16, "num_hidden_layers": 1,
                               "num_attention_heads": 2, "intermediate_size": 32, "rotary_pct": 0.5]
    let gpt2: [String: Any] = ["model_type": "gpt2", "vocab_size": 32, "n_embd": 16, "n_layer": 1, "n_head": 2]

    func decode(_ base: [String: Any], _ changes: [String: Any]) throws -> ModelConfig {
        let json = base.merging(changes) { $1 }
        let config = try JSONDecoder().decode(ModelConfig.self, from: JSONSerialization.data(withJSONObject: json))
        try config.validate()
        return config
    }

    func assertRefused(_ base: [String: Any], _ changes: [String: Any], mentioning words: [String],
                       file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try decode(base, changes), file: file, line: line) { error in
            for w in words { XCTAssertTrue("\(error)".contains(w), "'\(error)' does not mention \(w)", file: file, line: line) }
        }
    }

    func testBaseConfigsLoad() throws {
        XCTAssertEqual(try decode(llama, [:]).rotaryDim, 8)
        XCTAssertEqual(try decode(neox, [:]).rotaryDim, 4)
        XCTAssertNoThrow(try decode(gpt2, [:]))
    }

    /// transformers: rotary_ndims = int(head_size × rotary_pct). Head size 12 at 0.25 rotates 3
    /// dimensions there; the runtime used to round to 2 and load silently.
    func testOddRotaryDimensionIsRefused() throws {
        assertRefused(neox, ["hidden_size": 24, "rotary_pct": 0.25], mentioning: ["rotary dimension", "= 3", "odd"])
        let c = ModelConfig(architecture: .gptNeoX, vocabSize: 8, hiddenSize: 24, numLayers: 1, numHeads: 2, rotaryFraction: 0.25)
        XCTAssertEqual(c.rotaryDim, 3)
        XCTAssertThrowsError(try c.validate())
        // 0.35 is 0.3499999 as a Float; int(20 × 0.35) = 7 in Python's doubles: also odd, also refused.
        XCTAssertEqual(ModelConfig(architecture: .gptNeoX, vocabSize: 8, hiddenSize: 40, numLayers: 1, numHeads: 2, rotaryFraction: 0.35).rotaryDim, 7)
        // Even counts load: Pythia's head size 80 at 0.1 → 8; head size 64 at 0.25 → 16.
        XCTAssertEqual(try decode(neox, ["hidden_size": 160, "rotary_pct": 0.1]).rotaryDim, 8)
        XCTAssertEqual(try decode(neox, ["hidden_size": 128, "rotary_pct": 0.25]).rotaryDim, 16)
    }

    func testRoPEScalingOtherThanDefaultIsRefused() throws {
        assertRefused(llama, ["rope_scaling": ["rope_type": "linear", "factor": 2.0]], mentioning: ["rope_scaling", "linear"])
        assertRefused(llama, ["rope_scaling": ["factor": 2.0]], mentioning: ["rope_scaling", "missing"])
        assertRefused(llama, ["rope_scaling": "yarn"], mentioning: ["rope_scaling", "not an object"])
        assertRefused(llama, ["rope_parameters": ["rope_type": "llama3"]], mentioning: ["rope_type", "llama3"])
        XCTAssertNoThrow(try decode(llama, ["rope_scaling": NSNull()]))
        XCTAssertNoThrow(try decode(llama, ["rope_scaling": ["rope_type": "default"]]))
    }

    func testPartialRotaryOnLlamaIsRefused() throws {
        assertRefused(llama, ["partial_rotary_factor": 0.5], mentioning: ["partial_rotary_factor"])
        assertRefused(llama, ["rope_parameters": ["rope_type": "default", "partial_rotary_factor": 0.5]], mentioning: ["partial_rotary_factor"])
        XCTAssertNoThrow(try decode(llama, ["partial_rotary_factor": 1.0]))
    }

    func testQwen2SlidingWindowIsRefused() throws {
        var qwen = llama
        qwen["model_type"] = "qwen2"
        assertRefused(qwen, ["use_sliding_window": true, "sliding_window": 16, "max_window_layers": 0], mentioning: ["sliding_window"])
        // Off, or a window covering the context, or no layer past max_window_layers: same as full attention.
        XCTAssertNoThrow(try decode(qwen, ["use_sliding_window": false, "sliding_window": 16, "max_window_layers": 0]))
        XCTAssertNoThrow(try decode(qwen, ["use_sliding_window": true, "sliding_window": 64, "max_window_layers": 0]))
        XCTAssertNoThrow(try decode(qwen, ["use_sliding_window": true, "sliding_window": 16, "max_window_layers": 1]))
    }

    func testDisagreeingSpellingsAndForeignHeadLayoutsAreRefused() throws {
        assertRefused(neox, ["rope_theta": 10000, "rotary_emb_base": 500], mentioning: ["rope_theta", "rotary_emb_base"])
        assertRefused(neox, ["rotary_pct": 0.5, "partial_rotary_factor": 0.25], mentioning: ["rotary_pct", "partial_rotary_factor"])
        assertRefused(neox, ["num_key_value_heads": 1], mentioning: ["num_key_value_heads"])
        assertRefused(gpt2, ["head_dim": 4], mentioning: ["head_dim"])
        assertRefused(gpt2, ["scale_attn_by_inverse_layer_idx": true], mentioning: ["scale_attn_by_inverse_layer_idx"])
        assertRefused(gpt2, ["scale_attn_weights": false], mentioning: ["scale_attn_weights"])
    }

    func testWrongTypesAreErrorsNotDefaults() throws {
        assertRefused(llama, ["num_key_value_heads": "1"], mentioning: ["num_key_value_heads", "integer"])
        assertRefused(llama, ["rope_theta": "500000"], mentioning: ["rope_theta", "number"])
        assertRefused(llama, ["tie_word_embeddings": "yes"], mentioning: ["tie_word_embeddings"])
    }

    func testAbsurdValuesAreRefusedBeforeAllocation() throws {
        assertRefused(llama, ["vocab_size": 1 << 62], mentioning: ["vocab_size", "larger than"])
        // Found by the fuzzer (seed 2, input 5646): the default n_inner = 4 × n_embd overflowed.
        assertRefused(gpt2, ["n_embd": Int.max], mentioning: ["hidden size", "larger than"])
        assertRefused(llama, ["hidden_size": Int.max, "intermediate_size": 24], mentioning: ["hidden size"])
        XCTAssertNil(ModelConfig(architecture: .llama, vocabSize: Int.max, hiddenSize: Int.max, numLayers: Int.max,
                                 numHeads: 1, intermediateSize: Int.max).checkedParameterCount)
        assertRefused(llama, ["num_hidden_layers": 1_000_000], mentioning: ["layer count"])
        assertRefused(llama, ["head_dim": 0], mentioning: ["head"])
        assertRefused(llama, ["head_dim": -8], mentioning: ["head"])
        assertRefused(llama, ["rope_theta": 0], mentioning: ["rope_theta"])
        assertRefused(llama, ["rope_theta": -5], mentioning: ["rope_theta"])
        assertRefused(llama, ["rms_norm_eps": -1], mentioning: ["epsilon"])
        assertRefused(llama, ["eos_token_id": -1], mentioning: ["eos_token_id"])
        assertRefused(llama, ["bos_token_id": 1 << 62], mentioning: ["bos_token_id"])
        assertRefused(neox, ["rotary_pct": 0], mentioning: ["rotary"])
        assertRefused(neox, ["rotary_pct": 1.5], mentioning: ["rotary"])
        var c = try decode(llama, [:])
        for bad: Float in [.nan, .infinity, 0, -1] {
            c.ropeTheta = bad
            XCTAssertThrowsError(try c.validate(), "rope_theta \(bad)")
        }
    }

    /// Part 6: a model larger than the memory available is refused before allocation, with the
    /// size it needs.
    func testModelLargerThanMemoryIsRefusedWithTheSizeNeeded() throws {
        let c = try decode(llama, ["vocab_size": 1 << 20, "hidden_size": 1 << 14, "intermediate_size": 1 << 16,
                                   "num_attention_heads": 128, "num_hidden_layers": 64])
        XCTAssertGreaterThan(c.checkedModelBytes!, 1 << 39)
        XCTAssertThrowsError(try TransformerModel(config: c)) { error in
            XCTAssertTrue("\(error)".contains("GB but only"), "\(error)")
        }
        XCTAssertThrowsError(try c.checkFitsInMemory(limit: 1 << 30, what: "this model")) { error in
            guard case ModelError.insufficientMemory(let needed, let available, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(needed, c.checkedModelBytes)
            XCTAssertEqual(available, 1 << 30)
        }
        XCTAssertNoThrow(try decode(llama, [:]).checkFitsInMemory(limit: 1 << 30))
    }
}

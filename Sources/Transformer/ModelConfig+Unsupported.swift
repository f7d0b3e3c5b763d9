import Foundation
import Formats

/// The config.json keys that change what transformers computes but that this runtime does not
/// implement. Each is refused with a message naming the key and its value, instead of being
/// ignored (which would load the model and give silently different logits).
extension ModelConfig {
    static func checkUnsupported(_ c: KeyedDecodingContainer<Key>, arch: Architecture, rope: [String: JSONScalar]?) throws {
        func fail(_ m: String) throws -> Never { throw ModelError.invalidConfig("config.json: \(m)") }
        func present(_ k: String) -> Bool { c.contains(Key(k)) && !((try? c.decodeNil(forKey: Key(k))) ?? true) }
        func number(_ k: String) -> Double? { try? c.decode(Double.self, forKey: Key(k)) }
        func bool(_ k: String) -> Bool? { try? c.decode(Bool.self, forKey: Key(k)) }

        // RoPE scaling: only the default (none) is implemented.
        if present("rope_scaling") {
            guard let scaling = try? c.decode([String: JSONScalar].self, forKey: Key("rope_scaling")) else {
                try fail("rope_scaling is not an object; expected null or {\"rope_type\": \"default\"}")
            }
            let kind = scaling["rope_type"]?.string ?? scaling["type"]?.string
            if kind != "default" {
                try fail("rope_scaling type '\(ErrorText.name(kind ?? "missing"))' is not supported (only default RoPE); this runtime would compute different positions")
            }
        }
        if let kind = rope?["rope_type"]?.string, kind != "default" {
            try fail("rope_parameters.rope_type '\(ErrorText.name(kind))' is not supported (only default RoPE)")
        }
        // Two spellings of one value that disagree: transformers reads one, we might read the other.
        if let a = number("rope_theta"), let b = number("rotary_emb_base"), a != b {
            try fail("rope_theta \(a) and rotary_emb_base \(b) disagree; keep one")
        }
        switch arch {
        case .llama, .qwen2:
            // transformers rotates int(head_dim × partial_rotary_factor) dimensions; the runtime rotates all.
            for f in [number("partial_rotary_factor"), rope?["partial_rotary_factor"]?.float.map(Double.init)] {
                if let f, f != 1 { try fail("partial_rotary_factor \(f) is not supported for \(arch.rawValue) (only full rotary, 1.0)") }
            }
            if arch == .qwen2, bool("use_sliding_window") == true, let window = number("sliding_window"),
               let maxWindowLayers = number("max_window_layers"), let layers = number("num_hidden_layers"),
               maxWindowLayers < layers, let positions = number("max_position_embeddings") ?? Optional(2048), window < positions {
                try fail("use_sliding_window with sliding_window \(Int(window)) on layers ≥ \(Int(maxWindowLayers)) is not supported (this runtime attends to the whole context); set use_sliding_window to false only if the model was trained without it")
            }
        case .gptNeoX:
            if let a = number("rotary_pct"), let b = number("partial_rotary_factor"), a != b {
                try fail("rotary_pct \(a) and partial_rotary_factor \(b) disagree; keep one")
            }
            try checkHeadLayout(c, fail: fail)
        case .gpt2:
            if bool("scale_attn_by_inverse_layer_idx") == true { try fail("scale_attn_by_inverse_layer_idx is not supported") }
            if bool("scale_attn_weights") == false { try fail("scale_attn_weights false (unscaled attention) is not supported") }
            try checkHeadLayout(c, fail: fail)
        }
    }

    /// GPT-2 and GPT-NeoX have neither grouped KV heads nor a free head size in transformers:
    /// keys saying otherwise describe a model this runtime would compute differently.
    private static func checkHeadLayout(_ c: KeyedDecodingContainer<Key>, fail: (String) throws -> Never) throws {
        let heads = (try? c.decode(Int.self, forKey: Key("num_attention_heads"))) ?? (try? c.decode(Int.self, forKey: Key("n_head")))
        let width = (try? c.decode(Int.self, forKey: Key("hidden_size"))) ?? (try? c.decode(Int.self, forKey: Key("n_embd")))
        if let kv = try? c.decode(Int.self, forKey: Key("num_key_value_heads")), let heads, kv != heads {
            try fail("num_key_value_heads \(kv) differs from the \(heads) attention heads; grouped KV heads are not part of this architecture")
        }
        if let hd = try? c.decode(Int.self, forKey: Key("head_dim")), let heads, let width, heads > 0, hd != width / heads {
            try fail("head_dim \(hd) differs from hidden size / heads = \(width / heads); this architecture has no separate head size")
        }
    }
}

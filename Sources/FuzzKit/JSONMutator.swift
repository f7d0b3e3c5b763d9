import Foundation

/// Structure-aware mutations of JSON documents (config.json, tokenizer.json, trainer_state.json,
/// manifests, safetensors headers, JSONL lines): values replaced by huge, negative, zero, NaN-ish or
/// wrongly typed ones, keys dropped, duplicated or added (with names the readers care about),
/// arrays grown or emptied; then, sometimes, text-level damage (truncation, invalid UTF-8, CRLF,
/// deep nesting, non-standard literals).
public enum JSONMutator {
    /// Keys a config or tokenizer reader may look at, added with odd values.
    static let keys = ["vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                       "head_dim", "intermediate_size", "max_position_embeddings", "rope_theta", "rotary_pct",
                       "partial_rotary_factor", "rope_scaling", "sliding_window", "use_sliding_window", "attention_bias",
                       "mlp_bias", "rms_norm_eps", "layer_norm_eps", "bos_token_id", "eos_token_id", "tie_word_embeddings",
                       "n_embd", "n_layer", "n_head", "n_inner", "n_positions", "help_token_id", "rope_parameters",
                       "step", "optimizerSteps", "id", "vocab", "merges", "added_tokens", "type", "dtype", "shape",
                       "data_offsets", "examples", "examplesPerShard", "rows", "topK", "prompt", "response", "text"]

    static func interestingValue(_ rng: inout FuzzRandom) -> Any {
        switch rng.below(22) {
        case 0: return -1
        case 1: return 0
        case 2: return 1
        case 3: return 1 << 62
        case 4: return Int.max
        case 5: return Int.min
        case 6: return -(1 << 40)
        case 7: return 1e308
        case 8: return -1e308
        case 9: return 0.5
        case 10: return 3
        case 11: return 1e-40
        case 12: return "NaN"
        case 13: return ""
        case 14: return true
        case 15: return NSNull()
        case 16: return [Any]()
        case 17: return [String: Any]()
        case 18: return ["type": "linear", "factor": 4.0, "rope_type": "yarn"]
        case 19: return 65536
        case 20: return 2_147_483_647
        default: return String(repeating: "x", count: 1 + rng.below(300))
        }
    }

    /// A mutated serialisation of `data` (which should be a JSON document).
    public static func mutate(_ data: Data, rng: inout FuzzRandom) -> Data {
        var out = data
        if rng.chance(0.8), var root = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) {
            for _ in 0..<(1 + rng.below(3)) { root = mutateTree(root, depth: 0, rng: &rng) }
            if let d = try? JSONSerialization.data(withJSONObject: root, options: [.fragmentsAllowed, .sortedKeys]) { out = d }
        }
        if rng.chance(0.3) { out = damageText(out, rng: &rng) }
        return out
    }

    /// Picks a random path down the tree and changes what it finds there.
    static func mutateTree(_ node: Any, depth: Int, rng: inout FuzzRandom) -> Any {
        if var o = node as? [String: Any], !o.isEmpty, depth < 6, rng.chance(0.7) {
            let k = rng.pick(o.keys.sorted())
            switch rng.below(6) {
            case 0: o[k] = nil                                              // missing key
            case 1: o[rng.pick(keys)] = interestingValue(&rng)              // extra key, odd value
            case 2: o[k] = interestingValue(&rng)                           // odd value
            default: o[k] = mutateTree(o[k]!, depth: depth + 1, rng: &rng)  // deeper
            }
            return o
        }
        if var a = node as? [Any], !a.isEmpty, depth < 6, rng.chance(0.7) {
            let i = rng.below(a.count)
            switch rng.below(6) {
            case 0: a.remove(at: i)
            case 1: a.append(a[i])
            case 2: a[i] = interestingValue(&rng)
            case 3: a = []
            default: a[i] = mutateTree(a[i], depth: depth + 1, rng: &rng)
            }
            return a
        }
        if let n = node as? NSNumber {
            let v = n.int64Value
            switch rng.below(6) {
            case 0: return 0 &- v
            case 1: return v &+ 1
            case 2: return v &- 1
            case 3: return v &* (1 << rng.below(40))
            case 4: return "\(n)"  // wrong type
            default: return interestingValue(&rng)
            }
        }
        return interestingValue(&rng)
    }

    /// Text-level damage that no tree edit produces.
    static func damageText(_ data: Data, rng: inout FuzzRandom) -> Data {
        var b = [UInt8](data)
        switch rng.below(8) {
        case 0: if !b.isEmpty { b.removeSubrange(rng.below(b.count)...) }                  // truncated
        case 1: b.insert(contentsOf: rng.pick([[0xFF], [0xC3], [0xED, 0xA0, 0x80], [0xF8, 0x88]]), at: rng.below(b.count + 1))
        case 2: b = Array(String(decoding: b, as: UTF8.self).replacingOccurrences(of: "\n", with: "\r\n").utf8)
        case 3: b = [0xEF, 0xBB, 0xBF] + b                                                 // byte-order mark
        case 4:                                                                             // deep nesting
            let n = rng.pick([100, 1000, 100_000])
            b.insert(contentsOf: Array(String(repeating: "[", count: n).utf8) + Array(String(repeating: "]", count: n).utf8) + [UInt8(ascii: ",")],
                     at: min(b.count, (b.firstIndex(of: UInt8(ascii: ":")) ?? 0) + 1))
        case 5:                                                                             // non-standard literals
            if let i = b.firstIndex(where: { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
                b.replaceSubrange(i..<(i + 1), with: Array(rng.pick(["NaN", "Infinity", "-Infinity", "1e400", "-0", "1e-400"]).utf8))
            }
        case 6:                                                                             // duplicated key
            if let i = b.firstIndex(of: UInt8(ascii: "{")), let key = rng.pick(keys).data(using: .utf8) {
                b.insert(contentsOf: Array("\"".utf8) + key + Array("\":-7,".utf8), at: i + 1)
            }
        default: b += Array(" trailing".utf8)
        }
        return Data(b)
    }
}

/// Hugging Face tensor names and layouts for each architecture, mapped onto the runtime's
/// layout (``ModelLayout``).
///
/// An internal tensor is the concatenation along its first dimension of one or more HF tensors,
/// each possibly re-laid-out:
/// - `copy`: same layout (PyTorch `nn.Linear` weights are already (out, in));
/// - `transpose`: GPT-2's `Conv1D` stores weights as (in, out);
/// - `neoxQKV`: GPT-NeoX's fused `query_key_value` interleaves heads — row `h·3·HS + p·HS + d`
///   holds part p (q, k, v) of head h — while the runtime stores all q heads, then all k, then all v.
public enum HFNames {
    public enum Transform: Sendable { case copy, transpose, neoxQKV }

    public struct Source: Sendable {
        public var name: String
        public var transform: Transform
        /// Rows this source contributes to the internal tensor.
        public var rows: Int
    }

    /// The HF sources of internal parameter `info` under `config`.
    public static func sources(of info: ParameterInfo, config c: ModelConfig) -> [Source] {
        let parts = info.name.split(separator: ".").map(String.init)
        let F = c.intermediateSize, HS = c.headSize
        let isBias = parts.last == "bias"
        let suffix = isBias ? "bias" : "weight"
        func one(_ n: String, _ t: Transform = .copy) -> [Source] { [Source(name: n, transform: t, rows: info.shape[0])] }
        if info.name == FeatureInput.parameterName { return one(FeatureInput.parameterName) }  // this project's, every architecture
        switch c.architecture {
        case .gpt2:
            switch info.name {
            case "embed.weight": return one("transformer.wte.weight")
            case "pos_embed.weight": return one("transformer.wpe.weight")
            case "final_norm.weight", "final_norm.bias": return one("transformer.ln_f.\(suffix)")
            case "lm_head.weight": return one("lm_head.weight")
            default: break
            }
            let p = "transformer.h.\(parts[1])."
            let t: Transform = isBias ? .copy : .transpose
            switch parts[2] {
            case "norm1": return one(p + "ln_1.\(suffix)")
            case "norm2": return one(p + "ln_2.\(suffix)")
            case "qkv": return one(p + "attn.c_attn.\(suffix)", t)
            case "attn_out": return one(p + "attn.c_proj.\(suffix)", t)
            case "mlp_up": return one(p + "mlp.c_fc.\(suffix)", t)
            default: return one(p + "mlp.c_proj.\(suffix)", t)
            }
        case .llama, .qwen2:
            switch info.name {
            case "embed.weight": return one("model.embed_tokens.weight")
            case "final_norm.weight": return one("model.norm.weight")
            case "lm_head.weight": return one("lm_head.weight")
            default: break
            }
            let p = "model.layers.\(parts[1])."
            switch parts[2] {
            case "norm1": return one(p + "input_layernorm.weight")
            case "norm2": return one(p + "post_attention_layernorm.weight")
            case "qkv":
                return [Source(name: p + "self_attn.q_proj.\(suffix)", transform: .copy, rows: c.numHeads * HS),
                        Source(name: p + "self_attn.k_proj.\(suffix)", transform: .copy, rows: c.numKVHeads * HS),
                        Source(name: p + "self_attn.v_proj.\(suffix)", transform: .copy, rows: c.numKVHeads * HS)]
            case "attn_out": return one(p + "self_attn.o_proj.\(suffix)")
            case "mlp_up":
                return [Source(name: p + "mlp.gate_proj.\(suffix)", transform: .copy, rows: F),
                        Source(name: p + "mlp.up_proj.\(suffix)", transform: .copy, rows: F)]
            default: return one(p + "mlp.down_proj.\(suffix)")
            }
        case .gptNeoX:
            switch info.name {
            case "embed.weight": return one("gpt_neox.embed_in.weight")
            case "final_norm.weight", "final_norm.bias": return one("gpt_neox.final_layer_norm.\(suffix)")
            case "lm_head.weight": return one("embed_out.weight")
            default: break
            }
            let p = "gpt_neox.layers.\(parts[1])."
            switch parts[2] {
            case "norm1": return one(p + "input_layernorm.\(suffix)")
            case "norm2": return one(p + "post_attention_layernorm.\(suffix)")
            case "qkv": return one(p + "attention.query_key_value.\(suffix)", .neoxQKV)
            case "attn_out": return one(p + "attention.dense.\(suffix)")
            case "mlp_up": return one(p + "mlp.dense_h_to_4h.\(suffix)")
            default: return one(p + "mlp.dense_4h_to_h.\(suffix)")
            }
        }
    }

    /// Alternative spellings tried when a name is absent (GPT-2 checkpoints saved without the
    /// `transformer.` prefix, as the original OpenAI conversion is).
    public static func alternatives(_ name: String) -> [String] {
        if name.hasPrefix("transformer.") { return [name, String(name.dropFirst("transformer.".count))] }
        return [name]
    }

    /// The HF shape of a source whose internal slice has shape `[rows] + rest`.
    public static func hfShape(_ s: Source, internalRest rest: [Int]) -> [Int] {
        switch s.transform {
        case .transpose where !rest.isEmpty: return [rest[0], s.rows]
        default: return [s.rows] + rest
        }
    }

    /// Converts an HF tensor's values (row-major, HF shape) into the internal slice layout.
    public static func toInternal(_ values: [Float], _ s: Source, rest: [Int], config c: ModelConfig) -> [Float] {
        let cols = rest.reduce(1, *)
        switch s.transform {
        case .copy: return values
        case .transpose:
            if rest.isEmpty { return values }
            // HF (in = cols, out = rows) → internal (rows, cols).
            var out = [Float](repeating: 0, count: values.count)
            for i in 0..<cols { for o in 0..<s.rows { out[o * cols + i] = values[i * s.rows + o] } }
            return out
        case .neoxQKV:
            return permuteRows(values, cols: cols, config: c, toInternal: true)
        }
    }

    /// The inverse of ``toInternal(_:_:rest:config:)``.
    public static func toHF(_ values: [Float], _ s: Source, rest: [Int], config c: ModelConfig) -> [Float] {
        let cols = rest.reduce(1, *)
        switch s.transform {
        case .copy: return values
        case .transpose:
            if rest.isEmpty { return values }
            var out = [Float](repeating: 0, count: values.count)
            for o in 0..<s.rows { for i in 0..<cols { out[i * s.rows + o] = values[o * cols + i] } }
            return out
        case .neoxQKV:
            return permuteRows(values, cols: cols, config: c, toInternal: false)
        }
    }

    /// GPT-NeoX's fused qkv rows: HF row `h·3·HS + p·HS + d` ↔ runtime row `p·NH·HS + h·HS + d`.
    static func permuteRows(_ values: [Float], cols: Int, config c: ModelConfig, toInternal: Bool) -> [Float] {
        var out = [Float](repeating: 0, count: values.count)
        let NH = c.numHeads, HS = c.headSize
        for h in 0..<NH { for p in 0..<3 { for d in 0..<HS {
            let hf = (h * 3 * HS + p * HS + d) * cols, ours = (p * NH * HS + h * HS + d) * cols
            let (src, dst) = toInternal ? (hf, ours) : (ours, hf)
            for j in 0..<cols { out[dst + j] = values[src + j] }
        } } }
        return out
    }
}

/// The runtime's parameter layout for a configuration, identical for all four architectures up
/// to which optional tensors exist:
///
///     embed.weight            (V, C)
///     pos_embed.weight        (maxT, C)          GPT-2 only
///     layers.i.norm1.weight   (C)   .bias (C)    bias for LayerNorm architectures
///     layers.i.qkv.weight     ((NH + 2·NKV)·HS, C)   rows: all q heads, then k heads, then v heads
///     layers.i.qkv.bias       ((NH + 2·NKV)·HS)
///     layers.i.attn_out.weight (C, NH·HS)   .bias (C)
///     layers.i.norm2.weight   (C)   .bias (C)
///     layers.i.mlp_up.weight  (F, C), or (2F, C) for SwiGLU: rows 0..<F gate, F..<2F up
///     layers.i.mlp_up.bias
///     layers.i.mlp_down.weight (C, F)   .bias (C)
///     final_norm.weight (C)   .bias (C)
///     lm_head.weight          (V, C)             absent when tied to embed.weight
///     feature_proj.weight     (D, C, Cf)         a draft reading the target's hidden states (FeatureInput)
public enum ModelLayout {
    public static func infos(for c: ModelConfig) -> [ParameterInfo] {
        var out: [ParameterInfo] = []
        var offset = 0
        func add(_ name: String, _ shape: [Int], decay: Bool? = nil) {
            let p = ParameterInfo(name: name, shape: shape, offset: offset, decay: decay ?? (shape.count >= 2))
            offset += p.count
            out.append(p)
        }
        let C = c.hiddenSize, F = c.intermediateSize, ln = !c.usesRMSNorm
        add("embed.weight", [c.vocabSize, C])
        if c.architecture == .gpt2 { add("pos_embed.weight", [c.maxPositions, C]) }
        for l in 0..<c.numLayers {
            let p = "layers.\(l)."
            add(p + "norm1.weight", [C]); if ln { add(p + "norm1.bias", [C]) }
            add(p + "qkv.weight", [c.qkvWidth, C]); if c.qkvBias { add(p + "qkv.bias", [c.qkvWidth]) }
            add(p + "attn_out.weight", [C, c.numHeads * c.headSize]); if c.outputBias { add(p + "attn_out.bias", [C]) }
            add(p + "norm2.weight", [C]); if ln { add(p + "norm2.bias", [C]) }
            let up = c.usesSwiGLU ? 2 * F : F
            add(p + "mlp_up.weight", [up, C]); if c.mlpBias { add(p + "mlp_up.bias", [up]) }
            add(p + "mlp_down.weight", [C, F]); if c.mlpBias { add(p + "mlp_down.bias", [C]) }
        }
        add("final_norm.weight", [C]); if ln { add("final_norm.bias", [C]) }
        if !c.tieWordEmbeddings { add("lm_head.weight", [c.vocabSize, C]) }
        if c.featureStaleness > 0 { add(FeatureInput.parameterName, [c.featureStaleness, C, c.featureWidth]) }
        return out
    }
}

/// Raw pointers to one layer's tensors inside a ``ParameterSet`` (parameters or gradients).
/// Optional pointers are nil when the architecture has no such tensor.
public struct LayerPointers {
    public var norm1W: UnsafeMutablePointer<Float>, norm1B: UnsafeMutablePointer<Float>?
    public var qkvW: UnsafeMutablePointer<Float>, qkvB: UnsafeMutablePointer<Float>?
    public var outW: UnsafeMutablePointer<Float>, outB: UnsafeMutablePointer<Float>?
    public var norm2W: UnsafeMutablePointer<Float>, norm2B: UnsafeMutablePointer<Float>?
    public var upW: UnsafeMutablePointer<Float>, upB: UnsafeMutablePointer<Float>?
    public var downW: UnsafeMutablePointer<Float>, downB: UnsafeMutablePointer<Float>?

    init(_ s: ParameterSet, layer l: Int) {
        let p = "layers.\(l)."
        norm1W = s.pointer(p + "norm1.weight")!; norm1B = s.pointer(p + "norm1.bias")
        qkvW = s.pointer(p + "qkv.weight")!; qkvB = s.pointer(p + "qkv.bias")
        outW = s.pointer(p + "attn_out.weight")!; outB = s.pointer(p + "attn_out.bias")
        norm2W = s.pointer(p + "norm2.weight")!; norm2B = s.pointer(p + "norm2.bias")
        upW = s.pointer(p + "mlp_up.weight")!; upB = s.pointer(p + "mlp_up.bias")
        downW = s.pointer(p + "mlp_down.weight")!; downB = s.pointer(p + "mlp_down.bias")
    }
}

/// Pointers to the whole model's tensors inside a ``ParameterSet``.
public struct ModelPointers {
    public var embed: UnsafeMutablePointer<Float>
    public var posEmbed: UnsafeMutablePointer<Float>?
    public var layers: [LayerPointers]
    public var finalNormW: UnsafeMutablePointer<Float>, finalNormB: UnsafeMutablePointer<Float>?
    /// The output projection (V, C): `lm_head.weight`, or `embed.weight` when tied.
    public var lmHead: UnsafeMutablePointer<Float>
    /// W_1…W_D of a feature-reading draft, (D, C, Cf); nil for ordinary models.
    public var featureProj: UnsafeMutablePointer<Float>?

    public init(_ s: ParameterSet, config c: ModelConfig) {
        embed = s.pointer("embed.weight")!
        posEmbed = s.pointer("pos_embed.weight")
        layers = (0..<c.numLayers).map { LayerPointers(s, layer: $0) }
        finalNormW = s.pointer("final_norm.weight")!
        finalNormB = s.pointer("final_norm.bias")
        lmHead = s.pointer("lm_head.weight") ?? embed
        featureProj = s.pointer(FeatureInput.parameterName)
    }
}

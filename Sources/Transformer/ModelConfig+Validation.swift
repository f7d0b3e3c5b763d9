import Foundation
import Formats

/// Checks of a configuration before anything is allocated from it: every size positive and
/// below a hard limit, the relations between sizes, the floats finite and in range, the special
/// token ids inside the vocabulary, and the total parameter count computed without overflow.
/// A configuration read from a corrupt or hostile file fails here with a message naming the
/// field, never later in an allocation, an integer overflow or a precondition.
extension ModelConfig {
    /// Hard limits on single sizes, far above any real model of these architectures
    /// (the largest vocabularies are ≈ 256k, widths ≈ 16k, depths ≈ 128, contexts ≈ 10M).
    public static let limits = (vocab: 1 << 24, hidden: 1 << 16, layers: 1024, heads: 1024, headSize: 1 << 13,
                                intermediate: 1 << 20, positions: 1 << 24)

    /// The number of float32 parameters, or nil when it overflows `Int`.
    public var checkedParameterCount: Int? {
        func mul(_ xs: Int...) -> Int? {
            var p = 1
            for x in xs { let (r, o) = p.multipliedReportingOverflow(by: x); if o { return nil }; p = r }
            return p
        }
        func add(_ xs: [Int]) -> Int? {
            var s = 0
            for x in xs { let (r, o) = s.addingReportingOverflow(x); if o { return nil }; s = r }
            return s
        }
        let C = hiddenSize, F = intermediateSize, ln = !usesRMSNorm
        guard let kv2 = mul(2, numKVHeads), let heads = add([numHeads, kv2]), let qkvW = mul(heads, headSize),
              let attn = mul(qkvW, C), let out = mul(C, numHeads, headSize), let norms = mul(2, C, ln ? 2 : 1),
              let upRows = mul(usesSwiGLU ? 2 : 1, F), let mlpBiases = add([mlpBias ? upRows : 0, mlpBias ? C : 0]),
              let up = mul(usesSwiGLU ? 2 : 1, F, C), let down = mul(C, F), let embed = mul(vocabSize, C),
              let pos = mul(architecture == .gpt2 ? maxPositions : 0, C) else { return nil }
        guard let layer = add([norms, attn, qkvBias ? qkvW : 0, out, outputBias ? C : 0, up, down, mlpBiases]),
              let layers = mul(layer, numLayers), let finalNorm = mul(C, ln ? 2 : 1),
              let features = mul(max(featureStaleness, 0), C, max(featureWidth, 0)) else { return nil }
        return add([embed, tieWordEmbeddings ? 0 : embed, pos, layers, finalNorm, features])
    }

    /// Bytes of the RoPE table every model allocates (maxPositions × rotaryDim/2 cosines and
    /// sines, float32), or nil when that overflows.
    public var checkedRopeTableBytes: Int? {
        let (rope, o) = maxPositions.multipliedReportingOverflow(by: usesRoPE ? 4 * max(rotaryDim, 0) : 0)
        return o ? nil : rope
    }

    /// Bytes a float32 model of this configuration allocates: parameters and the RoPE table,
    /// or nil when that overflows.
    public var checkedModelBytes: Int? {
        guard let p = checkedParameterCount, let rope = checkedRopeTableBytes else { return nil }
        let (bytes, o1) = p.multipliedReportingOverflow(by: 4)
        let (total, o2) = bytes.addingReportingOverflow(rope)
        return o1 || o2 ? nil : total
    }

    /// Checks sizes, relations, floats and ids; throws ``ModelError/invalidConfig(_:)`` naming the
    /// offending fields (config.json names in parentheses) and what would be valid.
    public func validate() throws {
        func fail(_ m: String) throws -> Never { throw ModelError.invalidConfig(m) }
        if vocabSize <= 0 || hiddenSize <= 0 || numLayers <= 0 || numHeads <= 0 || intermediateSize <= 0 || maxPositions <= 0 {
            try fail("sizes must be positive (vocab_size \(vocabSize), hidden \(hiddenSize), layers \(numLayers), heads \(numHeads), intermediate \(intermediateSize), max positions \(maxPositions))")
        }
        let L = Self.limits
        for (name, value, limit) in [("vocab_size", vocabSize, L.vocab), ("hidden size", hiddenSize, L.hidden),
                                     ("layer count", numLayers, L.layers), ("head count", numHeads, L.heads),
                                     ("key/value head count", numKVHeads, L.heads), ("head size (head_dim)", headSize, L.headSize),
                                     ("intermediate size", intermediateSize, L.intermediate),
                                     ("max positions", maxPositions, L.positions)] where value > limit {
            try fail("\(name) \(value) is larger than the \(limit) this runtime accepts; the configuration is corrupt or not a model this runtime can run")
        }
        if numKVHeads <= 0 || numHeads % numKVHeads != 0 {
            try fail("num_attention_heads (\(numHeads)) must be a multiple of num_key_value_heads (\(numKVHeads))")
        }
        if headSize <= 0 { try fail("head size (head_dim) \(headSize) must be positive") }
        if architecture != .llama && architecture != .qwen2 && numHeads * headSize != hiddenSize {
            try fail("hidden size \(hiddenSize) is not heads \(numHeads) × head size \(headSize)")
        }
        if !normEps.isFinite || normEps <= 0 || normEps >= 1 {
            try fail("norm epsilon \(normEps) must be a finite number in (0, 1)")
        }
        if usesRoPE {
            if !ropeTheta.isFinite || ropeTheta <= 0 { try fail("rope_theta \(ropeTheta) must be a finite positive number") }
            if !rotaryFraction.isFinite || rotaryFraction <= 0 || rotaryFraction > 1 {
                try fail("rotary fraction (rotary_pct / partial_rotary_factor) \(rotaryFraction) must be in (0, 1]")
            }
            if rotaryDim == 0 { try fail("rotary dimension is 0 (head size \(headSize), rotary fraction \(rotaryFraction))") }
            if rotaryDim % 2 != 0 {
                try fail("the rotary dimension int(head size \(headSize) × rotary fraction \(rotaryFraction)) = \(rotaryDim) is odd; transformers rotates \(rotaryDim) dimensions, which this runtime (rotating pairs) cannot reproduce. Use a rotary fraction that gives an even count")
            }
        }
        let known = ["gelu_new", "gelu_pytorch_tanh", "gelu", "silu", "swish"]
        if !known.contains(hiddenAct) {
            try fail("activation '\(ErrorText.name(hiddenAct))' is not supported (supported: \(known.joined(separator: ", ")))")
        }
        if usesSwiGLU && hiddenAct != "silu" && hiddenAct != "swish" { try fail("\(architecture.rawValue) needs hidden_act silu, got \(hiddenAct)") }
        for (name, id) in [("bos_token_id", bosTokenID), ("eos_token_id", eosTokenID)] {
            if let id, id < 0 || id >= vocabSize {
                try fail("\(name) \(id) is outside the vocabulary 0..<\(vocabSize); fix the id or remove the key")
            }
        }
        if let h = helpTokenID, h < 0 || h >= vocabSize {
            try fail("help_token_id \(h) is outside the vocabulary of \(vocabSize); the help action is one of the model's output rows")
        }
        if featureStaleness < 0 || featureStaleness > 16 || featureWidth < 0 || featureWidth > Self.limits.hidden
            || (featureStaleness > 0) != (featureWidth > 0) {
            try fail("specdistill_feature_staleness \(featureStaleness) and specdistill_feature_width \(featureWidth) must both be 0 (no target features) or both positive (staleness at most 16, width at most \(Self.limits.hidden))")
        }
        if checkedModelBytes == nil {
            try fail("the parameter count of this configuration overflows (vocab \(vocabSize), hidden \(hiddenSize), layers \(numLayers), intermediate \(intermediateSize)); the configuration is corrupt")
        }
    }

    /// Throws ``ModelError/insufficientMemory(needed:available:what:)`` when a float32 model of
    /// this configuration needs more than `limit` bytes (default: MemAvailable of /proc/meminfo;
    /// no check where that is unknown).
    public func checkFitsInMemory(limit: Int? = nil, what: String = "the model") throws {
        guard let available = limit ?? Self.availableMemory(), let needed = checkedModelBytes else { return }
        if needed > available {
            throw ModelError.insufficientMemory(needed: needed, available: available,
                                                what: "\(what) (\(checkedParameterCount ?? 0) float32 parameters)")
        }
    }

    /// The system's available memory in bytes (`MemAvailable` of /proc/meminfo), nil if unknown.
    public static func availableMemory() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            let parts = line.split(separator: " ")
            if parts.count >= 2, let kb = Int(parts[1]) { return kb * 1024 }
        }
        return nil
    }
}

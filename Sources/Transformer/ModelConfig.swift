import Foundation

/// The decoder families the runtime implements.
public enum Architecture: String, Codable, CaseIterable, Sendable {
    /// GPT-2: learned positions, LayerNorm with bias, GELU (tanh) MLP, Conv1D weights in files.
    case gpt2
    /// Llama (SmolLM2, TinyLlama): RMSNorm, SwiGLU, RoPE, grouped KV heads, optional tied embeddings.
    case llama
    /// Qwen2: Llama plus biases on the Q/K/V projections.
    case qwen2
    /// GPT-NeoX (Pythia): LayerNorm with bias, partial rotary (`rotary_pct`), parallel residual.
    case gptNeoX = "gpt_neox"
}

/// A model configuration, read from and written to Hugging Face `config.json` (HF key names per
/// architecture; missing optional keys take the Hugging Face defaults).
///
/// Dimension vocabulary: `V` vocabulary, `C` width, `L` layers, `NH` query heads, `NKV` key/value
/// heads, `HS` head size, `F` feed-forward width.
public struct ModelConfig: Equatable, Sendable {
    public var architecture: Architecture
    /// V
    public var vocabSize: Int
    /// C
    public var hiddenSize: Int
    /// L
    public var numLayers: Int
    /// NH
    public var numHeads: Int
    /// NKV (equal to NH without grouped-query attention)
    public var numKVHeads: Int
    /// HS (C / NH unless the config says `head_dim`)
    public var headSize: Int
    /// F
    public var intermediateSize: Int
    /// Longest context the model supports (learned positions for GPT-2; RoPE otherwise).
    public var maxPositions: Int
    /// Epsilon of LayerNorm / RMSNorm.
    public var normEps: Float
    /// RoPE base (theta).
    public var ropeTheta: Float
    /// Fraction of each head's dimensions that rotate (GPT-NeoX `rotary_pct`; 1 for Llama/Qwen2).
    public var rotaryFraction: Float
    /// Output projection shares the token-embedding matrix.
    public var tieWordEmbeddings: Bool
    /// GPT-NeoX: `x + attn(ln1(x)) + mlp(ln2(x))` instead of two sequential residual blocks.
    public var parallelResidual: Bool
    /// Bias on the Q/K/V projections.
    public var qkvBias: Bool
    /// Bias on the attention output projection.
    public var outputBias: Bool
    /// Bias on the MLP projections.
    public var mlpBias: Bool
    /// MLP activation as named in the config (`gelu_new`, `gelu`, `silu`, …).
    public var hiddenAct: String
    public var bosTokenID: Int?
    public var eosTokenID: Int?
    /// The id of the student's `<help>` action (algorithms.md §5.4): an extra output row past the
    /// tokenizer's vocabulary that asks the teacher for its token. `help_token_id` in config.json
    /// (a key transformers keeps as an extra attribute); nil for ordinary models.
    public var helpTokenID: Int? = nil

    /// The number of rotating dimensions per head (even).
    public var rotaryDim: Int { usesRoPE ? (Int(Float(headSize) * rotaryFraction) / 2) * 2 : 0 }
    public var usesRoPE: Bool { architecture != .gpt2 }
    public var usesRMSNorm: Bool { architecture == .llama || architecture == .qwen2 }
    public var usesSwiGLU: Bool { architecture == .llama || architecture == .qwen2 }
    /// Width of the fused Q/K/V projection output: `(NH + 2·NKV)·HS`.
    public var qkvWidth: Int { (numHeads + 2 * numKVHeads) * headSize }

    public init(architecture: Architecture, vocabSize: Int, hiddenSize: Int, numLayers: Int, numHeads: Int,
                numKVHeads: Int? = nil, headSize: Int? = nil, intermediateSize: Int? = nil, maxPositions: Int = 1024,
                normEps: Float? = nil, ropeTheta: Float = 10000, rotaryFraction: Float? = nil,
                tieWordEmbeddings: Bool? = nil, parallelResidual: Bool? = nil, qkvBias: Bool? = nil,
                outputBias: Bool? = nil, mlpBias: Bool? = nil, hiddenAct: String? = nil,
                bosTokenID: Int? = nil, eosTokenID: Int? = nil) {
        self.architecture = architecture
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.numLayers = numLayers
        self.numHeads = numHeads
        self.numKVHeads = numKVHeads ?? numHeads
        self.headSize = headSize ?? (numHeads > 0 ? hiddenSize / numHeads : 0)
        let swiglu = architecture == .llama || architecture == .qwen2
        self.intermediateSize = intermediateSize ?? (swiglu ? (8 * hiddenSize / 3 + 63) / 64 * 64 : 4 * hiddenSize)
        self.maxPositions = maxPositions
        self.normEps = normEps ?? (swiglu ? 1e-6 : 1e-5)
        self.ropeTheta = ropeTheta
        self.rotaryFraction = rotaryFraction ?? (architecture == .gptNeoX ? 0.25 : 1)
        self.tieWordEmbeddings = tieWordEmbeddings ?? (architecture == .gpt2)
        self.parallelResidual = parallelResidual ?? (architecture == .gptNeoX)
        self.qkvBias = qkvBias ?? (architecture != .llama)
        self.outputBias = outputBias ?? (architecture == .gpt2 || architecture == .gptNeoX)
        self.mlpBias = mlpBias ?? (architecture == .gpt2 || architecture == .gptNeoX)
        self.hiddenAct = hiddenAct ?? (architecture == .gpt2 ? "gelu_new" : architecture == .gptNeoX ? "gelu" : "silu")
        self.bosTokenID = bosTokenID
        self.eosTokenID = eosTokenID
    }

    /// Checks the relations between sizes; throws naming the offending fields.
    public func validate() throws {
        func fail(_ m: String) throws -> Never { throw ModelError.invalidConfig(m) }
        if vocabSize <= 0 || hiddenSize <= 0 || numLayers <= 0 || numHeads <= 0 || intermediateSize <= 0 || maxPositions <= 0 {
            try fail("sizes must be positive (vocab_size \(vocabSize), hidden \(hiddenSize), layers \(numLayers), heads \(numHeads), intermediate \(intermediateSize), max positions \(maxPositions))")
        }
        if numKVHeads <= 0 || numHeads % numKVHeads != 0 {
            try fail("num_attention_heads (\(numHeads)) must be a multiple of num_key_value_heads (\(numKVHeads))")
        }
        if architecture != .llama && architecture != .qwen2 && numHeads * headSize != hiddenSize {
            try fail("hidden size \(hiddenSize) is not heads \(numHeads) × head size \(headSize)")
        }
        if usesRoPE && rotaryDim == 0 { try fail("rotary dimension is 0 (head size \(headSize), rotary fraction \(rotaryFraction))") }
        let known = ["gelu_new", "gelu_pytorch_tanh", "gelu", "silu", "swish"]
        if !known.contains(hiddenAct) { try fail("activation '\(hiddenAct)' is not supported (supported: \(known.joined(separator: ", ")))") }
        if usesSwiGLU && hiddenAct != "silu" && hiddenAct != "swish" { try fail("\(architecture.rawValue) needs hidden_act silu, got \(hiddenAct)") }
        if let h = helpTokenID, h < 0 || h >= vocabSize {
            try fail("help_token_id \(h) is outside the vocabulary of \(vocabSize); the help action is one of the model's output rows")
        }
    }

    /// Whether the MLP activation is GELU in its tanh form (else exact erf GELU), for GELU MLPs.
    public var geluIsTanh: Bool { hiddenAct == "gelu_new" || hiddenAct == "gelu_pytorch_tanh" }
}

/// Errors of model construction, loading and saving. Each message names the file or field, the
/// problem and the fix.
public enum ModelError: Error, CustomStringConvertible {
    case invalidConfig(String)
    case unsupportedArchitecture(String)
    case missingField(file: String, field: String)
    case file(String)
    case shape(String)

    public var description: String {
        switch self {
        case .invalidConfig(let m): return "invalid model configuration: \(m)"
        case .unsupportedArchitecture(let t):
            return "unsupported model_type '\(t)'; supported: \(Architecture.allCases.map(\.rawValue).joined(separator: ", "))"
        case .missingField(let f, let k): return "\(f): required field '\(k)' is missing; add it (see the Hugging Face config of this architecture)"
        case .file(let m): return m
        case .shape(let m): return m
        }
    }
}

import Foundation
import Formats

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
    /// A draft that reads the target's hidden states (``FeatureInput``): D, the staleness
    /// matrices W_1…W_D of `feature_proj.weight` (D, C, Cf), and Cf, the target's hidden size.
    /// `specdistill_feature_staleness` / `specdistill_feature_width` in config.json; 0 for
    /// ordinary models.
    public var featureStaleness: Int = 0
    public var featureWidth: Int = 0

    /// The number of rotating dimensions per head: transformers' `int(head_size × rotary_pct)`
    /// (``validate()`` refuses a configuration where that is odd, which the runtime cannot rotate).
    /// The product is taken in Double and a value within 1e-4 of an integer counts as that
    /// integer, so a fraction stored as Float (0.35 → 0.3499999) gives the same count as
    /// Python's double arithmetic on the decimal in config.json.
    public var rotaryDim: Int {
        guard usesRoPE, rotaryFraction.isFinite, headSize > 0 else { return 0 }
        let x = Double(headSize) * Double(rotaryFraction), r = x.rounded()
        guard abs(x) < 1e9 else { return 0 }
        return Int(abs(x - r) < 1e-4 ? r : x.rounded(.towardZero))
    }
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
        // Defaults from a width read from a file: clamped, never trapping (validate() refuses the size).
        let C = min(max(hiddenSize, 0), Self.limits.hidden + 1)
        self.intermediateSize = intermediateSize ?? (swiglu ? (8 * C / 3 + 63) / 64 * 64 : 4 * C)
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
    /// A model that needs more memory than the machine has available.
    case insufficientMemory(needed: Int, available: Int, what: String)

    public var description: String { ErrorText.clip(message) }

    private var message: String {
        switch self {
        case let .insufficientMemory(needed, available, what):
            return String(format: "%@ needs %.2f GB but only %.2f GB are available (MemAvailable); use a smaller model, a quantised GGUF with --weights native, or free memory",
                          what, Double(needed) / 1e9, Double(available) / 1e9)
        case .invalidConfig(let m): return "invalid model configuration: \(m)"
        case .unsupportedArchitecture(let t):
            return "unsupported model_type '\(ErrorText.name(t))'; supported: \(Architecture.allCases.map(\.rawValue).joined(separator: ", "))"
        case .missingField(let f, let k): return "\(f): required field '\(k)' is missing; add it (see the Hugging Face config of this architecture)"
        case .file(let m): return m
        case .shape(let m): return m
        }
    }
}

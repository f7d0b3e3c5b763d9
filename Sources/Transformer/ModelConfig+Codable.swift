import Formats
import Foundation

/// `config.json` coding with Hugging Face key names: each architecture reads its own keys
/// (`n_embd` for GPT-2, `hidden_size` for the others, …) with `decodeIfPresent` and the
/// transformers defaults, and accepts both the v4 layout (`rope_theta`, `rotary_pct`) and the v5
/// layout (`rope_parameters: {rope_theta, partial_rotary_factor}`). `help_token_id` (this project's
/// key for a distilled student's `<help>` action) is read and written when present.
extension ModelConfig: Codable {
    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        // A key that is present but of the wrong type is an error, not a silent default.
        func opt<T: Decodable>(_ k: String, _ t: T.Type = T.self) throws -> T? {
            guard c.contains(Key(k)), !((try? c.decodeNil(forKey: Key(k))) ?? false) else { return nil }
            do { return try c.decode(T.self, forKey: Key(k)) } catch {
                throw ModelError.invalidConfig("config.json: '\(k)' is not \(Self.kind(T.self)); fix the value or remove the key")
            }
        }
        func req<T: Decodable>(_ k: String, _ t: T.Type = T.self) throws -> T {
            guard let v: T = try opt(k) else { throw ModelError.missingField(file: "config.json", field: k) }
            return v
        }
        guard let type: String = try opt("model_type") else { throw ModelError.missingField(file: "config.json", field: "model_type") }
        guard let arch = Architecture(rawValue: type) else { throw ModelError.unsupportedArchitecture(type) }
        let rope = try opt("rope_parameters", [String: JSONScalar].self)
        let theta = try opt("rope_theta", Float.self) ?? opt("rotary_emb_base", Float.self) ?? rope?["rope_theta"]?.float ?? 10000
        try Self.checkUnsupported(c, arch: arch, rope: rope)
        let bos: Int? = try opt("bos_token_id")
        let eos: Int? = c.contains(Key("eos_token_id")) && (try? c.decode([Int].self, forKey: Key("eos_token_id"))) != nil
            ? try opt("eos_token_id", [Int].self)?.first : try opt("eos_token_id")
        switch arch {
        case .gpt2:
            let C: Int = try req("n_embd")
            self.init(architecture: .gpt2, vocabSize: try req("vocab_size"), hiddenSize: C, numLayers: try req("n_layer"),
                      numHeads: try req("n_head"), intermediateSize: try opt("n_inner"),
                      maxPositions: try opt("n_positions") ?? 1024, normEps: try opt("layer_norm_epsilon") ?? 1e-5,
                      tieWordEmbeddings: try opt("tie_word_embeddings") ?? true,
                      hiddenAct: try opt("activation_function") ?? "gelu_new", bosTokenID: bos, eosTokenID: eos)
        case .llama, .qwen2:
            let bias: Bool? = try opt("attention_bias")
            // transformers' Qwen2 hard-codes its biases (q/k/v on, output and MLP off) and ignores these keys.
            self.init(architecture: arch, vocabSize: try req("vocab_size"), hiddenSize: try req("hidden_size"),
                      numLayers: try req("num_hidden_layers"), numHeads: try req("num_attention_heads"),
                      numKVHeads: try opt("num_key_value_heads"), headSize: try opt("head_dim"),
                      intermediateSize: try req("intermediate_size"),
                      maxPositions: try opt("max_position_embeddings") ?? 2048, normEps: try opt("rms_norm_eps") ?? 1e-6,
                      ropeTheta: theta, rotaryFraction: 1, tieWordEmbeddings: try opt("tie_word_embeddings") ?? false,
                      parallelResidual: false, qkvBias: arch == .qwen2 ? true : (bias ?? false),
                      outputBias: arch == .qwen2 ? false : (bias ?? false), mlpBias: arch == .qwen2 ? false : try opt("mlp_bias") ?? false,
                      hiddenAct: try opt("hidden_act") ?? "silu", bosTokenID: bos, eosTokenID: eos)
        case .gptNeoX:
            let pct = try opt("rotary_pct", Float.self) ?? opt("partial_rotary_factor", Float.self)
                ?? rope?["partial_rotary_factor"]?.float ?? 0.25
            let bias: Bool = try opt("attention_bias") ?? true
            self.init(architecture: .gptNeoX, vocabSize: try req("vocab_size"), hiddenSize: try req("hidden_size"),
                      numLayers: try req("num_hidden_layers"), numHeads: try req("num_attention_heads"),
                      intermediateSize: try req("intermediate_size"),
                      maxPositions: try opt("max_position_embeddings") ?? 2048, normEps: try opt("layer_norm_eps") ?? 1e-5,
                      ropeTheta: theta, rotaryFraction: pct, tieWordEmbeddings: try opt("tie_word_embeddings") ?? false,
                      parallelResidual: try opt("use_parallel_residual") ?? true, qkvBias: bias, outputBias: bias,
                      mlpBias: true, hiddenAct: try opt("hidden_act") ?? "gelu", bosTokenID: bos, eosTokenID: eos)
        }
        helpTokenID = try opt("help_token_id")
        featureStaleness = try opt("specdistill_feature_staleness") ?? 0
        featureWidth = try opt("specdistill_feature_width") ?? 0
    }

    static func kind<T>(_ t: T.Type) -> String {
        switch t {
        case is Int.Type: return "an integer"
        case is Float.Type, is Double.Type: return "a number"
        case is Bool.Type: return "true or false"
        case is String.Type: return "a string"
        case is [Int].Type: return "a list of integers"
        default: return "an object of the expected shape"
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        func put<T: Encodable>(_ k: String, _ v: T?) throws { if let v { try c.encode(v, forKey: Key(k)) } }
        try put("model_type", architecture.rawValue)
        try put("vocab_size", vocabSize)
        try put("bos_token_id", bosTokenID)
        try put("eos_token_id", eosTokenID)
        try put("help_token_id", helpTokenID)
        if featureStaleness > 0 {
            try put("specdistill_feature_staleness", featureStaleness); try put("specdistill_feature_width", featureWidth)
        }
        try put("tie_word_embeddings", tieWordEmbeddings)
        try put("torch_dtype", "float32")
        switch architecture {
        case .gpt2:
            try put("architectures", ["GPT2LMHeadModel"])
            try put("n_embd", hiddenSize); try put("n_layer", numLayers); try put("n_head", numHeads)
            try put("n_inner", intermediateSize); try put("n_positions", maxPositions); try put("n_ctx", maxPositions)
            try put("layer_norm_epsilon", normEps); try put("activation_function", hiddenAct)
            try put("resid_pdrop", 0.0); try put("embd_pdrop", 0.0); try put("attn_pdrop", 0.0)
        case .llama, .qwen2:
            try put("architectures", [architecture == .llama ? "LlamaForCausalLM" : "Qwen2ForCausalLM"])
            try put("hidden_size", hiddenSize); try put("num_hidden_layers", numLayers)
            try put("num_attention_heads", numHeads); try put("num_key_value_heads", numKVHeads)
            try put("head_dim", headSize); try put("intermediate_size", intermediateSize)
            try put("max_position_embeddings", maxPositions); try put("rms_norm_eps", normEps)
            try put("rope_theta", ropeTheta); try put("hidden_act", hiddenAct)
            if architecture == .llama { try put("attention_bias", qkvBias); try put("mlp_bias", mlpBias) }
        case .gptNeoX:
            try put("architectures", ["GPTNeoXForCausalLM"])
            try put("hidden_size", hiddenSize); try put("num_hidden_layers", numLayers)
            try put("num_attention_heads", numHeads); try put("intermediate_size", intermediateSize)
            try put("max_position_embeddings", maxPositions); try put("layer_norm_eps", normEps)
            try put("rotary_pct", rotaryFraction); try put("rotary_emb_base", ropeTheta)
            try put("rope_theta", ropeTheta); try put("partial_rotary_factor", rotaryFraction)
            try put("use_parallel_residual", parallelResidual); try put("hidden_act", hiddenAct)
            try put("attention_bias", qkvBias)
        }
    }

    /// Reads `config.json`; errors name the file and the fix.
    public static func load(_ url: URL) throws -> ModelConfig {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ModelError.file("\(url.path): cannot read the model configuration (\(error.localizedDescription)); a model directory needs config.json")
        }
        do {
            let config = try JSONDecoder().decode(ModelConfig.self, from: data)
            try config.validate()
            return config
        } catch let e as ModelError {
            throw ModelError.file("\(url.path): \(e)")
        } catch {
            throw ModelError.file("\(url.path): not a valid JSON configuration (\(error)); re-export it with save_pretrained")
        }
    }

    /// Writes `config.json` (sorted keys, pretty-printed) atomically.
    public func save(_ url: URL) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(e.encode(self), to: url)
    }
}

/// A JSON scalar inside a nested config object (`rope_parameters`, `rope_scaling`).
enum JSONScalar: Decodable {
    case number(Double), string(String), bool(Bool), other
    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else { self = .other }
    }
    var float: Float? { if case .number(let d) = self { return Float(d) }; return nil }
    var string: String? { if case .string(let s) = self { return s }; return nil }
}

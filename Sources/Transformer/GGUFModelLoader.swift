import Foundation
import Formats
import Tokenizers

/// Loads llama.cpp GGUF files (architectures `llama`, `qwen2`, `gpt2`, `gptneox`) into the
/// runtime: metadata → ``ModelConfig``, llama.cpp tensor names → the runtime layout, every
/// tensor dequantised to float32, and the tokenizer from the embedded `tokenizer.ggml.*` keys.
///
/// **RoPE layout.** llama.cpp's converter permutes the rows of `attn_q` / `attn_k` for the `llama`
/// architecture so that each head's rotary pairs are adjacent, `(x[2i], x[2i+1])`, while the
/// runtime (like Hugging Face) rotates halves, `(x[i], x[i + HS/2])`. The loader undoes the
/// permutation — GGUF row `2i + j` of a head is HF row `j·HS/2 + i` — so one attention kernel
/// serves both file formats. `qwen2` and `gptneox` GGUF files keep the HF (halves) layout.
public enum GGUFModelLoader {
    /// Whether the file starts with the GGUF magic.
    public static func looksLikeGGUF(_ url: URL) -> Bool {
        guard let h = try? FileHandle(forReadingFrom: url) else { return false }
        defer { try? h.close() }
        return (try? h.read(upToCount: 4)) == Data("GGUF".utf8)
    }

    static let architectures: [String: Architecture] = ["llama": .llama, "qwen2": .qwen2, "gpt2": .gpt2, "gptneox": .gptNeoX]

    /// Reads the configuration from GGUF metadata (and tensor shapes where the metadata is silent).
    public static func config(of file: GGUFFile) throws -> ModelConfig {
        let path = file.url.path
        guard let archName = file["general.architecture"]?.string else {
            throw ModelError.file("\(path): GGUF metadata has no general.architecture; the file is not a model (a tokenizer-only vocab file?)")
        }
        guard let arch = architectures[archName] else {
            throw ModelError.file("\(path): GGUF architecture '\(archName)' is not supported; supported: \(architectures.keys.sorted().joined(separator: ", "))")
        }
        func int(_ key: String) throws -> Int {
            guard let v = file["\(archName).\(key)"]?.int else {
                throw ModelError.file("\(path): GGUF metadata lacks \(archName).\(key)")
            }
            return v
        }
        func optInt(_ key: String) -> Int? { file["\(archName).\(key)"]?.int }
        func optFloat(_ key: String) -> Float? { file["\(archName).\(key)"]?.double.map(Float.init) }
        let embed = try file.tensorInfo("token_embd.weight")
        let C = try int("embedding_length"), NH = try int("attention.head_count")
        guard embed.shape.count == 2, embed.shape[1] == C else {
            throw ModelError.file("\(path): token_embd.weight has shape \(embed.shape), expected (V, \(C))")
        }
        let V = optInt("vocab_size") ?? embed.shape[0]
        let NKV = optInt("attention.head_count_kv") ?? NH
        guard NH > 0, NKV > 0, NH % NKV == 0 else {
            throw ModelError.file("\(path): inconsistent metadata: head_count \(NH) is not a multiple of head_count_kv \(NKV)")
        }
        guard C % NH == 0 || optInt("attention.key_length") != nil else {
            throw ModelError.file("\(path): inconsistent metadata: embedding_length \(C) is not divisible by head_count \(NH)")
        }
        let HS = optInt("attention.key_length") ?? C / NH
        if let vl = optInt("attention.value_length"), vl != HS {
            throw ModelError.file("\(path): GGUF attention.value_length \(vl) differs from key_length \(HS); the runtime needs equal key and value head sizes")
        }
        if arch == .llama || arch == .qwen2 {
            guard HS % 2 == 0 else {
                throw ModelError.file("\(path): inconsistent metadata: head size \(HS) is odd, but RoPE rotates pairs of dimensions")
            }
            if let rot = optInt("rope.dimension_count"), rot != HS {
                throw ModelError.file("\(path): \(archName).rope.dimension_count \(rot) differs from the head size \(HS); partial rotary is not supported for \(archName)")
            }
        }
        try checkUnsupported(file, archName: archName, path: path)
        let tied = (try? file.tensorInfo("output.weight")) == nil
        let eos = file["tokenizer.ggml.eos_token_id"]?.int, bos = file["tokenizer.ggml.bos_token_id"]?.int
        var c: ModelConfig
        switch arch {
        case .llama, .qwen2:
            c = ModelConfig(architecture: arch, vocabSize: V, hiddenSize: C, numLayers: try int("block_count"), numHeads: NH,
                            numKVHeads: NKV, headSize: HS, intermediateSize: try int("feed_forward_length"),
                            maxPositions: optInt("context_length") ?? 2048,
                            normEps: optFloat("attention.layer_norm_rms_epsilon") ?? 1e-6,
                            ropeTheta: optFloat("rope.freq_base") ?? 10000, rotaryFraction: 1, tieWordEmbeddings: tied,
                            qkvBias: (try? file.tensorInfo("blk.0.attn_q.bias")) != nil,
                            outputBias: (try? file.tensorInfo("blk.0.attn_output.bias")) != nil,
                            mlpBias: false, hiddenAct: "silu", bosTokenID: bos, eosTokenID: eos)
        case .gpt2:
            c = ModelConfig(architecture: .gpt2, vocabSize: V, hiddenSize: C, numLayers: try int("block_count"), numHeads: NH,
                            intermediateSize: optInt("feed_forward_length"), maxPositions: optInt("context_length") ?? 1024,
                            normEps: optFloat("attention.layer_norm_epsilon") ?? 1e-5, tieWordEmbeddings: tied,
                            hiddenAct: "gelu_new", bosTokenID: bos, eosTokenID: eos)
        case .gptNeoX:
            let rot = optInt("rope.dimension_count") ?? HS / 4
            c = ModelConfig(architecture: .gptNeoX, vocabSize: V, hiddenSize: C, numLayers: try int("block_count"), numHeads: NH,
                            intermediateSize: optInt("feed_forward_length"), maxPositions: optInt("context_length") ?? 2048,
                            normEps: optFloat("attention.layer_norm_epsilon") ?? 1e-5, ropeTheta: optFloat("rope.freq_base") ?? 10000,
                            rotaryFraction: Float(rot) / Float(HS), tieWordEmbeddings: tied,
                            parallelResidual: file["\(archName).use_parallel_residual"]?.bool ?? true,
                            hiddenAct: "gelu", bosTokenID: bos, eosTokenID: eos)
        }
        // A draft that reads the target's hidden states (FeatureInput): this project's keys.
        c.featureStaleness = file[featureStalenessKey]?.int ?? 0
        c.featureWidth = file[featureWidthKey]?.int ?? 0
        do { try c.validate() } catch { throw ModelError.file("\(path): \(error)") }
        return c
    }

    /// GGUF names of a feature draft's W_1…W_D (an F32 tensor (D, C, Cf)) and its sizes.
    static let featureTensor = "specdistill.feature_proj.weight"
    static let featureStalenessKey = "specdistill.feature_staleness", featureWidthKey = "specdistill.feature_width"

    /// Metadata that changes what llama.cpp computes but that this runtime does not implement:
    /// RoPE scaling, sliding windows, mixtures of experts, clamped or soft-capped attention.
    static func checkUnsupported(_ file: GGUFFile, archName: String, path: String) throws {
        func fail(_ key: String, _ value: GGUFValue) throws -> Never {
            throw ModelError.file("\(path): GGUF metadata \(key) = \(ErrorText.name("\(value)")) is not supported by this runtime (it would compute different logits); use a model without it")
        }
        let p = archName + "."
        if let v = file[p + "rope.scaling.type"], v.string != "none" { try fail(p + "rope.scaling.type", v) }
        if let v = file[p + "rope.scaling.factor"], let f = v.double, f != 1, f != 0 { try fail(p + "rope.scaling.factor", v) }
        for key in ["attention.sliding_window", "attention.clamp_kqv", "attn_logit_softcapping", "final_logit_softcapping"] {
            if let v = file[p + key] { try fail(p + key, v) }
        }
        if let v = file[p + "expert_count"], (v.int ?? 1) > 0 { try fail(p + "expert_count", v) }
    }

    /// The llama.cpp tensors that make up internal parameter `info`, concatenated along rows.
    static func sources(of info: ParameterInfo, config c: ModelConfig) -> [(name: String, rows: Int)] {
        let parts = info.name.split(separator: ".").map(String.init)
        let suffix = parts.last!
        switch info.name {
        case "embed.weight": return [("token_embd.weight", info.shape[0])]
        case "pos_embed.weight": return [("position_embd.weight", info.shape[0])]
        case "final_norm.weight", "final_norm.bias": return [("output_norm.\(suffix)", info.shape[0])]
        case "lm_head.weight": return [("output.weight", info.shape[0])]
        case FeatureInput.parameterName: return [(featureTensor, info.shape[0])]
        default: break
        }
        let p = "blk.\(parts[1])."
        switch parts[2] {
        case "norm1": return [(p + "attn_norm.\(suffix)", info.shape[0])]
        case "norm2": return [(p + "ffn_norm.\(suffix)", info.shape[0])]
        case "qkv":
            if c.architecture == .gpt2 || c.architecture == .gptNeoX { return [(p + "attn_qkv.\(suffix)", info.shape[0])] }
            return [(p + "attn_q.\(suffix)", c.numHeads * c.headSize), (p + "attn_k.\(suffix)", c.numKVHeads * c.headSize),
                    (p + "attn_v.\(suffix)", c.numKVHeads * c.headSize)]
        case "attn_out": return [(p + "attn_output.\(suffix)", info.shape[0])]
        case "mlp_up":
            if c.usesSwiGLU { return [(p + "ffn_gate.\(suffix)", c.intermediateSize), (p + "ffn_up.\(suffix)", c.intermediateSize)] }
            return [(p + "ffn_up.\(suffix)", info.shape[0])]
        default: return [(p + "ffn_down.\(suffix)", info.shape[0])]
        }
    }

    /// Undoes llama.cpp's Q/K row permutation for `heads` heads of size HS (rows of `cols` values):
    /// GGUF row `h·HS + 2i + j` → runtime row `h·HS + j·HS/2 + i`.
    static func unpermuteRoPE(from src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, heads: Int, HS: Int, cols: Int) {
        let half = HS / 2
        for h in 0..<heads { for i in 0..<half { for j in 0..<2 {
            (dst + (h * HS + j * half + i) * cols).update(from: src + (h * HS + 2 * i + j) * cols, count: cols)
        } } }
    }

    /// Undoes llama.cpp's Q/K row permutation (the inverse of ``permuteRoPE(_:heads:HS:cols:)``).
    public static func unpermuteRoPE(_ v: [Float], heads: Int, HS: Int, cols: Int) -> [Float] {
        precondition(v.count == heads * HS * cols, "unpermuteRoPE: \(v.count) values for \(heads) heads × \(HS) × \(cols)")
        var out = v
        v.withUnsafeBufferPointer { s in out.withUnsafeMutableBufferPointer { d in
            unpermuteRoPE(from: s.baseAddress!, into: d.baseAddress!, heads: heads, HS: HS, cols: cols)
        } }
        return out
    }

    /// The inverse of ``unpermuteRoPE(_:heads:HS:cols:)`` (what llama.cpp's converter applies):
    /// runtime (HF) row `h·HS + j·HS/2 + i` → GGUF row `h·HS + 2i + j`.
    public static func permuteRoPE(_ v: [Float], heads: Int, HS: Int, cols: Int) -> [Float] {
        precondition(v.count == heads * HS * cols, "permuteRoPE: \(v.count) values for \(heads) heads × \(HS) × \(cols)")
        var out = v
        let half = HS / 2
        for h in 0..<heads { for i in 0..<half { for j in 0..<2 {
            let dst = (h * HS + 2 * i + j) * cols, src = (h * HS + j * half + i) * cols
            for k in 0..<cols { out[dst + k] = v[src + k] }
        } } }
        return out
    }

    /// Loads the model with every tensor dequantised to float32, and its embedded tokenizer (nil
    /// when the file has no `tokenizer.ggml.model`). See ``load(_:weights:)`` for native weights.
    ///
    /// Each tensor is dequantised straight into the model's parameter buffer; the `llama` Q/K
    /// rows go through one scratch buffer to undo the RoPE permutation. The file is memory-mapped
    /// and unmapped when this returns.
    /// - Throws: ``ModelError`` naming the file: unsupported architecture, inconsistent metadata,
    ///   a missing tensor, a tensor whose shape disagrees with the metadata, an unsupported tensor
    ///   type, a model larger than the available memory, or a malformed embedded tokenizer;
    ///   `FormatError` for a malformed GGUF file (truncated tensor, row not a whole number of blocks).
    public static func load(_ url: URL) throws -> (TransformerModel, Tokenizer?) {
        let r = try load(url, weights: .f32)
        return (r.model, r.tokenizer)
    }

    /// The llama.cpp tensors of `info`, checked against the metadata's shape.
    static func checkedSources(_ info: ParameterInfo, _ file: GGUFFile, _ config: ModelConfig) throws
        -> [(name: String, rows: Int, info: GGUFTensorInfo)] {
        let cols = info.shape.dropFirst().reduce(1, *)
        return try sources(of: info, config: config).map { src in
            let t: GGUFTensorInfo
            do { t = try file.tensorInfo(src.name) } catch {
                throw ModelError.file("\(file.url.path): tensor '\(src.name)' is missing (needed for \(config.architecture.rawValue) with the file's metadata); \(error)")
            }
            let expected = [src.rows] + Array(info.shape.dropFirst())
            guard t.shape == expected || (t.count == src.rows * cols && expected.count == 1) else {
                throw ModelError.file("\(file.url.path): tensor '\(src.name)' has shape \(t.shape), expected \(expected) from the metadata")
            }
            return (src.name, src.rows, t)
        }
    }

    /// Whether the file stores `llama` Q/K rows in llama.cpp's RoPE order (see type docs).
    static func isPermutedQK(_ name: String, _ file: GGUFFile) -> Bool {
        file["general.architecture"]?.string == "llama"
            && (name.hasSuffix("attn_q.weight") || name.hasSuffix("attn_q.bias") || name.hasSuffix("attn_k.weight") || name.hasSuffix("attn_k.bias"))
    }

    /// Dequantises parameter `info` from its GGUF tensors into the model's float32 buffer.
    static func readFloat(_ info: ParameterInfo, _ file: GGUFFile, _ config: ModelConfig, into model: TransformerModel,
                          scratch: inout [Float]) throws {
        let cols = info.shape.dropFirst().reduce(1, *)
        var row = 0
        for src in try checkedSources(info, file, config) {
            let t = src.info, dst = model.parameters[info.name].pointer + row * cols
            do {
                if isPermutedQK(src.name, file) {
                    if scratch.count < t.count { scratch = [Float](repeating: 0, count: t.count) }
                    try scratch.withUnsafeMutableBufferPointer { buf in
                        try file.read(src.name, into: buf.baseAddress!, count: t.count)
                        unpermuteRoPE(from: buf.baseAddress!, into: dst, heads: src.name.contains("attn_q") ? config.numHeads : config.numKVHeads,
                                      HS: config.headSize, cols: src.name.hasSuffix("bias") ? 1 : cols)
                    }
                } else {
                    try file.read(src.name, into: dst, count: t.count)
                }
            } catch let e as FormatError {
                throw ModelError.file("\(e)")
            }
            row += src.rows
        }
    }

    /// The tokenizer embedded in the file (nil without `tokenizer.ggml.model`).
    static func embeddedTokenizer(_ file: GGUFFile, _ config: ModelConfig) throws -> Tokenizer? {
        guard let tokenizer = try tokenizer(of: file) else { return nil }
        let url = file.url
        if tokenizer.vocabularySize > config.vocabSize {
            throw ModelError.file("\(url.path): the embedded tokenizer has \(tokenizer.vocabularySize) tokens but token_embd has \(config.vocabSize) rows; the file is inconsistent")
        }
        return tokenizer
    }
}

extension GGUFModelLoader {
    /// The tokenizer of a GGUF file without loading its model: a vocabulary-only file (llama.cpp's
    /// `ggml-vocab-*.gguf`, no tensors) works as well as a whole model. nil when the file has no
    /// `tokenizer.ggml.model`.
    /// - Throws: `FormatError` for a malformed file, ``ModelError`` for a malformed vocabulary.
    public static func tokenizer(of url: URL) throws -> Tokenizer? {
        try tokenizer(of: try GGUFFile(url: url))
    }

    /// The same for a file already open.
    public static func tokenizer(of file: GGUFFile) throws -> Tokenizer? {
        guard file["tokenizer.ggml.model"] != nil else { return nil }
        do { return try Tokenizer(gguf: file.metadata) } catch {
            throw ModelError.file("\(file.url.path): the embedded tokenizer is malformed: \(error). Use a tokenizer.json of the model's family instead (convert the GGUF with `specdistill convert` and copy it in)")
        }
    }

    /// Converts a GGUF model into a Hugging Face directory that transformers loads:
    /// `config.json` and `model.safetensors` (float32, HF names and layouts: the llama Q/K rows
    /// back in the halves layout, GPT-2 Conv1D weights (in, out), GPT-NeoX per-head fused qkv),
    /// and, when the file embeds a tokenizer, `tokenizer.json` and `tokenizer_config.json` (with
    /// the GGUF's `tokenizer.chat_template` as `chat_template`).
    /// - Parameters:
    ///   - url: the .gguf file.
    ///   - directory: created if needed; existing files of these names are replaced.
    /// - Returns: the names of the files written.
    /// - Throws: ``ModelError`` / `FormatError` from loading, or a write error naming the file.
    @discardableResult
    public static func convert(_ url: URL, to directory: URL) throws -> [String] {
        let (model, tokenizer) = try load(url)
        try ModelBundle(model: model, tokenizer: tokenizer, path: url.path, format: "gguf").save(directory: directory)
        var written = ["config.json", "model.safetensors"]
        guard tokenizer != nil else { return written }
        written += ["tokenizer.json", "tokenizer_config.json"]
        let file = try GGUFFile(url: url)
        if let template = file["tokenizer.chat_template"]?.string {
            let configURL = directory.appendingPathComponent("tokenizer_config.json")
            guard var object = try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as? [String: Any] else {
                throw ModelError.file("\(configURL.path): written tokenizer_config.json is not a JSON object")
            }
            object["chat_template"] = template
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            try data.write(to: configURL, options: .atomic)
        }
        return written
    }
}

import Foundation
import Formats

/// Writing a runtime model as a GGUF file that llama.cpp loads (`specdistill quantize`): the
/// inverse of ``GGUFModelLoader/load(_:)`` — llama.cpp tensor names (``GGUFModelLoader/sources(of:config:)``
/// read backwards: fused q|k|v and gate|up split again), the `llama` Q/K rows permuted back to
/// llama.cpp's adjacent-pair RoPE layout, the architecture's metadata keys, and the tokenizer keys
/// (`tokenizer.*`) copied from a GGUF of the same tokenizer (the target the draft was distilled from).
///
/// Types: every matrix whose rows are a whole number of blocks is stored as `type` (under the
/// 4-bit types the output layer and the token embedding stay Q8_0: with SmolLM2 this is
/// llama.cpp-Q4_0's perplexity within 1%, and 0.3 points better than all-Q4); norms and
/// biases (1-D) as F32, as llama.cpp's quantiser does; a matrix whose row length is not a block
/// multiple falls back to Q4_0 (rows of whole 32-blocks, e.g. SmolLM2's C = 576 under Q4_K) or
/// F16 (reported in the returned notes).
public enum GGUFModelWriter {
    /// llama.cpp's `general.file_type` (enum llama_ftype) for a whole-file type.
    static func fileType(_ t: GGMLType) -> UInt32 {
        switch t {
        case .f32: return 0
        case .f16: return 1
        case .q4_0: return 2
        case .q8_0: return 7
        case .q4_K: return 15   // LLAMA_FTYPE_MOSTLY_Q4_K_M (the common Q4_K file type)
        case .q5_K: return 17   // LLAMA_FTYPE_MOSTLY_Q5_K_M
        case .bf16: return 32
        default: return 0
        }
    }

    /// Writes `model` to `url` (through a temporary file renamed into place).
    /// - Parameters:
    ///   - type: the matrices' type, one of `GGMLType.quantizable`.
    ///   - tokenizerSource: a GGUF file whose `tokenizer.*` keys (vocabulary, merges, special ids,
    ///     chat template) are copied; nil writes no tokenizer (llama.cpp then refuses the file for text).
    ///   - name: `general.name`.
    ///   - outputType, embeddingType: the output layer's and the token embedding's type (llama.cpp's
    ///     `--output-tensor-type` / `--token-embedding-type`); nil: `type`, or Q8_0 under the 4-bit
    ///     types. A draft's output layer is most of what its step reads (Qwen2.5-Coder-0.5B: 145 of
    ///     392 MB at Q8_0), so a 4-bit head makes it markedly cheaper, at some acceptance.
    /// - Returns: notes on tensors stored in another type than `type`.
    /// - Throws: ``ModelError`` for an architecture the writer does not handle, a tokenizer source
    ///   whose vocabulary size differs from the model's, or a write error naming the file.
    @discardableResult
    public static func write(_ model: TransformerModel, to url: URL, type: GGMLType, tokenizerSource: GGUFFile?,
                             name: String = "specdistill draft", extraMetadata: [(String, GGUFValue)] = [],
                             outputType: GGMLType? = nil, embeddingType: GGMLType? = nil) throws -> [String] {
        let c = model.config
        for t in [type] + [outputType, embeddingType].compactMap({ $0 }) where !GGMLType.quantizable.contains(t) {
            throw ModelError.invalidConfig("GGUF type \(t) cannot be written; choose one of \(GGMLType.quantizable.map(\.description).sorted().joined(separator: ", "))")
        }
        let arch: String
        switch c.architecture {
        case .llama: arch = "llama"
        case .qwen2: arch = "qwen2"
        default:
            throw ModelError.invalidConfig("writing GGUF supports the llama and qwen2 architectures, not \(c.architecture.rawValue)")
        }
        if let source = tokenizerSource, let tokens = source["tokenizer.ggml.tokens"]?.array, tokens.count > c.vocabSize {
            throw ModelError.file("\(source.url.path): its tokenizer has \(tokens.count) tokens but the model's logit width is \(c.vocabSize); copy the tokenizer of the model's own target")
        }
        var w = GGUFWriter()
        try w.add(key: "general.architecture", .string(arch))
        try w.add(key: "general.name", .string(name))
        try w.add(key: "general.file_type", .uint32(fileType(type)))
        try w.add(key: "general.quantization_version", .uint32(2))
        func u32(_ k: String, _ v: Int) throws { try w.add(key: "\(arch).\(k)", .uint32(UInt32(v))) }
        try u32("context_length", c.maxPositions)
        try u32("embedding_length", c.hiddenSize)
        try u32("block_count", c.numLayers)
        try u32("feed_forward_length", c.intermediateSize)
        try u32("attention.head_count", c.numHeads)
        try u32("attention.head_count_kv", c.numKVHeads)
        try u32("rope.dimension_count", c.headSize)
        try u32("vocab_size", c.vocabSize)
        try w.add(key: "\(arch).attention.layer_norm_rms_epsilon", .float32(c.normEps))
        try w.add(key: "\(arch).rope.freq_base", .float32(c.ropeTheta))
        if let source = tokenizerSource {
            for key in source.metadataKeys where key.hasPrefix("tokenizer.") { try w.add(key: key, source[key]!) }
        }
        for (key, value) in extraMetadata { try w.add(key: key, value) }
        if c.featureStaleness > 0 {
            try w.add(key: GGUFModelLoader.featureStalenessKey, .uint32(UInt32(c.featureStaleness)))
            try w.add(key: GGUFModelLoader.featureWidthKey, .uint32(UInt32(c.featureWidth)))
        }
        var notes: [String] = []
        for info in model.parameters.infos {
            let cols = info.shape.dropFirst().reduce(1, *)
            let values = model.parameters[info.name].pointer
            var row = 0
            for src in GGUFModelLoader.sources(of: info, config: c) {
                var slice = Array(UnsafeBufferPointer(start: values + row * cols, count: src.rows * cols))
                row += src.rows
                let isQ = src.name.hasSuffix("attn_q.weight") || src.name.hasSuffix("attn_q.bias")
                let isK = src.name.hasSuffix("attn_k.weight") || src.name.hasSuffix("attn_k.bias")
                if arch == "llama" && (isQ || isK) {
                    slice = GGUFModelLoader.permuteRoPE(slice, heads: isQ ? c.numHeads : c.numKVHeads, HS: c.headSize,
                                                        cols: src.name.hasSuffix("bias") ? 1 : cols)
                }
                let matrix = info.shape.count == 2
                var t: GGMLType = matrix ? type : .f32
                // The output layer (or the tied embedding that serves as it) is the most sensitive
                // matrix; under 4-bit types it stays Q8_0, as llama.cpp keeps it at 6-8 bits, unless
                // the caller chose its type.
                if matrix && (src.name == "output.weight" || src.name == "token_embd.weight") {
                    if type == .q4_0 || type == .q4_K { t = .q8_0 }
                    if let chosen = src.name == "output.weight" ? outputType : embeddingType { t = chosen }
                }
                if matrix && cols % t.blockSize != 0 {
                    // llama.cpp's own fallback for K-quant rows that are not whole super-blocks: a
                    // legacy type of blocks of 32; F16 when not even that fits.
                    let fallback: GGMLType = cols % 32 == 0 ? .q4_0 : .f16
                    notes.append("\(src.name): rows of \(cols) are not a multiple of \(t.blockSize); stored as \(fallback)")
                    t = fallback
                }
                let shape = matrix ? [src.rows, cols] : [src.rows] + info.shape.dropFirst()  // (D, C, Cf) stays F32
                let bytes = slice.withUnsafeBufferPointer { t.quantize($0.baseAddress!, count: $0.count) }
                try w.addRaw(tensor: src.name, shape: shape, type: t, bytes: bytes)
            }
        }
        let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).partial")
        do {
            try w.write(to: tmp)
            if FileManager.default.fileExists(atPath: url.path) { try FileManager.default.removeItem(at: url) }
            try FileManager.default.moveItem(at: tmp, to: url)
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw ModelError.file("\(url.path): could not write the GGUF file: \(error)")
        }
        return notes
    }

    /// `model` as it runs after `quantize --type TYPE`: written to a temporary GGUF in `directory`,
    /// loaded back with native weights and the file removed (the loader keeps what it needs).
    /// For timing a draft as it ships. Throws for an architecture the writer does not handle.
    public static func nativeCopy(_ model: TransformerModel, type: GGMLType, directory: URL) throws -> TransformerModel {
        let url = directory.appendingPathComponent(".native-copy-\(getpid())-\(type).gguf")
        defer { try? FileManager.default.removeItem(at: url) }
        try write(model, to: url, type: type, tokenizerSource: nil)
        return try GGUFModelLoader.load(url, weights: .native).model
    }
}

import Formats
import Foundation
import Tokenizers

/// A model with its tokenizer, loaded from a path: a Hugging Face model directory
/// (config.json, model.safetensors, tokenizer.json) or a GGUF file.
public struct ModelBundle {
    public let model: TransformerModel
    /// nil when the directory has no tokenizer.json.
    public let tokenizer: Tokenizer?
    /// Where it was loaded from.
    public let path: String
    /// "hf" or "gguf".
    public let format: String
    /// Lines the loader wants shown (e.g. a tensor type without a native kernel kept as float32).
    public var notes: [String] = []

    public init(model: TransformerModel, tokenizer: Tokenizer?, path: String, format: String) {
        self.model = model; self.tokenizer = tokenizer; self.path = path; self.format = format
    }

    /// Loads a model directory or a GGUF file (float32); errors name the path and what is wrong.
    public static func load(_ path: String) throws -> ModelBundle { try load(path, weights: .f32) }

    /// Loads a model directory or a GGUF file; errors name the path and what is wrong.
    /// - Parameter weights: for GGUF files, keep the big matrices in their file types (`.native`,
    ///   for inference) or dequantise them (`.f32`, the default; training needs it). Model
    ///   directories are always float32.
    public static func load(_ path: String, weights: WeightStorage) throws -> ModelBundle {
        let url = URL(fileURLWithPath: (path as NSString).expandingTildeInPath)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) else {
            throw ModelError.file("\(path): no such file or directory; pass a Hugging Face model directory or a .gguf file")
        }
        if isDir.boolValue {
            let model = try TransformerModel.load(directory: url)
            let tokURL = url.appendingPathComponent("tokenizer.json")
            let tokenizer = FileManager.default.fileExists(atPath: tokURL.path) ? try Tokenizer(url: tokURL) : nil
            return ModelBundle(model: model, tokenizer: tokenizer, path: url.path, format: "hf")
        }
        if url.pathExtension.lowercased() == "gguf" || GGUFModelLoader.looksLikeGGUF(url) {
            let r = try GGUFModelLoader.load(url, weights: weights)
            var bundle = ModelBundle(model: r.model, tokenizer: r.tokenizer, path: url.path, format: "gguf")
            bundle.notes = r.notes
            return bundle
        }
        throw ModelError.file("\(path): not a model directory or a GGUF file (a directory needs config.json and model.safetensors)")
    }

    /// The tokenizer, or an error saying how to provide one.
    public func requireTokenizer() throws -> Tokenizer {
        guard let tokenizer else {
            if format == "gguf" {
                throw ModelError.file("\(path) embeds no tokenizer (no tokenizer.ggml.* metadata); convert it with `specdistill convert` and copy a tokenizer.json of the model's family into the directory")
            }
            throw ModelError.file("\(path): no tokenizer.json beside the model; copy the tokenizer of the model's family into the directory")
        }
        return tokenizer
    }

    /// Saves the model and its tokenizer as a Hugging Face directory.
    public func save(directory url: URL) throws {
        try model.save(directory: url)
        if let tokenizer {
            try AtomicFile.write(tokenizer.tokenizerJSON(), to: url.appendingPathComponent("tokenizer.json"))
            try AtomicFile.write(tokenizer.tokenizerConfigJSON(), to: url.appendingPathComponent("tokenizer_config.json"))
        }
    }
}

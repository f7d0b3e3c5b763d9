import Foundation
import Formats
import Tensor

/// Loading and saving Hugging Face model directories: `config.json` + `model.safetensors`
/// (F32, F16 or BF16 in; F32 out), with HF tensor names for each architecture.
extension TransformerModel {
    /// Loads a model directory written by Hugging Face tools or by specdistill.
    /// - Throws: ``ModelError`` naming the file and the missing or malformed piece.
    public static func load(directory url: URL) throws -> TransformerModel {
        let config = try ModelConfig.load(url.appendingPathComponent("config.json"))
        let weightsURL = url.appendingPathComponent("model.safetensors")
        guard FileManager.default.fileExists(atPath: weightsURL.path) else {
            throw ModelError.file("\(url.path): no model.safetensors (sharded or .bin checkpoints are not supported; re-save with save_pretrained(safe_serialization=True) into one file)")
        }
        let file = try SafetensorsFile(url: weightsURL)
        // Every tensor present with its shape before the parameters are allocated: a config that
        // claims more than the file holds fails here, not in a huge allocation.
        try checkTensors(file, config: config, path: weightsURL.path)
        let model: TransformerModel
        do { model = try TransformerModel(config: config) } catch let e as ModelError {
            throw ModelError.file("\(url.path): \(e)")
        }
        try model.loadWeights(from: file, path: weightsURL.path)
        try model.checkFinite(path: weightsURL.path)
        return model
    }

    /// The safetensors tensor of HF source `src` for parameter `info` (its name and shape checked).
    static func sourceTensor(_ src: HFNames.Source, of info: ParameterInfo, in file: SafetensorsFile, names: Set<String>,
                             config: ModelConfig, path: String) throws -> String {
        guard let name = HFNames.alternatives(src.name).first(where: names.contains) else {
            let sample = file.tensorNames.prefix(5).map { ErrorText.name($0) }.joined(separator: ", ")
            throw ModelError.file("\(path): tensor '\(src.name)' (needed for \(config.architecture.rawValue)) is missing; the file has \(names.count) tensors such as \(sample). Is config.json's model_type right?")
        }
        let expected = HFNames.hfShape(src, internalRest: Array(info.shape.dropFirst()))
        let shape = try file.info(name).shape
        guard shape == expected else {
            throw ModelError.file("\(path): tensor '\(name)' has shape \(shape), expected \(expected) from config.json")
        }
        return name
    }

    /// Checks that `file` has every tensor `config` needs, with the right shapes, without allocating.
    static func checkTensors(_ file: SafetensorsFile, config: ModelConfig, path: String) throws {
        let names = Set(file.tensorNames)
        for info in ModelLayout.infos(for: config) {
            for src in HFNames.sources(of: info, config: config) {
                _ = try sourceTensor(src, of: info, in: file, names: names, config: config, path: path)
            }
        }
    }

    /// Throws naming the first parameter that holds a NaN or an infinity (a corrupt file: such a
    /// model would produce non-finite logits and fail later, far from the cause).
    public func checkFinite(path: String) throws {
        for info in parameters.infos {
            let t = parameters[info.name], p = t.pointer
            for i in 0..<t.count where !p[i].isFinite {
                throw ModelError.file("\(path): parameter \(info.name) holds \(p[i]) at element \(i); the weights are corrupt (re-download or re-convert the model)")
            }
        }
    }

    /// Fills the parameters from a safetensors file with HF names.
    public func loadWeights(from file: SafetensorsFile, path: String) throws {
        let names = Set(file.tensorNames)
        for info in parameters.infos {
            let rest = Array(info.shape.dropFirst())
            let cols = rest.reduce(1, *)
            var row = 0
            for src in HFNames.sources(of: info, config: config) {
                let name = try Self.sourceTensor(src, of: info, in: file, names: names, config: config, path: path)
                let values = HFNames.toInternal(try file.floats(name), src, rest: rest, config: config)
                let dst = parameters[info.name].pointer + row * cols
                values.withUnsafeBufferPointer { dst.update(from: $0.baseAddress!, count: values.count) }
                row += src.rows
            }
        }
    }

    /// The parameters (or any set with their layout, such as the gradients) as HF-named tensors:
    /// (name, shape, values), in layout order.
    public func hfTensors(of set: ParameterSet? = nil) -> [(name: String, shape: [Int], values: [Float])] {
        let set = set ?? parameters
        var out: [(String, [Int], [Float])] = []
        for info in parameters.infos {
            let rest = Array(info.shape.dropFirst())
            let cols = rest.reduce(1, *)
            var row = 0
            let base = set[info.name].pointer
            for src in HFNames.sources(of: info, config: config) {
                let slice = Array(UnsafeBufferPointer(start: base + row * cols, count: src.rows * cols))
                out.append((src.name, HFNames.hfShape(src, internalRest: rest), HFNames.toHF(slice, src, rest: rest, config: config)))
                row += src.rows
            }
        }
        return out
    }

    /// Writes `config.json` and `model.safetensors` (F32) into `url` (created if needed); both
    /// files are written to temporary names and renamed.
    public func save(directory url: URL) throws {
        materializeFloatWeights()
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        try config.save(url.appendingPathComponent("config.json"))
        var writer = SafetensorsWriter(metadata: ["format": "pt"])
        for t in hfTensors() { try writer.add(t.name, shape: t.shape, values: t.values) }
        try writer.write(to: url.appendingPathComponent("model.safetensors"))
    }
}

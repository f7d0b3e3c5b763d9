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
        let model = try TransformerModel(config: config)
        let weightsURL = url.appendingPathComponent("model.safetensors")
        guard FileManager.default.fileExists(atPath: weightsURL.path) else {
            throw ModelError.file("\(url.path): no model.safetensors (sharded or .bin checkpoints are not supported; re-save with save_pretrained(safe_serialization=True) into one file)")
        }
        let file = try SafetensorsFile(url: weightsURL)
        try model.loadWeights(from: file, path: weightsURL.path)
        return model
    }

    /// Fills the parameters from a safetensors file with HF names.
    public func loadWeights(from file: SafetensorsFile, path: String) throws {
        let names = Set(file.tensorNames)
        for info in parameters.infos {
            let rest = Array(info.shape.dropFirst())
            let cols = rest.reduce(1, *)
            var row = 0
            for src in HFNames.sources(of: info, config: config) {
                guard let name = HFNames.alternatives(src.name).first(where: names.contains) else {
                    let sample = file.tensorNames.prefix(5).joined(separator: ", ")
                    throw ModelError.file("\(path): tensor '\(src.name)' (needed for \(config.architecture.rawValue)) is missing; the file has \(names.count) tensors such as \(sample). Is config.json's model_type right?")
                }
                let expected = HFNames.hfShape(src, internalRest: rest)
                let shape = try file.info(name).shape
                guard shape == expected else {
                    throw ModelError.file("\(path): tensor '\(name)' has shape \(shape), expected \(expected) from config.json")
                }
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

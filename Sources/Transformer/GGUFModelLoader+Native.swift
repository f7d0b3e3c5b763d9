import Foundation
import Formats
import Tokenizers

/// How a GGUF model's big matrices are held for inference.
public enum WeightStorage: String, CaseIterable, Sendable {
    /// In their file types (memory-mapped; Q/K rows of `llama` files copied in RoPE order),
    /// multiplied by the quantised row kernels. Types without a kernel fall back to float32.
    case native
    /// Dequantised to float32 at load (what training needs).
    case f32
}

/// The matrices of a GGUF model kept in their file types (see ``QuantizedMatrix``): token
/// embedding (rows dequantised on lookup), the four linears of every layer, and the output head
/// (the embedding itself when tied). A nil matrix is held in float32 in the model's parameters.
/// Norms, biases and position embeddings are always float32.
public final class NativeWeights: @unchecked Sendable {
    public struct Layer: Sendable {
        public var qkv: QuantizedMatrix?, attnOut: QuantizedMatrix?, mlpUp: QuantizedMatrix?, mlpDown: QuantizedMatrix?
    }
    /// (V, C) token embedding.
    public let embed: QuantizedMatrix?
    /// (V, C) output projection.
    public let head: QuantizedMatrix?
    public let layers: [Layer]
    /// Every native matrix with the runtime parameter name it stands for.
    public let matrices: [(name: String, matrix: QuantizedMatrix)]
    /// Bytes of all native matrices.
    public let byteCount: Int
    /// Bytes read per decoded token: every native matrix but an untied embedding (one row each).
    public let streamedBytes: Int
    private let lock = NSLock()
    /// Names of the matrices already dequantised into the model's parameters.
    private var materialized = Set<String>()

    init(config c: ModelConfig, matrices: [String: QuantizedMatrix]) {
        self.matrices = matrices.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        embed = matrices["embed.weight"]
        head = c.tieWordEmbeddings ? embed : matrices["lm_head.weight"]
        layers = (0..<c.numLayers).map { l in
            let p = "layers.\(l)."
            return Layer(qkv: matrices[p + "qkv.weight"], attnOut: matrices[p + "attn_out.weight"],
                         mlpUp: matrices[p + "mlp_up.weight"], mlpDown: matrices[p + "mlp_down.weight"])
        }
        byteCount = self.matrices.reduce(0) { $0 + $1.matrix.byteCount }
        streamedBytes = byteCount - (c.tieWordEmbeddings ? 0 : embed?.byteCount ?? 0)
        Self.registerResident(streamedBytes)
    }

    deinit { Self.registerResident(-streamedBytes) }


    /// Dequantises the native matrices named in `names` (all when nil) into `model`'s float32
    /// parameters, each once.
    func materialize(into model: TransformerModel, names: Set<String>? = nil) {
        lock.lock(); defer { lock.unlock() }
        for (name, m) in matrices where !materialized.contains(name) && names?.contains(name) != false {
            let dst = model.parameters[name].pointer
            for r in 0..<m.rows { m.dequantizeRow(r, into: dst + r * m.cols) }
            materialized.insert(name)
        }
    }
}

extension TransformerModel {
    /// Fills the float32 parameters of matrices held natively (a no-op for float32 models):
    /// training, copies and saving call this, so they see the same numbers a float32 load gives.
    /// Inference keeps reading the native matrices.
    /// - Parameter names: only these parameters (default: all).
    public func materializeFloatWeights(_ names: Set<String>? = nil) { native?.materialize(into: self, names: names) }
}

extension GGUFModelLoader {
    /// Runtime parameters that can stay in their file type: the embedding and the linears.
    static func isMatrix(_ name: String) -> Bool {
        name == "embed.weight" || name == "lm_head.weight"
            || [".qkv.weight", ".attn_out.weight", ".mlp_up.weight", ".mlp_down.weight"].contains { name.hasSuffix($0) }
    }

    /// Loads the model with its big matrices stored as `weights` says, and the embedded tokenizer.
    ///
    /// With `.native`, a matrix stays in its file type when every GGUF tensor it is made of has a
    /// row kernel for its row length (``QuantizedMatrix/supports(_:cols:)``); otherwise that matrix
    /// is dequantised and `notes` gets one line per type saying so (the library prints nothing).
    /// The float32 parameter buffer is then allocated as untouched pages, so native matrices cost
    /// only their mapped file bytes.
    /// - Parameters:
    ///   - memoryLimit: bytes the weights may take; default the system's available memory
    ///     (`MemAvailable`). A larger model is refused before anything is allocated.
    /// - Throws: as ``load(_:)``, and when the weights need more than `memoryLimit` bytes.
    public static func load(_ url: URL, weights: WeightStorage, memoryLimit: Int? = nil) throws
        -> (model: TransformerModel, tokenizer: Tokenizer?, notes: [String]) {
        let file = try GGUFFile(url: url)
        let config = try config(of: file)
        let infos = ModelLayout.infos(for: config)
        // Every tensor present with the shape the metadata implies before anything is allocated
        // (a block_count of 1000 fails at the first missing layer, not after a 6 GB allocation).
        for info in infos { _ = try checkedSources(info, file, config) }
        var nativeNames = Set<String>(), fallback: [String: [String]] = [:]
        if weights == .native {
            for info in infos where isMatrix(info.name) {
                let srcs = try checkedSources(info, file, config)
                let bad = srcs.filter { !QuantizedMatrix.supports($0.info.type, cols: info.shape[1]) }
                if bad.isEmpty { nativeNames.insert(info.name) }
                for s in bad { fallback["\(s.info.type)", default: []].append(s.name) }
            }
        }
        var needed = infos.filter { !nativeNames.contains($0.name) }.reduce(config.checkedRopeTableBytes ?? 0) { $0 + 4 * $1.count }
        for info in infos where nativeNames.contains(info.name) {
            needed += try checkedSources(info, file, config).reduce(0) { $0 + $1.info.byteCount }
        }
        let limit = memoryLimit ?? ModelConfig.availableMemory()
        if let limit, needed > limit {
            throw ModelError.file(String(format: "%@: the model needs %.2f GB for its weights (%@) but only %.2f GB are available; use a smaller or more quantised file%@",
                                         url.path, Double(needed) / 1e9, weights.rawValue, Double(limit) / 1e9,
                                         weights == .f32 ? ", or --weights native" : ""))
        }
        let model = try TransformerModel(config: config, untouchedParameters: !nativeNames.isEmpty)
        var scratch: [Float] = [], matrices: [String: QuantizedMatrix] = [:]
        for info in infos {
            if nativeNames.contains(info.name) {
                do { matrices[info.name] = try interleavedReleasingPages(try nativeMatrix(info, file, config)) } catch let e as ModelError {
                    let sources = (try? checkedSources(info, file, config).map(\.name).joined(separator: " + ")) ?? "?"
                    throw ModelError.file("\(url.path): tensor \(sources) (\(info.name)): \(e)")
                }
            } else {
                try readFloat(info, file, config, into: model, scratch: &scratch)
            }
        }
        for info in infos where !nativeNames.contains(info.name) {
            let t = model.parameters[info.name]
            for i in 0..<t.count where !t.pointer[i].isFinite {
                throw ModelError.file("\(url.path): tensor data of \(info.name) holds \(t.pointer[i]) at element \(i); the weights are corrupt (re-download or re-quantise the model)")
            }
        }
        if !matrices.isEmpty { model.native = NativeWeights(config: config, matrices: matrices) }
        let notes = fallback.keys.sorted().map { t -> String in
            let names = fallback[t]!
            return "\(url.lastPathComponent): \(t) has no native kernel; \(names.count) tensor(s) dequantised to float32 (\(names.prefix(3).joined(separator: ", "))\(names.count > 3 ? ", …" : ""))"
        }
        return (model, try embeddedTokenizer(file, config), notes)
    }

    /// `m` repacked in interleaved groups (``QuantizedMatrix/interleaved(release:)``), dropping
    /// the mapped file pages of the repacked rows (not the owned buffers: those are freed with
    /// the old matrix).
    static func interleavedReleasingPages(_ m: QuantizedMatrix) throws -> QuantizedMatrix {
        let owned = m.owners.compactMap { ($0 as? OwnedBytes).map { (Int(bitPattern: $0.pointer), $0.count) } }
        return try m.interleaved { p, n in
            let a = Int(bitPattern: p)
            if !owned.contains(where: { a >= $0.0 && a < $0.0 + $0.1 }) { MappedFile.releasePages(p, byteCount: n) }
        }
    }

    /// The native matrix of parameter `info`: segments pointing into the mapped file, except
    /// that `llama` Q/K rows are copied into an owned buffer in the runtime's RoPE order (GGUF
    /// row `h·HS + 2i + j` → runtime row `h·HS + j·HS/2 + i`; rows are independent byte ranges).
    /// When Q, K and V share a type they go into one owned buffer, one segment.
    static func nativeMatrix(_ info: ParameterInfo, _ file: GGUFFile, _ config: ModelConfig) throws -> QuantizedMatrix {
        let K = info.shape[1], srcs = try checkedSources(info, file, config)
        func raw(_ name: String) throws -> UnsafeRawPointer {
            try file.withRawBytes(name) { $0.baseAddress! }   // valid while `file` lives (an owner)
        }
        func rowBytes(_ t: GGMLType) -> Int { K / t.blockSize * t.blockBytes }
        // Copies the rows of `src` into dst in runtime order.
        func copyRows(_ src: (name: String, rows: Int, info: GGUFTensorInfo), into dst: UnsafeMutableRawPointer) throws {
            let p = try raw(src.name), rb = rowBytes(src.info.type)
            defer { MappedFile.releasePages(p, byteCount: src.rows * rb) }
            guard isPermutedQK(src.name, file) else { dst.copyMemory(from: p, byteCount: src.rows * rb); return }
            let HS = config.headSize, half = HS / 2, heads = src.rows / HS
            for h in 0..<heads { for i in 0..<half { for j in 0..<2 {
                (dst + (h * HS + j * half + i) * rb).copyMemory(from: p + (h * HS + 2 * i + j) * rb, byteCount: rb)
            } } }
        }
        let permuted = srcs.contains { isPermutedQK($0.name, file) }
        let types = Set(srcs.map(\.info.type))
        if permuted && types.count == 1 {
            let t = srcs[0].info.type, rb = rowBytes(t), rows = srcs.reduce(0) { $0 + $1.rows }
            let buf = OwnedBytes(count: rows * rb)
            var row = 0
            for s in srcs { try copyRows(s, into: buf.pointer + row * rb); row += s.rows }
            return QuantizedMatrix(segments: [.init(type: t, rows: rows, base: UnsafeRawPointer(buf.pointer), rowBytes: rb)],
                                   cols: K, owners: [buf])
        }
        var segs: [QuantizedMatrix.Segment] = [], owners: [AnyObject] = [file]
        for s in srcs {
            let rb = rowBytes(s.info.type)
            if isPermutedQK(s.name, file) {
                let buf = OwnedBytes(count: s.rows * rb)
                try copyRows(s, into: buf.pointer)
                owners.append(buf)
                segs.append(.init(type: s.info.type, rows: s.rows, base: UnsafeRawPointer(buf.pointer), rowBytes: rb))
            } else {
                segs.append(.init(type: s.info.type, rows: s.rows, base: try raw(s.name), rowBytes: rb))
            }
        }
        return QuantizedMatrix(segments: segs, cols: K, owners: owners)
    }
}

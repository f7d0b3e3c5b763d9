import Foundation

/// Collects Float32 tensors and writes them as one safetensors file, the way Hugging Face's
/// library does: tensors sorted by name and stored contiguously in that order, the JSON header
/// padded with spaces to a multiple of 8 bytes, optional `__metadata__` (string → string).
/// The file is written under a temporary name in the destination directory and renamed into
/// place, so a reader never sees a partial file.
public struct SafetensorsWriter {
    private enum Source {
        case array([Float])
        case pointer(UnsafePointer<Float>)
    }
    private var entries: [(name: String, shape: [Int], source: Source)] = []
    private var names: Set<String> = []
    /// Free-form string metadata stored under `__metadata__` (omitted when empty).
    public var metadata: [String: String]

    public init(metadata: [String: String] = [:]) {
        self.metadata = metadata
    }

    /// Adds a tensor whose values are copied now.
    /// - Parameters:
    ///   - name: the tensor's name (unique, not `__metadata__`).
    ///   - shape: row-major shape; `values.count` must equal its product.
    /// - Throws: `FormatError.duplicateName` or `FormatError.countMismatch`.
    public mutating func add(_ name: String, shape: [Int], values: [Float]) throws {
        try check(name, shape, values.count)
        entries.append((name, shape, .array(values)))
    }

    /// Adds a tensor read from `pointer` when `write(to:)` runs (not copied now): the memory must
    /// hold `shape.product` floats and stay valid and unchanged until `write(to:)` returns.
    public mutating func add(_ name: String, shape: [Int], pointer: UnsafePointer<Float>) throws {
        try check(name, shape, shape.reduce(1, *))
        entries.append((name, shape, .pointer(pointer)))
    }

    private mutating func check(_ name: String, _ shape: [Int], _ count: Int) throws {
        guard name != "__metadata__", !names.contains(name) else {
            throw FormatError.duplicateName(file: "(safetensors writer)", name: name)
        }
        guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) == count else {
            throw FormatError.countMismatch(file: "(safetensors writer)", tensor: name,
                                            expected: shape.reduce(1, *), requested: count)
        }
        names.insert(name)
    }

    /// The header JSON (padded) and the tensors in file order.
    private func layout() throws -> (header: Data, order: [Int]) {
        let order = entries.indices.sorted { entries[$0].name < entries[$1].name }
        var object: [String: Any] = [:]
        var offset = 0
        for i in order {
            let e = entries[i]
            let bytes = e.shape.reduce(1, *) * 4
            object[e.name] = ["dtype": "F32", "shape": e.shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
            offset += bytes
        }
        if !metadata.isEmpty { object["__metadata__"] = metadata }
        var header = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        let padded = (header.count + 7) / 8 * 8
        header.append(contentsOf: [UInt8](repeating: 0x20, count: padded - header.count))
        return (header, order)
    }

    /// Writes the file atomically (temporary file + rename).
    /// - Throws: `FormatError.io` when the directory is missing or not writable.
    public func write(to url: URL) throws {
        let (header, order) = try layout()
        try writeAtomically(to: url) { handle in
            var length = UInt64(header.count).littleEndian
            try handle.write(contentsOf: Data(bytes: &length, count: 8))
            try handle.write(contentsOf: header)
            for i in order {
                let e = entries[i]
                let n = e.shape.reduce(1, *)
                switch e.source {
                case .array(let values):
                    try values.withUnsafeBytes { try handle.write(contentsOf: Data($0)) }
                case .pointer(let p):
                    // Chunked so that a large tensor is not duplicated in memory.
                    let chunk = 1 << 20
                    var start = 0
                    while start < n {
                        let m = min(chunk, n - start)
                        try handle.write(contentsOf: Data(bytes: p + start, count: m * 4))
                        start += m
                    }
                }
            }
        }
    }
}

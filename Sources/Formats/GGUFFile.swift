import Foundation

/// One tensor described in a GGUF header.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    public let type: GGMLType
    /// Row-major shape, slowest-varying dimension first (as in PyTorch and safetensors): the
    /// reverse of `ne`. A GGUF matrix with ne = [C, V] (rows of C elements) has shape [V, C].
    public let shape: [Int]
    /// GGUF's own dimension order: `ne[0]` first, the fastest-varying dimension (row length).
    public let ne: [Int]
    /// Byte offset of the tensor's data from the start of the data section.
    public let offset: Int
    /// Number of elements, the product of the dimensions.
    public let count: Int
    /// Bytes the tensor occupies: count / blockSize × blockBytes.
    public let byteCount: Int
}

/// A read-only, memory-mapped GGUF file (llama.cpp's model format), versions 2 and 3.
///
/// Layout (all little-endian): magic "GGUF"; u32 version; u64 tensor count; u64 metadata count;
/// metadata entries (string key, u32 value type, value; a string is a u64 byte length + UTF-8
/// bytes, an array is a u32 element type + u64 count + elements); tensor infos (string name,
/// u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset); padding to `alignment`
/// (`general.alignment`, default 32); the data section, where each tensor starts at its offset.
///
/// Opening parses and validates the header; tensor data are dequantised to Float32 on request.
public final class GGUFFile: @unchecked Sendable {
    /// Alignment of the data section when `general.alignment` is absent.
    public static let defaultAlignment = 32
    /// Most dimensions a ggml tensor can have (GGML_MAX_DIMS).
    public static let maxDimensions = 4
    /// Deepest nesting of arrays accepted in metadata.
    public static let maxArrayDepth = 16
    /// Longest tensor name accepted (llama.cpp refuses names of GGML_MAX_NAME = 64 bytes or more;
    /// this reader allows more, but a name of megabytes is a misread length).
    public static let maxTensorName = 256
    /// Longest metadata key accepted.
    public static let maxKey = 4096

    public let url: URL
    public let version: UInt32
    /// All metadata key–value pairs.
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    /// Tensor descriptions in file order.
    public let tensorInfos: [GGUFTensorInfo]
    /// Data-section alignment in bytes.
    public let alignment: Int
    /// Absolute file offset of the data section.
    public let dataOffset: Int
    private let index: [String: Int]
    private let file: MappedFile

    /// Maps and validates the GGUF file at `url`.
    /// - Throws: `FormatError` (truncated, bad magic, unsupported version, absurd counts,
    ///   duplicate names, unknown tensor types, tensor extents past the end, bad alignment).
    public init(url: URL) throws {
        self.url = url
        let file = try MappedFile(url: url)
        self.file = file
        let path = url.path
        var r = ByteReader(file.bytes, file: path)

        try r.need(4, "the magic \"GGUF\"")
        let magic = Array(file.bytes[0..<4])
        guard magic == Array("GGUF".utf8) else { throw FormatError.badMagic(file: path, found: magic) }
        r.offset = 4
        version = try r.read(UInt32.self, "the version")
        guard version == 2 || version == 3 else { throw FormatError.unsupportedVersion(file: path, version: version) }
        let tensorCount = try r.read(UInt64.self, "the tensor count")
        let kvCount = try r.read(UInt64.self, "the metadata count")

        // Smallest possible entries: key/name length 8 + type 4 + 1 byte value; tensor info 8 + 4 + 4 + 8.
        try Self.guardCount(kvCount, minBytes: 13, r, "the metadata count")
        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        keys.reserveCapacity(Int(kvCount))
        for _ in 0..<Int(kvCount) {
            let key = try Self.readString(&r, "a metadata key", maxLength: Self.maxKey)
            let code = try r.read(UInt32.self, "the value type of '\(ErrorText.name(key))'")
            let value = try Self.readValue(&r, code: code, key: key, depth: 0)
            guard metadata.updateValue(value, forKey: key) == nil else {
                throw FormatError.duplicateName(file: path, name: ErrorText.name(key))
            }
            keys.append(key)
        }
        self.metadata = metadata
        metadataKeys = keys

        var alignment = Self.defaultAlignment
        if let a = metadata["general.alignment"] {
            guard let n = a.int, n > 0, n <= 1 << 30, n & (n - 1) == 0 else {
                throw FormatError.badAlignment(file: path, problem: "general.alignment \(a) is not a power of two between 1 and 2^30")
            }
            alignment = n
        }
        self.alignment = alignment

        try Self.guardCount(tensorCount, minBytes: 24, r, "the tensor count")
        var pending: [(name: String, ne: [Int], raw: UInt32, offset: UInt64)] = []
        pending.reserveCapacity(Int(tensorCount))
        for _ in 0..<Int(tensorCount) {
            let name = try Self.readString(&r, "a tensor name", maxLength: Self.maxTensorName)
            let nDims = try r.read(UInt32.self, "n_dims of tensor '\(name)'")
            guard nDims <= UInt32(Self.maxDimensions) else {
                throw FormatError.absurdCount(file: path, what: "n_dims of tensor '\(name)'", count: UInt64(nDims),
                                              limit: UInt64(Self.maxDimensions))
            }
            var ne: [Int] = []
            for _ in 0..<Int(nDims) {
                let d = try r.read(UInt64.self, "the dimensions of tensor '\(name)'")
                guard d <= UInt64(Int32.max) else {
                    throw FormatError.absurdCount(file: path, what: "a dimension of tensor '\(name)'", count: d, limit: UInt64(Int32.max))
                }
                ne.append(Int(d))
            }
            let raw = try r.read(UInt32.self, "the type of tensor '\(name)'")
            let offset = try r.read(UInt64.self, "the offset of tensor '\(name)'")
            pending.append((name, ne, raw, offset))
        }
        let headerEnd = r.offset
        dataOffset = (headerEnd + alignment - 1) / alignment * alignment
        let dataSize = max(0, file.count - dataOffset)

        var infos: [GGUFTensorInfo] = []
        var index: [String: Int] = [:]
        infos.reserveCapacity(pending.count)
        for t in pending {
            guard let type = GGMLType(rawValue: t.raw) else {
                throw FormatError.unsupportedTensorType(file: path, tensor: t.name, typeName: "\(t.raw) (not a known ggml type)",
                                                        supported: GGMLType.dequantizable.map(\.description))
            }
            guard index[t.name] == nil else { throw FormatError.duplicateName(file: path, name: t.name) }
            var count = 1
            for d in t.ne {
                let (p, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow, p <= Int(Int32.max) * 16 else {
                    throw FormatError.absurdCount(file: path, what: "the element count of tensor '\(t.name)' (ne \(t.ne))",
                                                  count: overflow ? UInt64.max : UInt64(p), limit: UInt64(Int32.max) * 16)
                }
                count = p
            }
            let rowLength = t.ne.first ?? 1
            guard rowLength % type.blockSize == 0 else {
                throw FormatError.notBlockMultiple(file: path, tensor: t.name, rowLength: rowLength,
                                                   blockSize: type.blockSize, typeName: type.description)
            }
            let byteCount = count / type.blockSize * type.blockBytes
            guard t.offset % UInt64(alignment) == 0 else {
                throw FormatError.badAlignment(file: path, problem: "tensor '\(t.name)' starts at data offset \(t.offset), not a multiple of the alignment \(alignment)")
            }
            guard t.offset <= UInt64(dataSize), UInt64(byteCount) <= UInt64(dataSize) - t.offset else {
                let begin = t.offset > UInt64(Int.max / 2) ? Int.max / 2 : Int(t.offset)
                throw FormatError.offsetsOutOfRange(file: path, tensor: t.name, begin: begin, end: begin + byteCount, dataSize: dataSize)
            }
            index[t.name] = infos.count
            infos.append(GGUFTensorInfo(name: t.name, type: type, shape: Array(t.ne.reversed()), ne: t.ne,
                                        offset: Int(t.offset), count: count, byteCount: byteCount))
        }
        tensorInfos = infos
        self.index = index
        // The header is parsed into `metadata` and `tensorInfos` (copies): its mapped pages (a
        // vocabulary's ≈ 2 MB) need not stay resident while the tensors are read.
        if let base = file.bytes.baseAddress { MappedFile.releasePages(base, byteCount: headerEnd) }
    }

    /// Throws `absurdCount` unless `count` entries of at least `minBytes` bytes fit in what is left.
    private static func guardCount(_ count: UInt64, minBytes: Int, _ r: ByteReader, _ what: String) throws {
        let limit = UInt64(r.remaining / minBytes)
        guard count <= limit else { throw FormatError.absurdCount(file: r.file, what: what, count: count, limit: limit) }
    }

    private static func readString(_ r: inout ByteReader, _ what: @autoclosure () -> String, maxLength: Int = Int.max) throws -> String {
        let n = try r.read(UInt64.self, "the length of \(what())")
        let limit = min(r.remaining, maxLength)
        guard n <= UInt64(limit) else {
            throw FormatError.absurdCount(file: r.file, what: "the length of \(what())", count: n, limit: UInt64(limit))
        }
        return String(decoding: try r.bytes(Int(n), what()), as: UTF8.self)
    }

    /// Smallest encoded size of one value of kind `code` (nil for an unknown kind).
    private static func minSize(_ code: UInt32) -> Int? {
        switch code {
        case 0, 1, 7: return 1
        case 2, 3: return 2
        case 4, 5, 6: return 4
        case 10, 11, 12, 8: return 8
        case 9: return 12
        default: return nil
        }
    }

    private static func readValue(_ r: inout ByteReader, code: UInt32, key rawKey: String, depth: Int) throws -> GGUFValue {
        // Built only when a read fails: an array of a million values must not build a million messages.
        var key: String { ErrorText.name(rawKey) }
        var w: String { "the value of '\(key)'" }
        switch code {
        case 0: return .uint8(try r.read(UInt8.self, w))
        case 1: return .int8(try r.read(Int8.self, w))
        case 2: return .uint16(try r.read(UInt16.self, w))
        case 3: return .int16(try r.read(Int16.self, w))
        case 4: return .uint32(try r.read(UInt32.self, w))
        case 5: return .int32(try r.read(Int32.self, w))
        case 6: return .float32(Float(bitPattern: try r.read(UInt32.self, w)))
        case 7: return .bool(try r.read(UInt8.self, w) != 0)
        case 8: return .string(try readString(&r, w))
        case 9:
            guard depth < maxArrayDepth else {
                throw FormatError.absurdCount(file: r.file, what: "the array nesting depth of '\(key)'",
                                              count: UInt64(depth + 1), limit: UInt64(maxArrayDepth))
            }
            let elementCode = try r.read(UInt32.self, "the element type of '\(key)'")
            guard let size = minSize(elementCode) else {
                throw FormatError.invalidValueType(file: r.file, key: key, code: elementCode)
            }
            let n = try r.read(UInt64.self, "the element count of '\(key)'")
            try guardCount(n, minBytes: size, r, "the element count of '\(key)'")
            var items: [GGUFValue] = []
            items.reserveCapacity(Int(n))
            for _ in 0..<Int(n) { items.append(try readValue(&r, code: elementCode, key: rawKey, depth: depth + 1)) }
            return .array(items)
        case 10: return .uint64(try r.read(UInt64.self, w))
        case 11: return .int64(try r.read(Int64.self, w))
        case 12: return .float64(Double(bitPattern: try r.read(UInt64.self, w)))
        default: throw FormatError.invalidValueType(file: r.file, key: key, code: code)
        }
    }

    /// The metadata value for `key`, if present.
    public subscript(key: String) -> GGUFValue? { metadata[key] }

    /// The description of tensor `name`.
    /// - Throws: `FormatError.missingTensor` listing some available names.
    public func tensorInfo(_ name: String) throws -> GGUFTensorInfo {
        guard let i = index[name] else {
            throw FormatError.missingTensor(file: url.path, name: name, available: tensorInfos.map(\.name))
        }
        return tensorInfos[i]
    }

    /// The raw stored bytes of tensor `name` (valid while this object lives).
    public func withRawBytes<R>(_ name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let t = try tensorInfo(name)
        return try body(UnsafeRawBufferPointer(rebasing: file.bytes[(dataOffset + t.offset)..<(dataOffset + t.offset + t.byteCount)]))
    }

    /// Dequantises tensor `name` to Float32 in row-major order (`shape`; ne[0] fastest) into
    /// `into[0..<count]`.
    /// - Parameters:
    ///   - count: must equal the tensor's element count.
    /// - Throws: `FormatError.missingTensor`, `.countMismatch`, `.unsupportedTensorType`.
    public func read(_ name: String, into: UnsafeMutablePointer<Float>, count: Int) throws {
        let t = try tensorInfo(name)
        guard count == t.count else {
            throw FormatError.countMismatch(file: url.path, tensor: name, expected: t.count, requested: count)
        }
        guard t.type.isDequantizable else {
            throw FormatError.unsupportedTensorType(file: url.path, tensor: name, typeName: t.type.description,
                                                    supported: GGMLType.dequantizable.map(\.description))
        }
        guard count > 0, let base = file.bytes.baseAddress else { return }
        t.type.dequantize(base + dataOffset + t.offset, into: into, count: count)
    }

    /// Tensor `name` dequantised to Float32, row-major.
    public func floats(_ name: String) throws -> [Float] {
        let n = try tensorInfo(name).count
        guard n > 0 else { return [] }
        return try [Float](unsafeUninitializedCapacity: n) { buffer, initialized in
            try read(name, into: buffer.baseAddress!, count: n)
            initialized = n
        }
    }
}

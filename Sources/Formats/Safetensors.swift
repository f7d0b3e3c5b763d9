import Foundation

/// The element types a safetensors file may use that this reader converts to Float32.
public enum SafetensorsDType: String, CaseIterable, Sendable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .f64, .i64: return 8
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .i8, .u8, .bool: return 1
        }
    }
}

/// A read-only, memory-mapped safetensors file (Hugging Face's format): an 8-byte little-endian
/// header length N, N bytes of JSON mapping each tensor name to `dtype`, `shape` (row-major,
/// slowest dimension first) and `data_offsets` [begin, end) relative to the first byte after the
/// header, plus an optional `__metadata__` object of string → string.
///
/// Opening validates the whole header (dtype known, byte ranges inside the file, sizes equal to
/// shape × dtype size, no overlaps); tensors are converted to Float32 on request.
public final class SafetensorsFile: @unchecked Sendable {
    /// Where a tensor lives and how it is stored.
    public struct TensorInfo: Sendable, Equatable {
        public let name: String
        public let dtype: SafetensorsDType
        /// Row-major shape, slowest-varying dimension first (as in PyTorch).
        public let shape: [Int]
        /// Byte range inside the data section.
        public let begin: Int, end: Int
        /// Number of elements, the product of `shape` (1 for a scalar).
        public var count: Int { shape.reduce(1, *) }
    }

    /// Most dimensions a tensor may have here (real checkpoints use at most 5).
    public static let maxDimensions = 16
    /// Largest header accepted (the reference implementation's limit is 100 MB).
    public static let maxHeaderLength = 100_000_000

    public let url: URL
    /// The `__metadata__` entries (empty when absent).
    public let metadata: [String: String]
    /// Tensor names, sorted.
    public let tensorNames: [String]
    private let infos: [String: TensorInfo]
    private let file: MappedFile
    private let dataStart: Int

    /// Maps and validates the file at `url`.
    /// - Throws: `FormatError` naming the first problem found in the header.
    public init(url: URL) throws {
        self.url = url
        let file = try MappedFile(url: url)
        self.file = file
        let path = url.path
        var reader = ByteReader(file.bytes, file: path)
        let headerLength = try reader.read(UInt64.self, "the 8-byte header length")
        guard headerLength <= UInt64(file.count - 8), headerLength <= UInt64(Self.maxHeaderLength) else {
            throw FormatError.headerLengthOutOfRange(file: path, headerLength: headerLength, fileSize: file.count)
        }
        let headerBytes = try reader.bytes(Int(headerLength), "the JSON header")
        dataStart = 8 + Int(headerLength)
        let dataSize = file.count - dataStart

        guard (try? JSONSerialization.jsonObject(with: Data(headerBytes), options: [])) != nil else {
            throw FormatError.invalidHeader(file: path, problem: "the header is not valid JSON")
        }
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: Data(headerBytes))
        } catch let DecodingError.typeMismatch(_, context) where context.codingPath.isEmpty {
            throw FormatError.invalidHeader(file: path, problem: "the header is JSON but not an object")
        } catch let error as DecodingError {
            throw FormatError.invalidHeader(file: path, problem: Self.explain(error))
        }
        var infos: [String: TensorInfo] = [:]
        for (name, entry) in header.tensors {
            infos[name] = try Self.validate(name, entry, path: path, dataSize: dataSize)
        }
        // Overlap check: sorted by start, each range must begin at or after the previous end.
        let ordered = infos.values.filter { $0.end > $0.begin }.sorted { ($0.begin, $0.name) < ($1.begin, $1.name) }
        for (a, b) in zip(ordered, ordered.dropFirst()) where b.begin < a.end {
            throw FormatError.overlappingTensors(file: path, first: a.name, second: b.name)
        }
        self.metadata = header.metadata
        self.infos = infos
        self.tensorNames = infos.keys.sorted()
    }

    /// The header as JSON: `__metadata__` (string → string) and one entry per tensor.
    private struct Header: Decodable {
        struct Entry: Decodable {
            let dtype: String
            let shape: [Int]
            let data_offsets: [Int]
        }
        struct Key: CodingKey {
            let stringValue: String
            init(stringValue: String) { self.stringValue = stringValue }
            var intValue: Int? { nil }
            init?(intValue: Int) { nil }
        }
        var metadata: [String: String] = [:]
        var tensors: [String: Entry] = [:]

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: Key.self)
            for key in c.allKeys {
                if key.stringValue == "__metadata__" {
                    metadata = try c.decode([String: String].self, forKey: key)
                } else {
                    tensors[key.stringValue] = try c.decode(Entry.self, forKey: key)
                }
            }
        }
    }

    /// A one-line account of a decoding failure: where (key path) and what.
    private static func explain(_ error: DecodingError) -> String {
        func path(_ c: DecodingError.Context) -> String {
            c.codingPath.map { $0.intValue.map { "[\($0)]" } ?? "'\($0.stringValue)'" }.joined(separator: " ")
        }
        switch error {
        case .typeMismatch(let type, let c): return "\(path(c)) is not of type \(type) (\(c.debugDescription))"
        case .valueNotFound(_, let c): return "\(path(c)) is null"
        case .keyNotFound(let key, let c): return "\(path(c)) has no '\(key.stringValue)'"
        case .dataCorrupted(let c): return "\(path(c)): \(c.debugDescription)"
        @unknown default: return "\(error)"
        }
    }

    private static func validate(_ name: String, _ entry: Header.Entry, path: String, dataSize: Int) throws -> TensorInfo {
        guard let dtype = SafetensorsDType(rawValue: entry.dtype) else {
            throw FormatError.unknownDType(file: path, tensor: ErrorText.name(name), dtype: ErrorText.name(entry.dtype),
                                           supported: SafetensorsDType.allCases.map(\.rawValue))
        }
        let shown = ErrorText.name(name)
        let shape = entry.shape
        guard shape.count <= maxDimensions else {
            throw FormatError.invalidHeader(file: path, problem: "'\(shown)' has \(shape.count) dimensions, more than \(maxDimensions)")
        }
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw FormatError.invalidHeader(file: path, problem: "'\(shown)' has a negative dimension in shape \(shape)")
        }
        guard entry.data_offsets.count == 2 else {
            throw FormatError.invalidHeader(file: path, problem: "'\(shown)' has \(entry.data_offsets.count) data_offsets, not a [begin, end] pair")
        }
        let (begin, end) = (entry.data_offsets[0], entry.data_offsets[1])
        guard begin >= 0, end >= begin, end <= dataSize else {
            throw FormatError.offsetsOutOfRange(file: path, tensor: shown, begin: begin, end: end, dataSize: dataSize)
        }
        var bytes = dtype.size
        for d in shape {
            let (p, overflow) = bytes.multipliedReportingOverflow(by: d)
            guard !overflow else {
                throw FormatError.invalidHeader(file: path, problem: "'\(shown)' has a shape \(shape) whose size overflows")
            }
            bytes = p
        }
        guard bytes == end - begin else {
            throw FormatError.byteSizeMismatch(file: path, tensor: shown, shape: shape, dtype: entry.dtype,
                                               expected: bytes, actual: end - begin)
        }
        return TensorInfo(name: name, dtype: dtype, shape: shape, begin: begin, end: end)
    }

    /// The stored dtype and row-major shape of tensor `name`.
    /// - Throws: `FormatError.missingTensor` listing some available names.
    public func info(_ name: String) throws -> (dtype: SafetensorsDType, shape: [Int]) {
        let i = try tensorInfo(name)
        return (i.dtype, i.shape)
    }

    /// Full description of tensor `name` (dtype, shape, byte range).
    public func tensorInfo(_ name: String) throws -> TensorInfo {
        guard let i = infos[name] else {
            throw FormatError.missingTensor(file: url.path, name: name, available: tensorNames)
        }
        return i
    }

    /// Converts tensor `name` to Float32, row-major, into `into[0..<count]`.
    /// - Parameters:
    ///   - name: the tensor's name in the header.
    ///   - into: destination of `count` floats.
    ///   - count: must equal the tensor's element count.
    /// - Throws: `FormatError.missingTensor`, `FormatError.countMismatch`.
    public func read(_ name: String, into: UnsafeMutablePointer<Float>, count: Int) throws {
        let info = try tensorInfo(name)
        guard count == info.count else {
            throw FormatError.countMismatch(file: url.path, tensor: name, expected: info.count, requested: count)
        }
        guard count > 0, let base = file.bytes.baseAddress else { return }
        let src = base + dataStart + info.begin
        switch info.dtype {
        case .f32:
            UnsafeMutableRawPointer(into).copyMemory(from: src, byteCount: count * 4)
        case .f64: convert(src, into, count, Double.self) { Float($0) }
        case .f16: convert(src, into, count, UInt16.self) { HalfFloat.fromF16(UInt16(littleEndian: $0)) }
        case .bf16: convert(src, into, count, UInt16.self) { HalfFloat.fromBF16(UInt16(littleEndian: $0)) }
        case .i64: convert(src, into, count, Int64.self) { Float(Int64(littleEndian: $0)) }
        case .i32: convert(src, into, count, Int32.self) { Float(Int32(littleEndian: $0)) }
        case .i16: convert(src, into, count, Int16.self) { Float(Int16(littleEndian: $0)) }
        case .i8: convert(src, into, count, Int8.self) { Float($0) }
        case .u8: convert(src, into, count, UInt8.self) { Float($0) }
        case .bool: convert(src, into, count, UInt8.self) { $0 != 0 ? 1 : 0 }
        }
    }

    /// Tensor `name` converted to Float32, row-major.
    public func floats(_ name: String) throws -> [Float] {
        let n = try tensorInfo(name).count
        guard n > 0 else { return [] }
        return try [Float](unsafeUninitializedCapacity: n) { buffer, initialized in
            try read(name, into: buffer.baseAddress!, count: n)
            initialized = n
        }
    }

    @inline(__always)
    private func convert<T>(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ n: Int,
                            _: T.Type, _ f: (T) -> Float) {
        let size = MemoryLayout<T>.size
        for i in 0..<n { dst[i] = f(src.loadUnaligned(fromByteOffset: i * size, as: T.self)) }
    }
}

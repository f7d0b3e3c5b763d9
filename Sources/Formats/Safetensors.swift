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

        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(headerBytes), options: [])
        } catch {
            throw FormatError.invalidHeader(file: path, problem: "the header is not valid JSON")
        }
        guard let object = json as? [String: Any] else {
            throw FormatError.invalidHeader(file: path, problem: "the header is JSON but not an object")
        }
        var metadata: [String: String] = [:]
        var infos: [String: TensorInfo] = [:]
        for (name, value) in object {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else {
                    throw FormatError.invalidHeader(file: path, problem: "__metadata__ is not an object")
                }
                for (k, v) in m {
                    guard let s = v as? String else {
                        throw FormatError.invalidHeader(file: path, problem: "__metadata__['\(k)'] is not a string")
                    }
                    metadata[k] = s
                }
                continue
            }
            infos[name] = try Self.parseEntry(name, value, path: path, dataSize: dataSize)
        }
        // Overlap check: sorted by start, each range must begin at or after the previous end.
        let ordered = infos.values.filter { $0.end > $0.begin }.sorted { ($0.begin, $0.name) < ($1.begin, $1.name) }
        for (a, b) in zip(ordered, ordered.dropFirst()) where b.begin < a.end {
            throw FormatError.overlappingTensors(file: path, first: a.name, second: b.name)
        }
        self.metadata = metadata
        self.infos = infos
        self.tensorNames = infos.keys.sorted()
    }

    private static func parseEntry(_ name: String, _ value: Any, path: String, dataSize: Int) throws -> TensorInfo {
        guard let entry = value as? [String: Any] else {
            throw FormatError.invalidHeader(file: path, problem: "entry '\(name)' is not an object")
        }
        guard let dtypeName = entry["dtype"] as? String else {
            throw FormatError.invalidHeader(file: path, problem: "entry '\(name)' has no string 'dtype'")
        }
        guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
            throw FormatError.unknownDType(file: path, tensor: name, dtype: dtypeName,
                                           supported: SafetensorsDType.allCases.map(\.rawValue))
        }
        guard let shape = integers(entry["shape"]), shape.allSatisfy({ $0 >= 0 }) else {
            throw FormatError.invalidHeader(file: path, problem: "entry '\(name)' has no 'shape' array of non-negative integers")
        }
        guard let offsets = integers(entry["data_offsets"]), offsets.count == 2 else {
            throw FormatError.invalidHeader(file: path, problem: "entry '\(name)' has no 'data_offsets' pair of integers")
        }
        let (begin, end) = (offsets[0], offsets[1])
        guard begin >= 0, end >= begin, end <= dataSize else {
            throw FormatError.offsetsOutOfRange(file: path, tensor: name, begin: begin, end: end, dataSize: dataSize)
        }
        var bytes = dtype.size
        for d in shape {
            let (p, overflow) = bytes.multipliedReportingOverflow(by: d)
            guard !overflow else {
                throw FormatError.invalidHeader(file: path, problem: "entry '\(name)' has a shape \(shape) whose size overflows")
            }
            bytes = p
        }
        guard bytes == end - begin else {
            throw FormatError.byteSizeMismatch(file: path, tensor: name, shape: shape, dtype: dtypeName,
                                               expected: bytes, actual: end - begin)
        }
        return TensorInfo(name: name, dtype: dtype, shape: shape, begin: begin, end: end)
    }

    /// JSON numbers as exact non-fractional Ints (nil for anything else).
    private static func integers(_ value: Any?) -> [Int]? {
        guard let array = value as? [Any] else { return nil }
        var out: [Int] = []
        out.reserveCapacity(array.count)
        for v in array {
            guard let n = v as? NSNumber, !(v is Bool) else { return nil }
            let d = n.doubleValue
            guard d.rounded() == d, abs(d) < 0x1p62 else { return nil }
            out.append(n.intValue)
        }
        return out
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

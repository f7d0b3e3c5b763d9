import Foundation

extension GGUFValue {
    /// The GGUF value-type code (`gguf_type`): 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32,
    /// 7 bool, 8 string, 9 array, 10 u64, 11 i64, 12 f64.
    public var ggufTypeCode: UInt32 {
        switch self {
        case .uint8: return 0
        case .int8: return 1
        case .uint16: return 2
        case .int16: return 3
        case .uint32: return 4
        case .int32: return 5
        case .float32: return 6
        case .bool: return 7
        case .string: return 8
        case .array: return 9
        case .uint64: return 10
        case .int64: return 11
        case .float64: return 12
        }
    }
}

/// Writes GGUF files (version 3 by default, or 2, whose layout is the same for everything
/// written here) with metadata of every value kind and F32 / F16 tensors, or raw pre-quantised
/// tensor bytes of any type. Tensors are laid out in the order added, each at an offset that is
/// a multiple of `alignment`. Used by tests and for exporting small models.
public struct GGUFWriter {
    public let version: UInt32
    public let alignment: Int
    private var keys: [String] = []
    private var values: [String: GGUFValue] = [:]
    private var tensors: [(name: String, ne: [Int], type: GGMLType, bytes: [UInt8])] = []

    /// - Parameters:
    ///   - version: 2 or 3.
    ///   - alignment: power of two. When it is not 32 and no `general.alignment` key was added,
    ///     `general.alignment` (u32) is written after the other keys.
    public init(version: UInt32 = 3, alignment: Int = GGUFFile.defaultAlignment) {
        precondition(version == 2 || version == 3, "GGUFWriter: version must be 2 or 3, got \(version)")
        precondition(alignment > 0 && alignment & (alignment - 1) == 0, "GGUFWriter: alignment \(alignment) is not a power of two")
        self.version = version
        self.alignment = alignment
    }

    /// Adds metadata `key` = `value`. Arrays must hold one kind of value (nested arrays may differ).
    /// - Throws: `FormatError.duplicateName`, or `.invalidValueType` for a mixed array.
    public mutating func add(key: String, _ value: GGUFValue) throws {
        guard values[key] == nil else { throw FormatError.duplicateName(file: "(GGUF writer)", name: key) }
        try Self.checkHomogeneous(value, key: key)
        keys.append(key)
        values[key] = value
    }

    private static func checkHomogeneous(_ value: GGUFValue, key: String) throws {
        guard case .array(let items) = value else { return }
        if let first = items.first {
            for item in items {
                guard item.ggufTypeCode == first.ggufTypeCode else {
                    throw FormatError.invalidValueType(file: "(GGUF writer)", key: key, code: item.ggufTypeCode)
                }
                try checkHomogeneous(item, key: key)
            }
        }
    }

    /// Adds a tensor from Float32 values stored as `type` (.f32 or .f16, rounded to nearest even).
    /// - Parameters:
    ///   - shape: row-major shape (slowest first); stored in GGUF as ne = shape reversed.
    ///   - values: shape.product floats in row-major order.
    public mutating func add(tensor name: String, shape: [Int], type: GGMLType = .f32, values: [Float]) throws {
        precondition(type == .f32 || type == .f16, "GGUFWriter: only F32 and F16 are encoded from floats; use addRaw for \(type)")
        guard values.count == shape.reduce(1, *) else {
            throw FormatError.countMismatch(file: "(GGUF writer)", tensor: name, expected: shape.reduce(1, *), requested: values.count)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * (type == .f32 ? 4 : 2))
        for v in values {
            if type == .f32 {
                withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
            } else {
                withUnsafeBytes(of: HalfFloat.toF16(v).littleEndian) { bytes.append(contentsOf: $0) }
            }
        }
        try addRaw(tensor: name, shape: shape, type: type, bytes: bytes)
    }

    /// Adds a tensor from its stored bytes in ggml layout for `type` (for example Q8_0 blocks).
    /// - Throws: `FormatError.duplicateName`, `.notBlockMultiple`, `.countMismatch` (byte count).
    public mutating func addRaw(tensor name: String, shape: [Int], type: GGMLType, bytes: [UInt8]) throws {
        guard !tensors.contains(where: { $0.name == name }) else {
            throw FormatError.duplicateName(file: "(GGUF writer)", name: name)
        }
        let ne = Array(shape.reversed())
        let rowLength = ne.first ?? 1
        guard rowLength % type.blockSize == 0 else {
            throw FormatError.notBlockMultiple(file: "(GGUF writer)", tensor: name, rowLength: rowLength,
                                               blockSize: type.blockSize, typeName: type.description)
        }
        let expected = shape.reduce(1, *) / type.blockSize * type.blockBytes
        guard bytes.count == expected else {
            throw FormatError.countMismatch(file: "(GGUF writer)", tensor: name, expected: expected, requested: bytes.count)
        }
        tensors.append((name, ne, type, bytes))
    }

    /// The complete file as bytes.
    /// - Throws: `FormatError.badAlignment` when a `general.alignment` key disagrees with `alignment`.
    public func encoded() throws -> Data {
        var keys = self.keys, values = self.values
        if let a = values["general.alignment"] {
            guard a.int == alignment else {
                throw FormatError.badAlignment(file: "(GGUF writer)", problem: "general.alignment \(a) differs from the writer's alignment \(alignment)")
            }
        } else if alignment != GGUFFile.defaultAlignment {
            keys.append("general.alignment")
            values["general.alignment"] = .uint32(UInt32(alignment))
        }
        var out = Data()
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func string(_ s: String) { u64(UInt64(s.utf8.count)); out.append(contentsOf: Array(s.utf8)) }
        func value(_ v: GGUFValue) {
            switch v {
            case .uint8(let x): out.append(x)
            case .int8(let x): out.append(UInt8(bitPattern: x))
            case .uint16(let x): withUnsafeBytes(of: x.littleEndian) { out.append(contentsOf: $0) }
            case .int16(let x): withUnsafeBytes(of: x.littleEndian) { out.append(contentsOf: $0) }
            case .uint32(let x): u32(x)
            case .int32(let x): u32(UInt32(bitPattern: x))
            case .float32(let x): u32(x.bitPattern)
            case .bool(let x): out.append(x ? 1 : 0)
            case .string(let s): string(s)
            case .array(let items):
                u32(items.first?.ggufTypeCode ?? 0)
                u64(UInt64(items.count))
                for item in items { value(item) }
            case .uint64(let x): u64(x)
            case .int64(let x): u64(UInt64(bitPattern: x))
            case .float64(let x): u64(x.bitPattern)
            }
        }
        out.append(contentsOf: Array("GGUF".utf8))
        u32(version)
        u64(UInt64(tensors.count))
        u64(UInt64(keys.count))
        for k in keys {
            string(k)
            u32(values[k]!.ggufTypeCode)
            value(values[k]!)
        }
        var offset = 0
        var offsets: [Int] = []
        for t in tensors {
            string(t.name)
            u32(UInt32(t.ne.count))
            for d in t.ne { u64(UInt64(d)) }
            u32(t.type.rawValue)
            u64(UInt64(offset))
            offsets.append(offset)
            offset = (offset + t.bytes.count + alignment - 1) / alignment * alignment
        }
        func pad() { while out.count % alignment != 0 { out.append(0) } }
        pad()
        for t in tensors {
            out.append(contentsOf: t.bytes)
            pad()
        }
        return out
    }

    /// Writes the file atomically (temporary file in the same directory, then rename).
    public func write(to url: URL) throws {
        let data = try encoded()
        try writeAtomically(to: url) { try $0.write(contentsOf: data) }
    }
}

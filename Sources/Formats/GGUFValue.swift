/// One typed metadata value of a GGUF file (llama.cpp's `gguf_type`): the key–value pairs that
/// describe the architecture (`llama.block_count`, …) and the tokenizer (`tokenizer.ggml.*`).
///
/// Not `indirect`: `.array` already holds its elements behind an Array's buffer, and boxing
/// every case put each of a vocabulary's 49,152 token strings in a heap box of its own (about
/// 3.8 MB more peak memory for SmolLM2).
public enum GGUFValue: Equatable, Sendable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16)
    case uint32(UInt32), int32(Int32), uint64(UInt64), int64(Int64)
    case float32(Float), float64(Double), bool(Bool), string(String)
    case array([GGUFValue])

    /// The value as an integer when it is any integer kind.
    public var int: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return Int(exactly: v)
        case .int64(let v): return Int(v)
        case .bool(let v): return v ? 1 : 0
        default: return nil
        }
    }

    /// The value as a Double when it is numeric.
    public var double: Double? {
        switch self {
        case .float32(let v): return Double(v)
        case .float64(let v): return v
        default: return int.map(Double.init)
        }
    }

    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var bool: Bool? { if case .bool(let b) = self { return b }; return int.map { $0 != 0 } }
    public var array: [GGUFValue]? { if case .array(let a) = self { return a }; return nil }
    /// An array of strings (for example `tokenizer.ggml.tokens`).
    public var strings: [String]? { array?.compactMap(\.string) }
    /// An array of integers (for example `tokenizer.ggml.token_type`).
    public var ints: [Int]? { array?.compactMap(\.int) }
    /// An array of floats (for example `tokenizer.ggml.scores`).
    public var doubles: [Double]? { array?.compactMap(\.double) }
}

/// A ggml tensor element type as stored in GGUF tensor infos (`enum ggml_type` numbering).
///
/// Quantised types store `blockSize` consecutive elements of a row in `blockBytes` bytes.
/// Legacy quants use blocks of QK = 32 elements; K-quants use super-blocks of QK_K = 256.
/// Every known type has its size here so that a file can be opened and validated; only
/// `isDequantizable` types can be read as Float32.
public enum GGMLType: UInt32, CaseIterable, Sendable, CustomStringConvertible {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    case iq2_XXS = 16, iq2_XS = 17, iq3_XXS = 18, iq1_S = 19, iq4_NL = 20, iq3_S = 21, iq2_S = 22, iq4_XS = 23
    case i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_M = 29, bf16 = 30
    case tq1_0 = 34, tq2_0 = 35, mxfp4 = 39

    /// ggml's name: "F32", "Q4_K", …
    public var description: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .bf16: return "BF16"
        case .f64: return "F64"
        case .i8: return "I8"
        case .i16: return "I16"
        case .i32: return "I32"
        case .i64: return "I64"
        case .mxfp4: return "MXFP4"
        default:
            let s = "\(self)"  // case name, e.g. q4_K, iq2_XXS
            return s.prefix(2) == "iq" || s.prefix(2) == "tq" ? s.prefix(2).uppercased() + s.dropFirst(2)
                                                             : s.prefix(1).uppercased() + s.dropFirst(1)
        }
    }

    /// Elements per block (1 for plain types).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16, .f64, .i8, .i16, .i32, .i64: return 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .iq4_NL, .mxfp4: return 32
        default: return 256
        }
    }

    /// Bytes per block (from ggml's block structs).
    public var blockBytes: Int {
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .f64, .i64: return 8
        case .i8: return 1
        case .q4_0: return 2 + 16           // d, 32 × 4-bit
        case .q4_1: return 2 + 2 + 16       // d, m, 32 × 4-bit
        case .q5_0: return 2 + 4 + 16       // d, qh (high bits), 32 × low 4 bits
        case .q5_1: return 2 + 2 + 4 + 16   // d, m, qh, 32 × low 4 bits
        case .q8_0: return 2 + 32           // d, 32 × int8
        case .q8_1: return 4 + 4 + 32
        case .q2_K: return 2 + 2 + 16 + 64
        case .q3_K: return 2 + 64 + 32 + 12
        case .q4_K: return 2 + 2 + 12 + 128          // d, dmin, 6-bit scales/mins, 256 × 4-bit
        case .q5_K: return 2 + 2 + 12 + 32 + 128     // … + 256 high bits
        case .q6_K: return 128 + 64 + 16 + 2         // ql, qh, int8 scales, d
        case .q8_K: return 4 + 256 + 32
        case .iq2_XXS: return 2 + 64
        case .iq2_XS: return 2 + 64 + 8
        case .iq3_XXS: return 2 + 64 + 32
        case .iq1_S: return 2 + 32 + 16
        case .iq4_NL: return 2 + 16
        case .iq3_S: return 2 + 64 + 32 + 8 + 4
        case .iq2_S: return 2 + 64 + 16
        case .iq4_XS: return 2 + 2 + 128 + 4
        case .iq1_M: return 32 + 16 + 8
        case .tq1_0: return 2 + 52
        case .tq2_0: return 2 + 64
        case .mxfp4: return 1 + 16
        }
    }

    /// The types `GGUFFile.read` converts to Float32.
    public static let dequantizable: [GGMLType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K]

    public var isDequantizable: Bool { Self.dequantizable.contains(self) }
}

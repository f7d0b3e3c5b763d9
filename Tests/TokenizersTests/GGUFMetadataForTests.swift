import Foundation
import Formats

/// A metadata-only GGUF reader for the tests, used until the Formats module's `GGUFFile` is
/// merged: the header (magic "GGUF", version 2 or 3, tensor count, key count) and the typed
/// key–value pairs; tensor infos and data are not read.
enum GGUFMetadataForTests {
    struct ParseError: Error, CustomStringConvertible { let description: String }

    static func read(_ url: URL) throws -> [String: GGUFValue] {
        let data = try Data(contentsOf: url, options: .alwaysMapped)
        return try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> [String: GGUFValue] in
            var at = 0
            func take<T: FixedWidthInteger>(_: T.Type) throws -> T {
                guard at + MemoryLayout<T>.size <= raw.count else { throw ParseError(description: "\(url.path): truncated at byte \(at)") }
                let v = raw.loadUnaligned(fromByteOffset: at, as: T.self)
                at += MemoryLayout<T>.size
                return T(littleEndian: v)
            }
            func string() throws -> String {
                let n = Int(try take(UInt64.self))
                guard at + n <= raw.count else { throw ParseError(description: "\(url.path): string past the end at \(at)") }
                let s = String(decoding: raw[at..<at + n], as: UTF8.self)
                at += n
                return s
            }
            func value(_ type: UInt32) throws -> GGUFValue {
                switch type {
                case 0: return .uint8(try take(UInt8.self))
                case 1: return .int8(try take(Int8.self))
                case 2: return .uint16(try take(UInt16.self))
                case 3: return .int16(try take(Int16.self))
                case 4: return .uint32(try take(UInt32.self))
                case 5: return .int32(try take(Int32.self))
                case 6: return .float32(Float(bitPattern: try take(UInt32.self)))
                case 7: return .bool(try take(UInt8.self) != 0)
                case 8: return .string(try string())
                case 9:
                    let itemType = try take(UInt32.self)
                    let n = Int(try take(UInt64.self))
                    var items: [GGUFValue] = []
                    items.reserveCapacity(n)
                    for _ in 0..<n { items.append(try value(itemType)) }
                    return .array(items)
                case 10: return .uint64(try take(UInt64.self))
                case 11: return .int64(try take(Int64.self))
                case 12: return .float64(Double(bitPattern: try take(UInt64.self)))
                default: throw ParseError(description: "\(url.path): unknown GGUF value type \(type)")
                }
            }
            guard try take(UInt32.self) == 0x4655_4747 else { throw ParseError(description: "\(url.path): not a GGUF file") }
            let version = try take(UInt32.self)
            guard version == 2 || version == 3 else { throw ParseError(description: "\(url.path): GGUF version \(version)") }
            _ = try take(UInt64.self)
            let count = Int(try take(UInt64.self))
            var out: [String: GGUFValue] = [:]
            for _ in 0..<count {
                let k = try string()
                out[k] = try value(try take(UInt32.self))
            }
            return out
        }
    }
}

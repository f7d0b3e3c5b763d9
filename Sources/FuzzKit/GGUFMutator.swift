import Formats
import Foundation

/// Metadata-level mutations of a GGUF file: the file is read, one to three metadata values are
/// changed (sizes and counts set to 0, −1, 1000 or 2^62; floats to NaN, ±Inf, 0 or −1; strings
/// and arrays emptied, cut or swapped for other kinds), dropped or added (keys for features the
/// runtime lacks), and the file is re-written with `GGUFWriter`, tensors copied byte for byte.
/// This reaches the model loader with a well-formed file that says absurd things.
enum GGUFMutator {
    static let extraKeys: [(String, GGUFValue)] = [
        ("rope.scaling.type", .string("linear")), ("rope.scaling.factor", .float32(4)), ("attention.sliding_window", .uint32(4)),
        ("expert_count", .uint32(8)), ("vocab_size", .uint64(1 << 62)), ("attention.key_length", .uint32(7)),
        ("rope.dimension_count", .uint32(3)), ("attention.value_length", .uint32(2)), ("context_length", .uint64(1 << 40)),
        ("block_count", .uint32(1000)), ("attention.head_count_kv", .uint32(3)), ("rope.freq_base", .float32(.nan)),
    ]

    static func mutate(_ url: URL, rng r: inout FuzzRandom) -> Data? {
        guard let file = try? GGUFFile(url: url), let arch = file["general.architecture"]?.string else { return nil }
        var keys = file.metadataKeys, values = file.metadata
        for _ in 0..<(1 + r.below(3)) {
            switch r.below(5) {
            case 0 where !keys.isEmpty:
                let k = keys.remove(at: r.below(keys.count)); values[k] = nil
            case 1:
                let (k, v) = r.pick(extraKeys)
                let key = arch + "." + k
                if values[key] == nil { keys.append(key) }
                values[key] = v
            default:
                guard !keys.isEmpty else { break }
                let k = r.pick(keys.filter { $0 != "general.alignment" })
                values[k] = mutateValue(values[k]!, rng: &r)
            }
        }
        var w = GGUFWriter(version: file.version, alignment: file.alignment)
        do {
            for k in keys { try w.add(key: k, values[k]!) }
            for t in file.tensorInfos {
                let bytes = try file.withRawBytes(t.name) { [UInt8]($0) }
                try w.addRaw(tensor: t.name, shape: t.shape, type: t.type, bytes: bytes)
            }
            return try w.encoded()
        } catch {
            return nil
        }
    }

    static func mutateValue(_ v: GGUFValue, rng r: inout FuzzRandom) -> GGUFValue {
        switch v {
        case .uint8, .int8, .uint16, .int16, .uint32, .int32, .uint64, .int64, .bool:
            return r.pick([.uint32(0), .uint32(1), .uint32(3), .uint32(1000), .uint32(UInt32.max), .int32(-1), .int64(-1),
                           .uint64(1 << 62), .uint64(UInt64.max), .int64(Int64.min), .string("12"), .float32(2.5), .uint32(65536)])
        case .float32, .float64:
            return r.pick([.float32(.nan), .float32(.infinity), .float32(-.infinity), .float32(0), .float32(-1), .float64(1e300),
                           .float32(1e-30), .uint32(7)])
        case .string:
            return r.pick([.string(""), .string("gptneox"), .string("gpt2"), .string("qwen2"), .string("mamba"), .string("llama"),
                           .string(String(repeating: "\u{0}", count: 300)), .uint32(5)])
        case .array(let a):
            switch r.below(5) {
            case 0: return .array([])
            case 1: return .array(Array(a.prefix(r.below(max(a.count, 1)))))
            case 2: return .array(a + a.prefix(3))
            case 3 where !a.isEmpty:
                var b = a
                b[r.below(b.count)] = mutateValue(b[0], rng: &r)
                return b.allSatisfy { $0.ggufTypeCode == b[0].ggufTypeCode } ? .array(b) : .array(a.reversed())
            default: return .array(a.reversed())
            }
        }
    }
}

import Tensor
import Formats
import Foundation
import XCTest

/// Malformed GGUF files, crafted byte by byte: each must throw a FormatError naming the problem,
/// and seeded random corruption must only ever throw.
final class GGUFErrorTests: XCTestCase {
    struct Tensor { var name: String; var ne: [UInt64]; var type: UInt32; var offset: UInt64 }

    /// A GGUF file from parts, independent of GGUFWriter: `kv` entries are (key, type code, value bytes).
    func gguf(magic: String = "GGUF", version: UInt32 = 3, tensorCount: UInt64? = nil, kvCount: UInt64? = nil,
              kv: [(String, UInt32, [UInt8])] = [], tensors: [Tensor] = [], data: [UInt8] = [], alignment: Int = 32) -> [UInt8] {
        var b = Bytes()
        b.raw(magic)
        b.u32(version)
        b.u64(tensorCount ?? UInt64(tensors.count))
        b.u64(kvCount ?? UInt64(kv.count))
        for (key, code, value) in kv { b.str(key); b.u32(code); b.data += value }
        for t in tensors {
            b.str(t.name); b.u32(UInt32(t.ne.count))
            for d in t.ne { b.u64(d) }
            b.u32(t.type); b.u64(t.offset)
        }
        b.pad(to: alignment)
        b.data += data
        return b.data
    }

    func f32s(_ values: [Float]) -> [UInt8] { var b = Bytes(); values.forEach { b.f32($0) }; return b.data }

    func open(_ bytes: [UInt8], _ name: String) throws -> GGUFFile {
        try GGUFFile(url: try writeFile(bytes, try temporaryDirectory(self), name))
    }

    func testValidCraftedFileReads() throws {
        var u32 = Bytes(); u32.u32(7)
        let f = try open(gguf(kv: [("k", 4, u32.data)], tensors: [Tensor(name: "w", ne: [3, 2], type: 0, offset: 0)],
                              data: f32s([1, 2, 3, 4, 5, 6])), "ok.gguf")
        XCTAssertEqual(f["k"], .uint32(7))
        XCTAssertEqual(try f.floats("w"), [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(try f.tensorInfo("w").shape, [2, 3])
        assertFormatError(try f.floats("v"), mentions: ["ok.gguf", "'v'", "w"]) { if case .missingTensor = $0 { return true }; return false }
        var out = [Float](repeating: 0, count: 5)
        assertFormatError(try out.withUnsafeMutableBufferPointer { try f.read("w", into: $0.baseAddress!, count: 5) }, mentions: ["'w'", "6 elements"]) {
            if case .countMismatch = $0 { return true }; return false
        }
    }

    func testHeaderErrors() throws {
        assertFormatError(try open(Array("GGU".utf8), "tiny.gguf"), mentions: ["tiny.gguf", "truncated"]) { if case .truncated = $0 { return true }; return false }
        assertFormatError(try open(gguf(magic: "GGML"), "magic.gguf"), mentions: ["magic.gguf", "47 47 4d 4c", "GGUF"]) { if case .badMagic = $0 { return true }; return false }
        assertFormatError(try open(gguf(version: 1), "v1.gguf"), mentions: ["v1.gguf", "version 1", "re-convert"]) {
            if case .unsupportedVersion(_, 1) = $0 { return true }; return false
        }
        assertFormatError(try open(gguf(version: 4), "v4.gguf"), mentions: ["version 4", "2 and 3"]) { if case .unsupportedVersion(_, 4) = $0 { return true }; return false }
        assertFormatError(try open(gguf(version: 0x0300_0000), "be.gguf"), mentions: ["big-endian"]) { if case .unsupportedVersion = $0 { return true }; return false }
    }

    func testAbsurdCountsAreRejectedBeforeAllocating() throws {
        assertFormatError(try open(gguf(tensorCount: 1 << 60), "tc.gguf"), mentions: ["tc.gguf", "tensor count", "1152921504606846976"]) {
            if case .absurdCount = $0 { return true }; return false
        }
        assertFormatError(try open(gguf(kvCount: UInt64.max), "kv.gguf"), mentions: ["metadata count"]) { if case .absurdCount = $0 { return true }; return false }
        var longString = Bytes(); longString.u64(1 << 40); longString.raw("abc")
        assertFormatError(try open(gguf(kv: [("s", 8, longString.data)]), "str.gguf"), mentions: ["length of the value of 's'"]) {
            if case .absurdCount = $0 { return true }; return false
        }
        var bigArray = Bytes(); bigArray.u32(4); bigArray.u64(1 << 50)
        assertFormatError(try open(gguf(kv: [("a", 9, bigArray.data)]), "arr.gguf"), mentions: ["element count of 'a'"]) {
            if case .absurdCount = $0 { return true }; return false
        }
        var deep = Bytes()
        for _ in 0..<40 { deep.u32(9); deep.u64(1) }  // arrays of arrays of …
        deep.u32(0); deep.u64(0)
        assertFormatError(try open(gguf(kv: [("deep", 9, deep.data)]), "deep.gguf"), mentions: ["nesting depth of 'deep'"]) {
            if case .absurdCount = $0 { return true }; return false
        }
        assertFormatError(try open(gguf(tensors: [Tensor(name: "w", ne: [1, 1, 1, 1, 1], type: 0, offset: 0)]), "dims.gguf"), mentions: ["n_dims of tensor 'w'"]) {
            if case .absurdCount = $0 { return true }; return false
        }
        assertFormatError(try open(gguf(tensors: [Tensor(name: "w", ne: [1 << 40], type: 0, offset: 0)]), "dim.gguf"), mentions: ["dimension of tensor 'w'"]) {
            if case .absurdCount = $0 { return true }; return false
        }
        assertFormatError(try open(gguf(tensors: [Tensor(name: "w", ne: [1 << 30, 1 << 30, 1 << 30], type: 0, offset: 0)]), "prod.gguf"), mentions: ["element count of tensor 'w'"]) {
            if case .absurdCount = $0 { return true }; return false
        }
    }

    func testMetadataErrors() throws {
        var one = Bytes(); one.u32(1)
        assertFormatError(try open(gguf(kv: [("k", 13, one.data)]), "vt.gguf"), mentions: ["vt.gguf", "'k'", "value type 13"]) {
            if case .invalidValueType(_, "k", 13) = $0 { return true }; return false
        }
        assertFormatError(try open(gguf(kv: [("k", 4, one.data), ("k", 4, one.data)]), "dupkey.gguf"), mentions: ["'k'", "twice"]) {
            if case .duplicateName(_, "k") = $0 { return true }; return false
        }
        var three = Bytes(); three.u32(48)
        assertFormatError(try open(gguf(kv: [("general.alignment", 4, three.data)]), "align.gguf"), mentions: ["general.alignment", "power of two"]) {
            if case .badAlignment = $0 { return true }; return false
        }
    }

    func testTensorErrors() throws {
        let data = f32s([Float](repeating: 1, count: 64))
        assertFormatError(try open(gguf(tensors: [Tensor(name: "w", ne: [32], type: 99, offset: 0)], data: data), "type.gguf"),
                          mentions: ["type.gguf", "'w'", "99", "Q4_K", "Q8_0"]) { if case .unsupportedTensorType = $0 { return true }; return false }
        // A known type without a dequantiser opens (its size is known) but cannot be read.
        let q2k = try open(gguf(tensors: [Tensor(name: "w", ne: [256], type: 10, offset: 0)], data: [UInt8](repeating: 0, count: 84)), "q2k.gguf")
        assertFormatError(try q2k.floats("w"), mentions: ["'w'", "Q2_K", "Q6_K", "BF16"]) { if case .unsupportedTensorType = $0 { return true }; return false }
        assertFormatError(try open(gguf(tensors: [Tensor(name: "w", ne: [65], type: 0, offset: 0)], data: data), "past.gguf"),
                          mentions: ["past.gguf", "'w'", "256 bytes"]) { if case .offsetsOutOfRange = $0 { return true }; return false }
        assertFormatError(try open(gguf(tensors: [Tensor(name: "w", ne: [4], type: 0, offset: 1 << 62)], data: data), "offset.gguf"),
                          mentions: ["'w'"]) { if case .offsetsOutOfRange = $0 { return true }; return false }
        assertFormatError(try open(gguf(tensors: [Tensor(name: "w", ne: [48, 2], type: 8, offset: 0)], data: data), "block.gguf"),
                          mentions: ["'w'", "48", "32", "Q8_0"]) { if case .notBlockMultiple = $0 { return true }; return false }
        assertFormatError(try open(gguf(tensors: [Tensor(name: "w", ne: [4], type: 0, offset: 0), Tensor(name: "w", ne: [4], type: 0, offset: 32)], data: data), "dup.gguf"),
                          mentions: ["'w'", "twice"]) { if case .duplicateName(_, "w") = $0 { return true }; return false }
        assertFormatError(try open(gguf(tensors: [Tensor(name: "w", ne: [4], type: 0, offset: 8)], data: data), "misaligned.gguf"),
                          mentions: ["'w'", "offset 8", "alignment 32"]) { if case .badAlignment = $0 { return true }; return false }
    }

    /// Every proper prefix of a valid file (one tensor, metadata of several kinds) throws.
    func testEveryTruncationThrows() throws {
        var w = GGUFWriter()
        try w.add(key: "general.architecture", .string("llama"))
        try w.add(key: "a", .array([.array([.float64(1)]), .array([])]))
        try w.add(tensor: "w", shape: [2, 32], type: .f16, values: (0..<64).map(Float.init))
        let full = [UInt8](try w.encoded())
        let dir = try temporaryDirectory(self)
        for n in 0..<full.count {
            let url = try writeFile(Array(full.prefix(n)), dir, "cut.gguf")
            XCTAssertThrowsError(try GGUFFile(url: url), "prefix of \(n) bytes") { XCTAssertTrue($0 is FormatError) }
        }
        XCTAssertEqual(try GGUFFile(url: try writeFile(full, dir, "full.gguf")).floats("w"), (0..<64).map(Float.init))
    }

    /// Seeded random corruption of the gguf-py fixture: every outcome is a FormatError or a file
    /// whose every tensor dequantises.
    func testFuzzedFilesOnlyThrow() throws {
        let valid = [UInt8](try Data(contentsOf: fixture("quants-v3.gguf")))
        let dir = try temporaryDirectory(self)
        var rng = RandomGenerator(seed: 0x6606)
        var opened = 0, thrown = 0
        for trial in 0..<800 {
            var bytes = valid
            let headerEnd = 1400  // corrupt mostly the header, where the structure is
            switch trial % 4 {
            case 0:
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    bytes[Int.random(in: 0..<headerEnd, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
            case 1:  // overwrite 8 bytes with a huge or small count-like number
                let at = Int.random(in: 0..<(headerEnd - 8), using: &rng)
                let v: UInt64 = Bool.random(using: &rng) ? UInt64.random(in: 0...UInt64.max, using: &rng) : UInt64.random(in: 0...300, using: &rng)
                withUnsafeBytes(of: v.littleEndian) { for i in 0..<8 { bytes[at + i] = $0[i] } }
            case 2:
                bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &rng)))
            default:
                bytes = (0..<Int.random(in: 0...400, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                if bytes.count >= 8, Bool.random(using: &rng) { bytes.replaceSubrange(0..<8, with: Array("GGUF".utf8) + [3, 0, 0, 0]) }
            }
            let url = try writeFile(bytes, dir, "fuzz.gguf")
            do {
                let f = try GGUFFile(url: url)
                for t in f.tensorInfos where t.type.isDequantizable { _ = try f.floats(t.name) }
                opened += 1
            } catch is FormatError {
                thrown += 1
            }
        }
        XCTAssertGreaterThan(thrown, 300)
        print("GGUF fuzz: \(opened) opened, \(thrown) rejected with FormatError")
    }
}

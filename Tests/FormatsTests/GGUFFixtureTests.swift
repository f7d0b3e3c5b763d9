import Tensor
import Formats
import Foundation
import XCTest

/// GGUF files written by gguf-py (llama.cpp's Python package) against gguf-py's own dequantiser
/// (Scripts/make-gguf-fixtures), plus the writer checked byte for byte against gguf-py's output.
final class GGUFFixtureTests: XCTestCase {
    static let types: [(name: String, type: GGMLType, shape: [Int])] = [
        ("t.F32", .f32, [3, 40]), ("t.F16", .f16, [3, 40]), ("t.BF16", .bf16, [3, 40]),
        ("t.Q8_0", .q8_0, [3, 64]), ("t.Q4_0", .q4_0, [3, 64]), ("t.Q4_1", .q4_1, [3, 64]),
        ("t.Q5_0", .q5_0, [3, 64]), ("t.Q5_1", .q5_1, [3, 64]),
        ("t.Q4_K", .q4_K, [2, 512]), ("t.Q5_K", .q5_K, [2, 512]), ("t.Q6_K", .q6_K, [2, 512]),
    ]

    /// Every tensor type dequantises bit-exactly like gguf-py: both evaluate the same float32
    /// products in the same order (no fused multiply-add on either side), so no tolerance is needed.
    func checkTensors(_ fileName: String, version: UInt32) throws {
        let f = try GGUFFile(url: fixture(fileName))
        let expected = try SafetensorsFile(url: fixture("quants-expected.safetensors"))
        XCTAssertEqual(f.version, version)
        XCTAssertEqual(f.alignment, 64)
        XCTAssertEqual(f.dataOffset % 64, 0)
        XCTAssertEqual(f.tensorInfos.map(\.name), Self.types.map(\.name), "file order")
        for (name, type, shape) in Self.types {
            let info = try f.tensorInfo(name)
            XCTAssertEqual(info.type, type, name)
            XCTAssertEqual(info.shape, shape, "\(name): row-major shape")
            XCTAssertEqual(info.ne, shape.reversed(), "\(name): GGUF ne order")
            XCTAssertEqual(info.offset % 64, 0, name)
            XCTAssertEqual(try expected.info(name).shape, shape)
            let got = try f.floats(name), want = try expected.floats(name)
            var maxErr: Float = 0, mismatches = 0
            for (a, b) in zip(got, want) where a.bitPattern != b.bitPattern {
                mismatches += 1
                maxErr = max(maxErr, abs(a - b))
            }
            print("\(fileName) \(type): \(mismatches == 0 && got.count == want.count ? "OK" : "NOT OK") (\(got.count) values, \(mismatches) differ, max abs error \(maxErr))")
            XCTAssertEqual(got.count, want.count, name)
            XCTAssertEqual(mismatches, 0, "\(name): \(mismatches) values differ from gguf-py, max abs error \(maxErr)")
        }
    }

    func testEveryTypeMatchesGGUFPyV3() throws { try checkTensors("quants-v3.gguf", version: 3) }
    func testEveryTypeMatchesGGUFPyV2() throws { try checkTensors("quants-v2.gguf", version: 2) }

    /// The F16 fixture holds a subnormal, −0, 65504 and +inf; Q4_1 adds its minimum (value at q = 0).
    func testSpecialValuesSurvive() throws {
        let f16 = try GGUFFile(url: fixture("quants-v3.gguf")).floats("t.F16")
        XCTAssertEqual(f16[0], Float(Float16(6e-8)))
        XCTAssertTrue(f16[0] > 0 && f16[0] < 1e-7, "f16 subnormal")
        XCTAssertEqual(f16[1].bitPattern, (-0.0 as Float).bitPattern)
        XCTAssertEqual(f16[2], 65504)
        XCTAssertEqual(f16[3], .infinity)
    }

    func testMetadataOfEveryKind() throws {
        let f = try GGUFFile(url: fixture("quants-v3.gguf"))
        let expected: [(String, GGUFValue)] = [
            ("general.architecture", .string("testarch")),
            ("general.alignment", .uint32(64)),
            ("test.u8", .uint8(200)), ("test.i8", .int8(-100)),
            ("test.u16", .uint16(60000)), ("test.i16", .int16(-30000)),
            ("test.u32", .uint32(4_000_000_000)), ("test.i32", .int32(-2_000_000_000)),
            ("test.f32", .float32(0.125)),
            ("test.u64", .uint64(18_000_000_000_000_000_000)), ("test.i64", .int64(-9_000_000_000_000_000_000)),
            ("test.f64", .float64(-2.5e-300)), ("test.bool", .bool(true)),
            ("test.string", .string("héllo ✓ gguf")),
            ("test.strings", .array([.string("a"), .string(""), .string("bé"), .string("<|im_end|>")])),
            ("test.u16s", .array([.uint16(1), .uint16(2), .uint16(65535)])),
            ("test.f32s", .array([.float32(0.5), .float32(-1.25), .float32(3.0)])),
            ("test.nested", .array([.array([.int32(1), .int32(2)]), .array([.int32(3), .int32(4), .int32(5)])])),
        ]
        XCTAssertEqual(Set(f.metadataKeys), Set(expected.map(\.0)))
        XCTAssertEqual(f.metadata.count, expected.count)
        for (key, value) in expected {
            XCTAssertEqual(f[key], value, key)
        }
        XCTAssertEqual(f["test.u64"]?.int, nil, "2^64-range u64 does not fit Int")
        XCTAssertEqual(f["test.strings"]?.strings, ["a", "", "bé", "<|im_end|>"])
        XCTAssertEqual(f["test.u16s"]?.ints, [1, 2, 65535])
    }

    /// Re-writing the gguf-py fixture (metadata in file order, tensors as raw bytes) with
    /// GGUFWriter gives the identical file, for v3 and v2.
    func testWriterReproducesGGUFPyBytes() throws {
        for (name, version) in [("quants-v3.gguf", UInt32(3)), ("quants-v2.gguf", UInt32(2))] {
            let f = try GGUFFile(url: fixture(name))
            var w = GGUFWriter(version: version, alignment: f.alignment)
            for key in f.metadataKeys { try w.add(key: key, f[key]!) }
            for t in f.tensorInfos {
                let bytes = try f.withRawBytes(t.name) { Array($0) }
                try w.addRaw(tensor: t.name, shape: t.shape, type: t.type, bytes: bytes)
            }
            let original = try Data(contentsOf: fixture(name))
            let rewritten = try w.encoded()
            XCTAssertEqual(rewritten.count, original.count, name)
            XCTAssertTrue(rewritten == original, "\(name): first difference at byte \(zip(rewritten, original).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? -1)")
        }
    }

    /// F16 encoding agrees with Swift's Float16 rounding, and decoding of all 65 536 bit patterns
    /// agrees with Float(Float16(bitPattern:)).
    func testWriterF16AndEveryHalfBitPattern() throws {
        let dir = try temporaryDirectory(self)
        var rng = RandomGenerator(seed: 16)
        var values: [Float] = [0, -0.0, 1, 65504, 65520, 65519.99, 1e-8, 2.98e-8, 5.96e-8, -6.1e-5, .infinity, -.infinity, 1e10]
        values += (0..<4083).map { _ in Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng) & 0xC7FF_FFFF) }
        var allHalves: [UInt8] = []
        for h in 0...UInt16.max { allHalves += [UInt8(h & 0xFF), UInt8(h >> 8)] }
        var w = GGUFWriter()
        try w.add(key: "general.architecture", .string("x"))
        try w.add(tensor: "rounded", shape: [values.count], type: .f16, values: values)
        try w.add(tensor: "exact", shape: [2, 3], type: .f32, values: [1, 2, 3, 4, 5, -0.5])
        try w.addRaw(tensor: "halves", shape: [256, 256], type: .f16, bytes: allHalves)
        let url = dir.appendingPathComponent("w.gguf")
        try w.write(to: url)
        let f = try GGUFFile(url: url)
        XCTAssertEqual(try f.floats("exact"), [1, 2, 3, 4, 5, -0.5])
        XCTAssertEqual(try f.tensorInfo("exact").ne, [3, 2])
        let rounded = try f.floats("rounded")
        for (x, y) in zip(values, rounded) where !x.isNaN {
            XCTAssertEqual(y.bitPattern, Float(Float16(x)).bitPattern, "f16 rounding of \(x)")
        }
        let halves = try f.floats("halves")
        for h in 0...UInt16.max {
            let want = Float(Float16(bitPattern: h)), got = halves[Int(h)]
            if want.isNaN { XCTAssertTrue(got.isNaN, "half \(h)") } else { XCTAssertEqual(got.bitPattern, want.bitPattern, "half \(h)") }
        }
    }
}

import Tensor
import Formats
import Foundation
import XCTest

/// Reading files written by Hugging Face's safetensors library, writing files equal to its
/// output, and a clear error for every malformed header (crafted bytes + seeded fuzzing).
final class SafetensorsTests: XCTestCase {
    /// Every dtype converts exactly to the float32 companion numpy computed (`<name>.expected`).
    func testReadsEveryDTypeLikeNumpy() throws {
        let f = try SafetensorsFile(url: fixture("dtypes.safetensors"))
        XCTAssertEqual(f.metadata, ["format": "pt", "note": "ünïcode"])
        let expectedDTypes: [String: SafetensorsDType] = ["x.f64": .f64, "x.f32": .f32, "x.f16": .f16, "x.bf16": .bf16,
                                                         "ids.i64": .i64, "ids.i32": .i32, "scalar": .f32, "empty": .f32]
        XCTAssertEqual(f.tensorNames, f.tensorNames.sorted())
        XCTAssertEqual(Set(f.tensorNames), Set(expectedDTypes.keys.flatMap { [$0, $0 + ".expected"] }))
        for (name, dtype) in expectedDTypes.sorted(by: { $0.key < $1.key }) {
            let info = try f.info(name)
            XCTAssertEqual(info.dtype, dtype, name)
            XCTAssertEqual(info.shape, try f.info(name + ".expected").shape, name)
            let got = try f.floats(name), want = try f.floats(name + ".expected")
            XCTAssertEqual(got.count, info.shape.reduce(1, *), name)
            // Bitwise: every conversion here is exact (the int64 2^40 and the f16 specials included).
            XCTAssertEqual(got.map(\.bitPattern), want.map(\.bitPattern), "\(name) differs from numpy's float32 conversion")
        }
        XCTAssertEqual(try f.info("x.f32").shape, [2, 3, 5])
        XCTAssertEqual(try f.info("scalar").shape, [])
        XCTAssertEqual(try f.floats("scalar"), [3.5])
        XCTAssertEqual(try f.floats("ids.i64"), [0, 1, -7, 49151, 0x1p40])
        XCTAssertTrue(try f.floats("x.f16").contains(-.infinity))
    }

    func testReadIntoPointerChecksCountAndName() throws {
        let f = try SafetensorsFile(url: fixture("dtypes.safetensors"))
        var buffer = [Float](repeating: .nan, count: 30)
        try buffer.withUnsafeMutableBufferPointer { try f.read("x.bf16", into: $0.baseAddress!, count: 30) }
        XCTAssertEqual(buffer, try f.floats("x.bf16.expected"))
        assertFormatError(try buffer.withUnsafeMutableBufferPointer { try f.read("x.f32", into: $0.baseAddress!, count: 29) },
                          mentions: ["x.f32", "30 elements", "29"]) { if case .countMismatch = $0 { return true }; return false }
        assertFormatError(try f.floats("x.f31"), mentions: ["dtypes.safetensors", "'x.f31'", "empty", "available"]) {
            if case .missingTensor = $0 { return true }; return false
        }
    }

    /// The writer's header (as JSON) and data section equal those of the same tensors written by
    /// Hugging Face's library (values 0.25·i − 1, see Scripts/make-gguf-fixtures).
    func testWriterMatchesHuggingFaceOutput() throws {
        let dir = try temporaryDirectory(self)
        var w = SafetensorsWriter(metadata: ["format": "pt", "step": "7"])
        func values(_ n: Int) -> [Float] { (0..<n).map { Float($0) * 0.25 - 1 } }
        try w.add("c", shape: [1, 2, 2], values: values(4))
        try w.add("d.scalar", shape: [], values: values(1))
        let weights = values(6)
        try weights.withUnsafeBufferPointer { try w.add("b.weight", shape: [2, 3], pointer: $0.baseAddress!) }
        try w.add("a.bias", shape: [3], values: values(3))
        let url = dir.appendingPathComponent("out.safetensors")
        try weights.withUnsafeBufferPointer { _ in try w.write(to: url) }

        let mine = try Data(contentsOf: url), theirs = try Data(contentsOf: fixture("writer-reference.safetensors"))
        func split(_ d: Data) throws -> (header: NSDictionary, headerLength: Int, body: Data) {
            let n = Int(d.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
            let json = try JSONSerialization.jsonObject(with: d.subdata(in: 8..<(8 + n))) as! NSDictionary
            return (json, n, d.subdata(in: (8 + n)..<d.count))
        }
        let (h1, n1, b1) = try split(mine), (h2, _, b2) = try split(theirs)
        XCTAssertEqual(h1, h2, "header differs from Hugging Face's")
        XCTAssertEqual(b1, b2, "data section differs from Hugging Face's")
        XCTAssertEqual(n1 % 8, 0, "header length must be padded to a multiple of 8")
        XCTAssertEqual(mine[8 + n1 - 1], 0x20, "padding must be spaces")
        let back = try SafetensorsFile(url: url)
        XCTAssertEqual(try back.floats("b.weight"), weights)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        XCTAssertEqual(leftovers, ["out.safetensors"], "the temporary file must be renamed away")
    }

    func testWriterRejectsDuplicatesAndWrongCounts() throws {
        var w = SafetensorsWriter()
        try w.add("a", shape: [2], values: [1, 2])
        assertFormatError(try w.add("a", shape: [1], values: [1]), mentions: ["'a'"]) { if case .duplicateName = $0 { return true }; return false }
        assertFormatError(try w.add("b", shape: [2, 2], values: [1]), mentions: ["'b'", "4"]) { if case .countMismatch = $0 { return true }; return false }
        assertFormatError(try w.write(to: URL(fileURLWithPath: "/nonexistent-dir-for-test/x.safetensors")), mentions: ["x.safetensors"]) {
            if case .io = $0 { return true }; return false
        }
    }

    // MARK: Crafted malformed files

    private func file(header: String, data: [UInt8] = [], headerLength: UInt64? = nil) -> [UInt8] {
        var b = Bytes()
        b.u64(headerLength ?? UInt64(header.utf8.count))
        b.raw(header)
        b.data += data
        return b.data
    }

    func testEveryMalformedHeaderThrowsANamedError() throws {
        let dir = try temporaryDirectory(self)
        func open(_ bytes: [UInt8], _ name: String) throws -> SafetensorsFile {
            try SafetensorsFile(url: try writeFile(bytes, dir, name))
        }
        assertFormatError(try open([1, 2, 3], "short.safetensors"), mentions: ["short.safetensors", "truncated", "header length"]) {
            if case .truncated = $0 { return true }; return false
        }
        assertFormatError(try open(file(header: "{}", headerLength: 1000), "long.safetensors"), mentions: ["long.safetensors", "1000"]) {
            if case .headerLengthOutOfRange = $0 { return true }; return false
        }
        assertFormatError(try open(file(header: "{\"a\": [1,"), "notjson.safetensors"), mentions: ["notjson.safetensors", "not valid JSON"]) {
            if case .invalidHeader = $0 { return true }; return false
        }
        let deep = String(repeating: "[", count: 200_000) + String(repeating: "]", count: 200_000)
        assertFormatError(try open(file(header: deep), "deep.safetensors"), mentions: ["deep.safetensors"]) {
            if case .invalidHeader = $0 { return true }; return false
        }
        assertFormatError(try open(file(header: "[1, 2]"), "array.safetensors"), mentions: ["not an object"]) {
            if case .invalidHeader = $0 { return true }; return false
        }
        let unknown = #"{"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}"#
        assertFormatError(try open(file(header: unknown, data: [0, 0]), "dtype.safetensors"), mentions: ["'w'", "F8_E4M3", "BF16"]) {
            if case .unknownDType = $0 { return true }; return false
        }
        let size = #"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}"#
        assertFormatError(try open(file(header: size, data: .init(repeating: 0, count: 12)), "size.safetensors"), mentions: ["'w'", "16", "12"]) {
            if case .byteSizeMismatch = $0 { return true }; return false
        }
        let range = #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        assertFormatError(try open(file(header: range, data: .init(repeating: 0, count: 8)), "range.safetensors"), mentions: ["'w'", "4..<12", "8 bytes"]) {
            if case .offsetsOutOfRange = $0 { return true }; return false
        }
        let reversed = #"{"w":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}"#
        assertFormatError(try open(file(header: reversed, data: .init(repeating: 0, count: 8)), "rev.safetensors"), mentions: ["'w'"]) {
            if case .offsetsOutOfRange = $0 { return true }; return false
        }
        let overlap = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F16","shape":[2],"data_offsets":[6,10]}}"#
        assertFormatError(try open(file(header: overlap, data: .init(repeating: 0, count: 12)), "overlap.safetensors"), mentions: ["'a'", "'b'", "overlap"]) {
            if case .overlappingTensors = $0 { return true }; return false
        }
        for (i, bad) in [#"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}"#,
                         #"{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#,
                         #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}}"#,
                         #"{"w":{"shape":[1],"data_offsets":[0,4]}}"#,
                         #"{"w":7}"#,
                         #"{"__metadata__":{"k":1}}"#,
                         #"{"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]}}"#].enumerated() {
            assertFormatError(try open(file(header: bad, data: [0, 0, 0, 0]), "bad\(i).safetensors"), mentions: ["bad\(i).safetensors", "header"]) {
                if case .invalidHeader = $0 { return true }; return false
            }
        }
    }

    /// Random bytes and random corruptions of a valid file only ever throw: a file that opens
    /// must also read every tensor without crashing.
    func testFuzzedFilesOnlyThrow() throws {
        let dir = try temporaryDirectory(self)
        let valid = [UInt8](try Data(contentsOf: fixture("dtypes.safetensors")))
        var rng = RandomGenerator(seed: 0x5AFE)
        var opened = 0, thrown = 0
        for trial in 0..<600 {
            var bytes: [UInt8]
            switch trial % 3 {
            case 0:  // pure garbage, sometimes with a plausible header length
                bytes = (0..<Int.random(in: 0...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                if bytes.count >= 8, Bool.random(using: &rng) {
                    let n = UInt64.random(in: 0...UInt64(bytes.count - 8), using: &rng)
                    withUnsafeBytes(of: n.littleEndian) { for i in 0..<8 { bytes[i] = $0[i] } }
                }
            case 1:  // a few flipped bytes in a valid file
                bytes = valid
                for _ in 0..<Int.random(in: 1...8, using: &rng) { bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            default:  // truncated valid file
                bytes = Array(valid.prefix(Int.random(in: 0..<valid.count, using: &rng)))
            }
            let url = try writeFile(bytes, dir, "fuzz.safetensors")
            do {
                let f = try SafetensorsFile(url: url)
                for name in f.tensorNames { _ = try f.floats(name) }
                opened += 1
            } catch is FormatError {
                thrown += 1
            }
        }
        XCTAssertGreaterThan(thrown, 300, "most corrupted files must be rejected")
        print("safetensors fuzz: \(opened) opened, \(thrown) rejected with FormatError")
    }
}

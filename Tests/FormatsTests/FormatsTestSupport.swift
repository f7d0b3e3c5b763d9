import Formats
import Foundation
import XCTest

/// Directory of the committed fixtures (written by Scripts/make-gguf-fixtures).
let fixturesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

func fixture(_ name: String) -> URL { fixturesDirectory.appendingPathComponent(name) }

/// A fresh temporary directory, removed at the end of the test.
func temporaryDirectory(_ test: XCTestCase) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("formats-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
    return dir
}


/// Little-endian byte building for crafted files.
struct Bytes {
    var data: [UInt8] = []
    mutating func u8(_ v: UInt8) { data.append(v) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    mutating func f32(_ v: Float) { u32(v.bitPattern) }
    mutating func raw(_ s: String) { data.append(contentsOf: Array(s.utf8)) }
    /// GGUF string: u64 length + bytes.
    mutating func str(_ s: String) { u64(UInt64(s.utf8.count)); raw(s) }
    mutating func pad(to alignment: Int) { while data.count % alignment != 0 { data.append(0) } }
}

/// Writes `bytes` to a file in `dir` and returns its URL.
func writeFile(_ bytes: [UInt8], _ dir: URL, _ name: String) throws -> URL {
    let url = dir.appendingPathComponent(name)
    try Data(bytes).write(to: url)
    return url
}

/// Asserts that `body` throws a `FormatError` accepted by `matches` whose message mentions every
/// string in `mentions` (for example the file name and the fix).
func assertFormatError<T>(_ body: @autoclosure () throws -> T, mentions: [String], file: StaticString = #filePath,
                          line: UInt = #line, _ matches: (FormatError) -> Bool) {
    do {
        _ = try body()
        XCTFail("expected a FormatError mentioning \(mentions), but nothing was thrown", file: file, line: line)
    } catch let error as FormatError {
        XCTAssertTrue(matches(error), "unexpected error case: \(error)", file: file, line: line)
        for m in mentions {
            XCTAssertTrue(error.description.contains(m), "error '\(error)' does not mention '\(m)'", file: file, line: line)
        }
    } catch {
        XCTFail("expected a FormatError, got \(error)", file: file, line: line)
    }
}

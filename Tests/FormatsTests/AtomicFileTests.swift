import Formats
import Foundation
import XCTest

final class AtomicFileTests: XCTestCase {
    /// A write replaces the file whole and leaves no temporary file; leftovers of killed writes
    /// (ours and Foundation's) are removed, other files kept.
    func testWriteReplacesWholeAndLeftoversAreRemoved() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("atomic-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("results.json")
        try AtomicFile.write(Data("old".utf8), to: url)
        // A killed write of the same file: its torn temporary file, then a complete write over it.
        try Data("to".utf8).write(to: dir.appendingPathComponent(".results.json" + AtomicFile.partialSuffix))
        try AtomicFile.write(Data("new contents".utf8), to: url)
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), "new contents")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["results.json"])
        try Data("x".utf8).write(to: dir.appendingPathComponent(".shard-00001.bin" + AtomicFile.partialSuffix))
        try Data("y".utf8).write(to: dir.appendingPathComponent(".dat.nosync12AB.Qx81Zk"))
        XCTAssertEqual(AtomicFile.removeLeftovers(in: dir).sorted(), [".dat.nosync12AB.Qx81Zk", ".shard-00001.bin.partial"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["results.json"])
        XCTAssertThrowsError(try AtomicFile.write(Data(), to: dir.appendingPathComponent("missing/dir/file"))) {
            XCTAssertTrue("\($0)".contains("missing/dir"), "\($0)")
        }
    }
}

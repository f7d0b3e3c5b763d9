import CKernels
import Foundation
import XCTest

/// The last-level cache size the prefetch choice and the benchmark headers use (sd_llc_bytes):
/// Linux's sysfs description first, because glibc's sysconf was 8–12× too large on AMD EPYC VMs.
final class LastLevelCacheTests: XCTestCase {
    func testSizesParseAsSysfsWritesThem() {
        XCTAssertEqual(sd_cache_size_parse("32768K\n"), 32 << 20)
        XCTAssertEqual(sd_cache_size_parse("2M"), 2 << 20)
        XCTAssertEqual(sd_cache_size_parse("1G"), 1 << 30)
        XCTAssertEqual(sd_cache_size_parse("512"), 512)
        for bad in ["", "K", "-4K", "0K", "32768X", "12K extra"] {
            XCTAssertEqual(sd_cache_size_parse(bad), -1, bad)
        }
    }

    /// A directory laid out like /sys/devices/system/cpu/cpu0/cache: the highest-level data or
    /// unified cache wins, instruction caches and incomplete entries are ignored.
    func testTheHighestDataOrUnifiedCacheIsTheLastLevel() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("llc-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        func index(_ i: Int, level: String?, type: String, size: String) throws {
            let dir = root.appendingPathComponent("index\(i)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            if let level { try (level + "\n").write(to: dir.appendingPathComponent("level"), atomically: true, encoding: .utf8) }
            try (type + "\n").write(to: dir.appendingPathComponent("type"), atomically: true, encoding: .utf8)
            try (size + "\n").write(to: dir.appendingPathComponent("size"), atomically: true, encoding: .utf8)
        }
        XCTAssertEqual(sd_llc_bytes_in(root.path), -1, "no directory: nothing described")
        try index(0, level: "1", type: "Data", size: "48K")
        try index(1, level: "1", type: "Instruction", size: "32K")
        XCTAssertEqual(sd_llc_bytes_in(root.path), 48 << 10)
        try index(2, level: "2", type: "Unified", size: "1024K")
        try index(3, level: "3", type: "Unified", size: "32768K")
        try index(4, level: "4", type: "Instruction", size: "65536K")
        try index(5, level: nil, type: "Unified", size: "999M")
        XCTAssertEqual(sd_llc_bytes_in(root.path), 32 << 20)
    }

    /// On Linux the process uses what sysfs says (lscpu's number), not the C library's.
    func testThisMachinesSizeIsTheKernelsDescription() throws {
        let sysfs = sd_llc_bytes_in("/sys/devices/system/cpu/cpu0/cache")
        guard sysfs > 0 else { throw XCTSkip("this system describes no caches under /sys") }
        XCTAssertEqual(sd_llc_bytes(), sysfs)
    }
}

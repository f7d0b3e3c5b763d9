import Foundation
import XCTest

/// `Scripts/kill-resume` at small scale, with real SIGKILLs: FKL training (checkpoint every 2
/// steps), the teacher-cache build and an eval results file, each killed 3 times at random moments
/// and resumed with the same command, must end bitwise equal to an uninterrupted run with each
/// metrics step logged once. Runs the `specdistill` binary `swift test` builds beside the test
/// bundle (the script runs the full 20 kills per method, PCL and AdaSPEC included).
final class KillResumeTests: XCTestCase {
    /// Training steps of the FKL run: ≈ 1 s uninterrupted here, so the kills land in training.
    static let steps = 60

    func testKilledRunsResumeBitwiseEqual() throws {
        let products = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [products, Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()]
            .map { $0.appendingPathComponent("specdistill").path }
        guard let binary = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            return XCTFail("no specdistill binary beside the tests (looked at \(candidates)); run the tests with Scripts/test, which builds it")
        }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Scripts/kill-resume").standardizedFileURL
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("kill-resume-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script.path, "--bin", binary, "--kills", "3", "--seed", "7", "--methods", "fkl cache eval", "--work", work.path]
        var environment = ProcessInfo.processInfo.environment
        environment["STEPS"] = String(Self.steps)
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let table = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let log = (try? String(contentsOf: work.appendingPathComponent("log.txt"), encoding: .utf8)) ?? ""
        XCTAssertEqual(process.terminationStatus, 0, "\(table)\nlast log lines:\n\(log.split(separator: "\n").suffix(15).joined(separator: "\n"))")
        for (method, metrics) in [("fkl", "yes"), ("cache", "n/a"), ("eval", "n/a")] {
            XCTAssertTrue(table.contains("| \(method) | 3 | "), "\(method): 3 kills delivered\n\(table)")
            let row = table.split(separator: "\n").first { $0.hasPrefix("| \(method) |") }.map(String.init) ?? ""
            XCTAssertTrue(row.hasSuffix("| yes | yes | \(metrics) |"), "\(method): resumed, bitwise equal, metrics\n\(table)")
        }
    }
}

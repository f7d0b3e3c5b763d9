import Evaluation
import Foundation
import TestSupport
import XCTest

/// A ``CodeExecution`` in the bubblewrap sandbox. Without python3 or a working bwrap the test is
/// skipped with the fix — except under `CI=true`, where that is a failure (the sandbox tests must
/// not pass by not running).
func sandboxedRunner(timeLimit: Double, memoryLimitMB: Int = 2048, file: StaticString = #filePath, line: UInt = #line) throws -> CodeExecution {
    guard CodeExecution.findPython() != nil else {
        try RealModels.missing("python3 is not installed (apt-get install python3)", file: file, line: line)
    }
    do { return try CodeExecution(timeLimit: timeLimit, memoryLimitMB: memoryLimitMB) } catch {
        try RealModels.missing("the code sandbox is unavailable: \(error)", file: file, line: line)
    }
}

final class SandboxTests: XCTestCase {
    /// A host directory the test can write to but the sandboxed program must not: this source
    /// file's directory (outside /tmp, which the sandbox replaces with its own tmpfs).
    let hostDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()

    func testHostileProgramsFailCleanlyAndTheEvaluationContinues() throws {
        var r = try sandboxedRunner(timeLimit: 5, memoryLimitMB: 256)
        XCTAssertNotNil(r.sandbox)
        r.processLimit = 16
        let escape = hostDirectory.appendingPathComponent("sandbox-escape-\(UUID().uuidString).txt")
        defer { try? FileManager.default.removeItem(at: escape) }
        let programs: [(name: String, code: String, reason: String?)] = [
            ("socket", "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=2)\n", "OSError"),
            ("write outside", "open(\(pythonString(escape.path)), 'w').write('escaped')\n", "Read-only file system"),
            ("fork bomb", "import os\nwhile True:\n    os.fork()\n", nil),
            ("memory bomb", "x = []\nwhile True:\n    x.append(bytearray(16 * 1024 * 1024))\n", "MemoryError"),
            ("correct", "assert sum([1, 2]) == 3\nopen('scratch.txt', 'w').write('inside its directory is fine')\n", nil),
        ]
        var outcomes: [CodeExecution.Outcome] = []
        for p in programs {
            let start = Date()
            outcomes.append(try r.run(program: p.code))
            XCTAssertLessThan(Date().timeIntervalSince(start), 5 + 3, "\(p.name): ended near the time limit at the latest")
        }
        for (p, outcome) in zip(programs, outcomes) {
            if p.name == "correct" {
                XCTAssertEqual(outcome, .passed, "a correct program passes in the sandbox: \(outcome.reason)")
            } else {
                XCTAssertFalse(outcome.passed, "\(p.name) must fail")
                XCTAssertFalse(outcome.reason.isEmpty)
                if let reason = p.reason { XCTAssertTrue(outcome.reason.contains(reason), "\(p.name): \(outcome)") }
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: escape.path), "the sandbox let a program write to the host")
    }

    /// The sandbox has its own network namespace (only its own loopback): a service listening on
    /// the host's 127.0.0.1 is unreachable from inside, though reachable from outside.
    func testHostLoopbackIsUnreachable() throws {
        let r = try sandboxedRunner(timeLimit: 5)
        let (fd, port) = try listeningSocket()
        defer { close(fd) }
        let program = "import socket\nsocket.create_connection(('127.0.0.1', \(port)), timeout=2)\n"
        let outcome = try r.run(program: program)
        XCTAssertFalse(outcome.passed, "reached the host's port \(port) from the sandbox")
        XCTAssertTrue(outcome.reason.contains("ConnectionRefusedError") || outcome.reason.contains("OSError"), outcome.reason)
        // The same program outside the sandbox connects: the listener is real.
        let unsafe = try CodeExecution(timeLimit: 5, sandboxed: false)
        XCTAssertEqual(try unsafe.run(program: program), .passed)
    }

    func testSystemIsReadOnlyAndHomeIsPrivate() throws {
        let r = try sandboxedRunner(timeLimit: 5)
        let program = """
        import os
        assert os.listdir('/tmp') == ['code'], os.listdir('/tmp')
        assert os.environ['HOME'] == os.getcwd() == '/tmp/code'
        for path in ['/usr/specdistill-probe', '/etc/specdistill-probe']:
            try:
                open(path, 'w')
                raise SystemExit('wrote ' + path)
            except OSError:
                pass
        """
        XCTAssertEqual(try r.run(program: program), .passed)
    }

    func testScorerCountsFailuresAndContinues() throws {
        let r = try sandboxedRunner(timeLimit: 5, memoryLimitMB: 256)
        let scorer = TaskScorer(codeExecution: r)
        let prompt = "def add(a, b):\n"
        let test = "def check(candidate):\n    assert candidate(1, 2) == 3\n"
        let completions = ["    import socket\n    socket.create_connection(('1.1.1.1', 80), timeout=2)\n",
                           "    return a + b\n",
                           "    x = []\n    while True:\n        x.append(bytearray(1 << 24))\n",
                           "    return a - b\n"]
        let scores = try completions.map {
            try scorer.score(EvaluationExample(task: .humaneval, prompt: prompt, test: test, entryPoint: "add"), output: $0)
        }
        XCTAssertEqual(scores, [0, 1, 0, 0])
        XCTAssertEqual(TaskScorer.mean(scores), 0.25)
    }

    /// Unsandboxed (`--unsafe-run-code`): no bwrap needed, limits still apply.
    func testUnsafeModeRunsWithoutSandbox() throws {
        guard CodeExecution.findPython() != nil else { try RealModels.missing("python3 is not installed (apt-get install python3)") }
        let r = try CodeExecution(timeLimit: 5, memoryLimitMB: 256, sandboxed: false)
        XCTAssertNil(r.sandbox)
        XCTAssertEqual(try r.run(program: "assert 1 + 1 == 2\n"), .passed)
        XCTAssertTrue(try r.run(program: "x = bytearray(1 << 30)\n").reason.contains("MemoryError"))
    }

    /// The error without bwrap names the package and the alternative.
    func testMissingBubblewrapErrorNamesTheFix() {
        XCTAssertThrowsError(try CodeSandbox.detect(find: { $0 == "bwrap" ? nil : CodeSandbox.executable($0) })) { error in
            XCTAssertTrue("\(error)".contains("apt-get install bubblewrap"), "\(error)")
            XCTAssertTrue("\(error)".contains("--unsafe-run-code"), "\(error)")
        }
        // A bwrap that cannot create its sandbox (here: /bin/false stands in for one without user namespaces).
        let broken = CodeSandbox(bwrap: "/bin/false", setpriv: nil, prlimit: "/usr/bin/prlimit")
        XCTAssertThrowsError(try broken.probe()) { error in
            XCTAssertTrue("\(error)".contains("user namespaces"), "\(error)")
            XCTAssertTrue("\(error)".contains("--unsafe-run-code"), "\(error)")
        }
    }
}

private struct SetupError: Error { let message: String }

/// A TCP socket listening on 127.0.0.1 at a free port.
private func listeningSocket() throws -> (Int32, Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw SetupError(message: "socket() failed: errno \(errno)") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &address) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && listen(fd, 4) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard ok else { close(fd); throw SetupError(message: "cannot listen on 127.0.0.1: errno \(errno)") }
    return (fd, Int(UInt16(bigEndian: address.sin_port)))
}

/// A Python string literal of `s` (for paths in generated programs).
private func pythonString(_ s: String) -> String {
    "'" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
}

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

    func testNetworkIsAbsentEvenLocally() throws {
        let r = try sandboxedRunner(timeLimit: 5)
        // Only a down loopback exists: binding to 127.0.0.1 fails, so nothing can reach a host service either.
        let program = "import socket\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\n"
        let outcome = try r.run(program: program)
        XCTAssertFalse(outcome.passed, "bound a socket: \(outcome)")
        XCTAssertTrue(outcome.reason.contains("Cannot assign requested address") || outcome.reason.contains("OSError"), outcome.reason)
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

/// A Python string literal of `s` (for paths in generated programs).
private func pythonString(_ s: String) -> String {
    "'" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
}

import Evaluation
import Foundation
import XCTest

final class TaskDataTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("taskdata-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func write(_ lines: [String], _ name: String = "data.jsonl") throws -> URL {
        let url = dir.appendingPathComponent(name)
        try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func assertError(_ body: @autoclosure () throws -> Any, contains parts: [String], line: UInt = #line) {
        XCTAssertThrowsError(try body(), line: line) { e in
            for p in parts { XCTAssertTrue("\(e)".contains(p), "\"\(e)\" lacks \"\(p)\"", line: line) }
        }
    }

    func testLoadsAllFieldsAndLimits() throws {
        let url = try write([
            #"{"task": "gsm8k", "prompt": "Q1", "response": "a\nThe final answer is: 1,000", "extra": 5}"#,
            "",
            #"{"task": "gsm8k", "prompt": "Q2", "response": "r", "answer": 42}"#,
            #"{"task": "gsm8k", "prompt": "Q3", "answer": "7"}"#,
        ])
        let t = try TaskData.load(url, task: nil)
        XCTAssertEqual(t.task, .gsm8k); XCTAssertEqual(t.name, "gsm8k"); XCTAssertEqual(t.examples.count, 3)
        XCTAssertEqual(t.examples.map(\.referenceAnswer), ["1000", "42", "7"], "answer from the response, a JSON number, a string")
        XCTAssertEqual(try TaskData.load(url, task: .gsm8k, limit: 2).examples.map(\.prompt), ["Q1", "Q2"])
        // Teacher-forced data keeps the examples with responses.
        XCTAssertEqual(t.referenceDataset(template: .plain)?.examples.count, 2)
        let code = try write([#"{"prompt": "def f():\n", "response": "    return 1\n", "test": "def check(c): pass", "entry_point": "f"}"#], "he.jsonl")
        let h = try TaskData.load(code, task: .humaneval)
        XCTAssertEqual(h.examples[0].entryPoint, "f"); XCTAssertEqual(h.task.metric, .passAt1)
    }

    func testErrorsNameFileLineAndFix() throws {
        assertError(try TaskData.load(dir.appendingPathComponent("missing.jsonl"), task: .gsm8k), contains: ["missing.jsonl", "no such file"])
        let noPrompt = try write([#"{"task": "xsum", "prompt": "p", "response": "r"}"#, #"{"task": "xsum", "text": "t"}"#])
        assertError(try TaskData.load(noPrompt, task: nil), contains: ["data.jsonl:2", "\"prompt\"", "text"])
        let unknown = try write([#"{"task": "poetry", "prompt": "p"}"#], "u.jsonl")
        assertError(try TaskData.load(unknown, task: nil), contains: ["u.jsonl:1", "unknown task \"poetry\"", "gsm8k"])
        XCTAssertThrowsError(try EvaluationTask(name: "poetry", context: "--data"))
        let untagged = try write([#"{"prompt": "p", "response": "r"}"#], "n.jsonl")
        assertError(try TaskData.load(untagged, task: nil), contains: ["n.jsonl:1", "--data gsm8k="])
        let mixed = try write([#"{"task": "xsum", "prompt": "p", "response": "r"}"#, #"{"task": "translate", "prompt": "p", "response": "r"}"#], "m.jsonl")
        assertError(try TaskData.load(mixed, task: nil), contains: ["m.jsonl:2", "one task per file"])
        assertError(try TaskData.load(mixed, task: .translate), contains: ["m.jsonl:1"])
        let noAnswer = try write([#"{"task": "asdiv", "prompt": "p", "response": "no number"}"#], "a.jsonl")
        assertError(try TaskData.load(noAnswer, task: nil), contains: ["a.jsonl:1", "answer"])
        let noTest = try write([#"{"task": "humaneval", "prompt": "p"}"#], "h.jsonl")
        assertError(try TaskData.load(noTest, task: nil), contains: ["h.jsonl:1", "entry_point"])
        let notJSON = try write(["{oops"], "j.jsonl")
        assertError(try TaskData.load(notJSON, task: .xsum), contains: ["j.jsonl:1", "not a JSON object"])
        let empty = try write([""], "e.jsonl")
        assertError(try TaskData.load(empty, task: .xsum), contains: ["no examples"])
    }

    func testScorer() throws {
        let s = TaskScorer()
        let gsm = EvaluationExample(task: .gsm8k, prompt: "p", answer: "18")
        XCTAssertEqual(try s.score(gsm, output: "The final answer is: 18.00"), 1)
        XCTAssertEqual(try s.score(gsm, output: "The final answer is: 17"), 0)
        let xsum = EvaluationExample(task: .xsum, prompt: "p", response: "police killed the gunman")
        XCTAssertEqual(try XCTUnwrap(s.score(xsum, output: "police kill the gunman")), 0.75, accuracy: 1e-12)
        // pass@1 is not computed without a code runner.
        XCTAssertNil(try s.score(EvaluationExample(task: .humaneval, prompt: "p", test: "t", entryPoint: "f"), output: "x"))
        XCTAssertEqual(TaskScorer.mean([1, 0, 1, 0]), 0.5)
        XCTAssertNil(TaskScorer.mean([1, nil]))
    }
}

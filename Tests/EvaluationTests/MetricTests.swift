import Evaluation
import Foundation
import XCTest

let fixturesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

final class ArithmeticAnswerTests: XCTestCase {
    func testFinalNumberExtraction() {
        // After the marker: its first number, whatever follows.
        XCTAssertEqual(ArithmeticAnswer.extract("6 * 3 = 18\nThe final answer is: 18"), "18")
        XCTAssertEqual(ArithmeticAnswer.extract("The final answer is: 18 dollars, since 3 * 6 = 18 and 2 + 2 = 4"), "18")
        XCTAssertEqual(ArithmeticAnswer.extract("the FINAL answer is: $1,234.50."), "1234.5")
        // The last marker counts.
        XCTAssertEqual(ArithmeticAnswer.extract("The final answer is: 3. Wait. The final answer is: 7"), "7")
        // Without the marker: the last number.
        XCTAssertEqual(ArithmeticAnswer.extract("She has 12 + 3 = 15 cups, so 5 dozen."), "5")
        XCTAssertEqual(ArithmeticAnswer.extract("It costs -4.0 degrees"), "-4")
        XCTAssertNil(ArithmeticAnswer.extract("no numbers here"))
        // Ranges and words with a dash are not negative numbers; a sentence-final point is no decimal.
        XCTAssertEqual(ArithmeticAnswer.extract("pages 10-12"), "12")
        XCTAssertEqual(ArithmeticAnswer.extract("The answer is 42."), "42")
        // Commas only between digits belong to a number.
        XCTAssertEqual(ArithmeticAnswer.numbers(in: "1,000 and 2, 3,4"), ["1,000", "2", "3,4"])
    }

    func testNormalisation() {
        let cases: [(String, String)] = [("18", "18"), ("18.0", "18"), ("2.50", "2.5"), ("1,000", "1000"), ("$5", "5"),
                                         ("007", "7"), ("0.5", "0.5"), ("-0", "0"), ("-3.00", "-3"), ("100", "100")]
        for (raw, normal) in cases { XCTAssertEqual(ArithmeticAnswer.normalize(raw), normal, raw) }
        XCTAssertTrue(ArithmeticAnswer.isCorrect(output: "… so The final answer is: 1,000.00", answer: "1000"))
        XCTAssertFalse(ArithmeticAnswer.isCorrect(output: "The final answer is: 100", answer: "1000"))
        XCTAssertFalse(ArithmeticAnswer.isCorrect(output: "I do not know", answer: "3"))
    }
}

final class RougeLTests: XCTestCase {
    func testHandComputedCases() {
        // Lin (2004) §3.1 example: S1 "police killed the gunman", S2 "police kill the gunman" has
        // LCS 3 of 4 words: P = R = F = 0.75; S3 "the gunman kill police" has LCS 2: 0.5.
        let s2 = RougeL.score(candidate: "police kill the gunman", reference: "police killed the gunman")
        XCTAssertEqual(s2.lcs, 3); XCTAssertEqual(s2.f1, 0.75, accuracy: 1e-12)
        let s3 = RougeL.score(candidate: "the gunman kill police", reference: "police killed the gunman")
        XCTAssertEqual(s3.lcs, 2); XCTAssertEqual(s3.f1, 0.5, accuracy: 1e-12)
        // Unequal lengths: candidate 2 words, reference 4, LCS 2 → P 1, R 0.5, F 2/3.
        let s = RougeL.score(candidate: "A, b!", reference: "a x B y")
        XCTAssertEqual(s.precision, 1); XCTAssertEqual(s.recall, 0.5); XCTAssertEqual(s.f1, 2.0 / 3, accuracy: 1e-12)
        XCTAssertEqual(RougeL.score(candidate: "", reference: "a b").f1, 0)
        XCTAssertEqual(RougeL.score(candidate: "x y", reference: "a b").f1, 0)
        XCTAssertEqual(RougeL.tokenize("It's 2.5% — naïve!"), ["it", "s", "2", "5", "naïve"])
    }

    /// The dynamic programme against brute force: the longest common subsequence by trying every
    /// subsequence of the shorter list, on random lists of up to 9 items from a 3-letter alphabet.
    func testLCSAgainstBruteForce() {
        var seed: UInt64 = 99
        func next(_ n: Int) -> Int {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Int((seed >> 33) % UInt64(n))
        }
        func isSubsequence(_ s: [Int], of t: [Int]) -> Bool {
            var i = 0
            for x in t where i < s.count && s[i] == x { i += 1 }
            return i == s.count
        }
        for _ in 0..<300 {
            let a = (0..<next(10)).map { _ in next(3) }, b = (0..<next(10)).map { _ in next(3) }
            var best = 0
            for mask in 0..<(1 << a.count) {
                let sub = a.indices.filter { mask & (1 << $0) != 0 }.map { a[$0] }
                if sub.count > best && isSubsequence(sub, of: b) { best = sub.count }
            }
            XCTAssertEqual(RougeL.lcsLength(a, b), best, "\(a) vs \(b)")
            XCTAssertEqual(RougeL.lcsLength(b, a), best, "symmetric")
        }
    }

    /// Scores written by Google's rouge_score (Scripts/make-evaluation-fixtures).
    func testAgainstRougeScoreFixture() throws {
        let url = fixturesDirectory.appendingPathComponent("rouge_l.json")
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let pairs = object["pairs"] as! [[String: Any]]
        XCTAssertEqual(pairs.count, 40)
        for p in pairs {
            let s = RougeL.score(candidate: p["candidate"] as! String, reference: p["reference"] as! String)
            // Both compute the same rationals in double precision.
            XCTAssertEqual(s.precision, p["precision"] as! Double, accuracy: 1e-12, "\(p)")
            XCTAssertEqual(s.recall, p["recall"] as! Double, accuracy: 1e-12, "\(p)")
            XCTAssertEqual(s.f1, p["f1"] as! Double, accuracy: 1e-12, "\(p)")
        }
    }
}

final class CodeExecutionTests: XCTestCase {
    let prompt = "from typing import List\n\n\ndef add(xs: List[int]) -> int:\n    \"\"\"Sum of xs.\n    >>> add([1, 2])\n    3\n    \"\"\"\n"
    let test = "def check(candidate):\n    assert candidate([1, 2]) == 3\n    assert candidate([]) == 0\n"

    func runner() throws -> CodeExecution { try sandboxedRunner(timeLimit: 5) }

    func testCorrectAndWrongCompletions() throws {
        let r = try runner()
        // A body continuing the prompt, followed by scaffolding the stop sequences cut off.
        let body = "    return sum(xs)\n\n\nif __name__ == '__main__':\n    raise SystemExit(1)\n"
        XCTAssertEqual(try r.run(program: CodeExecution.program(prompt: prompt, completion: body, test: test, entryPoint: "add")), .passed)
        let wrong = "    return len(xs)\n"
        guard case .failed(_, let err) = try r.run(program: CodeExecution.program(prompt: prompt, completion: wrong, test: test,
                                                                                    entryPoint: "add")) else {
            return XCTFail("a wrong body must fail")
        }
        XCTAssertTrue(err.contains("AssertionError"), err)
        // A chat answer with a fenced block that redefines the function.
        let chat = "Here is the code:\n```python\ndef add(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return total\n```\nDone."
        XCTAssertEqual(try r.run(program: CodeExecution.program(prompt: prompt, completion: chat, test: test, entryPoint: "add")), .passed)
        // A syntax error fails.
        XCTAssertNotEqual(try r.run(program: CodeExecution.program(prompt: prompt, completion: "    return (\n", test: test,
                                                                    entryPoint: "add")), .passed)
    }

    func testLimits() throws {
        var r = try runner()
        r.timeLimit = 1
        let start = Date()
        XCTAssertEqual(try r.run(program: "while True:\n    pass\n"), .timedOut)
        XCTAssertLessThan(Date().timeIntervalSince(start), 4, "killed near the limit")
        r.memoryLimitMB = 200
        XCTAssertNotEqual(try r.run(program: "x = bytearray(1024 * 1024 * 1024)\n"), .passed, "1 GB under a 200 MB limit")
        // The working directory is a fresh temporary one, removed afterwards.
        let probe = "import os\nassert os.listdir('.') == ['main.py'] or sorted(os.listdir('.')) == ['main.py', 'stderr.txt', 'stdout.txt'], os.listdir('.')\nassert os.environ['HOME'] == os.getcwd()\n"
        XCTAssertEqual(try r.run(program: probe), .passed)
    }

    func testCompletionCutting() {
        let (code, standalone) = CodeExecution.code(fromCompletion: "    return 1\ndef other():\n    pass\n", entryPoint: "f")
        XCTAssertEqual(code, "    return 1"); XCTAssertFalse(standalone)
        let (code2, standalone2) = CodeExecution.code(fromCompletion: "def f(x):\n    return x\nprint(f(2))\n", entryPoint: "f")
        XCTAssertEqual(code2, "def f(x):\n    return x"); XCTAssertTrue(standalone2)
        let (code3, _) = CodeExecution.code(fromCompletion: "def f(x):\n    return x\n\ndef f(x):\n    return x\n\ndef f", entryPoint: "f")
        XCTAssertEqual(code3, "def f(x):\n    return x\n")
    }
}

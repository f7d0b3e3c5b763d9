import Foundation
import TestSupport
import XCTest

/// What `decode` writes: the `--stats json` document on the last line of stdout, prompt files,
/// exit statuses; and the vocabulary rule seen from the command line.
final class DecodeOutputTests: XCTestCase {
    func decode(_ extra: [String], file: StaticString = #filePath, line: UInt = #line) throws -> CLI.Result {
        let f = try CLIFixture.get()
        return try CLI.run(["decode", "-m", f.target, "--max-tokens", "6", "--threads", "1"] + extra, in: f.directory, file: file, line: line)
    }

    /// The last line of stdout as a JSON object (fails the test when it is not one).
    func statsJSON(_ r: CLI.Result, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        XCTAssertEqual(r.status, 0, r.transcript, file: file, line: line)
        let object = try? JSONSerialization.jsonObject(with: Data(r.lastLine.utf8)) as? [String: Any]
        return try XCTUnwrap(object, "the last line of stdout is not a JSON object: \(r.lastLine)", file: file, line: line)
    }

    /// `--draft-from-target` of a GGUF target held natively runs a Q8_0 copy (the type distilled
    /// drafts ship in, so an undistilled draft costs what a distilled one does) and still decodes
    /// the plain output exactly; with `--weights f32` the draft stays float32.
    func testDraftFromANativeTargetRunsAsQ8_0() throws {
        let smol = try RealModels.smolLM2Path()
        for (weights, type) in [("native", "Q8_0"), ("f32", "float32")] {
            let r = try CLI.run(["decode", "-m", smol, "--weights", weights, "--draft-from-target", "1", "--prompt", "The capital of France is",
                                 "--max-tokens", "8", "--compare", "--stats", "json"], in: FileManager.default.temporaryDirectory)
            let json = try statsJSON(r)
            XCTAssertTrue(r.stderr.contains("parameters, \(type))"), "--weights \(weights): \(r.transcript)")
            XCTAssertEqual(json["outputsIdentical"] as? Bool, true)
        }
    }

    func testStatsJSONSchema() throws {
        let r = try decode(["--draft-from-target", "1", "--prompt", "What is 3 plus", "--stats", "json", "--compare"])
        let json = try statsJSON(r)
        for key in ["configuration", "statistics", "derived", "mismatches", "outputsIdentical"] {
            XCTAssertNotNil(json[key], "top-level key \(key) in \(json.keys.sorted())")
        }
        XCTAssertEqual(json["outputsIdentical"] as? Bool, true, "at temperature 0 with --compare")
        XCTAssertEqual((json["mismatches"] as? [Any])?.count, 0)
        let s = try XCTUnwrap(json["statistics"] as? [String: Any])
        for key in ["prompts", "emitted", "rounds", "drafted", "accepted", "rejections", "bonusTokens", "targetCalls", "draftCalls"] {
            XCTAssertNotNil(s[key] as? Int, "statistics.\(key) is an integer: \(String(describing: s[key]))")
        }
        for key in ["prefillSeconds", "draftSeconds", "verifySeconds", "otherSeconds"] {
            XCTAssertNotNil(s[key] as? Double, "statistics.\(key) is a number: \(String(describing: s[key]))")
        }
        XCTAssertNotNil(s["acceptanceHistogram"] as? [Int], "statistics.acceptanceHistogram is an integer array")
        XCTAssertEqual(s["prompts"] as? Int, 1)
        XCTAssertEqual(s["emitted"] as? Int, 6, "--max-tokens 6 (the tiny model has no reason to stop early)")
        XCTAssertNotNil((s["baseline"] as? [String: Any])?["emitted"] as? Int, "statistics.baseline with --compare")
        let d = try XCTUnwrap(json["derived"] as? [String: Any])
        for key in ["tokensPerTargetCall", "alphaPerJudged", "costRatio", "predictedSpeedup", "measuredSpeedup", "tokensPerSecond"] {
            XCTAssertNotNil(d[key] as? Double, "derived.\(key) is a number: \(String(describing: d[key]))")
        }
        let c = try XCTUnwrap(json["configuration"] as? [String: Any])
        XCTAssertEqual((c["draft"] as? [String: Any])?["draftMax"] as? Int, 5)
        XCTAssertEqual((c["sampling"] as? [String: Any])?["temperature"] as? Double, 0)
        XCTAssertNotNil((c["acceptance"] as? [String: Any])?["greedy"], "greedy acceptance at temperature 0: \(String(describing: c["acceptance"]))")
        // Statistics go to stderr with --stats text and nowhere with none: stdout is the text only.
        let none = try decode(["--draft-from-target", "1", "--prompt", "What is 3 plus", "--stats", "none"])
        XCTAssertEqual(none.status, 0, none.transcript)
        XCTAssertNil(try? JSONSerialization.jsonObject(with: Data(none.lastLine.utf8)), "no JSON with --stats none: \(none.stdout)")
        XCTAssertFalse(none.stderr.contains("speculative decoding ("), none.stderr)
        let text = try decode(["--draft-from-target", "1", "--prompt", "What is 3 plus"])
        XCTAssertTrue(text.stderr.contains("speculative decoding ("), text.transcript)
    }

    /// `--prompts`: JSONL with CRLF line ends and blank lines, decoded in order; errors name the line.
    func testPromptFiles() throws {
        let f = try CLIFixture.get()
        let crlf = try f.file("crlf.jsonl", "{\"prompt\": \"What is 1 plus\"}\r\n\r\n{\"prompt\": \"What is 2 plus\", \"response\": \"ignored\"}\r\n")
        let r = try decode(["--draft-from-target", "1", "--prompts", crlf, "--stats", "json"])
        let json = try statsJSON(r)
        XCTAssertEqual((json["statistics"] as? [String: Any])?["prompts"] as? Int, 2, r.transcript)
        let first = try XCTUnwrap(r.stdout.range(of: "What is 1 plus")), second = try XCTUnwrap(r.stdout.range(of: "What is 2 plus"))
        XCTAssertLessThan(first.lowerBound, second.lowerBound, "prompts decoded in file order")
        XCTAssertFalse(r.stdout.contains("\r"), "no carriage return reaches the prompts")
        // --output-jsonl: one line per prompt.
        let out = try decode(["--draft-from-target", "1", "--prompts", crlf, "--stats", "none", "--output-jsonl", "out.jsonl"])
        XCTAssertEqual(out.status, 0, out.transcript)
        let lines = try String(contentsOf: f.directory.appendingPathComponent("out.jsonl"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        XCTAssertEqual((try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: Any])?["prompt"] as? String, "What is 2 plus")

        let bad = try f.file("bad.jsonl", "{\"prompt\": \"ok\"}\n{\"text\": \"no prompt field\"}\n")
        let badRun = try decode(["--draft-from-target", "1", "--prompts", bad])
        XCTAssertNotEqual(badRun.status, 0, badRun.transcript)
        XCTAssertTrue(badRun.stderr.contains("bad.jsonl:2: expected a JSON object with a string field \"prompt\""), badRun.transcript)
        let empty = try f.file("empty.jsonl", "\n\r\n")
        let emptyRun = try decode(["--draft-from-target", "1", "--prompts", empty])
        XCTAssertNotEqual(emptyRun.status, 0, emptyRun.transcript)
        XCTAssertTrue(emptyRun.stderr.contains("no prompts"), emptyRun.transcript)
        let missing = try decode(["--draft-from-target", "1", "--prompts", "missing.jsonl"])
        XCTAssertNotEqual(missing.status, 0, missing.transcript)
        XCTAssertTrue(missing.stderr.contains("missing.jsonl: cannot read the file"), missing.transcript)
    }

    /// The pair that used to pass train and fail decode: a draft whose logit width is padded past
    /// the target's tokenizer and that has no tokenizer of its own. Both commands accept it now.
    func testPaddedDraftWithoutTokenizerPassesTrainAndDecode() throws {
        let f = try CLIFixture.get()
        let r = try decode(["-md", f.paddedDraft, "--prompt", "What is 3 plus", "--stats", "json"])
        let json = try statsJSON(r)
        XCTAssertEqual((json["statistics"] as? [String: Any])?["emitted"] as? Int, 6, r.transcript)
        let train = try CLI.run(["train", "-m", f.target, "-md", f.paddedDraft, "--data", f.pairs, "--eval-data", f.pairs,
                                 "--steps", "1", "--batch-size", "2", "--context", "32", "--eval-examples", "2", "--save-every", "0",
                                 "--threads", "1", "--out", "padded-run"], in: f.directory)
        XCTAssertEqual(train.status, 0, train.transcript)
        // The trained draft (saved with the target's tokenizer) decodes too.
        let again = try decode(["-md", f.directory.appendingPathComponent("padded-run/model").path, "--prompt", "What is 3 plus", "--stats", "none"])
        XCTAssertEqual(again.status, 0, again.transcript)
    }

    /// --compare at temperature 0 succeeds (exit 0) when the outputs agree, which they must.
    func testCompareExitsZeroWhenOutputsAgree() throws {
        let r = try decode(["-md", try CLIFixture.get().target, "--prompt", "What is 7 plus", "--compare", "--stats", "text"])
        XCTAssertEqual(r.status, 0, r.transcript)
        XCTAssertTrue(r.stderr.contains("speculative and plain outputs are identical"), r.transcript)
    }
}

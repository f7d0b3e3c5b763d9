import Foundation
import XCTest

/// llama.cpp's model flags (`-m/--model`, `-md/--model-draft`) and the older spellings kept as
/// aliases (`--target`, `--draft`) parse to the same command: the same output, byte for byte.
final class FlagSpellingTests: XCTestCase {
    func testDecodeSpellingsGiveTheSameOutput() throws {
        let f = try CLIFixture.get()
        let rest = ["--prompt", "What is 12 plus", "--max-tokens", "6", "--stats", "none", "--threads", "1"]
        var outputs: [String] = []
        for flags in [["-m", f.target, "-md", f.target], ["--model", f.target, "--model-draft", f.target],
                      ["--target", f.target, "--draft", f.target]] {
            let r = try CLI.run(["decode"] + flags + rest, in: f.directory)
            XCTAssertEqual(r.status, 0, "\(flags)\n\(r.transcript)")
            outputs.append(r.stdout)
        }
        XCTAssertTrue(outputs[0].hasPrefix("What is 12 plus"), outputs[0])
        XCTAssertEqual(Set(outputs).count, 1, "every spelling decodes the same text: \(outputs)")
        // llama.cpp's -n / --n-predict for the number of new tokens.
        for spelling in ["-n", "--n-predict"] {
            let args = ["decode", "-m", f.target, "-md", f.target] + rest.map { $0 == "--max-tokens" ? spelling : $0 }
            let r = try CLI.run(args, in: f.directory)
            XCTAssertEqual(r.stdout, outputs[0], "\(spelling)\n\(r.transcript)")
        }
        let short = try CLI.run(["decode", "-m", f.target, "-md", f.target, "--prompt", "What is 12 plus", "-n", "2", "--stats", "none"],
                                in: f.directory)
        XCTAssertNotEqual(short.stdout, outputs[0], "-n 2 stops earlier than 6 tokens")
    }

    /// train: the spellings parse (a later validation error proves the parse went through) and a
    /// one-step run writes the same draft with either.
    func testTrainSpellings() throws {
        let f = try CLIFixture.get()
        let data = ["--data", f.pairs, "--eval-data", f.pairs]
        for flags in [["-m", f.target, "-md", "tiny"], ["--model", f.target, "--model-draft", "tiny"], ["--target", f.target, "--draft", "tiny"]] {
            let r = try CLI.run(["train"] + flags + data + ["--out", "x", "--lambda", "2"], in: f.directory)
            XCTAssertEqual(r.status, 64, "\(flags)\n\(r.transcript)")
            XCTAssertTrue(r.stderr.contains("--lambda must be in [0, 1]"), "\(flags) parsed; --lambda refused\n\(r.transcript)")
        }
        let run = ["--draft-from-target", "1", "--steps", "1", "--batch-size", "2", "--context", "32", "--eval-examples", "2",
                   "--save-every", "0", "--threads", "1"]
        for (flags, out) in [(["-m", f.target], "train-new"), (["--target", f.target], "train-old")] {
            let r = try CLI.run(["train"] + flags + data + run + ["--out", out], in: f.directory)
            XCTAssertEqual(r.status, 0, r.transcript)
        }
        let weights = { (out: String) in try Data(contentsOf: f.directory.appendingPathComponent("\(out)/model/model.safetensors")) }
        XCTAssertEqual(try weights("train-new"), try weights("train-old"), "the same draft from either spelling")
    }

    /// eval's NAME=MODEL drafts: --drafts, -md, --model-draft and --draft are one option.
    func testEvalDraftSpellings() throws {
        let f = try CLIFixture.get()
        for flag in ["--drafts", "-md", "--model-draft", "--draft"] {
            let r = try CLI.run(["eval", "-m", f.target, flag, "nameless", "--data", f.pairs], in: f.directory)
            XCTAssertEqual(r.status, 64, r.transcript)
            XCTAssertTrue(r.stderr.contains("--drafts nameless: expected NAME=MODEL"), "eval \(flag) parsed\n\(r.transcript)")
        }
    }

    func testTargetOnlyCommandsAcceptBothSpellings() throws {
        let f = try CLIFixture.get()
        for flag in ["-m", "--model", "--target"] {
            let cache = try CLI.run(["cache", "build", flag, f.target, "--data", f.pairs, "--out", "c", "--top-k", "0"], in: f.directory)
            XCTAssertEqual(cache.status, 64, cache.transcript)
            XCTAssertTrue(cache.stderr.contains("--top-k must be ≥ 1"), "cache build \(flag) parsed\n\(cache.transcript)")
            let gen = try CLI.run(["data", "generate", flag, f.target, "--prompts", f.pairs, "--out", "gen\(flag).jsonl", "--limit", "1",
                                   "--template", "plain", "--max-tokens", "2", "--keep-unfinished", "--threads", "1"], in: f.directory)
            XCTAssertEqual(gen.status, 0, gen.transcript)
            XCTAssertTrue(gen.stdout.contains("1 responses written"), gen.transcript)
            let eval = try CLI.run(["eval", flag, f.target, "--data", f.pairs], in: f.directory)
            XCTAssertTrue(eval.stderr.contains("give --drafts"), "eval \(flag) parsed\n\(eval.transcript)")
        }
    }

    /// `help-head` says what its head predicts with `--predict`, so `--target` stays the model flag
    /// (it once named both, and `--target disagreement` was read as a model path).
    func testHelpHeadPredictDoesNotShadowTheTargetFlag() throws {
        let f = try CLIFixture.get()
        for flag in ["-m", "--target"] {
            let r = try CLI.run(["help-head", flag, f.target, "-md", "tiny", "--prompts", f.pairs, "--predict", "disagreement",
                                 "--examples", "1", "--out", "h.json"], in: f.directory)
            XCTAssertEqual(r.status, 64, r.transcript)
            XCTAssertTrue(r.stderr.contains("--examples must be ≥ 2"), "help-head \(flag) parsed\n\(r.transcript)")
        }
        let bad = try CLI.run(["help-head", "-m", f.target, "-md", "tiny", "--prompts", f.pairs, "--predict", "agreement",
                               "--out", "h.json"], in: f.directory)
        XCTAssertEqual(bad.status, 64, bad.transcript)
        XCTAssertTrue(bad.stderr.contains("--predict"), bad.transcript)
    }

    /// `--draft-p-min` is one option of decode and eval (llama.cpp's name): a threshold or `auto`;
    /// anything else, or a threshold outside [0, 1], is refused naming the option.
    func testDraftPMinIsSharedByDecodeAndEval() throws {
        let f = try CLIFixture.get()
        let decode = ["decode", "-m", f.target, "-md", f.target, "--prompt", "What is 12 plus", "-n", "6", "--stats", "none", "--threads", "1"]
        var texts: [String] = []
        for p in ["0", "0.5", "auto"] {
            let r = try CLI.run(decode + ["--draft-p-min", p], in: f.directory)
            XCTAssertEqual(r.status, 0, "decode --draft-p-min \(p)\n\(r.transcript)")
            texts.append(r.stdout)
        }
        XCTAssertEqual(Set(texts).count, 1, "greedy text is the target's whatever the stop: \(texts)")
        let bad = try CLI.run(decode + ["--draft-p-min", "often"], in: f.directory)
        XCTAssertEqual(bad.status, 64, bad.transcript)
        XCTAssertTrue(bad.stderr.contains("draft-p-min"), bad.transcript)
        let range = try CLI.run(decode + ["--draft-p-min", "1.5"], in: f.directory)
        XCTAssertEqual(range.status, 64, range.transcript)
        XCTAssertTrue(range.stderr.contains("draft-p-min must be in [0, 1]"), range.transcript)
        let eval = try CLI.run(["eval", "-m", f.target, "--drafts", "self=\(f.target)", "--data", "gsm8k=\(f.pairs)", "--limit", "1",
                                "-n", "4", "--draft-p-min", "auto", "--format", "markdown", "--threads", "1"], in: f.directory)
        XCTAssertEqual(eval.status, 0, eval.transcript)
        XCTAssertTrue(eval.stdout.contains("p-min auto"), "the settings line names the stop\n\(eval.stdout)")
    }
}

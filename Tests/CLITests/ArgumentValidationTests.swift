import Foundation
import XCTest

/// Impossible or malformed options: a non-zero exit (64, EX_USAGE, for argument errors) and a
/// message on stderr that names the option at fault. Validation runs before any model loads, so
/// these use paths that need not exist except where the message depends on the model.
final class ArgumentValidationTests: XCTestCase {
    /// Exit status of ArgumentParser for a usage error (EX_USAGE).
    static let usage: Int32 = 64

    /// Runs ARGS, expects a usage error whose message contains every string of `names`.
    func refuse(_ args: [String], naming names: [String], status: Int32 = usage, file: StaticString = #filePath, line: UInt = #line) throws {
        let f = try CLIFixture.get()
        let r = try CLI.run(args, in: f.directory, file: file, line: line)
        XCTAssertEqual(r.status, status, "specdistill \(args.joined(separator: " "))\n\(r.transcript)", file: file, line: line)
        for name in names {
            XCTAssertTrue(r.stderr.contains(name), "the message should name \(name):\n\(r.transcript)", file: file, line: line)
        }
    }

    func testDecodeRefusesImpossibleCombinations() throws {
        let t = try CLIFixture.get().target
        try refuse(["decode", "-m", t, "--prompt", "x"], naming: ["-md", "--draft-from-target"])
        try refuse(["decode", "-m", t, "-md", t, "--draft-from-target", "1", "--prompt", "x"], naming: ["-md", "--draft-from-target"])
        try refuse(["decode", "-m", t, "-md", t], naming: ["--prompt", "--prompts"])
        try refuse(["decode", "-m", t, "-md", t, "--prompt", "x", "--prompts", "p.jsonl"], naming: ["--prompt", "--prompts"])
        try refuse(["decode", "-m", t, "-md", t, "--prompt", "x", "--draft-max", "40"], naming: ["--draft-max"])
        try refuse(["decode", "-m", t, "-md", t, "--prompt", "x", "--accept", "lossy"], naming: ["--epsilon"])
        try refuse(["decode", "-m", t, "-md", t, "--prompt", "x", "--lenience", "sq"], naming: ["--lenience", "--accept lossy"])
        try refuse(["decode", "-m", t, "-md", t, "--prompt", "x", "--temperature", "-1"], naming: ["--temperature"])
        try refuse(["decode", "-m", t, "-md", t, "--prompt", "x", "--draft-vocab", "16"], naming: ["--draft-vocab-data"])
        try refuse(["decode", "-m", t, "-md", t, "--prompt", "x", "--budget", "0.2"], naming: ["--budget", "--mode help"])
        try refuse(["decode", "-m", t, "--spec-type", "lookup", "-md", t, "--prompt", "x"], naming: ["--spec-type lookup"])
        try refuse(["decode", "-m", t, "-md", t, "--prompt", "x", "--stats", "yaml"], naming: ["--stats"])
    }

    func testTrainRefusesImpossibleCombinations() throws {
        let f = try CLIFixture.get()
        let base = ["train", "-m", f.target, "--data", f.pairs, "--eval-data", f.pairs, "--out", "refused"]
        try refuse(base, naming: ["-md", "--draft-from-target"])
        try refuse(base + ["-md", "tiny", "--draft-from-target", "1"], naming: ["-md", "--draft-from-target"])
        // Typed enums: the parser names the option and the accepted values.
        try refuse(base + ["-md", "tiny", "--method", "kl"], naming: ["--method", "fkl", "pcl"])
        try refuse(base + ["-md", "tiny", "--data-source", "online"], naming: ["--data-source", "mixed"])
        try refuse(base + ["-md", "tiny", "--normalization", "per-batch"], naming: ["--normalization", "per-token"])
        try refuse(base + ["-md", "tiny", "--schedule", "linear"], naming: ["--schedule", "cosine"])
        try refuse(base + ["-md", "tiny", "--template", "llama3"], naming: ["--template", "gsm8k-chat"])
        try refuse(base + ["-md", "tiny", "--method", "jsd", "--beta", "2"], naming: ["--beta"])
        try refuse(base + ["-md", "tiny", "--lambda-start", "0"], naming: ["--lambda-start", "--data-source mixed"])
        try refuse(base + ["-md", "tiny", "--steps", "2", "--epochs", "1"], naming: ["--steps", "--epochs"])
        try refuse(base + ["-md", "tiny", "--draft-vocab-data", f.pairs], naming: ["--draft-vocab"])
        try refuse(base + ["-md", "tiny", "--method", "pcl", "--draft-vocab", "8"], naming: ["--draft-vocab", "pcl"])
        try refuse(base + ["-md", "tiny", "--teacher-cache", "c", "--data-source", "teacher"], naming: ["--teacher-cache"])
        try refuse(base + ["-md", "tiny", "--pcl-steps", "4"], naming: ["--pcl-steps", "--method pcl"])
        try refuse(base + ["-md", "tiny", "--method", "pcl", "--pcl-steps", "0"], naming: ["--pcl-steps"])
        try refuse(base + ["-md", "tiny", "--method", "pcl", "--pcl-steps", "all"], naming: ["--pcl-steps"])
        try refuse(base + ["-md", "tiny", "--feature-staleness", "17"], naming: ["--feature-staleness"])
        try refuse(base + ["-md", "tiny", "--method", "adaspec", "--feature-staleness", "4"], naming: ["--feature-staleness", "fkl"])
        // The optimiser group train and pretrain share.
        try refuse(base + ["-md", "tiny", "--lr", "0"], naming: ["--lr"])
        try refuse(base + ["-md", "tiny", "--grad-accum", "0"], naming: ["--grad-accum"])
        try refuse(base + ["-md", "tiny", "--batch-size", "0"], naming: ["--batch-size"])
        try refuse(base + ["-md", "tiny", "--clip", "-1"], naming: ["--clip"])
        try refuse(["pretrain", "--data", f.pairs, "--model-config", "tiny", "--train-tokenizer", "300", "--out", "p", "--warmup", "-2"],
                   naming: ["--warmup"])
    }

    func testOtherCommandsRefuseBadValues() throws {
        let f = try CLIFixture.get()
        try refuse(["eval", "-m", f.target, "--data", f.pairs], naming: ["--drafts", "--draft-from-target"])
        try refuse(["eval", "-m", f.target, "--data", f.pairs, "--lookup", "--chain-policy", "best"], naming: ["--chain-policy"])
        // Comma-separated enum lists: an unknown or empty item names the option and the values.
        try refuse(["eval", "-m", f.target, "--data", f.pairs, "--lookup", "--chain-policy", "first,best"], naming: ["--chain-policy", "expected"])
        try refuse(["eval", "-m", f.target, "--data", f.pairs, "--lookup", "--chain-policy", "first,"], naming: ["--chain-policy"])
        try refuse(["train", "-m", f.target, "-md", "tiny", "--data", f.pairs, "--out", "r", "--method", "pcl", "--off-policy", "dataset,web"],
                   naming: ["--off-policy", "replay"])
        try refuse(["bench", "costs", "-m", f.target], naming: ["--drafts"])
        try refuse(["bench", "costs", "-m", f.target, "-md", "a=\(f.target)", "--alpha", "b=0.5"], naming: ["--alpha b", "names: a"])
        try refuse(["bench", "costs", "-m", f.target, "-md", "a=\(f.target)", "--alpha", "a=1.5"], naming: ["--alpha a=1.5", "[0, 1]"])
        try refuse(["bench", "model", "--arch", "mamba"], naming: ["--arch", "gpt_neox"])
        try refuse(["bench", "decode", "-m", f.target, "--append-k", "1,0"], naming: ["--append-k", "1 to 64"])
        try refuse(["bench", "decode", "-m", f.target, "--append-k", "1,two"], naming: ["--append-k"])
        try refuse(["bench", "model", "--config", "all"], naming: ["--config", "both"])
        try refuse(["quantize", f.target, "out.gguf", "--output-tensor-type", "q3_k"], naming: ["--output-tensor-type", "q4_0"])
        try refuse(["quantize", f.target, "out.gguf", "--token-embedding-type", "int8"], naming: ["--token-embedding-type", "q8_0"])
        try refuse(["cache", "build", "-m", f.target, "--data", f.pairs, "--out", "c", "--top-k", "0"], naming: ["--top-k"])
        try refuse(["cache", "build", "-m", f.target, "--data", f.pairs, "--out", "c", "--template", "x"], naming: ["--template"])
        try refuse(["pretrain", "--data", f.pairs, "--model-config", "tiny", "--out", "p"], naming: ["--tokenizer", "--train-tokenizer"])
        try refuse(["pretrain", "--data", f.pairs, "--model-config", "tiny", "--train-tokenizer", "300", "--out", "p", "--architecture", "mamba"],
                   naming: ["--architecture", "gpt_neox"])
        try refuse(["pretrain", "--data", f.pairs, "--model-config", "tiny", "--train-tokenizer", "300", "--out", "p", "--schedule", "step"],
                   naming: ["--schedule", "cosine"])
        try refuse(["decode", "-m", f.target, "-md", f.target, "--prompt", "x", "--no-such-flag"], naming: ["--no-such-flag"])
    }

    /// Errors after parsing (a missing model, a draft of another tokenizer) exit with 1 and say what to fix.
    func testRuntimeErrorsExitWithOne() throws {
        let f = try CLIFixture.get()
        try refuse(["decode", "-m", "no-such-model", "-md", f.target, "--prompt", "x"], naming: ["no-such-model"], status: 1)
        try refuse(["decode", "-m", f.target, "-md", f.otherTokenizer, "--prompt", "x"],
                   naming: ["tokenizer has 320 tokens and the draft's 300", "use a draft trained with the target's tokenizer"], status: 1)
        try refuse(["train", "-m", f.target, "-md", f.otherTokenizer, "--data", f.pairs, "--eval-data", f.pairs, "--out", "other-run",
                    "--steps", "1"], naming: ["the draft's 300", "use a draft trained with the target's tokenizer"], status: 1)
        // The AdaSPEC reference is held to the same rule.
        try refuse(["train", "-m", f.target, "--draft-from-target", "1", "--method", "adaspec", "--reference", f.otherTokenizer,
                    "--data", f.pairs, "--eval-data", f.pairs, "--out", "reference-run", "--steps", "1", "--batch-size", "2", "--context", "32",
                    "--eval-examples", "2"], naming: ["the reference's 300", "use a reference trained with the target's tokenizer"], status: 1)
    }

    func testHelpExitsWithZero() throws {
        let f = try CLIFixture.get()
        for command in [["decode"], ["train"], ["eval"], ["cache", "build"], ["data", "generate"], ["bench", "distill"]] {
            let r = try CLI.run(command + ["--help"], in: f.directory)
            XCTAssertEqual(r.status, 0, r.transcript)
            XCTAssertTrue(r.stdout.contains("-m, --model, --target <"), "\(command): the target flag and its alias\n\(r.stdout.prefix(1500))")
        }
    }
}

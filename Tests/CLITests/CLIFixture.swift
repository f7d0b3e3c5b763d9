import Foundation
import XCTest

/// Tiny models and data files made once per test process with the binary itself (as
/// Scripts/kill-resume does): a pretrained target with its own tokenizer, a draft whose logit
/// width is padded past that tokenizer and that has no tokenizer.json, and a model of another
/// tokenizer. Two pretraining steps each: the weights only need to exist, not to be good.
final class CLIFixture: Sendable {
    let directory: URL
    /// A target model directory (config.json, model.safetensors, tokenizer.json), V 320.
    let target: String
    /// Width V + 8 and no tokenizer.json: accepted by train and decode alike (SharedVocabulary).
    let paddedDraft: String
    /// A model of a 300-token tokenizer trained on other text: refused as a draft.
    let otherTokenizer: String
    /// Prompt/response JSONL (8 lines) for train and --prompts.
    let pairs: String

    /// Built on first use; a build failure fails every test that asks for it.
    static let shared: Result<CLIFixture, Error> = Result { try CLIFixture() }

    static func get() throws -> CLIFixture { try shared.get() }

    private init() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("specdistill-cli-\(UUID().uuidString)")
        self.directory = directory
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        atexit { if case .success(let f) = CLIFixture.shared { try? FileManager.default.removeItem(at: f.directory) } }
        func lines(_ name: String, _ rows: [[String: String]]) throws -> String {
            let text = try rows.map { String(decoding: try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]), as: UTF8.self) }
                .joined(separator: "\n") + "\n"
            let url = directory.appendingPathComponent(name)
            try text.write(to: url, atomically: true, encoding: .utf8)
            return url.path
        }
        let sums = (0..<200).map { i in (a: (i * 37) % 97 + 1, b: (i * 53) % 89 + 1) }
        let text = try lines("text.jsonl", sums.map { ["text": "What is \($0.a) plus \($0.b)? \($0.a) plus \($0.b) is \($0.a + $0.b)."] })
        let words = try lines("words.jsonl", (0..<200).map { ["text": "the \(["cat", "dog", "fox", "owl"][$0 % 4]) sat on mat number \($0 * 7 % 31)"] })
        let pairs = try lines("pairs.jsonl", sums.prefix(8).map { ["prompt": "What is \($0.a) plus \($0.b)?", "response": " \($0.a) plus \($0.b) is \($0.a + $0.b)."] })

        let common = ["--context", "32", "--steps", "2", "--batch-size", "2", "--warmup", "0", "--save-every", "0", "--eval-every", "0",
                      "--threads", "1"]
        try Self.require(["pretrain", "--data", text, "--model-config", "tiny", "--train-tokenizer", "320", "--out", "target"] + common, in: directory)
        let target = directory.appendingPathComponent("target/model").path

        // The padded draft: the target's tokenizer and config with vocab_size + 8, then the tokenizer removed.
        let configURL = URL(fileURLWithPath: target).appendingPathComponent("config.json")
        guard var config = try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as? [String: Any],
              let V = config["vocab_size"] as? Int else { throw CLIError("\(configURL.path): no vocab_size") }
        config["vocab_size"] = V + 8
        let padded = directory.appendingPathComponent("padded.json")
        try JSONSerialization.data(withJSONObject: config).write(to: padded)
        try Self.require(["pretrain", "--data", text, "--model-config", padded.path, "--tokenizer", target + "/tokenizer.json",
                          "--out", "padded"] + common, in: directory)
        let paddedDraft = directory.appendingPathComponent("padded/model").path
        for name in ["tokenizer.json", "tokenizer_config.json"] {
            try? FileManager.default.removeItem(atPath: paddedDraft + "/" + name)
        }

        try Self.require(["pretrain", "--data", words, "--model-config", "tiny", "--train-tokenizer", "300", "--out", "other"] + common, in: directory)
        self.target = target; self.paddedDraft = paddedDraft; self.pairs = pairs
        otherTokenizer = directory.appendingPathComponent("other/model").path
    }

    /// Runs a fixture-building command; throws with its transcript when it fails.
    private static func require(_ args: [String], in directory: URL) throws {
        let r = try CLI.run(args, in: directory)
        guard r.status == 0 else { throw CLIError("fixture: specdistill \(args.joined(separator: " ")) failed\n\(r.transcript)") }
    }

    /// A file in the fixture directory with exactly these bytes (for CRLF and malformed inputs).
    func file(_ name: String, _ contents: String) throws -> String {
        let url = directory.appendingPathComponent(name)
        try Data(contents.utf8).write(to: url)
        return url.path
    }
}

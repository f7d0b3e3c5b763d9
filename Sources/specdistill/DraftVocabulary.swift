import ArgumentParser
import Distill
import Formats
import Foundation
import SpecDecode
import Tokenizers
import Transformer

/// The `--draft-vocab K --draft-vocab-data FILE` trimmed draft head (``OutputSubset``): the K most
/// frequent token ids of FILE's prompts and responses (tokenized with the target's tokenizer)
/// plus the end tokens. Prints the subset's size and its coverage of that text on stderr.
func outputSubset(_ k: Int, data: String, tokenizer: Tokenizer, always: Set<Int>, vocabularySize: Int) throws -> OutputSubset {
    let dataset = try PromptDataset.load(URL(fileURLWithPath: data), template: .plain, requireResponses: false)
    var streams: [[Int]] = []
    for example in dataset.examples {
        streams.append(tokenizer.encode(example.prompt))
        if let r = example.response { streams.append(tokenizer.encode(r)) }
    }
    let subset = try OutputSubset.mostFrequent(k, in: streams, always: Array(always), vocabularySize: vocabularySize)
    let tokens = streams.reduce(0) { $0 + $1.count }
    printErr(String(format: "draft head trimmed to %d of %d tokens (%.2f%% of the %d tokens of %@)", subset.ids.count, vocabularySize,
                    100 * subset.coverage(of: streams), tokens, data))
    return subset
}

/// `draft_vocab.json` in a draft's model directory: the token ids of the output layer the draft
/// was trained with (`train --draft-vocab`), `{"ids": [...]}`. `decode` and `eval` trim the draft's
/// head to them when no `--draft-vocab` is given, so a draft is decoded the way it was trained.
///
/// A draft quantised to GGUF (`quantize`) carries the same ids as the metadata key
/// `specdistill.draft_vocab` (an int32 array; other GGUF readers ignore it).
enum DraftVocabularyFile {
    static let name = "draft_vocab.json"
    static let ggufKey = "specdistill.draft_vocab"

    /// The ids saved in the model directory `dir` (for `quantize` to carry into the GGUF), or nil.
    static func ids(modelDirectory dir: URL) throws -> [Int]? {
        let url = dir.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        guard let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any],
              let ids = object["ids"] as? [Int] else {
            throw ValidationError("\(url.path) is not {\"ids\": [token ids]}; delete it or retrain with --draft-vocab")
        }
        return ids
    }

    static func write(_ ids: [Int], modelDirectory: URL) throws {
        let data = try JSONSerialization.data(withJSONObject: ["ids": ids])
        try data.write(to: modelDirectory.appendingPathComponent(name), options: .atomic)
    }

    /// The saved subset of the draft at `path` (a model directory), or nil when it has none.
    /// - Throws: when the file exists but is malformed or names ids outside the vocabulary.
    static func read(modelPath path: String, vocabularySize: Int) throws -> OutputSubset? {
        let url = URL(fileURLWithPath: path)
        let ids: [Int]
        if GGUFModelLoader.looksLikeGGUF(url) {
            guard let value = try GGUFFile(url: url)[ggufKey] else { return nil }
            guard let items = value.array, let parsed = value.ints, parsed.count == items.count else {
                throw ValidationError("\(path): metadata \(ggufKey) is not an integer array; re-run quantize on the draft directory")
            }
            ids = parsed
        } else {
            guard let saved = try Self.ids(modelDirectory: url) else { return nil }
            ids = saved
        }
        let subset = try OutputSubset(ids: ids, vocabularySize: vocabularySize)
        printErr("draft head trimmed to the \(subset.ids.count) tokens it was trained with (\(path))")
        return subset
    }
}

import Distill
import Foundation
import SpecDecode
import Tokenizers

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

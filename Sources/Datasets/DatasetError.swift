import Formats

// The Datasets module owns the data a draft is distilled and evaluated on: JSONL reading
// (``JSONLines``), `{"prompt", "response"}` datasets and their prompt templates
// (``PromptDataset``, ``PromptTemplate``, ChatML through ``ChatTemplate``), packing an example into
// a training row (``packExample(prompt:response:T:pad:tokens:targets:row:)``), GSM8K preparation
// (``GSM8K``), plain-text corpora (``TextCorpus``) and the target's own responses as data
// (``TargetResponses``, `data generate`). Objectives and trainers live in Distill, which
// re-exports this module.

/// A dataset that cannot be read or used: the message names the file, the line and the fix.
public enum DatasetError: Error, CustomStringConvertible {
    case data(String)
    public var description: String {
        switch self {
        case .data(let m): return ErrorText.clip(m)
        }
    }
}

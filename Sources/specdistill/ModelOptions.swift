import ArgumentParser
import Foundation
import Transformer

/// The model flags of every command that pairs a target with a draft, spelled as in llama.cpp
/// (`-m/--model` the target, `-md/--model-draft` the draft). The spellings of earlier versions
/// (`--target`, `--draft`) stay accepted as aliases, so old scripts keep working.
enum ModelFlags {
    /// `-m`, `--model`, alias `--target`.
    static let target: NameSpecification = [.customShort("m"), .customLong("model"), .customLong("target")]
    /// `-md`, `--model-draft`, alias `--draft`.
    static let draft: NameSpecification = [.customLong("md", withSingleDash: true), .customLong("model-draft"), .customLong("draft")]
    /// `eval`'s list of NAME=MODEL drafts: `--drafts`, and the draft flags above.
    static let drafts: NameSpecification = [.customLong("drafts"), .customLong("md", withSingleDash: true), .customLong("model-draft"),
                                            .customLong("draft")]

    static let targetHelp: ArgumentHelp = "Target model (the teacher): a Hugging Face directory or a .gguf file."

    /// Help for the draft flag, shown as `-md, --model-draft, --draft <model-draft>`.
    static func draftHelp(_ text: String) -> ArgumentHelp { ArgumentHelp(text, valueName: "model-draft") }
}

/// `--draft-from-target LAYERS` (train, decode, eval, bench distill): a draft made of the target's
/// embeddings, final norm, output layer and some of its layers (``DraftLayers``).
struct DraftFromTargetOption: ParsableArguments {
    @Option(name: .customLong("draft-from-target"),
            help: "A draft made of the target's embeddings, head and layers: N (N evenly spaced layers), even:N, or indices and ranges (\"0-3,29\"). decode and eval run it from a GGUF target held natively as a Q8_0 copy, the type distilled drafts ship in.")
    var layers: String?

    /// The draft these layers make (nil without --draft-from-target), as decode and eval run it:
    /// from a target whose matrices stay in their GGUF types (`--weights native`), as it ships
    /// (``shippedDraft(_:directory:)``), so that an undistilled draft costs what a distilled one of
    /// its shape costs (a float32 one read 4× the bytes: c 0.38 against 0.08 for SmolLM2's 1-layer
    /// draft). Other targets: float32.
    func draft(of target: ModelBundle) throws -> (model: TransformerModel, layers: [Int], type: String)? {
        guard let layers else { return nil }
        let indices = try DraftLayers.parse(layers, of: target.model)
        let copy = try target.model.truncatedCopy(layers: indices)
        guard target.model.native != nil else { return (copy, indices, "float32") }
        let shipped = try shippedDraft(copy, directory: FileManager.default.temporaryDirectory)
        return (shipped.model, indices, shipped.type)
    }
}

/// `draft` as `quantize --type q8_0` ships it: a Q8_0 copy loaded natively (a quarter of the
/// float32 bytes per step) for the architectures the GGUF writer handles (llama, qwen2), else
/// `draft` itself; `type` names which ("Q8_0" or "float32"). The temporary file goes in `directory`.
func shippedDraft(_ draft: TransformerModel, directory: URL) throws -> (model: TransformerModel, type: String) {
    let a = draft.config.architecture
    guard a == .llama || a == .qwen2 else { return (draft, "float32") }
    return (try GGUFModelWriter.nativeCopy(draft, type: .q8_0, directory: directory), "Q8_0")
}

/// `--draft-vocab K --draft-vocab-data FILE` (train, decode, eval): the draft's output layer
/// trimmed to the K most frequent tokens of FILE plus the end tokens (``OutputSubset``).
struct DraftVocabOptions: ParsableArguments {
    @Option(name: .customLong("draft-vocab"),
            help: "Trim the draft's output layer to the K most frequent tokens of --draft-vocab-data (plus end tokens): it reads K × C head weights instead of V × C. Lossless; only acceptance can drop. train saves the kept ids as OUT/model/draft_vocab.json, which decode and eval then use (train: 0 = the whole vocabulary).")
    var k: Int?
    @Option(name: .customLong("draft-vocab-data"),
            help: "JSONL {\"prompt\", \"response\"} text whose token counts choose the --draft-vocab tokens: use the draft's training data (train's default: --data).")
    var data: String?
}

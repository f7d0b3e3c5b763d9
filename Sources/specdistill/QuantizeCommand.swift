import ArgumentParser
import Foundation
import SpecDistill

struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Write a model as a GGUF file that llama.cpp loads, with its matrices quantised.",
        discussion: """
        IN is a Hugging Face directory (a draft written by `train`) or a .gguf file. Matrices are \
        stored as --type (norms and biases as F32); llama.cpp tensor names, the llama RoPE row \
        layout and the tokenizer keys copied from --tokenizer-from (default: IN when it is a GGUF; \
        for a draft, its target's .gguf). Llama and Qwen2 architectures. Compare the result with \
        `specdistill perplexity` on IN and OUT.
        """
    )
    @Argument(help: "The model to write: a Hugging Face directory or a .gguf file.") var input: String
    @Argument(help: "The .gguf file to write (replaced atomically).") var output: String
    @Option(help: "Matrix type: q8_0, q4_0, q4_k, q5_k, f16, bf16 or f32.") var type = "q8_0"
    @Option(name: .customLong("tokenizer-from"), help: "A .gguf file whose tokenizer keys are copied (default: IN if it is a GGUF).")
    var tokenizerFrom: String?
    @Option(name: .customLong("output-tensor-type"), help: ArgumentHelp(
        "The output layer's type (as llama-quantize's flag; default: --type, Q8_0 under q4_0 / q4_k).",
        discussion: "A draft's output layer is a large share of what each draft step reads (Qwen2.5-Coder-0.5B: 145 of 392 MB at Q8_0): q4_0 there makes the draft cheaper at some acceptance."))
    var outputTensorType: String?
    @Option(name: .customLong("token-embedding-type"), help: "The token embedding's type (as llama-quantize's flag; default as --output-tensor-type).")
    var tokenEmbeddingType: String?

    static let types: [String: GGMLType] = ["q8_0": .q8_0, "q4_0": .q4_0, "q4_k": .q4_K, "q5_k": .q5_K, "f16": .f16, "bf16": .bf16,
                                            "f32": .f32]

    func validate() throws {
        for (flag, value) in [("--type", type), ("--output-tensor-type", outputTensorType), ("--token-embedding-type", tokenEmbeddingType)] {
            guard let value else { continue }
            guard Self.types[value.lowercased()] != nil else {
                throw ValidationError("\(flag) must be one of \(Self.types.keys.sorted().joined(separator: ", ")), got '\(value)'")
            }
        }
        if !output.hasSuffix(".gguf") { throw ValidationError("OUT must be a .gguf path, got '\(output)'") }
    }

    func run() throws {
        let inURL = URL(fileURLWithPath: (input as NSString).expandingTildeInPath)
        let isGGUF = GGUFModelLoader.looksLikeGGUF(inURL)
        guard let tokenizerPath = tokenizerFrom ?? (isGGUF ? input : nil) else {
            throw ValidationError("\(input) is not a GGUF file: pass --tokenizer-from TARGET.gguf (the GGUF of the target the draft was distilled from) so that the file carries its tokenizer")
        }
        let tokURL = URL(fileURLWithPath: (tokenizerPath as NSString).expandingTildeInPath)
        guard GGUFModelLoader.looksLikeGGUF(tokURL) else {
            throw ValidationError("--tokenizer-from \(tokenizerPath): not a GGUF file")
        }
        let source = try GGUFFile(url: tokURL)
        guard source["tokenizer.ggml.model"] != nil else {
            throw ValidationError("\(tokenizerPath) carries no tokenizer (no tokenizer.ggml.model); choose the target's GGUF")
        }
        let bundle = try loadBundle(input)
        let t0 = Date()
        let outURL = URL(fileURLWithPath: (output as NSString).expandingTildeInPath)
        // A draft trained with a trimmed head keeps its token ids (decode and eval apply them).
        var extra: [(String, GGUFValue)] = []
        if !isGGUF, let ids = try DraftVocabularyFile.ids(modelDirectory: inURL) {
            extra.append((DraftVocabularyFile.ggufKey, .array(ids.map { .int32(Int32($0)) })))
        } else if isGGUF, let v = try GGUFFile(url: inURL)[DraftVocabularyFile.ggufKey] {
            extra.append((DraftVocabularyFile.ggufKey, v))
        }
        let notes = try GGUFModelWriter.write(bundle.model, to: outURL, type: Self.types[type.lowercased()]!, tokenizerSource: source,
                                              name: inURL.deletingPathExtension().lastPathComponent, extraMetadata: extra,
                                              outputType: outputTensorType.flatMap { Self.types[$0.lowercased()] },
                                              embeddingType: tokenEmbeddingType.flatMap { Self.types[$0.lowercased()] })
        for n in notes { printErr("note: \(n)") }
        let size = (try? FileManager.default.attributesOfItem(atPath: outURL.path)[.size] as? Int) ?? 0
        printErr(String(format: "wrote %@ (%@, %.1f MB) in %.2f s", output, type.uppercased(), Double(size) / 1e6, Date().timeIntervalSince(t0)))
        print(outURL.path)
    }
}

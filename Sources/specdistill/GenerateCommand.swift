import ArgumentParser
import Foundation
import SpecDistill

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text with one model (plain autoregressive decoding with the KV cache).",
        discussion: "Streams the continuation to stdout and prints tokens/s to stderr."
    )
    @Option(name: [.short, .long], help: "Model: a Hugging Face directory or a .gguf file.") var model: String
    @Option(help: "The prompt text.") var prompt: String
    @Flag(help: "Wrap the prompt in the ChatML chat template (<|im_start|>user … assistant).") var chat = false
    @Option(name: [.customShort("n"), .customLong("max-tokens"), .customLong("n-predict")], help: "Maximum new tokens.") var maxTokens = 64
    @OptionGroup var sampling: SamplingOptions
    @OptionGroup var threadOptions: ThreadOptions
    @OptionGroup var weightOptions: WeightOptions

    func run() throws {
        threadOptions.apply()
        let bundle = try loadBundle(model, weights: weightOptions.weights)
        let tokenizer = try bundle.requireTokenizer()
        let text = chat ? chatPrompt(prompt, template: try ChatTemplate.find(forModelAt: model) ?? .chatML) : prompt
        let ids = tokenizer.encode(text)
        // The KV cache holds what this run needs, not the model's whole context.
        let generator = Generator(model: bundle.model, settings: sampling.settings, seed: sampling.seed,
                                  maxT: min(bundle.model.config.maxPositions, ids.count + maxTokens + 1))
        var stream = StreamingDecoder(tokenizer: tokenizer)
        print(prompt, terminator: chat ? "\n" : "")
        let stops = stopTokens(tokenizer, bundle)
        let stats = try generator.generate(prompt: ids, maxTokens: maxTokens, stopTokens: stops) { token in
            if stops.contains(token) { return }
            print(stream.add(token), terminator: "")
            fflush(nil)
        }
        print(stream.finish())
        printErr(String(format: "%d prompt tokens, %d new tokens, prefill %.1f ms, %.1f tokens/s", ids.count, stats.tokens.count,
                        stats.prefillSeconds * 1e3, Double(stats.tokens.count) / max(stats.decodeSeconds, 1e-9)))
    }
}

/// End-of-sequence ids: the tokenizer's EOS, the config's, and ChatML's <|im_end|>.
func stopTokens(_ tokenizer: Tokenizer, _ bundle: ModelBundle) -> Set<Int> {
    var s = Set<Int>()
    if let e = tokenizer.eosTokenID { s.insert(e) }
    if let e = bundle.model.config.eosTokenID { s.insert(e) }
    if let e = tokenizer.id(of: "<|im_end|>") { s.insert(e) }
    return s
}

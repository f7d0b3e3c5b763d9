import ArgumentParser
import Foundation
import SpecDistill

struct PerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity",
        abstract: "Perplexity of a model on a text or JSONL file, like llama.cpp's perplexity tool.",
        discussion: """
        Sliding windows of --context tokens advancing by --stride: every token after the first is \
        scored exactly once, with up to --context tokens of left context (the Hugging Face / llama.cpp \
        scheme). JSONL files use their "text" (or "prompt" + "response") fields, documents joined.
        """)
    @Option(name: [.short, .long], help: "Model directory or .gguf file.") var model: String
    @Option(help: "A .txt file or a .jsonl file of {\"text\"} lines.") var data: String
    @Option(help: "Window length in tokens.") var context = 512
    @Option(help: "Window step in tokens (default: context / 2).") var stride: Int?
    @Option(name: .customLong("max-tokens"), help: "Score at most this many tokens of the file (0 = all).") var maxTokens = 0
    @OptionGroup var threadOptions: ThreadOptions
    @OptionGroup var weightOptions: WeightOptions

    func run() throws {
        threadOptions.apply()
        let bundle = try loadBundle(model, weights: weightOptions.weights)
        let tok = try bundle.requireTokenizer()
        let docs = try TextCorpus.documents(URL(fileURLWithPath: data))
        var ids = tok.encode(docs.joined(separator: "\n\n"))
        if maxTokens > 0 && ids.count > maxTokens { ids = Array(ids.prefix(maxTokens)) }
        let ctx = min(context, bundle.model.config.maxPositions)
        let bar = ProgressBar(total: ids.count - 1, label: "perplexity")
        let t0 = Date()
        let r = try perplexity(model: bundle.model, tokens: ids, context: ctx, stride: stride ?? ctx / 2) { scored, _ in
            bar.update(scored, "")
        }
        bar.finish()
        print(String(format: "%d tokens scored in %d windows (context %d, stride %d): mean NLL %.6f, perplexity %.4f (%.1f s)",
                     r.scoredTokens, r.windows, ctx, stride ?? ctx / 2, r.meanNLL, r.perplexity, Date().timeIntervalSince(t0)))
    }
}

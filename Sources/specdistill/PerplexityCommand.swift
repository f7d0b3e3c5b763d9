import ArgumentParser
import Foundation
import SpecDistill

struct PerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity",
        abstract: "Perplexity of a model on a text or JSONL file, like llama.cpp's perplexity tool.",
        discussion: """
        --scheme sliding (default): windows of --context tokens advancing by --stride; every token \
        after the first is scored exactly once, with up to --context tokens of left context (the \
        Hugging Face guide's scheme). --scheme llama-cpp: llama-perplexity's own scheme, to compare \
        with it on the same file: chunks of --context tokens (BOS first when the vocabulary adds \
        BOS), the second half of each scored, --chunks N at most. JSONL files use their "text" (or \
        "prompt" + "response") fields, documents joined; a .txt file is read whole, as llama.cpp's -f.
        """)
    @Option(name: [.short, .long], help: "Model directory or .gguf file.") var model: String
    @Option(help: "A .txt file or a .jsonl file of {\"text\"} lines.") var data: String
    @Option(help: "Window length in tokens.") var context = 512
    @Option(help: "Window step in tokens (default: context / 2; --scheme sliding).") var stride: Int?
    @Option(help: "sliding or llama-cpp.") var scheme: PerplexityScheme = .sliding
    @Option(help: "At most N chunks (--scheme llama-cpp; default: all).") var chunks: Int?
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
        let t0 = Date()
        switch scheme {
        case .sliding:
            let bar = ProgressBar(total: ids.count - 1, label: "perplexity")
            let r = try perplexity(model: bundle.model, tokens: ids, context: ctx, stride: stride ?? ctx / 2) { scored, _ in
                bar.update(scored, "")
            }
            bar.finish()
            print(String(format: "%d tokens scored in %d windows (context %d, stride %d): mean NLL %.6f, perplexity %.4f (%.1f s)",
                         r.scoredTokens, r.windows, ctx, stride ?? ctx / 2, r.meanNLL, r.perplexity, Date().timeIntervalSince(t0)))
        case .llamaCpp:
            if let chunks, chunks < 1 { throw ValidationError("--chunks must be ≥ 1, got \(chunks)") }
            let bar = ProgressBar(total: max(1, min(ids.count / ctx, chunks ?? Int.max)), label: "perplexity")
            let r = try perplexityInChunks(model: bundle.model, tokens: ids, context: ctx, bos: tok.addBOS ? tok.bosTokenID : nil,
                                           maxChunks: chunks) { done, _ in bar.update(done, "") }
            bar.finish()
            let bos = tok.addBOS ? "BOS first" : "no BOS"
            print(String(format: "%d tokens, %d chunks of %d (llama.cpp's scheme, \(bos)): %d scored, mean NLL %.6f, perplexity %.4f (%.1f s)",
                         ids.count, r.windows, ctx, r.scoredTokens, r.meanNLL, r.perplexity, Date().timeIntervalSince(t0)))
        }
    }
}

/// How `perplexity` windows the text.
enum PerplexityScheme: String, ExpressibleByArgument, CaseIterable {
    case sliding
    case llamaCpp = "llama-cpp"
}

import ArgumentParser
import Foundation
import SpecDistill

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Prepare datasets as JSONL {\"prompt\", \"response\"} files.",
        subcommands: [DataGSM8K.self, DataGenerate.self])
}

extension PromptTemplate: ExpressibleByArgument {}

struct DataGenerate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Replace a dataset's responses with the target's own responses, greedy or sampled (sequence-level distillation data).",
        discussion: """
        A draft is judged on the text the target writes, not on human references, so it should \
        learn from that text (DistillSpec's teacher-generated data). Renders each prompt with \
        --template (use the same template for train and eval: eval --chat renders chatml), \
        decodes greedily (or samples with --temperature, --top-k, --top-p: data for drafts that \
        will decode at that temperature; each prompt's response depends only on --seed and the \
        prompt) up to --max-tokens, --parallel sequences at a time, and appends {"prompt", "response", "source_index", \
        "finished"} lines to --out. Responses without a stop token are dropped unless \
        --keep-unfinished. Interrupted runs resume where they stopped (run the same command).
        """)
    @Option(name: ModelFlags.target, help: ModelFlags.targetHelp) var model: String
    @Option(help: "JSONL file with a \"prompt\" field per line (responses, if any, are ignored).") var prompts: String
    @Option(help: "Output JSONL file (appended to when it exists: the run resumes).") var out: String
    @Option(help: "Prompt template: plain, chatml, gsm8k or gsm8k-chat.") var template: PromptTemplate = .chatml
    @Option(name: [.customShort("n"), .customLong("max-tokens"), .customLong("n-predict")], help: "Maximum new tokens per response.") var maxTokens = 256
    @Option(help: "Use only the first N prompts (0: all).") var limit = 0
    @Option(help: "Sampled responses per prompt (with --temperature > 0; lines get \"sample\": j).") var samples = 1
    @Flag(help: "Keep responses that reached --max-tokens without a stop token.") var keepUnfinished = false
    @Option(name: [.customLong("parallel"), .customLong("np", withSingleDash: true)],
            help: "Sequences decoded together: each step reads a GGUF weight block once for up to 4 of them (beyond 4 it is read again); the output is the same for every value with GGUF weights.")
    var parallel = 4
    @OptionGroup var sampling: SamplingOptions
    @OptionGroup var threadOptions: ThreadOptions
    @OptionGroup var weightOptions: WeightOptions

    func run() throws {
        threadOptions.apply()
        guard limit >= 0 else { throw ValidationError("--limit must be ≥ 0") }
        guard parallel >= 1 else { throw ValidationError("--parallel must be at least 1, got \(parallel)") }
        let bundle = try loadBundle(model, weights: weightOptions.weights)
        let tokenizer = try bundle.requireTokenizer()
        var all = try PromptDataset.load(URL(fileURLWithPath: prompts), template: template, requireResponses: false).examples.map(\.prompt)
        if limit > 0 { all = Array(all.prefix(limit)) }
        let bar = ProgressBar(total: all.count * max(1, samples), label: "target responses")
        let started = Date()
        var first = true
        let s = try TargetResponses.generate(
            model: bundle.model, tokenizer: tokenizer, prompts: all, template: template, maxTokens: maxTokens,
            stopTokens: stopTokens(tokenizer, bundle), output: URL(fileURLWithPath: out), keepUnfinished: keepUnfinished, parallel: parallel,
            sampling: sampling.settings, seed: sampling.seed, samples: samples
        ) { done, _, tokens in
            if first { bar.resume(at: done - 1); first = false }
            bar.update(done, String(format: "%d tokens, %.0f tok/s", tokens, Double(tokens) / max(Date().timeIntervalSince(started), 1e-9)))
        }
        bar.finish()
        print("\(s.written) responses written to \(out) (\(s.droppedUnfinished) unfinished dropped\(s.resumedAfter > 0 ? ", resumed after \(s.resumedAfter) responses" : "")); \(s.generatedTokens) tokens in \(String(format: "%.0f", s.seconds)) s")
    }
}

struct DataGSM8K: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gsm8k",
        abstract: "Split GSM8K into train / validation files in AdaSPEC's format.",
        discussion: """
        Reads {"question", "answer"} lines; the response is the worked answer with calculator \
        annotations <<…>> stripped and "####" replaced by "The final answer is: ". The prompt is \
        the bare question: use --template gsm8k (or gsm8k-chat) when training so it gets AdaSPEC's \
        instruction. (Scripts/get-data gsm8k writes the instruction into its prompts; the gsm8k \
        templates leave a prompt that already ends with it unchanged, so either file works with \
        either template.) The split is a seeded shuffle: the same files on every machine.
        """)
    @Option(name: .customLong("in"), help: "GSM8K train.jsonl.") var input: String = "../shared/data/gsm8k/train.jsonl"
    @Option(help: "Output directory (train.jsonl, validation.jsonl).") var out: String
    @Option(help: "Held-out examples.") var validation = 500
    @Option(help: "Shuffle seed.") var seed: UInt64 = 1

    func run() throws {
        let (train, val) = try GSM8K.prepare(URL(fileURLWithPath: input), validation: validation, seed: seed)
        let dir = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try GSM8K.write(train, to: dir.appendingPathComponent("train.jsonl"))
        try GSM8K.write(val, to: dir.appendingPathComponent("validation.jsonl"))
        print("\(train.count) training and \(val.count) validation examples in \(dir.path)")
    }
}

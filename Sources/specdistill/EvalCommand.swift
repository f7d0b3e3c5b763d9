import ArgumentParser
import Foundation
import SpecDistill

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate drafts against a target on tasks: acceptance, speedup, task metrics; tables and plots.",
        discussion: """
        For each task file and each draft: teacher-forced acceptance on the reference responses (greedy form \
        1[argmax p = argmax q] and sampling form Σ min(p, q)), then speculative decoding of every prompt, \
        right after plain decoding of the same prompt with the target alone (run once, shared by all drafts): \
        acceptance while decoding, acceptance by draft position, tokens per target call, c, predicted and \
        measured speedup, and the task metric on both outputs (gsm8k/asdiv: exact match of the final number; \
        xsum/translate: ROUGE-L F1; humaneval: pass@1, only with --run-code). At temperature 0 the speculative \
        and plain outputs must be identical; any difference is reported as FAIL and the exit status is 1.

        Data: JSONL lines {"task", "prompt", "response", "answer", "test", "entry_point"} (Scripts/get-data \
        TASK writes them); "task" may be given as TASK=FILE instead. Speeds are per token of the decoding \
        loops (prefill excluded); build with -c release.

        --run-code executes model-written Python (HumanEval programs) in the bubblewrap sandbox (apt-get install \
        bubblewrap): no network, read-only system, private tmpfs home and /tmp, own PID namespace, and CPU, memory, \
        file-size, process and wall-clock limits. Without a working bwrap it refuses to run. --unsafe-run-code runs \
        the programs without the sandbox (limits only; the code runs as you, with your files and network): use it \
        only where running untrusted code is acceptable.

        --lookup adds a row for prompt lookup (draftless n-gram drafts, c ≈ 0); --lookup-chain NAME adds a row \
        lookup+NAME that chains lookup before draft NAME, one row per --chain-policy.
        """
    )

    enum OutputFormat: String, ExpressibleByArgument, CaseIterable { case text, markdown, json }

    @Option(name: ModelFlags.target, help: ModelFlags.targetHelp) var model: String
    @Option(name: ModelFlags.drafts,
            help: ArgumentHelp("Drafts as NAME=MODEL, comma-separated or repeated (MODEL: a directory or .gguf sharing the target's tokenizer).",
                               valueName: "name=model"))
    var drafts: [String] = []
    @OptionGroup var draftFromTargetOption: DraftFromTargetOption
    @Option(name: .customLong("draft-from-target-name"), help: "Name of the --draft-from-target draft in tables.")
    var draftFromTargetName = "undistilled"
    @Option(help: "Task data as [TASK=]FILE.jsonl (repeatable; TASK: \(EvaluationTask.allCases.map(\.rawValue).joined(separator: ", "))).")
    var data: [String] = []
    @Flag(help: "Wrap each prompt in the ChatML chat template (<|im_start|>user … assistant), for instruct targets.") var chat = false
    @Option(help: "Evaluate only the first N examples of each task.") var limit: Int?
    @Option(name: [.customShort("n"), .customLong("max-tokens"), .customLong("n-predict")], help: "Maximum new tokens per prompt.") var maxTokens = 64
    @OptionGroup var sampling: SamplingOptions
    @OptionGroup var draftOptions: DraftOptions
    @Option(name: .customLong("tf-context"), help: "Teacher-forced acceptance: tokens per sequence (prompt left-truncated to fit).")
    var tfContext = 256
    @Option(name: .customLong("tf-batch"), help: "Teacher-forced acceptance: sequences per forward pass.") var tfBatch = 2
    @Flag(name: .customLong("run-code"), help: "Run model-written HumanEval code in the bubblewrap sandbox to score pass@1 (see the discussion above).")
    var runCode = false
    @Flag(name: .customLong("unsafe-run-code"), help: "Run model-written HumanEval code WITHOUT a sandbox (limits only) to score pass@1.")
    var unsafeRunCode = false
    @Option(name: .customLong("code-time-limit"), help: "Seconds per HumanEval program (wall clock and CPU).") var codeTimeLimit = 10.0
    @Option(help: "What to print on stdout: text or markdown tables, or the results as json.") var format: OutputFormat = .text
    @Option(help: "Write the results as JSON to this file (specdistill plot re-draws from it).") var out: String?
    @Option(help: "Write SVG charts into this directory.") var plot: String?
    @Option(help: "Training runs to plot as NAME=RUN_DIR (comma-separated or repeated; RUN_DIR holds metrics.jsonl). Needs --plot.")
    var curves: [String] = []
    @OptionGroup var draftVocabOptions: DraftVocabOptions
    @Flag(help: "Also evaluate prompt lookup alone (row \"lookup\"; no draft model).") var lookup = false
    @Option(name: .customLong("lookup-chain"), help: "Also evaluate lookup chained before these drafts (their NAMEs, comma-separated): rows lookup+NAME.")
    var lookupChain: [String] = []
    @Option(name: .customLong("chain-policy"), help: "Chain policies of --lookup-chain rows, comma-separated: first, expected (one row each).")
    var chainPolicy = CommaSeparated<ChainPolicy>([.expected])
    @OptionGroup var lookupOptions: LookupOptions
    @OptionGroup var autoOffOptions: AutoOffOptions
    @OptionGroup var threadOptions: ThreadOptions
    @OptionGroup var weightOptions: WeightOptions

    var chainPolicies: [ChainPolicy] { chainPolicy.values }
    var chainNames: [String] { lookupChain.flatMap { $0.split(separator: ",").map(String.init) } }

    var settings: EvaluationSettings {
        var s = EvaluationSettings()
        s.maxTokens = maxTokens
        s.sampling = sampling.settings
        s.seed = sampling.seed
        s.draft = draftOptions.settings
        s.template = chat ? .chatml : .plain
        s.teacherForcedContext = tfContext
        s.teacherForcedBatch = tfBatch
        s.runCode = runCode || unsafeRunCode
        s.unsafeRunCode = unsafeRunCode ? true : nil
        s.codeTimeLimit = codeTimeLimit
        s.autoOff = autoOffOptions.settings
        return s
    }

    func validate() throws {
        if data.isEmpty { throw ValidationError("give at least one --data [TASK=]FILE.jsonl") }
        if drafts.isEmpty && draftFromTargetOption.layers == nil && !lookup {
            throw ValidationError("give --drafts NAME=MODEL,…, --draft-from-target LAYERS and/or --lookup")
        }
        if let limit, limit < 1 { throw ValidationError("--limit must be ≥ 1, got \(limit)") }
        if !curves.isEmpty && plot == nil { throw ValidationError("--curves draws charts; give --plot DIR too") }
        do { try settings.validate() } catch { throw ValidationError("\(error)") }
        _ = try namedPairs(drafts, option: "--drafts", what: "MODEL")
        _ = try namedPairs(curves, option: "--curves", what: "RUN_DIR")
    }

    func run() throws {
        threadOptions.apply()
        let tasks = try data.map { try loadTask($0, limit: limit) }
        let curveRuns = try namedPairs(curves, option: "--curves", what: "RUN_DIR").map { try TrainingCurves.load(name: $0.name, directory: $0.value) }
        let targetBundle = try loadBundle(model, weights: weightOptions.weights)
        let tokenizer = try targetBundle.requireTokenizer()
        var named: [NamedDraft] = []
        for (name, path) in try namedPairs(drafts, option: "--drafts", what: "MODEL") {
            let b = try loadBundle(path, weights: weightOptions.weights)
            var d = NamedDraft(name: name, model: b.model, tokenizer: b.tokenizer, source: path)
            d.outputSubset = try DraftVocabularyFile.read(modelPath: path, vocabularySize: b.model.config.vocabSize)
            named.append(d)
        }
        if let (m, layers, type) = try draftFromTargetOption.draft(of: targetBundle) {
            printErr("\(draftFromTargetName): the target's embeddings, layers \(layers) and head (\(String(format: "%.1fM", Double(m.parameterCount) / 1e6)) parameters, \(type))")
            named.append(NamedDraft(name: draftFromTargetName, model: m, tokenizer: nil, source: "target layers \(layers)"))
        }
        if let k = draftVocabOptions.k {
            guard let file = draftVocabOptions.data else {
                throw ValidationError("--draft-vocab needs --draft-vocab-data FILE.jsonl (the drafts' training data) to count token frequencies")
            }
            let subset = try outputSubset(k, data: file, tokenizer: tokenizer, always: stopTokens(tokenizer, targetBundle),
                                          vocabularySize: targetBundle.model.config.vocabSize)
            for i in named.indices { named[i].outputSubset = subset }
        }
        let corpus = lookup || !chainNames.isEmpty ? try lookupOptions.corpusTokens(tokenizer) : []
        for name in chainNames {
            guard let base = named.first(where: { $0.name == name }) else {
                throw ValidationError("--lookup-chain \(name): no draft of that name (names: \(named.map(\.name).joined(separator: ", ")))")
            }
            for policy in chainPolicies {
                var d = base
                d.name = "lookup+\(name)" + (chainPolicies.count > 1 ? "/\(policy.rawValue)" : "")
                d.lookup = lookupOptions.settings(chain: policy); d.lookupCorpus = corpus
                named.append(d)
            }
        }
        if lookup {
            named.append(NamedDraft(name: "lookup", model: nil, tokenizer: nil, source: "prompt lookup (no draft model)",
                                    lookup: lookupOptions.settings(chain: .first), lookupCorpus: corpus))
        }
        let runner = try EvaluationRunner(target: targetBundle.model, tokenizer: tokenizer, targetName: model, drafts: named,
                                          settings: settings, stopTokens: stopTokens(tokenizer, targetBundle))
        var bar: ProgressBar?
        runner.onEvent = { event in
            switch event {
            case .stage(let name, let total): bar?.finish(); bar = ProgressBar(total: total, label: name)
            case .progress(let done, let detail): bar?.update(done, detail)
            case .mismatch(let m): (bar?.message ?? printErr)("FAIL: \(m)")
            case .note(let m): (bar?.message ?? printErr)(m)
            }
        }
        let results = try runner.run(tasks: tasks)
        bar?.finish()
        try emit(results, curves: curveRuns)
        if !results.mismatches.isEmpty {
            printErr("FAIL: \(results.mismatches.count) speculative outputs differ from plain decoding at temperature 0")
            throw ExitCode(1)
        }
    }

    /// Writes --out, --plot and the chosen format on stdout.
    func emit(_ results: EvaluationResults, curves: [TrainingCurves]) throws {
        if let out {
            let url = URL(fileURLWithPath: (out as NSString).expandingTildeInPath)
            try results.write(to: url)
            printErr("results written to \(url.path)")
        }
        if let plot {
            let files = try EvaluationCharts.write(results: results, curves: curves,
                                                   to: URL(fileURLWithPath: (plot as NSString).expandingTildeInPath))
            printErr("charts: " + files.joined(separator: ", "))
        }
        switch format {
        case .text: print(ResultsTables.text(results), terminator: "")
        case .markdown: print(ResultsTables.markdown(results), terminator: "")
        case .json: print(String(decoding: try results.json(), as: UTF8.self))
        }
    }
}

/// A task file from `[TASK=]FILE`: the part before the first "=" is a task name unless the whole
/// argument is an existing file.
func loadTask(_ argument: String, limit: Int?) throws -> TaskData {
    let path = (argument as NSString).expandingTildeInPath
    if let eq = argument.firstIndex(of: "="), !FileManager.default.fileExists(atPath: path) {
        let task = try EvaluationTask(name: String(argument[..<eq]), context: "--data \(argument)")
        let file = (String(argument[argument.index(after: eq)...]) as NSString).expandingTildeInPath
        return try TaskData.load(URL(fileURLWithPath: file), task: task, limit: limit)
    }
    return try TaskData.load(URL(fileURLWithPath: path), task: nil, limit: limit)
}

/// `NAME=VALUE` pairs from options that may each hold a comma-separated list.
func namedPairs(_ arguments: [String], option: String, what: String) throws -> [(name: String, value: String)] {
    var out: [(name: String, value: String)] = []
    for argument in arguments {
        for item in argument.split(separator: ",") {
            let parts = item.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw ValidationError("\(option) \(item): expected NAME=\(what)")
            }
            if out.contains(where: { $0.name == String(parts[0]) }) {
                throw ValidationError("\(option): the name \(parts[0]) is used twice; names must differ")
            }
            out.append((String(parts[0]), String(parts[1])))
        }
    }
    return out
}

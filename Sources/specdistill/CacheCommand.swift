import ArgumentParser
import Foundation
import SpecDistill

struct CacheCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache",
        abstract: "Teacher caches for offline distillation (the target's top-K log-probabilities per supervised token).",
        subcommands: [CacheBuild.self])
}

struct CacheBuild: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Run the target once over a fixed dataset and store its top-K distribution at every response token.",
        discussion: """
        Writes DIR/manifest.json and DIR/shard-NNNNN.bin. A GGUF target runs with its weights in their file \
        types by default (--weights native: one sequence at a time through the quantised kernels, no padding; \
        about 5x the float32 batch for SmolLM2 Q4_1 on an AVX2 CPU); --weights f32 runs padded batches of --cache-batch-size. The cache is bound to the target file's and the \
        data file's sha256, the template, --top-k, --temperature, --context and the vocabulary size; \
        `train --teacher-cache DIR` refuses a cache built with other values. An interrupted build resumes \
        after its last complete shard when run again with the same arguments. --states also stores the \
        target's final hidden state (f16) at every stored position, what a draft reading them trains on \
        (train --feature-staleness); such a cache serves every other run too.
        """)
    @Option(name: ModelFlags.target, help: ModelFlags.targetHelp) var target: String
    @Option(help: "Training data: JSONL {\"prompt\", \"response\"} lines.") var data: String
    @Option(help: "Output directory of the cache.") var out: String
    @OptionGroup var cacheOptions: TeacherCacheOptions
    @OptionGroup var weightOptions: WeightOptions
    @OptionGroup var threadOptions: ThreadOptions

    func run() throws {
        threadOptions.apply()
        let job = try Job.start("cache build")
        let bundle = try loadBundle(target, weights: weightOptions.weights)
        let cache = try openOrBuildTeacherCache(directory: out, target: target, bundle: bundle, data: data, options: cacheOptions.settings,
                                                communicator: job)
        print("teacher cache \(cache.directory.path): \(cache.manifest.examples) examples, \(cache.manifest.shards.reduce(0) { $0 + $1.rows }) positions, K \(cache.K)")
    }
}

/// The cache's settings, shared by `cache build` and `train --teacher-cache` (same flag names as train).
struct TeacherCacheOptions: ParsableArguments {
    @Option(name: .customLong("top-k"), help: "K, teacher ids stored per position (default 64).") var topK = 64
    @Option(help: "Distillation temperature of the stored log-probabilities (must equal train's --temperature).") var temperature: Float = 1
    @Option(help: "Prompt template: plain, chatml, gsm8k or gsm8k-chat.") var template: PromptTemplate = .plain
    @Option(help: "Tokens per sequence (prompt + response, left-truncated), as in train.") var context = 256
    @Option(name: .customLong("cache-batch-size"), help: "Sequences per teacher forward while building.") var cacheBatchSize = 8
    @Option(name: .customLong("examples-per-shard"), help: "Examples per shard file.") var examplesPerShard = 2048
    @Flag(help: "Also store the target's final hidden state at every stored position (f16, C values each), for drafts that read them (train --feature-staleness).") var states = false

    /// The parsed values as plain settings (an option group read outside parsing traps).
    var settings: TeacherCacheSettings {
        TeacherCacheSettings(topK: topK, temperature: temperature, template: template.rawValue, context: context,
                             batchSize: cacheBatchSize, examplesPerShard: examplesPerShard, stateWidth: states ? -1 : nil)
    }

    func validate() throws {
        if topK < 1 { throw ValidationError("--top-k must be ≥ 1") }
        if temperature <= 0 { throw ValidationError("--temperature must be > 0") }
    }
}

/// What `cache build` and `train --teacher-cache` build a cache with.
struct TeacherCacheSettings {
    var topK = 64, temperature: Float = 1, template = "plain", context = 256
    var batchSize = 8, examplesPerShard = 2048
    /// Cf of stored target states (nil: none; −1: the target's hidden size).
    var stateWidth: Int? = nil
}

/// Opens the complete cache in `directory` when its manifest matches, otherwise builds (or resumes) it
/// with a progress bar on stderr. `teacher` gives the model that builds it (called only when a build
/// is needed; default: the bundle's own).
/// Under `mpirun` the ranks build it together (each its own shards; TeacherCacheBuilder+Ranks).
func openOrBuildTeacherCache(directory: String, target: String, bundle: ModelBundle, data: String,
                             options o: TeacherCacheSettings, communicator: Communicator = .single,
                             teacher: (() throws -> TransformerModel)? = nil) throws -> TeacherCache {
    let dir = URL(fileURLWithPath: directory)
    let tokenizer = try bundle.requireTokenizer()
    let t0 = Date()
    let identity = TeacherCacheIdentity(
        targetSHA256: try SHA256.hex(fileAt: URL(fileURLWithPath: target)), dataSHA256: try SHA256.hex(fileAt: URL(fileURLWithPath: data)),
        template: o.template, topK: o.topK, temperature: o.temperature, context: o.context, vocabSize: tokenizer.vocabularySize,
        stateWidth: o.stateWidth.map { $0 < 0 ? bundle.model.config.hiddenSize : $0 })
    printErr(String(format: "teacher cache: hashed target and data in %.1f s", Date().timeIntervalSince(t0)))
    if let m = try TeacherCacheManifest.load(dir), m.complete, identity.stateWidth == nil || m.identity.stateWidth == identity.stateWidth {
        let cache = try TeacherCache(directory: dir, identity: identity)
        printErr("teacher cache: reusing \(dir.path) (\(m.shards.count) shards)")
        return cache
    }
    let dataset = try PromptDataset.load(URL(fileURLWithPath: data), template: PromptTemplate(rawValue: o.template)!, requireResponses: true)
    let model = try teacher?() ?? bundle.model
    printErr("teacher cache: building with \(model.native != nil ? "native" : "float32") weights")
    var builder = TeacherCacheBuilder(teacher: model, tokenizer: tokenizer, dataset: dataset, identity: identity)
    builder.batchSize = o.batchSize
    builder.examplesPerShard = o.examplesPerShard
    var bar = ProgressBar(total: dataset.examples.count, label: "teacher cache")
    var skippedExamples = 0
    let ranks = communicator.size > 1 ? " (rank 0's share; \(communicator.size) ranks build in parallel)" : ""
    return try builder.build(into: dir, communicator: communicator) { event in
        switch event {
        case .started(let examples, let shards, let skipped):
            skippedExamples = min(examples, skipped * o.examplesPerShard)
            bar = ProgressBar(total: examples, label: "teacher cache")
            bar.message("teacher cache: \(examples) examples in \(shards) shards\(skipped > 0 ? ", resuming after \(skipped) complete" : "")\(ranks)")
        case .progress(let examples, let positions, let tokens, let seconds):
            bar.update(skippedExamples + examples, String(format: "%.0f tok/s, %.0f supervised pos/s", Double(tokens) / max(seconds, 1e-9),
                                                        Double(positions) / max(seconds, 1e-9)))
        case .shardWritten: break
        case .finished(let positions, let seconds):
            bar.finish()
            printErr(String(format: "teacher cache: %d positions in %.1f s", positions, seconds))
        }
    }
}

import ArgumentParser
import Foundation
import SpecDistill

struct BenchModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Training and decoding speed of the draft and target configurations (random weights).",
        discussion: """
        Training: tokens/s of forward + cross-entropy + backward + clipping + AdamW at B 16 × T 256, \
        the phases of a step, achieved model GFLOP/s and the model-FLOPs utilisation against the \
        same-run cblas_sgemm peak. Decoding: batch-1 greedy tokens/s with the KV cache (prompt 16, \
        128 new tokens, prefill included), and the time of appending 5 tokens against 1 at cache \
        length 128. Medians of several runs. Compare with Scripts/compare-torch in the same session.
        """
    )
    enum ConfigChoice: String, ExpressibleByArgument, CaseIterable { case draft, target, both }
    @Option(help: "Which configuration to measure.") var config: ConfigChoice = .both
    @Option(help: "Architecture of the configurations.") var arch: Architecture = .llama
    @Option(help: "Timed training steps (median reported).") var steps = 5
    @Option(name: .customLong("decode-runs"), help: "Timed decoding runs (median reported).") var decodeRuns = 5
    @Flag(name: .customLong("decode-only"), help: "Skip the training measurement.") var decodeOnly = false
    @Option(help: "Write the results as JSON to this file.") var json: String?
    @OptionGroup var threadOptions: ThreadOptions

    func validate() throws {
        if steps < 1 || decodeRuns < 1 { throw ValidationError("--steps and --decode-runs must be at least 1") }
    }

    func run() throws {
        threadOptions.apply()
        let architecture = arch
        let names = config == .both ? ["draft", "target"] : [config.rawValue]
        print("specdistill bench model — \(arch.rawValue), threads \(Threads.count), B 16 × T 256, medians")
        var results: [ModelBenchmark.Result] = []
        for name in names {
            let r = try ModelBenchmark.run(name: name, config: ModelBenchmark.config(name, architecture: architecture),
                                           steps: steps, decodeRepetitions: decodeRuns, train: !decodeOnly)
            results.append(r)
            printErr("\(name): done")
        }
        print(pad("config", 8) + pad("params", 10) + pad("train tok/s", 13) + pad("step ms", 9) + pad("fwd/loss/bwd/opt ms", 22)
              + pad("GFLOP/s", 9) + pad("sgemm GF/s", 12) + pad("MFU", 6) + pad("decode tok/s", 14)
              + pad("append1 ms", 12) + pad("append5 ms", 12) + "5/1")
        for r in results {
            let phases = [r.forwardSeconds, r.lossSeconds, r.backwardSeconds, r.optimizerSeconds]
                .map { f($0 * 1e3, 0) }.joined(separator: "/")
            print(pad(r.name, 8) + pad(String(format: "%.2fM", Double(r.parameters) / 1e6), 10)
                  + pad(f(r.trainTokensPerSecond, 0), 13) + pad(f(r.trainStepSeconds * 1e3, 1), 9) + pad(phases, 22)
                  + pad(f(r.achievedGFLOPs, 1), 9) + pad(f(r.sgemmPeakGFLOPs, 1), 12) + pad(f(r.mfu, 2), 6)
                  + pad(f(r.decodeTokensPerSecond, 1), 14) + pad(f(r.appendOneSeconds * 1e3, 3), 12)
                  + pad(f(r.appendFiveSeconds * 1e3, 3), 12) + f(r.appendRatio, 2))
        }
        if let json { try writeBenchJSON(results, to: json) }
    }
}

struct BenchDecode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Batch-1 greedy decoding of a real model against the same-run bandwidth bound.",
        discussion: """
        Loads the model (reporting load time and resident memory), decodes --tokens greedy tokens \
        after the prompt --runs times, and prints tokens/s, the float32 weight bytes read per \
        token (file bytes for native GGUF matrices), the achieved GB/s and the fraction of the bandwidth limit: the same-run streaming read \
        bandwidth over a buffer of the bytes per token (memory when the weights exceed the last-level cache, the cache when they fit) \
        ÷ bytes per token; the memory bandwidth (512 MB) is printed beside it. Append tokens/s exclude the prefill; total tokens/s include it.
        """
    )
    @Option(name: [.short, .long], help: "Model: a Hugging Face directory or a .gguf file.") var model: String
    @Option(help: "The prompt text.") var prompt = "The capital of France is"
    @Option(help: "New tokens per run.") var tokens = 64
    @Option(help: "Timed runs (median reported).") var runs = 5
    @Option(name: .customLong("draft-layers"),
            help: "Also measure a draft made of this many evenly spaced layers of the model (0: none).")
    var draftLayers = 4
    @Option(name: .customLong("append-reps"), help: "Timed repetitions of the append(k) table (0: skip it).")
    var appendReps = 15
    @Option(name: .customLong("append-past"),
            help: "Cache length before each append of the append(k) table: attention grows with it (a GSM8K prompt and its answer: ~300).")
    var appendPast = 64
    @Option(name: .customLong("append-k"),
            help: "Comma-separated token counts of the append(k) table, each at most 64; ratios are to the first (e.g. 1,5 for speculative verification of 4 drafted tokens).")
    var appendK = "1,2,3,4,5,6"
    @Option(name: .customLong("output-rows"),
            help: "Compute only the first K rows of the output layer, as a draft head trimmed by --draft-vocab K reads it (a draft's step cost; 0: all).")
    var outputRows = 0
    @Option(help: "Write the results as JSON to this file.") var json: String?
    @OptionGroup var threadOptions: ThreadOptions
    @OptionGroup var weightOptions: WeightOptions

    func validate() throws {
        if tokens < 2 || runs < 1 { throw ValidationError("--tokens must be at least 2 and --runs at least 1") }
        if outputRows < 0 { throw ValidationError("--output-rows must be at least 0 (0: the whole output layer)") }
        if draftLayers < 0 || appendReps < 0 || appendPast < 0 {
            throw ValidationError("--draft-layers, --append-reps and --append-past must be at least 0")
        }
        _ = try appendCounts()
    }

    /// --append-k parsed: positive token counts, at most 64 each.
    func appendCounts() throws -> [Int] {
        let ks = appendK.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !ks.isEmpty, ks.allSatisfy({ $0 != nil && $0! >= 1 && $0! <= 64 }) else {
            throw ValidationError("--append-k '\(appendK)' must be comma-separated token counts from 1 to 64, e.g. 1,2,4,5")
        }
        return ks.map { $0! }
    }

    struct Report: Codable {
        var model: String
        var loadSeconds: Double
        var residentBytesAfterLoad: Int?
        var decode: ModelBenchmark.DecodeResult
        /// The draft of --draft-layers layers, decoded like the model.
        var draftDecode: ModelBenchmark.DecodeResult?
        /// Milliseconds of append(k) for each k of ``appendK``, the model's and the draft's:
        /// medians under "model" / "draftN", minima under "model.min" / "draftN.min".
        var appendMilliseconds: [String: [Double]]
        /// The token counts of that table (--append-k).
        var appendK: [Int]
        /// The cache length before each append of that table (--append-past).
        var appendPast: Int
    }

    /// One line of the decode table.
    func printDecodeRow(_ name: String, _ r: ModelBenchmark.DecodeResult) {
        print(pad(name, 8) + pad("\(r.promptTokens)", 8) + pad("\(r.newTokens)", 5) + pad(f(r.tokensPerSecond, 1), 8)
              + pad(f(r.appendTokensPerSecond, 1), 14) + pad(f(1e3 / r.appendTokensPerSecond, 2), 9)
              + pad(f(r.weightBytesPerToken / 1e6, 1), 10) + pad(f(r.achievedGBs, 1), 7) + pad(f(r.memoryBandwidthGBs, 1), 11) + pad(f(r.bandwidthGBs, 1), 16)
              + pad(f(r.limitTokensPerSecond, 1), 13) + pad(f(1e3 / r.limitTokensPerSecond, 2), 10)
              + String(format: "%.0f%%", r.fractionOfLimit * 100))
    }

    func run() throws {
        threadOptions.apply()
        let t0 = Date()
        let bundle = try loadBundle(model, quiet: true, weights: weightOptions.weights)
        let loadSeconds = Date().timeIntervalSince(t0)
        let rss = ModelBenchmark.residentBytes()
        let ids = try bundle.requireTokenizer().encode(prompt)
        let V = bundle.model.config.vocabSize
        guard outputRows <= V else { throw ValidationError("--output-rows \(outputRows) exceeds the vocabulary of \(V)") }
        let rows = outputRows > 0 && outputRows < V ? outputRows : nil
        let r = try ModelBenchmark.decode(model: bundle.model, prompt: ids, newTokens: tokens, repetitions: runs, outputRows: rows)
        var draft: TransformerModel? = nil
        var draftResult: ModelBenchmark.DecodeResult? = nil
        if draftLayers > 0 {
            let d = try bundle.model.truncatedCopy(layers: bundle.model.evenlySpacedLayers(draftLayers))
            draft = d
            draftResult = try ModelBenchmark.decode(model: d, prompt: ids, newTokens: tokens, repetitions: runs, outputRows: rows)
        }
        print("specdistill bench decode — \(model), threads \(Threads.count), \(Matmul.kernelPaths), load average \(loadAverage())"
              + (rows.map { ", output layer trimmed to \($0) rows" } ?? ""))
        print(String(format: "load %.2f s, resident %@ after load, %.1fM parameters", loadSeconds,
                     rss.map { String(format: "%.0f MB", Double($0) / 1e6) } ?? "?", Double(r.parameters) / 1e6))
        print(pad("model", 8) + pad("prompt", 8) + pad("new", 5) + pad("tok/s", 8) + pad("append tok/s", 14) + pad("ms/tok", 9)
              + pad("MB/token", 10) + pad("GB/s", 7) + pad("DRAM GB/s", 11) + pad("same-size GB/s", 16) + pad("limit tok/s", 13)
              + pad("limit ms", 10) + "of limit")
        printDecodeRow("model", r)
        if let draftResult { printDecodeRow("draft\(draftLayers)", draftResult) }
        print("first tokens: \(r.tokens.prefix(16).map(String.init).joined(separator: " "))")
        var appendMs: [String: [Double]] = [:]
        if appendReps > 0 {
            let ks = try appendCounts()
            var medians: [(name: String, seconds: [Double])] = [], minima: [(name: String, seconds: [Double])] = []
            var models = [("model", bundle.model)]
            if let draft { models.append(("draft\(draftLayers)", draft)) }
            for (name, m) in models {
                let t = try AppendBenchmark.appendSeconds(model: m, ks: ks, past: appendPast, repetitions: appendReps, outputRows: rows)
                medians.append((name, t.median))
                minima.append((name, t.minimum))
                appendMs[name] = t.median.map { $0 * 1e3 }
                appendMs[name + ".min"] = t.minimum.map { $0 * 1e3 }
            }
            AppendBenchmark.printTable(medians, ks: ks, past: appendPast, statistic: "median")
            AppendBenchmark.printTable(minima, ks: ks, past: appendPast, statistic: "minimum")
        }
        print("load average at the end: \(loadAverage())")
        if let json {
            try writeBenchJSON(Report(model: model, loadSeconds: loadSeconds, residentBytesAfterLoad: rss, decode: r,
                                      draftDecode: draftResult, appendMilliseconds: appendMs, appendK: try appendCounts(), appendPast: appendPast), to: json)
        }
    }
}

/// The 1-minute load average (`/proc/loadavg`), or "?": benchmarks on a shared machine say how
/// busy it was.
func loadAverage() -> String {
    guard let s = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return "?" }
    return String(s.split(separator: " ").first ?? "?")
}

/// Writes `value` as pretty-printed JSON to `path`, naming the path on failure.
func writeBenchJSON<T: Encodable>(_ value: T, to path: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    do { try encoder.encode(value).write(to: URL(fileURLWithPath: path)) } catch {
        throw ValidationError("cannot write \(path): \(error.localizedDescription)")
    }
    printErr("wrote \(path)")
}

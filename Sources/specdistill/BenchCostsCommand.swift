import ArgumentParser
import Foundation
import SpecDistill

struct BenchCosts: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "costs",
        abstract: "Candidate drafts' cost ratios c and the target's verification costs v(gamma), timed together in one process.",
        discussion: """
        Every repetition times each draft's single-token step, the target's step and the target's \
        appends of gamma + 1 tokens (gamma = 1…--max-gamma) at cache length --context, one after \
        another, so a busy neighbour or a frequency change affects every candidate alike; medians of \
        --repetitions after a warm-up. Timed in separate processes (as `train` does for its own draft), \
        the c of two shapes can differ by more than the shapes do on a noisy machine; choose between \
        shapes with this. Drafts are timed as they decode: with a .gguf target a draft directory is \
        timed as its Q8_0 copy (what `quantize` ships), with the head it was trained with \
        (draft_vocab.json). With --alpha NAME=A (teacher-forced acceptance, e.g. from the run's \
        evaluations.jsonl) each row also gets the best gamma and the predicted speedup \
        tau / (gamma·c + v(gamma)).
        """
    )
    @Option(name: ModelFlags.target, help: ModelFlags.targetHelp) var model: String
    @Option(name: ModelFlags.drafts,
            help: ArgumentHelp("Candidate drafts as NAME=MODEL, comma-separated or repeated.", valueName: "name=model"))
    var drafts: [String] = []
    @Option(help: ArgumentHelp("Acceptance of each draft as NAME=ALPHA (0…1), comma-separated: adds the predicted speedup.",
                               valueName: "name=alpha"))
    var alpha: [String] = []
    @Option(help: "Cache length of the timed steps.") var context = 128
    @Option(help: "Timed repetitions (medians reported).") var repetitions = 9
    @Option(name: .customLong("max-gamma"), help: "Verification is timed for gamma = 1…this.") var maxGamma = 8
    @Option(help: "Write the results as JSON to this file.") var json: String?
    @OptionGroup var threadOptions: ThreadOptions

    func validate() throws {
        if drafts.isEmpty { throw ValidationError("give at least one draft: --drafts NAME=MODEL,…") }
        if context < 1 || repetitions < 1 || maxGamma < 1 {
            throw ValidationError("--context, --repetitions and --max-gamma must be ≥ 1")
        }
        let names = try namedPairs(drafts, option: "--drafts", what: "MODEL").map(\.name)
        for (name, value) in try namedPairs(alpha, option: "--alpha", what: "ALPHA") {
            guard names.contains(name) else { throw ValidationError("--alpha \(name): no draft of that name (names: \(names.joined(separator: ", ")))") }
            guard let a = Double(value), a >= 0, a <= 1 else { throw ValidationError("--alpha \(name)=\(value): ALPHA must be a number in [0, 1]") }
        }
    }

    struct Row: Codable {
        var name: String, path: String, type: String
        var costs: DraftCostMeasurement
        var costRatio: Double
        var alpha: Double?, bestGamma: Int?, predictedSpeedup: Double?
    }

    func run() throws {
        threadOptions.apply()
        let targetBundle = try loadBundle(model, weights: .native)
        let gguf = targetBundle.format == "gguf"
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("specdistill-costs-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        var candidates: [(name: String, path: String, type: String, model: TransformerModel, ids: [Int]?)] = []
        for (i, (name, path)) in try namedPairs(drafts, option: "--drafts", what: "MODEL").enumerated() {
            let b = try loadBundle(path, weights: .native)
            var model = b.model, type = b.format == "gguf" ? "native" : "float32"
            if gguf && b.format != "gguf" {
                let dir = scratch.appendingPathComponent("\(i)")
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                (model, type) = try shippedDraft(b.model, directory: dir)
            }
            let ids = try DraftVocabularyFile.read(modelPath: path, vocabularySize: b.model.config.vocabSize)?.ids
            candidates.append((name, path, type, model, ids))
        }
        let alphas = Dictionary(uniqueKeysWithValues: try namedPairs(alpha, option: "--alpha", what: "ALPHA").map { ($0.name, Double($0.value)!) })
        let bar = ProgressBar(total: repetitions + 1, label: "timing")
        var passes = 0
        let measured = try DraftCost.measure(drafts: candidates.map { ($0.model, $0.ids) }, target: targetBundle.model, context: context,
                                             repetitions: repetitions, maxGamma: maxGamma) { event in
            if case .timing(let what) = event { bar.update(passes, what); passes += 1 }
        }
        bar.finish()
        let rows = zip(candidates, measured).map { c, m -> Row in
            var row = Row(name: c.name, path: c.path, type: c.type, costs: m, costRatio: m.costRatio)
            if let a = alphas[c.name] {
                let best = DraftCost.bestDraftLength(alpha: a, costs: m)
                row.alpha = a; row.bestGamma = best.gamma; row.predictedSpeedup = best.speedup
            }
            return row
        }
        let m0 = measured[0]
        print("specdistill bench costs — target \(model), cache length \(m0.context), medians of \(repetitions) interleaved repetitions, "
              + "threads \(Threads.count), \(Matmul.kernelPaths), load average \(loadAverage())")
        print(String(format: "target step %.2f ms; verification v(gamma) = t(gamma + 1 tokens) / t(1): %@", m0.targetStepSeconds * 1e3,
                     (1...m0.maxGamma).map { String(format: "%.2f", m0.verifyCost(gamma: $0)) }.joined(separator: " ")))
        print(pad("draft", 14) + pad("type", 9) + pad("head rows", 11) + pad("step ms", 9) + pad("c", 8) + pad("alpha", 7) + pad("gamma", 7) + "predicted S")
        for r in rows {
            print(pad(r.name, 14) + pad(r.type, 9) + pad("\(r.costs.draftOutputRows)", 11) + pad(f(r.costs.draftStepSeconds * 1e3, 3), 9)
                  + pad(f(r.costRatio, 3), 8) + pad(r.alpha.map { f($0, 3) } ?? "-", 7) + pad(r.bestGamma.map { "\($0)" } ?? "-", 7)
                  + (r.predictedSpeedup.map { f($0, 2) + "×" } ?? "-"))
        }
        if let json {
            let e = JSONEncoder()
            e.outputFormatting = [.prettyPrinted, .sortedKeys]
            try AtomicFile.write(e.encode(rows), to: URL(fileURLWithPath: json))
        }
    }
}

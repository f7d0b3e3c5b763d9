import ArgumentParser
import Foundation
import SpecDistill

struct BenchDistill: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distill",
        abstract: "One distillation step of a real target into a draft of its layers, phase by phase, against the sgemm bound.",
        discussion: """
        Forward KL from --model into a draft made of its layers (--draft-from-target), on random \
        tokens whose first half is an unsupervised prompt. Prints each phase's time, FLOPs and \
        GFLOP/s, the step's FLOPs, the cblas_sgemm rate measured in the same run, and the fraction \
        of that bound the step reaches (bound seconds ÷ measured seconds). Medians of --steps steps \
        after a warm-up. The draft is --draft-from-target LAYERS, by default 1 (one layer).
        """
    )
    @Option(name: ModelFlags.target, help: ModelFlags.targetHelp) var model: String
    @OptionGroup var draftFromTargetOption: DraftFromTargetOption
    @Option(name: .customLong("batch-size"), help: "Sequences per step (B).") var batchSize = 4
    @Option(help: "Tokens per sequence (T).") var context = 256
    @Option(help: "Fraction of each sequence that is supervised (the response).") var supervised = 0.5
    @Option(help: "Timed steps (median reported).") var steps = 3
    @Option(name: .customLong("draft-vocab"), help: "Trim the draft's output layer to this many tokens while training (0: all V).")
    var draftVocab = 0
    @Flag(name: .customLong("all-rows"), help: "Evaluate the output layers at every row, not only at supervised rows (the old path).")
    var allRows = false
    @Option(help: "Write the result as JSON to this file.") var json: String?
    @OptionGroup var threadOptions: ThreadOptions

    /// Default: one layer.
    var draftFromTarget: String { draftFromTargetOption.layers ?? "1" }

    func validate() throws {
        if batchSize < 1 || context < 2 || steps < 1 { throw ValidationError("--batch-size, --steps must be ≥ 1 and --context ≥ 2") }
        if draftVocab < 0 { throw ValidationError("--draft-vocab must be ≥ 0, got \(draftVocab)") }
        if !(supervised > 0 && supervised <= 1) { throw ValidationError("--supervised must be in (0, 1], got \(supervised)") }
    }

    func run() throws {
        threadOptions.apply()
        let teacher = try loadBundle(model).model
        let layers = try DraftLayers.parse(draftFromTarget, of: teacher)
        let draft = try teacher.truncatedCopy(layers: layers)
        print("specdistill bench distill — \(model), draft layers \(layers), B \(batchSize) × T \(context), "
              + "threads \(Threads.count), \(Matmul.kernelPaths), load average \(loadAverage())")
        let r = try DistillationBenchmark.run(teacher: teacher, draft: draft, B: batchSize, T: context,
                                              supervisedFraction: supervised, steps: steps, restrictHead: !allRows,
                                              draftVocabulary: draftVocab > 0 ? draftVocab : nil)
        print(pad("phase", 18) + pad("ms", 10) + pad("GFLOP", 9) + "GFLOP/s")
        for p in r.phases {
            print(pad(p.name, 18) + pad(f(p.seconds * 1e3, 1), 10) + pad(f(p.gflop, 1), 9) + (p.gflop > 0 ? f(p.gflops, 1) : "-"))
        }
        print(pad("step", 18) + pad(f(r.stepSeconds * 1e3, 1), 10) + pad(f(r.stepGFLOP, 1), 9) + f(r.stepGFLOP / r.stepSeconds, 1))
        print("sgemm (same run) \(f(r.sgemmGFLOPs, 1)) GFLOP/s; step at \(f(100 * r.fractionOfBound, 0))% of the sgemm bound; "
              + "\(f(r.tokensPerSecond, 0)) tokens/s (\(r.supervisedRows) supervised rows per step, draft head width \(r.draftHeadWidth))")
        print("load average at the end: \(loadAverage())")
        if let json { try writeBenchJSON([r], to: json) }
    }
}

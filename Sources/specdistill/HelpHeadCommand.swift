import ArgumentParser
import Foundation
import SpecDistill

/// `specdistill help-head`: fits a ``HelpHead`` (when a student should hand a token to its
/// teacher) on training prompts, for `decode --mode help --help-policy head --help-head FILE`.
struct HelpHeadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "help-head",
        abstract: "Fit a help head: when the student asks the teacher, learned from the teacher's log-probabilities.",
        discussion: """
        The student decodes the first --examples prompts greedily; the teacher scores every position, and a \
        ridge regression (LAPACKE) on the student's final hidden state and four statistics of its next-token \
        distribution learns the one-step gain of asking, log p_T(teacher's token) − log p_T(student's token) \
        (--predict chooses the target; expected-stake fits a logistic model). The penalty, chosen on held-out \
        prompts, shrinks the hidden state's weights only (at the grid's largest ρ the fit tends to the \
        statistics-only one). \
        Then, for each budget b, the multiplier λ_b is calibrated on the next --calibration prompts by \
        decoding with the teacher and moving λ_b to the gain above which a fraction b of the visited \
        positions lie (--rounds times). `decode --mode help --help-policy head` asks exactly where the \
        predicted gain exceeds λ_b: the argmax rule with <help>'s logit max_a z_a + G(s) − λ_b. \
        Writes OUT (JSON) through a temporary file.
        """)

    @Option(name: ModelFlags.target, help: ModelFlags.targetHelp) var model: String
    @Option(name: ModelFlags.draft, help: ModelFlags.draftHelp("The student: a Hugging Face directory or a .gguf file, of the target's tokenizer."))
    var modelDraft: String
    @Option(help: "A JSONL file of {\"prompt\": ...} lines (training prompts, disjoint from the evaluation's).") var prompts: String
    @Flag(help: "Wrap each prompt in the ChatML chat template, as `decode --chat`.") var chat = false
    @Option(help: "Prompts whose positions fit the head (the first ones of the file).") var examples = 48
    @Option(help: "Prompts after those that calibrate the multipliers (0: fit and report the held-out statistics only; the file then has no multipliers and decodes nothing).") var calibration = 16
    @Option(help: "Calibration rounds (each decodes the calibration prompts once per budget).") var rounds = 2
    @Option(help: "Budgets to calibrate, fractions in (0, 1], e.g. 0.1,0.2,0.3,0.5.") var budgets = "0.1,0.2,0.3,0.5"
    @Option(help: "hidden (the student's final hidden state and its distribution's statistics) or logits (the statistics only).")
    var features: Features = .hidden
    @Option(name: .customLong("predict"), help: "What the head predicts: gain (log p_T of the teacher's token − of the student's), disagreement (1 where they differ), at-stake (disagreement × the share of the answer still to come, 1 − t/n), or expected-stake (the product form: a logistic model of disagreement, times 1 − t/n at decoding).")
    var prediction: HelpHeadFitter.Target = .gain
    @Flag(help: "Give the head the response position: u = 1 − t/n and u times each logit statistic (5 more features).")
    var position = false
    @Option(help: "Cache of the collected positions (binary, bound to the two model files, the prompts and -n): read when it exists, else written after collecting; refits skip the decoding.")
    var samples: String?
    @Option(name: [.customShort("n"), .customLong("max-tokens"), .customLong("n-predict")], help: "New tokens per prompt.") var maxTokens = 128
    @Option(name: .customLong("out"), help: "The head's JSON file.") var out: String
    @OptionGroup var threadOptions: ThreadOptions
    @OptionGroup var weightOptions: WeightOptions

    enum Features: String, ExpressibleByArgument, CaseIterable { case hidden, logits }

    func validate() throws {
        if examples < 2 { throw ValidationError("--examples must be ≥ 2, got \(examples)") }
        if calibration < 0 { throw ValidationError("--calibration must be ≥ 0, got \(calibration)") }
        if rounds < 1 { throw ValidationError("--rounds must be ≥ 1, got \(rounds)") }
        if maxTokens < 1 { throw ValidationError("--max-tokens must be ≥ 1, got \(maxTokens)") }
    }

    func run() throws {
        threadOptions.apply()
        let bs = try HelpBudget.parse(budgets).filter { $0 > 0 }
        guard !bs.isEmpty else { throw ValidationError("--budgets needs at least one budget above 0") }
        let targetBundle = try loadBundle(model, weights: weightOptions.weights)
        let tokenizer = try targetBundle.requireTokenizer()
        let studentBundle = try loadBundle(modelDraft, weights: weightOptions.weights)
        let V = try SharedVocabulary.check(target: targetBundle.model, targetTokenizer: tokenizer,
                                           draft: studentBundle.model, draftTokenizer: studentBundle.tokenizer, role: "student")
        let texts = try readPromptFile(prompts)
        guard texts.count >= examples + calibration else {
            throw ValidationError("\(prompts) has \(texts.count) prompts; --examples \(examples) + --calibration \(calibration) need \(examples + calibration)")
        }
        let encoded = texts.prefix(examples + calibration).map { tokenizer.encode(chat ? chatPrompt($0) : $0) }
        var fitter = HelpHeadFitter(student: studentBundle.model, teacher: targetBundle.model, vocabularySize: V, maxTokens: maxTokens,
                                    stopTokens: stopTokens(tokenizer, targetBundle), useHidden: features == .hidden)
        fitter.target = prediction
        fitter.horizon = position ? maxTokens : nil
        let C = studentBundle.model.config.hiddenSize
        var collected: HelpHeadFitter.Samples
        let cache = samples.map { URL(fileURLWithPath: ($0 as NSString).expandingTildeInPath) }
        let binding = try cache.map { _ in
            try HelpHeadFitter.binding(student: URL(fileURLWithPath: (modelDraft as NSString).expandingTildeInPath),
                                       teacher: URL(fileURLWithPath: (model as NSString).expandingTildeInPath),
                                       prompts: Array(encoded.prefix(examples)), maxTokens: maxTokens)
        }
        if let cache, FileManager.default.fileExists(atPath: cache.path) {
            collected = try HelpHeadFitter.Samples.read(from: cache, expectedBinding: binding)
            guard collected.width == C + HelpHead.logitFeatureCount else {
                throw ValidationError("\(cache.path) holds features of width \(collected.width); this student needs \(C + HelpHead.logitFeatureCount); delete it to collect again")
            }
            printErr("read \(collected.count) positions from \(cache.path)")
        } else {
            // Always with the hidden states, so one cache serves both --features.
            var full = fitter
            full.useHidden = true
            let bar = ProgressBar(total: examples, label: "collect")
            collected = try full.collect(prompts: Array(encoded.prefix(examples))) { done, _ in bar.update(done, "") }
            bar.finish()
            collected.binding = binding ?? ""
            if let cache { try collected.write(to: cache) }
        }
        if features == .logits { collected = collected.logitStatisticsOnly(hiddenSize: C) }
        if position { collected = collected.withPositionFeatures(horizon: maxTokens) }
        var head = try fitter.fit(collected)
        let fit = head.fit
        printErr(String(format: "fitted on %d positions of %d prompts: student = teacher's greedy token at %.1f%%, mean gain %.3f nats, ρ %g",
                        collected.count, examples, (fit["agreement"] ?? 0) * 100, fit["mean_gain"] ?? 0, fit["rho"] ?? 0))
        for rho in fitter.ridgeGrid { if let r2 = fit["validation_r2_rho_\(rho)"] { printErr(String(format: "  ρ %-7g validation R² %.3f", rho, r2)) } }
        let names = ["head", "entropy", "top1", "top1_stake", "oracle"]
        for b in [0.1, 0.2, 0.3, 0.5] {
            let row = names.map { name in fit["validation_captured_\(name)_\(b)"].map { String(format: "%@ %.3f", name, $0) } ?? "" }
            printErr(String(format: "  held-out gain captured asking at %.0f%% of positions: ", b * 100) + row.joined(separator: ", "))
            let caught = names.map { name in fit["validation_caught_\(name)_\(b)"].map { String(format: "%@ %.3f", name, $0) } ?? "" }
            printErr(String(format: "  held-out disagreements caught asking at %.0f%% of positions: ", b * 100) + caught.joined(separator: ", "))
            let stake = names.map { name in fit["validation_stake_\(name)_\(b)"].map { String(format: "%@ %.3f", name, $0) } ?? "" }
            printErr(String(format: "  held-out at-stake mass caught asking at %.0f%% of positions: ", b * 100) + stake.joined(separator: ", "))
        }
        if calibration == 0 {
            try head.write(to: URL(fileURLWithPath: (out as NSString).expandingTildeInPath))
            printErr("wrote \(out) without multipliers (--calibration 0): fit again with --calibration N to decode with it")
            return
        }
        let measured = try fitter.calibrate(&head, budgets: bs, prompts: Array(encoded.dropFirst(examples)), initial: collected,
                                            rounds: rounds) { round, b, f in
            printErr(String(format: "calibration round %d, budget %.2f: teacher fraction %.3f", round, b, f))
        }
        for (k, b) in head.budgets.enumerated() {
            head.fit["calibration_fraction_\(b)"] = measured.last?[k]
        }
        try head.write(to: URL(fileURLWithPath: (out as NSString).expandingTildeInPath))
        printErr("multipliers: " + zip(head.budgets, head.multipliers).map { String(format: "%.2f → %.4f", $0, $1) }.joined(separator: ", "))
        printErr("wrote \(out)")
    }
}

extension HelpHeadFitter.Target: ExpressibleByArgument {}

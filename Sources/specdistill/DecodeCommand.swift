import ArgumentParser
import Foundation
import SpecDistill

extension DraftSchedule: ExpressibleByArgument {}
extension Lenience: ExpressibleByArgument {}

struct DecodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Speculative decoding with a target and a draft model; statistics and the measured speedup.",
        discussion: """
        Streams the continuation of each prompt to stdout. Statistics go to stderr (--stats text) or, as \
        one JSON object on the last line of stdout, with --stats json. --compare also decodes every prompt \
        with the target alone (same settings, run just before the speculative decode) and reports the \
        measured wall-clock speedup beside the predicted one; at temperature 0 it checks that both outputs \
        are identical and exits with status 1 if they are not. Speeds are per token of the decoding loops \
        (prefill excluded); build with -c release. \
        --mode help decodes with a student trained by `train --method pcl --help-budgets` (-md): the \
        student writes every token and, when it picks <help>, the target emits its greedy token (its \
        cache caught up in one batched call). The prompt states --budget ("teacher budget: 20%"); \
        --enforce-budget masks <help> whenever it would lift the running teacher fraction above it; --help-threshold P makes the student ask \
        exactly when its probability of <help> is at least P. --help-policy random|entropy|top1 are the \
        baselines the learned policy must beat at equal teacher use (any student, no <help> needed, no budget \
        line in the prompt): ask with probability --budget, or where the student's entropy (nats) or \
        1 − top-1 probability is at least --help-threshold — by default the threshold that asks at a \
        fraction --budget of the positions of the student's own greedy decoding of these prompts; \
        entropy-position and top1-position multiply the score by 1 − t/n at response position t (more \
        asks early, where a miss leaves the teacher's text for longer). \
        --spec-type lookup drafts without a model (prompt lookup: the tokens that followed the latest earlier \
        match of the last n tokens, n = --lookup-ngram-max … --lookup-ngram-min, in prompt + output and \
        --lookup-corpus); --spec-type lookup,model chains it before the -md draft (--chain-policy).
        """
    )

    enum AcceptanceChoice: String, ExpressibleByArgument, CaseIterable { case greedy, rejection, lossy }
    enum StatsFormat: String, ExpressibleByArgument, CaseIterable { case text, json, none }
    enum Mode: String, ExpressibleByArgument, CaseIterable { case speculative, help }

    @Option(name: ModelFlags.target, help: ModelFlags.targetHelp) var model: String
    @Option(name: ModelFlags.draft, help: ModelFlags.draftHelp("Draft model (the student of --mode help): a Hugging Face directory or a .gguf file, of the target's tokenizer."))
    var modelDraft: String?
    @Option(name: .customLong("spec-type"),
            help: "Proposers: model (-md / --draft-from-target), lookup (prompt lookup, no draft model) or lookup,model (lookup first, then the model). Default: model.")
    var specType: SpecType?
    @Option(name: .customLong("chain-policy"),
            help: "With --spec-type lookup,model: expected (the source with more expected tokens per cost; default) or first (lookup drafts whenever it matches).")
    var chainPolicy: ChainPolicy = .expected
    @OptionGroup var lookupOptions: LookupOptions
    @OptionGroup var draftFromTargetOption: DraftFromTargetOption
    @Option(help: "The prompt text.") var prompt: String?
    @Option(help: "A JSONL file of {\"prompt\": ...} lines, decoded in order.") var prompts: String?
    @Flag(help: "Wrap each prompt in the ChatML chat template (<|im_start|>user … assistant).") var chat = false
    @Option(name: [.customShort("n"), .customLong("max-tokens"), .customLong("n-predict")], help: "Maximum new tokens per prompt.") var maxTokens = 64
    @OptionGroup var sampling: SamplingOptions
    @OptionGroup var draftOptions: DraftOptions
    @Option(help: "Acceptance rule: greedy (needs temperature 0), rejection (lossless) or lossy (DistillSpec lenience). Default: greedy at temperature 0, else rejection.")
    var accept: AcceptanceChoice?
    @Option(help: "Lenience function of --accept lossy: lin (p/eps), sq (p/eps²) or exp (p^eps).") var lenience: Lenience?
    @Option(help: "Lenience epsilon of --accept lossy, in (0, 1]; 1 is lossless.") var epsilon: Double?
    @Option(help: "Statistics: text (stderr), json (last line of stdout) or none.") var stats: StatsFormat = .text
    @Flag(help: "Colour the output: accepted draft tokens green, target replacements after a rejection red, bonus tokens plain.")
    var color = false
    @Flag(help: "Also decode with the target alone and compare speed (and, at temperature 0, the outputs).") var compare = false
    @Option(name: .customLong("bandwidth-gbs"), help: "Memory bandwidth in GB/s for the weight-streaming time of a step.")
    var bandwidthGBs = 30.0
    @Option(help: "speculative (target verifies draft tokens) or help (the student asks the target for tokens).")
    var mode: Mode = .speculative
    @Option(help: "--mode help: the teacher budget in [0, 1] (fraction of teacher tokens), stated in the prompt.") var budget: Double?
    @Flag(name: .customLong("enforce-budget"), help: "--mode help: mask <help> once the budget is spent.") var enforceBudget = false
    @Option(name: .customLong("help-threshold"), help: "--mode help: ask the teacher exactly when the student's p(<help>) ≥ this value (default: only when <help> is the sampled / argmax token).")
    var helpThreshold: Double?
    @Option(name: .customLong("help-policy"), help: "--mode help: learned (the student's <help> action), head (a help head fitted by `specdistill help-head`, --help-head FILE), random, entropy, top1, entropy-position or top1-position (baselines).")
    var helpPolicy: HelpPolicyChoice = .learned
    @Option(name: .customLong("help-head"), help: "--help-policy head: the head's JSON file (from `specdistill help-head`).")
    var helpHead: String?
    @Option(name: .customLong("output-jsonl"), help: "Also write one JSON line per prompt: {prompt, output, tokens, ...}.")
    var outputJSONL: String?
    @OptionGroup var draftVocabOptions: DraftVocabOptions
    @OptionGroup var autoOffOptions: AutoOffOptions
    @OptionGroup var threadOptions: ThreadOptions
    @OptionGroup var weightOptions: WeightOptions


    var acceptanceRule: AcceptanceRule {
        switch accept ?? (sampling.temperature == 0 ? .greedy : .rejection) {
        case .greedy: return .greedy
        case .rejection: return .rejection
        case .lossy: return .lossy(lenience ?? .lin, epsilon: epsilon ?? 1)
        }
    }

    var draftSettings: DraftSettings { draftOptions.settings }

    func validate() throws {
        if (prompt == nil) == (prompts == nil) { throw ValidationError("give exactly one of --prompt TEXT and --prompts FILE.jsonl") }
        let spec = specType ?? .model
        if spec.model && (modelDraft == nil) == (draftFromTargetOption.layers == nil) {
            throw ValidationError("give exactly one of -md DRAFT and --draft-from-target LAYERS (or --spec-type lookup for no draft model)")
        }
        if !spec.model && (modelDraft != nil || draftFromTargetOption.layers != nil) {
            throw ValidationError("--spec-type lookup drafts without a model; drop -md / --draft-from-target or use --spec-type lookup,model")
        }
        if mode == .help && spec.lookup { throw ValidationError("--spec-type lookup applies to --mode speculative") }
        if draftVocabOptions.k != nil && !spec.model { throw ValidationError("--draft-vocab trims a draft model's head; --spec-type lookup has none") }
        if mode == .help {
            if modelDraft == nil { throw ValidationError("--mode help needs -md STUDENT (a model trained with --method pcl --help-budgets)") }
            guard let budget, budget >= 0, budget <= 1 else { throw ValidationError("--mode help needs --budget in [0, 1]") }
            if compare || color { throw ValidationError("--compare and --color apply to --mode speculative") }
            if draftVocabOptions.k != nil { throw ValidationError("--draft-vocab applies to --mode speculative (a help student keeps its whole head)") }
            if let t = helpThreshold, !(t >= 0) { throw ValidationError("--help-threshold must be ≥ 0, got \(t)") }
            if helpPolicy == .random && helpThreshold != nil { throw ValidationError("--help-policy random asks with probability --budget; drop --help-threshold") }
            if (helpPolicy == .head) != (helpHead != nil) { throw ValidationError("--help-policy head and --help-head FILE go together") }
            if helpPolicy == .head && helpThreshold != nil { throw ValidationError("--help-policy head asks where its gain exceeds the budget's fitted multiplier; drop --help-threshold") }
        } else if budget != nil || enforceBudget || helpThreshold != nil || helpPolicy != .learned || helpHead != nil {
            throw ValidationError("--budget, --enforce-budget, --help-threshold, --help-policy and --help-head apply to --mode help")
        }
        if draftVocabOptions.k != nil && draftVocabOptions.data == nil {
            throw ValidationError("--draft-vocab needs --draft-vocab-data FILE.jsonl (the draft's training data) to count token frequencies")
        }
        if maxTokens < 0 { throw ValidationError("--max-tokens must be ≥ 0, got \(maxTokens)") }
        if accept != .lossy && (lenience != nil || epsilon != nil) {
            throw ValidationError("--lenience and --epsilon apply to --accept lossy only")
        }
        if accept == .lossy && epsilon == nil { throw ValidationError("--accept lossy needs --epsilon in (0, 1] (1 is lossless)") }
        if !(bandwidthGBs > 0) { throw ValidationError("--bandwidth-gbs must be positive, got \(bandwidthGBs)") }
        do {
            try acceptanceRule.validate(temperature: sampling.temperature)
        } catch let e as SpecDecodeError {
            throw ValidationError("\(e)")
        }
    }

    func run() throws {
        threadOptions.apply()
        if mode == .help { return try runHelp() }
        let targetBundle = try loadBundle(model, weights: weightOptions.weights)
        let tokenizer = try targetBundle.requireTokenizer()
        let spec = specType ?? .model
        var draftModel: TransformerModel?, draftTokenizer: Tokenizer?
        if !spec.model {
            draftModel = nil
        } else if let (m, layers, type) = try draftFromTargetOption.draft(of: targetBundle) {
            draftModel = m
            draftTokenizer = tokenizer
            printErr("draft: the target's embeddings, layers \(layers) and head (\(String(format: "%.1fM", Double(m.parameterCount) / 1e6)) parameters, \(type))")
        } else {
            let bundle = try loadBundle(modelDraft!, weights: weightOptions.weights)
            draftModel = bundle.model
            draftTokenizer = bundle.tokenizer
        }
        let V = try draftModel.map {
            try SharedVocabulary.check(target: targetBundle.model, targetTokenizer: tokenizer, draft: $0, draftTokenizer: draftTokenizer)
        } ?? min(tokenizer.vocabularySize, targetBundle.model.config.vocabSize)
        let texts = try prompt.map { [$0] } ?? readPromptFile(prompts!)
        let encoded = texts.map { tokenizer.encode(chat ? chatPrompt($0) : $0) }
        let maxT = (encoded.map(\.count).max() ?? 1) + maxTokens
        let target = SessionModel(model: targetBundle.model, maxT: maxT)
        var subset: OutputSubset?
        if let k = draftVocabOptions.k, let file = draftVocabOptions.data {   // validate() requires both together
            subset = try outputSubset(k, data: file, tokenizer: tokenizer, always: stopTokens(tokenizer, targetBundle), vocabularySize: V)
        } else if let path = modelDraft {
            subset = try DraftVocabularyFile.read(modelPath: path, vocabularySize: V)
        }
        let draft = draftModel.map { SessionModel(model: $0, maxT: maxT, outputSubset: subset) }
        let configuration = SpeculativeConfiguration(sampling: sampling.settings, acceptance: acceptanceRule,
                                                     draft: draftSettings, seed: sampling.seed, autoOff: autoOffOptions.settings,
                                                     lookup: spec.lookup ? lookupOptions.settings(chain: chainPolicy) : nil)
        let pair = try SpeculativePair.make(target: target, draft: draft)
        let decoder = try SpeculativeDecoder(target: pair.target, draft: pair.draft, configuration: configuration, vocabularySize: V,
                                             lookupCorpus: spec.lookup ? lookupOptions.corpusTokens(tokenizer) : [])
        let plain = PlainDecoder(model: target, sampling: sampling.settings, seed: sampling.seed, vocabularySize: V)
        let stops = stopTokens(tokenizer, targetBundle)
        var total = SpeculativeStatistics()
        var mismatches: [String] = []
        let lines = try outputJSONL.map { try JSONLWriter(path: $0) }
        if color { printErr("colours: \u{1B}[32maccepted draft token\u{1B}[0m, \u{1B}[31mtarget replacement after a rejection\u{1B}[0m, plain: bonus token") }
        for (i, ids) in encoded.enumerated() {
            var baseline: PlainOutput?
            if compare { baseline = try plain.decode(prompt: ids, maxTokens: maxTokens, stopTokens: stops) }
            print(texts[i], terminator: chat ? "\n" : "")
            var stream = StreamingDecoder(tokenizer: tokenizer)
            var out = try decoder.decode(prompt: ids, maxTokens: maxTokens, stopTokens: stops) { token in
                let text = stream.add(token.id)
                if color && !text.isEmpty && (token.origin == .draft || token.origin == .resampled) {
                    print((token.origin == .draft ? "\u{1B}[32m" : "\u{1B}[31m") + text + "\u{1B}[0m", terminator: "")
                } else {
                    print(text, terminator: "")
                }
                fflush(nil)
            }
            print(stream.finish())
            try lines?.write(["prompt": texts[i], "output": tokenizer.decode(out.tokens, skipSpecialTokens: true),
                              "tokens": out.tokens.count, "target_calls": out.statistics.targetCalls,
                              "decode_seconds": out.statistics.decodeSeconds,
                              "baseline_decode_seconds": baseline?.statistics.decodeSeconds ?? -1])
            if let baseline {
                out.statistics.baseline = baseline.statistics
                if sampling.temperature == 0, let m = firstMismatch(out.tokens, baseline.tokens) {
                    mismatches.append("prompt \(i + 1): speculative and plain outputs differ at token \(m) "
                                      + "(\(out.tokens.count) vs \(baseline.tokens.count) tokens)")
                }
            }
            total.add(out.statistics)
        }
        report(total, configuration: configuration, mismatches: mismatches)
        if !mismatches.isEmpty { throw ExitCode(1) }
    }

    /// The first index where the two token lists differ (including one ending early), or nil.
    func firstMismatch(_ a: [Int], _ b: [Int]) -> Int? {
        if let i = zip(a, b).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset { return i }
        return a.count == b.count ? nil : min(a.count, b.count)
    }

}

// MARK: Reporting

extension DecodeCommand {
    /// The JSON document of `--stats json`.
    struct Report: Encodable {
        var configuration: SpeculativeConfiguration
        var statistics: SpeculativeStatistics
        var derived: DerivedStatistics
        /// With --compare at temperature 0: whether every output matched the plain decode.
        var outputsIdentical: Bool?
        var mismatches: [String]
    }

    func report(_ s: SpeculativeStatistics, configuration: SpeculativeConfiguration, mismatches: [String]) {
        let d = s.derived
        let greedyCheck = compare && sampling.temperature == 0
        switch stats {
        case .none: break
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let r = Report(configuration: configuration, statistics: s, derived: d,
                           outputsIdentical: greedyCheck ? mismatches.isEmpty : nil, mismatches: mismatches)
            if let data = try? encoder.encode(r) { print(String(decoding: data, as: UTF8.self)) }
        case .text:
            for line in textReport(s, d) { printErr(line) }
        }
        if greedyCheck {
            if mismatches.isEmpty {
                printErr("compare: speculative and plain outputs are identical at temperature 0 (\(s.emitted) tokens, \(s.prompts) prompts)")
            } else {
                for m in mismatches { printErr("FAIL: \(m)") }
            }
        }
    }

    func textReport(_ s: SpeculativeStatistics, _ d: DerivedStatistics) -> [String] {
        func x(_ v: Double?, _ digits: Int = 3) -> String { v.map { f($0, digits) } ?? "-" }
        func ms(_ v: Double?) -> String { v.map { f($0 * 1e3, 2) + " ms" } ?? "-" }
        let mb = { (b: Int) in f(Double(b) / 1e6, 1) + " MB" }
        let bw = bandwidthGBs * 1e9
        var lines = [
            "speculative decoding (\((specType ?? .model).defaultValueDescription), \(acceptanceRule.label), \(draftOptions.draftSchedule.rawValue) schedule, draft-max \(draftOptions.draftMax)): "
                + "\(s.prompts) prompts, \(s.emitted) tokens in \(f(s.decodeSeconds, 2)) s (\(x(d.tokensPerSecond, 1)) tokens/s), "
                + "prefill \(f(s.prefillSeconds, 2)) s",
            "  rounds \(s.rounds), drafted \(s.drafted), accepted \(s.accepted), rejections \(s.rejections), bonus \(s.bonusTokens)",
            "  alpha = accepted / (accepted + rejections) \(x(d.alphaPerJudged));  accepted / drafted \(x(d.acceptedPerDrafted))",
            "  acceptance by draft position: " + d.acceptanceAtPosition.map { x($0, 2) }.joined(separator: " "),
            "  rounds by accepted count k = 0, 1, …: " + s.acceptanceHistogram.map(String.init).joined(separator: " "),
            "  tokens per target call \(x(d.tokensPerTargetCall)) (tau(alpha, mean gamma \(x(d.meanDraftLength, 2))) "
                + "predicts \(x(d.predictedTokensPerTargetCall)))",
            "  time: drafting \(f(s.draftSeconds, 3)) s (\(s.draftCalls) calls, \(ms(d.draftStepSeconds))/step), verifying "
                + "\(f(s.verifySeconds, 3)) s (\(s.targetCalls) calls, \(ms(d.targetCallSeconds))/call), other \(f(s.otherSeconds, 3)) s",
            "  weights per step: draft \(mb(s.draftWeightBytes)) (\(ms(Double(s.draftWeightBytes) / bw)) at \(f(bandwidthGBs, 0)) GB/s), "
                + "target \(mb(s.targetWeightBytes)) (\(ms(Double(s.targetWeightBytes) / bw)))",
            "  c = draft step / verification call \(x(d.costRatio));  c from weight bytes \(x(d.byteCostRatio))",
            "  predicted speedup tau / (gamma c + 1) \(x(d.predictedSpeedup, 2)) (with tau from alpha \(x(d.predictedSpeedupFromAlpha, 2)));  "
                + "MBSU \(x(d.memoryBoundSpeedup, 2))",
        ]
        for (name, src) in (s.sources ?? [:]).sorted(by: { $0.key > $1.key }) {
            lines.append("  \(name): rounds \(src.rounds), drafted \(src.drafted), accepted \(src.accepted), rejections \(src.rejections), "
                         + "alpha \(x(src.alpha)), tokens per round \(x(src.tokensPerRound, 2)), drafting \(f(src.draftSeconds, 3)) s "
                         + "(\(ms(src.drafted > 0 ? src.draftSeconds / Double(src.drafted) : nil)) per drafted token)")
        }
        if let fb = s.fallback {
            lines.append("  auto-off: \(fb.plainSteps) tokens (\(x(d.fallbackFraction.map { $0 * 100 }, 1))%) from plain fallback steps "
                + "(\(ms(d.plainStepSeconds))/step), switched off \(fb.switchesOff)×, back on \(fb.switchesOn)×; \(fb.probeRounds) probe rounds "
                + "emitted \(fb.probeTokens) tokens in \(f(fb.probeSeconds, 3)) s, incl. the draft catching up on \(fb.catchUpTokens) tokens in "
                + "\(f(fb.catchUpSeconds, 3)) s")
        }
        if let b = s.baseline {
            lines += [
                "compare (the target alone, same prompts and settings): \(b.emitted) tokens in \(f(b.decodeSeconds, 2)) s, "
                    + "\(ms(d.baselineSecondsPerToken))/token; speculative \(ms(ratio(s.decodeSeconds, s.emitted)))/token",
                "  c = draft step / plain target step \(x(d.baselineCostRatio));  a verification call costs "
                    + "\(x(d.verifyCostInTargetSteps, 2)) plain steps",
                "  measured speedup \(x(d.measuredSpeedup, 2)) vs predicted tau / (gamma c + 1) \(x(d.predictedSpeedupFromBaseline, 2))"
                    + (d.measuredSpeedup.flatMap { m in d.predictedSpeedupFromBaseline.map { " (measured / predicted \(f(m / $0, 2)))" } } ?? "")
                    + ";  with the verification cost tau / (gamma c + v) \(x(d.predictedSpeedupWithVerifyCost, 2))",
            ]
        }
        return lines
    }

    func ratio(_ a: Double, _ n: Int) -> Double? { n > 0 ? a / Double(n) : nil }
}

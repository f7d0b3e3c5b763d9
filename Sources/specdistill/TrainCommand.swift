import ArgumentParser
import Foundation
import SpecDistill

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Distil a draft model from a target (DistillSpec divergences, AdaSPEC).",
        discussion: """
        Methods: fkl = KL(target‖draft), rkl = KL(draft‖target), jsd = generalised JSD(beta) (GKD \
        convention), tvd = total variation; adaspec = forward KL on the tokens with the largest loss \
        gap to a reference model (AdaSPEC). Without --reference, adaspec runs two stages: a reference \
        distilled with fkl on fixed data from the draft's initialisation (OUT/reference), then the \
        draft from the same initialisation with the token filter (OUT/draft). Data sources: fixed \
        (dataset responses), teacher (sampled once per prompt from the target), student (sampled from \
        the current draft, on-policy), mixed (per batch: student with probability λ, else fixed; λ is --lambda, \
        or a warm start: --lambda-start for --lambda-warmup-steps, then linear to --lambda-end over \
        --lambda-ramp-steps, by default the rest of the run; e.g. --lambda-start 0 --lambda-end 0.5). \
        Every run evaluates teacher-forced acceptance on --eval-data before, every --eval-every steps \
        and after. The final draft is written to OUT/model (a Hugging Face directory). \
        pcl = Path Consistency Learning (logits as soft Q-values, teacher log-probabilities as rewards; \
        --pcl-steps, --entropy-weight, --discount), on fresh student rollouts with probability --lambda-on, \
        else on --off-policy demonstrations (dataset, teacher, replay of the last --replay-size rollouts). \
        With --help-budgets the student gets a <help> action (help_token_id in its config.json) that asks \
        the target for its greedy token; each example's prompt states a budget drawn from the list, and \
        per-budget multipliers (dual ascent, --dual-lr) penalise help beyond it.
        """
    )
    @Option(name: ModelFlags.target, help: ModelFlags.targetHelp) var target: String
    @Option(name: ModelFlags.draft, help: ModelFlags.draftHelp("Draft: a model path, or a preset (tiny, draft, small, target) made with the target's tokenizer.")) var draft: String?
    @OptionGroup var draftFromTargetOption: DraftFromTargetOption
    @Option(help: "Training data: JSONL {\"prompt\", \"response\"} lines.") var data: String
    @Option(name: .customLong("eval-data"), help: "Held-out JSONL with responses, for acceptance and loss.") var evalData: String
    @Option(help: "Prompt template: plain, chatml, gsm8k or gsm8k-chat (the GSM8K instruction in a ChatML turn).") var template: PromptTemplate = .plain
    @Option(help: "fkl, rkl, jsd, tvd, adaspec or pcl.") var method: TrainingMethod = .fkl
    @Option(help: "JSD beta in [0, 1] (0 = forward KL, 1 = reverse KL).") var beta: Float = 0.5
    @Option(help: "Distillation temperature (applied to both models).") var temperature: Float = 1
    @Option(help: "Loss normalisation: per-sequence (DistillSpec) or per-token (GKD).") var normalization: NormalizationChoice = .perSequence
    @Option(name: .customLong("data-source"), help: "fixed, teacher, student or mixed.") var dataSource: DataSourceKind = .fixed
    @Option(help: "Probability of on-policy (student) data per batch for --data-source mixed (constant; see --lambda-start/--lambda-end for a schedule).") var lambda: Double = 0.5
    @Option(name: .customLong("lambda-start"), help: "--data-source mixed: on-policy fraction at the first step of a schedule that rises to --lambda-end (a warm start on fixed data; default: --lambda).")
    var lambdaStart: Double?
    @Option(name: .customLong("lambda-end"), help: "--data-source mixed: on-policy fraction after the ramp (default: --lambda).")
    var lambdaEnd: Double?
    @Option(name: .customLong("lambda-warmup-steps"), help: "Steps held at --lambda-start before the ramp.")
    var lambdaWarmupSteps = 0
    @Option(name: .customLong("lambda-ramp-steps"), help: "Steps of the linear ramp from --lambda-start to --lambda-end (default: the rest of the run after the warm-up; 0 = jump).")
    var lambdaRampSteps: Int?
    @Option(name: .customLong("gen-temperature"), help: "Sampling temperature for generated responses.") var genTemperature: Float = 1
    @Option(name: .customLong("max-new-tokens"), help: "Longest generated response.") var maxNewTokens = 128
    @Option(help: "AdaSPEC reference model (skips stage 1).") var reference: String?
    @Option(name: .customLong("filter-fraction"), help: "AdaSPEC: fraction k of tokens kept (largest loss gap).") var filterFraction: Double = 0.4
    @Option(help: "Optimizer steps (per stage).") var steps: Int?
    @Option(help: "Epochs over --data instead of --steps.") var epochs: Double?
    @Option(help: "Tokens per sequence (prompt + response, left-truncated).") var context = 256
    @OptionGroup var optimizer: OptimizerOptions
    var batchSize: Int { optimizer.batchSize ?? OptimizerOptions.Defaults.train.batchSize }
    var gradAccum: Int { optimizer.gradAccum }
    @Option(name: .customLong("eval-every"), help: "Evaluate every N steps (0 = before and after only).") var evalEvery = 0
    @Option(name: .customLong("eval-examples"), help: "Held-out examples evaluated.") var evalExamples = 32
    @Option(name: .customLong("save-every"), help: "Checkpoint every N steps (0 = at the end).") var saveEvery = 50
    @Option(help: "Seed (initialisation, data order, sampling).") var seed: UInt64 = 1
    @OptionGroup var draftVocabOptions: DraftVocabOptions
    @Option(help: "Output directory.") var out: String
    @Flag(help: "Continue from the checkpoints in OUT.") var resume = false
    @Option(name: .customLong("stop-at-step"), help: "End this run after step N with a checkpoint (e.g. a cluster's time limit); continue with --resume (the same run as without a stop).")
    var stopAtStep: Int?
    @Option(name: .customLong("teacher-cache"), help: "Teacher cache directory for fixed data: built on first use (same --template, --context, --temperature; K from --top-k), reused afterwards; the teacher forward is skipped.") var teacherCache: String?
    @Option(name: .customLong("top-k"), help: "K of a teacher cache built by --teacher-cache.") var topK = 64
    @Option(name: .customLong("feature-staleness"), help: "Give the draft the target's hidden states as input (EAGLE-style): D staleness matrices W_1…W_D (C × C each, zero-initialised), h₀ = e(x_t) + W_d·f_{t−d}. Needs a teacher cache with states (--teacher-cache builds one) or the target as teacher; fkl, rkl, jsd and tvd; 0 = off. A draft loaded with -md keeps its own D.") var featureStaleness = 0
    @OptionGroup var pclOptions: PCLOptions
    @OptionGroup var threadOptions: ThreadOptions

    var draftFromTarget: String? { draftFromTargetOption.layers }
    /// 0: the whole vocabulary.
    var draftVocab: Int { draftVocabOptions.k ?? 0 }
    var draftVocabData: String? { draftVocabOptions.data }

    func validate() throws {
        if (draft == nil) == (draftFromTarget == nil) { throw ValidationError("give exactly one of -md/--model-draft DRAFT and --draft-from-target LAYERS") }
        if method == .jsd && method.divergence(beta: beta) == nil { throw ValidationError("--beta must be in [0, 1], got \(beta)") }
        try pclOptions.validate(method: method)
        if !(filterFraction > 0 && filterFraction <= 1) { throw ValidationError("--filter-fraction must be in (0, 1]") }
        if !(lambda >= 0 && lambda <= 1) { throw ValidationError("--lambda must be in [0, 1]") }
        for (name, v) in [("--lambda-start", lambdaStart), ("--lambda-end", lambdaEnd)] {
            if let v, !(v >= 0 && v <= 1) { throw ValidationError("\(name) must be in [0, 1], got \(v)") }
        }
        if lambdaWarmupSteps < 0 || (lambdaRampSteps ?? 0) < 0 { throw ValidationError("--lambda-warmup-steps and --lambda-ramp-steps must be ≥ 0") }
        let scheduled = lambdaStart != nil || lambdaEnd != nil || lambdaWarmupSteps != 0 || lambdaRampSteps != nil
        if scheduled && dataSource != .mixed { throw ValidationError("--lambda-start, --lambda-end, --lambda-warmup-steps and --lambda-ramp-steps apply to --data-source mixed") }
        if temperature <= 0 { throw ValidationError("--temperature must be > 0") }
        if teacherCache != nil && (method == .pcl || dataSource != .fixed) {
            throw ValidationError("--teacher-cache serves fixed data only (--data-source fixed; fkl, rkl, jsd, tvd or adaspec)")
        }
        if topK < 1 { throw ValidationError("--top-k must be ≥ 1") }
        if featureStaleness < 0 || featureStaleness > 16 { throw ValidationError("--feature-staleness must be in 0…16, got \(featureStaleness)") }
        if featureStaleness > 0 && (method == .pcl || method == .adaspec) {
            throw ValidationError("--feature-staleness applies to fkl, rkl, jsd and tvd (AdaSPEC's reference and PCL's rollouts do not read the target's states yet)")
        }
        if steps != nil && epochs != nil { throw ValidationError("give --steps or --epochs, not both") }
        if draftVocabData != nil && draftVocab == 0 { throw ValidationError("--draft-vocab-data needs --draft-vocab K") }
        if draftVocab < 0 { throw ValidationError("--draft-vocab must be ≥ 0 (0: the whole vocabulary), got \(draftVocab)") }
        if draftVocab > 0 && method == .pcl { throw ValidationError("--draft-vocab does not apply to pcl (the help action needs the whole head)") }
    }

    func run() throws {
        do { try train() } catch let stop as StoppedAtStep {
            printErr("\(stop.label): stopped after step \(stop.step) (--stop-at-step); checkpoint in \(stop.directory.path); continue with the same command and --resume")
        }
    }

    func train() throws {
        threadOptions.apply()
        let job = try Job.start("train --method \(method.rawValue)", supported: method != .pcl,
                                why: "PCL's rollouts and dual ascent are not split across ranks")
        let outURL = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: outURL, withIntermediateDirectories: true)
        let targetBundle = try loadBundle(target)
        let tokenizer = try targetBundle.requireTokenizer()
        let tmpl = template
        let kind = dataSource
        let needsResponses = method == .pcl ? pclOptions.demonstrations.contains(.dataset) : (kind == .fixed || kind == .mixed || method == .adaspec)
        let trainSet = try PromptDataset.load(URL(fileURLWithPath: data), template: tmpl, requireResponses: needsResponses)
        let evalSet = try PromptDataset.load(URL(fileURLWithPath: evalData), template: tmpl, requireResponses: true)
        var base = try makeDraft(targetBundle, tokenizer: tokenizer)
        if featureStaleness > 0 && base.model.config.featureStaleness == 0 {
            base.model = try base.model.addingFeatureInput(staleness: featureStaleness, width: targetBundle.model.config.hiddenSize)
            printErr("draft: reads the target's hidden states, staleness 1…\(featureStaleness) (W zero-initialised)")
        }
        if base.model.config.featureStaleness > 0 && (method == .adaspec || method == .pcl) {
            throw ValidationError("the draft reads the target's hidden states (specdistill_feature_staleness in its config); \(method.rawValue) does not feed them yet: use fkl, rkl, jsd or tvd")
        }
        _ = try SharedVocabulary.check(target: targetBundle.model, targetTokenizer: tokenizer, draft: base.model, draftTokenizer: base.tokenizer)
        let stepCount = steps ?? Int(((epochs ?? 1) * Double(trainSet.examples.count) / Double(batchSize * gradAccum)).rounded(.up))
        // Rank 0 alone evaluates (and times the draft for the predicted speedups).
        let evaluator = job.isRoot ? try DistillationEvaluator(target: targetBundle.model, dataset: evalSet, tokenizer: tokenizer,
                                                               examples: evalExamples, B: batchSize, T: context, temperature: temperature) : nil
        var outputIDs: [Int]? = nil
        if draftVocab > 0 {
            outputIDs = try outputSubset(draftVocab, data: draftVocabData ?? data, tokenizer: tokenizer,
                                         always: stopTokens(tokenizer, targetBundle), vocabularySize: base.model.config.vocabSize).ids
        }
        if let evaluator { evaluator.costs = try measureCosts(draft: base.model, draftOutputIDs: outputIDs, targetBundle: targetBundle, dir: outURL) }
        var cache: TeacherCache?
        if let teacherCache {
            let states = base.model.config.featureStaleness > 0 ? targetBundle.model.config.hiddenSize : nil
            let o = TeacherCacheSettings(topK: topK, temperature: temperature, template: template.rawValue, context: context, stateWidth: states)
            // Built (on first use) with the target's weights in their file types: the faster path for GGUF.
            cache = try openOrBuildTeacherCache(directory: teacherCache, target: target, bundle: targetBundle, data: data, options: o,
                                                communicator: job) { [target] in
                targetBundle.format == "gguf" ? try loadBundle(target, quiet: true, weights: .native).model : targetBundle.model
            }
        }
        let finalModel: TransformerModel
        if method == .pcl {
            finalModel = try runPCL(base: base.model, trainSet: trainSet, targetBundle: targetBundle, tokenizer: tokenizer,
                                    steps: stepCount, dir: outURL, evaluator: evaluator!)
        } else {
            // Evaluated as decoding will use the draft: with its trimmed head when it has one.
            let ids = outputIDs
            let run = distillationRun(trainSet: trainSet, targetBundle: targetBundle, tokenizer: tokenizer, steps: stepCount,
                                      outputIDs: outputIDs, cache: cache, job: job,
                                      evaluate: evaluator.map { e in { e.evaluate($0, outputSubset: ids) } })
            let outcomes: [StageOutcome]
            if method == .adaspec {
                var referenceModel: TransformerModel?
                if let reference {
                    let r = try loadBundle(reference)
                    _ = try SharedVocabulary.check(target: targetBundle.model, targetTokenizer: tokenizer, draft: r.model, draftTokenizer: r.tokenizer,
                                                   role: "reference")
                    referenceModel = r.model
                }
                let stages = AdaSPECStages(keepFraction: filterFraction, temperature: temperature, referenceNormalization: normalization.value)
                let result = try stages.run(run, initialisation: base.model, reference: referenceModel, dataSource: kind, out: outURL)
                outcomes = result.outcomes
                finalModel = result.draft ?? base.model
            } else {
                let objective = DistillationObjective(divergence: method.divergence(beta: beta)!, temperature: temperature,
                                                      normalization: normalization.value)
                let stage = DistillationStage(label: "draft (\(objective.divergence), \(kind.rawValue) data)", objective: objective,
                                              dataSource: kind, directory: outURL)
                outcomes = [try run.runStage(stage, model: base.model)]
                finalModel = base.model
            }
            if let stopped = outcomes.first(where: { $0.state == .stopped }) {
                throw StoppedAtStep(label: stopped.label, step: stopped.step, directory: stopped.directory)
            }
        }
        // Every rank holds the same model; rank 0 writes it.
        guard job.isRoot else { return }
        let modelURL = outURL.appendingPathComponent("model")
        try ModelBundle(model: finalModel, tokenizer: tokenizer, path: modelURL.path, format: "hf").save(directory: modelURL)
        if let outputIDs { try DraftVocabularyFile.write(outputIDs, modelDirectory: modelURL) }
        print("draft written to \(modelURL.path)")
    }

    /// The draft's initialisation: a loaded model, a preset with the target's tokenizer, or target layers.
    func makeDraft(_ targetBundle: ModelBundle, tokenizer: Tokenizer) throws -> (model: TransformerModel, tokenizer: Tokenizer?) {
        let tc = targetBundle.model.config
        if let spec = draftFromTarget {
            let layers = try DraftLayers.parse(spec, of: targetBundle.model)
            printErr("draft: the target's embeddings, final norm, output and layers \(layers)")
            return (try targetBundle.model.truncatedCopy(layers: layers), tokenizer)
        }
        let name = draft!
        if let preset = ModelConfig.preset(name, architecture: tc.architecture == .gpt2 ? .gpt2 : .llama, vocabSize: tc.vocabSize,
                                           context: min(tc.maxPositions, max(context, 256))) {
            let m = try TransformerModel(config: preset)
            m.initialize(seed: seed)
            printErr(String(format: "draft: new %@ preset, %.2fM parameters", name, Double(m.parameterCount) / 1e6))
            return (m, tokenizer)
        }
        let b = try loadBundle(name)
        return (b.model, b.tokenizer)
    }

    /// The run the distillation stages share: this command's settings, data and evaluation; each
    /// stage's `run.json` gets the command's provenance (``RunRecord``), and its events a progress bar.
    func distillationRun(trainSet: PromptDataset, targetBundle: ModelBundle, tokenizer: Tokenizer, steps: Int, outputIDs: [Int]?,
                         cache: TeacherCache?, job: Communicator,
                         evaluate: ((TransformerModel) throws -> [String: Double])?) -> DistillationRun {
        var settings = trainingSettings(steps: steps)
        settings.evalEvery = evalEvery
        settings.outputSubset = outputIDs
        var record = runRecord(stage: "")
        record.lambda = lambda
        return DistillationRun(target: targetBundle.model, tokenizer: tokenizer, trainSet: trainSet, settings: settings,
                               lambdaSchedule: lambdaSchedule(steps: steps), sampling: SamplingSettings(temperature: genTemperature),
                               maxNewTokens: maxNewTokens, stopTokens: stopTokens(tokenizer, targetBundle), teacherCache: cache,
                               evaluate: evaluate, communicator: job, resuming: resume, stopAt: stopAtStep, record: record,
                               observe: { start in
            let label = start.stage.label
            if start.alreadyFinished { printErr("\(label): already finished"); return { _ in } }
            if start.step > 0 { printErr("\(label): resumed at step \(start.step)") }
            if start.teacherFromCache, let cache { printErr("\(label): teacher from the cache \(cache.directory.path) (K \(cache.K))") }
            return stageProgress(label, steps: steps)
        })
    }

    /// Renders a distillation stage's events: a progress bar with the loss, throughput and the last
    /// evaluation's acceptance and predicted speedups, and a line per evaluation.
    func stageProgress(_ label: String, steps: Int) -> (TrainingEvent) -> Void {
        let bar = ProgressBar(total: steps, label: label)
        var lastAcceptance = ""
        return { event in
            switch event {
            case .started(let total, let at): printErr("\(label): \(total) steps\(at > 0 ? ", resuming at \(at)" : "")")
            case .step(let m):
                bar.update(m.step, String(format: "loss %.4f %.0f tok/s%@", m.loss, m.tokensPerSecond ?? 0, lastAcceptance))
            case .evaluation(let step, let metrics):
                lastAcceptance = String(format: " | acc %.3f/%.3f | S %.2f×/%.2f×", metrics["acceptance_greedy"] ?? 0,
                                        metrics["acceptance_sampling"] ?? 0, metrics["predicted_speedup_greedy"] ?? 0,
                                        metrics["predicted_speedup_sampling"] ?? 0)
                bar.message(String(format: "%@ step %d: teacher-forced acceptance greedy %.4f, sampling %.4f; forward KL %.4f (%d tokens); "
                                   + "predicted speedup greedy %.2f× (gamma %d), sampling %.2f× (gamma %d)",
                                   label, step, metrics["acceptance_greedy"] ?? 0, metrics["acceptance_sampling"] ?? 0,
                                   metrics["fkl"] ?? 0, Int(metrics["tokens"] ?? 0),
                                   metrics["predicted_speedup_greedy"] ?? 0, Int(metrics["best_gamma_greedy"] ?? 0),
                                   metrics["predicted_speedup_sampling"] ?? 0, Int(metrics["best_gamma_sampling"] ?? 0)))
            case .checkpoint: break
            case .finished(let step, let seconds): bar.finish(); printErr(String(format: "%@: %d steps in %.1f s", label, step, seconds))
            }
        }
    }

    /// The training settings every method shares (steps per stage, batch, optimizer, schedule,
    /// seed, checkpoints).
    func trainingSettings(steps: Int) -> TrainingSettings {
        var settings = TrainingSettings()
        settings.steps = steps; settings.context = context
        optimizer.apply(to: &settings, defaults: .train)
        settings.seed = seed; settings.saveEvery = saveEvery
        return settings
    }

    /// Where a stage came from, for its `run.json` (the library fills in the rest).
    func runRecord(stage: String) -> RunRecord {
        RunRecord(stage: stage, target: target, draft: draft ?? "from-target:\(draftFromTarget ?? "")", data: data, evalData: evalData,
                  template: template.rawValue)
    }
}

extension TrainCommand {
    /// c and v(gamma) of this draft shape on this machine, timed once (DraftCost), for the
    /// evaluations' predicted speedup; also written to OUT/draft_cost.json.
    /// Both models are timed as decoding loads them: a GGUF target with its weights in the file's
    /// types (`--weights native`, the inference default), whatever training dequantises; and, with a
    /// GGUF target, the draft as `quantize --type q8_0` ships it (a Q8_0 copy of this shape, loaded
    /// natively: a quarter of the float32 bytes per step), so that c is the c a shipped draft has.
    func measureCosts(draft: TransformerModel, draftOutputIDs ids: [Int]?, targetBundle: ModelBundle, dir: URL) throws -> DraftCostMeasurement {
        let gguf = targetBundle.format == "gguf"
        let decodingTarget = gguf ? try loadBundle(target, quiet: true, weights: .native).model : targetBundle.model
        let (timedDraft, draftType) = gguf ? try shippedDraft(draft, directory: dir) : (draft, "float32")
        let m = try DraftCost.measure(draft: timedDraft, target: decodingTarget, draftOutputIDs: ids, context: min(context, 128))
        printErr(String(format: "costs on this machine (cache length %d, medians of 9, interleaved): draft step (%@) %.2f ms (%d head rows), target step %.2f ms: c = %.3f; verification v(gamma) = %@",
                        m.context, draftType, m.draftStepSeconds * 1e3, m.draftOutputRows, m.targetStepSeconds * 1e3, m.costRatio,
                        (1...m.maxGamma).map { String(format: "%.2f", m.verifyCost(gamma: $0)) }.joined(separator: " ")))
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(e.encode(m), to: dir.appendingPathComponent("draft_cost.json"))
        return m
    }

    /// λ by step for --data-source mixed: constant --lambda unless a schedule flag is given.
    func lambdaSchedule(steps: Int) -> LambdaSchedule {
        LambdaSchedule(start: lambdaStart ?? lambda, end: lambdaEnd ?? lambda, warmupSteps: lambdaWarmupSteps,
                       rampSteps: lambdaRampSteps ?? max(0, steps - lambdaWarmupSteps))
    }
}

/// A stage ended by --stop-at-step before its last step (not an error: the command exits 0).
struct StoppedAtStep: Error {
    var label: String, step: Int, directory: URL
}

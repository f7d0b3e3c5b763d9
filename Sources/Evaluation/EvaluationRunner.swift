import Distill
import Foundation
import SpecDecode
import Tensor
import Tokenizers
import Transformer

/// A draft to evaluate, by name (the table's row).
public struct NamedDraft {
    public var name: String
    /// The draft model (nil: a lookup-only row).
    public var model: TransformerModel?
    /// Its tokenizer, for the vocabulary check (nil for drafts made from the target).
    public var tokenizer: Tokenizer?
    /// Where it came from (a path, or the target's layers).
    public var source: String
    /// A trimmed output layer used while decoding (``OutputSubset``); teacher-forced acceptance
    /// is measured with the full head.
    public var outputSubset: OutputSubset?
    /// Prompt lookup before (or instead of) the model (``PromptLookup``), and its corpus's token ids.
    public var lookup: LookupSettings?
    public var lookupCorpus: [Int] = []
    public init(name: String, model: TransformerModel?, tokenizer: Tokenizer?, source: String, outputSubset: OutputSubset? = nil,
                lookup: LookupSettings? = nil, lookupCorpus: [Int] = []) {
        self.name = name; self.model = model; self.tokenizer = tokenizer; self.source = source; self.outputSubset = outputSubset
        self.lookup = lookup; self.lookupCorpus = lookupCorpus
    }
}

/// Progress of an evaluation (the library prints nothing; the CLI draws progress bars).
public enum EvaluationEvent: Sendable {
    /// A stage starts with `total` units of work (teacher-forced passes or decodes).
    case stage(name: String, total: Int)
    /// `done` units of the current stage are finished; `detail` describes the last one.
    case progress(done: Int, detail: String)
    /// At temperature 0 a speculative output differs from the plain one: a bug, reported loudly.
    case mismatch(String)
    /// Something worth telling the user (a metric that is not computed, a skipped measurement).
    case note(String)
}

/// Evaluates drafts against a target on tasks (issue 7):
///
/// 1. per task and draft, teacher-forced acceptance (both forms) and the forward KL on the
///    task's reference responses (``DistillationEvaluator``; sampling form at the decoding
///    temperature, or at 1 when decoding greedily);
/// 2. per prompt, plain decoding with the target (once, shared by every draft), then speculative
///    decoding with each draft under identical settings, one right after the other so that the
///    timing of both sees the same machine load; each speculative run gets the plain run of the
///    same prompt as its baseline, which gives the measured speedup;
/// 3. the task metric on the plain and the speculative outputs. At temperature 0 both outputs
///    must be identical token for token (``SpeculativeDecoder``'s guarantee); a difference is
///    recorded and reported through ``EvaluationEvent/mismatch(_:)``.
///
/// A row with ``NamedDraft/lookup`` drafts by prompt lookup (issue 18): alone when it has no
/// model, chained before its model otherwise; it has no teacher-forced acceptance (a lookup
/// proposal depends on the decoded text, there is no fixed q to force).
public final class EvaluationRunner {
    public let target: TransformerModel
    public let tokenizer: Tokenizer
    public let targetName: String
    public let drafts: [NamedDraft]
    public let settings: EvaluationSettings
    public let stopTokens: Set<Int>
    /// V shared by the target and every draft (``SharedVocabulary``).
    public let vocabularySize: Int
    public var onEvent: (EvaluationEvent) -> Void = { _ in }
    private let scorer: TaskScorer

    /// - Parameters:
    ///   - stopTokens: decoding ends after one of these (EOS, `<|im_end|>`).
    /// - Throws: ``EvaluationError`` for invalid settings, duplicate draft names or a draft whose
    ///   vocabulary differs from the target's (naming the draft and the first differing token).
    public init(target: TransformerModel, tokenizer: Tokenizer, targetName: String, drafts: [NamedDraft],
                settings: EvaluationSettings, stopTokens: Set<Int>) throws {
        try settings.validate()
        guard !drafts.isEmpty else { throw EvaluationError.settings("no drafts to evaluate; pass --drafts NAME=MODEL or --draft-from-target") }
        var names = Set<String>()
        for d in drafts where !names.insert(d.name).inserted {
            throw EvaluationError.settings("two drafts are named \"\(d.name)\"; give each a different NAME")
        }
        var V: Int?
        for d in drafts {
            guard let model = d.model else { continue }
            do {
                V = try SharedVocabulary.check(target: target, targetTokenizer: tokenizer, draft: model,
                                               draftTokenizer: d.tokenizer ?? tokenizer)
            } catch {
                throw EvaluationError.model("draft \"\(d.name)\" (\(d.source)) does not fit the target \(targetName): \(error)")
            }
        }
        self.target = target; self.tokenizer = tokenizer; self.targetName = targetName; self.drafts = drafts
        self.settings = settings; self.stopTokens = stopTokens
        self.vocabularySize = V ?? min(tokenizer.vocabularySize, target.config.vocabSize)   // lookup rows only
        scorer = TaskScorer(codeExecution: settings.runCode ? try CodeExecution(timeLimit: settings.codeTimeLimit, sandboxed: settings.unsafeRunCode != true) : nil)
    }

    /// Evaluates every draft on every task.
    /// - Throws: ``EvaluationError`` for prompts that do not fit the models' context; decoding errors.
    public func run(tasks: [TaskData]) throws -> EvaluationResults {
        var names = Set<String>()
        for t in tasks where !names.insert(t.name).inserted {
            throw EvaluationError.settings("task \"\(t.name)\" is given twice; pass each task's file once")
        }
        var results: [TaskResult] = []
        for task in tasks { results.append(try run(task)) }
        let date = ISO8601DateFormatter().string(from: Date())
        return EvaluationResults(date: date, target: targetName, targetParameters: target.parameterCount, threads: Threads.count,
                                 settings: settings, drafts: drafts.map {
                                     DraftInfo(name: $0.name, source: $0.source, parameters: $0.model?.parameterCount ?? 0, outputRows: $0.outputSubset?.ids.count)
                                 }, tasks: results)
    }

    /// One task: teacher-forced acceptance of each draft, then decoding prompt by prompt.
    public func run(_ task: TaskData) throws -> TaskResult {
        let teacherForced = try teacherForcedAcceptance(task)
        if task.task.metric == .passAt1 && !settings.runCode {
            onEvent(.note("\(task.name): pass@1 not computed — running model-written code needs --run-code (see --help)"))
        }
        // Decoding.
        let prompts = task.examples.map { tokenizer.encode(settings.template.render($0.prompt)) }
        let longest = prompts.map(\.count).max() ?? 1
        let maxT = min(longest + settings.maxTokens, target.config.maxPositions)
        for (i, p) in prompts.enumerated() where p.count > maxT || drafts.contains(where: { p.count > ($0.model?.config.maxPositions ?? Int.max) }) {
            throw EvaluationError.data("\(task.source): example \(i + 1) has a prompt of \(p.count) tokens, more than a model's "
                                       + "context (target \(target.config.maxPositions)); shorten or drop it")
        }
        let targetSession = SessionModel(model: target, maxT: maxT)
        let plain = PlainDecoder(model: targetSession, sampling: settings.sampling, seed: settings.seed, vocabularySize: vocabularySize)
        let decoders = try drafts.map { d in
            var configuration = settings.configuration
            configuration.lookup = d.lookup
            let pair = try SpeculativePair.make(target: targetSession, draft: d.model.map {
                SessionModel(model: $0, maxT: min(maxT, $0.config.maxPositions), outputSubset: d.outputSubset)
            })
            return try SpeculativeDecoder(target: pair.target, draft: pair.draft, configuration: configuration,
                                          vocabularySize: vocabularySize, lookupCorpus: d.lookupCorpus)
        }
        var plainResult = PlainResult(statistics: PlainStatistics(), metric: nil, outputs: [], scores: [], reachedMaxTokens: 0)
        var draftResults = drafts.enumerated().map { d, draft in
            DraftTaskResult(name: draft.name, teacherForced: teacherForced[d], statistics: SpeculativeStatistics(),
                            derived: SpeculativeStatistics().derived, metric: nil,
                            outputsIdenticalToPlain: settings.sampling.isGreedy ? true : nil, mismatches: [], outputs: [], scores: [])
        }
        onEvent(.stage(name: "\(task.name): decoding", total: prompts.count * (1 + drafts.count)))
        var done = 0
        for (i, ids) in prompts.enumerated() {
            let example = task.examples[i]
            let base = try plain.decode(prompt: ids, maxTokens: settings.maxTokens, stopTokens: stopTokens)
            let baseText = text(base.tokens)
            let baseScore = try scorer.score(example, output: baseText)
            plainResult.statistics.add(base.statistics)
            plainResult.outputs.append(baseText); plainResult.scores.append(baseScore)
            if base.stopReason == .maxTokens { plainResult.reachedMaxTokens? += 1 }
            done += 1
            onEvent(.progress(done: done, detail: "target alone, prompt \(i + 1)"))
            for (d, decoder) in decoders.enumerated() {
                var out = try decoder.decode(prompt: ids, maxTokens: settings.maxTokens, stopTokens: stopTokens)
                out.statistics.baseline = base.statistics
                let outText = text(out.tokens)
                let same = out.tokens == base.tokens
                let score = same ? baseScore : try scorer.score(example, output: outText)
                if settings.sampling.isGreedy && !same {
                    let at = zip(out.tokens, base.tokens).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                        ?? min(out.tokens.count, base.tokens.count)
                    let m = "prompt \(i + 1): speculative and plain outputs differ at token \(at) "
                        + "(\(out.tokens.count) vs \(base.tokens.count) tokens)"
                    draftResults[d].mismatches.append(m)
                    draftResults[d].outputsIdenticalToPlain = false
                    onEvent(.mismatch("\(task.name) / \(drafts[d].name): \(m)"))
                }
                draftResults[d].statistics.add(out.statistics)
                draftResults[d].outputs.append(outText); draftResults[d].scores.append(score)
                done += 1
                let alpha = (draftResults[d].statistics.derived.alphaPerJudged.map { String(format: "α %.3f", $0) } ?? "")
                    + (draftResults[d].statistics.derived.fallbackFraction.map { String(format: ", plain %.0f%%", 100 * $0) } ?? "")
                onEvent(.progress(done: done, detail: "\(drafts[d].name) \(alpha)"))
            }
        }
        plainResult.metric = TaskScorer.mean(plainResult.scores)
        for d in draftResults.indices {
            draftResults[d].derived = draftResults[d].statistics.derived
            draftResults[d].metric = TaskScorer.mean(draftResults[d].scores)
        }
        return TaskResult(name: task.name, task: task.task, source: task.source, examples: task.examples.count,
                          metric: task.task.metric, plain: plainResult, drafts: draftResults)
    }

    /// Teacher-forced acceptance of each draft on the task's references (nil entries when the
    /// task has none), with each draft's trimmed output layer when it has one.
    func teacherForcedAcceptance(_ task: TaskData) throws -> [TeacherForcedResult?] {
        guard let dataset = task.referenceDataset(template: settings.template) else {
            onEvent(.note("\(task.name): no reference responses; teacher-forced acceptance skipped"))
            return drafts.map { _ in nil }
        }
        let temperature: Float = settings.sampling.isGreedy ? 1 : settings.sampling.temperature
        let T = min(settings.teacherForcedContext, target.config.maxPositions,
                    drafts.compactMap { $0.model?.config.maxPositions }.min() ?? settings.teacherForcedContext)
        let evaluator = try DistillationEvaluator(target: target, dataset: dataset, tokenizer: tokenizer,
                                                  examples: dataset.examples.count, B: settings.teacherForcedBatch, T: T,
                                                  temperature: temperature)
        onEvent(.stage(name: "\(task.name): teacher-forced acceptance", total: drafts.count))
        var out: [TeacherForcedResult?] = []
        for (d, draft) in drafts.enumerated() {
            // A lookup-only row has no q to force (lookup proposals depend on the decoded text).
            guard let model = draft.model, draft.lookup == nil else { out.append(nil); continue }
            // With a trimmed head the draft is judged as it decodes: q = 0 outside its subset.
            let m = evaluator.evaluate(model, outputSubset: draft.outputSubset?.ids)
            let r = TeacherForcedResult(sampling: m["acceptance_sampling"] ?? 0, greedy: m["acceptance_greedy"] ?? 0,
                                        forwardKL: m["fkl"] ?? 0, tokens: Int(m["tokens"] ?? 0), temperature: temperature)
            out.append(r)
            onEvent(.progress(done: d + 1, detail: String(format: "%@ greedy %.3f", draft.name, r.greedy)))
        }
        return out
    }

    /// Output text without the stop token and special tokens.
    func text(_ tokens: [Int]) -> String {
        var t = tokens
        if let last = t.last, stopTokens.contains(last) { t.removeLast() }
        return tokenizer.decode(t, skipSpecialTokens: true)
    }
}

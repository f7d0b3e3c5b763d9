import ArgumentParser
import Foundation
import SpecDistill

extension DecodeCommand {
    /// `--mode help`: the student decodes and asks the target for tokens (algorithms.md §5.4).
    func runHelp() throws {
        let targetBundle = try loadBundle(model, weights: weightOptions.weights)
        let tokenizer = try targetBundle.requireTokenizer()
        let studentBundle = try loadBundle(modelDraft!, weights: weightOptions.weights)
        let help = studentBundle.model.config.helpTokenID
        if helpPolicy == .learned && help == nil {
            throw ValidationError("\(modelDraft!): config.json has no help_token_id; train the student with `train --method pcl --help-budgets ...`, or compare a baseline with --help-policy random|entropy|top1")
        }
        // The student's <help> action sits in its padding past V (help_token_id = V).
        let V = try SharedVocabulary.check(target: targetBundle.model, targetTokenizer: tokenizer,
                                           draft: studentBundle.model, draftTokenizer: studentBundle.tokenizer, role: "student")
        let b = budget!
        let texts = try prompt.map { [$0] } ?? readPromptFile(prompts!)
        // The student and the target read the same prompt, with the budget line for the learned
        // policy (as in its training) and without it for the baselines (as their students were trained).
        let encoded = texts.map { text -> [Int] in
            let shown = helpPolicy == .learned ? HelpBudget.prompt(text, budget: b) : text
            return tokenizer.encode(chat ? chatPrompt(shown) : shown)
        }
        let maxT = (encoded.map(\.count).max() ?? 1) + maxTokens + 1
        let student = SessionModel(model: studentBundle.model, maxT: maxT)
        let teacher = SessionModel(model: targetBundle.model, maxT: maxT)
        let policy: HelpPolicy
        if helpPolicy == .head {
            let head = try HelpHead.read(from: URL(fileURLWithPath: (helpHead! as NSString).expandingTildeInPath))
            try head.check(hiddenSize: studentBundle.model.config.hiddenSize, vocabularySize: V, maxTokens: maxTokens)
            let lambda = try head.multiplier(budget: b)
            printErr(String(format: "help policy head: ask where the predicted gain exceeds λ = %.4f (budget %.0f%%)", lambda, b * 100))
            policy = .head(head, multiplier: lambda)
        } else {
            policy = try helpPolicy.policy(budget: b, threshold: helpThreshold, student: student, prompts: encoded,
                                           maxTokens: maxTokens, stopTokens: stopTokens(tokenizer, targetBundle), vocabularySize: V)
        }
        let configuration = HelpConfiguration(sampling: sampling.settings, budget: b, enforceBudget: enforceBudget, seed: sampling.seed,
                                              helpThreshold: helpPolicy == .learned ? helpThreshold : nil, policy: policy)
        let decoder = try HelpDecoder(student: student, teacher: teacher, helpTokenID: help, configuration: configuration, vocabularySize: V)
        let stops = stopTokens(tokenizer, targetBundle)
        let lines = try outputJSONL.map { try JSONLWriter(path: $0) }
        var total = HelpStatistics()
        for (i, ids) in encoded.enumerated() {
            print(texts[i], terminator: chat ? "\n" : "")
            var stream = StreamingDecoder(tokenizer: tokenizer)
            let out = try decoder.decode(prompt: ids, maxTokens: maxTokens, stopTokens: stops) { token in
                print(stream.add(token.id), terminator: "")
                fflush(nil)
            }
            print(stream.finish())
            let s = out.statistics
            try lines?.write(["prompt": texts[i], "output": tokenizer.decode(out.tokens, skipSpecialTokens: true), "tokens": s.emitted,
                              "teacher_tokens": s.teacherTokens, "teacher_calls": s.teacherCalls, "student_calls": s.studentCalls,
                              "decode_seconds": s.decodeSeconds])
            total.add(s)
        }
        switch stats {
        case .none: break
        case .json:
            var report: [String: Any] = ["mode": "help", "budget": b, "enforce_budget": enforceBudget, "policy": helpPolicy.rawValue]
            if case .uncertainty(_, let t) = policy { report["threshold"] = t }
            if case .positionWeighted(_, let t, _) = policy { report["threshold"] = t }
            if case .head(_, let lambda) = policy { report["multiplier"] = lambda }
            for (k, v) in total.report { report[k] = v }
            let data = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        case .text:
            func x(_ v: Double?, _ d: Int = 3) -> String { v.map { f($0, d) } ?? "-" }
            printErr("help decoding (budget \(f(b * 100, 0))%\(enforceBudget ? ", enforced" : "")): \(total.prompts) prompts, "
                     + "\(total.emitted) tokens in \(f(total.decodeSeconds, 2)) s, prefill \(f(total.prefillSeconds, 2)) s")
            printErr("  teacher tokens \(total.teacherTokens) (fraction \(x(total.teacherFraction))), teacher calls \(total.teacherCalls) "
                     + "(\(x(total.teacherCallsPerToken)) per token, \(total.teacherPositions) positions), student calls \(total.studentCalls)"
                     + (total.guardedHelps > 0 ? ", helps refused by the guard \(total.guardedHelps)" : ""))
            printErr("  time: student \(f(total.studentSeconds, 3)) s (\(x(total.studentCallSeconds.map { $0 * 1e3 }, 2)) ms/call), "
                     + "teacher \(f(total.teacherSeconds, 3)) s (\(x(total.teacherCallSeconds.map { $0 * 1e3 }, 2)) ms/call), "
                     + "other \(f(total.otherSeconds, 3)) s; \(x(total.secondsPerToken.map { $0 * 1e3 }, 2)) ms/token")
        }
    }
}

/// Appends JSON objects, one per line, to a file (created or truncated at start).
final class JSONLWriter {
    let handle: FileHandle
    init(path: String) throws {
        let url = URL(fileURLWithPath: (path as NSString).expandingTildeInPath)
        guard FileManager.default.createFile(atPath: url.path, contents: nil), let h = try? FileHandle(forWritingTo: url) else {
            throw ValidationError("\(path): cannot create the output file")
        }
        handle = h
    }
    func write(_ object: [String: Any]) throws {
        var data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        data.append(0x0A)
        try handle.write(contentsOf: data)
    }
    deinit { try? handle.close() }
}

/// `--help-policy`: the learned `<help>` action or a baseline (``HelpPolicy``).
enum HelpPolicyChoice: String, ExpressibleByArgument, CaseIterable {
    case learned, head, random, entropy, top1
    /// The confidence baselines times the share of the answer still to come (``HelpPolicy/positionWeighted(_:threshold:horizon:)``, horizon -n).
    case entropyPosition = "entropy-position", top1Position = "top1-position"

    /// The policy for budget b. A confidence baseline without `threshold` is calibrated: the
    /// student decodes `prompts` greedily on its own and the threshold is the score above which a
    /// fraction b of those positions lie (``UncertaintyMeasure/threshold(scores:fraction:)``).
    func policy(budget b: Double, threshold: Double?, student: DecodingModel, prompts: [[Int]], maxTokens: Int,
                stopTokens: Set<Int>, vocabularySize V: Int) throws -> HelpPolicy {
        let measure: UncertaintyMeasure
        switch self {
        case .learned: return .learned
        case .head: preconditionFailure("the head policy is read from --help-head")
        case .random: return .random(probability: b)
        case .entropy, .entropyPosition: measure = .entropy
        case .top1, .top1Position: measure = .lowTopProbability
        }
        let weighted = self == .entropyPosition || self == .top1Position
        let make = { (t: Double) -> HelpPolicy in
            weighted ? .positionWeighted(measure, threshold: t, horizon: maxTokens) : .uncertainty(measure, threshold: t)
        }
        if let threshold { return make(threshold) }
        var scores: [Double] = []
        for p in prompts {
            var position = 0
            try DecodingLoop.run(student, prompt: p, maxTokens: maxTokens, stopTokens: stopTokens, choose: { z in
                scores.append(measure.score(z, vocabularySize: V, position: position, horizon: weighted ? maxTokens : nil))
                position += 1
                let t = Sampler.argmax(z, count: V)
                return (t, t)
            })
        }
        let t = UncertaintyMeasure.threshold(scores: scores, fraction: b)
        printErr(String(format: "help policy %@: threshold %.4f, calibrated to ask at %.0f%% of %d positions of the student's own greedy decoding",
                        rawValue, t, b * 100, scores.count))
        return make(t)
    }
}

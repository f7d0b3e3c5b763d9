import Foundation
import Tensor
import Transformer

/// Settings of help-aware decoding.
public struct HelpConfiguration: Codable, Equatable, Sendable {
    public var sampling: SamplingSettings
    /// b, the allowed fraction of teacher tokens (also what the prompt states).
    public var budget: Double
    /// Hard guard: `<help>` is masked whenever taking it would lift the running teacher fraction
    /// above b, i.e. allowed at the (n+1)-th token only if `teacherTokens + 1 ≤ b · (n + 1)`;
    /// the final fraction then never exceeds b.
    public var enforceBudget: Bool
    public var seed: UInt64
    /// When set, `<help>` is taken exactly when the student gives it probability ≥ this value
    /// (softmax at temperature 1 over the vocabulary and `<help>`), and otherwise the next token
    /// is chosen among the vocabulary alone. nil: `<help>` competes like any token (taken under
    /// greedy decoding only when it is the argmax). The threshold turns the student's learned
    /// ask-probability into an operating point; the guard still applies. (This project's design.)
    public var helpThreshold: Double?
    /// Who decides to ask (default: the learned `<help>` action; ``HelpPolicy`` has the baselines).
    public var policy: HelpPolicy = .learned

    public init(sampling: SamplingSettings = .greedy, budget: Double, enforceBudget: Bool = false, seed: UInt64 = 1,
                helpThreshold: Double? = nil, policy: HelpPolicy = .learned) {
        self.sampling = sampling; self.budget = budget; self.enforceBudget = enforceBudget; self.seed = seed
        self.helpThreshold = helpThreshold; self.policy = policy
    }
}

/// The result of ``HelpDecoder/decode(prompt:teacherPrompt:maxTokens:stopTokens:onToken:onHelp:)``.
public struct HelpOutput: Sendable {
    public var tokens: [Int]
    /// `.draft` for the student's tokens, `.target` for the teacher's.
    public var origins: [TokenOrigin]
    public var stopReason: StopReason
    public var statistics: HelpStatistics
}

/// Decoding with a student that may ask the teacher for help (algorithms.md §5.4): the student
/// proposes every token; when it picks `<help>` the teacher's KV cache is caught up with one
/// batched append of the tokens it has not seen, and the teacher's greedy token is emitted (and
/// fed to the student). Teacher and student see the same generated text; the teacher's prompt may
/// differ (e.g. without the budget line).
public final class HelpDecoder {
    public let student: DecodingModel
    public let teacher: DecodingModel
    /// The student's `<help>` id (nil for a student without one: baseline policies only).
    public let helpTokenID: Int?
    public let configuration: HelpConfiguration
    /// Text tokens either model may emit; student logits past it (except `<help>`) and teacher
    /// logits past it are masked.
    public let vocabularySize: Int
    public var rng: RandomGenerator
    private let sampler: Sampler
    private var logits: [Float], probs: [Float]

    /// - Throws: ``SpecDecodeError/invalidSettings(_:)`` for a help id outside the student's width,
    ///   a budget outside [0, 1], or a vocabulary wider than a model.
    public init(student: DecodingModel, teacher: DecodingModel, helpTokenID: Int?, configuration: HelpConfiguration,
                vocabularySize: Int? = nil) throws {
        let V = vocabularySize ?? teacher.logitWidth
        if let helpTokenID, !(helpTokenID >= 0 && helpTokenID < student.logitWidth) {
            throw SpecDecodeError.invalidSettings("the help token id \(helpTokenID) is outside the student's \(student.logitWidth) logits; use a student trained with --help-budgets")
        }
        if configuration.policy.usesHelpAction && helpTokenID == nil {
            throw SpecDecodeError.invalidSettings("the learned help policy needs a student with a <help> action (train it with --help-budgets), or choose a baseline policy")
        }
        guard V >= 1 && V <= teacher.logitWidth && V <= student.logitWidth else {
            throw SpecDecodeError.invalidSettings("vocabulary \(V) exceeds a model's width (student \(student.logitWidth), teacher \(teacher.logitWidth))")
        }
        guard configuration.budget >= 0 && configuration.budget <= 1 else {
            throw SpecDecodeError.invalidSettings("--budget must be in [0, 1], got \(configuration.budget)")
        }
        self.student = student; self.teacher = teacher; self.helpTokenID = helpTokenID
        self.configuration = configuration; self.vocabularySize = V
        rng = RandomGenerator(seed: configuration.seed)
        sampler = Sampler(settings: configuration.sampling, vocabularySize: student.logitWidth)
        logits = [Float](repeating: 0, count: student.logitWidth)
        probs = [Float](repeating: 0, count: student.logitWidth)
    }

    /// Emits up to `maxTokens` tokens after `prompt`; stops after a stop token (emitted) or when a
    /// cache is full.
    /// - Parameters:
    ///   - teacherPrompt: the teacher's prompt (default: `prompt`).
    ///   - onHelp: called after each teacher catch-up with the teacher's cache length.
    public func decode(prompt: [Int], teacherPrompt: [Int]? = nil, maxTokens: Int, stopTokens: Set<Int> = [],
                       onToken: (DecodedToken) -> Void = { _ in }, onHelp: (Int) -> Void = { _ in }) throws -> HelpOutput {
        let tPrompt = teacherPrompt ?? prompt
        try DecodingSupport.checkPrompt(prompt, models: [("student", student)])
        try DecodingSupport.checkPrompt(tPrompt, models: [("teacher", teacher)])
        let c = configuration
        let helpPossible = !(c.enforceBudget && c.budget == 0)
        var stats = HelpStatistics()
        stats.prompts = 1; stats.promptTokens = prompt.count
        let t0 = now()
        try DecodingLoop.prefillAllButLast(student, prompt)
        if helpPossible { try DecodingLoop.prefillAllButLast(teacher, tPrompt) } else { teacher.truncate(to: 0) }
        stats.prefillSeconds = now() - t0
        var teacherContext = tPrompt
        var out: [Int] = [], origins: [TokenOrigin] = []
        var last = prompt[prompt.count - 1]
        var reason = StopReason.maxTokens
        let W = student.logitWidth
        while out.count < maxTokens {
            if student.length + 1 > student.capacity { reason = .contextLimit; break }
            var t = now()
            let z = try student.append([last])
            stats.studentCalls += 1
            var t1 = now()
            stats.studentSeconds += t1 - t
            let allowHelp = !c.enforceBudget || Double(stats.teacherTokens + 1) <= c.budget * Double(out.count + 1) + 1e-9
            // Whether a baseline (or the learned action above --help-threshold) asks here.
            var asks = false
            switch c.policy {
            case .learned:
                if let threshold = c.helpThreshold, allowHelp, let help = helpTokenID {
                    asks = HelpDecoder.helpProbability(z.pointer, vocabularySize: vocabularySize, helpTokenID: help) >= threshold
                }
            case .random(let p): asks = rng.uniformDouble() < p && allowHelp
            case .uncertainty(let measure, let threshold): asks = allowHelp && measure.score(z.pointer, vocabularySize: vocabularySize) >= threshold
            }
            // The `<help>` logit competes only for the learned policy without a threshold, while allowed.
            let helpCompetes = c.policy.usesHelpAction && c.helpThreshold == nil && allowHelp
            var action = logits.withUnsafeMutableBufferPointer { lb -> Int in
                let l = lb.baseAddress!
                l.update(from: z.pointer, count: W)
                for j in vocabularySize..<W where j != helpTokenID || !helpCompetes { l[j] = -.infinity }
                return probs.withUnsafeMutableBufferPointer { sampler.sample(l, scratch: $0.baseAddress!, rng: &rng) }
            }
            let help = helpTokenID ?? -1
            if asks { action = help }
            if c.policy.usesHelpAction && !allowHelp && Sampler.argmax(z.pointer, count: W) == help { stats.guardedHelps += 1 }
            var origin = TokenOrigin.draft
            if asks || (helpCompetes && action == help) {
                let fresh = Array(teacherContext[teacher.length...])
                if teacher.length + fresh.count > teacher.capacity { reason = .contextLimit; break }
                t = now()
                stats.otherSeconds += t - t1
                let u = try teacher.append(fresh)
                stats.teacherCalls += 1; stats.teacherPositions += fresh.count
                action = Sampler.argmax(u.pointer + (fresh.count - 1) * teacher.logitWidth, count: vocabularySize)
                t1 = now()
                stats.teacherSeconds += t1 - t
                stats.teacherTokens += 1
                origin = .target
                onHelp(teacher.length)
            }
            out.append(action); origins.append(origin)
            teacherContext.append(action)
            last = action
            onToken(DecodedToken(id: action, origin: origin))
            stats.otherSeconds += now() - t1
            if stopTokens.contains(action) { reason = .endOfSequence; break }
        }
        stats.emitted = out.count
        return HelpOutput(tokens: out, origins: origins, stopReason: reason, statistics: stats)
    }
}

extension HelpDecoder {
    /// p(`<help>`) = exp(z_help) / (exp(z_help) + Σ_{j < V} exp(z_j)), computed stably (max
    /// subtracted); logits past the vocabulary other than `<help>` (padding) are ignored.
    public static func helpProbability(_ z: UnsafePointer<Float>, vocabularySize: Int, helpTokenID: Int) -> Double {
        var m = Double(z[helpTokenID])
        for j in 0..<vocabularySize { m = max(m, Double(z[j])) }
        var sum = 0.0
        for j in 0..<vocabularySize { sum += Foundation.exp(Double(z[j]) - m) }
        let h = Foundation.exp(Double(z[helpTokenID]) - m)
        return h / (sum + h)
    }
}

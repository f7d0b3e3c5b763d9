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
    /// Called with the policy's score at every position where a score policy (uncertainty or
    /// head) evaluates one — how a head's multipliers are calibrated on the states it visits.
    public var onScore: ((Double) -> Void)?
    private let sampler: Sampler
    private var logits: [Float], probs: [Float]
    private var featureScratch: [Double] = []

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
    /// cache is full. It is ``DecodingLoop`` over the student, whose `choose` may catch the
    /// teacher up and emit its greedy token; a teacher without room for the catch-up ends the
    /// run with ``StopReason/contextLimit``.
    ///
    /// Timing: ``HelpStatistics/prefillSeconds`` is both prefills; ``HelpStatistics/teacherSeconds``
    /// the teacher's catch-ups; ``HelpStatistics/otherSeconds`` the choice of each token and
    /// the callbacks; ``HelpStatistics/studentSeconds`` the rest of the loop's decoding time
    /// (the student's single-token appends).
    /// - Parameters:
    ///   - teacherPrompt: the teacher's prompt (default: `prompt`).
    ///   - onHelp: called after each teacher catch-up with the teacher's cache length.
    /// - Throws: ``SpecDecodeError/invalidSettings(_:)`` for an empty prompt,
    ///   ``SpecDecodeError/promptTooLong(_:)`` for a prompt a model's cache cannot hold, and what
    ///   the models' `append` throws.
    public func decode(prompt: [Int], teacherPrompt: [Int]? = nil, maxTokens: Int, stopTokens: Set<Int> = [],
                       onToken: (DecodedToken) -> Void = { _ in }, onHelp: (Int) -> Void = { _ in }) throws -> HelpOutput {
        let tPrompt = teacherPrompt ?? prompt
        try DecodingSupport.checkPrompt(prompt, models: [("student", student)])
        try DecodingSupport.checkPrompt(tPrompt, models: [("teacher", teacher)])
        var stats = HelpStatistics()
        stats.prompts = 1; stats.promptTokens = prompt.count
        // The teacher's prefill (the student's is the loop's); none when the guard forbids any help.
        let t0 = now()
        if configuration.enforceBudget && configuration.budget == 0 { teacher.truncate(to: 0) } else {
            try DecodingLoop.prefillAllButLast(teacher, tPrompt)
        }
        stats.prefillSeconds = now() - t0
        var teacherContext = tPrompt, origins: [TokenOrigin] = [], origin = TokenOrigin.draft
        let r = try DecodingLoop.run(student, prompt: prompt, maxTokens: maxTokens, stopTokens: stopTokens, choose: { z in
            let t = now()
            let (action, asks) = try studentChoice(z, emitted: origins.count, stats: &stats)
            guard asks else {
                origin = .draft
                stats.otherSeconds += now() - t
                return (action, action)
            }
            // The teacher catches up on the tokens it has not seen in one batched append.
            let fresh = Array(teacherContext[teacher.length...])
            let t1 = now()
            stats.otherSeconds += t1 - t
            if teacher.length + fresh.count > teacher.capacity { return nil }
            let u = try teacher.append(fresh)
            let token = Sampler.argmax(u.pointer + (fresh.count - 1) * teacher.logitWidth, count: vocabularySize)
            let t2 = now()
            stats.teacherSeconds += t2 - t1
            stats.teacherCalls += 1; stats.teacherPositions += fresh.count; stats.teacherTokens += 1
            origin = .target
            onHelp(teacher.length)
            stats.otherSeconds += now() - t2
            return (action, token)
        }, onToken: { _, token in
            let t = now()
            origins.append(origin)
            teacherContext.append(token)
            onToken(DecodedToken(id: token, origin: origin))
            stats.otherSeconds += now() - t
        })
        stats.prefillSeconds += r.prefillSeconds
        stats.studentCalls = r.steps
        stats.studentSeconds = max(0, r.decodeSeconds - stats.teacherSeconds - stats.otherSeconds)
        stats.emitted = r.tokens.count
        return HelpOutput(tokens: r.tokens, origins: origins, stopReason: r.stopReason, statistics: stats)
    }

    /// The student's action after `emitted` tokens, from its logits `z`: whether it asks for help
    /// (the learned `<help>` sampled or above ``HelpConfiguration/helpThreshold``, or a baseline
    /// policy's decision), and otherwise the token it samples. `<help>` is allowed only while the
    /// hard budget guard (when on) permits it; a guarded argmax `<help>` is counted in `stats`.
    private func studentChoice(_ z: UnsafePointer<Float>, emitted: Int,
                               stats: inout HelpStatistics) throws -> (action: Int, asks: Bool) {
        let c = configuration, W = student.logitWidth, help = helpTokenID ?? -1
        let allowHelp = !c.enforceBudget || Double(stats.teacherTokens + 1) <= c.budget * Double(emitted + 1) + 1e-9
        // Whether a baseline (or the learned action above --help-threshold) asks here.
        var asks = false
        switch c.policy {
        case .learned:
            if let threshold = c.helpThreshold, allowHelp, let helpTokenID {
                asks = HelpDecoder.helpProbability(z, vocabularySize: vocabularySize, helpTokenID: helpTokenID) >= threshold
            }
        case .random(let p): asks = rng.uniformDouble() < p && allowHelp
        case .uncertainty(let measure, let threshold), .positionWeighted(let measure, let threshold, _):
            var horizon: Int?
            if case .positionWeighted(_, _, let n) = c.policy { horizon = n }
            let score = measure.score(z, vocabularySize: vocabularySize, position: emitted, horizon: horizon)
            onScore?(score)
            asks = allowHelp && score >= threshold
        case .head(let head, let lambda):
            var hidden: UnsafePointer<Float>?
            if head.hiddenSize > 0 {
                guard let h = student.lastHiddenStates, h.shape.count == 2, h.shape[1] == head.hiddenSize else {
                    throw SpecDecodeError.invalidSettings("the help head reads hidden states of size \(head.hiddenSize), which this student does not expose")
                }
                hidden = UnsafePointer(h.pointer + (h.shape[0] - 1) * head.hiddenSize)
            }
            let g = head.gain(hidden: hidden, logits: z, vocabularySize: vocabularySize, position: emitted, scratch: &featureScratch)
            onScore?(g)
            asks = allowHelp && g > lambda
        }
        // The `<help>` logit competes only for the learned policy without a threshold, while allowed.
        let helpCompetes = c.policy.usesHelpAction && c.helpThreshold == nil && allowHelp
        let sampled = logits.withUnsafeMutableBufferPointer { lb -> Int in
            let l = lb.baseAddress!
            l.update(from: z, count: W)
            for j in vocabularySize..<W where j != helpTokenID || !helpCompetes { l[j] = -.infinity }
            return probs.withUnsafeMutableBufferPointer { sampler.sample(l, scratch: $0.baseAddress!, rng: &rng) }
        }
        if c.policy.usesHelpAction && !allowHelp && Sampler.argmax(z, count: W) == help { stats.guardedHelps += 1 }
        if asks { return (help, true) }
        return (sampled, helpCompetes && sampled == help)
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

import Foundation
import Tensor
import Transformer

/// One demonstration path: the response as text and the action at each of its positions.
/// `actions[i]` is `text[i]` except where the student took `<help>` (then `actions[i]` is the help
/// id and `text[i]` the teacher's greedy token).
public struct HelpPath: Codable, Equatable, Sendable {
    public var text: [Int]
    public var actions: [Int]
    /// The path ended with a stop token (terminal, V = 0) rather than at the length limit.
    public var endedByStop: Bool

    public init(text: [Int], actions: [Int], endedByStop: Bool) {
        precondition(text.count == actions.count, "HelpPath: \(text.count) text tokens, \(actions.count) actions")
        self.text = text; self.actions = actions; self.endedByStop = endedByStop
    }

    /// A path whose actions are its tokens (dataset responses, teacher samples).
    public init(tokens: [Int], stopTokens: Set<Int>) {
        self.init(text: tokens, actions: tokens, endedByStop: tokens.last.map(stopTokens.contains) ?? false)
    }

    /// Help actions taken.
    public func helpCount(helpID: Int?) -> Int {
        guard let h = helpID else { return 0 }
        return actions.reduce(0) { $0 + ($1 == h ? 1 : 0) }
    }
}

/// On-policy rollouts of a student that may ask for help (algorithms.md §5.4): the student
/// samples from all its V + 1 actions; on `<help>` the teacher's KV cache is caught up with one
/// batched append of the tokens it has not seen and the teacher's greedy token goes into the
/// text. No gradient flows here: the loss is computed afterwards on the packed path.
public final class HelpRollout {
    public let student: TransformerModel
    public let teacher: TransformerModel
    public let settings: SamplingSettings
    public let maxNewTokens: Int
    public let stopTokens: Set<Int>
    /// Tokens the teacher may emit (its logits past this width, or past the tokenizer, are masked).
    public let teacherVocabulary: Int
    private let studentSession: InferenceSession, teacherSession: InferenceSession
    private let sampler: Sampler
    private var probs: [Float]

    public init(student: TransformerModel, teacher: TransformerModel, settings: SamplingSettings, maxNewTokens: Int,
                stopTokens: Set<Int>, maxT: Int, teacherVocabulary: Int? = nil) {
        self.student = student; self.teacher = teacher; self.settings = settings
        self.maxNewTokens = maxNewTokens; self.stopTokens = stopTokens
        self.teacherVocabulary = min(teacherVocabulary ?? teacher.config.vocabSize, teacher.config.vocabSize)
        studentSession = InferenceSession(model: student, maxT: maxT)
        teacherSession = InferenceSession(model: teacher, maxT: maxT)
        sampler = Sampler(settings: settings, vocabularySize: student.config.vocabSize)
        probs = [Float](repeating: 0, count: student.config.vocabSize)
    }

    /// Samples a response to `prompt` (``DecodingLoop`` over the student's session, a `<help>`
    /// action answered by the teacher). The prompt is left-truncated to leave room for the response.
    public func sample(prompt: [Int], rng: inout RandomGenerator) throws -> HelpPath {
        let p = Array(prompt.suffix(max(1, studentSession.maxT - maxNewTokens - 1)))
        let help = student.config.helpTokenID, V = teacher.config.vocabSize
        teacherSession.reset()
        var context = p, actions: [Int] = []
        let r = try DecodingLoop.run(studentSession, prompt: p, maxTokens: maxNewTokens, stopTokens: stopTokens, choose: { logits in
            let action = probs.withUnsafeMutableBufferPointer { sampler.sample(logits, scratch: $0.baseAddress!, rng: &rng) }
            guard let help, action == help else { return (action, action) }
            // The teacher catches up on the tokens it has not seen in one batched append.
            let fresh = Array(context[teacherSession.length...])
            let t = try teacherSession.append(fresh)
            return (action, Sampler.argmax(t.pointer + (fresh.count - 1) * V, count: teacherVocabulary))
        }, onToken: { action, token in actions.append(action); context.append(token) })
        return HelpPath(text: r.tokens, actions: actions, endedByStop: r.stopReason == .endOfSequence)
    }
}

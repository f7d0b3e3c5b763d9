import Foundation

/// Counters of help-aware decoding (algorithms.md §5.4) over one or more prompts; rates are
/// derived and guarded against division by zero.
public struct HelpStatistics: Codable, Equatable, Sendable {
    public var prompts = 0
    public var promptTokens = 0
    /// Tokens emitted.
    public var emitted = 0
    /// Emitted tokens that came from the teacher (the student chose `<help>`).
    public var teacherTokens = 0
    /// Teacher forward calls during decoding (one batched catch-up per help).
    public var teacherCalls = 0
    /// Positions the teacher computed during decoding (the catch-up spans).
    public var teacherPositions = 0
    /// Student forward calls during decoding.
    public var studentCalls = 0
    /// Prompt prefill of both models (all prompt tokens but the last).
    public var prefillSeconds = 0.0
    /// Time in student calls, teacher calls, and the rest of the loop (sampling, bookkeeping).
    public var studentSeconds = 0.0
    public var teacherSeconds = 0.0
    public var otherSeconds = 0.0
    /// `<help>` choices refused by the hard budget guard.
    public var guardedHelps = 0
    public init() {}

    /// Decoding time, prefill excluded (as ``SpeculativeStatistics/decodeSeconds``).
    public var decodeSeconds: Double { studentSeconds + teacherSeconds + otherSeconds }
    /// teacher tokens / emitted tokens.
    public var teacherFraction: Double? { emitted > 0 ? Double(teacherTokens) / Double(emitted) : nil }
    /// teacher calls / emitted tokens.
    public var teacherCallsPerToken: Double? { emitted > 0 ? Double(teacherCalls) / Double(emitted) : nil }
    /// Measured decoding seconds per emitted token.
    public var secondsPerToken: Double? { emitted > 0 ? decodeSeconds / Double(emitted) : nil }
    /// Mean seconds of a student call and of a teacher call.
    public var studentCallSeconds: Double? { studentCalls > 0 ? studentSeconds / Double(studentCalls) : nil }
    public var teacherCallSeconds: Double? { teacherCalls > 0 ? teacherSeconds / Double(teacherCalls) : nil }
    /// The latency the call counts predict: `(studentCalls · t_s + teacherCalls · t_t) / emitted`
    /// with the given per-call costs (e.g. plain-decoding step times of each model).
    public func estimatedSecondsPerToken(studentStep: Double, teacherStep: Double) -> Double? {
        emitted > 0 ? (Double(studentCalls) * studentStep + Double(teacherCalls) * teacherStep) / Double(emitted) : nil
    }

    public mutating func add(_ o: HelpStatistics) {
        prompts += o.prompts; promptTokens += o.promptTokens; emitted += o.emitted
        teacherTokens += o.teacherTokens; teacherCalls += o.teacherCalls; teacherPositions += o.teacherPositions
        studentCalls += o.studentCalls; prefillSeconds += o.prefillSeconds
        studentSeconds += o.studentSeconds; teacherSeconds += o.teacherSeconds; otherSeconds += o.otherSeconds
        guardedHelps += o.guardedHelps
    }

    /// The counters with the derived rates, for `--stats json`.
    public var report: [String: Double] {
        var r: [String: Double] = [
            "prompts": Double(prompts), "prompt_tokens": Double(promptTokens), "tokens": Double(emitted),
            "teacher_tokens": Double(teacherTokens), "teacher_calls": Double(teacherCalls),
            "teacher_positions": Double(teacherPositions), "student_calls": Double(studentCalls),
            "prefill_seconds": prefillSeconds, "decode_seconds": decodeSeconds, "student_seconds": studentSeconds,
            "teacher_seconds": teacherSeconds, "guarded_helps": Double(guardedHelps),
        ]
        if let v = teacherFraction { r["teacher_fraction"] = v }
        if let v = teacherCallsPerToken { r["teacher_calls_per_token"] = v }
        if let v = secondsPerToken { r["latency_per_token"] = v }
        return r
    }
}

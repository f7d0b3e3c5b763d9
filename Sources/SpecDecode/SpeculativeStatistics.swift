import Foundation

/// Counters and timings of speculative decoding (algorithms.md §2.5), summed over prompts with
/// ``add(_:)``; derived rates in ``derived`` (every division guarded: nil when undefined).
///
/// A round drafts gamma tokens, verifies them with one target call over gamma + 1 positions and
/// emits the accepted prefix plus one target token (a resampled replacement after a rejection, or
/// a bonus token after full acceptance), unless decoding stops inside the round (EOS, max tokens).
public struct SpeculativeStatistics: Codable, Equatable, Sendable {
    public var prompts = 0
    public var promptTokens = 0
    /// Rounds (one target verification call each).
    public var rounds = 0
    /// Tokens proposed by the draft.
    public var drafted = 0
    /// Drafted tokens the target accepted.
    public var accepted = 0
    /// Rejection events (at most one per round; drafts after a rejection are never judged).
    public var rejections = 0
    /// Target tokens emitted after a full acceptance.
    public var bonusTokens = 0
    /// Tokens emitted in total (accepted + rejections + bonus, less tokens cut by a stop).
    public var emitted = 0
    /// Index i: rounds whose draft reached position i + 1 / in which the target judged it / accepted it.
    public var draftedAtPosition: [Int] = []
    public var judgedAtPosition: [Int] = []
    public var acceptedAtPosition: [Int] = []
    /// Index k: rounds with exactly k accepted drafts.
    public var acceptanceHistogram: [Int] = []
    /// Auto-off counters (nil when the rule was off; optional so results written before it still decode).
    public var fallback: FallbackStatistics?
    /// Verification calls in the decoding loop (one per round; prefill and plain steps not counted) and draft calls
    /// (one per drafted token; the first of a round also feeds the tokens the draft has not seen; a lookup
    /// round counts one per proposed token, so that c stays a cost per drafted token, ≈ 0 for lookup).
    public var targetCalls = 0
    public var draftCalls = 0
    /// Seconds in prompt prefill (both models), drafting (draft calls and sampling), verifying
    /// (target calls) and everything else in the decoding loop (acceptance, callbacks, rollback).
    public var prefillSeconds = 0.0
    public var draftSeconds = 0.0
    public var verifySeconds = 0.0
    public var otherSeconds = 0.0
    /// Weight bytes read per decoding step (see ``DecodingModel/weightBytesPerStep``).
    public var targetWeightBytes = 0
    public var draftWeightBytes = 0
    /// Plain decoding of the same prompts with the target alone, when it ran.
    public var baseline: PlainStatistics?
    /// Per draft source (``DraftSource`` raw value: "lookup", "model") when lookup is on (alone
    /// or chained); nil otherwise and in results written before lookup existed.
    public var sources: [String: DraftSourceStatistics]?
    /// Timing steps: plain steps taken every ``SpeculativeDecoder/timingInterval`` target calls so
    /// that the cost models compare verification with a current plain step (their seconds are in
    /// ``otherSeconds``); nil when none were taken.
    public var timingSteps: Int?

    public init() {}

    /// Seconds of the decoding loop (without prefill).
    public var decodeSeconds: Double { draftSeconds + verifySeconds + otherSeconds + plainSeconds + catchUpSeconds }

    /// Adds the counters and timings of another run (for several prompts).
    public mutating func add(_ o: SpeculativeStatistics) {
        prompts += o.prompts; promptTokens += o.promptTokens; rounds += o.rounds; drafted += o.drafted
        accepted += o.accepted; rejections += o.rejections; bonusTokens += o.bonusTokens; emitted += o.emitted
        SpeculativeStatistics.addArrays(&draftedAtPosition, o.draftedAtPosition)
        SpeculativeStatistics.addArrays(&judgedAtPosition, o.judgedAtPosition)
        SpeculativeStatistics.addArrays(&acceptedAtPosition, o.acceptedAtPosition)
        SpeculativeStatistics.addArrays(&acceptanceHistogram, o.acceptanceHistogram)
        targetCalls += o.targetCalls; draftCalls += o.draftCalls
        if let f = o.fallback {
            if fallback == nil { fallback = FallbackStatistics() }
            fallback!.add(f)
        }
        prefillSeconds += o.prefillSeconds; draftSeconds += o.draftSeconds
        verifySeconds += o.verifySeconds; otherSeconds += o.otherSeconds
        targetWeightBytes = o.targetWeightBytes; draftWeightBytes = o.draftWeightBytes
        if let b = o.baseline {
            if baseline == nil { baseline = PlainStatistics() }
            baseline!.add(b)
        }
        if let t = o.timingSteps { timingSteps = (timingSteps ?? 0) + t }
        if let os = o.sources {
            if sources == nil { sources = [:] }
            for (k, v) in os { sources![k, default: DraftSourceStatistics()].add(v) }
        }
    }

    /// Adds 1 at `index`, growing the array with zeros.
    mutating func count(_ keyPath: WritableKeyPath<SpeculativeStatistics, [Int]>, at index: Int) {
        if self[keyPath: keyPath].count <= index {
            self[keyPath: keyPath] += [Int](repeating: 0, count: index + 1 - self[keyPath: keyPath].count)
        }
        self[keyPath: keyPath][index] += 1
    }

    static func addArrays(_ a: inout [Int], _ b: [Int]) {
        if a.count < b.count { a += [Int](repeating: 0, count: b.count - a.count) }
        for i in b.indices { a[i] += b[i] }
    }

    /// The derived rates.
    public var derived: DerivedStatistics { DerivedStatistics(self) }

    /// Auto-off counters (0 when the rule was off): see ``FallbackStatistics``.
    public var plainSteps: Int { fallback?.plainSteps ?? 0 }
    public var plainSeconds: Double { fallback?.plainSeconds ?? 0 }
    public var probeRounds: Int { fallback?.probeRounds ?? 0 }
    public var switchesOff: Int { fallback?.switchesOff ?? 0 }
    public var switchesOn: Int { fallback?.switchesOn ?? 0 }
    public var catchUpTokens: Int { fallback?.catchUpTokens ?? 0 }
    public var catchUpSeconds: Double { fallback?.catchUpSeconds ?? 0 }
}

/// What the auto-off rule (``SpeculationSwitch``) did: plain fallback steps (one target call and
/// one emitted token each, counted neither in ``SpeculativeStatistics/rounds`` nor in
/// ``SpeculativeStatistics/targetCalls``) and their seconds; probe rounds (counted in `rounds`
/// too), the tokens they emitted and their seconds (drafting, catch-up and verification); switches
/// off and back on; the draft's batched catch-up on the tokens it missed (tokens, seconds; not in
/// ``SpeculativeStatistics/draftSeconds``).
public struct FallbackStatistics: Codable, Equatable, Sendable {
    public var plainSteps = 0
    public var plainSeconds = 0.0
    public var probeRounds = 0
    public var probeTokens = 0
    public var probeSeconds = 0.0
    public var switchesOff = 0
    public var switchesOn = 0
    public var catchUpTokens = 0
    public var catchUpSeconds = 0.0
    public init() {}

    public mutating func add(_ o: FallbackStatistics) {
        plainSteps += o.plainSteps; plainSeconds += o.plainSeconds; probeRounds += o.probeRounds; probeTokens += o.probeTokens
        probeSeconds += o.probeSeconds; switchesOff += o.switchesOff; switchesOn += o.switchesOn
        catchUpTokens += o.catchUpTokens; catchUpSeconds += o.catchUpSeconds
    }
}

/// Counters and timings of plain decoding (one target call per token).
public struct PlainStatistics: Codable, Equatable, Sendable {
    public var prompts = 0
    public var promptTokens = 0
    public var emitted = 0
    public var targetCalls = 0
    public var prefillSeconds = 0.0
    /// Seconds of the decoding loop (target calls, sampling, callbacks), without prefill.
    public var decodeSeconds = 0.0
    public init() {}

    public mutating func add(_ o: PlainStatistics) {
        prompts += o.prompts; promptTokens += o.promptTokens; emitted += o.emitted; targetCalls += o.targetCalls
        prefillSeconds += o.prefillSeconds; decodeSeconds += o.decodeSeconds
    }

    /// Seconds per emitted token in the decoding loop.
    public var secondsPerToken: Double? { ratio(decodeSeconds, Double(emitted)) }
}

/// `a / b`, or nil when b is 0 (or the result is not finite).
@inlinable
func ratio(_ a: Double, _ b: Double) -> Double? {
    guard b != 0 else { return nil }
    let r = a / b
    return r.isFinite ? r : nil
}

/// Rates derived from ``SpeculativeStatistics`` (nil where a denominator is 0).
public struct DerivedStatistics: Codable, Equatable, Sendable {
    /// alpha as algorithms.md §2.5 defines it: accepted / (accepted + rejection events); drafts
    /// after a rejection are not counted.
    public var alphaPerJudged: Double?
    /// accepted / drafted (counts the unjudged drafts after a rejection as failures).
    public var acceptedPerDrafted: Double?
    /// Per draft position i + 1: accepted / judged.
    public var acceptanceAtPosition: [Double?]
    /// Mean gamma: drafted / rounds.
    public var meanDraftLength: Double?
    /// Measured tau: tokens emitted by rounds / verification calls (includes the bonus and
    /// replacement tokens; plain fallback and timing steps excluded).
    public var tokensPerTargetCall: Double?
    /// tau(alpha, mean gamma) from ``alphaPerJudged``: the i.i.d. prediction of tokensPerTargetCall.
    public var predictedTokensPerTargetCall: Double?
    /// Auto-off: the fraction of emitted tokens from plain fallback steps, and seconds per such step.
    public var fallbackFraction: Double?
    public var plainStepSeconds: Double?
    /// Seconds per draft call and per target (verification) call.
    public var draftStepSeconds: Double?
    public var targetCallSeconds: Double?
    /// Measured c = draft step time / target verification call time.
    public var costRatio: Double?
    /// Predicted speedup `tau / (gamma·c + 1)` with the measured tau, mean gamma and measured c.
    public var predictedSpeedup: Double?
    /// The same with tau(alpha, mean gamma) in place of the measured tau.
    public var predictedSpeedupFromAlpha: Double?
    /// c from weight bytes: draft bytes / target bytes per step.
    public var byteCostRatio: Double?
    /// MBSU: `tau / (gamma·c_bytes + 1)` with the measured tau.
    public var memoryBoundSpeedup: Double?
    /// Emitted tokens per second of the decoding loop.
    public var tokensPerSecond: Double?
    /// With a baseline: its seconds per token, c against it (draft step / plain target step),
    /// the verification call's cost in plain steps, and the measured wall-clock speedup
    /// (baseline seconds per token / speculative seconds per token, decoding loops only).
    public var baselineSecondsPerToken: Double?
    public var baselineCostRatio: Double?
    public var verifyCostInTargetSteps: Double?
    public var measuredSpeedup: Double?
    /// The textbook prediction `tau / (gamma·c + 1)` with c = draft step / plain target step
    /// (measured tau and mean gamma), for the whole run: with plain fallback and timing steps (a
    /// fraction f of the tokens from plain steps, one plain step each) the rounds' speedup S_r mixes harmonically,
    /// `S = 1 / (f + (1 − f) / S_r)` (N tokens cost `f·N + (1 − f)·N / S_r` plain steps).
    public var predictedSpeedupFromBaseline: Double?
    /// The full cost model `tau / (gamma·c + v)`, v = verification call / plain step, mixed with
    /// plain fallback the same way: it accounts for verifying gamma + 1 positions costing more
    /// than one step and for the steps auto-off took plainly, and leaves only the loop's other
    /// overheads between it and the measured speedup.
    public var predictedSpeedupWithVerifyCost: Double?
    /// Per draft source (when lookup is on): alpha = accepted / (accepted + rejections) and
    /// tokens emitted per round of that source.
    public var alphaBySource: [String: Double]?
    public var tokensPerRoundBySource: [String: Double]?

    public init(_ s: SpeculativeStatistics) {
        if let sources = s.sources {
            alphaBySource = sources.compactMapValues(\.alpha)
            tokensPerRoundBySource = sources.compactMapValues(\.tokensPerRound)
        }
        alphaPerJudged = ratio(Double(s.accepted), Double(s.accepted + s.rejections))
        acceptedPerDrafted = ratio(Double(s.accepted), Double(s.drafted))
        acceptanceAtPosition = s.judgedAtPosition.indices.map {
            ratio(Double($0 < s.acceptedAtPosition.count ? s.acceptedAtPosition[$0] : 0), Double(s.judgedAtPosition[$0]))
        }
        meanDraftLength = ratio(Double(s.drafted), Double(s.rounds))
        // One-row steps outside rounds: auto-off's plain fallback and the cost models' timing steps.
        let oneRowSteps = s.plainSteps + (s.timingSteps ?? 0)
        tokensPerTargetCall = ratio(Double(s.emitted - oneRowSteps), Double(s.targetCalls))
        fallbackFraction = ratio(Double(s.plainSteps), Double(s.emitted))
        plainStepSeconds = ratio(s.plainSeconds, Double(s.plainSteps))
        if let a = alphaPerJudged, let g = meanDraftLength {
            predictedTokensPerTargetCall = SpeedupModel.tau(alpha: a, gamma: g)
        }
        draftStepSeconds = ratio(s.draftSeconds, Double(s.draftCalls))
        targetCallSeconds = ratio(s.verifySeconds, Double(s.targetCalls))
        if let d = draftStepSeconds, let t = targetCallSeconds { costRatio = ratio(d, t) }
        if let tau = tokensPerTargetCall, let g = meanDraftLength {
            if let c = costRatio { predictedSpeedup = tau / (g * c + 1) }
            byteCostRatio = ratio(Double(s.draftWeightBytes), Double(s.targetWeightBytes))
            if let cb = byteCostRatio { memoryBoundSpeedup = tau / (g * cb + 1) }
        }
        if let tau = predictedTokensPerTargetCall, let g = meanDraftLength, let c = costRatio {
            predictedSpeedupFromAlpha = tau / (g * c + 1)
        }
        tokensPerSecond = ratio(Double(s.emitted), s.decodeSeconds)
        if let b = s.baseline, let bs = b.secondsPerToken {
            baselineSecondsPerToken = bs
            if let d = draftStepSeconds { baselineCostRatio = ratio(d, bs) }
            if let t = targetCallSeconds { verifyCostInTargetSteps = ratio(t, bs) }
            if let ss = ratio(s.decodeSeconds, Double(s.emitted)) { measuredSpeedup = ratio(bs, ss) }
            if let tau = tokensPerTargetCall, let g = meanDraftLength, let cb = baselineCostRatio {
                let f = ratio(Double(oneRowSteps), Double(s.emitted)) ?? 0
                func withFallback(_ rounds: Double) -> Double { 1 / (f + (1 - f) / rounds) }
                predictedSpeedupFromBaseline = withFallback(tau / (g * cb + 1))
                if let v = verifyCostInTargetSteps { predictedSpeedupWithVerifyCost = withFallback(tau / (g * cb + v)) }
            }
        }
    }
}

import Foundation

/// Settings of the auto-off rule (``SpeculationSwitch``): speculation that turns itself off while
/// the cost model predicts it loses to plain decoding, and back on when it recovers.
public struct AutoOffSettings: Codable, Equatable, Sendable {
    /// Off: the decoder always drafts (the behaviour before auto-off).
    public var enabled: Bool
    /// Drafted rounds after (re)starting speculation before it may switch off (evidence first).
    public var minRounds: Int
    /// Plain steps between probe rounds right after switching off; doubled after every probe that
    /// does not switch speculation back on, up to ``maxProbeInterval``.
    public var probeInterval: Int
    public var maxProbeInterval: Int
    /// Speculation runs while the best predicted speedup is at least this (1 = break-even).
    public var threshold: Double
    /// Fixed costs (tests, reproducible runs): c = draft step / plain step and v = verification
    /// call / plain step for every gamma. nil: measured from the decoder's own timings.
    public var fixedCostRatio: Double?
    public var fixedVerifyCost: Double?

    public init(enabled: Bool = true, minRounds: Int = 8, probeInterval: Int = 16, maxProbeInterval: Int = 256,
                threshold: Double = 1, fixedCostRatio: Double? = nil, fixedVerifyCost: Double? = nil) {
        self.enabled = enabled; self.minRounds = minRounds; self.probeInterval = probeInterval
        self.maxProbeInterval = maxProbeInterval; self.threshold = threshold
        self.fixedCostRatio = fixedCostRatio; self.fixedVerifyCost = fixedVerifyCost
    }

    /// Auto-off disabled.
    public static let off = AutoOffSettings(enabled: false)

    /// - Throws: ``SpecDecodeError/invalidSettings(_:)`` naming the offending value.
    public func validate() throws {
        guard enabled else { return }
        if minRounds < 1 { throw SpecDecodeError.invalidSettings("auto-off min rounds must be ≥ 1, got \(minRounds)") }
        if probeInterval < 1 || maxProbeInterval < probeInterval {
            throw SpecDecodeError.invalidSettings("auto-off probe interval must be ≥ 1 and ≤ its maximum, got \(probeInterval) / \(maxProbeInterval)")
        }
        if !(threshold > 0) { throw SpecDecodeError.invalidSettings("auto-off threshold must be > 0, got \(threshold)") }
        if let c = fixedCostRatio, !(c >= 0) { throw SpecDecodeError.invalidSettings("fixed cost ratio must be ≥ 0, got \(c)") }
        if let v = fixedVerifyCost, !(v > 0) { throw SpecDecodeError.invalidSettings("fixed verify cost must be > 0, got \(v)") }
    }
}

/// Decides, before every step of ``SpeculativeDecoder``, whether to draft or to take a plain
/// target step (speculation that turns itself off).
///
/// **Estimates.** alpha is `A / (A + R)` with A the accepted drafts and R the rejection events
/// (the maximum-likelihood acceptance of a geometric process censored at gamma, as in the adaptive
/// schedule's ``DraftLengthController``), starting from one pseudo-acceptance and one
/// pseudo-rejection, but both decayed by ``decay`` = 0.9 per **judged draft** rather than per
/// round: after a run of fully accepted rounds, per-round decay would need ≈ 50 rejected rounds to
/// notice that the draft stopped agreeing; this needs ≈ 20. With measured costs, the
/// times of a draft step t_d and of a plain target step t_p are means of the decoder's own timings,
/// decayed by 0.95 per round; c = t_d / t_p, and v(gamma) comes from ``VerificationCost``
/// (target calls timed by row count, plain steps as one-row calls: measured, interpolated, or
/// extrapolated on the line through the plain step). Until two plain steps are timed (none
/// happen while speculation pays), the decoder takes plain steps to learn t_p (calibration:
/// lossless, each emits the target's token).
///
/// **Rule.** The predicted speedup is `S* = max_gamma tau(alpha, gamma) / (gamma·c + v(gamma))`
/// over the schedule's range.
/// - Drafting → plain: after at least ``AutoOffSettings/minRounds`` drafted rounds since
///   speculation (re)started, when S* < threshold after a round even at the optimistic alpha
///   ``optimisticAlpha`` (one standard error above the estimate).
/// - Plain → drafting: alpha receives no evidence while not drafting, so every n plain steps one
///   **probe** round drafts `draftMax` tokens (the draft first catches up on the tokens it missed
///   in one batched append, which is why its cache is not kept in step: that would cost a draft
///   step per plain token). If `S* ≥ threshold` after the probe, speculation restarts; otherwise
///   n doubles (back-off), from ``AutoOffSettings/probeInterval`` up to
///   ``AutoOffSettings/maxProbeInterval``, so a draft that never pays costs at most one probe per
///   `maxProbeInterval` tokens in the long run.
///
/// **Losslessness.** A plain step appends the last token and samples the target's p (argmax when
/// greedy): exactly plain decoding. A probe is an ordinary round. Which of the two runs depends
/// only on the past, so every token is still distributed as the target's (identical tokens at
/// temperature 0); rejection sampling happens only on drafted rounds.
public struct SpeculationSwitch: Sendable {
    public let settings: AutoOffSettings
    /// The range of gamma searched for S* (the draft schedule's range).
    public let gammaRange: ClosedRange<Int>
    /// Whether the decoder is speculating (true) or in plain fallback.
    public private(set) var drafting = true
    /// Plain steps between probes now (grows by back-off).
    public private(set) var interval: Int
    /// Weight of the past per judged draft in the alpha estimate (a memory of ≈ 10 judged drafts).
    public static let decay = 0.9
    /// Weight of the past per round (per plain step) in the timing estimates.
    public static let costDecay = 0.95
    /// Plain steps timed before the measured v is trusted.
    public static let calibrationSteps = 2
    private var acceptedWeight = 1.0, rejectedWeight = 1.0
    private var draftTime = 0.0, draftCalls = 0.0
    private var verification: VerificationCost
    private var plainTime = 0.0, plainWeight = 0.0
    private var plainTimed = 0
    private var roundsSinceOn = 0
    private var plainSinceProbe = 0

    public init(settings: AutoOffSettings, gammaRange: ClosedRange<Int>) {
        self.settings = settings
        self.gammaRange = gammaRange
        verification = VerificationCost(maxRows: gammaRange.upperBound + 1, estimate: .decayedMean)
        interval = settings.probeInterval
    }

    /// The current estimate of alpha.
    public var alphaEstimate: Double { acceptedWeight / (acceptedWeight + rejectedWeight) }

    /// Standard errors added to alpha before the switch-off test (see ``optimisticAlpha``).
    public static let offConfidence = 1.0

    /// alpha as high as the evidence still allows: `â + z·sqrt(â(1 − â)/n)` with â
    /// ``alphaEstimate``, n the decayed count of judged drafts behind it (the prior's two
    /// included; it tends to 1 / (1 − decay) = 10) and z ``offConfidence``. Speculation switches off only when even
    /// this predicts less than the threshold: off, alpha receives no evidence but a probe's, so a
    /// false switch-off costs a draft that pays most of the answer, and with ≈ 10 judged drafts of
    /// memory a dip of a few rejections is within the noise of a draft at alpha ≈ 0.5. It switches
    /// back on at the estimate itself (hysteresis between the two).
    public var optimisticAlpha: Double {
        let n = acceptedWeight + rejectedWeight, a = alphaEstimate
        return min(1, a + SpeculationSwitch.offConfidence * (a * (1 - a) / n).squareRoot())
    }

    /// c = draft step / plain target step (nil until both are timed).
    public var costRatioEstimate: Double? {
        if let c = settings.fixedCostRatio { return c }
        guard draftCalls > 0, plainWeight > 0, plainTime > 0 else { return nil }
        return (draftTime / draftCalls) / (plainTime / plainWeight)
    }

    /// v(gamma) = verification call of gamma + 1 positions / plain target step (nil until timed).
    public func verifyCostEstimate(gamma: Int) -> Double? {
        if let v = settings.fixedVerifyCost { return v }
        return verification.verifyCost(gamma: gamma)
    }

    /// The best gamma and its predicted speedup S* (nil while a cost is unknown).
    public var prediction: (gamma: Int, speedup: Double)? { prediction(alpha: alphaEstimate) }

    /// S* at ``optimisticAlpha``: what the switch-off test reads.
    public var optimisticPrediction: (gamma: Int, speedup: Double)? { prediction(alpha: optimisticAlpha) }

    private func prediction(alpha: Double) -> (gamma: Int, speedup: Double)? {
        guard let c = costRatioEstimate, verifyCostEstimate(gamma: 1) != nil else { return nil }
        return SpeedupModel.best(alpha: alpha, costRatio: c, verifyCost: { verifyCostEstimate(gamma: $0)! }, in: gammaRange)
    }

    /// What the next step should be.
    public enum Step: String, Sendable { case speculative, probe, plain }

    public var next: Step {
        guard settings.enabled else { return .speculative }
        if settings.fixedVerifyCost == nil && plainTimed < SpeculationSwitch.calibrationSteps { return .plain }
        if drafting { return .speculative }
        return plainSinceProbe >= interval ? .probe : .plain
    }

    /// Records a plain step's time.
    public mutating func recordPlain(seconds: Double) {
        let d = SpeculationSwitch.costDecay
        plainTime = d * plainTime + seconds; plainWeight = d * plainWeight + 1
        verification.record(rows: 1, seconds: seconds)
        plainTimed += 1
        if !drafting { plainSinceProbe += 1 }
    }

    /// Records the time of a verification call the switch does not judge (a lookup round of a
    /// chain, whose switch gates the draft model only): it refines v(gamma) and nothing else.
    public mutating func recordVerification(rows: Int, seconds: Double) {
        verification.record(rows: rows, seconds: seconds)
    }

    /// Records a drafted round (an ordinary one or a probe).
    /// - Returns: the switch it caused: false = turned off, true = turned back on, nil = none.
    @discardableResult
    public mutating func recordRound(drafted: Int, accepted: Int, rejected: Bool, draftSeconds: Double, draftCalls calls: Int,
                                     verifySeconds: Double) -> Bool? {
        guard settings.enabled else { return nil }
        // alpha: one decay per judged draft, in the order they were judged.
        let a = SpeculationSwitch.decay
        for _ in 0..<accepted { acceptedWeight = a * acceptedWeight + 1; rejectedWeight *= a }
        if rejected { acceptedWeight *= a; rejectedWeight = a * rejectedWeight + 1 }
        let d = SpeculationSwitch.costDecay
        if calls > 0 { draftTime = d * draftTime + draftSeconds; draftCalls = d * draftCalls + Double(calls) }
        verification.record(rows: drafted + 1, seconds: verifySeconds)
        if drafting {
            roundsSinceOn += 1
            let mayPay = optimisticPrediction.map { $0.speedup >= settings.threshold } ?? true
            if roundsSinceOn >= settings.minRounds && !mayPay {
                drafting = false; plainSinceProbe = 0; interval = settings.probeInterval
                return false
            }
            return nil
        }
        // A probe round: back on when the estimate itself pays.
        plainSinceProbe = 0
        if prediction.map({ $0.speedup >= settings.threshold }) ?? true {
            drafting = true; roundsSinceOn = 0
            return true
        }
        interval = min(interval * 2, settings.maxProbeInterval)
        return nil
    }
}

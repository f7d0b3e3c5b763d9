import Foundation

/// How many tokens the draft proposes per round (gamma).
public enum DraftSchedule: String, Codable, CaseIterable, Sendable {
    /// gamma = `draftMax` every round.
    case constant
    /// Starts at `draftMax`; +2 after a round whose drafts were all accepted, −1 otherwise,
    /// clamped to [max(1, draftMin), draftMax] (the schedule of Hugging Face's assisted generation).
    case heuristic
    /// Keeps online estimates of alpha, of the cost ratio c and of the verification cost v(gamma)
    /// (``VerificationCost``, measured per row count) and picks the gamma in
    /// [max(1, draftMin), draftMax] that maximises `tau(alpha, gamma) / (gamma·c + v(gamma))`
    /// (`v = 1` until a plain step and a verification call are timed, and with a fixed c).
    case adaptive
}

/// Draft-length settings (flag names follow llama.cpp: `--draft-max`, `--draft-min`, `--draft-p-min`).
public struct DraftSettings: Codable, Equatable, Sendable {
    /// The largest gamma (and the constant schedule's gamma).
    public var draftMax: Int
    /// A floor: the confidence stop never ends a draft shorter than this, and schedules never go
    /// below it. (llama.cpp instead discards drafts shorter than its `--draft-min`.)
    public var draftMin: Int
    /// Confidence stop: drafting ends (without the token) when the draft's top probability falls
    /// below this. The top probability is taken from the sampling distribution q (after
    /// temperature / top-k / top-p); at temperature 0, where q is one-hot, from `softmax(z)` at
    /// temperature 1. 0 turns the stop off.
    public var draftPMin: Double
    /// The cost-aware confidence stop (``DraftStop``, `--draft-p-min auto`) instead of a fixed
    /// `draftPMin`: each drafted token is kept while its calibrated acceptance pays for the row
    /// it adds to verification, and drafting goes on (up to `draftMax`, whatever the schedule)
    /// while more tokens are expected to pay. It replaces auto-off (the decoder runs it with
    /// ``AutoOffSettings/off``). nil or false: off.
    public var draftPMinAuto: Bool?
    public var schedule: DraftSchedule

    public init(draftMax: Int = 5, draftMin: Int = 0, draftPMin: Double = 0, draftPMinAuto: Bool = false,
                schedule: DraftSchedule = .constant) {
        self.draftMax = draftMax; self.draftMin = draftMin; self.draftPMin = draftPMin; self.schedule = schedule
        self.draftPMinAuto = draftPMinAuto ? true : nil
    }

    /// Whether the cost-aware stop (``draftPMinAuto``) is on.
    public var costAwareStop: Bool { draftPMinAuto == true }

    /// The range schedules move in: [max(1, draftMin), draftMax].
    public var scheduleRange: ClosedRange<Int> { max(1, draftMin)...max(1, draftMax) }

    /// - Throws: ``SpecDecodeError/invalidSettings(_:)`` naming the offending value.
    public func validate() throws {
        if draftMax < 1 { throw SpecDecodeError.invalidSettings("draft-max must be ≥ 1, got \(draftMax)") }
        if draftMin < 0 { throw SpecDecodeError.invalidSettings("draft-min must be ≥ 0, got \(draftMin)") }
        if draftMin > draftMax {
            throw SpecDecodeError.invalidSettings("draft-min (\(draftMin)) must not exceed draft-max (\(draftMax))")
        }
        if !(draftPMin >= 0 && draftPMin <= 1) {
            throw SpecDecodeError.invalidSettings("draft-p-min must be in [0, 1], got \(draftPMin)")
        }
        if costAwareStop && draftPMin > 0 {
            throw SpecDecodeError.invalidSettings("draft-p-min is either a threshold or auto, not both (got \(draftPMin) and auto)")
        }
    }
}

/// Where the adaptive schedule gets the cost ratio c from.
public enum CostRatioSource: Equatable, Sendable {
    /// Measured from the decoder's own timings (draft step time / target call time), starting from
    /// the weight-byte ratio. Timing noise makes the chosen gammas (not the output distribution)
    /// vary between runs.
    case measured
    /// A fixed c: runs are bit-reproducible for a seed.
    case fixed(Double)
}

/// Chooses gamma before each round and learns from its outcome (see ``DraftSchedule``).
///
/// The adaptive estimates are exponentially weighted with ``decay`` per round:
/// `alpha ≈ A / (A + R)` with A the (decayed) accepted drafts and R the rejection events — the
/// maximum-likelihood acceptance of a geometric process censored at gamma, starting from one
/// pseudo-acceptance and one pseudo-rejection (alpha 0.5) — and `c ≈ (D/Dn) / (Vt/Vn)` from decayed
/// draft time per draft call and verify time per target call. With measured costs, once a plain
/// step (one-row target call, ``recordTargetCall(rows:seconds:)``) and a verification call are
/// timed, c is the draft step over the plain step and the rule is the full cost model
/// `tau / (gamma·c + v(gamma))` with v from ``VerificationCost``: on hosts where verifying 4 rows
/// costs 1.4 plain steps and 3 rows 1.1, it drafts 2 tokens where the `v = 1` rule drafts 3.
public struct DraftLengthController: Sendable {
    public let settings: DraftSettings
    public let costSource: CostRatioSource
    /// Weight of the past per round in the adaptive estimates.
    public static let decay = 0.95
    /// gamma for the next round.
    public private(set) var current: Int
    private var acceptedWeight = 1.0, rejectedWeight = 1.0
    private var draftTime = 0.0, draftCalls = 0.0, verifyTime = 0.0, verifyCalls = 0.0
    private let priorCostRatio: Double
    /// Target-call timings by row count (measured costs only).
    public private(set) var verification: VerificationCost

    /// - Parameters:
    ///   - priorCostRatio: c before any timing (the weight-byte ratio draft / target).
    public init(settings: DraftSettings, costSource: CostRatioSource = .measured, priorCostRatio: Double) {
        self.settings = settings
        self.costSource = costSource
        self.priorCostRatio = priorCostRatio
        verification = VerificationCost(maxRows: settings.draftMax + 1)
        current = settings.draftMax
        if settings.schedule == .adaptive { current = chooseAdaptive() }
    }

    /// The adaptive schedule's current estimate of alpha.
    public var alphaEstimate: Double { acceptedWeight / (acceptedWeight + rejectedWeight) }

    /// The adaptive schedule's current estimate of c.
    public var costRatioEstimate: Double {
        switch costSource {
        case .fixed(let c): return c
        case .measured:
            guard draftCalls > 0, verifyCalls > 0, verifyTime > 0 else { return priorCostRatio }
            return (draftTime / draftCalls) / (verifyTime / verifyCalls)
        }
    }

    /// Records a round: `drafted` tokens proposed, `accepted` of them accepted, `rejected` when a
    /// rejection event ended the round (false when all were accepted or decoding stopped inside
    /// the round), and the round's draft and verify timings.
    public mutating func record(drafted: Int, accepted: Int, rejected: Bool, draftSeconds: Double, draftCalls calls: Int,
                                verifySeconds: Double) {
        let d = DraftLengthController.decay
        if tracksCosts {
            if calls > 0 { draftTime = d * draftTime + draftSeconds; draftCalls = d * draftCalls + Double(calls) }
            verifyTime = d * verifyTime + verifySeconds; verifyCalls = d * verifyCalls + 1
        }
        switch settings.schedule {
        case .constant: return
        case .heuristic:
            let range = settings.scheduleRange
            let next = drafted > 0 && accepted == drafted ? current + 2 : current - 1
            current = min(max(next, range.lowerBound), range.upperBound)
        case .adaptive:
            acceptedWeight = d * acceptedWeight + Double(accepted)
            rejectedWeight = d * rejectedWeight + (rejected ? 1 : 0)
            current = chooseAdaptive()
        }
    }

    /// Whether draft and target calls are timed: for the adaptive schedule and the cost-aware stop.
    var tracksCosts: Bool { settings.schedule == .adaptive || settings.costAwareStop }

    /// Records a target call of `rows` rows (a plain step: 1; a verification of gamma drafts:
    /// gamma + 1) for the verification-cost model of the adaptive schedule and the cost-aware stop.
    public mutating func recordTargetCall(rows: Int, seconds: Double) {
        guard tracksCosts, costSource == .measured else { return }
        verification.record(rows: rows, seconds: seconds)
    }

    /// c in plain target steps: with measured costs and a timed plain step, the draft step over
    /// the plain step (the prior until a draft step is timed); otherwise ``costRatioEstimate``.
    public var stepCostRatio: Double {
        if costSource == .measured, let t1 = verification.plainStepSeconds {
            return draftCalls > 0 && draftTime > 0 ? (draftTime / draftCalls) / t1 : priorCostRatio
        }
        return costRatioEstimate
    }

    /// v(k): verifying k drafts (k + 1 rows) in plain steps, measured or modelled (1 until timed).
    public func verifyCost(drafts k: Int) -> Double { verification.verifyCost(gamma: k) ?? 1 }

    private func chooseAdaptive() -> Int {
        let range = settings.scheduleRange
        if costSource == .measured, let t1 = verification.plainStepSeconds,
           range.allSatisfy({ verification.verifyCost(gamma: $0) != nil }) {
            return SpeedupModel.best(alpha: alphaEstimate, costRatio: stepCostRatio, verifyCost: { verification.verifyCost(gamma: $0)! },
                                     in: range).gamma
        }
        return SpeedupModel.bestDraftLength(alpha: alphaEstimate, costRatio: costRatioEstimate, in: range)
    }
}

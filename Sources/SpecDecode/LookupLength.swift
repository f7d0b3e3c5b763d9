/// How many of a lookup proposal's tokens to verify (``LookupSettings/adaptive``): a proposal
/// costs nothing to make, but each drafted token adds a row to the verification call, and on
/// quantised targets those rows can be compute-bound (3, 4 and 5 rows ≈ 1.1, 1.4 and 1.9 plain
/// steps for SmolLM2-135M Q4_1 on a 2-core AVX2 host, README issue 13). A 1-gram match accepted 40% of the time at the first position is then worth
/// less than no draft at all, while a 3-gram match (96%) pays for five rows.
///
/// **Model.** For a match of length n, the first draft is accepted with probability `a1(n)` and
/// each later one, given its predecessors, with `ac`; a verification call of k + 1 rows costs
/// v(k) plain steps. The expected tokens per plain-step cost of verifying k drafts is
/// `E(k) = (1 + a1 · Σ_{i=0}^{k−1} ac^i) / v(k)` (emitted = the accepted prefix + one target
/// token), and k = 0 (no draft) gives 1. ``choose(proposed:n:)`` returns the k in 0…proposed
/// that maximises E (the smallest on ties).
///
/// **Estimates.** `a1(n)` and `ac` are `A / (A + R)` counts decayed by ``decay`` per judgement,
/// starting from one pseudo-acceptance and one pseudo-rejection (0.5). v(k) is the decoder's own
/// measured cost per row count (``VerificationCost``, the same rule as the draft-length
/// controller's and the auto-off switch's: measured, interpolated, or extrapolated on the line
/// through the plain step). Until a one-row call and a larger one are timed, v = 1 (every
/// proposed token is verified).
public struct LookupLength: Sendable {
    /// Weight of the past per judgement.
    public static let decay = 0.95
    private var firstAccepted: [Double], firstRejected: [Double]   // index n − nMin
    private var laterAccepted = 1.0, laterRejected = 1.0
    private var verification: VerificationCost
    public let nMin: Int

    /// - Parameter maxCount: the most drafts a proposal may have (lookup draft-max).
    public init(nMin: Int, nMax: Int, maxCount: Int) {
        self.nMin = nMin
        firstAccepted = [Double](repeating: 1, count: nMax - nMin + 1)
        firstRejected = firstAccepted
        verification = VerificationCost(maxRows: maxCount + 1, estimate: .decayedMean)
    }

    /// Running first-position acceptance of n-gram matches of length n.
    public func firstAcceptance(n: Int) -> Double {
        let i = n - nMin
        return firstAccepted[i] / (firstAccepted[i] + firstRejected[i])
    }

    /// Running acceptance of later positions (given their predecessors were accepted).
    public var laterAcceptance: Double { laterAccepted / (laterAccepted + laterRejected) }

    /// v(k): a verification call of k + 1 rows in plain steps (1 until timed).
    public func verifyCost(drafts k: Int) -> Double { verification.verifyCost(gamma: k) ?? 1 }

    /// The number of drafts to verify out of `proposed`, for a match of length `n`.
    public func choose(proposed: Int, n: Int) -> Int {
        LookupLength.best(firstAcceptance: firstAcceptance(n: n), laterAcceptance: laterAcceptance,
                          verifyCost: { verifyCost(drafts: $0) }, maxCount: proposed)
    }

    /// argmax over k in 0…maxCount of `(1 + a1 · Σ_{i<k} ac^i) / v(k)` (smallest k on ties).
    public static func best(firstAcceptance a1: Double, laterAcceptance ac: Double, verifyCost v: (Int) -> Double,
                            maxCount: Int) -> Int {
        var bestK = 0, bestValue = 1.0, sum = 0.0, term = 1.0
        for k in stride(from: 1, through: maxCount, by: 1) {
            sum += term; term *= ac
            let value = (1 + a1 * sum) / v(k)
            if value > bestValue { bestValue = value; bestK = k }
        }
        return bestK
    }

    /// Records a judged lookup round: a match of length n, `accepted` drafts accepted, `rejected`
    /// when a rejection ended it (accepted = 0 and not rejected: nothing was judged).
    public mutating func recordJudged(n: Int, accepted: Int, rejected: Bool) {
        let d = LookupLength.decay, i = n - nMin
        if accepted > 0 || rejected {
            firstAccepted[i] = d * firstAccepted[i] + (accepted > 0 ? 1 : 0)
            firstRejected[i] = d * firstRejected[i] + (accepted > 0 ? 0 : 1)
        }
        for _ in 1..<max(1, accepted) { laterAccepted = d * laterAccepted + 1; laterRejected *= d }
        if accepted > 0 && rejected { laterAccepted *= d; laterRejected = d * laterRejected + 1 }
    }

    /// Records a verification call (or plain step) of `drafted + 1` rows that took `seconds`.
    public mutating func recordCall(drafted: Int, seconds: Double) {
        verification.record(rows: drafted + 1, seconds: seconds)
    }
}

/// The measured cost of a target call by the number of rows it computes: one row is a plain
/// decoding step, γ + 1 rows verify γ drafted tokens.
///
/// On memory-bound hardware a few more rows cost almost nothing, but quantised kernels become
/// compute-bound beyond a few rows (SmolLM2-135M Q4_1 on a 2-core AVX2 host: 1.02, 1.14, 1.44,
/// 1.90 plain steps for 2, 3, 4, 5 rows), and where that happens moves with the host's memory
/// bandwidth from run to run. A draft-length rule that assumes `v = 1` (or a v linear in γ)
/// then drafts too far. This keeps t(r), a typical time of a call of r rows, in one of two
/// ``Estimate``s, and answers `v(γ) = t(γ + 1) / t(1)`:
/// - ``Estimate/median``: the median of the last ``window`` calls of r rows, robust to a call
///   slowed by a neighbour on a shared host (in a decayed mean, one 17.7 ms call of 3 rows among
///   4–6 ms ones barred γ = 2 from the adaptive schedule for the rest of an evaluation, since a
///   row count the rule avoids is never timed again). The draft-length controller's.
/// - ``Estimate/decayedMean``: `Σ_i d^(n−i) t_i / Σ_i d^(n−i)` over the calls of r rows (decay
///   ``decay`` per call of that row count). The auto-off switch's and lookup's: with the median
///   the switch turned a draft measured at 1.1–1.2× off for 64% of the tokens in 2 of 6 runs
///   (README, "Does the draft pay?").
///
/// Between and beyond measured row counts:
/// - measured row counts directly;
/// - between two measured row counts, linearly interpolated;
/// - beyond the largest measured count, extrapolated on the line through `(1, t(1))` and it
///   (an under-estimate when compute-bound rows grow faster, corrected once that γ is tried).
///
/// `v` is never below 1 (a call of more rows reads the same weights and does more work; a smaller
/// ratio is timing noise), and nil until a one-row call (plain step, or a round without drafts)
/// and one call of more rows are timed.
public struct VerificationCost: Sendable {
    /// How t(r) summarises the calls of r rows (see the type's documentation).
    public enum Estimate: Sendable { case median, decayedMean }
    /// Calls per row count whose median is t(r) (``Estimate/median``).
    public static let window = 8
    /// Weight of the past per call of the same row count (``Estimate/decayedMean``).
    public static let decay = 0.9
    public let estimate: Estimate
    private var ring: [Double], count: [Int], value: [Double]   // ring: window slots per row count r − 1
    private var time: [Double], weight: [Double]

    /// - Parameter maxRows: the most rows a call may have (draft-max + 1); larger calls are ignored.
    public init(maxRows: Int, estimate: Estimate = .median) {
        let n = max(1, maxRows)
        self.estimate = estimate
        ring = [Double](repeating: 0, count: estimate == .median ? n * VerificationCost.window : 0)
        count = [Int](repeating: 0, count: n)
        value = [Double](repeating: 0, count: n)
        time = value; weight = value
    }

    /// Records a target call of `rows` rows that took `seconds`.
    public mutating func record(rows: Int, seconds: Double) {
        guard rows >= 1, rows <= count.count, seconds.isFinite, seconds > 0 else { return }
        let r = rows - 1
        count[r] += 1
        switch estimate {
        case .decayedMean:
            let d = VerificationCost.decay
            time[r] = d * time[r] + seconds
            weight[r] = d * weight[r] + 1
            value[r] = time[r] / weight[r]
        case .median:
            let w = VerificationCost.window
            ring[r * w + (count[r] - 1) % w] = seconds
            let n = min(count[r], w)
            value[r] = withUnsafeTemporaryAllocation(of: Double.self, capacity: w) { buf -> Double in
                for i in 0..<n { buf[i] = ring[r * w + i] }
                for i in 1..<max(1, n) {   // insertion sort of ≤ window values
                    let x = buf[i]
                    var j = i - 1
                    while j >= 0 && buf[j] > x { buf[j + 1] = buf[j]; j -= 1 }
                    buf[j + 1] = x
                }
                return n % 2 == 1 ? buf[n / 2] : (buf[n / 2 - 1] + buf[n / 2]) / 2
            }
        }
    }

    /// t(rows) (nil when no call of `rows` rows was timed).
    public func seconds(rows: Int) -> Double? {
        guard rows >= 1, rows <= count.count, count[rows - 1] > 0 else { return nil }
        return value[rows - 1]
    }

    /// Seconds of a plain step (a one-row call), nil until timed.
    public var plainStepSeconds: Double? { seconds(rows: 1) }

    /// v(γ) = call of γ + 1 rows / plain step, measured or interpolated (see the type's
    /// documentation); nil until a one-row and a larger call are timed, and for γ outside
    /// 0…maxRows − 1.
    public func verifyCost(gamma: Int) -> Double? {
        let r = gamma + 1
        guard r >= 1, r <= count.count, let t1 = plainStepSeconds else { return nil }
        if r == 1 { return 1 }
        if let t = seconds(rows: r) { return max(1, t / t1) }
        let measured = (1..<count.count).map { $0 + 1 }.filter { count[$0 - 1] > 0 }
        guard let last = measured.last else { return nil }
        let below = measured.last { $0 < r } ?? 1, above = measured.first { $0 > r }
        let tBelow = seconds(rows: below)!
        if let above, let tAbove = seconds(rows: above) {
            return max(1, (tBelow + (tAbove - tBelow) * Double(r - below) / Double(above - below)) / t1)
        }
        let slope = (seconds(rows: last)! - t1) / Double(last - 1)
        return max(1, (t1 + slope * Double(r - 1)) / t1)
    }
}

/// The measured cost of a target call by the number of rows it computes: one row is a plain
/// decoding step, γ + 1 rows verify γ drafted tokens.
///
/// On memory-bound hardware a few more rows cost almost nothing, but quantised kernels become
/// compute-bound beyond a few rows (SmolLM2-135M Q4_1 on a 2-core AVX2 host: 1.02, 1.14, 1.44,
/// 1.90 plain steps for 2, 3, 4, 5 rows), and where that happens moves with the host's memory
/// bandwidth from run to run. A draft-length rule that assumes `v = 1` (or a v linear in γ)
/// then drafts too far. This keeps a decayed mean time per row count,
/// `t(r) = Σ_i d^(n−i) t_i / Σ_i d^(n−i)` over the calls of r rows (decay ``decay`` per call of
/// that row count), and answers `v(γ) = t(γ + 1) / t(1)`:
/// - measured row counts directly;
/// - between two measured row counts, linearly interpolated;
/// - beyond the largest measured count, extrapolated on the line through `(1, t(1))` and it
///   (an under-estimate when compute-bound rows grow faster, corrected once that γ is tried).
///
/// `v` is never below 1 (a call of more rows reads the same weights and does more work; a smaller
/// ratio is timing noise), and nil until a one-row call (plain step, or a round without drafts)
/// and one call of more rows are timed.
public struct VerificationCost: Sendable {
    /// Weight of the past per call of the same row count.
    public static let decay = 0.9
    private var time: [Double], weight: [Double]   // index r − 1

    /// - Parameter maxRows: the most rows a call may have (draft-max + 1); larger calls are ignored.
    public init(maxRows: Int) {
        time = [Double](repeating: 0, count: max(1, maxRows))
        weight = time
    }

    /// Records a target call of `rows` rows that took `seconds`.
    public mutating func record(rows: Int, seconds: Double) {
        guard rows >= 1, rows <= time.count, seconds.isFinite, seconds > 0 else { return }
        let d = VerificationCost.decay
        time[rows - 1] = d * time[rows - 1] + seconds
        weight[rows - 1] = d * weight[rows - 1] + 1
    }

    /// The decayed mean seconds of a call of `rows` rows (nil when none was timed).
    public func seconds(rows: Int) -> Double? {
        guard rows >= 1, rows <= time.count, weight[rows - 1] > 0 else { return nil }
        return time[rows - 1] / weight[rows - 1]
    }

    /// Seconds of a plain step (a one-row call), nil until timed.
    public var plainStepSeconds: Double? { seconds(rows: 1) }

    /// v(γ) = call of γ + 1 rows / plain step, measured or interpolated (see the type's
    /// documentation); nil until a one-row and a larger call are timed, and for γ outside
    /// 0…maxRows − 1.
    public func verifyCost(gamma: Int) -> Double? {
        let r = gamma + 1
        guard r >= 1, r <= time.count, let t1 = plainStepSeconds else { return nil }
        if r == 1 { return 1 }
        if let t = seconds(rows: r) { return max(1, t / t1) }
        let measured = (1..<time.count).map { $0 + 1 }.filter { weight[$0 - 1] > 0 }
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

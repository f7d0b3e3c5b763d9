/// AdaSPEC's token filter (algorithms.md §4 step 3): keep the tokens whose loss gap
/// `delta_t = L_draft,t − L_ref,t` is at least the `(1 − k)`-quantile of the micro-batch's gaps,
/// i.e. the fraction k with the largest gap; ties at the threshold are kept.
public enum AdaSPECSelection {
    /// The q-quantile of ascending `sorted` values with linear interpolation, numpy's default
    /// (`method="linear"`): virtual index `h = (n − 1) q`, `lo = ⌊h⌋`, `g = h − lo`, and
    /// `a + (b − a) g` for g < 0.5, `b − (b − a)(1 − g)` otherwise (`a = sorted[lo]`,
    /// `b = sorted[lo + 1]`) — numpy's `_lerp`, which returns `b` exactly at g = 1 and either
    /// value exactly when a = b, so tied gaps at the threshold are kept.
    /// - Parameters:
    ///   - sorted: n ≥ 1 values in ascending order.
    ///   - q: the quantile in [0, 1].
    public static func quantile(sorted: UnsafeBufferPointer<Double>, _ q: Double) -> Double {
        precondition(!sorted.isEmpty, "AdaSPECSelection.quantile: no values")
        precondition(q >= 0 && q <= 1, "AdaSPECSelection.quantile: q must be in [0, 1], got \(q)")
        let h = Double(sorted.count - 1) * q
        let lo = Swift.min(Int(h.rounded(.down)), sorted.count - 1)
        let g = h - Double(lo)
        if lo + 1 >= sorted.count { return sorted[lo] }
        let a = sorted[lo], b = sorted[lo + 1], diff = b - a
        return g >= 0.5 ? b - diff * (1 - g) : a + diff * g
    }

    /// The quantile of an array (sorted here); see ``quantile(sorted:_:)``.
    public static func quantile(_ values: [Double], _ q: Double) -> Double {
        let sorted = values.sorted()
        return sorted.withUnsafeBufferPointer { quantile(sorted: $0, q) }
    }

    /// The threshold for keeping a fraction `keepFraction` = k ∈ (0, 1] of the tokens:
    /// `quantile(deltas, 1 − k)`. Keep token t iff `deltas[t] >= threshold`.
    public static func threshold(deltas: [Double], keepFraction: Double) -> Double {
        precondition(keepFraction > 0 && keepFraction <= 1, "AdaSPECSelection: keep fraction k must be in (0, 1], got \(keepFraction)")
        return quantile(deltas, 1 - keepFraction)
    }

    /// The keep mask `deltas[t] >= quantile(deltas, 1 − k)`.
    public static func keepMask(deltas: [Double], keepFraction: Double) -> [Bool] {
        guard !deltas.isEmpty else { return [] }
        let threshold = threshold(deltas: deltas, keepFraction: keepFraction)
        return deltas.map { $0 >= threshold }
    }
}

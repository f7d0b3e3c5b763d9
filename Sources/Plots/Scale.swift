import Foundation

/// The affine map of a data interval onto a pixel interval:
/// `pixel(v) = rangeStart + (v − lo) / (hi − lo) · (rangeEnd − rangeStart)`.
/// A y axis passes `rangeStart` = the bottom pixel and `rangeEnd` = the top one (SVG y grows down).
public struct LinearScale: Equatable, Sendable {
    public var lo: Double, hi: Double
    public var rangeStart: Double, rangeEnd: Double

    public init(lo: Double, hi: Double, rangeStart: Double, rangeEnd: Double) {
        precondition(hi > lo, "LinearScale: empty domain [\(lo), \(hi)]")
        self.lo = lo; self.hi = hi; self.rangeStart = rangeStart; self.rangeEnd = rangeEnd
    }

    public func callAsFunction(_ v: Double) -> Double {
        rangeStart + (v - lo) / (hi - lo) * (rangeEnd - rangeStart)
    }
}

/// Round tick values for an axis ("nice numbers"): the step is 1, 2 or 5 × 10^k, chosen so that
/// about `target` steps cover [lo, hi]; the axis is widened outward to multiples of the step.
public struct Ticks: Equatable, Sendable {
    /// The widened axis interval (multiples of `step`, containing the data interval).
    public var lo: Double, hi: Double
    public var step: Double
    /// lo, lo + step, …, hi.
    public var values: [Double]
    /// Decimals needed to print every value exactly at this step.
    public var decimals: Int

    /// - Parameters:
    ///   - lo, hi: the data interval (lo ≤ hi; equal ends are widened to a unit interval around them).
    ///   - target: about how many intervals to draw (≥ 1).
    ///   - minStep: the smallest step allowed (1 for integer axes such as draft positions).
    public init(lo: Double, hi: Double, target: Int = 5, minStep: Double = 0) {
        precondition(lo.isFinite && hi.isFinite && lo <= hi, "Ticks: invalid interval [\(lo), \(hi)]")
        var a = lo, b = hi
        if a == b { let w = a == 0 ? 1 : abs(a) * 0.1; a -= w; b += w }
        let rough = (b - a) / Double(max(target, 1))
        let magnitude = pow(10, floor(log10(rough)))
        let f = rough / magnitude
        let nice: Double = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10
        step = max(nice * magnitude, minStep)
        // A small tolerance keeps ends that sit on a multiple (0.6 / 0.2 = 2.9999…) from widening.
        let eps = 1e-9
        let first = floor(a / step + eps) * step, last = ceil(b / step - eps) * step, s = step
        self.lo = first
        self.hi = last
        let count = Int(((last - first) / s).rounded())
        values = (0...count).map { first + Double($0) * s }
        decimals = max(0, -Int(floor(log10(step) + eps)))
    }

    /// A tick value printed with ``decimals`` decimals ("-0" printed as "0").
    public func label(_ v: Double) -> String {
        let s = String(format: "%.\(decimals)f", v)
        return Double(s) == 0 ? String(format: "%.\(decimals)f", 0.0) : s
    }
}

/// Colours of series, in order (a colour-blind-friendly qualitative palette, Okabe & Ito 2008).
public enum Palette {
    public static let colors = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
    public static func color(_ i: Int) -> String { colors[i % colors.count] }
    /// Dash patterns of line series, in order, so that coinciding lines stay distinguishable.
    public static let dashes: [String?] = [nil, "7,4", "2,3", "10,3,2,3"]
    public static func dash(_ i: Int) -> String? { dashes[i % dashes.count] }
}

import Foundation

/// The analytic model of speculative decoding (Leviathan et al. 2023; algorithms.md §2.4).
///
/// With i.i.d. acceptances of probability alpha and gamma drafted tokens per round, a round emits
/// the accepted prefix plus one target token, on average
/// `tau(alpha, gamma) = (1 − alpha^(gamma+1)) / (1 − alpha)` tokens per target call. With the cost
/// ratio `c = t_draft_step / t_target_call` the speedup over plain decoding is
/// `S = tau / (gamma·c + 1)`; MBSU is S with c = draft weight bytes / target weight bytes.
public enum SpeedupModel {
    /// Expected tokens per target call, `(1 − alpha^(gamma+1)) / (1 − alpha)`; gamma + 1 at
    /// alpha = 1. gamma may be fractional (a mean draft length). alpha is clamped to [0, 1].
    public static func tau(alpha: Double, gamma: Double) -> Double {
        let a = min(max(alpha, 0), 1)
        if 1 - a < 1e-12 { return gamma + 1 }
        return (1 - Foundation.pow(a, gamma + 1)) / (1 - a)
    }

    /// Predicted speedup `tau(alpha, gamma) / (gamma·c + 1)`.
    public static func speedup(alpha: Double, gamma: Double, costRatio c: Double) -> Double {
        tau(alpha: alpha, gamma: gamma) / (gamma * c + 1)
    }

    /// The integer gamma in `range` with the largest predicted speedup (the smallest such gamma
    /// on ties).
    public static func bestDraftLength(alpha: Double, costRatio c: Double, in range: ClosedRange<Int>) -> Int {
        var best = range.lowerBound
        var bestS = -Double.infinity
        for g in range {
            let s = speedup(alpha: alpha, gamma: Double(g), costRatio: c)
            if s > bestS { best = g; bestS = s }
        }
        return best
    }
}

extension SpeedupModel {
    /// The full cost model `S = tau(alpha, gamma) / (gamma·c + v)` with both costs in plain target
    /// steps: c = draft step / plain target step, v = one verification call of gamma + 1
    /// positions / plain target step (v = 1 is the textbook model above).
    public static func speedup(alpha: Double, gamma: Double, costRatio c: Double, verifyCost v: Double) -> Double {
        tau(alpha: alpha, gamma: gamma) / (gamma * c + v)
    }

    /// The integer gamma in `range` with the largest `tau / (gamma·c + v(gamma))` and that speedup
    /// (the smallest such gamma on ties).
    public static func best(alpha: Double, costRatio c: Double, verifyCost v: (Int) -> Double,
                            in range: ClosedRange<Int>) -> (gamma: Int, speedup: Double) {
        var best = (gamma: range.lowerBound, speedup: -Double.infinity)
        for g in range {
            let s = speedup(alpha: alpha, gamma: Double(g), costRatio: c, verifyCost: v(g))
            if s > best.speedup { best = (g, s) }
        }
        return best
    }
}

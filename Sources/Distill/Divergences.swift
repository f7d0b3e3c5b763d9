import Foundation
import Tensor

/// A token-level divergence `D(p ‖ q)` between the teacher's distribution `p = softmax(u/T)` and
/// the student's `q = softmax(z/T)` at one position (algorithms.md §3.1). The first argument of
/// `D` is always the teacher.
public enum Divergence: Equatable, Sendable, CustomStringConvertible {
    /// Forward KL, `KL(p ‖ q) = Σ_i p_i (log p_i − log q_i)` (teacher ‖ student; mode-covering).
    case forwardKL
    /// Reverse KL, `KL(q ‖ p) = Σ_i q_i (log q_i − log p_i)` (student ‖ teacher; mode-seeking).
    case reverseKL
    /// Generalised Jensen–Shannon divergence in the GKD convention,
    /// `β KL(p ‖ m) + (1 − β) KL(q ‖ m)` with `m = β p + (1 − β) q`; β = 0 and β = 1 are exact
    /// forward and reverse KL. `beta` must be in [0, 1].
    case jsd(beta: Float)
    /// Total variation distance `½ Σ_i |p_i − q_i|` (in [0, 1]), with a subgradient at ties.
    case tvd

    /// The short name recorded in run metadata and accepted by `--method`: `fkl`, `rkl`, `jsd`, `tvd`.
    public var name: String {
        switch self {
        case .forwardKL: "fkl"
        case .reverseKL: "rkl"
        case .jsd: "jsd"
        case .tvd: "tvd"
        }
    }

    public var description: String {
        if case .jsd(let beta) = self { return "jsd(beta=\(beta))" }
        return name
    }

    /// The divergence named `name` (`fkl`, `rkl`, `jsd`, `tvd`); `beta` is used only by `jsd`.
    /// Returns nil for an unknown name or a beta outside [0, 1].
    public init?(name: String, beta: Float = 0.5) {
        switch name {
        case "fkl": self = .forwardKL
        case "rkl": self = .reverseKL
        case "tvd": self = .tvd
        case "jsd":
            guard beta >= 0 && beta <= 1 else { return nil }
            self = .jsd(beta: beta)
        default: return nil
        }
    }
}

/// Working memory for one row of a divergence: `(4, V)` floats holding log p, p, log q, q.
/// Allocate one per worker thread and reuse it; the kernels never allocate.
public final class DivergenceScratch: @unchecked Sendable {
    /// V, the row width this scratch serves.
    public let V: Int
    let base: UnsafeMutablePointer<Float>  // (4, V)

    public init(V: Int) {
        precondition(V >= 1, "DivergenceScratch: V must be at least 1, got \(V)")
        self.V = V
        base = .allocate(capacity: 4 * V)
        base.initialize(repeating: 0, count: 4 * V)
    }

    deinit { base.deallocate() }

    var logP: UnsafeMutablePointer<Float> { base }
    var p: UnsafeMutablePointer<Float> { base + V }
    var logQ: UnsafeMutablePointer<Float> { base + 2 * V }
    var q: UnsafeMutablePointer<Float> { base + 3 * V }
}

/// Fast float32 token-level divergences on one row of logits, with their gradients with respect
/// to the **student** logits z (algorithms.md §3.1). Conventions shared by every function:
///
/// - `teacher` is the row `u` (V), `student` the row `z` (V); `p = softmax(u/T)`, `q = softmax(z/T)`,
///   computed with the max-subtracted log-softmax so logits of any magnitude are safe.
/// - The value is returned in Double (the row sum is accumulated in Double).
/// - When `gradient` is non-nil, `weight · dD/dz_j` is **added** into `gradient[j]` (pass a zeroed
///   row and weight 1 to get dD/dz). Every gradient sums to zero over the row (softmax shift
///   invariance) and carries the factor 1/T of the chain rule through `z/T`.
/// - Logits of −∞ (masked vocabulary entries) are allowed: `0 · log 0 = 0`, so an entry masked in
///   both rows contributes nothing. (A teacher zero where the student has mass makes RKL infinite,
///   as it is mathematically.)
///
/// Each has a plain Double reference in ``DivergenceReference``.
public enum Divergences {
    /// Logs below this are clamped in the JSD, so `−∞ − (−∞)` never appears (`e^(−1e30)` = 0).
    static let logFloor: Float = -1e30

    /// Dispatches to the function for `divergence`; see those for the formulas.
    @inline(__always)
    public static func evaluate(_ divergence: Divergence, teacher: UnsafePointer<Float>, student: UnsafePointer<Float>,
                                V: Int, temperature: Float = 1, gradient: UnsafeMutablePointer<Float>?, weight: Float = 1,
                                scratch: DivergenceScratch) -> Double {
        switch divergence {
        case .forwardKL:
            return forwardKL(teacher: teacher, student: student, V: V, temperature: temperature, gradient: gradient,
                             weight: weight, scratch: scratch)
        case .reverseKL:
            return reverseKL(teacher: teacher, student: student, V: V, temperature: temperature, gradient: gradient,
                             weight: weight, scratch: scratch)
        case .jsd(let beta):
            return jsd(beta: beta, teacher: teacher, student: student, V: V, temperature: temperature, gradient: gradient,
                       weight: weight, scratch: scratch)
        case .tvd:
            return tvd(teacher: teacher, student: student, V: V, temperature: temperature, gradient: gradient,
                       weight: weight, scratch: scratch)
        }
    }

    /// Forward KL (teacher ‖ student): `KL(p ‖ q) = Σ_i p_i (log p_i − log q_i)`,
    /// `dKL/dz_j = (q_j − p_j) / T`.
    /// - Parameters:
    ///   - teacher: (V) teacher logits u.
    ///   - student: (V) student logits z.
    ///   - temperature: T > 0.
    ///   - gradient: (V) accumulated into with `weight · dKL/dz`, or nil for the value only.
    ///   - scratch: a scratch of width ≥ V.
    /// - Returns: `KL(p ‖ q)` ≥ 0.
    public static func forwardKL(teacher: UnsafePointer<Float>, student: UnsafePointer<Float>, V: Int, temperature: Float = 1,
                                 gradient: UnsafeMutablePointer<Float>?, weight: Float = 1, scratch: DivergenceScratch) -> Double {
        prepare(teacher: teacher, student: student, V: V, temperature: temperature, scratch: scratch, needLogs: true)
        let logP = scratch.logP, p = scratch.p, logQ = scratch.logQ, q = scratch.q
        var value = 0.0
        for i in 0..<V where p[i] > 0 { value += Double(p[i] * (logP[i] - logQ[i])) }
        if let g = gradient {
            let k = weight / temperature
            for i in 0..<V { g[i] += k * (q[i] - p[i]) }
        }
        return value
    }

    /// Reverse KL (student ‖ teacher): `R = KL(q ‖ p) = Σ_i q_i (log q_i − log p_i)`,
    /// `dR/dz_j = q_j (log q_j − log p_j − R) / T`.
    /// - Parameters: as ``forwardKL(teacher:student:V:temperature:gradient:weight:scratch:)``.
    /// - Returns: `KL(q ‖ p)` ≥ 0.
    public static func reverseKL(teacher: UnsafePointer<Float>, student: UnsafePointer<Float>, V: Int, temperature: Float = 1,
                                 gradient: UnsafeMutablePointer<Float>?, weight: Float = 1, scratch: DivergenceScratch) -> Double {
        prepare(teacher: teacher, student: student, V: V, temperature: temperature, scratch: scratch, needLogs: true)
        let logP = scratch.logP, logQ = scratch.logQ, q = scratch.q
        var value = 0.0
        for i in 0..<V where q[i] > 0 { value += Double(q[i] * (logQ[i] - logP[i])) }
        if let g = gradient {
            let k = weight / temperature, r = Float(value)
            for i in 0..<V where q[i] > 0 { g[i] += k * q[i] * ((logQ[i] - logP[i]) - r) }
        }
        return value
    }

    /// Generalised JSD in the GKD convention (p teacher, q student):
    /// `J = β KL(p ‖ m) + (1 − β) KL(q ‖ m)`, `m = β p + (1 − β) q`,
    /// `dJ/dz_j = (1 − β) q_j (log(q_j / m_j) − KL(q ‖ m)) / T`.
    ///
    /// β = 0 and β = 1 are special-cased to exact forward KL(p ‖ q) and reverse KL(q ‖ p): the
    /// formula itself tends to 0 at both ends (J ≈ β·FKL − β²/2·χ²(p‖q) as β → 0 and
    /// J ≈ (1 − β)·RKL − (1 − β)²/2·χ²(q‖p) as β → 1, with χ²(a‖b) = Σ (a − b)²/b).
    ///
    /// The logs of the mixture are evaluated from `d = log p_j − log q_j` without forming m:
    /// for β ≤ ½, `t = log(m_j/q_j) = log1p(β·expm1(d))` and `log(m_j/p_j) = t − d`; for β > ½,
    /// `s = log(m_j/p_j) = log1p((1 − β)·expm1(−d))` and `t = s + d` (beyond |d| = 80, where
    /// expm1 would overflow, `s = log(β + (1 − β)e^(−d))` resp. `t = log(1 − β + β e^d)`, the other
    /// by ±d). The small one of the two logs is thus computed directly, with full relative
    /// accuracy as β → 0 or β → 1, where `log m − log q` (resp. `log m − log p`) would cancel.
    /// Cost: two scalar transcendental calls per element, about 4× forward KL.
    /// - Parameters:
    ///   - beta: β in [0, 1], the teacher's weight in the mixture m.
    ///   - Others: as ``forwardKL(teacher:student:V:temperature:gradient:weight:scratch:)``.
    /// - Returns: J ≥ 0.
    public static func jsd(beta: Float, teacher: UnsafePointer<Float>, student: UnsafePointer<Float>, V: Int,
                           temperature: Float = 1, gradient: UnsafeMutablePointer<Float>?, weight: Float = 1,
                           scratch: DivergenceScratch) -> Double {
        precondition(beta >= 0 && beta <= 1, "Divergences.jsd: beta must be in [0, 1], got \(beta)")
        if beta == 0 {
            return forwardKL(teacher: teacher, student: student, V: V, temperature: temperature, gradient: gradient,
                             weight: weight, scratch: scratch)
        }
        if beta == 1 {
            return reverseKL(teacher: teacher, student: student, V: V, temperature: temperature, gradient: gradient,
                             weight: weight, scratch: scratch)
        }
        prepare(teacher: teacher, student: student, V: V, temperature: temperature, scratch: scratch, needLogs: true)
        // Pass 1: t_j = log(m_j/q_j) (stored over log p) and s_j = log(m_j/p_j);
        // KL(p‖m) = −Σ p s, KL(q‖m) = −Σ q t.
        let logP = scratch.logP, p = scratch.p, logQ = scratch.logQ, q = scratch.q
        let oneMinusBeta = 1 - beta
        var klPM = 0.0, klQM = 0.0
        for i in 0..<V {
            let d = Swift.max(logP[i], logFloor) - Swift.max(logQ[i], logFloor)
            var s: Float, t: Float
            if beta <= 0.5 {
                if d <= 80 {
                    t = Foundation.log1p(beta * Foundation.expm1(d)); s = t - d
                } else {
                    s = Foundation.log(beta + oneMinusBeta * Foundation.exp(-d)); t = s + d
                }
            } else {
                if d >= -80 {
                    s = Foundation.log1p(oneMinusBeta * Foundation.expm1(-d)); t = s + d
                } else {
                    t = Foundation.log(oneMinusBeta + beta * Foundation.exp(d)); s = t - d
                }
            }
            logP[i] = t
            if p[i] > 0 { klPM -= Double(p[i] * s) }
            if q[i] > 0 { klQM -= Double(q[i] * t) }
        }
        if let g = gradient {
            let k = weight * oneMinusBeta / temperature, kl = Float(klQM)
            for i in 0..<V where q[i] > 0 { g[i] += k * q[i] * (-logP[i] - kl) }
        }
        return Double(beta) * klPM + Double(oneMinusBeta) * klQM
    }

    /// Total variation distance `V = ½ Σ_i |p_i − q_i|` ∈ [0, 1] with the subgradient
    /// `dV/dz_j = q_j (A − u_j) / T`, `u_j = 1[q_j < p_j]`, `A = Σ_i q_i u_i` (ties, q_j = p_j, take
    /// u_j = 0: the one-sided derivative, a valid subgradient). TVD is not smooth at ties: rows
    /// that are equal only up to float rounding (e.g. logits shifted by a constant) get an O(q)
    /// subgradient, exactly equal rows get 0.
    ///
    /// The float softmax masses are 1 ± ~1e-7, which can put nearly disjoint rows a few 1e-8
    /// above 1; the value is clamped to [0, 1], the mathematical range.
    /// - Parameters: as ``forwardKL(teacher:student:V:temperature:gradient:weight:scratch:)``.
    /// - Returns: the TVD.
    public static func tvd(teacher: UnsafePointer<Float>, student: UnsafePointer<Float>, V: Int, temperature: Float = 1,
                           gradient: UnsafeMutablePointer<Float>?, weight: Float = 1, scratch: DivergenceScratch) -> Double {
        prepare(teacher: teacher, student: student, V: V, temperature: temperature, scratch: scratch, needLogs: false)
        let p = scratch.p, q = scratch.q
        var total = 0.0, sumA = 0.0
        for i in 0..<V {
            total += Double(Swift.abs(p[i] - q[i]))
            if q[i] < p[i] { sumA += Double(q[i]) }
        }
        if let g = gradient {
            let k = weight / temperature, a = Float(sumA)
            for i in 0..<V { g[i] += k * q[i] * (q[i] < p[i] ? a - 1 : a) }
        }
        return Swift.min(1, 0.5 * total)
    }

    /// Fills the scratch with p = softmax(u/T) and q = softmax(z/T) and, when `needLogs`, their
    /// log-softmaxes.
    @inline(__always)
    static func prepare(teacher: UnsafePointer<Float>, student: UnsafePointer<Float>, V: Int, temperature: Float,
                        scratch: DivergenceScratch, needLogs: Bool) {
        precondition(V >= 1 && V <= scratch.V, "Divergences: row width \(V) exceeds the scratch width \(scratch.V)")
        precondition(temperature > 0, "Divergences: temperature must be positive, got \(temperature)")
        distribution(teacher, V: V, temperature: temperature, log: scratch.logP, prob: scratch.p, needLog: needLogs)
        distribution(student, V: V, temperature: temperature, log: scratch.logQ, prob: scratch.q, needLog: needLogs)
    }

    /// `prob = softmax(x/T)` and (when `needLog`) `log = log softmax(x/T)`; `log` also serves as the
    /// buffer for x/T.
    @inline(__always)
    static func distribution(_ x: UnsafePointer<Float>, V: Int, temperature: Float, log: UnsafeMutablePointer<Float>,
                             prob: UnsafeMutablePointer<Float>, needLog: Bool) {
        var input = x
        if temperature != 1 {
            for i in 0..<V { log[i] = x[i] / temperature }
            input = UnsafePointer(log)
        }
        Softmax.forward(out: prob, input: input, rows: 1, n: V)
        if needLog { LogSoftmax.forward(out: log, input: input, rows: 1, n: V) }
    }
}

import Foundation

/// Plain-loop Double references of ``Divergences``: the value straight from the definition
/// (probabilities by a max-subtracted softmax, logs by `log`), the gradient with respect to the
/// student logits z from the table in algorithms.md §3.1. Slow and allocating; for tests.
///
/// Arguments: `teacher` = u, `student` = z (V each), `p = softmax(u/T)`, `q = softmax(z/T)`.
public enum DivergenceReference {
    /// `softmax(x/T)` and `log softmax(x/T)` in Double.
    public static func distribution(_ x: [Double], temperature: Double) -> (p: [Double], logP: [Double]) {
        let scaled = x.map { $0 / temperature }
        let m = scaled.max() ?? 0
        let lse = Foundation.log(scaled.reduce(0.0) { $0 + Foundation.exp($1 - m) })
        let logP = scaled.map { ($0 - m) - lse }
        return (logP.map { Foundation.exp($0) }, logP)
    }

    /// Any divergence, dispatched as ``Divergences/evaluate(_:teacher:student:V:temperature:gradient:weight:scratch:)``.
    public static func evaluate(_ divergence: Divergence, teacher: [Double], student: [Double],
                                temperature: Double = 1) -> (value: Double, gradient: [Double]) {
        switch divergence {
        case .forwardKL: forwardKL(teacher: teacher, student: student, temperature: temperature)
        case .reverseKL: reverseKL(teacher: teacher, student: student, temperature: temperature)
        case .jsd(let beta): jsd(beta: Double(beta), teacher: teacher, student: student, temperature: temperature)
        case .tvd: tvd(teacher: teacher, student: student, temperature: temperature)
        }
    }

    /// `KL(p ‖ q) = Σ p (log p − log q)`, gradient `(q − p)/T`.
    public static func forwardKL(teacher: [Double], student: [Double], temperature: Double = 1) -> (value: Double, gradient: [Double]) {
        let (p, logP) = distribution(teacher, temperature: temperature)
        let (q, logQ) = distribution(student, temperature: temperature)
        var value = 0.0
        for i in p.indices where p[i] > 0 { value += p[i] * (logP[i] - logQ[i]) }
        return (value, p.indices.map { (q[$0] - p[$0]) / temperature })
    }

    /// `R = KL(q ‖ p) = Σ q (log q − log p)`, gradient `q_j (log q_j − log p_j − R)/T`.
    public static func reverseKL(teacher: [Double], student: [Double], temperature: Double = 1) -> (value: Double, gradient: [Double]) {
        let (_, logP) = distribution(teacher, temperature: temperature)
        let (q, logQ) = distribution(student, temperature: temperature)
        var value = 0.0
        for i in q.indices where q[i] > 0 { value += q[i] * (logQ[i] - logP[i]) }
        return (value, q.indices.map { q[$0] * (logQ[$0] - logP[$0] - value) / temperature })
    }

    /// `J = β KL(p ‖ m) + (1 − β) KL(q ‖ m)`, `m = β p + (1 − β) q`, gradient
    /// `(1 − β) q_j (log(q_j/m_j) − KL(q ‖ m))/T`; β = 0 / 1 give forward / reverse KL exactly.
    public static func jsd(beta: Double, teacher: [Double], student: [Double], temperature: Double = 1) -> (value: Double, gradient: [Double]) {
        if beta == 0 { return forwardKL(teacher: teacher, student: student, temperature: temperature) }
        if beta == 1 { return reverseKL(teacher: teacher, student: student, temperature: temperature) }
        let (p, logP) = distribution(teacher, temperature: temperature)
        let (q, logQ) = distribution(student, temperature: temperature)
        let logM = p.indices.map { Foundation.log(beta * p[$0] + (1 - beta) * q[$0]) }
        var klPM = 0.0, klQM = 0.0
        for i in p.indices {
            if p[i] > 0 { klPM += p[i] * (logP[i] - logM[i]) }
            if q[i] > 0 { klQM += q[i] * (logQ[i] - logM[i]) }
        }
        let gradient = q.indices.map { (1 - beta) * q[$0] * (logQ[$0] - logM[$0] - klQM) / temperature }
        return (beta * klPM + (1 - beta) * klQM, gradient)
    }

    /// `½ Σ |p − q|`, subgradient `q_j (A − u_j)/T`, `u_j = 1[q_j < p_j]`, `A = Σ q_i u_i`.
    public static func tvd(teacher: [Double], student: [Double], temperature: Double = 1) -> (value: Double, gradient: [Double]) {
        let (p, _) = distribution(teacher, temperature: temperature)
        let (q, _) = distribution(student, temperature: temperature)
        var value = 0.0, a = 0.0
        for i in p.indices {
            value += Swift.abs(p[i] - q[i])
            if q[i] < p[i] { a += q[i] }
        }
        return (0.5 * value, q.indices.map { q[$0] * (a - (q[$0] < p[$0] ? 1 : 0)) / temperature })
    }
}

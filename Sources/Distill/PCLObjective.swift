import Foundation
import Tensor

/// Settings of Path Consistency Learning (algorithms.md §5.2), recorded with a run.
public struct PCLSettings: Codable, Equatable, Sendable {
    /// d, the window length of the consistency error; nil = the whole path (every window runs
    /// from its start to the end of the path).
    public var steps: Int?
    /// tau_e > 0, the entropy weight: `V(s) = tau_e · logsumexp(z(s) / tau_e)`.
    public var entropyWeight: Double
    /// g in (0, 1], the discount.
    public var discount: Double

    public init(steps: Int? = nil, entropyWeight: Double = 1, discount: Double = 1) {
        self.steps = steps; self.entropyWeight = entropyWeight; self.discount = discount
    }

    /// Throws naming the bad value.
    public func validate() throws {
        if let d = steps, d < 1 { throw DistillError.settings("--pcl-steps must be ≥ 1 (or 'whole'), got \(d)") }
        if !(entropyWeight > 0) { throw DistillError.settings("--entropy-weight must be > 0, got \(entropyWeight)") }
        if !(discount > 0 && discount <= 1) { throw DistillError.settings("--discount must be in (0, 1], got \(discount)") }
    }
}

/// One batch of paths for ``PCLObjective``: B sequences of T positions, row-major (B, T).
///
/// A sequence's path is the contiguous run of rows `s..<e` with `actions[r] ≥ 0`; row `u` of the
/// path holds the student's logits at state `s_u` and the action `a_u` taken there. The action
/// may differ from the next input token: `<help>` is an action while the text receives the
/// teacher's token. `rewards[u]` is the (shaped) reward `r'(s_u, a_u)`; it carries no gradient.
/// After the last action the state is terminal (V = 0, the path ended with EOS) unless
/// `bootstrap[b]`, in which case row `e` (< T) holds the state where the path was cut at the
/// length limit and its V closes the windows.
public struct PCLInput {
    public var B: Int, T: Int
    /// V, the student's logit width (the vocabulary plus `<help>` when it has one).
    public var V: Int
    /// (B, T, V)
    public var studentLogits: UnsafePointer<Float>
    /// (B, T): the action at each row, −1 off the path.
    public var actions: [Int32]
    /// (B, T): `r'(s_u, a_u)` on path rows (ignored elsewhere).
    public var rewards: [Float]
    /// (B): the path was cut at the length limit (bootstrap with V at row e) rather than ended by EOS.
    public var bootstrap: [Bool]

    public init(B: Int, T: Int, V: Int, studentLogits: UnsafePointer<Float>, actions: [Int32], rewards: [Float], bootstrap: [Bool]) {
        precondition(actions.count == B * T && rewards.count == B * T && bootstrap.count == B,
                     "PCLInput: actions \(actions.count), rewards \(rewards.count), bootstrap \(bootstrap.count) for (B \(B), T \(T))")
        self.B = B; self.T = T; self.V = V; self.studentLogits = studentLogits
        self.actions = actions; self.rewards = rewards; self.bootstrap = bootstrap
    }

    /// The path `s..<e` of sequence b (empty when it has no actions). Precondition: contiguous,
    /// actions in 0..<V, and a bootstrap row inside the sequence.
    public func path(_ b: Int) -> Range<Int> {
        let row = b * T
        guard let s = (0..<T).first(where: { actions[row + $0] >= 0 }) else { return 0..<0 }
        var e = s
        while e < T && actions[row + e] >= 0 { e += 1 }
        precondition(!(e..<T).contains { actions[row + $0] >= 0 }, "PCLInput: sequence \(b)'s actions are not contiguous")
        precondition((s..<e).allSatisfy { actions[row + $0] < V }, "PCLInput: an action of sequence \(b) is ≥ V = \(V)")
        precondition(!bootstrap[b] || e < T, "PCLInput: sequence \(b) bootstraps but its path ends at the last row; leave one row for the cut state")
        return s..<e
    }
}

/// Path Consistency Learning for distillation (algorithms.md §5.2): the student's logits are
/// soft Q-values, `V(s) = tau·logsumexp(z(s)/tau)`, `tau·log pi(a|s) = z(s)_a − V(s)`, and for the
/// window of length d starting at t
///
///     C(t, d) = −V(s_t) + g^d V(s_{t+d}) + Σ_{i<d} g^i (r_{t+i} − tau log pi(a_{t+i} | s_{t+i}))
///             = Σ_{i<d} g^i (r_{t+i} − z_{t+i}[a_{t+i}]) + Σ_{0<i<d} g^i V(s_{t+i}) + g^d V(s_{t+d}),
///
/// one window per path position t, truncated at the path's end e (d' = min(d, e − t); the closing
/// value is V(s_e) when bootstrapping, else 0). Loss = `(1/|W|) Σ_windows C²/2`.
///
/// Gradient (pi_u = softmax(z_u / tau)): `dC/dz_t = −onehot(a_t)`; `g^i (pi_{t+i} − onehot(a_{t+i}))`
/// for 0 < i < d'; `g^{d'} pi_{t+d'}` at the closing state when its V enters. So
/// `dL/dz_u = α_u pi_u − β_u onehot(a_u)` with `β_u = Σ_{w ∋ u, i<d'} C_w g^i / |W|` and
/// `α_u = Σ_{w ∋ u, 0<i≤d'} C_w g^i / |W|` — the scalars are computed per sequence, the O(V) row
/// work in parallel with a fixed split (bitwise independent of ``Threads/count``).
/// ``PCLObjectiveReference`` is the literal per-window loop it is tested against.
public struct PCLObjective {
    public var settings: PCLSettings
    private var values: [Double] = []   // (B·T) V(s_u), where needed
    private var alpha: [Double] = [], beta: [Double] = []   // (B·T)
    /// Consistency errors of the last call, one per window in row order (for tests and logs).
    public private(set) var lastErrors: [Double] = []

    public init(settings: PCLSettings) {
        precondition(settings.entropyWeight > 0 && settings.discount > 0 && settings.discount <= 1 && (settings.steps ?? 1) >= 1,
                     "PCLObjective: invalid settings \(settings); call validate() first")
        self.settings = settings
    }

    public var name: String { "pcl" }

    /// The settings to record with a run.
    public var metadata: [String: String] {
        ["objective": name, "pclSteps": settings.steps.map(String.init) ?? "whole",
         "entropyWeight": "\(settings.entropyWeight)", "discount": "\(settings.discount)"]
    }

    /// Loss of `input` and **adds** `scale · dL/dstudentLogits` into `dLogits` (B, T, V).
    public mutating func evaluate(_ input: PCLInput, dLogits: UnsafeMutablePointer<Float>, scale: Float) -> ObjectiveResult {
        let B = input.B, T = input.T, V = input.V, rows = B * T
        let tau = settings.entropyWeight, g = settings.discount
        let paths = (0..<B).map { input.path($0) }
        let windows = paths.reduce(0) { $0 + $1.count }
        guard windows > 0 else { lastErrors = []; return ObjectiveResult(loss: 0, tokens: 0) }
        if values.count < rows {
            values = [Double](repeating: 0, count: rows)
            alpha = [Double](repeating: 0, count: rows); beta = [Double](repeating: 0, count: rows)
        }
        // Rows whose V is needed: the path rows and each bootstrap row.
        var needsValue = [Bool](repeating: false, count: rows)
        for b in 0..<B {
            for u in paths[b] { needsValue[b * T + u] = true }
            if input.bootstrap[b] && !paths[b].isEmpty { needsValue[b * T + paths[b].upperBound] = true }
        }
        let z = input.studentLogits
        values.withUnsafeMutableBufferPointer { vb in
            let vp = vb.baseAddress!
            parallelFor(rows, minChunk: 4) { range in
                for r in range where needsValue[r] { vp[r] = softValue(z + r * V, V: V, tau: tau) }
            }
        }
        // Scalars: consistency errors, then α and β.
        var errors: [Double] = []
        errors.reserveCapacity(windows)
        var lossSum = 0.0
        let invW = 1 / Double(windows)
        for r in 0..<rows { alpha[r] = 0; beta[r] = 0 }
        for b in 0..<B {
            let path = paths[b], base = b * T
            for t in path {
                let dEff = min(settings.steps ?? Int.max, path.upperBound - t)
                var c = 0.0, gi = 1.0
                for i in 0..<dEff {
                    let u = base + t + i
                    c += gi * (Double(input.rewards[u]) - Double(z[u * V + Int(input.actions[u])]))
                    if i > 0 { c += gi * values[u] }
                    gi *= g
                }
                let closing = t + dEff
                let closingUsed = closing < path.upperBound || input.bootstrap[b]
                if closingUsed { c += gi * values[base + closing] }
                errors.append(c)
                lossSum += 0.5 * c * c
                gi = 1
                for i in 0..<dEff {
                    let u = base + t + i
                    beta[u] += c * gi * invW
                    if i > 0 { alpha[u] += c * gi * invW }
                    gi *= g
                }
                if closingUsed { alpha[base + closing] += c * gi * invW }
            }
        }
        lastErrors = errors
        // Row work: dz_u += scale (α_u pi_u − β_u onehot(a_u)).
        let actions = input.actions
        let s = Double(scale)
        alpha.withUnsafeBufferPointer { ab in
            beta.withUnsafeBufferPointer { bb in
                values.withUnsafeBufferPointer { vb in
                    let ap = ab.baseAddress!, bp = bb.baseAddress!, vp = vb.baseAddress!
                    parallelFor(rows, minChunk: 4) { range in
                        for r in range where needsValue[r] {
                            let row = z + r * V, d = dLogits + r * V
                            let a = Float(s * ap[r]), vr = vp[r]
                            if a != 0 {
                                for j in 0..<V { d[j] += a * Float(exp((Double(row[j]) - vr) / tau)) }
                            }
                            if actions[r] >= 0 { d[Int(actions[r])] -= Float(s * bp[r]) }
                        }
                    }
                }
            }
        }
        return ObjectiveResult(loss: lossSum * invW, tokens: windows)
    }
}

/// `tau · logsumexp(z / tau)` over V logits, accumulated in Double (−∞ logits contribute 0).
@inline(__always)
func softValue(_ z: UnsafePointer<Float>, V: Int, tau: Double) -> Double {
    var m = -Float.infinity
    for j in 0..<V { m = max(m, z[j]) }
    let md = Double(m)
    var s = 0.0
    for j in 0..<V { s += exp((Double(z[j]) - md) / tau) }
    return md + tau * log(s)
}

/// The literal reference of ``PCLObjective``, in Double: for every window it evaluates
/// `C(t, d)` from the definition with `tau log pi` (not the simplified sum) and adds
/// `C · dC/dz / |W|` row by row with the three gradient formulas of algorithms.md §5.2.
public enum PCLObjectiveReference {
    /// - Returns: the loss, the consistency errors (one per window, row order) and dL/dz (B·T·V).
    public static func evaluate(_ input: PCLInput, settings: PCLSettings) -> (loss: Double, errors: [Double], gradient: [Double]) {
        let B = input.B, T = input.T, V = input.V
        let tau = settings.entropyWeight, g = settings.discount
        var grad = [Double](repeating: 0, count: B * T * V)
        var errors: [Double] = []
        func logits(_ r: Int) -> [Double] { (0..<V).map { Double(input.studentLogits[r * V + $0]) } }
        func value(_ r: Int) -> Double {
            let z = logits(r), m = z.max()!
            return m + tau * log(z.reduce(0) { $0 + exp(($1 - m) / tau) })
        }
        func policy(_ r: Int) -> [Double] { let v = value(r); return logits(r).map { exp(($0 - v) / tau) } }
        var windows: [(b: Int, t: Int, dEff: Int, closing: Int?)] = []
        for b in 0..<B {
            let path = input.path(b)
            for t in path {
                let dEff = min(settings.steps ?? Int.max, path.upperBound - t)
                let closing = t + dEff
                windows.append((b, t, dEff, closing < path.upperBound || input.bootstrap[b] ? closing : nil))
            }
        }
        guard !windows.isEmpty else { return (0, [], grad) }
        let W = Double(windows.count)
        var loss = 0.0
        for w in windows {
            let base = w.b * T
            var c = -value(base + w.t)
            for i in 0..<w.dEff {
                let u = base + w.t + i, a = Int(input.actions[u])
                let tauLogPi = logits(u)[a] - value(u)
                c += pow(g, Double(i)) * (Double(input.rewards[u]) - tauLogPi)
            }
            if let closing = w.closing { c += pow(g, Double(w.dEff)) * value(base + closing) }
            errors.append(c)
            loss += c * c / 2 / W
            for i in 0..<w.dEff {
                let u = base + w.t + i, a = Int(input.actions[u])
                let pi = policy(u), gi = pow(g, Double(i))
                for j in 0..<V {
                    let dC = i == 0 ? -(j == a ? 1.0 : 0) : gi * (pi[j] - (j == a ? 1 : 0))
                    grad[u * V + j] += c * dC / W
                }
            }
            if let closing = w.closing {
                let u = base + closing, pi = policy(u), gd = pow(g, Double(w.dEff))
                for j in 0..<V { grad[u * V + j] += c * gd * pi[j] / W }
            }
        }
        return (loss, errors, grad)
    }
}

import Foundation
import Tensor

/// A teacher stored sparsely (the teacher cache, algorithms.md §7): per row its K most probable
/// ids S, their log-probabilities `log p_i` (at the distillation temperature) and the log of the
/// remaining mass `log r = log(1 − Σ_{i∈S} p_i)` (−∞ when S is the whole vocabulary).
public struct SparseTeacher {
    /// K, ids per row.
    public var K: Int
    /// (rows, K) vocabulary ids, most probable first.
    public var ids: UnsafePointer<Int32>
    /// (rows, K) `log p_i` at the distillation temperature.
    public var logProbs: UnsafePointer<Float>
    /// (rows) `log r`, the log of the teacher's mass outside the K ids.
    public var logTail: UnsafePointer<Float>

    public init(K: Int, ids: UnsafePointer<Int32>, logProbs: UnsafePointer<Float>, logTail: UnsafePointer<Float>) {
        self.K = K; self.ids = ids; self.logProbs = logProbs; self.logTail = logTail
    }
}

/// The vocabulary ids of the student's logit columns (a trimmed output layer): column j is id
/// `ids[j]`. Holds the inverse map id → column (−1 outside the subset), built once.
public final class StudentIDs: @unchecked Sendable {
    /// (V_s) vocabulary id of each column.
    public let ids: [Int32]
    private let columnOf: [Int32]

    public init(_ ids: [Int32]) {
        self.ids = ids
        var inverse = [Int32](repeating: -1, count: Int(ids.max() ?? -1) + 1)
        for (j, id) in ids.enumerated() {
            precondition(id >= 0 && inverse[Int(id)] < 0, "StudentIDs: id \(id) negative or listed twice")
            inverse[Int(id)] = Int32(j)
        }
        columnOf = inverse
    }

    /// The column holding vocabulary id `id`, or −1 when the subset does not contain it.
    @inline(__always)
    public func column(_ id: Int32) -> Int { id >= 0 && Int(id) < columnOf.count ? Int(columnOf[Int(id)]) : -1 }
}

/// Working memory of one row of a bucketed divergence; one per worker, never reallocated.
public final class BucketScratch: @unchecked Sendable {
    public let V: Int, K: Int
    let rows: DivergenceScratch          // logQ, q (V)
    let bucketOf: UnsafeMutablePointer<Int32>  // (V) bucket of each column, −1 = rest
    let columns: UnsafeMutablePointer<Int>     // (K) column of each bucket
    let p: UnsafeMutablePointer<Double>, logP: UnsafeMutablePointer<Double>   // (K + 1)
    let q: UnsafeMutablePointer<Double>, logQ: UnsafeMutablePointer<Double>, h: UnsafeMutablePointer<Double>

    public init(V: Int, K: Int) {
        self.V = V; self.K = K
        rows = DivergenceScratch(V: V)
        bucketOf = .allocate(capacity: V); bucketOf.initialize(repeating: -1, count: V)
        columns = .allocate(capacity: K + 1); columns.initialize(repeating: 0, count: K + 1)
        p = .allocate(capacity: 5 * (K + 1)); p.initialize(repeating: 0, count: 5 * (K + 1))
        logP = p + (K + 1); q = p + 2 * (K + 1); logQ = p + 3 * (K + 1); h = p + 4 * (K + 1)
    }

    deinit { bucketOf.deallocate(); columns.deallocate(); p.deallocate() }
}

/// Divergences of a student against a **sparse** (top-K) teacher, on coarsened distributions
/// (algorithms.md §7). Both distributions are merged into n + 1 outcomes:
///
/// - one bucket per teacher id of S that is a student column (n ≤ K; all K without a subset),
/// - one bucket "rest" = every other student column.
///
/// Teacher: `P̄_b = p_b / Z`, `P̄_rest = r / Z` with `Z = Σ_b p_b + r` (Z = 1 without a subset).
/// With a student subset the teacher's tail mass r is **assumed to lie inside the subset**, and
/// ids of S outside it are dropped, i.e. the teacher is conditioned on the subset — that
/// assumption is the approximation. Student: `Q̄_b = q_{col(b)}`, `Q̄_rest = Σ_{j ∈ rest} q_j`,
/// q = softmax(z/T) over the student's V_s columns.
///
/// `D̄ = D(P̄ ‖ Q̄)` is evaluated with the formulas of ``Divergence``. By the data-processing
/// inequality `D̄ ≤ D(p ‖ q)`; with K = V (and no subset) it is exact. The gaps are
/// `FKL − FKL̄ = r · KL(p_tail/r ‖ q_tail/Q̄_rest)`, `RKL − RKL̄ = Q̄_rest · KL(q_tail/Q̄_rest ‖ p_tail/r)`,
/// `0 ≤ TVD − TVD̄ ≤ min(r, Q̄_rest)`, `0 ≤ JSD − JSD̄ ≤ β log(1/β) r + (1−β) log(1/(1−β)) Q̄_rest`.
///
/// Gradient through the student softmax: with `g_b = ∂D̄/∂Q̄_b` and `b(j)` the bucket of column j,
/// `dD̄/dz_j = q_j (g_{b(j)} − Σ_b g_b Q̄_b) / T` (so it sums to zero over the columns). The
/// per-bucket derivatives (constant shifts dropped): FKL `−P̄/Q̄`, RKL `log(Q̄/P̄)`,
/// JSD(β) `(1−β) log(Q̄/M̄)`, TVD `−1[Q̄ < P̄]` (ties 0, as the dense TVD).
public enum BucketedDivergences {
    /// One row: returns D̄ and adds `weight · dD̄/dz` into `gradient` (V_s) when non-nil.
    /// - Parameters:
    ///   - ids, logProbs: (K) the teacher's top-K ids and log-probabilities; `logTail`: log r.
    ///   - student: (V) student logits over its columns (V = V_s with a subset).
    ///   - subset: the columns' vocabulary ids, nil = identity (column j is id j).
    ///   - temperature: T > 0 applied to the student (the teacher's log-probs already carry it).
    ///   - scratch: of width ≥ V and K ≥ the row's K.
    public static func evaluate(_ divergence: Divergence, ids: UnsafePointer<Int32>, logProbs: UnsafePointer<Float>,
                                logTail: Float, K: Int, student: UnsafePointer<Float>, V: Int, subset: StudentIDs?,
                                temperature: Float = 1, gradient: UnsafeMutablePointer<Float>?, weight: Float = 1,
                                scratch s: BucketScratch) -> Double {
        precondition(V <= s.V && K <= s.K, "BucketedDivergences: row (V \(V), K \(K)) exceeds the scratch (\(s.V), \(s.K))")
        let q = s.rows.q, logq = s.rows.logQ
        Divergences.distribution(student, V: V, temperature: temperature, log: logq, prob: q, needLog: true)
        // Buckets of the teacher's ids that are student columns.
        var n = 0, teacherMass = 0.0
        for k in 0..<K {
            let id = ids[k]
            let col = subset.map { $0.column(id) } ?? (id >= 0 && Int(id) < V ? Int(id) : -1)
            guard col >= 0, col < V, s.bucketOf[col] < 0 else { continue }
            s.bucketOf[col] = Int32(n); s.columns[n] = col
            s.logP[n] = Double(logProbs[k]); s.p[n] = Foundation.exp(s.logP[n]); teacherMass += s.p[n]
            s.q[n] = Double(q[col]); s.logQ[n] = Double(logq[col])
            n += 1
        }
        defer { for b in 0..<n { s.bucketOf[s.columns[b]] = -1 } }
        var restQ = 0.0
        for j in 0..<V where s.bucketOf[j] < 0 { restQ += Double(q[j]) }
        let restP = logTail.isFinite ? Foundation.exp(Double(logTail)) : 0
        s.p[n] = restP; s.logP[n] = restP > 0 ? Double(logTail) : -.infinity
        s.q[n] = restQ; s.logQ[n] = restQ > 0 ? Foundation.log(restQ) : -.infinity
        // Condition the teacher on the student's columns (Z = 1 up to rounding without a subset).
        let total = teacherMass + restP
        let logZ = Foundation.log(total)
        for b in 0...n { s.p[b] /= total; s.logP[b] -= logZ }

        let value = bucketValue(divergence, s, buckets: n + 1)
        guard let g = gradient else { return value }
        var hSum = 0.0
        for b in 0...n { hSum += s.h[b] }
        let k = Double(weight) / Double(temperature)
        let gRest = s.q[n] > 0 ? s.h[n] / s.q[n] : 0
        for j in 0..<V {
            let b = Int(s.bucketOf[j])
            let qj = Double(q[j])
            // q_j (g_b − H) with q_j g_b = h_b for a teacher bucket (its only column).
            let term = b >= 0 ? s.h[b] - qj * hSum : qj * (gRest - hSum)
            g[j] += Float(k * term)
        }
        return value
    }

    /// D(P̄ ‖ Q̄) over `buckets` outcomes in the scratch; writes `h_b = Q̄_b · ∂D̄/∂Q̄_b` into `s.h`.
    static func bucketValue(_ divergence: Divergence, _ s: BucketScratch, buckets m: Int) -> Double {
        let p = s.p, logP = s.logP, q = s.q, logQ = s.logQ, h = s.h
        var value = 0.0
        switch divergence {
        case .forwardKL, .jsd(beta: 0):
            for b in 0..<m {
                if p[b] > 0 { value += p[b] * (logP[b] - logQ[b]) }
                h[b] = -p[b]
            }
        case .reverseKL, .jsd(beta: 1):
            for b in 0..<m {
                if q[b] > 0 { value += q[b] * (logQ[b] - logP[b]); h[b] = q[b] * (logQ[b] - logP[b]) } else { h[b] = 0 }
            }
        case .jsd(let betaF):
            let beta = Double(betaF)
            var klPM = 0.0, klQM = 0.0
            for b in 0..<m {
                let mix = beta * p[b] + (1 - beta) * q[b]
                h[b] = 0
                guard mix > 0 else { continue }
                let logM = Foundation.log(mix)
                if p[b] > 0 { klPM += p[b] * (logP[b] - logM) }
                if q[b] > 0 { klQM += q[b] * (logQ[b] - logM); h[b] = (1 - beta) * q[b] * (logQ[b] - logM) }
            }
            value = beta * klPM + (1 - beta) * klQM
        case .tvd:
            for b in 0..<m {
                value += Swift.abs(p[b] - q[b])
                h[b] = q[b] < p[b] ? -q[b] : 0
            }
            value = Swift.min(1, 0.5 * value)
        }
        return value
    }
}

/// A pool of ``BucketScratch`` (one per worker) with the deterministic row split of
/// ``DivergenceScratchPool``.
struct BucketScratchPool {
    private var scratches: [BucketScratch] = []

    mutating func forEachChunk(rows: Int, V: Int, K: Int, _ body: (Range<Int>, BucketScratch) -> Void) {
        guard rows > 0 else { return }
        let workers = Swift.min(Threads.count, Swift.max(1, rows * V / 16_384), rows)
        if let first = scratches.first, first.V < V || first.K < K { scratches.removeAll() }
        while scratches.count < workers { scratches.append(BucketScratch(V: V, K: K)) }
        let pool = scratches
        parallelFor(workers) { range in
            for w in range { body(rows * w / workers ..< rows * (w + 1) / workers, pool[w]) }
        }
    }
}

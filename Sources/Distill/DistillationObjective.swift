import Tensor

/// How token-level losses are averaged into the batch loss (recorded in run metadata).
public enum LossNormalization: String, Codable, Sendable, CaseIterable {
    /// Average over each sequence's supervised positions, then over the sequences that have at
    /// least one: `L = (1/S) Σ_b (1/n_b) Σ_{t ∈ b} D_t` — DistillSpec's `E[(1/|y|) Σ_t D]` (the default).
    case perSequence
    /// Average over all N supervised tokens of the batch: `L = (1/N) Σ_t D_t` — GKD's convention.
    case perToken
}

/// Token-level distillation (DistillSpec, algorithms.md §3): the loss is a divergence
/// `D(p_t ‖ q_t)` between the teacher's `p_t = softmax(u_t/T)` and the student's
/// `q_t = softmax(z_t/T)` at every supervised position t, averaged by ``normalization``.
///
/// The gradient written is `scale · s · w_t · dD/dz_t` with `w_t` the normalisation weight
/// (`1/(S n_b)` or `1/N`) and `s = T²` when ``scaleByTemperatureSquared`` is set (Hinton's
/// correction keeping gradient magnitudes comparable across temperatures), else 1; the reported
/// loss carries the same factor `s`. Unsupervised rows (`targets[r] < 0`) get no gradient.
/// Rows are processed in parallel with a fixed split, so results are bitwise independent of
/// ``Threads/count``; nothing is allocated per call after the first (for a given B·T and V).
///
/// **From the teacher cache** (`input.sparseTeacher` set): `D_t` is the bucketed divergence
/// `D(P̄_t ‖ Q̄_t)` of ``BucketedDivergences`` — the teacher's top-K ids are buckets of their own and
/// the tail mass r enters as one more bucket "everything else" whose student mass is
/// `1 − Σ_{top-K} q_i`; a lower bound of `D(p_t ‖ q_t)`, exact when K = V. The cached log-probs
/// already carry the temperature (it must equal ``temperature``); the student's are divided by it.
public struct DistillationObjective: Objective {
    /// The token-level divergence, teacher first.
    public var divergence: Divergence
    /// Distillation temperature T > 0 (default 1, a project design choice; distil at the decoding
    /// temperature when decoding will sample at it).
    public var temperature: Float
    /// Multiply loss and gradient by T² (recorded).
    public var scaleByTemperatureSquared: Bool
    public var normalization: LossNormalization

    private var pool = DivergenceScratchPool()
    private var bucketPool = BucketScratchPool()
    private var rowLoss: [Double] = []  // (B·T) D_t, 0 for unsupervised rows
    private var rowWeight: [Float] = []  // (B·T) gradient weight of each row

    /// - Parameters:
    ///   - divergence: D(teacher ‖ student) at each position.
    ///   - temperature: T > 0 applied to both teacher and student logits.
    ///   - scaleByTemperatureSquared: multiply loss and gradient by T².
    ///   - normalization: per sequence (DistillSpec, default) or per token (GKD).
    public init(divergence: Divergence, temperature: Float = 1, scaleByTemperatureSquared: Bool = false,
                normalization: LossNormalization = .perSequence) {
        precondition(temperature > 0, "DistillationObjective: temperature must be positive, got \(temperature)")
        if case .jsd(let beta) = divergence {
            precondition(beta >= 0 && beta <= 1, "DistillationObjective: JSD beta must be in [0, 1], got \(beta)")
        }
        self.divergence = divergence
        self.temperature = temperature
        self.scaleByTemperatureSquared = scaleByTemperatureSquared
        self.normalization = normalization
    }

    public var name: String { divergence.name }
    public var needsTeacher: Bool { true }

    /// The settings to record with a run.
    public var metadata: [String: String] {
        var m = ["objective": name, "temperature": "\(temperature)",
                 "scaleByTemperatureSquared": "\(scaleByTemperatureSquared)", "normalization": normalization.rawValue]
        if case .jsd(let beta) = divergence { m["beta"] = "\(beta)" }
        return m
    }

    /// Loss of the batch and `scale · dL/dstudentLogits` added into `dLogits` (B, T, V).
    /// `input.teacherLogits` must be set.
    public mutating func evaluate(_ input: ObjectiveInput, dLogits: UnsafeMutablePointer<Float>, scale: Float) -> ObjectiveResult {
        let teacher = input.teacherLogits
        guard teacher != nil || input.sparseTeacher != nil else {
            preconditionFailure("DistillationObjective (\(name)) needs teacher logits: run the teacher forward and pass them in ObjectiveInput")
        }
        precondition(input.studentIDs == nil || input.sparseTeacher != nil, "DistillationObjective: a student subset needs the sparse (cached) teacher")
        let rows = input.rows, V = input.V
        if rowLoss.count < rows {
            rowLoss = [Double](repeating: 0, count: rows)
            rowWeight = [Float](repeating: 0, count: rows)
        }
        let tokens = input.supervisedCount
        guard tokens > 0 else { return ObjectiveResult(loss: 0, tokens: 0) }
        let factor = temperatureFactor(temperature, scaleByTemperatureSquared)
        rowWeight.withUnsafeMutableBufferPointer {
            normalizationWeights($0.baseAddress!, targets: input.targets, B: input.B, T: input.T, normalization: normalization,
                                 scale: Double(scale) * factor)
        }
        let divergence = self.divergence, temperature = self.temperature
        let student = input.studentLogits, targets = input.targets
        rowLoss.withUnsafeMutableBufferPointer { lossBuffer in
            rowWeight.withUnsafeBufferPointer { weightBuffer in
                let losses = lossBuffer.baseAddress!, weights = weightBuffer.baseAddress!
                if let sparse = input.sparseTeacher {
                    let K = sparse.K, subset = input.studentIDs
                    bucketPool.forEachChunk(rows: rows, V: V, K: K) { range, scratch in
                        for r in range {
                            guard targets[r] >= 0 else { losses[r] = 0; continue }
                            losses[r] = BucketedDivergences.evaluate(
                                divergence, ids: sparse.ids + r * K, logProbs: sparse.logProbs + r * K, logTail: sparse.logTail[r],
                                K: K, student: student + r * V, V: V, subset: subset, temperature: temperature,
                                gradient: dLogits + r * V, weight: weights[r], scratch: scratch)
                        }
                    }
                    return
                }
                let teacher = teacher!
                pool.forEachChunk(rows: rows, V: V) { range, scratch in
                    for r in range {
                        guard targets[r] >= 0 else { losses[r] = 0; continue }
                        losses[r] = Divergences.evaluate(divergence, teacher: teacher + r * V, student: student + r * V, V: V,
                                                         temperature: temperature, gradient: dLogits + r * V,
                                                         weight: weights[r], scratch: scratch)
                    }
                }
            }
        }
        let loss = rowLoss.withUnsafeBufferPointer {
            normalizedLoss($0.baseAddress!, targets: input.targets, B: input.B, T: input.T, normalization: normalization)
        }
        return ObjectiveResult(loss: loss * factor, tokens: tokens)
    }
}

/// `T²` when `scaled`, else 1.
@inline(__always)
func temperatureFactor(_ temperature: Float, _ scaled: Bool) -> Double {
    scaled ? Double(temperature) * Double(temperature) : 1
}

/// Writes each row's gradient weight `scale · w_r` ((B·T)), `w_r` = 1/N (per token) or
/// `1/(S · n_b)` (per sequence, `n_b` supervised rows in sequence b, S sequences with n_b > 0);
/// 0 for unsupervised rows.
func normalizationWeights(_ weights: UnsafeMutablePointer<Float>, targets: UnsafePointer<Int32>, B: Int, T: Int,
                          normalization: LossNormalization, scale: Double) {
    switch normalization {
    case .perToken:
        var n = 0
        for r in 0..<(B * T) where targets[r] >= 0 { n += 1 }
        let w = Float(scale / Double(n))
        for r in 0..<(B * T) { weights[r] = targets[r] >= 0 ? w : 0 }
    case .perSequence:
        let s = supervisedSequences(targets: targets, B: B, T: T)
        for b in 0..<B {
            var n = 0
            for t in 0..<T where targets[b * T + t] >= 0 { n += 1 }
            let w = n > 0 ? Float(scale / (Double(n) * Double(s))) : 0
            for t in 0..<T { weights[b * T + t] = targets[b * T + t] >= 0 ? w : 0 }
        }
    }
}

/// The normalised batch loss from per-row losses (rows added in order, in Double):
/// `(Σ_r D_r) / N` per token, `(1/S) Σ_b (Σ_{t ∈ b} D_t) / n_b` per sequence.
func normalizedLoss(_ losses: UnsafePointer<Double>, targets: UnsafePointer<Int32>, B: Int, T: Int,
                    normalization: LossNormalization) -> Double {
    switch normalization {
    case .perToken:
        var total = 0.0, n = 0
        for r in 0..<(B * T) where targets[r] >= 0 { total += losses[r]; n += 1 }
        return n > 0 ? total / Double(n) : 0
    case .perSequence:
        var total = 0.0
        for b in 0..<B {
            var sum = 0.0, n = 0
            for t in 0..<T where targets[b * T + t] >= 0 { sum += losses[b * T + t]; n += 1 }
            if n > 0 { total += sum / Double(n) }
        }
        let s = supervisedSequences(targets: targets, B: B, T: T)
        return s > 0 ? total / Double(s) : 0
    }
}

/// S: the number of sequences with at least one supervised row.
func supervisedSequences(targets: UnsafePointer<Int32>, B: Int, T: Int) -> Int {
    var s = 0
    for b in 0..<B where (0..<T).contains(where: { targets[b * T + $0] >= 0 }) { s += 1 }
    return s
}

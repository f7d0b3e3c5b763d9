// The Distill module owns distillation: objectives ("logits in, loss and dLoss/dlogits out": CE,
// FKL, RKL, JSD(beta), TVD, AdaSPEC, PCL), data sources, the trainers with exact resume, the teacher
// cache, teacher-forced acceptance and draft cost forecasts. It re-exports Datasets.

import Tensor

/// AdaSPEC selective forward-KL distillation (Hu et al. 2025; algorithms.md §4 step 3).
///
/// For every supervised token t of the micro-batch, with `p_t = softmax(u_t/T)` (target),
/// `q_t = softmax(z_t/T)` (draft, trained) and `r_t = softmax(w_t/T)` (reference, frozen):
///
///     L_draft,t = KL(p_t ‖ q_t),  L_ref,t = KL(p_t ‖ r_t),  delta_t = L_draft,t − L_ref,t
///     keep t  ⇔  delta_t ≥ quantile(delta, 1 − k)        (linear interpolation, ties kept)
///     L = s · Σ_{t kept} L_draft,t / N                  (N = all supervised tokens)
///     dL/dz_t = s · 1[t kept] (q_t − p_t) / (T N)
///
/// with `s = T²` when ``scaleByTemperatureSquared``, else 1. The mask carries no gradient. The
/// official code divides by all supervised tokens; ``KeptNormalization/keptTokens`` divides by the
/// kept count instead (an option). With k = 1 every token is kept and the loss, with the
/// default denominator, equals ``DistillationObjective`` with forward KL and per-token
/// normalisation bit for bit. The temperature is this project's addition (the paper uses T = 1).
///
/// **From the teacher cache** (`input.sparseTeacher` set) every KL above is the bucketed forward
/// KL of ``BucketedDivergences`` — `FKL̄ = Σ_{i∈S} p_i log(p_i/q_i) + r log(r/q_rest)` with the
/// teacher's tail mass r as one bucket against the student's (or reference's) mass outside the
/// top-K — for the draft and the reference alike, so the loss gap compares like with like; its
/// gradient is `q_j − p̃_j` with `p̃_j = r q_j / q_rest` outside the top-K (algorithms.md §7).
///
/// ``ObjectiveResult/tokens`` reports N; ``lastKeptCount`` the tokens kept in the last call.
public struct AdaSPECObjective: Objective {
    /// What the kept tokens' loss sum is divided by.
    public enum KeptNormalization: String, Codable, Sendable, CaseIterable {
        /// N, all supervised tokens of the micro-batch (the official behaviour, default).
        case allSupervised
        /// The number of kept tokens.
        case keptTokens
    }

    /// k ∈ (0, 1], the fraction of tokens kept (official value 0.4).
    public var keepFraction: Double
    /// Distillation temperature T > 0 (default 1).
    public var temperature: Float
    /// Multiply loss and gradient by T².
    public var scaleByTemperatureSquared: Bool
    public var denominator: KeptNormalization
    /// Tokens kept by the filter in the last ``evaluate(_:dLogits:scale:)``.
    public private(set) var lastKeptCount = 0
    /// Supervised tokens N in the last ``evaluate(_:dLogits:scale:)``.
    public private(set) var lastSupervisedCount = 0
    /// The threshold `quantile(delta, 1 − k)` of the last call (0 when nothing was supervised).
    public private(set) var lastThreshold = 0.0

    private var pool = DivergenceScratchPool()
    private var bucketPool = BucketScratchPool()
    private var draftLoss: [Double] = []  // (B·T) L_draft
    private var delta: [Double] = []  // (B·T) L_draft − L_ref
    private var sorted: [Double] = []  // (N) the supervised deltas, ascending

    /// - Parameters:
    ///   - keepFraction: k ∈ (0, 1].
    ///   - temperature: T > 0 for target, draft and reference.
    ///   - scaleByTemperatureSquared: multiply loss and gradient by T².
    ///   - denominator: all supervised tokens (official) or the kept count.
    public init(keepFraction: Double = 0.4, temperature: Float = 1, scaleByTemperatureSquared: Bool = false,
                denominator: KeptNormalization = .allSupervised) {
        precondition(keepFraction > 0 && keepFraction <= 1, "AdaSPECObjective: keep fraction k must be in (0, 1], got \(keepFraction)")
        precondition(temperature > 0, "AdaSPECObjective: temperature must be positive, got \(temperature)")
        self.keepFraction = keepFraction
        self.temperature = temperature
        self.scaleByTemperatureSquared = scaleByTemperatureSquared
        self.denominator = denominator
    }

    public var name: String { "adaspec" }
    public var needsTeacher: Bool { true }
    /// Always true: ``evaluate(_:dLogits:scale:)`` needs `referenceLogits`.
    public var needsReference: Bool { true }

    /// The settings to record with a run.
    public var metadata: [String: String] {
        ["objective": name, "keepFraction": "\(keepFraction)", "temperature": "\(temperature)",
         "scaleByTemperatureSquared": "\(scaleByTemperatureSquared)", "denominator": denominator.rawValue]
    }

    /// `keptFraction`: tokens kept by the filter / supervised tokens in the last call (0 when
    /// nothing was supervised).
    public var stepStatistics: [String: Double] {
        ["keptFraction": Double(lastKeptCount) / Double(max(lastSupervisedCount, 1))]
    }

    /// Loss of the batch and `scale · dL/dstudentLogits` added into `dLogits` (B, T, V).
    /// `input.teacherLogits` and `input.referenceLogits` must be set.
    public mutating func evaluate(_ input: ObjectiveInput, dLogits: UnsafeMutablePointer<Float>, scale: Float) -> ObjectiveResult {
        let teacherLogits = input.teacherLogits
        guard teacherLogits != nil || input.sparseTeacher != nil else {
            preconditionFailure("AdaSPECObjective needs teacher logits: run the target forward and pass them in ObjectiveInput")
        }
        guard let reference = input.referenceLogits else {
            preconditionFailure("AdaSPECObjective needs reference logits: run the reference model forward and pass them in ObjectiveInput")
        }
        let rows = input.rows, V = input.V, T = temperature
        let student = input.studentLogits, targets = input.targets
        if draftLoss.count < rows {
            draftLoss = [Double](repeating: 0, count: rows)
            delta = [Double](repeating: 0, count: rows)
            sorted = [Double](repeating: 0, count: rows)
        }
        let n = input.supervisedCount
        lastSupervisedCount = n
        lastKeptCount = 0
        lastThreshold = 0
        guard n > 0 else { return ObjectiveResult(loss: 0, tokens: 0) }

        // 1. Per-token losses of draft and reference against the target (no gradient).
        draftLoss.withUnsafeMutableBufferPointer { draftBuffer in
            delta.withUnsafeMutableBufferPointer { deltaBuffer in
                let draft = draftBuffer.baseAddress!, gap = deltaBuffer.baseAddress!
                if let sparse = input.sparseTeacher {
                    let K = sparse.K, subset = input.studentIDs
                    bucketPool.forEachChunk(rows: rows, V: V, K: K) { range, scratch in
                        for r in range {
                            guard targets[r] >= 0 else { draft[r] = 0; gap[r] = 0; continue }
                            func fkl(_ logits: UnsafePointer<Float>) -> Double {
                                BucketedDivergences.evaluate(.forwardKL, ids: sparse.ids + r * K, logProbs: sparse.logProbs + r * K,
                                                             logTail: sparse.logTail[r], K: K, student: logits + r * V, V: V,
                                                             subset: subset, temperature: T, gradient: nil, scratch: scratch)
                            }
                            let lDraft = fkl(student)
                            draft[r] = lDraft
                            gap[r] = lDraft - fkl(reference)
                        }
                    }
                    return
                }
                let teacher = teacherLogits!
                pool.forEachChunk(rows: rows, V: V) { range, scratch in
                    for r in range {
                        guard targets[r] >= 0 else { draft[r] = 0; gap[r] = 0; continue }
                        let lDraft = Divergences.forwardKL(teacher: teacher + r * V, student: student + r * V, V: V,
                                                           temperature: T, gradient: nil, scratch: scratch)
                        let lRef = Divergences.forwardKL(teacher: teacher + r * V, student: reference + r * V, V: V,
                                                         temperature: T, gradient: nil, scratch: scratch)
                        draft[r] = lDraft
                        gap[r] = lDraft - lRef
                    }
                }
            }
        }

        // 2. The threshold quantile(delta, 1 − k) over the supervised tokens.
        var count = 0
        for r in 0..<rows where targets[r] >= 0 { sorted[count] = delta[r]; count += 1 }
        let threshold = sorted.withUnsafeMutableBufferPointer { buffer -> Double in
            var supervised = UnsafeMutableBufferPointer(rebasing: buffer[0..<n])
            supervised.sort()
            return AdaSPECSelection.quantile(sorted: UnsafeBufferPointer(supervised), 1 - keepFraction)
        }
        var kept = 0, keptSum = 0.0
        for r in 0..<rows where targets[r] >= 0 && delta[r] >= threshold {
            kept += 1
            keptSum += draftLoss[r]
        }
        lastKeptCount = kept
        lastThreshold = threshold

        // 3. Gradient of the kept tokens: weight · (q − p)/T.
        let factor = temperatureFactor(T, scaleByTemperatureSquared)
        let denominatorCount = denominator == .allSupervised ? n : kept
        let weight = Float(Double(scale) * factor / Double(denominatorCount))
        delta.withUnsafeBufferPointer { deltaBuffer in
            let gap = deltaBuffer.baseAddress!
            if let sparse = input.sparseTeacher {
                let K = sparse.K, subset = input.studentIDs
                bucketPool.forEachChunk(rows: rows, V: V, K: K) { range, scratch in
                    for r in range where targets[r] >= 0 && gap[r] >= threshold {
                        _ = BucketedDivergences.evaluate(.forwardKL, ids: sparse.ids + r * K, logProbs: sparse.logProbs + r * K,
                                                         logTail: sparse.logTail[r], K: K, student: student + r * V, V: V,
                                                         subset: subset, temperature: T, gradient: dLogits + r * V,
                                                         weight: weight, scratch: scratch)
                    }
                }
                return
            }
            let teacher = teacherLogits!
            pool.forEachChunk(rows: rows, V: V) { range, scratch in
                for r in range where targets[r] >= 0 && gap[r] >= threshold {
                    _ = Divergences.forwardKL(teacher: teacher + r * V, student: student + r * V, V: V, temperature: T,
                                              gradient: dLogits + r * V, weight: weight, scratch: scratch)
                }
            }
        }
        return ObjectiveResult(loss: keptSum / Double(denominatorCount) * factor, tokens: n)
    }
}

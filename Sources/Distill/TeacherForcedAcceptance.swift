import Tensor

/// Teacher-forced acceptance, measured without decoding (algorithms.md §2.4–2.5): on the
/// teacher-forced positions of held-out data, with `p = softmax(u/T)` the target's and
/// `q = softmax(z/T)` the draft's next-token distribution,
///
/// - sampling form: the mean over supervised positions of `β = Σ_x min(p(x), q(x)) = 1 − TVD(p, q)`,
///   the probability that speculative sampling at temperature T accepts the draft's token;
/// - greedy form: the mean of `1[argmax u == argmax z]` (lowest index on ties, as greedy decoding
///   breaks them), the acceptance of greedy speculative decoding; independent of T.
///
/// An accumulator: ``add(student:teacher:targets:rows:V:)`` batch after batch, then read the
/// means. Rows are processed in parallel with a fixed split and summed in row order, so results
/// are independent of ``Threads/count``; scratch memory is reused across calls.
public struct TeacherForcedAcceptance {
    /// T > 0 for the sampling form.
    public let temperature: Float
    /// Σ over counted positions of Σ_x min(p, q).
    public private(set) var samplingSum = 0.0
    /// Number of counted positions whose argmaxes agree.
    public private(set) var greedyMatches = 0
    /// Supervised positions counted.
    public private(set) var count = 0

    private var pool = DivergenceScratchPool()
    private var rowOverlap: [Double] = []  // (rows) Σ min(p, q)
    private var rowMatch: [Bool] = []  // (rows) argmax agreement

    public init(temperature: Float = 1) {
        precondition(temperature > 0, "TeacherForcedAcceptance: temperature must be positive, got \(temperature)")
        self.temperature = temperature
    }

    /// Mean of Σ min(p, q) over the counted positions (0 when none were counted).
    public var sampling: Double { count > 0 ? samplingSum / Double(count) : 0 }
    /// Fraction of counted positions with `argmax p == argmax q` (0 when none were counted).
    public var greedy: Double { count > 0 ? Double(greedyMatches) / Double(count) : 0 }

    /// Adds the supervised rows (`targets[r] >= 0`) of one batch.
    /// - Parameters:
    ///   - student: (rows, V) draft logits z.
    ///   - teacher: (rows, V) target logits u, on the same tokens.
    ///   - targets: (rows) next-token ids; negative rows (prompt, padding) are skipped.
    public mutating func add(student: UnsafePointer<Float>, teacher: UnsafePointer<Float>, targets: UnsafePointer<Int32>,
                             rows: Int, V: Int) {
        if rowOverlap.count < rows {
            rowOverlap = [Double](repeating: 0, count: rows)
            rowMatch = [Bool](repeating: false, count: rows)
        }
        let T = temperature
        rowOverlap.withUnsafeMutableBufferPointer { overlapBuffer in
            rowMatch.withUnsafeMutableBufferPointer { matchBuffer in
                let overlap = overlapBuffer.baseAddress!, match = matchBuffer.baseAddress!
                pool.forEachChunk(rows: rows, V: V) { range, scratch in
                    for r in range where targets[r] >= 0 {
                        let u = teacher + r * V, z = student + r * V
                        Divergences.prepare(teacher: u, student: z, V: V, temperature: T, scratch: scratch, needLogs: false)
                        let p = scratch.p, q = scratch.q
                        var s = 0.0
                        for i in 0..<V { s += Double(Swift.min(p[i], q[i])) }
                        overlap[r] = Swift.min(1, s)  // float masses are 1 ± ~1e-7; β ≤ 1
                        match[r] = Self.argmax(u, V) == Self.argmax(z, V)
                    }
                }
            }
        }
        for r in 0..<rows where targets[r] >= 0 {
            samplingSum += rowOverlap[r]
            if rowMatch[r] { greedyMatches += 1 }
            count += 1
        }
    }

    /// The first index of the largest value of `x` (V ≥ 1), as greedy decoding picks.
    @inline(__always)
    static func argmax(_ x: UnsafePointer<Float>, _ V: Int) -> Int {
        var best = 0
        for i in 1..<Swift.max(V, 1) where x[i] > x[best] { best = i }
        return best
    }
}

/// Teacher-forced acceptance of one batch; see ``TeacherForcedAcceptance``.
/// - Parameters:
///   - student: (rows, V) draft logits z.
///   - teacher: (rows, V) target logits u.
///   - targets: (rows) next-token ids; negative rows are skipped.
///   - temperature: T > 0 for the sampling form.
/// - Returns: the mean of Σ min(p, q), the fraction of agreeing argmaxes, and the positions counted
///   (both means are 0 when `count` is 0).
public func teacherForcedAcceptance(student: UnsafePointer<Float>, teacher: UnsafePointer<Float>, targets: UnsafePointer<Int32>,
                                    rows: Int, V: Int, temperature: Float = 1) -> (sampling: Double, greedy: Double, count: Int) {
    var acceptance = TeacherForcedAcceptance(temperature: temperature)
    acceptance.add(student: student, teacher: teacher, targets: targets, rows: rows, V: V)
    return (acceptance.sampling, acceptance.greedy, acceptance.count)
}

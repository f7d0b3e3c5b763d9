import Tensor
import Transformer

/// The logits of one training (micro-)batch handed to an objective.
///
/// Rows are the B·T positions of the batch, row-major (B, T); row `r` predicts `targets[r]`, the
/// next token. Rows with `targets[r] < 0` are not supervised (prompt, padding, the last position)
/// and receive no gradient.
public struct ObjectiveInput {
    /// B and T of the batch (rows = B·T).
    public var B: Int, T: Int
    /// V, the logit width.
    public var V: Int
    /// The model being trained (the student / draft): (B, T, V).
    public var studentLogits: UnsafePointer<Float>
    /// The teacher's (target's) logits on the same tokens, (B, T, V), when the objective needs them.
    public var teacherLogits: UnsafePointer<Float>?
    /// A reference model's logits (AdaSPEC), (B, T, V).
    public var referenceLogits: UnsafePointer<Float>?
    /// Next-token ids, (B, T); negative = not supervised.
    public var targets: UnsafePointer<Int32>
    /// The teacher as top-K ids, log-probabilities and log tail mass per row (the teacher cache),
    /// used instead of `teacherLogits` when set; objectives then use ``BucketedDivergences``.
    public var sparseTeacher: SparseTeacher?
    /// Vocabulary id of each student logit column (length V = V_s; nil = identity). Only the
    /// sparse-teacher path supports a subset: the teacher is conditioned on it (``BucketedDivergences``).
    public var studentIDs: StudentIDs?
    public var rows: Int { B * T }

    public init(B: Int, T: Int, V: Int, studentLogits: UnsafePointer<Float>, teacherLogits: UnsafePointer<Float>? = nil,
                referenceLogits: UnsafePointer<Float>? = nil, targets: UnsafePointer<Int32>,
                sparseTeacher: SparseTeacher? = nil, studentIDs: StudentIDs? = nil) {
        self.B = B; self.T = T; self.V = V
        self.sparseTeacher = sparseTeacher; self.studentIDs = studentIDs
        self.studentLogits = studentLogits; self.teacherLogits = teacherLogits
        self.referenceLogits = referenceLogits; self.targets = targets
    }

    /// Number of supervised rows.
    public var supervisedCount: Int {
        var n = 0
        for r in 0..<rows where targets[r] >= 0 { n += 1 }
        return n
    }
}

/// What an objective reports for one batch.
public struct ObjectiveResult: Equatable, Sendable {
    /// The batch loss (the quantity whose gradient was written).
    public var loss: Double
    /// Supervised tokens that entered the loss.
    public var tokens: Int
    public init(loss: Double, tokens: Int) { self.loss = loss; self.tokens = tokens }
}

/// A training objective: logits in, loss and dLoss/dlogits out. The model's backward starts
/// from the gradient it writes; no autograd is involved.
///
/// Beside the loss, an objective describes itself for the run's records: ``metadata`` (its
/// settings, written to `run.json` by the trainer, see ``RunRecord``) and ``stepStatistics``
/// (numbers about the last batch, written into each step's `metrics.jsonl` line, see
/// ``StepMetrics``). The trainer reads both through this protocol, whatever the objective.
public protocol Objective {
    /// A short name recorded in run metadata (`ce`, `fkl`, …).
    var name: String { get }
    /// The settings to record with a run, by name (`["objective": name]` by default).
    var metadata: [String: String] { get }
    /// Numbers about the last ``evaluate(_:dLogits:scale:)`` call that the trainer records with
    /// the step (flattened into its `metrics.jsonl` line; empty by default). In a step of several
    /// micro-batches the trainer records them after the step's last micro-batch on rank 0. Names
    /// must not be one of ``StepMetrics``' fixed keys.
    var stepStatistics: [String: Double] { get }
    /// Whether ``evaluate(_:dLogits:scale:)`` needs `teacherLogits`.
    var needsTeacher: Bool { get }
    /// Whether it needs `referenceLogits` (AdaSPEC's reference model).
    var needsReference: Bool { get }
    /// Computes the loss of `input` and **adds** `scale · dLoss/dstudentLogits` into `dLogits`
    /// (B, T, V). `scale` lets gradient accumulation average micro-batches.
    mutating func evaluate(_ input: ObjectiveInput, dLogits: UnsafeMutablePointer<Float>, scale: Float) -> ObjectiveResult
}

extension Objective {
    public var needsReference: Bool { false }
    public var metadata: [String: String] { ["objective": name] }
    public var stepStatistics: [String: Double] { [:] }
}

/// Next-token cross-entropy, averaged over supervised tokens: `L = (1/N) Σ_r −log softmax(z_r)[y_r]`,
/// `dL/dz_r = (softmax(z_r) − onehot(y_r)) / N`.
public struct CrossEntropyObjective: Objective {
    public var name: String { "ce" }
    public var needsTeacher: Bool { false }
    private var losses: [Float] = []
    public init() {}

    public mutating func evaluate(_ input: ObjectiveInput, dLogits: UnsafeMutablePointer<Float>, scale: Float) -> ObjectiveResult {
        if losses.count < input.rows { losses = [Float](repeating: 0, count: input.rows) }
        let (sum, count) = losses.withUnsafeMutableBufferPointer {
            CrossEntropy.forward(losses: $0.baseAddress!, logits: input.studentLogits, targets: input.targets,
                                 rows: input.rows, V: input.V)
        }
        guard count > 0 else { return ObjectiveResult(loss: 0, tokens: 0) }
        CrossEntropy.backward(dLogits: dLogits, logits: input.studentLogits, targets: input.targets,
                              rows: input.rows, V: input.V, scale: scale / Float(count))
        return ObjectiveResult(loss: sum / Double(count), tokens: count)
    }
}

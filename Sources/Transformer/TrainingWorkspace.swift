import Tensor

/// Saved activations and gradient scratch of one training forward/backward over a (B, T) batch.
/// Allocated once per (B, T) and reused; nothing is allocated per step.
///
/// Per layer (rows = B·T):
///
///     norm1   (rows, C)    mean1, rstd1 (rows)     normalised input of attention
///     qkv     (rows, QKV)  after RoPE               QKV = (NH + 2·NKV)·HS
///     probs   (B, NH, T, T)                         attention probabilities
///     attn    (rows, NH·HS)                          attention output before the projection
///     mid     (rows, C)    residual after attention (sequential residual only)
///     norm2   (rows, C)    mean2, rstd2 (rows)
///     up      (rows, F or 2F)                       MLP input projection (SwiGLU: gate | up)
///     act     (rows, F)                             activation output
///     out     (rows, C)    residual stream leaving the layer
///
/// The output layer can be restricted (``setOutputSubset(_:)``, ``setScoredRows(targets:)``):
/// logits (B, T, Vh) with Vh = V or the size of a kept-token subset, computed only at the scored
/// rows (the supervised positions); see `TransformerModel+TrainingHead.swift`.
public final class TrainingWorkspace {
    public let B: Int, T: Int
    let rows: Int
    let tokens: UnsafeMutablePointer<Int32>
    let x0: Tensor                     // (rows, C) embeddings
    struct Layer {
        var norm1, mean1, rstd1, qkv, probs, attn, mid, norm2, mean2, rstd2, up, act, out: Tensor
    }
    var layers: [Layer]
    let normF: Tensor, meanF: Tensor, rstdF: Tensor   // (rows, C), (rows), (rows)
    /// Logits of the last forward, (B, T, Vh): Vh = V, or the size of the output subset (column j
    /// scores token ``headIDs``[j]). Rows outside the scored rows are 0.
    public private(set) var logits: Tensor
    /// The output subset's token ids (ascending, unique), or nil for the whole vocabulary.
    public private(set) var headIDs: [Int32]?
    /// The runs of rows at which the output layer is evaluated (nil: all rows).
    public private(set) var scoredRuns: [Range<Int>]?
    let vocabSize: Int
    /// Subset head scratch: gathered head rows and their gradient, (Vh, C).
    var headRows = Tensor(zeros: [0]), dHeadRows = Tensor(zeros: [0])
    /// The feature input of a draft that reads the target's hidden states (``FeatureInput``): fill
    /// `features.input` (rows, Cf) and `features.staleness` (rows; 0 = no feature) before a forward.
    /// nil for models without `feature_proj.weight`.
    public let features: FeatureScratch?
    // Backward scratch.
    let dResA: Tensor, dResB: Tensor, dNorm: Tensor, dQKV: Tensor, dAttn: Tensor, dUp: Tensor, dAct: Tensor

    public init(config c: ModelConfig, B: Int, T: Int) {
        precondition(T <= c.maxPositions, "sequence length \(T) exceeds the model's context \(c.maxPositions)")
        self.B = B; self.T = T
        let rows = B * T, C = c.hiddenSize, A = c.numHeads * c.headSize
        let up = c.usesSwiGLU ? 2 * c.intermediateSize : c.intermediateSize
        self.rows = rows
        tokens = .allocate(capacity: max(rows, 1))
        tokens.initialize(repeating: 0, count: max(rows, 1))
        x0 = Tensor(zeros: [rows, C])
        layers = (0..<c.numLayers).map { _ in
            Layer(norm1: Tensor(zeros: [rows, C]), mean1: Tensor(zeros: [rows]), rstd1: Tensor(zeros: [rows]),
                  qkv: Tensor(zeros: [rows, c.qkvWidth]), probs: Tensor(zeros: [B, c.numHeads, T, T]),
                  attn: Tensor(zeros: [rows, A]), mid: Tensor(zeros: [c.parallelResidual ? 0 : rows, C]),
                  norm2: Tensor(zeros: [rows, C]), mean2: Tensor(zeros: [rows]), rstd2: Tensor(zeros: [rows]),
                  up: Tensor(zeros: [rows, up]), act: Tensor(zeros: [rows, c.intermediateSize]),
                  out: Tensor(zeros: [rows, C]))
        }
        normF = Tensor(zeros: [rows, C]); meanF = Tensor(zeros: [rows]); rstdF = Tensor(zeros: [rows])
        logits = Tensor(zeros: [B, T, c.vocabSize])
        vocabSize = c.vocabSize
        dResA = Tensor(zeros: [rows, C]); dResB = Tensor(zeros: [rows, C]); dNorm = Tensor(zeros: [rows, C])
        dQKV = Tensor(zeros: [rows, c.qkvWidth]); dAttn = Tensor(zeros: [rows, A])
        dUp = Tensor(zeros: [rows, up]); dAct = Tensor(zeros: [rows, c.intermediateSize])
        features = c.featureStaleness > 0 ? FeatureScratch(rows: rows, C: C, Cf: c.featureWidth) : nil
    }

    deinit { tokens.deallocate() }

    /// The final-normed hidden states of the last forward (rows, C): the output layer's input.
    public var finalHidden: UnsafePointer<Float> { UnsafePointer(normF.pointer) }

    /// Logit width of the output layer: V, or the subset's size.
    public var headWidth: Int { headIDs?.count ?? vocabSize }

    /// Restricts the output layer to the token ids `ids` (a trimmed draft head; nil: all V).
    /// Logits become (B, T, ids.count), column j scoring `ids[j]`; the backward pass adds the
    /// gradient of those head rows only.
    /// - Precondition: ids are unique, ascending and inside the vocabulary.
    public func setOutputSubset(_ ids: [Int]?) {
        if let ids {
            precondition(!ids.isEmpty && zip(ids, ids.dropFirst()).allSatisfy { $0 < $1 } && ids.first! >= 0 && ids.last! < vocabSize,
                         "setOutputSubset: ids must be ascending, unique and inside the vocabulary of \(vocabSize)")
            headIDs = ids.map(Int32.init)
        } else {
            headIDs = nil
        }
        logits = Tensor(zeros: [B, T, headWidth])
    }

    /// Evaluates the output layer only at rows with `targets[r] >= 0` (the positions a loss
    /// supervises); other rows' logits are 0 and get no gradient. nil: every row.
    public func setScoredRows(targets: [Int32]?) {
        guard let targets else { scoredRuns = nil; return }
        precondition(targets.count == rows, "setScoredRows: \(targets.count) targets for \(rows) rows")
        var runs: [Range<Int>] = [], start = -1
        for r in 0...rows {
            let scored = r < rows && targets[r] >= 0
            if scored && start < 0 { start = r }
            if !scored && start >= 0 { runs.append(start..<r); start = -1 }
        }
        scoredRuns = runs
    }
}

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
    /// Logits of the last forward, (B, T, V).
    public let logits: Tensor
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
        dResA = Tensor(zeros: [rows, C]); dResB = Tensor(zeros: [rows, C]); dNorm = Tensor(zeros: [rows, C])
        dQKV = Tensor(zeros: [rows, c.qkvWidth]); dAttn = Tensor(zeros: [rows, A])
        dUp = Tensor(zeros: [rows, up]); dAct = Tensor(zeros: [rows, c.intermediateSize])
    }

    deinit { tokens.deallocate() }
}

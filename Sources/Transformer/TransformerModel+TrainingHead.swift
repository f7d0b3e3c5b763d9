import Tensor

/// The output layer of the training forward and backward, restricted where the loss allows.
///
/// With H the final-norm output (rows, C), W the head (V, C) and S ⊆ vocabulary the output subset
/// (all of it by default), the forward computes `logits[r, j] = H[r] · W[S_j]` only for the
/// scored rows r (``TrainingWorkspace/setScoredRows(targets:)``; other rows are 0), and the
/// backward computes `dH[r] = Σ_j dlogits[r, j] · W[S_j]` at scored rows (0 elsewhere) and adds
/// `dW[S_j] += Σ_r dlogits[r, j] · H[r]`. Exact, not an approximation: an objective that ignores
/// unsupervised rows gives them zero gradient, so skipping them changes nothing; and the head rows
/// outside S get no gradient from a loss defined on S's logits.
///
/// Cost, for R scored rows of the B·T: `2 · R · |S| · C` FLOPs forward and twice that backward,
/// instead of `2 · B·T · V · C`. For a SmolLM2 draft (V 49,152, C 576) trained on responses that
/// are half of each sequence, with |S| = 8,192, the head's share of a step falls 12-fold.
///
/// Scored rows come as runs of consecutive rows (a response is contiguous), so each run is one
/// sgemm on row ranges of the workspace buffers: nothing is gathered but the subset's head rows.
extension TransformerModel {
    /// The head rows the output layer reads: the model's W, or the subset's rows gathered into
    /// `ws.headRows` (|S|, C) — a copy taken each forward, since W changes every step.
    private func headWeights(_ ws: TrainingWorkspace) -> UnsafePointer<Float> {
        guard let ids = ws.headIDs else { return UnsafePointer(weights.lmHead) }
        let C = config.hiddenSize
        if ws.headRows.count != ids.count * C { ws.headRows = Tensor(zeros: [ids.count, C]) }
        let dst = ws.headRows.pointer, src = weights.lmHead
        parallelFor(ids.count, minChunk: 256) { r in
            for j in r { (dst + j * C).update(from: src + Int(ids[j]) * C, count: C) }
        }
        return UnsafePointer(dst)
    }

    /// Row runs at which the head is evaluated.
    private func headRuns(_ ws: TrainingWorkspace) -> [Range<Int>] { ws.scoredRuns ?? [0..<ws.rows] }

    /// `logits (rows, Vh) = normF · W_Sᵀ` at the scored rows, 0 elsewhere.
    func headForward(_ ws: TrainingWorkspace) {
        let C = config.hiddenSize, Vh = ws.headWidth
        let w = headWeights(ws)
        let runs = headRuns(ws)
        var next = 0
        for run in runs {
            if run.lowerBound > next { (ws.logits.pointer + next * Vh).update(repeating: 0, count: (run.lowerBound - next) * Vh) }
            linearForward(ws.logits.pointer + run.lowerBound * Vh, ws.normF.pointer + run.lowerBound * C, w, nil,
                          rows: run.count, inDim: C, outDim: Vh)
            next = run.upperBound
        }
        if next < ws.rows { (ws.logits.pointer + next * Vh).update(repeating: 0, count: (ws.rows - next) * Vh) }
    }

    /// Backward of ``headForward(_:)``: writes `ws.dNorm` (rows, C) — 0 at unscored rows — and adds
    /// the head gradient into the rows S of `gradients`' lm head.
    func headBackward(_ dLogits: UnsafePointer<Float>, _ ws: TrainingWorkspace) {
        let C = config.hiddenSize, Vh = ws.headWidth
        let w = ws.headIDs == nil ? UnsafePointer(weights.lmHead) : UnsafePointer(ws.headRows.pointer)
        let dW: UnsafeMutablePointer<Float>
        if ws.headIDs != nil {
            if ws.dHeadRows.count != Vh * C { ws.dHeadRows = Tensor(zeros: [Vh, C]) }
            ws.dHeadRows.fill(0)
            dW = ws.dHeadRows.pointer
        } else {
            dW = gradientPointers.lmHead
        }
        if ws.scoredRuns != nil { ws.dNorm.fill(0) }
        for run in headRuns(ws) {
            linearBackward(ws.dNorm.pointer + run.lowerBound * C, dW, nil, dLogits + run.lowerBound * Vh,
                           ws.normF.pointer + run.lowerBound * C, w, rows: run.count, inDim: C, outDim: Vh,
                           accumulateInput: false)
        }
        if let ids = ws.headIDs {
            let g = gradientPointers.lmHead, src = ws.dHeadRows.pointer
            parallelFor(ids.count, minChunk: 256) { r in
                for j in r { Elementwise.axpy(y: g + Int(ids[j]) * C, alpha: 1, x: src + j * C, count: C) }
            }
        }
    }
}

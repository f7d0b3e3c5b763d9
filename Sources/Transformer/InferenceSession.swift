import Tensor

/// KV-cache inference for one sequence: `prefill`, `append` (logits for every appended position —
/// how a speculative decoder verifies gamma + 1 tokens in one call) and `truncate(to:)`, an O(1)
/// rollback that only moves the length counter (later appends overwrite the stale rows).
///
/// The cache is preallocated: keys and values of shape (L, maxT, NKV·HS). Scratch buffers grow to
/// the largest append seen and are reused, so steady-state decoding allocates nothing; the
/// logits buffer grows to the most rows whose logits were asked for (one row when decoding
/// token by token: 192 KB for a vocabulary of 49,152, not 16 rows' 3 MB).
///
/// **Batch invariance.** Appends of up to ``batchInvariantRows`` tokens compute every linear layer
/// with the project's row kernel (each output element is one fixed-order dot product, whatever
/// the number of rows or threads), norms and attention row by row. So appending k tokens at once
/// gives bitwise the same logits as k single appends, and speculative verification can never
/// disagree with plain decoding through float rounding.
///
/// **Native weights.** When the model holds matrices in their GGUF types (``TransformerModel/native``),
/// those linears use the quantised row kernels (``QuantizedMatrix/apply(m:input:lda:out:ldc:accumulate:scratch:)``)
/// for every append size — they are batch-invariant for any row count — and the token embedding
/// dequantises the looked-up rows.
public final class InferenceSession {
    public let model: TransformerModel
    /// Capacity in positions.
    public let maxT: Int
    /// Number of positions currently in the cache.
    public internal(set) var length = 0
    /// Appends of at most this many tokens are bitwise batch-invariant (see type docs); longer
    /// appends (prompt prefill) use sgemm.
    public static let batchInvariantRows = 16

    let kCache: Tensor, vCache: Tensor   // (L, maxT, NKV·HS)
    /// RoPE for positions 0..<maxT (nil without RoPE).
    let rope: RopeTable?
    private var capacityRows = 0, capacityPast = 0
    private var x = Tensor(zeros: [0]), norm = Tensor(zeros: [0]), qkv = Tensor(zeros: [0]), attn = Tensor(zeros: [0])
    private var up = Tensor(zeros: [0]), act = Tensor(zeros: [0]), scratch = Tensor(zeros: [0])
    private(set) var logitBuffer = Tensor(zeros: [0])
    private var normStat = Tensor(zeros: [0]), normStat2 = Tensor(zeros: [0])
    /// Token ids of the rows of the next forward pass.
    var ids = [Int32]()
    /// The sessions the rows of the next forward pass extend, with their row counts, in row
    /// order (this session alone for ``append(_:)``; several for ``appendEach(_:tokens:)``).
    var segments: [(session: InferenceSession, rows: Int)] = []
    /// A trimmed output layer (see ``restrictOutput(to:excludedLogit:)``): the kept rows of the
    /// head gathered into one (K, C) matrix, their ids, and the scores of the last append (n, K).
    private var headRows: Tensor?
    private(set) var headIDs: [Int32] = []
    /// ``headIDs`` ascending when the excluded logit's probability is exactly 0 (≤ −10²⁰), else nil
    /// (``DecodingModel/outputIDs``).
    private(set) var sortedOutputIDs: [Int32]?
    private var headLogits = Tensor(zeros: [0])
    /// The trimmed head of a native model: the kept rows' bytes in their file type.
    private var headQuant: QuantizedMatrix?
    /// Quantised activations of the native linears (reused).
    private var activationScratch: [UInt8] = []
    private var excludedLogit: Float = 0
    /// Rows of the last append whose final hidden states are in `norm` (0 after ``extend(_:)``).
    private var hiddenRows = 0
    /// The feature input of the append under way (``append(_:features:staleness:)``), nil otherwise.
    private var pendingFeatures: (rows: UnsafePointer<Float>, staleness: UnsafePointer<Int32>)?

    /// A session with room for `maxT` positions (default: the model's context).
    public init(model: TransformerModel, maxT: Int? = nil) {
        self.model = model
        let c = model.config
        self.maxT = min(maxT ?? c.maxPositions, c.maxPositions)
        kCache = Tensor(zeros: [c.numLayers, self.maxT, c.numKVHeads * c.headSize])
        vCache = Tensor(zeros: [c.numLayers, self.maxT, c.numKVHeads * c.headSize])
        rope = model.ropeTable(positions: self.maxT)
    }

    /// Restricts the output layer to the vocabulary rows `ids` (a draft's trimmed head): later
    /// appends compute only those K logits — reading K × C head weights instead of V × C — and
    /// write `excludedLogit` for every other token. Each kept logit is the same fixed-order dot
    /// product as without the restriction, so kept logits are bitwise unchanged. `nil` restores
    /// the full head. The gathered rows are a copy (K × C floats).
    /// - Precondition: ids are unique and inside the vocabulary.
    public func restrictOutput(to ids: [Int]?, excludedLogit: Float = -1e30) {
        guard let ids else { headRows = nil; headQuant = nil; headIDs = []; sortedOutputIDs = nil; return }
        let c = model.config, C = c.hiddenSize
        precondition(!ids.isEmpty && Set(ids).count == ids.count && ids.allSatisfy { $0 >= 0 && $0 < c.vocabSize },
                     "restrictOutput: ids must be unique and inside the vocabulary of \(c.vocabSize)")
        if let head = model.native?.head {
            // The head's scales were checked when it was repacked at load; rows of a type that is not
            // repacked are not checked and cannot throw here.
            guard let packed = try? head.gathering(rows: ids).interleaved() else {
                preconditionFailure("restrictOutput: the output layer's scales passed the load-time check but not the repack")
            }
            headQuant = packed
            headRows = Tensor(zeros: [0])
        } else {
            let rows = Tensor(zeros: [ids.count, C])
            for (i, id) in ids.enumerated() { (rows.pointer + i * C).update(from: model.weights.lmHead + id * C, count: C) }
            headRows = rows; headQuant = nil
        }
        headIDs = ids.map(Int32.init); self.excludedLogit = excludedLogit
        sortedOutputIDs = excludedLogit <= -1e20 ? headIDs.sorted() : nil
        headLogits = Tensor(zeros: [0])
    }

    /// The final-normed hidden states h of the last ``append(_:)``, shape (n, C): the output
    /// layer's input (logits = h · W_headᵀ). A view that the next append overwrites; nil before
    /// any append and after ``extend(_:)`` (which stops before the final norm).
    public var lastHiddenStates: Tensor? {
        hiddenRows > 0 ? norm.rows(0..<hiddenRows) : nil
    }

    /// Rows of the output layer one step reads: K when restricted, else V.
    public var outputRows: Int { headRows == nil ? model.config.vocabSize : headIDs.count }

    /// Forgets everything (length 0).
    public func reset() { length = 0 }

    /// Rolls back to the first `n` positions. O(1).
    public func truncate(to n: Int) {
        precondition(n >= 0 && n <= length, "truncate(to: \(n)) with \(length) positions in the cache")
        length = n
    }

    /// Resets, then appends the prompt; returns the logits of the last position (V). Every
    /// position's logits are computed; decoders use ``extend(_:)`` for all but the last token.
    @discardableResult
    public func prefill(_ prompt: [Int]) throws -> Tensor {
        reset()
        let all = try append(prompt)
        return all.row(all.shape[0] - 1)
    }

    /// Grows the scratch buffers to `n` rows attending over up to `past` cached positions.
    func ensureCapacity(_ n: Int, past: Int) {
        if n <= capacityRows && past <= capacityPast { return }
        let c = model.config, C = c.hiddenSize, F = c.intermediateSize
        capacityRows = max(n, 16, capacityRows); capacityPast = max(past, capacityPast)
        let r = capacityRows
        x = Tensor(zeros: [r, C]); norm = Tensor(zeros: [r, C]); qkv = Tensor(zeros: [r, c.qkvWidth])
        attn = Tensor(zeros: [r, c.numHeads * c.headSize])
        up = Tensor(zeros: [r, c.usesSwiGLU ? 2 * F : F]); act = Tensor(zeros: [r, F])
        normStat = Tensor(zeros: [r]); normStat2 = Tensor(zeros: [r])
        scratch = Tensor(zeros: [Attention.scratchCount(n: r, past: capacityPast, NH: c.numHeads)])
        ids = [Int32](repeating: 0, count: r)
    }

    /// Appends `tokens` at positions `length..<length+n` and returns their logits, shape (n, V):
    /// row i predicts the token after `tokens[i]`. The returned tensor is a view into a buffer
    /// that the next call overwrites.
    /// - Throws: when the cache would overflow or a token id is outside the vocabulary.
    public func append(_ tokens: [Int]) throws -> Tensor {
        try append(tokens, logits: true)
        return logitBuffer.rows(0..<tokens.count)
    }

    /// ``append(_:)`` for a draft that reads the target's hidden states (``FeatureInput``): row i of
    /// `features` (n, Cf) is the target state token i reads, `staleness[i]` its age (0: none).
    /// - Precondition: the model has `feature_proj.weight`; `staleness` has one entry per token.
    public func append(_ tokens: [Int], features: UnsafePointer<Float>, staleness: [Int32]) throws -> Tensor {
        precondition(model.weights.featureProj != nil && staleness.count == tokens.count,
                     "append(features:): the model has no feature input, or \(staleness.count) staleness values for \(tokens.count) tokens")
        try staleness.withUnsafeBufferPointer { d in
            pendingFeatures = (features, d.baseAddress!)
            defer { pendingFeatures = nil }
            try append(tokens, logits: true)
        }
        return logitBuffer.rows(0..<tokens.count)
    }

    /// Appends `tokens` without computing their logits: the output layer (V·C multiply-adds a
    /// position, a fifth of SmolLM2's) is skipped. For a prompt's prefix, whose logits the decoders
    /// never read; the cache ends bitwise as after ``append(_:)`` (the output layer feeds nothing back).
    public func extend(_ tokens: [Int]) throws { try append(tokens, logits: false) }

    private func append(_ tokens: [Int], logits: Bool) throws {
        let c = model.config, n = tokens.count
        guard n > 0 else { throw ModelError.shape("append: no tokens") }
        guard length + n <= maxT else {
            throw ModelError.shape("append: \(length) cached + \(n) new positions exceed the context of \(maxT); shorten the prompt or the generation")
        }
        for t in tokens where t < 0 || t >= c.vocabSize {
            throw ModelError.shape("token id \(t) is outside the model's vocabulary of \(c.vocabSize)")
        }
        ensureCapacity(n, past: maxT)
        for i in 0..<n { ids[i] = Int32(tokens[i]) }
        segments.append((self, n))
        defer { segments.removeAll(keepingCapacity: true) }
        run(logits: logits)
        hiddenRows = logits ? n : 0
    }

    /// `out (n, N) = input (n, K) · Wᵀ (+ bias)` through the batch-invariant row kernel when n is small.
    @inline(__always)
    private func linear(_ out: UnsafeMutablePointer<Float>, _ input: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                        _ bias: UnsafePointer<Float>?, n: Int, inDim: Int, outDim: Int, accumulate: Bool,
                        native: QuantizedMatrix? = nil) {
        if let native {
            native.apply(m: n, input: input, lda: inDim, out: out, ldc: outDim, accumulate: accumulate, scratch: &activationScratch)
        } else if n <= InferenceSession.batchInvariantRows {
            Matmul.smallRows(m: n, n: outDim, k: inDim, a: input, lda: inDim, w: w, ldw: inDim,
                             accumulate: accumulate, c: out, ldc: outDim)
        } else {
            Matmul.gemm(transA: false, transB: true, m: n, n: outDim, k: inDim, a: input, lda: inDim, b: w, ldb: inDim,
                        accumulate: accumulate, c: out, ldc: outDim)
        }
        if let bias { Elementwise.addRowVector(out, vector: bias, rows: n, cols: outDim) }
    }

    /// The forward pass of the rows of ``segments`` (ids in ``ids``): every linear layer, norm and
    /// the output layer run over all rows at once; positions, the KV-cache writes and attention
    /// run per segment, against that segment's session. Each segment's length grows by its rows.
    /// Logits land in this session's `logitBuffer`.
    func run(logits: Bool = true) {
        let m = model, c = m.config, w = m.weights, C = c.hiddenSize
        let NH = c.numHeads, NKV = c.numKVHeads, HS = c.headSize, QKV = c.qkvWidth, A = NH * HS, KV = NKV * HS
        let F = c.intermediateSize, upW = c.usesSwiGLU ? 2 * F : F
        let n = segments.reduce(0) { $0 + $1.rows }
        let xp = x.pointer, np = norm.pointer, qp = qkv.pointer, ap = attn.pointer
        let nw = m.native
        if let embed = nw?.embed {
            for i in 0..<n { embed.dequantizeRow(Int(ids[i]), into: xp + i * C) }
        } else {
            ids.withUnsafeBufferPointer { Embedding.forward(out: xp, ids: $0.baseAddress!, table: w.embed, rows: n, C: C) }
        }
        if let pos = w.posEmbed {
            var r = 0
            for (session, rows) in segments {
                Elementwise.add(out: xp + r * C, a: xp + r * C, b: pos + session.length * C, count: rows * C)
                r += rows
            }
        }
        if let W = w.featureProj, let pf = pendingFeatures {
            precondition(segments.count == 1, "a feature input goes with one session's append")
            FeatureInput.add(into: xp, features: pf.rows, staleness: pf.staleness, rows: n, W: W, C: C, Cf: c.featureWidth, D: c.featureStaleness)
        }
        let scale = 1 / Float(HS).squareRoot()
        for l in 0..<c.numLayers {
            let lw = w.layers[l], nl = nw?.layers[l]
            m.normForward(np, normStat.pointer, normStat2.pointer, xp, lw.norm1W, lw.norm1B, rows: n)
            linear(qp, np, lw.qkvW, lw.qkvB, n: n, inDim: C, outDim: QKV, accumulate: false, native: nl?.qkv)
            var r = 0
            for (session, rows) in segments {
                let past = session.length, q = qp + r * QKV, k = q + A, v = k + KV
                if let rope = session.rope {
                    Rope.forward(q, stride: QKV, rows: rows, start: past, period: rows, heads: NH, HS: HS, table: rope)
                    Rope.forward(k, stride: QKV, rows: rows, start: past, period: rows, heads: NKV, HS: HS, table: rope)
                }
                let kc = session.kCache.pointer + l * session.maxT * KV, vc = session.vCache.pointer + l * session.maxT * KV
                for i in 0..<rows {
                    (kc + (past + i) * KV).update(from: k + i * QKV, count: KV)
                    (vc + (past + i) * KV).update(from: v + i * QKV, count: KV)
                }
                Attention.forwardCached(out: ap + r * A, q: q, qStride: QKV, kCache: kc, vCache: vc, cacheStride: KV,
                                        past: past, n: rows, NH: NH, NKV: NKV, HS: HS, scale: scale, scratch: scratch.pointer)
                r += rows
            }
            if c.parallelResidual {
                // x ← x + attn·Woᵀ + mlp(norm2(x)): the MLP reads norm2 of the layer input, so
                // normalise before x changes.
                m.normForward(np, normStat.pointer, normStat2.pointer, xp, lw.norm2W, lw.norm2B, rows: n)
                linear(xp, ap, lw.outW, lw.outB, n: n, inDim: A, outDim: C, accumulate: true, native: nl?.attnOut)
            } else {
                linear(xp, ap, lw.outW, lw.outB, n: n, inDim: A, outDim: C, accumulate: true, native: nl?.attnOut)
                m.normForward(np, normStat.pointer, normStat2.pointer, xp, lw.norm2W, lw.norm2B, rows: n)
            }
            linear(up.pointer, np, lw.upW, lw.upB, n: n, inDim: C, outDim: upW, accumulate: false, native: nl?.mlpUp)
            m.activationForward(act.pointer, up.pointer, rows: n)
            linear(xp, act.pointer, lw.downW, lw.downB, n: n, inDim: F, outDim: C, accumulate: true, native: nl?.mlpDown)
        }
        defer { for (session, rows) in segments { session.length += rows } }
        guard logits else { return }
        if logitBuffer.shape[0] < n { logitBuffer = Tensor(zeros: [n, c.vocabSize]) }
        m.normForward(np, normStat.pointer, normStat2.pointer, xp, w.finalNormW, w.finalNormB, rows: n)
        if let headRows {
            let K = headIDs.count, V = c.vocabSize
            if headLogits.count < n * K { headLogits = Tensor(zeros: [max(n, 16) * K]) }
            linear(headLogits.pointer, np, headRows.pointer, nil, n: n, inDim: C, outDim: K, accumulate: false, native: headQuant)
            for r in 0..<n {
                let row = logitBuffer.pointer + r * V, src = headLogits.pointer + r * K
                row.update(repeating: excludedLogit, count: V)
                for j in 0..<K { row[Int(headIDs[j])] = src[j] }
            }
        } else {
            linear(logitBuffer.pointer, np, w.lmHead, nil, n: n, inDim: C, outDim: c.vocabSize, accumulate: false, native: nw?.head)
        }
    }
}

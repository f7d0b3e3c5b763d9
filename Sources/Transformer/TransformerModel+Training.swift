import Tensor

/// Training forward and backward over a (B, T) batch: llm.c style, each layer's backward mirrors
/// its forward; the model-level backward walks the layers in reverse.
extension TransformerModel {
    // MARK: Building blocks

    /// `out (rows, N) (+)= input (rows, K) · Wᵀ + bias`, W stored (N, K).
    @inline(__always)
    func linearForward(_ out: UnsafeMutablePointer<Float>, _ input: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                       _ bias: UnsafePointer<Float>?, rows: Int, inDim: Int, outDim: Int, accumulate: Bool = false) {
        Matmul.gemm(transA: false, transB: true, m: rows, n: outDim, k: inDim, a: input, lda: inDim, b: w, ldb: inDim,
                    accumulate: accumulate, c: out, ldc: outDim)
        if let bias { Elementwise.addRowVector(out, vector: bias, rows: rows, cols: outDim) }
    }

    /// Backward of ``linearForward``: `dInput (+)= dOut · W`, `dW += dOutᵀ · input`, `dBias += Σ_rows dOut`.
    @inline(__always)
    func linearBackward(_ dInput: UnsafeMutablePointer<Float>, _ dW: UnsafeMutablePointer<Float>,
                        _ dBias: UnsafeMutablePointer<Float>?, _ dOut: UnsafePointer<Float>,
                        _ input: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                        rows: Int, inDim: Int, outDim: Int, accumulateInput: Bool) {
        Matmul.gemm(transA: false, transB: false, m: rows, n: inDim, k: outDim, a: dOut, lda: outDim, b: w, ldb: inDim,
                    accumulate: accumulateInput, c: dInput, ldc: inDim)
        Matmul.gemm(transA: true, transB: false, m: outDim, n: inDim, k: rows, a: dOut, lda: outDim, b: input, ldb: inDim,
                    accumulate: true, c: dW, ldc: inDim)
        if let dBias { Elementwise.sumRows(into: dBias, input: dOut, rows: rows, cols: outDim) }
    }

    @inline(__always)
    func normForward(_ out: UnsafeMutablePointer<Float>, _ mean: UnsafeMutablePointer<Float>, _ rstd: UnsafeMutablePointer<Float>,
                     _ input: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>?, rows: Int) {
        let C = config.hiddenSize
        if config.usesRMSNorm {
            RMSNorm.forward(out: out, rstd: rstd, input: input, weight: w, rows: rows, C: C, eps: config.normEps)
        } else {
            LayerNorm.forward(out: out, mean: mean, rstd: rstd, input: input, weight: w, bias: b, rows: rows, C: C, eps: config.normEps)
        }
    }

    @inline(__always)
    func normBackward(_ dInput: UnsafeMutablePointer<Float>, _ dW: UnsafeMutablePointer<Float>, _ dB: UnsafeMutablePointer<Float>?,
                      _ dOut: UnsafePointer<Float>, _ input: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                      _ mean: UnsafePointer<Float>, _ rstd: UnsafePointer<Float>, rows: Int) {
        let C = config.hiddenSize
        if config.usesRMSNorm {
            RMSNorm.backward(dInput: dInput, dWeight: dW, dOut: dOut, input: input, weight: w, rstd: rstd, rows: rows, C: C)
        } else {
            LayerNorm.backward(dInput: dInput, dWeight: dW, dBias: dB, dOut: dOut, input: input, weight: w,
                               mean: mean, rstd: rstd, rows: rows, C: C)
        }
    }

    @inline(__always)
    func activationForward(_ act: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, rows: Int) {
        let F = config.intermediateSize
        if config.usesSwiGLU { Activation.swigluForward(out: act, gateUp: up, rows: rows, F: F) }
        else if config.geluIsTanh { Activation.geluTanhForward(out: act, input: up, count: rows * F) }
        else { Activation.geluErfForward(out: act, input: up, count: rows * F) }
    }

    @inline(__always)
    func activationBackward(_ dUp: UnsafeMutablePointer<Float>, _ dAct: UnsafePointer<Float>, _ up: UnsafePointer<Float>, rows: Int) {
        let F = config.intermediateSize
        if config.usesSwiGLU { Activation.swigluBackward(dGateUp: dUp, dOut: dAct, gateUp: up, rows: rows, F: F) }
        else if config.geluIsTanh { Activation.geluTanhBackward(dInput: dUp, dOut: dAct, input: up, count: rows * F) }
        else { Activation.geluErfBackward(dInput: dUp, dOut: dAct, input: up, count: rows * F) }
    }

    // MARK: Forward

    /// Forward over `tokens` (B·T ids, row-major (B, T)); fills `ws.logits` (B, T, Vh) and the saved
    /// activations the backward needs. Token ids must be in 0..<V.
    public func forward(tokens: [Int32], workspace ws: TrainingWorkspace) {
        materializeFloatWeights()
        let c = config, B = ws.B, T = ws.T, rows = ws.rows, C = c.hiddenSize
        let rope = ropeTable(positions: T)
        precondition(tokens.count == rows, "forward: \(tokens.count) tokens for a (\(B), \(T)) workspace")
        let NH = c.numHeads, NKV = c.numKVHeads, HS = c.headSize, QKV = c.qkvWidth, A = NH * HS
        let F = c.intermediateSize, up = c.usesSwiGLU ? 2 * F : F
        let w = weights
        for i in 0..<rows {
            precondition(tokens[i] >= 0 && Int(tokens[i]) < c.vocabSize, "token id \(tokens[i]) outside the vocabulary of \(c.vocabSize)")
            ws.tokens[i] = tokens[i]
        }
        Embedding.forward(out: ws.x0.pointer, ids: ws.tokens, table: w.embed, rows: rows, C: C)
        if let pos = w.posEmbed {
            for b in 0..<B { Elementwise.add(out: ws.x0.pointer + b * T * C, a: ws.x0.pointer + b * T * C, b: pos, count: T * C) }
        }
        if let W = w.featureProj, let fs = ws.features {
            fs.staleness.withUnsafeBufferPointer {
                FeatureInput.addGrouped(into: ws.x0.pointer, features: fs.input.pointer, staleness: $0.baseAddress!, rows: rows,
                                        W: W, C: C, Cf: c.featureWidth, D: c.featureStaleness, scratch: fs)
            }
        }
        let scale = 1 / Float(HS).squareRoot()
        var input = ws.x0.pointer
        for l in 0..<c.numLayers {
            let a = ws.layers[l], lw = w.layers[l]
            normForward(a.norm1.pointer, a.mean1.pointer, a.rstd1.pointer, input, lw.norm1W, lw.norm1B, rows: rows)
            linearForward(a.qkv.pointer, a.norm1.pointer, lw.qkvW, lw.qkvB, rows: rows, inDim: C, outDim: QKV)
            let q = a.qkv.pointer, k = q + NH * HS, v = k + NKV * HS
            if let rope {
                Rope.forward(q, stride: QKV, rows: rows, start: 0, period: T, heads: NH, HS: HS, table: rope)
                Rope.forward(k, stride: QKV, rows: rows, start: 0, period: T, heads: NKV, HS: HS, table: rope)
            }
            Attention.forward(out: a.attn.pointer, probs: a.probs.pointer, q: q, k: k, v: v, stride: QKV,
                              B: B, T: T, NH: NH, NKV: NKV, HS: HS, scale: scale)
            let normInput: UnsafeMutablePointer<Float>
            if c.parallelResidual {
                a.out.pointer.update(from: input, count: rows * C)
                linearForward(a.out.pointer, a.attn.pointer, lw.outW, lw.outB, rows: rows, inDim: A, outDim: C, accumulate: true)
                normInput = input
            } else {
                a.mid.pointer.update(from: input, count: rows * C)
                linearForward(a.mid.pointer, a.attn.pointer, lw.outW, lw.outB, rows: rows, inDim: A, outDim: C, accumulate: true)
                a.out.pointer.update(from: a.mid.pointer, count: rows * C)
                normInput = a.mid.pointer
            }
            normForward(a.norm2.pointer, a.mean2.pointer, a.rstd2.pointer, normInput, lw.norm2W, lw.norm2B, rows: rows)
            linearForward(a.up.pointer, a.norm2.pointer, lw.upW, lw.upB, rows: rows, inDim: C, outDim: up)
            activationForward(a.act.pointer, a.up.pointer, rows: rows)
            linearForward(a.out.pointer, a.act.pointer, lw.downW, lw.downB, rows: rows, inDim: F, outDim: C, accumulate: true)
            input = a.out.pointer
        }
        normForward(ws.normF.pointer, ws.meanF.pointer, ws.rstdF.pointer, input, w.finalNormW, w.finalNormB, rows: rows)
        headForward(ws)
    }

    // MARK: Backward

    /// Backward from `dLogits` (B, T, Vh) through the activations of the last ``forward(tokens:workspace:)``;
    /// accumulates (+=) into ``gradients`` (zero them first with `gradients.zero()`).
    public func backward(dLogits: UnsafePointer<Float>, workspace ws: TrainingWorkspace) {
        let c = config, B = ws.B, T = ws.T, rows = ws.rows, C = c.hiddenSize
        let rope = ropeTable(positions: T)
        let NH = c.numHeads, NKV = c.numKVHeads, HS = c.headSize, QKV = c.qkvWidth, A = NH * HS
        let F = c.intermediateSize, up = c.usesSwiGLU ? 2 * F : F
        let w = weights, g = gradientPointers
        let scale = 1 / Float(HS).squareRoot()
        let lastOut = c.numLayers > 0 ? ws.layers[c.numLayers - 1].out.pointer : ws.x0.pointer
        // Output projection and final norm.
        headBackward(dLogits, ws)
        var dRes = ws.dResA, dNext = ws.dResB
        dRes.fill(0)
        normBackward(dRes.pointer, g.finalNormW, g.finalNormB, ws.dNorm.pointer, lastOut, w.finalNormW,
                     ws.meanF.pointer, ws.rstdF.pointer, rows: rows)
        // Layers in reverse. dRes holds dL/d(out of layer l).
        for l in stride(from: c.numLayers - 1, through: 0, by: -1) {
            let a = ws.layers[l], lw = w.layers[l], lg = g.layers[l]
            let input = l == 0 ? ws.x0.pointer : ws.layers[l - 1].out.pointer
            // MLP branch: out = base + act · Wdownᵀ + bdown.
            linearBackward(ws.dAct.pointer, lg.downW, lg.downB, dRes.pointer, a.act.pointer, lw.downW,
                           rows: rows, inDim: F, outDim: C, accumulateInput: false)
            ws.dUp.fill(0)
            activationBackward(ws.dUp.pointer, ws.dAct.pointer, a.up.pointer, rows: rows)
            linearBackward(ws.dNorm.pointer, lg.upW, lg.upB, ws.dUp.pointer, a.norm2.pointer, lw.upW,
                           rows: rows, inDim: C, outDim: up, accumulateInput: false)
            // dNext accumulates dL/d(input of layer l).
            dNext.pointer.update(from: dRes.pointer, count: rows * C)
            let dAttnBranch: UnsafePointer<Float>
            if c.parallelResidual {
                normBackward(dNext.pointer, lg.norm2W, lg.norm2B, ws.dNorm.pointer, input, lw.norm2W,
                             a.mean2.pointer, a.rstd2.pointer, rows: rows)
                dAttnBranch = UnsafePointer(dRes.pointer)
            } else {
                // dNext = dL/d(mid) = dRes + norm2 backward; the attention residual passes it on unchanged.
                normBackward(dNext.pointer, lg.norm2W, lg.norm2B, ws.dNorm.pointer, a.mid.pointer, lw.norm2W,
                             a.mean2.pointer, a.rstd2.pointer, rows: rows)
                // Consumed by the attention branch before norm1's backward adds to dNext below.
                dAttnBranch = UnsafePointer(dNext.pointer)
            }
            // Attention branch: base + attn · Woutᵀ + bout.
            linearBackward(ws.dAttn.pointer, lg.outW, lg.outB, dAttnBranch, a.attn.pointer, lw.outW,
                           rows: rows, inDim: A, outDim: C, accumulateInput: false)
            ws.dQKV.fill(0)
            let q = a.qkv.pointer, k = q + NH * HS, v = k + NKV * HS
            let dq = ws.dQKV.pointer, dk = dq + NH * HS, dv = dk + NKV * HS
            Attention.backward(dQ: dq, dK: dk, dV: dv, dOut: ws.dAttn.pointer, probs: a.probs.pointer, q: q, k: k, v: v,
                               stride: QKV, B: B, T: T, NH: NH, NKV: NKV, HS: HS, scale: scale)
            if let rope {
                Rope.backward(dq, stride: QKV, rows: rows, start: 0, period: T, heads: NH, HS: HS, table: rope)
                Rope.backward(dk, stride: QKV, rows: rows, start: 0, period: T, heads: NKV, HS: HS, table: rope)
            }
            linearBackward(ws.dNorm.pointer, lg.qkvW, lg.qkvB, ws.dQKV.pointer, a.norm1.pointer, lw.qkvW,
                           rows: rows, inDim: C, outDim: QKV, accumulateInput: false)
            normBackward(dNext.pointer, lg.norm1W, lg.norm1B, ws.dNorm.pointer, input, lw.norm1W,
                         a.mean1.pointer, a.rstd1.pointer, rows: rows)
            swap(&dRes, &dNext)
        }
        // Embeddings.
        Embedding.backward(dTable: g.embed, dOut: dRes.pointer, ids: ws.tokens, rows: rows, C: C)
        if let dW = g.featureProj, let fs = ws.features {
            fs.staleness.withUnsafeBufferPointer {
                FeatureInput.gradientGrouped(dW: dW, dX: dRes.pointer, features: fs.input.pointer, staleness: $0.baseAddress!,
                                             rows: rows, C: C, Cf: c.featureWidth, D: c.featureStaleness, scratch: fs)
            }
        }
        if let dPos = g.posEmbed {
            for b in 0..<B { Elementwise.axpy(y: dPos, alpha: 1, x: dRes.pointer + b * T * C, count: T * C) }
        }
    }
}

import Foundation

/// Causal multi-head self-attention with grouped key/value heads (GQA; Ainslie et al. 2023):
/// query head `h` reads key/value head `g = h / (NH / NKV)`. NKV = NH is ordinary multi-head
/// attention, NKV = 1 multi-query attention.
///
/// For batch row `b`, head `h` and positions `t, j`:
///
///     s[t, j] = scale · q[b, t, h] · k[b, j, g]          (j ≤ t)
///     P[t, ·] = softmax(s[t, 0...t]),  P[t, j] = 0 for j > t
///     out[b, t, h] = Σ_j P[t, j] · v[b, j, g]
///
/// Layout: `q`, `k`, `v` have `B·T` rows at row stride `stride` (usually views into one fused
/// qkv buffer of width `(NH + 2·NKV)·HS`: `q = base`, `k = base + NH·HS`, `v = base + (NH+NKV)·HS`);
/// head `h` of `q` occupies columns `h·HS..<(h+1)·HS` of its row, KV head `g` columns
/// `g·HS..<(g+1)·HS` of `k` and `v`. `out` is `(B, T, NH·HS)` contiguous; `probs` is
/// `(B, NH, T, T)`.
///
/// The fast paths run the per-head products through ``Matmul/gemm(transA:transB:m:n:k:alpha:a:lda:b:ldb:accumulate:c:ldc:)``
/// (OpenBLAS threads inside each product) in blocks of ``blockRows`` query rows, so that a block
/// only multiplies the keys it can see (≈ 5/8 of the full `T×T` work at T = 256), and run the
/// softmax over all rows of all heads in one ``parallelFor(_:minChunk:_:)``. Measured on the
/// training shape (B 16, T 256, NH 6, HS 64, one thread): ≈ 35 ms forward against ≈ 80–120 ms for
/// SSE loops parallel over (b, h), which cannot match OpenBLAS's AVX2/FMA kernels; block sizes
/// 32/64/128/256 gave 39/36/41/43 ms forward, 40/42/50/69 ms backward.
public enum Attention {
    /// Query rows per product in the causal blocking: rows `r0..<r0+blockRows` see keys `0..<r0+blockRows`.
    public static let blockRows = 64

    /// Forward pass; see the type's documentation for the math and layout.
    /// - Parameters:
    ///   - out: `(B, T, NH·HS)` output, overwritten.
    ///   - probs: `(B, NH, T, T)` saved softmax probabilities, overwritten (upper triangle 0).
    ///   - q, k, v: inputs, `B·T` rows at row stride `stride`.
    ///   - stride: row stride of `q`, `k`, `v` in elements (≥ NH·HS).
    ///   - B, T, NH, NKV, HS: batch, sequence length, query heads, key/value heads (dividing NH), head size.
    ///   - scale: factor on the dot products, usually `1/sqrt(HS)`.
    public static func forward(out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
                               q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, stride: Int,
                               B: Int, T: Int, NH: Int, NKV: Int, HS: Int, scale: Float) {
        checkDimensions(stride: stride, B: B, T: T, NH: NH, NKV: NKV, HS: HS)
        if B == 0 || T == 0 || NH == 0 { return }
        let group = NH / NKV, C = NH * HS
        // 1. Raw scores q·kᵀ of each block of query rows against the keys it can see.
        for b in 0..<B {
            for h in 0..<NH {
                let qh = q + b * T * stride + h * HS, kg = k + b * T * stride + (h / group) * HS
                let P = probs + (b * NH + h) * T * T
                forEachBlock(T) { r0, r1 in
                    Matmul.gemm(transA: false, transB: true, m: r1 - r0, n: r1, k: HS, a: qh + r0 * stride, lda: stride,
                                b: kg, ldb: stride, accumulate: false, c: P + r0 * T, ldc: T)
                }
            }
        }
        // 2. Causal softmax of scale·scores, every row of every head in one parallel loop.
        let rows = B * NH * T
        parallelFor(rows, minChunk: max(1, 32_768 / T)) { range in
            for row in range { causalSoftmaxRow(probs + row * T, visible: row % T + 1, count: T, scale: scale) }
        }
        // 3. out = P · v, again only over the visible keys of each block.
        for b in 0..<B {
            for h in 0..<NH {
                let vg = v + b * T * stride + (h / group) * HS
                let P = probs + (b * NH + h) * T * T
                let oh = out + b * T * C + h * HS
                forEachBlock(T) { r0, r1 in
                    Matmul.gemm(transA: false, transB: false, m: r1 - r0, n: HS, k: r1, a: P + r0 * T, lda: T,
                                b: vg, ldb: stride, accumulate: false, c: oh + r0 * C, ldc: C)
                }
            }
        }
    }

    /// Backward pass: **adds** dL/dq, dL/dk, dL/dv to `dQ`, `dK`, `dV` given dL/d`out`.
    ///
    ///     dV[j] += Σ_t P[t, j] · dOut[t]
    ///     dP[t, j] = dOut[t] · v[j],   dS[t, j] = P[t, j] · (dP[t, j] − Σ_i P[t, i] dP[t, i])
    ///     dQ[t] += scale · Σ_j dS[t, j] · k[j],   dK[j] += scale · Σ_t dS[t, j] · q[t]
    ///
    /// Heads sharing a KV head all add into its `dK`, `dV` columns.
    /// - Parameters:
    ///   - dQ, dK, dV: gradients with the same layout and row stride as `q`, `k`, `v` (typically
    ///     views into one fused dQKV buffer); accumulated into.
    ///   - dOut: `(B, T, NH·HS)` gradient of the output.
    ///   - probs: `(B, NH, T, T)` probabilities saved by ``forward(out:probs:q:k:v:stride:B:T:NH:NKV:HS:scale:)``.
    ///   - q, k, v, stride, B, T, NH, NKV, HS, scale: as in the forward pass.
    public static func backward(dQ: UnsafeMutablePointer<Float>, dK: UnsafeMutablePointer<Float>, dV: UnsafeMutablePointer<Float>,
                                dOut: UnsafePointer<Float>, probs: UnsafePointer<Float>,
                                q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, stride: Int,
                                B: Int, T: Int, NH: Int, NKV: Int, HS: Int, scale: Float) {
        checkDimensions(stride: stride, B: B, T: T, NH: NH, NKV: NKV, HS: HS)
        if B == 0 || T == 0 || NH == 0 { return }
        let group = NH / NKV, C = NH * HS
        let heads = B * NH
        // dS of a chunk of heads at a time: about 4 MB of scratch whatever B·NH is.
        let chunk = max(1, min(heads, (1 << 20) / (T * T)))
        let dS = UnsafeMutablePointer<Float>.allocate(capacity: chunk * T * T)
        defer { dS.deallocate() }
        for first in Swift.stride(from: 0, to: heads, by: chunk) {
            let last = min(heads, first + chunk)
            // dP = dOut · vᵀ over the visible keys of each block.
            for item in first..<last {
                let b = item / NH, h = item % NH
                let vg = v + b * T * stride + (h / group) * HS
                let dOh = dOut + b * T * C + h * HS
                let dSh = dS + (item - first) * T * T
                forEachBlock(T) { r0, r1 in
                    Matmul.gemm(transA: false, transB: true, m: r1 - r0, n: r1, k: HS, a: dOh + r0 * C, lda: C,
                                b: vg, ldb: stride, accumulate: false, c: dSh + r0 * T, ldc: T)
                }
            }
            // dS = P ⊙ (dP − rowsum(P ⊙ dP)), rows in parallel.
            let rows = (last - first) * T
            parallelFor(rows, minChunk: max(1, 32_768 / T)) { range in
                for row in range {
                    let p = probs + (first * T + row) * T
                    softmaxBackwardRow(dS + row * T, probs: p, visible: row % T + 1, count: T)
                }
            }
            // Products into the gradients.
            for item in first..<last {
                let b = item / NH, h = item % NH, g = h / group
                let P = probs + item * T * T, dSh = UnsafePointer(dS + (item - first) * T * T)
                let dOh = dOut + b * T * C + h * HS
                let qh = q + b * T * stride + h * HS, kg = k + b * T * stride + g * HS
                let dQh = dQ + b * T * stride + h * HS
                let dKg = dK + b * T * stride + g * HS, dVg = dV + b * T * stride + g * HS
                forEachBlock(T) { r0, r1 in
                    // dV[0..<r1] += P[r0..<r1, 0..<r1]ᵀ · dOut[r0..<r1]
                    Matmul.gemm(transA: true, transB: false, m: r1, n: HS, k: r1 - r0, a: P + r0 * T, lda: T,
                                b: dOh + r0 * C, ldb: C, accumulate: true, c: dVg, ldc: stride)
                    // dQ[r0..<r1] += scale · dS[r0..<r1, 0..<r1] · k[0..<r1]
                    Matmul.gemm(transA: false, transB: false, m: r1 - r0, n: HS, k: r1, alpha: scale, a: dSh + r0 * T,
                                lda: T, b: kg, ldb: stride, accumulate: true, c: dQh + r0 * stride, ldc: stride)
                    // dK[0..<r1] += scale · dS[r0..<r1, 0..<r1]ᵀ · q[r0..<r1]
                    Matmul.gemm(transA: true, transB: false, m: r1, n: HS, k: r1 - r0, alpha: scale, a: dSh + r0 * T,
                                lda: T, b: qh + r0 * stride, ldb: stride, accumulate: true, c: dKg, ldc: stride)
                }
            }
        }
    }

    // MARK: Helpers shared by the fast paths

    static func checkDimensions(stride: Int, B: Int, T: Int, NH: Int, NKV: Int, HS: Int) {
        precondition(B >= 0 && T >= 0 && HS >= 0, "Attention: negative dimension (B \(B), T \(T), HS \(HS))")
        precondition(NKV > 0 && NH >= NKV && NH % NKV == 0,
                     "Attention: NH (\(NH)) must be a positive multiple of NKV (\(NKV))")
        precondition(stride >= NH * HS, "Attention: row stride \(stride) is less than NH·HS = \(NH * HS)")
    }

    /// Calls `body(r0, r1)` for consecutive blocks of at most ``blockRows`` rows covering `0..<T`.
    @inline(__always)
    static func forEachBlock(_ T: Int, _ body: (Int, Int) -> Void) {
        var r0 = 0
        while r0 < T {
            let r1 = min(T, r0 + blockRows)
            body(r0, r1)
            r0 = r1
        }
    }
}

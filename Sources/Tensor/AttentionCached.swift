/// Attention of a few new tokens over a key/value cache (inference, one call per layer per step).
extension Attention {
    /// Floats of scratch that ``forwardCached(out:q:qStride:kCache:vCache:cacheStride:past:n:NH:NKV:HS:scale:scratch:)``
    /// needs: one row of `past + n` scores per query row and head, `NH · n · (past + n)`.
    public static func scratchCount(n: Int, past: Int, NH: Int) -> Int { NH * n * (past + n) }

    /// Causal GQA attention of `n` new query rows at positions `past..<past+n` over a KV cache.
    ///
    /// Query row `i`, head `h` (KV head `g = h / (NH/NKV)`) attends to positions `0...past+i`:
    /// `out[i, h] = Σ_j softmax_j(scale · q[i, h] · k[j, g]) · v[j, g]`. The same numbers as row
    /// `past + i` of ``forward(out:probs:q:k:v:stride:B:T:NH:NKV:HS:scale:)`` on the whole sequence.
    ///
    /// Nothing is allocated. Scores are `q · kᵀ` products through
    /// ``Matmul/gemm(transA:transB:m:n:k:alpha:a:lda:b:ldb:accumulate:c:ldc:)``: for one token the
    /// `NH/NKV` query heads of a KV head are stacked into one small-M product that reads the keys
    /// once; the value products are `sgemv` (one token) or small `sgemm`s.
    /// - Parameters:
    ///   - out: `(n, NH·HS)` contiguous output, overwritten.
    ///   - q: `n` query rows at row stride `qStride`; head `h` at columns `h·HS`.
    ///   - qStride: row stride of `q` (≥ NH·HS).
    ///   - kCache, vCache: keys and values, one row per position, row stride `cacheStride`, KV head
    ///     `g` at columns `g·HS`; rows `0..<past+n` must be filled (the new tokens' included).
    ///   - cacheStride: row stride of the caches (usually NKV·HS).
    ///   - past: positions already in the cache before the new tokens.
    ///   - n: number of new query rows.
    ///   - NH, NKV, HS: query heads, key/value heads (dividing NH), head size.
    ///   - scale: factor on the dot products, usually `1/sqrt(HS)`.
    ///   - scratch: at least ``scratchCount(n:past:NH:)`` floats, overwritten.
    public static func forwardCached(out: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>, qStride: Int,
                                     kCache: UnsafePointer<Float>, vCache: UnsafePointer<Float>, cacheStride: Int,
                                     past: Int, n: Int, NH: Int, NKV: Int, HS: Int, scale: Float,
                                     scratch: UnsafeMutablePointer<Float>) {
        precondition(past >= 0 && n >= 0 && HS >= 0, "Attention.forwardCached: negative past \(past), n \(n) or HS \(HS)")
        precondition(NKV > 0 && NH >= NKV && NH % NKV == 0,
                     "Attention.forwardCached: NH (\(NH)) must be a positive multiple of NKV (\(NKV))")
        precondition(qStride >= NH * HS && cacheStride >= NKV * HS,
                     "Attention.forwardCached: qStride \(qStride) < NH·HS \(NH * HS) or cacheStride \(cacheStride) < NKV·HS \(NKV * HS)")
        if n == 0 || NH == 0 { return }
        let L = past + n, group = NH / NKV, C = NH * HS
        // Scores of head h, query row i at scratch[(h·n + i)·L ..< +L].
        if n == 1 {
            // The heads of one KV head are consecutive rows of length HS in the single query row.
            for g in 0..<NKV {
                Matmul.gemm(transA: false, transB: true, m: group, n: L, k: HS, a: q + g * group * HS, lda: HS,
                            b: kCache + g * HS, ldb: cacheStride, accumulate: false, c: scratch + g * group * L, ldc: L)
            }
        } else {
            // Balanced chunks of at most smallRowLimit query rows keep every product on the
            // small-M kernel (n = 9 → 5 + 4 rather than one sgemm, or 8 + a one-row sgemv whose
            // OpenBLAS threading changes the bits with the thread count); a chunk only needs keys
            // up to its last row's position (the softmax zeroes the unwritten tail of each row).
            let chunks = (n + Matmul.smallRowLimit - 1) / Matmul.smallRowLimit
            for h in 0..<NH {
                var i0 = 0
                for c in 0..<chunks {
                    let i1 = n * (c + 1) / chunks
                    Matmul.gemm(transA: false, transB: true, m: i1 - i0, n: past + i1, k: HS, a: q + i0 * qStride + h * HS,
                                lda: qStride, b: kCache + (h / group) * HS, ldb: cacheStride, accumulate: false,
                                c: scratch + (h * n + i0) * L, ldc: L)
                    i0 = i1
                }
            }
        }
        for row in 0..<(NH * n) {
            causalSoftmaxRow(scratch + row * L, visible: past + row % n + 1, count: L, scale: scale)
        }
        for h in 0..<NH {
            Matmul.gemm(transA: false, transB: false, m: n, n: HS, k: L, a: scratch + h * n * L, lda: L,
                        b: vCache + (h / group) * HS, ldb: cacheStride, accumulate: false, c: out + h * HS, ldc: C)
        }
    }
}

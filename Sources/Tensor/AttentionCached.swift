import CKernels

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
    /// Nothing is allocated. **Batch invariant:** scores are fixed-order dot products
    /// (``sd_rows_times_wt``), the softmax works row by row, and the value products accumulate over
    /// positions in ascending order (``sd_rows_times_w``; masked positions add exact zeros), so
    /// query row `i` gets bitwise the same output whether it is computed alone or with other rows,
    /// and whatever the thread count. This is what keeps speculative verification (many rows) and
    /// plain decoding (one row) in exact agreement.
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
        // Scores of head h, query row i at scratch[(h·n + i)·L ..< +L]; heads are independent.
        let minHeads = max(1, 16_384 / max(1, n * L * HS))
        parallelFor(NH, minChunk: minHeads) { heads in
            for h in heads {
                let g = h / group, rows = scratch + h * n * L
                sd_rows_times_wt(Int32(n), Int32(L), Int32(HS), q + h * HS, Int32(qStride), kCache + g * HS,
                                 Int32(cacheStride), rows, Int32(L), 0)
                for i in 0..<n { causalSoftmaxRow(rows + i * L, visible: past + i + 1, count: L, scale: scale) }
                sd_rows_times_w(Int32(n), Int32(HS), Int32(L), rows, Int32(L), vCache + g * HS, Int32(cacheStride),
                                out + h * HS, Int32(C), 0)
            }
        }
    }
}

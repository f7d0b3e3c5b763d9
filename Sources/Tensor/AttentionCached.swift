import CKernels

/// Attention of a few new tokens over a key/value cache (inference, one call per layer per step).
extension Attention {
    /// Floats of scratch that ``forwardCached(out:q:qStride:kCache:vCache:cacheStride:past:n:NH:NKV:HS:scale:scratch:)``
    /// needs: one row of `past + n` scores per query row and head, `NH · n · (past + n)`.
    public static func scratchCount(n: Int, past: Int, NH: Int) -> Int { NH * n * (past + n) }

    /// Query rows per block of ``forwardCached(out:q:qStride:kCache:vCache:cacheStride:past:n:NH:NKV:HS:scale:scratch:)``:
    /// a block's rows attend over `past + (its last row) + 1` positions, so a long append computes
    /// about `n·(past + n/2 + 8)` scores instead of `n·(past + n)`.
    static let causalRowBlock = 16

    /// Whether ``forwardCached(out:q:qStride:kCache:vCache:cacheStride:past:n:NH:NKV:HS:scale:scratch:)``
    /// uses the one-pass row kernel (``sd_attn_row``) where the CPU and head size allow it (default
    /// true; tests switch it off to check the general path on the same machine). Set before any
    /// parallel work, as ``Threads/usePool``.
    nonisolated(unsafe) public static var usesRowKernel = true

    /// Causal GQA attention of `n` new query rows at positions `past..<past+n` over a KV cache.
    ///
    /// Query row `i`, head `h` (KV head `g = h / (NH/NKV)`) attends to positions `0...past+i`:
    /// `out[i, h] = Σ_j softmax_j(scale · q[i, h] · k[j, g]) · v[j, g]`. The same numbers as row
    /// `past + i` of ``forward(out:probs:q:k:v:stride:B:T:NH:NKV:HS:scale:)`` on the whole sequence.
    ///
    /// Nothing is allocated. On AVX2 and AVX-512 with HS a multiple of 8 up to 128 (``usesRowKernel``),
    /// each (head, row) runs ``sd_attn_row``: scores, softmax and value sum in one pass, every
    /// operation on position j fixed by j, the row and its visible count. Otherwise **batch invariant** too:
    /// scores are fixed-order dot products
    /// (``sd_attn_scores``: the bits of ``sd_rows_times_wt``), the softmax works row by row, and the value products accumulate over
    /// positions in ascending order (``sd_rows_times_w``; masked positions inside a block add exact zeros, those beyond it are
    /// skipped, which is the same sum), so
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
        if usesRowKernel && sd_attn_row_available(Int32(HS)) != 0 {
            forwardCachedRows(out: out, q: q, qStride: qStride, kCache: kCache, vCache: vCache, cacheStride: cacheStride,
                              past: past, n: n, NH: NH, NKV: NKV, HS: HS, scale: scale, scratch: scratch)
            return
        }
        // Scores of head h, query row i at scratch[(h·n + i)·L ..< +L]; heads are independent.
        let minHeads = max(1, 16_384 / max(1, n * L * HS))
        parallelFor(NH, minChunk: minHeads) { heads in
            for h in heads {
                let g = h / group, rows = scratch + h * n * L
                // Blocks of query rows, each over the positions its last row sees: the masked upper
                // triangle beyond a block is never computed (half the work of a long prefill).
                var i0 = 0
                while i0 < n {
                    let i1 = min(n, i0 + causalRowBlock), m = Int32(i1 - i0), width = past + i1
                    sd_attn_scores(m, Int32(width), Int32(HS), q + i0 * qStride + h * HS, Int32(qStride), kCache + g * HS,
                                   Int32(cacheStride), rows + i0 * L, Int32(L))
                    for i in i0..<i1 { causalSoftmaxRow(rows + i * L, visible: past + i + 1, count: width, scale: scale) }
                    sd_rows_times_w(m, Int32(HS), Int32(width), rows + i0 * L, Int32(L), vCache + g * HS, Int32(cacheStride),
                                    out + i0 * C + h * HS, Int32(C), 0)
                    i0 = i1
                }
            }
        }
    }

    /// ``forwardCached(out:q:qStride:kCache:vCache:cacheStride:past:n:NH:NKV:HS:scale:scratch:)`` through
    /// the one-pass row kernels: ``sd_attn_row`` per (head, row), ``sd_attn_row2`` for two that share a
    /// KV head. Each row's bits depend only on its own query, cache rows and visible count.
    private static func forwardCachedRows(out: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>, qStride: Int,
                                          kCache: UnsafePointer<Float>, vCache: UnsafePointer<Float>, cacheStride: Int,
                                          past: Int, n: Int, NH: Int, NKV: Int, HS: Int, scale: Float,
                                          scratch: UnsafeMutablePointer<Float>) {
        let L = past + n, group = NH / NKV, C = NH * HS
        // Item t = h·n + i (head h, row i), scores at scratch[t·L ..< +L]. Two items that share
        // a KV head run together (sd_attn_row2: each key and value row loaded once for both,
        // the same bits as alone): rows i, i + 1 of a head, or, for one row, heads h, h + 1 of
        // a group.
        let pairs = sd_attn_row2_available(Int32(HS)) != 0
        func item(_ t: Int) -> (q: UnsafePointer<Float>, kv: Int, visible: Int32, s: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>) {
            let h = t / n, i = t % n
            return (q + i * qStride + h * HS, h / group * HS, Int32(past + i + 1), scratch + t * L, out + i * C + h * HS)
        }
        func run(_ a: Int, _ b: Int?) {
            let x = item(a)
            if let b, pairs {
                let y = item(b)
                _ = sd_attn_row2(Int32(HS), x.q, y.q, kCache + x.kv, vCache + x.kv, Int32(cacheStride), x.visible, y.visible,
                                 scale, x.s, y.s, x.out, y.out)
                return
            }
            _ = sd_attn_row(Int32(HS), x.q, kCache + x.kv, vCache + x.kv, Int32(cacheStride), x.visible, scale, x.s, x.out)
            if let b {
                let y = item(b)
                _ = sd_attn_row(Int32(HS), y.q, kCache + y.kv, vCache + y.kv, Int32(cacheStride), y.visible, scale, y.s, y.out)
            }
        }
        let per = n >= 2 ? (n + 1) / 2 : (group + 1) / 2, units = (n >= 2 ? NH : NKV) * per
        parallelFor(units, minChunk: max(1, 8_192 / max(1, L * HS))) { range in
            for u in range {
                if n >= 2 {
                    let h = u / per, i = 2 * (u % per)
                    run(h * n + i, i + 1 < n ? h * n + i + 1 : nil)
                } else {
                    let g = u / per, h = g * group + 2 * (u % per)
                    run(h, h + 1 < (g + 1) * group ? h + 1 : nil)
                }
            }
        }
    }
}

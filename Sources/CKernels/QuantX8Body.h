// The interleaved ("x8") kernel bodies, written once and compiled three times: by QuantX8AVX2.c
// (SD_X8_VNNI 0), QuantX8VNNI.c (SD_X8_VNNI 1, AVX-512 VNNI on 256-bit registers) and
// QuantX8AVXVNNI.c (SD_X8_VNNI 2, AVX-VNNI: the same instruction VEX-encoded, 16 registers). Layout
// and math in QuantKernels.h. The includer defines SD_X8_TARGET (the target attribute),
// SD_X8_VNNI and SD_X8_NAME(x) (a name prefix); this header defines SD_X8_NAME(run), the entry.
//
// The 8 float lanes of an accumulator are 8 weight rows (output columns). Per block and
// activation row, 4-byte chunks of the activation are broadcast to the 8 lanes and multiplied
// into the 8 rows' chunks as unsigned weight bytes × signed activation bytes (Q8_0: the sign
// trick |w| · (a · sign w)). The two instruction sets differ only in how the exact integer sums
// are formed (the SD_X8_* macros below):
//   AVX2: `vpmaddubsw` adds pairs into int16; up to eight products of 4-bit weights
//     (≤ 2·15·127 each, ≤ 30480 in all) or two of 6-bit ones (≤ 32004) are summed in int16
//     before `vpmaddwd` (with ones, or with the rows' scales in both int16 halves) into int32;
//   VNNI: `vpdpbusd` adds four products straight into each int32 lane; a sub-block's sum is then
//     scaled with `vpmulld`.
// Every integer sum is exact and the float operations per lane are those of the portable loop
// in the same order, so both equal the portable loop bit for bit.
#pragma STDC FP_CONTRACT OFF
#include <immintrin.h>

#if SD_X8_VNNI
// u8 · s8 products added into the int32 lanes of x; x is already the int32 sum.
#if SD_X8_VNNI == 2
#define SD_X8_ACC(x, u, s) (x) = _mm256_dpbusd_avx_epi32((x), (u), (s))
#else
#define SD_X8_ACC(x, u, s) (x) = _mm256_dpbusd_epi32((x), (u), (s))
#endif
#define SD_X8_SUM(x) (x)
// Σ over a sub-block (int32 lanes) times the rows' scales (int32 lanes).
#define SD_X8_SCALED(x, sc32) _mm256_mullo_epi32((x), (sc32))
#define SD_X8_Q6_FLUSH 4
#define SD_X8_Q5_FLUSH 4
// K-quant rows per pass: up to four vectors per row (acc, isum, s, Q6_K's msum); 6 rows fit 32 registers.
#define SD_X8_KQ_ROWS 6
// Whether a K-quant pass of R rows runs its outer sub-block loop rolled (see q4k_body):
// with AVX-512's 32 registers only Q6_K from 3 rows on (Q6_K, 1,536 × 1,536, one thread: 5 rows
// 147 → 138 µs, 6 rows 177 → 160; fewer rows and Q4_K lose 5–30% rolled).
#if SD_X8_VNNI == 2
#define SD_X8_ROLLED(type, R) ((type) == SD_Q4_K)   // Q6_K unrolled: 5 rows 76 → 57 µs (bench quant, 576 × 1536)
#else
#define SD_X8_ROLLED(type, R) ((type) == SD_Q6_K && (R) >= 3)
#endif
#else
#define SD_X8_ACC(x, u, s) (x) = _mm256_add_epi16((x), _mm256_maddubs_epi16((u), (s)))
#define SD_X8_SUM(x) _mm256_madd_epi16((x), _mm256_set1_epi16(1))
#define SD_X8_SCALED(x, sc32) \
    _mm256_madd_epi16((x), _mm256_or_si256(_mm256_and_si256((sc32), _mm256_set1_epi32(0xFFFF)), _mm256_slli_epi32((sc32), 16)))
#define SD_X8_Q6_FLUSH 2   // two 6-bit products per int16 lane at most
#define SD_X8_Q5_FLUSH 2   // four 5-bit pair products (two chunks, low and high) per int16 lane at most
#define SD_X8_KQ_ROWS 6    // 16 registers: the chunk sums stay in registers, isum and acc may spill to L1
#define SD_X8_ROLLED(type, R) 1   // 16 registers: always (see q4k_body)
#endif
// Keeps the compiler from interleaving two sub-blocks' loads (and so their live registers).
#define SD_X8_FENCE __asm__ volatile("" ::: "memory")

__attribute__((target(SD_X8_TARGET))) static inline __m256i SD_X8_NAME(bcast4)(const int8_t *p) {
    int v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

// Weight groups stream from memory once per token: each block prefetches the whole block
// SD_X8_PF bytes ahead (rounded up to whole blocks), far enough to cover DRAM latency on one
// core. Measured on a Zen 3 host out of cache, one thread, medians of 5: Q6_K 5.5 → 11.8 GB/s,
// Q4_K 13.5 → 16.0, Q4_1 15.9 → 20.1, Q8_0 unchanged (prefetching every line of a block is what matters).
// Into L1, or, for a pass of one row while the weights stream from memory (sd_x8_pf_l2, see
// sd_x8_set_prefetch_l2), only into L2: a one-row pass waits on memory and L2 prefetches keep more
// of the stream in flight; passes of several rows compute long enough on each block to want it
// in L1 (appending 5 tokens to Qwen2.5-Coder-1.5B measured equal or up to 4% slower with L2
// prefetches, the single token 5–9% faster).
#ifndef SD_X8_PF
#define SD_X8_PF 4096
#endif
__attribute__((target(SD_X8_TARGET), always_inline)) static inline void SD_X8_NAME(prefetch)(const uint8_t *w, const int bb, const int R) {
    const uint8_t *p = w + (SD_X8_PF + bb - 1) / bb * bb;
    if (sd_x8_pf_l2 && R == 1) for (int l = 0; l < bb; l += 64) _mm_prefetch((const char *)p + l, _MM_HINT_T1);
    else for (int l = 0; l < bb; l += 64) _mm_prefetch((const char *)p + l, _MM_HINT_T0);
}

// Part `part` of `parts` of the lines that prefetch(w, bb) covers. The K-quant passes issue one
// part per sub-block (Q4_K: 8 of 1,184 bytes, Q6_K: 16 of 1,680) instead of all 19–27 lines at
// the block's start: a burst fills the core's few line-fill buffers and the rest of the block's
// computation then runs with no request in flight, so memory time and compute time add up; spread
// out, the stream keeps going while the rows are computed. Qwen2.5-Coder-1.5B Q4_K_M, appending 5
// tokens at cache length 300, two threads (Xeon, minimum of 15, three alternating runs): AVX-512
// 59.7–60.0 → 53.6–55.0 ms (1.43 → 1.30 of one token), AVX2 path 66.3–67.5 → 62.5–64.0 ms; one
// token unchanged. The distance matters little once spread (2, 4 or 8 KB within the noise).
__attribute__((target(SD_X8_TARGET), always_inline)) static inline void SD_X8_NAME(prefetch_part)(
    const uint8_t *w, const int bb, const int part, const int parts, const int R) {
    const uint8_t *p = w + (SD_X8_PF + bb - 1) / bb * bb;
    const int n = ((bb + 63) / 64 + parts - 1) / parts;   // lines per part: a fixed count, no branch
    if (sd_x8_pf_l2 && R == 1) for (int i = 0; i < n; i++) _mm_prefetch((const char *)p + 64 * (part * n + i), _MM_HINT_T1);
    else for (int i = 0; i < n; i++) _mm_prefetch((const char *)p + 64 * (part * n + i), _MM_HINT_T0);
}

// C[r, 0…7] (+)= acc[r] for the R rows of one group.
__attribute__((target(SD_X8_TARGET), always_inline)) static inline void SD_X8_NAME(store)(
    const int R, const __m256 *acc, float *C, int ldc, int accumulate) {
    for (int r = 0; r < R; r++) {
        float *c = C + (size_t)r * ldc;
        _mm256_storeu_ps(c, accumulate ? _mm256_add_ps(_mm256_loadu_ps(c), acc[r]) : acc[r]);
    }
}

// Q4_0, Q4_1, Q5_0, Q5_1, Q8_0.
__attribute__((target(SD_X8_TARGET), always_inline)) static inline void SD_X8_NAME(body)(
    const int type, const int R, int G, int nb, const uint8_t *QA, size_t ldqa, const uint8_t *W, float *C, int ldc,
    int accumulate) {
    const __m256i low4 = _mm256_set1_epi8(0x0F), bit4 = _mm256_set1_epi8(0x10);
    const sd_x8_legacy_layout L = sd_x8_legacy(type);
    const int q8 = type == SD_Q8_0, q1 = L.m1, q5 = L.five, bb = 8 * sd_block_bytes(type), qs0 = L.qs;
    for (int g = 0; g < G; g++) {
        const uint8_t *w = W + (size_t)g * nb * bb;
        __m256 acc[8];
        for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps();
        for (int b = 0; b < nb; b++, w += bb) {
            SD_X8_NAME(prefetch)(w, bb, R);
            const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)w));
            __m256i isum[8];
            for (int r = 0; r < R; r++) isum[r] = _mm256_setzero_si256();
            if (q8) {
                _Pragma("clang loop unroll(full)") for (int j = 0; j < 8; j++) {
                    const __m256i wq = _mm256_loadu_si256((const __m256i *)(w + 16 + 32 * j));
                    const __m256i wabs = _mm256_abs_epi8(wq);
                    for (int r = 0; r < R; r++) {
                        const sd_qa32 *a = (const sd_qa32 *)(QA + r * ldqa) + b;
                        const __m256i qa = _mm256_sign_epi8(SD_X8_NAME(bcast4)(a->q + 4 * j), wq);
#if SD_X8_VNNI
                        SD_X8_ACC(isum[r], wabs, qa);
#else
                        isum[r] = _mm256_add_epi32(isum[r], SD_X8_SUM(_mm256_maddubs_epi16(wabs, qa)));   // int16 pairs ≤ 32512
#endif
                    }
                }
            } else if (q5) {
                // The fifth bits of chunk k moved to bit 4 (QuantX8.c's layout: bit k of the low
                // nibble's, bit 4 + k of the high nibble's; 16-bit shifts, the bits crossing a
                // byte land outside the mask). On AVX2 four products of ≤ 2·31·127 fill an int16
                // lane (31,496), so the sums go to int32 every two chunks.
                const __m256i h = _mm256_loadu_si256((const __m256i *)(w + L.hb));
                __m256i part[8];
                for (int r = 0; r < R; r++) part[r] = _mm256_setzero_si256();
                _Pragma("clang loop unroll(full)") for (int k = 0; k < 4; k++) {
                    const __m256i raw = _mm256_loadu_si256((const __m256i *)(w + qs0 + 32 * k));
                    const __m256i lo = _mm256_or_si256(_mm256_and_si256(raw, low4), _mm256_and_si256(_mm256_slli_epi16(h, 4 - k), bit4));
                    const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(raw, 4), low4),
                                                       _mm256_and_si256(k ? _mm256_srli_epi16(h, k) : h, bit4));
                    for (int r = 0; r < R; r++) {
                        const sd_qa32 *a = (const sd_qa32 *)(QA + r * ldqa) + b;
                        SD_X8_ACC(part[r], lo, SD_X8_NAME(bcast4)(a->q + 4 * k));
                        SD_X8_ACC(part[r], hi, SD_X8_NAME(bcast4)(a->q + 16 + 4 * k));
                        if (k % SD_X8_Q5_FLUSH == SD_X8_Q5_FLUSH - 1) {
                            isum[r] = _mm256_add_epi32(isum[r], SD_X8_SUM(part[r]));
                            part[r] = _mm256_setzero_si256();
                        }
                    }
                }
            } else {
                _Pragma("clang loop unroll(full)") for (int k = 0; k < 4; k++) {
                    const __m256i raw = _mm256_loadu_si256((const __m256i *)(w + qs0 + 32 * k));
                    const __m256i lo = _mm256_and_si256(raw, low4);
                    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);
                    for (int r = 0; r < R; r++) {
                        const sd_qa32 *a = (const sd_qa32 *)(QA + r * ldqa) + b;
                        SD_X8_ACC(isum[r], lo, SD_X8_NAME(bcast4)(a->q + 4 * k));
                        SD_X8_ACC(isum[r], hi, SD_X8_NAME(bcast4)(a->q + 16 + 4 * k));
                    }
                }
                for (int r = 0; r < R; r++) isum[r] = SD_X8_SUM(isum[r]);
            }
            // Q4_0: value = d·(q − 8) = d·q + m with m = −8d (exact in float); Q5_0: m = −16d; Q4_1 and
            // Q5_1 store m.
            const __m256 mw = q1 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + 16)))
                                 : _mm256_mul_ps(dw, _mm256_set1_ps(q5 ? -16.0f : -8.0f));
            for (int r = 0; r < R; r++) {
                const sd_qa32 *a = (const sd_qa32 *)(QA + r * ldqa) + b;
                const __m256 scale = _mm256_mul_ps(dw, _mm256_broadcast_ss(&a->d));
                acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[r]), scale, acc[r]);
                if (!q8) acc[r] = _mm256_fmadd_ps(mw, _mm256_broadcast_ss(&a->s), acc[r]);
            }
        }
        SD_X8_NAME(store)(R, acc, C + 8 * g, ldc, accumulate);
    }
}

// Σ_j m_j · bs_j over the 8 sub-blocks of one Q4_K block for each activation row: the mins as
// pairs (m_2p, m_2p+1) in the int16 halves of each weight row's lane (mp[p], shared by the rows),
// the row's sub-block sums bs_j (a->ssums, int16) as the matching pairs, one `vpmaddwd` per pair
// of sub-blocks. Every sum is exact.
__attribute__((target(SD_X8_TARGET), always_inline)) static inline __m256i SD_X8_NAME(q4k_msum)(
    const __m256i *mp, const sd_qa256 *a) {
    int pair[4];
    memcpy(pair, a->ssums, 16);
    const __m256i s01 = _mm256_add_epi32(_mm256_madd_epi16(mp[0], _mm256_set1_epi32(pair[0])), _mm256_madd_epi16(mp[1], _mm256_set1_epi32(pair[1])));
    const __m256i s23 = _mm256_add_epi32(_mm256_madd_epi16(mp[2], _mm256_set1_epi32(pair[2])), _mm256_madd_epi16(mp[3], _mm256_set1_epi32(pair[3])));
    return _mm256_add_epi32(s01, s23);
}

// Sub-blocks 2c (low nibbles) and 2c + 1 (high) of one Q4_K block for R rows: each one's 8
// chunks into one sum per lane, times the rows' 6-bit scales into isum (exact int32).
__attribute__((target(SD_X8_TARGET), always_inline)) static inline void SD_X8_NAME(q4k_pair)(
    const int R, const int c, const int fence, const uint8_t *w, const uint8_t *QA, size_t ldqa, int b, __m256i *isum) {
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const uint8_t *wq = w + 160 + 256 * c;
    _Pragma("clang loop unroll(full)") for (int hi = 0; hi < 2; hi++) {
        const int j = 2 * c + hi;
        SD_X8_NAME(prefetch_part)(w, 1184, j, 8, R);
        __m256i s[SD_X8_KQ_ROWS];
        for (int r = 0; r < R; r++) s[r] = _mm256_setzero_si256();
        _Pragma("clang loop unroll(full)") for (int k = 0; k < 8; k++) {
            const __m256i raw = _mm256_loadu_si256((const __m256i *)(wq + 32 * k));
            const __m256i q = _mm256_and_si256(hi ? _mm256_srli_epi16(raw, 4) : raw, low4);
            for (int r = 0; r < R; r++) {
                const sd_qa256 *a = (const sd_qa256 *)(QA + r * ldqa) + b;
                SD_X8_ACC(s[r], q, SD_X8_NAME(bcast4)(a->q + 32 * j + 4 * k));
            }
        }
        const __m256i sc = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(w + 32 + 8 * j)));
        for (int r = 0; r < R; r++) isum[r] = _mm256_add_epi32(isum[r], SD_X8_SCALED(s[r], sc));
        if (fence) SD_X8_FENCE;
    }
}

// Q4_K: q4k_pair for c = 0…3; the mins against the activation's sub-block sums once per block
// (q4k_msum). On AVX2 the loop over c stays rolled: unrolled, the compiler interleaves the rows'
// work and spills the decoded weights of every chunk to the stack (two loads per product instead
// of one); rolled, and fenced between sub-blocks, a pass of 6 rows keeps its 6 chunk sums, the
// decoded chunk and the broadcast activation in 16 registers (SD_X8_ROLLED).
__attribute__((target(SD_X8_TARGET), always_inline)) static inline void SD_X8_NAME(q4k_body)(
    const int R, int G, int nb, const uint8_t *QA, size_t ldqa, const uint8_t *W, float *C, int ldc, int accumulate) {
    const int bb = 1184;
    for (int g = 0; g < G; g++) {
        const uint8_t *w = W + (size_t)g * nb * bb;
        __m256 acc[SD_X8_KQ_ROWS];
        for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps();
        for (int b = 0; b < nb; b++, w += bb) {
            __m256i isum[SD_X8_KQ_ROWS];
            for (int r = 0; r < R; r++) isum[r] = _mm256_setzero_si256();
            if (SD_X8_ROLLED(SD_Q4_K, R)) {
                _Pragma("clang loop unroll(disable)") for (int c = 0; c < 4; c++) SD_X8_NAME(q4k_pair)(R, c, 1, w, QA, ldqa, b, isum);
            } else {
                _Pragma("clang loop unroll(full)") for (int c = 0; c < 4; c++) SD_X8_NAME(q4k_pair)(R, c, 0, w, QA, ldqa, b, isum);
            }
            __m256i mp[4];
            for (int p = 0; p < 4; p++) {
                const __m128i m16 = _mm_loadu_si128((const __m128i *)(w + 96 + 16 * p));   // sub-blocks 2p, 2p + 1
                mp[p] = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m16, _mm_srli_si128(m16, 8)));
            }
            const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)w));
            const __m256 dm = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + 16)));
            for (int r = 0; r < R; r++) {
                const sd_qa256 *a = (const sd_qa256 *)(QA + r * ldqa) + b;
                const __m256 t = _mm256_mul_ps(dw, _mm256_cvtepi32_ps(isum[r]));
                const __m256 u = _mm256_mul_ps(dm, _mm256_cvtepi32_ps(SD_X8_NAME(q4k_msum)(mp, a)));
                acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(&a->d), _mm256_sub_ps(t, u), acc[r]);
            }
        }
        SD_X8_NAME(store)(R, acc, C + 8 * g, ldc, accumulate);
    }
}

// Half h of one Q6_K block (elements 128h … 128h + 127) for R rows: the 6-bit values are
// assembled from the ql nibble and the qh bit pair once per chunk for all rows; each 16-element
// group's sums are scaled by the rows' signed group scale (every SD_X8_Q6_FLUSH chunks) into isum.
__attribute__((target(SD_X8_TARGET), always_inline)) static inline void SD_X8_NAME(q6k_half)(
    const int R, const int h, const int fence, const uint8_t *w, const uint8_t *QA, size_t ldqa, int b, __m256i *isum) {
    const __m256i low4 = _mm256_set1_epi8(0x0F), bits45 = _mm256_set1_epi8(0x30);
    _Pragma("clang loop unroll(full)") for (int j = 0; j < 4; j++) {
        _Pragma("clang loop unroll(full)") for (int half = 0; half < 2; half++) {   // k 0…3, 4…7: one 16-group
            const int grp = 8 * h + 2 * j + half;
            SD_X8_NAME(prefetch_part)(w, 1680, grp, 16, R);
            const __m256i sc32 = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(w + 16 + 8 * grp)));
            __m256i s[SD_X8_KQ_ROWS];
            for (int r = 0; r < R; r++) s[r] = _mm256_setzero_si256();
            _Pragma("clang loop unroll(full)") for (int kk = 0; kk < 4; kk++) {
                const int k = 4 * half + kk;
                const __m256i lb = _mm256_loadu_si256((const __m256i *)(w + 144 + 512 * h + 256 * (j % 2) + 32 * k));
                const __m256i hb = _mm256_loadu_si256((const __m256i *)(w + 1168 + 256 * h + 32 * k));
                const __m256i lo = j < 2 ? _mm256_and_si256(lb, low4) : _mm256_and_si256(_mm256_srli_epi16(lb, 4), low4);
                // qh bits 2j…2j+1 moved straight to bits 4…5 (16-bit shifts: the bits
                // crossing a byte boundary are masked off).
                const __m256i up = _mm256_and_si256(j == 0 ? _mm256_slli_epi16(hb, 4) : j == 1 ? _mm256_slli_epi16(hb, 2)
                                                    : j == 2 ? hb : _mm256_srli_epi16(hb, 2), bits45);
                const __m256i q = _mm256_or_si256(lo, up);
                for (int r = 0; r < R; r++) {
                    const sd_qa256 *a = (const sd_qa256 *)(QA + r * ldqa) + b;
                    SD_X8_ACC(s[r], q, SD_X8_NAME(bcast4)(a->q + 128 * h + 32 * j + 4 * k));
                    if (kk % SD_X8_Q6_FLUSH == SD_X8_Q6_FLUSH - 1) {
                        isum[r] = _mm256_add_epi32(isum[r], SD_X8_SCALED(s[r], sc32));
                        s[r] = _mm256_setzero_si256();
                    }
                }
            }
            if (fence) SD_X8_FENCE;
        }
    }
}

// Q6_K (layout in QuantX8.c): q6k_half for h = 0, 1 (rolled where SD_X8_ROLLED says); the −32
// offset, 32 · Σ_g sc_g · bsums_g, once per block: the scales of groups 2p and 2p + 1 as int16
// pairs, the row's bsums as the matching pairs, one `vpmaddwd` per pair of groups.
__attribute__((target(SD_X8_TARGET), always_inline)) static inline void SD_X8_NAME(q6k_body)(
    const int R, int G, int nb, const uint8_t *QA, size_t ldqa, const uint8_t *W, float *C, int ldc, int accumulate) {
    const int bb = 1680;
    for (int g = 0; g < G; g++) {
        const uint8_t *w = W + (size_t)g * nb * bb;
        __m256 acc[SD_X8_KQ_ROWS];
        for (int r = 0; r < R; r++) acc[r] = _mm256_setzero_ps();
        for (int b = 0; b < nb; b++, w += bb) {
            __m256i isum[SD_X8_KQ_ROWS], msum[SD_X8_KQ_ROWS];
            for (int r = 0; r < R; r++) isum[r] = _mm256_setzero_si256();
            if (SD_X8_ROLLED(SD_Q6_K, R)) {
                _Pragma("clang loop unroll(disable)") for (int h = 0; h < 2; h++) SD_X8_NAME(q6k_half)(R, h, 1, w, QA, ldqa, b, isum);
            } else {
                _Pragma("clang loop unroll(full)") for (int h = 0; h < 2; h++) SD_X8_NAME(q6k_half)(R, h, 0, w, QA, ldqa, b, isum);
            }
            for (int r = 0; r < R; r++) msum[r] = _mm256_setzero_si256();
            _Pragma("clang loop unroll(full)") for (int p = 0; p < 8; p++) {
                const __m128i s16 = _mm_loadu_si128((const __m128i *)(w + 16 + 16 * p));   // groups 2p, 2p + 1
                const __m256i sp = _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(s16, _mm_srli_si128(s16, 8)));
                for (int r = 0; r < R; r++) {
                    const sd_qa256 *a = (const sd_qa256 *)(QA + r * ldqa) + b;
                    int pair;
                    memcpy(&pair, a->bsums + 2 * p, 4);
                    msum[r] = _mm256_add_epi32(msum[r], _mm256_madd_epi16(sp, _mm256_set1_epi32(pair)));
                }
            }
            const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)w));
            for (int r = 0; r < R; r++) {
                const sd_qa256 *a = (const sd_qa256 *)(QA + r * ldqa) + b;
                const __m256i t = _mm256_sub_epi32(isum[r], _mm256_slli_epi32(msum[r], 5));   // − 32·msum
                acc[r] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_broadcast_ss(&a->d)), _mm256_cvtepi32_ps(t), acc[r]);
            }
        }
        SD_X8_NAME(store)(R, acc, C + 8 * g, ldc, accumulate);
    }
}

typedef void (*SD_X8_NAME(fn))(int, int, const uint8_t *, size_t, const uint8_t *, float *, int, int);

#define SD_X8_FN(T, BODY, R)                                                                             \
    __attribute__((target(SD_X8_TARGET))) static void SD_X8_NAME(T##_##R)(int G, int nb, const uint8_t *QA, \
        size_t ldqa, const uint8_t *W, float *C, int ldc, int accumulate) {                                \
        BODY;                                                                                              \
    }
#define SD_X8_LEGACY(T, R) SD_X8_FN(T, SD_X8_NAME(body)(T, R, G, nb, QA, ldqa, W, C, ldc, accumulate), R)
#define SD_X8_LEGACY_TYPE(T) SD_X8_LEGACY(T, 1) SD_X8_LEGACY(T, 2) SD_X8_LEGACY(T, 3) SD_X8_LEGACY(T, 4)          \
    SD_X8_LEGACY(T, 5) SD_X8_LEGACY(T, 6) SD_X8_LEGACY(T, 7) SD_X8_LEGACY(T, 8)                                  \
    static const SD_X8_NAME(fn) SD_X8_NAME(table_##T)[9] = {0, SD_X8_NAME(T##_1), SD_X8_NAME(T##_2),             \
        SD_X8_NAME(T##_3), SD_X8_NAME(T##_4), SD_X8_NAME(T##_5), SD_X8_NAME(T##_6), SD_X8_NAME(T##_7), SD_X8_NAME(T##_8)};
#define SD_X8_KQ_TYPE(T, BODY)                                                                           \
    SD_X8_FN(T, BODY(1, G, nb, QA, ldqa, W, C, ldc, accumulate), 1)                                        \
    SD_X8_FN(T, BODY(2, G, nb, QA, ldqa, W, C, ldc, accumulate), 2)                                        \
    SD_X8_FN(T, BODY(3, G, nb, QA, ldqa, W, C, ldc, accumulate), 3)                                        \
    SD_X8_FN(T, BODY(4, G, nb, QA, ldqa, W, C, ldc, accumulate), 4)                                        \
    SD_X8_FN(T, BODY(SD_X8_KQ_ROWS > 4 ? 5 : 4, G, nb, QA, ldqa, W, C, ldc, accumulate), 5)               \
    SD_X8_FN(T, BODY(SD_X8_KQ_ROWS > 4 ? 6 : 4, G, nb, QA, ldqa, W, C, ldc, accumulate), 6)               \
    static const SD_X8_NAME(fn) SD_X8_NAME(table_##T)[7] = {0, SD_X8_NAME(T##_1), SD_X8_NAME(T##_2),             \
        SD_X8_NAME(T##_3), SD_X8_NAME(T##_4), SD_X8_NAME(T##_5), SD_X8_NAME(T##_6)};
SD_X8_LEGACY_TYPE(2)
SD_X8_LEGACY_TYPE(3)
SD_X8_LEGACY_TYPE(6)
SD_X8_LEGACY_TYPE(7)
SD_X8_LEGACY_TYPE(8)
SD_X8_KQ_TYPE(12, SD_X8_NAME(q4k_body))
SD_X8_KQ_TYPE(14, SD_X8_NAME(q6k_body))

/// Rows [0, R) of G groups; R ≤ 8 for the legacy types, ≤ SD_X8_KQ_ROWS for the K-quants.
static void SD_X8_NAME(run)(int type, int R, int G, int nb, const uint8_t *QA, size_t ldqa, const uint8_t *W,
                            float *C, int ldc, int accumulate) {
    if (R < 1 || R > (sd_is_k(type) ? SD_X8_KQ_ROWS : 8)) return;
    const SD_X8_NAME(fn) *t = type == SD_Q8_0 ? SD_X8_NAME(table_8) : type == SD_Q4_1 ? SD_X8_NAME(table_3)
                            : type == SD_Q4_K ? SD_X8_NAME(table_12) : type == SD_Q6_K ? SD_X8_NAME(table_14)
                            : type == SD_Q5_0 ? SD_X8_NAME(table_6) : type == SD_Q5_1 ? SD_X8_NAME(table_7) : SD_X8_NAME(table_2);
    t[R](G, nb, QA, ldqa, W, C, ldc, accumulate);
}

// AVX-512 VNNI on full 512-bit registers for the legacy types (Q4_0, Q4_1, Q8_0): two adjacent
// interleaved groups ("x8", layout in QuantKernels.h) side by side in the 16 lanes of one
// register, so one `vpdpbusd` multiplies an activation chunk into 16 weight rows and one float
// scaling serves 16 outputs: half the per-row instructions of the 256-bit path, which is what
// verifying several drafted tokens pays for. Per output the integer sums are exact and the float
// operations are those of the portable loop in the same order (acc = fma((float)Σ, d_w·d_a, acc),
// then for 4-bit weights acc = fma(m_w, s_a, acc)), so the results equal it bit for bit. Q8_0's
// signed × signed products are formed unsigned × signed as Σ (w + 128)·q_a − 128·Σ q_a, with
// Σ q_a per row and block computed once per call.
#pragma STDC FP_CONTRACT OFF
#include "QuantInternal.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define SD_X16_TARGET "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c"

// 64 bytes: 32 at p (group 2j, lanes 0…7 of the int32 view) and 32 at p + gb (group 2j + 1).
__attribute__((target(SD_X16_TARGET), always_inline)) static inline __m512i sd_x16_pair(const uint8_t *p, size_t gb) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)p)),
                              _mm256_loadu_si256((const __m256i *)(p + gb)), 1);
}

// 16 f16 scales (8 at p, 8 at p + gb) as float32.
__attribute__((target(SD_X16_TARGET), always_inline)) static inline __m512 sd_x16_halves(const uint8_t *p, size_t gb) {
    const __m256i h = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)p)),
                                              _mm_loadu_si128((const __m128i *)(p + gb)), 1);
    return _mm512_cvtph_ps(h);
}

__attribute__((target(SD_X16_TARGET), always_inline)) static inline __m512i sd_x16_bcast4(const int8_t *p) {
    int v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

// R ≤ 8 activation rows times G2 pairs of groups (16 weight rows each).
__attribute__((target(SD_X16_TARGET), always_inline)) static inline void sd_x16_body(
    const int type, const int R, int G2, int nb, const uint8_t *QA, size_t ldqa, const uint8_t *W, float *C, int ldc,
    int accumulate) {
    const __m512i low4 = _mm512_set1_epi8(0x0F), zero = _mm512_setzero_si512();
    const int q8 = type == SD_Q8_0, q1 = type == SD_Q4_1, bb = 8 * sd_block_bytes(type), qs0 = q1 ? 32 : 16;
    const size_t gb = (size_t)nb * bb;
    // Prefetch distance: the same block of the next pair (2·gb ahead), at most 16 KB. The two
    // groups of a pair stream side by side, so a fixed 4 KB ahead of group 2j lands in group
    // 2j + 1, which the other stream is already reading, and the next pair's second group starts
    // cold. SmolLM2 Q4_1 in cache (Xeon, 2 threads, cache length 300): appending 2 / 3 / 4 rows
    // 3.98 / 4.87 / 5.50 ms → 3.71 / 4.60 / 5.17, one row unchanged (medians of 7).
    const size_t pf = 2 * gb < 16384 ? 2 * gb : 16384;
    // Q8_0: Σ q_a per row and block, for Σ w·q_a = Σ (w + 128)·q_a − 128·Σ q_a.
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    int qsum[q8 ? R * nb : 1];
    if (q8)
        for (int r = 0; r < R; r++)
            for (int b = 0; b < nb; b++) {
                const sd_qa32 *a = (const sd_qa32 *)(QA + r * ldqa) + b;
                int t = 0;
                for (int k = 0; k < 32; k++) t += a->q[k];
                qsum[r * nb + b] = t;
            }
    for (int g = 0; g < G2; g++) {
        const uint8_t *w = W + (size_t)2 * g * gb;
        __m512 acc[8];
        for (int r = 0; r < R; r++) acc[r] = _mm512_setzero_ps();
        for (int b = 0; b < nb; b++, w += bb) {
            for (int l = 0; l < bb; l += 64) {   // the same block pf ahead in both groups
                _mm_prefetch((const char *)w + pf + l, _MM_HINT_T0);
                _mm_prefetch((const char *)w + gb + pf + l, _MM_HINT_T0);
            }
            const __m512 dw = sd_x16_halves(w, gb);
            __m512i isum[8];
            for (int r = 0; r < R; r++) isum[r] = zero;
            if (q8) {
                _Pragma("clang loop unroll(full)") for (int j = 0; j < 8; j++) {
                    const __m512i wu = _mm512_xor_si512(sd_x16_pair(w + 16 + 32 * j, gb), bias);   // w + 128
                    for (int r = 0; r < R; r++) {
                        const sd_qa32 *a = (const sd_qa32 *)(QA + r * ldqa) + b;
                        isum[r] = _mm512_dpbusd_epi32(isum[r], wu, sd_x16_bcast4(a->q + 4 * j));
                    }
                }
                for (int r = 0; r < R; r++) isum[r] = _mm512_sub_epi32(isum[r], _mm512_set1_epi32(128 * qsum[r * nb + b]));
            } else {
                _Pragma("clang loop unroll(full)") for (int k = 0; k < 4; k++) {
                    const __m512i raw = sd_x16_pair(w + qs0 + 32 * k, gb);
                    const __m512i lo = _mm512_and_si512(raw, low4);
                    const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(raw, 4), low4);
                    for (int r = 0; r < R; r++) {
                        const sd_qa32 *a = (const sd_qa32 *)(QA + r * ldqa) + b;
                        isum[r] = _mm512_dpbusd_epi32(isum[r], lo, sd_x16_bcast4(a->q + 4 * k));
                        isum[r] = _mm512_dpbusd_epi32(isum[r], hi, sd_x16_bcast4(a->q + 16 + 4 * k));
                    }
                }
            }
            // Q4_0: value = d·(q − 8) = d·q + m with m = −8d (exact in float).
            const __m512 mw = q1 ? sd_x16_halves(w + 16, gb) : _mm512_mul_ps(dw, _mm512_set1_ps(-8.0f));
            for (int r = 0; r < R; r++) {
                const sd_qa32 *a = (const sd_qa32 *)(QA + r * ldqa) + b;
                acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[r]), _mm512_mul_ps(dw, _mm512_set1_ps(a->d)), acc[r]);
                if (!q8) acc[r] = _mm512_fmadd_ps(mw, _mm512_set1_ps(a->s), acc[r]);
            }
        }
        for (int r = 0; r < R; r++) {
            float *c = C + (size_t)r * ldc + 16 * g;
            _mm512_storeu_ps(c, accumulate ? _mm512_add_ps(_mm512_loadu_ps(c), acc[r]) : acc[r]);
        }
    }
}

// One instantiation per row count, so the row loops unroll and the accumulators stay in registers.
#define SD_X16_CASE(n) \
    case n: sd_x16_body(type, n, G2, nb, QA, ldqa, W, C, ldc, accumulate); break;

__attribute__((target(SD_X16_TARGET))) void sd_x16_vnni(int type, int R, int G2, int nb, const uint8_t *QA,
                                                        size_t ldqa, const uint8_t *W, float *C, int ldc,
                                                        int accumulate) {
    if (sd_is_k(type)) return;
    switch (R) {
        SD_X16_CASE(1) SD_X16_CASE(2) SD_X16_CASE(3) SD_X16_CASE(4)
        SD_X16_CASE(5) SD_X16_CASE(6) SD_X16_CASE(7) SD_X16_CASE(8)
    default: break;
    }
}
#else
void sd_x16_vnni(int type, int R, int G2, int nb, const uint8_t *QA, size_t ldqa, const uint8_t *W, float *C, int ldc,
                 int accumulate) {
    (void)type; (void)R; (void)G2; (void)nb; (void)QA; (void)ldqa; (void)W; (void)C; (void)ldc; (void)accumulate;
}
#endif

// AMX path of the interleaved ("x8") quantised kernels for the legacy types (Q4_0, Q4_1, Q8_0).
//
// Two groups of 8 weight rows make the 16 output columns of one tile product. Per block of 32
// (b ascending) the block's integer sums for up to 16 activation rows come from one tile
// instruction,
//
//     S[m, n] = Σ_{k<32} q_a[m, k] · q_w[n, k]      (TDPBSSD for Q8_0, TDPBSUD for 4-bit weights)
//
// with the activations as tile A (M rows of 32 signed bytes, read in place from the quantised
// activation rows) and the weights as tile B (8 rows of 64 bytes: row r holds, for each column n,
// the 4 weights at k = 4r…4r+3). B is built from the interleaved layout with AVX-512 (two
// groups' chunks side by side; 4-bit weights unpacked to bytes), once per block for all M rows,
// so the cost of a call hardly grows with M ≤ 16. Its fixed cost per block (building the weight
// tile, tile loads that wait for those stores, storing the sums) is above the 512-bit VNNI
// kernel's up to 8 rows (`bench quant`), so the dispatch uses it for more rows only: prefill, the
// teacher-cache build, long verifications. The float operations per
// output are those of the portable loop, in the same order (acc = fma((float)S, d_w·d_a, acc),
// then for 4-bit weights acc = fma(m_w, s_a, acc)), and the integer sums are exact, so every
// output equals the portable loop's bit for bit, alone or with other rows.
#pragma STDC FP_CONTRACT OFF
#include "QuantInternal.h"

#if defined(__x86_64__) && defined(__linux__)
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

int sd_amx_available(void) {
    static int state = -1;
    if (state < 0) {
        unsigned a, b, c, d;
        state = 0;
        // CPUID.(7,0):EDX bit 24 AMX-TILE, bit 25 AMX-INT8; then Linux must grant this process the
        // tile data state (ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18; Linux ≥ 5.16).
        if (__get_cpuid_count(7, 0, &a, &b, &c, &d) && (d >> 24 & 1) && (d >> 25 & 1))
            state = syscall(SYS_arch_prctl, 0x1023, 18) == 0;
    }
    return state;
}

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} sd_tile_config;

#define SD_AMX_TARGET "amx-tile,amx-int8,avx512f,avx512bw,avx512vl,avx2,fma,f16c"

// 64 bytes: 32 from p and 32 from q (zeros when q is NULL: a missing second group).
__attribute__((target(SD_AMX_TARGET), always_inline)) static inline __m512i sd_amx_pair(const uint8_t *p,
                                                                                       const uint8_t *q) {
    const __m256i lo = _mm256_loadu_si256((const __m256i *)p);
    const __m256i hi = q ? _mm256_loadu_si256((const __m256i *)q) : _mm256_setzero_si256();
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

// 16 f16 values: 8 at p and 8 at q (zeros when q is NULL), as float32.
__attribute__((target(SD_AMX_TARGET), always_inline)) static inline __m512 sd_amx_halves(const uint8_t *p,
                                                                                        const uint8_t *q) {
    const __m128i lo = _mm_loadu_si128((const __m128i *)p);
    const __m128i hi = q ? _mm_loadu_si128((const __m128i *)q) : _mm_setzero_si128();
    return _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1));
}

// Tile B of one block of the group pair (p, q): 8 rows of 64 bytes in `buf`.
__attribute__((target(SD_AMX_TARGET), always_inline)) static inline void sd_amx_weights(int q8, int qs0,
        const uint8_t *p, const uint8_t *q, uint8_t *buf) {
    if (q8) {
        // Chunk j of a group: 8 rows × the 4 weights at k = 4j…4j+3 — already tile row j's half.
        for (int j = 0; j < 8; j++)
            _mm512_store_si512((__m512i *)(buf + 64 * j), sd_amx_pair(p + 16 + 32 * j, q ? q + 16 + 32 * j : 0));
        return;
    }
    // Chunk k's low nibbles are k = 4k…4k+3 (tile row k), its high nibbles k = 16+4k… (row 4 + k).
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    for (int k = 0; k < 4; k++) {
        const __m512i raw = sd_amx_pair(p + qs0 + 32 * k, q ? q + qs0 + 32 * k : 0);
        _mm512_store_si512((__m512i *)(buf + 64 * k), _mm512_and_si512(raw, low4));
        _mm512_store_si512((__m512i *)(buf + 64 * (4 + k)), _mm512_and_si512(_mm512_srli_epi16(raw, 4), low4));
    }
}

// Blocks per stage: the stages (unpack the weights of SD_AMX_CHUNK blocks, their tile products,
// their float scaling) each run over the whole chunk, so a tile load never waits for a vector
// store it depends on to leave the store buffer (tile loads do not forward from it), nor a
// vector load for a tile store.
#define SD_AMX_CHUNK 8

__attribute__((target(SD_AMX_TARGET))) void sd_x8_amx(int type, int M, int G, int nb, const uint8_t *QA, size_t ldqa,
                                                      const uint8_t *W, float *C, int ldc, int accumulate) {
    if (M < 1 || M > 16 || sd_is_k(type) || !sd_amx_available()) return;
    const int q8 = type == SD_Q8_0, q1 = type == SD_Q4_1, bb = 8 * sd_block_bytes(type), qs0 = q1 ? 32 : 16;
    const size_t gb = (size_t)nb * bb;
    sd_tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int s = 0; s < 2; s++) {
        cfg.rows[s] = (uint8_t)M, cfg.colsb[s] = 64;          // S: M rows × 16 int32
        cfg.rows[2 + s] = (uint8_t)M, cfg.colsb[2 + s] = 32;  // activations: M rows × 32 bytes
        cfg.rows[4 + s] = 8, cfg.colsb[4 + s] = 64;           // weights: 8 rows × 16 columns × 4
    }
    _tile_loadconfig(&cfg);
    _Alignas(64) uint8_t bt[SD_AMX_CHUNK][512];
    _Alignas(64) int32_t st[SD_AMX_CHUNK][16 * 16];
    const uint8_t *qa = QA + offsetof(sd_qa32, q);
    for (int g = 0; g < G; g += 2) {
        const uint8_t *w0 = W + (size_t)g * gb, *w1 = g + 1 < G ? w0 + gb : 0;
        __m512 acc[16];
        for (int m = 0; m < M; m++) acc[m] = _mm512_setzero_ps();
        for (int b0 = 0; b0 < nb; b0 += SD_AMX_CHUNK) {
            const int n = nb - b0 < SD_AMX_CHUNK ? nb - b0 : SD_AMX_CHUNK;
            for (int i = 0; i < n; i++) {
                const size_t o = (size_t)(b0 + i) * bb;
                sd_amx_weights(q8, qs0, w0 + o, w1 ? w1 + o : 0, bt[i]);
            }
            // Blocks in pairs on two tile sets (C = 0/1, A = 2/3, B = 4/5; tile numbers are
            // immediates): both products are issued before either result is stored, so the
            // second runs while the first finishes. An odd last block runs alone.
            for (int i = 0; i < n; i += 2) {
                const uint8_t *a = qa + (size_t)(b0 + i) * sizeof(sd_qa32);
                _tile_loadd(2, a, (long)ldqa);
                _tile_loadd(4, bt[i], 64);
                _tile_zero(0);
                if (i + 1 < n) {
                    _tile_loadd(3, a + sizeof(sd_qa32), (long)ldqa);
                    _tile_loadd(5, bt[i + 1], 64);
                    _tile_zero(1);
                }
                if (q8) _tile_dpbssd(0, 2, 4); else _tile_dpbsud(0, 2, 4);
                if (i + 1 < n) { if (q8) _tile_dpbssd(1, 3, 5); else _tile_dpbsud(1, 3, 5); }
                _tile_stored(0, st[i], 64);
                if (i + 1 < n) _tile_stored(1, st[i + 1], 64);
            }
            for (int i = 0; i < n; i++) {
                const int b = b0 + i;
                const uint8_t *p = w0 + (size_t)b * bb, *q = w1 ? w1 + (size_t)b * bb : 0;
                const __m512 dw = sd_amx_halves(p, q);
                // Q4_0: value = d·(q − 8) = d·q + m with m = −8d (exact in float).
                const __m512 mw = q1 ? sd_amx_halves(p + 16, q ? q + 16 : 0) : _mm512_mul_ps(dw, _mm512_set1_ps(-8.0f));
                for (int m = 0; m < M; m++) {
                    const sd_qa32 *a = (const sd_qa32 *)(QA + m * ldqa) + b;
                    const __m512 s = _mm512_cvtepi32_ps(_mm512_load_si512((const __m512i *)(st[i] + 16 * m)));
                    acc[m] = _mm512_fmadd_ps(s, _mm512_mul_ps(dw, _mm512_set1_ps(a->d)), acc[m]);
                    if (!q8) acc[m] = _mm512_fmadd_ps(mw, _mm512_set1_ps(a->s), acc[m]);
                }
            }
        }
        const __mmask16 cols = w1 ? 0xFFFF : 0x00FF;
        for (int m = 0; m < M; m++) {
            float *c = C + (size_t)m * ldc + 8 * g;
            const __m512 v = accumulate ? _mm512_add_ps(_mm512_maskz_loadu_ps(cols, c), acc[m]) : acc[m];
            _mm512_mask_storeu_ps(c, cols, v);
        }
    }
    _tile_release();
}
#else
int sd_amx_available(void) { return 0; }
void sd_x8_amx(int type, int M, int G, int nb, const uint8_t *QA, size_t ldqa, const uint8_t *W, float *C, int ldc,
               int accumulate) {
    (void)type; (void)M; (void)G; (void)nb; (void)QA; (void)ldqa; (void)W; (void)C; (void)ldc; (void)accumulate;
}
#endif

// Few rows times a transposed weight matrix, reading every weight once, in weight-row order.
//
// Single-token decoding and speculative verification are bound by how fast the weights stream in
// from memory. On the development machine (AMD EPYC, AVX-512) a loop that walks one weight row
// at a time reads at the full streaming bandwidth, while loops that interleave 2-4 weight rows
// (the classic register-blocked small-M kernel) read at half of it. So the kernels walk the
// weight rows one by one, contiguously, and multiply each chunk into all activation rows of a
// group while it is in a register; further groups re-read the row from L1. (Tried and dropped:
// software prefetch on AVX-512, and pairing rows n and n + N/2 so that two sequential streams share each
// activation load, which is 40% faster from L2 but measured slower from memory at M = 2...6.)
//
// Summation order (the same for every row count, group and thread split, so that a row's results
// do not depend on how many rows are computed with it: batch invariance). With vector width VW
// (16 for AVX-512, 8 for AVX2) and NA accumulators s_0..s_{NA-1} of VW lanes (4 for AVX-512, 2 for
// AVX2): over the chunks of NA·VW floats in ascending order, s_j += a[k + j·VW ...] * w[k + j·VW ...]
// (one FMA per lane); then the remaining whole VW-blocks in ascending order into s_0, s_1, …; then
// the fixed pairwise sum ((s0 + s1) + (s2 + s3) for four, s0 + s1 for two), a fixed horizontal
// sum, and the leftover k < K in ascending order one term at a time.
#include "CKernels.h"
#include "SimdInternal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SD_X86 1
#endif

void sd_rows_times_wt_portable(int M, int N, int K, const float *A, int lda, const float *W,
                               int ldw, float *C, int ldc, int accumulate) {
    for (int m = 0; m < M; m++) {
        for (int n = 0; n < N; n++) {
            float s = 0;
            const float *a = A + (size_t)m * lda, *w = W + (size_t)n * ldw;
            for (int k = 0; k < K; k++) s += a[k] * w[k];
            float *c = C + (size_t)m * ldc + n;
            *c = accumulate ? *c + s : s;
        }
    }
}

#ifdef SD_X86

__attribute__((target("avx512f,avx2,fma"))) static inline float sd_hsum16(__m512 v) {
    __m256 lo = _mm512_castps512_ps256(v);
    __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    return sd_hsum8(_mm256_add_ps(lo, hi));
}

// One kernel per (ISA, R activation rows); R is a constant in each instantiation so the NA·R
// accumulators stay in registers. NA accumulators per row: AVX-512 uses 4 (R <= 6 of 32
// registers); AVX2 uses 2, so that up to 6 rows (12 accumulators + the weight vector of 16
// registers) share one read of each weight vector — verifying gamma + 1 <= 6 draft tokens reads
// every weight once, from memory, in one pass. (With 4 accumulators AVX2 fit only 3 rows, and a
// 4-token verification paid a second pass over each L1 tile: 1.3x a single token instead of ~1.1x.)
// PREFIX: function-name prefix; VEC: vector type; VW: lanes; NA: accumulators; LOAD / FMA / ZERO /
// ADD / HSUM: ops; COMBINE(s): the fixed pairwise sum of a row's NA accumulators.
#define SD_DEFINE_ROWS(TARGET, PREFIX, VEC, VW, NA, LOAD, FMA, ZERO, ADD, HSUM, COMBINE, PF, R)   \
__attribute__((target(TARGET))) static void PREFIX##R(                                             \
    int N, int K, const float *A, int lda, const float *W, int ldw, float *C, int ldc,             \
    int accumulate) {                                                                              \
    const int KA = K - K % (NA * VW), K1 = K - K % VW;                                             \
    for (int n = 0; n < N; n++) {                                                                  \
        const float *w = W + (size_t)n * ldw;                                                      \
        VEC s[R][NA];                                                                              \
        for (int m = 0; m < R; m++)                                                                \
            for (int j = 0; j < NA; j++) s[m][j] = ZERO();                                         \
        for (int k = 0; k < KA; k += NA * VW) {                                                    \
            if (PF(R)) _mm_prefetch((const char *)(w + k + PF(R)), _MM_HINT_T0);                   \
            for (int j = 0; j < NA; j++) {                                                         \
                VEC x = LOAD(w + k + j * VW);                                                      \
                for (int m = 0; m < R; m++)                                                        \
                    s[m][j] = FMA(LOAD(A + (size_t)m * lda + k + j * VW), x, s[m][j]);             \
            }                                                                                      \
        }                                                                                          \
        for (int j = 0; j < NA - 1; j++) {                                                         \
            const int k = KA + j * VW;                                                             \
            if (k >= K1) break;                                                                    \
            VEC x = LOAD(w + k);                                                                   \
            for (int m = 0; m < R; m++) s[m][j] = FMA(LOAD(A + (size_t)m * lda + k), x, s[m][j]);  \
        }                                                                                          \
        for (int m = 0; m < R; m++) {                                                              \
            const float *a = A + (size_t)m * lda;                                                  \
            float v = HSUM(COMBINE(s[m]));                                                         \
            for (int k = K1; k < K; k++) v = __builtin_fmaf(a[k], w[k], v);                        \
            float *c = C + (size_t)m * ldc + n;                                                    \
            *c = accumulate ? *c + v : v;                                                          \
        }                                                                                          \
    }                                                                                              \
}

#define SD_COMBINE2_256(s) _mm256_add_ps((s)[0], (s)[1])
#define SD_COMBINE4_512(s) _mm512_add_ps(_mm512_add_ps((s)[0], (s)[1]), _mm512_add_ps((s)[2], (s)[3]))
// Software prefetch distance in floats for a group of R rows (0: none). On an AVX2 host (AMD
// EPYC, Zen 3) groups of 3+ rows spend enough cycles per weight vector that the hardware
// prefetcher falls behind; 2 KB ahead brought 6 rows from 1.5x to 1.2x one row (two threads,
// medians of 101 interleaved runs) and changed 1-2 rows by less than the noise. The AVX-512 host
// measured prefetching slower, so it keeps none.
#define SD_PF_AVX2(R) ((R) >= 3 ? 512 : 0)
#define SD_PF_NONE(R) 0
#define SD_AVX2_ROWS(R) SD_DEFINE_ROWS("avx2,fma", sd_rows_avx2_, __m256, 8, 2, _mm256_loadu_ps,   \
    _mm256_fmadd_ps, _mm256_setzero_ps, _mm256_add_ps, sd_hsum8, SD_COMBINE2_256, SD_PF_AVX2, R)
#define SD_AVX512_ROWS(R) SD_DEFINE_ROWS("avx512f,avx2,fma", sd_rows_avx512_, __m512, 16, 4,       \
    _mm512_loadu_ps, _mm512_fmadd_ps, _mm512_setzero_ps, _mm512_add_ps, sd_hsum16, SD_COMBINE4_512, \
    SD_PF_NONE, R)

SD_AVX2_ROWS(1)
SD_AVX2_ROWS(2)
SD_AVX2_ROWS(3)
SD_AVX2_ROWS(4)
SD_AVX2_ROWS(5)
SD_AVX2_ROWS(6)
SD_AVX512_ROWS(1)
SD_AVX512_ROWS(2)
SD_AVX512_ROWS(3)
SD_AVX512_ROWS(4)
SD_AVX512_ROWS(5)
SD_AVX512_ROWS(6)

typedef void (*sd_rows_fn)(int, int, const float *, int, const float *, int, float *, int, int);
static const sd_rows_fn sd_avx2_rows[7] = {0, sd_rows_avx2_1, sd_rows_avx2_2, sd_rows_avx2_3,
                                           sd_rows_avx2_4, sd_rows_avx2_5, sd_rows_avx2_6};
static const sd_rows_fn sd_avx512_rows[7] = {0, sd_rows_avx512_1, sd_rows_avx512_2, sd_rows_avx512_3,
                                             sd_rows_avx512_4, sd_rows_avx512_5, sd_rows_avx512_6};

// Groups of at most G rows; when there are several groups, the weight rows go in tiles of about
// 16 KB so that the later groups find the tile in L1.
static void sd_rows_grouped(const sd_rows_fn *table, int G, int M, int N, int K, const float *A,
                            int lda, const float *W, int ldw, float *C, int ldc, int accumulate) {
    int tile = M <= G ? N : (int)(16384 / (4 * (size_t)(K > 0 ? K : 1)));
    if (tile < 1) tile = 1;
    for (int n = 0; n < N; n += tile) {
        int nt = N - n < tile ? N - n : tile;
        for (int m = 0; m < M;) {
            int r = M - m > G ? G : M - m;
            table[r](nt, K, A + (size_t)m * lda, lda, W + (size_t)n * ldw, ldw, C + (size_t)m * ldc + n,
                     ldc, accumulate);
            m += r;
        }
    }
}

static int sd_isa_state = -1;

int sd_rows_times_wt_isa(void) {
    if (sd_isa_state < 0) {
        __builtin_cpu_init();
        int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        sd_isa_state = avx2 && __builtin_cpu_supports("avx512f") ? 2 : avx2 ? 1 : 0;
        if (sd_isa_state > sd_isa_cap()) sd_isa_state = sd_isa_cap();
    }
    return sd_isa_state;
}

int sd_has_avx2(void) { return sd_rows_times_wt_isa() >= 1; }
#else
int sd_rows_times_wt_isa(void) { return 0; }
int sd_has_avx2(void) { return 0; }
#endif

void sd_rows_times_wt_with(int isa, int M, int N, int K, const float *A, int lda, const float *W,
                           int ldw, float *C, int ldc, int accumulate) {
    if (M <= 0 || N <= 0) return;
#ifdef SD_X86
    if (isa > sd_rows_times_wt_isa()) isa = sd_rows_times_wt_isa();
    if (isa == 2) { sd_rows_grouped(sd_avx512_rows, 6, M, N, K, A, lda, W, ldw, C, ldc, accumulate); return; }
    if (isa == 1) { sd_rows_grouped(sd_avx2_rows, 6, M, N, K, A, lda, W, ldw, C, ldc, accumulate); return; }
#else
    (void)isa;
#endif
    sd_rows_times_wt_portable(M, N, K, A, lda, W, ldw, C, ldc, accumulate);
}

void sd_rows_times_wt(int M, int N, int K, const float *A, int lda, const float *W, int ldw,
                      float *C, int ldc, int accumulate) {
    sd_rows_times_wt_with(sd_rows_times_wt_isa(), M, N, K, A, lda, W, ldw, C, ldc, accumulate);
}

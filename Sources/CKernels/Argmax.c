// The argmax of a float row (greedy decoding reads one per position: 49,152 logits for SmolLM2,
// 151,936 for Qwen2.5). Two passes, both vectorised: the largest non-NaN value M, then the first
// index holding M. That is exactly the scalar loop's answer (`x[i] > best` from best = x[0]):
// the lowest index wins ties, NaN never wins, and x[0] = NaN gives 0 (nothing is > NaN).
#include <math.h>
#include "CKernels.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

long sd_argmax_portable(const float *x, long n) {
    long best = 0;
    float b = x[0];
    for (long i = 1; i < n; i++)
        if (x[i] > b) { best = i; b = x[i]; }
    return best;
}

/// The first index in [from, n) holding m (m is in the row), scalar.
static long sd_first_equal(const float *x, long from, long n, float m) {
    for (long i = from; i < n; i++)
        if (x[i] == m) return i;
    return 0;
}

#if defined(__x86_64__)
#define SD_AM512 "avx512f"
#define SD_AM256 "avx2,fma"

__attribute__((target(SD_AM512))) static long sd_argmax_avx512(const float *x, long n) {
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    __m512 m0 = ninf, m1 = ninf;   // vmaxps(v, m) returns m when v is NaN: NaN is skipped
    long i = 0;
    for (; i + 32 <= n; i += 32) {
        m0 = _mm512_max_ps(_mm512_loadu_ps(x + i), m0);
        m1 = _mm512_max_ps(_mm512_loadu_ps(x + i + 16), m1);
    }
    for (; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        m0 = _mm512_max_ps(_mm512_mask_loadu_ps(ninf, k, x + i), m0);
    }
    const float m = _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
    if (m == -INFINITY) return 0;   // every entry -inf or NaN, and x[0] is not NaN: x[0] = -inf wins
    const __m512 mv = _mm512_set1_ps(m);
    for (i = 0; i + 16 <= n; i += 16) {
        const __mmask16 e = _mm512_cmp_ps_mask(_mm512_loadu_ps(x + i), mv, _CMP_EQ_OQ);
        if (e) return i + __builtin_ctz(e);
    }
    return sd_first_equal(x, i, n, m);
}

__attribute__((target(SD_AM256))) static long sd_argmax_avx2(const float *x, long n) {
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    __m256 m0 = ninf, m1 = ninf;
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        m0 = _mm256_max_ps(_mm256_loadu_ps(x + i), m0);
        m1 = _mm256_max_ps(_mm256_loadu_ps(x + i + 8), m1);
    }
    float t[8];
    _mm256_storeu_ps(t, _mm256_max_ps(m0, m1));
    float m = -INFINITY;
    for (int l = 0; l < 8; l++) m = t[l] > m ? t[l] : m;
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    if (m == -INFINITY) return 0;
    const __m256 mv = _mm256_set1_ps(m);
    for (i = 0; i + 8 <= n; i += 8) {
        const int e = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), mv, _CMP_EQ_OQ));
        if (e) return i + __builtin_ctz((unsigned)e);
    }
    return sd_first_equal(x, i, n, m);
}
#endif

long sd_argmax_with(int isa, const float *x, long n) {
    if (n <= 1 || isnan(x[0])) return 0;
#if defined(__x86_64__)
    const int best = sd_rows_times_wt_isa();
    if (isa > best) isa = best;
    if (isa >= 2) return sd_argmax_avx512(x, n);
    if (isa == 1) return sd_argmax_avx2(x, n);
#else
    (void)isa;
#endif
    return sd_argmax_portable(x, n);
}

long sd_argmax(const float *x, long n) { return sd_argmax_with(99, x, n); }

// AVX-512 VNNI path of the interleaved ("x8") quantised kernels: the bodies of QuantX8Body.h
// with vpdpbusd integer sums (AVX512-VNNI on 256-bit registers, AVX512-VL), so the same 8-lane
// layout and the same float operations as AVX2, bit for bit. With 32 vector registers a pass
// holds up to 8 activation rows (legacy types) or 4 (K-quants). Layout and math in QuantKernels.h.
#pragma STDC FP_CONTRACT OFF
#include "QuantInternal.h"

#if defined(__x86_64__)
#define SD_X8_TARGET "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c"
#define SD_X8_VNNI 1
#define SD_X8_NAME(x) sd_x8v_##x
#include "QuantX8Body.h"

void sd_x8_vnni(int type, int R, int G, int nb, const uint8_t *QA, size_t ldqa, const uint8_t *W, float *C, int ldc,
                int accumulate) {
    if (R > sd_x8_pass_rows(2, type)) return;
    sd_x8v_run(type, R, G, nb, QA, ldqa, W, C, ldc, accumulate);
}
#else
void sd_x8_vnni(int type, int R, int G, int nb, const uint8_t *QA, size_t ldqa, const uint8_t *W, float *C, int ldc,
                int accumulate) {
    (void)type; (void)R; (void)G; (void)nb; (void)QA; (void)ldqa; (void)W; (void)C; (void)ldc; (void)accumulate;
}
#endif

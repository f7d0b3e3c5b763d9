// AVX-VNNI path of the interleaved ("x8") quantised kernels: the bodies of QuantX8Body.h with the
// VEX-encoded `vpdpbusd` (Intel client cores since Alder Lake, Sierra Forest, AMD Zen 5) for the
// integer sums, on CPUs whose widest vectors are AVX2's 16 × 256 bits: the AVX2 kernels' register
// budget and rolled sub-block loops, the VNNI kernels' arithmetic, the same bits as both. Chosen
// at level 1 by sd_x8_avx_vnni_preferred(). Layout and math in QuantKernels.h.
#pragma STDC FP_CONTRACT OFF
#include "QuantInternal.h"

#if defined(__x86_64__)
#define SD_X8_TARGET "avxvnni,avx2,fma,f16c"
#define SD_X8_VNNI 2
#define SD_X8_NAME(x) sd_x8w_##x
#include "QuantX8Body.h"

void sd_x8_avxvnni(int type, int R, int G, int nb, const uint8_t *QA, size_t ldqa, const uint8_t *W, float *C, int ldc,
                   int accumulate) {
    if (R > sd_x8_pass_rows(1, type)) return;
    sd_x8w_run(type, R, G, nb, QA, ldqa, W, C, ldc, accumulate);
}
#else
void sd_x8_avxvnni(int type, int R, int G, int nb, const uint8_t *QA, size_t ldqa, const uint8_t *W, float *C, int ldc,
                   int accumulate) {
    (void)type; (void)R; (void)G; (void)nb; (void)QA; (void)ldqa; (void)W; (void)C; (void)ldc; (void)accumulate;
}
#endif

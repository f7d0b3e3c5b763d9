// Interleaved groups of 8 quantised weight rows ("x8"): repacking, unpacking, the portable
// reference loop and the dispatch (the AVX2 path is in QuantX8AVX2.c). Layout and math are
// stated in QuantKernels.h; both paths compute every output in the same operations, bit for bit.
#pragma STDC FP_CONTRACT OFF
#include <math.h>
#include "QuantInternal.h"

#ifndef SD_X8_ROWS
#define SD_X8_ROWS 4
#endif

int sd_x8_supported(int type, int K) {
    return (type == SD_Q4_0 || type == SD_Q4_1 || type == SD_Q8_0) && K > 0 && K % 32 == 0;
}

// 8 plain blocks: Q4_0 144, Q4_1 160, Q8_0 272 bytes.
static int sd_x8_block_bytes(int type) { return 8 * sd_block_bytes(type); }

size_t sd_x8_group_bytes(int type, int K) {
    return sd_x8_supported(type, K) ? (size_t)(K / 32) * (size_t)sd_x8_block_bytes(type) : 0;
}

int sd_x8_pack(int type, int K, const void *W, size_t ldw, void *dst) {
    if (!sd_x8_supported(type, K)) return 0;
    const int nb = K / 32, src = sd_block_bytes(type), bb = sd_x8_block_bytes(type);
    for (int b = 0; b < nb; b++) {
        uint8_t *o = (uint8_t *)dst + (size_t)b * bb;
        for (int i = 0; i < 8; i++) {
            const uint8_t *p = (const uint8_t *)W + (size_t)i * ldw + (size_t)b * src;
            memcpy(o + 2 * i, p, 2);   // d
            if (type == SD_Q8_0) {
                for (int j = 0; j < 8; j++) memcpy(o + 16 + 32 * j + 4 * i, p + 2 + 4 * j, 4);
                continue;
            }
            const int q1 = type == SD_Q4_1, qs0 = q1 ? 32 : 16;
            if (q1) memcpy(o + 16 + 2 * i, p + 2, 2);
            for (int k = 0; k < 4; k++) memcpy(o + qs0 + 32 * k + 4 * i, p + (q1 ? 4 : 2) + 4 * k, 4);
        }
    }
    return 1;
}

void sd_x8_unpack_row(int type, int K, const void *group, int i, void *dst) {
    const int nb = K / 32, src = sd_block_bytes(type), bb = sd_x8_block_bytes(type);
    for (int b = 0; b < nb; b++) {
        const uint8_t *g = (const uint8_t *)group + (size_t)b * bb;
        uint8_t *p = (uint8_t *)dst + (size_t)b * src;
        memcpy(p, g + 2 * i, 2);
        if (type == SD_Q8_0) {
            for (int j = 0; j < 8; j++) memcpy(p + 2 + 4 * j, g + 16 + 32 * j + 4 * i, 4);
            continue;
        }
        const int q1 = type == SD_Q4_1, qs0 = q1 ? 32 : 16;
        if (q1) memcpy(p + 2, g + 16 + 2 * i, 2);
        for (int k = 0; k < 4; k++) memcpy(p + (q1 ? 4 : 2) + 4 * k, g + qs0 + 32 * k + 4 * i, 4);
    }
}

// The reference: each output in the stated operations, plain loops.
static void sd_x8_portable(int type, int M, int G, int K, const uint8_t *QA, size_t ldqa, const uint8_t *W,
                           float *C, int ldc, int accumulate) {
    const int nb = K / 32, bb = sd_x8_block_bytes(type);
    const size_t gb = (size_t)nb * bb;
    for (int g = 0; g < G; g++) {
        const uint8_t *w = W + g * gb;
        for (int m = 0; m < M; m++) {
            const sd_qa32 *a = (const sd_qa32 *)(QA + m * ldqa);
            for (int i = 0; i < 8; i++) {
                float acc = 0;
                for (int b = 0; b < nb; b++) {
                    const uint8_t *blk = w + (size_t)b * bb;
                    const float dw = sd_f16(blk + 2 * i);
                    int s = 0;
                    if (type == SD_Q8_0) {
                        for (int j = 0; j < 8; j++)
                            for (int e = 0; e < 4; e++) s += (int8_t)blk[16 + 32 * j + 4 * i + e] * a[b].q[4 * j + e];
                        acc = fmaf((float)s, dw * a[b].d, acc);
                    } else {
                        const int q1 = type == SD_Q4_1, qs0 = q1 ? 32 : 16;
                        for (int k = 0; k < 4; k++)
                            for (int e = 0; e < 4; e++) {
                                const uint8_t byte = blk[qs0 + 32 * k + 4 * i + e];
                                s += (byte & 0x0F) * a[b].q[4 * k + e] + (byte >> 4) * a[b].q[16 + 4 * k + e];
                            }
                        acc = fmaf((float)s, dw * a[b].d, acc);
                        acc = fmaf(q1 ? sd_f16(blk + 16 + 2 * i) : -8.0f * dw, a[b].s, acc);
                    }
                }
                float *c = C + (size_t)m * ldc + 8 * g + i;
                *c = accumulate ? *c + acc : acc;
            }
        }
    }
}

void sd_x8_rows_times_wt_q(int isa, int type, int M, int G, int K, const void *QA, const void *W, float *C,
                           int ldc, int accumulate) {
    if (M <= 0 || G <= 0 || !sd_x8_supported(type, K)) return;
    const size_t ldqa = sd_quant_act_row_bytes(type, K), gb = sd_x8_group_bytes(type, K);
    const uint8_t *qa = (const uint8_t *)QA, *w = (const uint8_t *)W;
    if (isa >= 1 && sd_quant_isa() >= 1) {
        // Passes of ≤ SD_X8_ROWS activation rows (their accumulators stay in registers);
        // with several passes, weight groups in tiles of ~24 KB so later passes re-read them from L1/L2.
        int tile = M <= SD_X8_ROWS ? G : (int)(24576 / gb);
        if (tile < 1) tile = 1;
        for (int g = 0; g < G; g += tile) {
            int gt = G - g < tile ? G - g : tile;
            // Passes as equal as possible (5 = 3 + 2, not 4 + 1).
            const int passes = (M + SD_X8_ROWS - 1) / SD_X8_ROWS;
            for (int p = 0, m = 0; p < passes; p++) {
                const int r = (M - m) / (passes - p);
                sd_x8_avx2(type, r, gt, K / 32, qa + m * ldqa, ldqa, w + g * gb, C + (size_t)m * ldc + 8 * g, ldc,
                           accumulate);
                m += r;
            }
        }
        return;
    }
    sd_x8_portable(type, M, G, K, qa, ldqa, w, C, ldc, accumulate);
}

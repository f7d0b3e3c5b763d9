// Few float rows times ggml-quantised weight rows: activation quantisation, the portable path
// and the dispatch (the AVX2 path is in QuantRowsAVX2.c; F16 / BF16 rows in QuantRowsHalf.c). The math and the summation order are
// stated in QuantKernels.h. Block layouts follow ggml-common.h (see GGMLDequantize.swift, whose
// scalar dequantisers are the tests' reference).
#pragma STDC FP_CONTRACT OFF
#include <math.h>
#include <stdlib.h>
#include "QuantInternal.h"

int sd_quant_supported(int type, int K) {
    return sd_block_bytes(type) > 0 && K > 0 && K % sd_block_elems(type) == 0;
}

size_t sd_quant_act_row_bytes(int type, int K) {
    if (sd_is_half(type)) return (size_t)K * sizeof(float);
    if (sd_is_k(type)) return (size_t)(K / 256) * sizeof(sd_qa256);
    return (size_t)(K / 32) * sizeof(sd_qa32);
}

// d = max|a| / 127, q = round(a · 127 / max|a|) clamped to [−127, 127] (0 for a NaN).
static float sd_quant_block(const float *a, int n, int8_t *q) {
    float amax = 0;
    for (int i = 0; i < n; i++) amax = fmaxf(amax, fabsf(a[i]));
    const float id = amax > 0 ? 127.0f / amax : 0.0f;
    for (int i = 0; i < n; i++) {
        float r = nearbyintf(a[i] * id);
        q[i] = (int8_t)(r >= 127 ? 127 : r <= -127 ? -127 : r == r ? (int)r : 0);
    }
    return amax / 127.0f;
}

void sd_quant_act(int type, int M, int K, const float *A, int lda, void *QA) {
    sd_quant_act_with(sd_quant_isa(), type, M, K, A, lda, QA);
}

void sd_quant_act_with(int isa, int type, int M, int K, const float *A, int lda, void *QA) {
    const size_t rowBytes = sd_quant_act_row_bytes(type, K);
    const int avx2 = isa >= 1 && sd_quant_isa() >= 1;
    for (int m = 0; m < M; m++) {
        const float *a = A + (size_t)m * lda;
        uint8_t *row = (uint8_t *)QA + (size_t)m * rowBytes;
        if (sd_is_half(type)) {
            memcpy(row, a, rowBytes);   // F16 / BF16 multiply float32 activations as they are
        } else if (sd_is_k(type)) {
            sd_qa256 *blk = (sd_qa256 *)row;
            for (int b = 0; b < K / 256; b++) {
                int s16[16];
#if defined(__x86_64__)
                if (avx2) blk[b].d = sd_quant_block_avx2(a + 256 * b, 256, blk[b].q, s16) / 127.0f;
                else
#endif
                {
                    blk[b].d = sd_quant_block(a + 256 * b, 256, blk[b].q);
                    for (int g = 0; g < 16; g++) {
                        s16[g] = 0;
                        for (int i = 0; i < 16; i++) s16[g] += blk[b].q[16 * g + i];
                    }
                }
                for (int g = 0; g < 16; g++) blk[b].bsums[g] = (int16_t)s16[g];
                for (int j = 0; j < 8; j++) blk[b].ssums[j] = (int16_t)(s16[2 * j] + s16[2 * j + 1]);
            }
        } else {
            sd_qa32 *blk = (sd_qa32 *)row;
            for (int b = 0; b < K / 32; b++) {
#if defined(__x86_64__)
                if (avx2) {
                    int s16[2];
                    blk[b].d = sd_quant_block_avx2(a + 32 * b, 32, blk[b].q, s16) / 127.0f;
                    blk[b].s = blk[b].d * (float)(s16[0] + s16[1]);
                    continue;
                }
#endif
                blk[b].d = sd_quant_block(a + 32 * b, 32, blk[b].q);
                int s = 0;
                for (int i = 0; i < 32; i++) s += blk[b].q[i];
                blk[b].s = blk[b].d * (float)s;
            }
        }
    }
}

// Decodes legacy block p into integer values v[32] (the dequantised value is d·v + m).
static void sd_decode_legacy(int type, const uint8_t *p, int v[32], float *d, float *m) {
    *d = sd_f16(p);
    *m = 0;
    if (type == SD_Q8_0) { for (int j = 0; j < 32; j++) v[j] = (int8_t)p[2 + j]; return; }
    const uint8_t *qs = p + 2;
    uint32_t qh = 0;
    int off = 0;
    if (type == SD_Q4_1 || type == SD_Q5_1) { *m = sd_f16(p + 2); qs += 2; }
    if (type == SD_Q5_0 || type == SD_Q5_1) { memcpy(&qh, qs, 4); qs += 4; }   // little-endian host
    if (type == SD_Q4_0) off = 8;
    if (type == SD_Q5_0) off = 16;
    const int five = type == SD_Q5_0 || type == SD_Q5_1;
    for (int j = 0; j < 16; j++) {
        v[j] = (qs[j] & 0x0F) + (five ? (int)((qh >> j) & 1) << 4 : 0) - off;
        v[j + 16] = (qs[j] >> 4) + (five ? (int)((qh >> (j + 16)) & 1) << 4 : 0) - off;
    }
}

// Decodes a Q4_K / Q5_K / Q6_K super-block into v[256] and per-16 scales sc[16] (Q4_K, Q5_K:
// sub-block scale repeated; Q6_K: the int8 scales) plus Q4_K / Q5_K mins mn[8]; value =
// d·sc·v − dmin·mn (Q4_K v ∈ 0…15; Q5_K v ∈ 0…31, bit 4 of element l of sub-block j in bit j of
// qh[l]) or d·sc·(v − 32) (Q6_K, v ∈ 0…63 here).
static void sd_decode_k(int type, const uint8_t *p, int v[256], int sc[16], int mn[8], float *d, float *dmin) {
    if (type == SD_Q4_K || type == SD_Q5_K) {
        *d = sd_f16(p); *dmin = sd_f16(p + 2);
        for (int j = 0; j < 8; j++) { sd_scale_min_k4(p + 4, j, &sc[2 * j], &mn[j]); sc[2 * j + 1] = sc[2 * j]; }
        const int five = type == SD_Q5_K;
        const uint8_t *qh = p + 16, *qs = p + (five ? 48 : 16);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                v[64 * c + l] = (qs[32 * c + l] & 0x0F) | (five ? ((qh[l] >> (2 * c)) & 1) << 4 : 0);
                v[64 * c + 32 + l] = (qs[32 * c + l] >> 4) | (five ? ((qh[l] >> (2 * c + 1)) & 1) << 4 : 0);
            }
    } else {
        const uint8_t *ql = p, *qh = p + 128;
        *d = sd_f16(p + 208); *dmin = 0;
        for (int g = 0; g < 16; g++) sc[g] = (int8_t)p[192 + g];
        for (int h = 0; h < 2; h++)
            for (int r = 0; r < 128; r++) {
                int lowByte = ql[64 * h + r % 64], low = r < 64 ? lowByte & 0x0F : lowByte >> 4;
                v[128 * h + r] = low | ((qh[32 * h + r % 32] >> (2 * (r / 32))) & 3) << 4;
            }
    }
}

// Portable path for M ≤ 16 rows: each weight block is decoded once and used for all rows.
static void sd_quant_portable(int type, int M, int N, int K, const void *QA, const uint8_t *W, size_t ldw,
                              float *C, int ldc, int accumulate) {
    const int bytes = sd_block_bytes(type), nb = K / sd_block_elems(type);
    const size_t ldqa = sd_quant_act_row_bytes(type, K);
    const int isK = sd_is_k(type);
    for (int n = 0; n < N; n++) {
        float acc[16] = {0}, summ[16] = {0};
        for (int b = 0; b < nb; b++) {
            const uint8_t *p = W + (size_t)n * ldw + (size_t)b * bytes;
            if (!isK) {
                int v[32];
                float d, mw;
                sd_decode_legacy(type, p, v, &d, &mw);
                for (int m = 0; m < M; m++) {
                    const sd_qa32 *a = (const sd_qa32 *)((const uint8_t *)QA + m * ldqa) + b;
                    int isum = 0;
                    for (int j = 0; j < 32; j++) isum += v[j] * a->q[j];
                    acc[m] += (d * a->d) * (float)isum;
                    summ[m] += mw * a->s;
                }
            } else {
                int v[256], sc[16], mn[8];
                float d, dmin;
                sd_decode_k(type, p, v, sc, mn, &d, &dmin);
                for (int m = 0; m < M; m++) {
                    const sd_qa256 *a = (const sd_qa256 *)((const uint8_t *)QA + m * ldqa) + b;
                    int isum = 0, msum = 0;
                    for (int g = 0; g < 16; g++) {
                        int s = 0;
                        for (int i = 0; i < 16; i++) s += v[16 * g + i] * a->q[16 * g + i];
                        isum += sc[g] * s;
                    }
                    if (type != SD_Q6_K) {
                        for (int j = 0; j < 8; j++) msum += mn[j] * (a->bsums[2 * j] + a->bsums[2 * j + 1]);
                        acc[m] += a->d * (d * (float)isum - dmin * (float)msum);
                    } else {
                        for (int g = 0; g < 16; g++) msum += sc[g] * a->bsums[g];
                        acc[m] += (d * a->d) * (float)(isum - 32 * msum);
                    }
                }
            }
        }
        for (int m = 0; m < M; m++) {
            float *c = C + (size_t)m * ldc + n;
            float r = acc[m] + summ[m];
            *c = accumulate ? *c + r : r;
        }
    }
}

int sd_quant_isa(void) {
#if defined(__x86_64__)
    static int state = -1;
    if (state < 0) {
        __builtin_cpu_init();
        const int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
        const int vnni = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
        state = avx2 && vnni ? (sd_isa_cap() >= 3 && sd_amx_available() ? 3 : 2) : avx2 ? 1 : 0;
        if (state > sd_isa_cap()) state = sd_isa_cap();
    }
    return state;
#else
    return 0;
#endif
}

void sd_quant_rows_times_wt_q(int isa, int type, int M, int N, int K, const void *QA, const void *W, size_t ldw,
                              float *C, int ldc, int accumulate) {
    if (M <= 0 || N <= 0 || !sd_quant_supported(type, K)) return;
    const size_t ldqa = sd_quant_act_row_bytes(type, K);
    const uint8_t *w = (const uint8_t *)W;
    const int nb = K / sd_block_elems(type);
    if (isa >= 1 && sd_quant_isa() >= 1 && sd_quant_avx2_has(type)) {
        // Groups of ≤ G rows; with several groups, weight rows in tiles of ~16 KB (L1-resident).
        const int G = sd_quant_avx2_group_max(type);
        int tile = M <= G ? N : (int)(16384 / (ldw > 0 ? ldw : 1));
        if (tile < 1) tile = 1;
        for (int n = 0; n < N; n += tile) {
            int nt = N - n < tile ? N - n : tile;
            for (int m = 0; m < M; m += G) {
                int r = M - m < G ? M - m : G;
                sd_quant_avx2_group(type, r, nt, nb, (const uint8_t *)QA + m * ldqa, ldqa, w + (size_t)n * ldw, ldw,
                                    C + (size_t)m * ldc + n, ldc, accumulate);
            }
        }
        return;
    }
    if (sd_is_half(type)) {
        sd_half_portable(type, M, N, nb, (const float *)QA, (int)(ldqa / sizeof(float)), w, ldw, C, ldc, accumulate);
        return;
    }
    for (int m = 0; m < M; m += 16) {
        int r = M - m < 16 ? M - m : 16;
        sd_quant_portable(type, r, N, K, (const uint8_t *)QA + m * ldqa, w, ldw, C + (size_t)m * ldc, ldc, accumulate);
    }
}

void sd_quant_rows_times_wt_with(int isa, int type, int M, int N, int K, const float *A, int lda, const void *W,
                                 size_t ldw, float *C, int ldc, int accumulate) {
    if (M <= 0 || N <= 0 || !sd_quant_supported(type, K)) return;
    void *qa = malloc(sd_quant_act_row_bytes(type, K) * (size_t)M);
    if (!qa) return;
    sd_quant_act(type, M, K, A, lda, qa);
    sd_quant_rows_times_wt_q(isa, type, M, N, K, qa, W, ldw, C, ldc, accumulate);
    free(qa);
}

void sd_quant_rows_times_wt(int type, int M, int N, int K, const float *A, int lda, const void *W, size_t ldw,
                            float *C, int ldc, int accumulate) {
    sd_quant_rows_times_wt_with(sd_quant_isa(), type, M, N, K, A, lda, W, ldw, C, ldc, accumulate);
}

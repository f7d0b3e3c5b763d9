// Shared by QuantRows.c (portable path, activation quantisation, dispatch), QuantRowsAVX2.c and
// QuantRowsHalf.c (F16 / BF16 rows).
#ifndef SPECDISTILL_QUANT_INTERNAL_H
#define SPECDISTILL_QUANT_INTERNAL_H
#include <stdint.h>
#include <string.h>
#include "QuantKernels.h"
#include "CKernels.h"

enum { SD_F16 = 1, SD_Q4_0 = 2, SD_Q4_1 = 3, SD_Q5_0 = 6, SD_Q5_1 = 7, SD_Q8_0 = 8, SD_Q4_K = 12, SD_Q5_K = 13,
       SD_Q6_K = 14, SD_BF16 = 30 };

/// K-quants: super-blocks of 256, activations as sd_qa256.
static inline int sd_is_k(int type) { return type == SD_Q4_K || type == SD_Q5_K || type == SD_Q6_K; }
/// F16 / BF16: activations stay float32 (QuantRowsHalf.c).
static inline int sd_is_half(int type) { return type == SD_F16 || type == SD_BF16; }

/// Activations for the legacy types: one block of 32 quantised values; s = d · Σ q.
typedef struct { float d, s; int8_t q[32]; } sd_qa32;
/// Activations for the K-quants: one super-block of 256; bsums[g] = Σ q over elements 16g…16g+15,
/// ssums[j] = bsums[2j] + bsums[2j + 1] (the 32-element sub-blocks of Q4_K / Q5_K; |ssums| ≤ 32 · 127).
typedef struct { float d; int16_t bsums[16]; int8_t q[256]; int16_t ssums[8]; } sd_qa256;

static inline float sd_f16(const uint8_t *p) {
    uint32_t h = (uint32_t)p[0] | (uint32_t)p[1] << 8;
    uint32_t sign = (h & 0x8000u) << 16, e = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (e == 0) {
        float f = (float)man * (1.0f / 16777216.0f);   // subnormal: man · 2^-24, exact
        return sign ? -f : f;
    }
    bits = e == 31 ? (sign | 0x7f800000u | man << 13) : (sign | (e + 112) << 23 | man << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/// Bytes per weight block and elements per block of a supported type (0 otherwise).
static inline int sd_block_bytes(int type) {
    switch (type) {
    case SD_Q8_0: return 34;
    case SD_Q4_0: return 18;
    case SD_Q4_1: return 20;
    case SD_Q5_0: return 22;
    case SD_Q5_1: return 24;
    case SD_Q4_K: return 144;
    case SD_Q5_K: return 176;
    case SD_Q6_K: return 210;
    case SD_F16: case SD_BF16: return 32;   // a "block" of 16 halves: one step of the two 8-lane accumulators
    default: return 0;
    }
}
static inline int sd_block_elems(int type) { return sd_is_k(type) ? 256 : sd_is_half(type) ? 16 : 32; }

/// The 6-bit scale and min of sub-block j (0…7) of a Q4_K / Q5_K super-block (ggml's get_scale_min_k4).
static inline void sd_scale_min_k4(const uint8_t *s, int j, int *sc, int *m) {
    if (j < 4) { *sc = s[j] & 63; *m = s[j + 4] & 63; }
    else { *sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4); *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4); }
}

/// AVX2 kernels (QuantRowsAVX2.c): rows [0, R) of a group, R ≤ 8; returns 0 when the type has no
/// AVX2 kernel (the caller then runs the portable path).
int sd_quant_avx2_group(int type, int R, int N, int nb, const void *QA, size_t ldqa, const uint8_t *W,
                        size_t ldw, float *C, int ldc, int accumulate);
int sd_quant_avx2_has(int type);
/// Rows an AVX2 group may hold for `type` (the register budget of its kernel).
static inline int sd_quant_avx2_group_max(int type) { return sd_is_half(type) ? 6 : 8; }
/// F16 / BF16 (QuantRowsHalf.c): C[r, n] (+)= W_n · A_r for r < R (AVX2, R ≤ 6) or r < M (portable,
/// any M), A float32 rows of stride lda, nb blocks of 16 elements per row.
void sd_half_avx2_group(int type, int R, int N, int nb, const float *A, int lda, const uint8_t *W, size_t ldw,
                        float *C, int ldc, int accumulate);
void sd_half_portable(int type, int M, int N, int nb, const float *A, int lda, const uint8_t *W, size_t ldw,
                      float *C, int ldc, int accumulate);
/// One block of n activations (a multiple of 32) on AVX2, bit for bit as the portable
/// sd_quant_block, with the sums of each 16 quantised values in sum16[n / 16]; returns max|a|.
float sd_quant_block_avx2(const float *a, int n, int8_t *q, int *sum16);
/// Where a legacy type's parts sit in an interleaved group block (QuantKernels.h) and in the plain
/// block: m1 — a stored min (Q4_1, Q5_1: the 8 f16 at byte 16); five — fifth bits (Q5_0, Q5_1, the
/// 32 bytes at hb); qs — the nibble chunks; src_qs — the nibbles in a plain block.
typedef struct { int m1, five, hb, qs, src_qs; } sd_x8_legacy_layout;
static inline sd_x8_legacy_layout sd_x8_legacy(int type) {
    const int m1 = type == SD_Q4_1 || type == SD_Q5_1, five = type == SD_Q5_0 || type == SD_Q5_1;
    return (sd_x8_legacy_layout){m1, five, 16 + 16 * m1, 16 + 16 * m1 + 32 * five, 2 + 2 * m1 + 4 * five};
}
/// AVX2 kernel of the interleaved layout (QuantX8AVX2.c): activation rows [0, R), R ≤ sd_x8_pass_rows(1, type), G groups.
void sd_x8_avx2(int type, int R, int G, int nb, const uint8_t *QA, size_t ldqa, const uint8_t *W, float *C, int ldc,
                int accumulate);
/// AVX-VNNI kernel of the interleaved layout (QuantX8AVXVNNI.c): as sd_x8_avx2 (same rows per
/// pass), the integer sums with the VEX-encoded `vpdpbusd`; only where sd_x8_avx_vnni_preferred().
void sd_x8_avxvnni(int type, int R, int G, int nb, const uint8_t *QA, size_t ldqa, const uint8_t *W, float *C, int ldc,
                   int accumulate);
/// AVX-512 VNNI kernel of the interleaved layout (QuantX8VNNI.c): activation rows [0, R),
/// R ≤ sd_x8_pass_rows(2, type), G groups.
void sd_x8_vnni(int type, int R, int G, int nb, const uint8_t *QA, size_t ldqa, const uint8_t *W, float *C, int ldc,
                int accumulate);
/// AVX-512 VNNI on 512-bit registers (QuantX16VNNI.c), legacy types only: activation rows
/// [0, R), R ≤ 8, G2 pairs of adjacent groups (16 weight rows each).
void sd_x16_vnni(int type, int R, int G2, int nb, const uint8_t *QA, size_t ldqa, const uint8_t *W, float *C, int ldc,
                 int accumulate);
/// AMX kernel of the interleaved layout (QuantX8AMX.c), legacy types only: activation rows
/// [0, M), M ≤ 16 (one tile), G groups (an odd last group through half a tile).
void sd_x8_amx(int type, int M, int G, int nb, const uint8_t *QA, size_t ldqa, const uint8_t *W, float *C, int ldc,
               int accumulate);
/// 1 when the CPU has AMX-TILE and AMX-INT8 and Linux granted this process the tile state.
int sd_amx_available(void);
/// Activation rows one pass of the register-held interleaved kernels holds: with AVX-512's 32
/// registers 8 for the legacy types and 6 for the K-quants (their four vectors per row); on AVX2
/// 6 (16 vector registers: the K-quants' accumulators may spill to L1, which still beats a
/// second pass: appending 5 tokens 1.81 → 1.47 plain steps on SmolLM2 Q4_1, 2.20 → 1.92 on
/// Qwen2.5-Coder-1.5B Q4_K_M, the AVX2 path of a Zen 4 host, 2026-12-06). (AMX passes hold one
/// tile of 16 rows; the dispatch uses them for more than 8 rows of the legacy types.)
static inline int sd_x8_pass_rows(int isa, int type) { return isa >= 2 ? (sd_is_k(type) ? 6 : 8) : 6; }

/// 1: the interleaved kernels prefetch weight blocks into L2 only, 0: into L1 (Isa.c; set by
/// sd_x8_set_prefetch_l2). Read once per block by the prefetches.
extern int sd_x8_pf_l2;

#endif

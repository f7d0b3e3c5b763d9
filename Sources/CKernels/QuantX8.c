// Interleaved groups of 8 quantised weight rows ("x8"): repacking, unpacking, the portable
// reference loop and the dispatch (the AVX2 path is in QuantX8AVX2.c, AVX-512 VNNI in QuantX8VNNI.c
// (256-bit) and QuantX16VNNI.c (512-bit pairs of groups), AMX tiles in QuantX8AMX.c). Layout and math are
// stated in QuantKernels.h; every path computes every output in the same operations, bit for bit.
#pragma STDC FP_CONTRACT OFF
#include <math.h>
#include "QuantInternal.h"


int sd_x8_supported(int type, int K) {
    if (type == SD_Q4_K || type == SD_Q6_K) return K > 0 && K % 256 == 0;
    return (type == SD_Q4_0 || type == SD_Q4_1 || type == SD_Q5_0 || type == SD_Q5_1 || type == SD_Q8_0) && K > 0 && K % 32 == 0;
}

// Q5_0's and Q5_1's high bits for the x8 layout: byte e (0…3) of row i holds, at bit k, the fifth bit of
// element 4k + e (the low nibble of qs chunk k) and at bit 4 + k that of element 16 + 4k + e (its
// high nibble), so a kernel moves chunk k's bits to bit 4 with one 16-bit shift and a mask.
static void sd_x8_pack_q5_bits(const uint8_t *qh4, uint8_t *o) {
    uint32_t qh;
    memcpy(&qh, qh4, 4);   // little-endian: bit j is element j's fifth bit
    for (int e = 0; e < 4; e++) {
        uint8_t v = 0;
        for (int k = 0; k < 4; k++) v |= (uint8_t)(((qh >> (4 * k + e)) & 1) << k | ((qh >> (16 + 4 * k + e)) & 1) << (4 + k));
        o[e] = v;
    }
}

static void sd_x8_unpack_q5_bits(const uint8_t *o, uint8_t *qh4) {
    uint32_t qh = 0;
    for (int e = 0; e < 4; e++)
        for (int k = 0; k < 4; k++) qh |= (uint32_t)((o[e] >> k) & 1) << (4 * k + e) | (uint32_t)((o[e] >> (4 + k)) & 1) << (16 + 4 * k + e);
    memcpy(qh4, &qh, 4);
}

// Bytes of 8 rows' blocks: Q4_0 144, Q4_1 160, Q5_0 176, Q5_1 192, Q8_0 272, Q6_K 1680 (8 plain blocks reordered);
// Q4_K 1184 (8 × 144 plus the scales and mins decoded to bytes).
static int sd_x8_block_bytes(int type) { return type == SD_Q4_K ? 1184 : 8 * sd_block_bytes(type); }

size_t sd_x8_group_bytes(int type, int K) {
    return sd_x8_supported(type, K) ? (size_t)(K / sd_block_elems(type)) * (size_t)sd_x8_block_bytes(type) : 0;
}

// Q4_K's 12 scale bytes from the 8 sub-block scales and mins (0…63): the inverse of sd_scale_min_k4.
static void sd_pack_scale_min_k4(const int sc[8], const int mn[8], uint8_t s[12]) {
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)((sc[j] & 63) | (sc[j + 4] >> 4) << 6);
        s[j + 4] = (uint8_t)((mn[j] & 63) | (mn[j + 4] >> 4) << 6);
        s[j + 8] = (uint8_t)((sc[j + 4] & 0x0F) | (mn[j + 4] & 0x0F) << 4);
    }
}

// Q4_K group block: d[8] f16 · dmin[8] f16 · sc[8 sub-blocks][8 rows] u8 · m[8][8] u8 ·
// qs[4 chunks c][8 k][8 rows][4]: bytes 32c + 4k … + 3 of each row's qs (low nibbles: sub-block
// 2c, high: 2c + 1).
static void sd_x8_pack_q4k(const uint8_t *W, size_t ldw, int b, uint8_t *o) {
    for (int i = 0; i < 8; i++) {
        const uint8_t *p = W + (size_t)i * ldw + (size_t)b * 144;
        memcpy(o + 2 * i, p, 2);
        memcpy(o + 16 + 2 * i, p + 2, 2);
        for (int j = 0; j < 8; j++) {
            int sc, mn;
            sd_scale_min_k4(p + 4, j, &sc, &mn);
            o[32 + 8 * j + i] = (uint8_t)sc;
            o[96 + 8 * j + i] = (uint8_t)mn;
        }
        for (int c = 0; c < 4; c++)
            for (int k = 0; k < 8; k++) memcpy(o + 160 + 256 * c + 32 * k + 4 * i, p + 16 + 32 * c + 4 * k, 4);
    }
}

// Q6_K group block: d[8] f16 · sc[16 groups][8 rows] i8 · ql[2 halves h][2 parts][8 k][8 rows][4]
// (part p: bytes 64h + 32p + 4k … + 3 of the row's ql) · qh[2 h][8 k][8 rows][4] (bytes 32h + 4k …).
// Element 128h + 32j + 4k + e has low 4 bits from ql part j % 2 (low nibble for j < 2, high
// otherwise) and high 2 bits from qh bits 2j…2j + 1; value = d·sc_g·(q − 32), g = its 16-group.
static void sd_x8_pack_q6k(const uint8_t *W, size_t ldw, int b, uint8_t *o) {
    for (int i = 0; i < 8; i++) {
        const uint8_t *p = W + (size_t)i * ldw + (size_t)b * 210;
        memcpy(o + 2 * i, p + 208, 2);
        for (int g = 0; g < 16; g++) o[16 + 8 * g + i] = p[192 + g];
        for (int h = 0; h < 2; h++)
            for (int k = 0; k < 8; k++) {
                for (int part = 0; part < 2; part++)
                    memcpy(o + 144 + 512 * h + 256 * part + 32 * k + 4 * i, p + 64 * h + 32 * part + 4 * k, 4);
                memcpy(o + 1168 + 256 * h + 32 * k + 4 * i, p + 128 + 32 * h + 4 * k, 4);
            }
    }
}

static void sd_x8_unpack_q6k(const uint8_t *g, int i, uint8_t *p) {
    memcpy(p + 208, g + 2 * i, 2);
    for (int s = 0; s < 16; s++) p[192 + s] = g[16 + 8 * s + i];
    for (int h = 0; h < 2; h++)
        for (int k = 0; k < 8; k++) {
            for (int part = 0; part < 2; part++)
                memcpy(p + 64 * h + 32 * part + 4 * k, g + 144 + 512 * h + 256 * part + 32 * k + 4 * i, 4);
            memcpy(p + 128 + 32 * h + 4 * k, g + 1168 + 256 * h + 32 * k + 4 * i, 4);
        }
}

static void sd_x8_unpack_q4k(const uint8_t *g, int i, uint8_t *p) {
    memcpy(p, g + 2 * i, 2);
    memcpy(p + 2, g + 16 + 2 * i, 2);
    int sc[8], mn[8];
    for (int j = 0; j < 8; j++) { sc[j] = g[32 + 8 * j + i]; mn[j] = g[96 + 8 * j + i]; }
    sd_pack_scale_min_k4(sc, mn, p + 4);
    for (int c = 0; c < 4; c++)
        for (int k = 0; k < 8; k++) memcpy(p + 16 + 32 * c + 4 * k, g + 160 + 256 * c + 32 * k + 4 * i, 4);
}

/// Whether the f16 at p is NaN or ±Inf (exponent bits all ones).
static int sd_f16_nonfinite(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return (h & 0x7C00) == 0x7C00;
}

/// -1 - (8·b + i) for the first of the 8 rows whose f16 scales in the packed block o are not
/// finite (d at 2i; the second scale at 16 + 2i for Q4_1, Q5_1 and Q4_K), else 0.
static int sd_x8_check_scales(int type, const uint8_t *o, int b) {
    const int second = sd_x8_legacy(type).m1 || type == SD_Q4_K;
    for (int i = 0; i < 8; i++)
        if (sd_f16_nonfinite(o + 2 * i) || (second && sd_f16_nonfinite(o + 16 + 2 * i))) return -1 - (8 * b + i);
    return 0;
}

int sd_x8_pack(int type, int K, const void *W, size_t ldw, void *dst) {
    if (!sd_x8_supported(type, K)) return 0;
    const int nb = K / sd_block_elems(type), src = sd_block_bytes(type), bb = sd_x8_block_bytes(type);
    int bad = 0;
    for (int b = 0; b < nb; b++) {
        uint8_t *o = (uint8_t *)dst + (size_t)b * bb;
        if (type == SD_Q4_K) sd_x8_pack_q4k((const uint8_t *)W, ldw, b, o);
        else if (type == SD_Q6_K) sd_x8_pack_q6k((const uint8_t *)W, ldw, b, o);
        else for (int i = 0; i < 8; i++) {
            const uint8_t *p = (const uint8_t *)W + (size_t)i * ldw + (size_t)b * src;
            memcpy(o + 2 * i, p, 2);   // d
            if (type == SD_Q8_0) {
                for (int j = 0; j < 8; j++) memcpy(o + 16 + 32 * j + 4 * i, p + 2 + 4 * j, 4);
                continue;
            }
            const sd_x8_legacy_layout L = sd_x8_legacy(type);
            if (L.m1) memcpy(o + 16 + 2 * i, p + 2, 2);
            if (L.five) sd_x8_pack_q5_bits(p + 2 + 2 * L.m1, o + L.hb + 4 * i);
            for (int k = 0; k < 4; k++) memcpy(o + L.qs + 32 * k + 4 * i, p + L.src_qs + 4 * k, 4);
        }
        if (!bad) bad = sd_x8_check_scales(type, o, b);   // the block's scales are in L1 now
    }
    return bad ? bad : 1;
}

void sd_x8_unpack_row(int type, int K, const void *group, int i, void *dst) {
    const int nb = K / sd_block_elems(type), src = sd_block_bytes(type), bb = sd_x8_block_bytes(type);
    for (int b = 0; b < nb; b++) {
        const uint8_t *g = (const uint8_t *)group + (size_t)b * bb;
        uint8_t *p = (uint8_t *)dst + (size_t)b * src;
        if (type == SD_Q4_K) { sd_x8_unpack_q4k(g, i, p); continue; }
        if (type == SD_Q6_K) { sd_x8_unpack_q6k(g, i, p); continue; }
        memcpy(p, g + 2 * i, 2);
        if (type == SD_Q8_0) {
            for (int j = 0; j < 8; j++) memcpy(p + 2 + 4 * j, g + 16 + 32 * j + 4 * i, 4);
            continue;
        }
        const sd_x8_legacy_layout L = sd_x8_legacy(type);
        if (L.m1) memcpy(p + 2, g + 16 + 2 * i, 2);
        if (L.five) sd_x8_unpack_q5_bits(g + L.hb + 4 * i, p + 2 + 2 * L.m1);
        for (int k = 0; k < 4; k++) memcpy(p + L.src_qs + 4 * k, g + L.qs + 32 * k + 4 * i, 4);
    }
}

// The reference: each output in the stated operations, plain loops.
static void sd_x8_portable(int type, int M, int G, int K, const uint8_t *QA, size_t ldqa, const uint8_t *W,
                           float *C, int ldc, int accumulate) {
    const int nb = K / sd_block_elems(type), bb = sd_x8_block_bytes(type);
    const size_t gb = (size_t)nb * bb;
    for (int g = 0; g < G; g++) {
        const uint8_t *w = W + g * gb;
        if (type == SD_Q6_K) {
            // acc = fma(d·d_a, (float)(Σ_g sc_g Σ q_w q_a − 32·Σ_g sc_g Σ q_a), acc), integer sums exact.
            for (int m = 0; m < M; m++) {
                const sd_qa256 *a = (const sd_qa256 *)(QA + m * ldqa);
                for (int i = 0; i < 8; i++) {
                    float acc = 0;
                    for (int b = 0; b < nb; b++) {
                        const uint8_t *blk = w + (size_t)b * bb;
                        int isum = 0, msum = 0;
                        for (int h = 0; h < 2; h++)
                            for (int j = 0; j < 4; j++)
                                for (int k = 0; k < 8; k++) {
                                    const int grp = 8 * h + 2 * j + k / 4, sc = (int8_t)blk[16 + 8 * grp + i];
                                    int s = 0;
                                    for (int e = 0; e < 4; e++) {
                                        const uint8_t lb = blk[144 + 512 * h + 256 * (j % 2) + 32 * k + 4 * i + e];
                                        const uint8_t hb = blk[1168 + 256 * h + 32 * k + 4 * i + e];
                                        const int q = (j < 2 ? lb & 0x0F : lb >> 4) | ((hb >> (2 * j)) & 3) << 4;
                                        s += q * a[b].q[128 * h + 32 * j + 4 * k + e];
                                    }
                                    isum += sc * s;
                                }
                        for (int grp = 0; grp < 16; grp++) msum += (int8_t)blk[16 + 8 * grp + i] * a[b].bsums[grp];
                        acc = fmaf(sd_f16(blk + 2 * i) * a[b].d, (float)(isum - 32 * msum), acc);
                    }
                    float *c = C + (size_t)m * ldc + 8 * g + i;
                    *c = accumulate ? *c + acc : acc;
                }
            }
            continue;
        }
        if (type == SD_Q4_K) {
            // acc = fma(d_a, d·Σ_j sc_j Σ q_w q_a − dmin·Σ_j m_j Σ q_a, acc), integer sums exact.
            for (int m = 0; m < M; m++) {
                const sd_qa256 *a = (const sd_qa256 *)(QA + m * ldqa);
                for (int i = 0; i < 8; i++) {
                    float acc = 0;
                    for (int b = 0; b < nb; b++) {
                        const uint8_t *blk = w + (size_t)b * bb;
                        int isum = 0, msum = 0;
                        for (int j = 0; j < 8; j++) {
                            const int c = j / 2, hi = j % 2;
                            int s = 0;
                            for (int k = 0; k < 8; k++)
                                for (int e = 0; e < 4; e++) {
                                    const uint8_t byte = blk[160 + 256 * c + 32 * k + 4 * i + e];
                                    s += (hi ? byte >> 4 : byte & 0x0F) * a[b].q[64 * c + 32 * hi + 4 * k + e];
                                }
                            isum += blk[32 + 8 * j + i] * s;
                            msum += blk[96 + 8 * j + i] * (a[b].bsums[2 * j] + a[b].bsums[2 * j + 1]);
                        }
                        const float t = sd_f16(blk + 2 * i) * (float)isum, u = sd_f16(blk + 16 + 2 * i) * (float)msum;
                        acc = fmaf(a[b].d, t - u, acc);
                    }
                    float *c = C + (size_t)m * ldc + 8 * g + i;
                    *c = accumulate ? *c + acc : acc;
                }
            }
            continue;
        }
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
                        // Q5_0 / Q5_1: q = nibble | fifth bit << 4; Q5_0's value d·(q − 16) = d·q + m with m = −16d.
                        const sd_x8_legacy_layout L = sd_x8_legacy(type);
                        for (int k = 0; k < 4; k++)
                            for (int e = 0; e < 4; e++) {
                                const uint8_t byte = blk[L.qs + 32 * k + 4 * i + e], hb = L.five ? blk[L.hb + 4 * i + e] : 0;
                                const int lo = (byte & 0x0F) | ((hb >> k) & 1) << 4, hi = (byte >> 4) | ((hb >> (4 + k)) & 1) << 4;
                                s += lo * a[b].q[4 * k + e] + hi * a[b].q[16 + 4 * k + e];
                            }
                        acc = fmaf((float)s, dw * a[b].d, acc);
                        acc = fmaf(L.m1 ? sd_f16(blk + 16 + 2 * i) : (L.five ? -16.0f : -8.0f) * dw, a[b].s, acc);
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
    const int nb = K / sd_block_elems(type);
    const uint8_t *qa = (const uint8_t *)QA, *w = (const uint8_t *)W;
    const int pairs = isa & SD_X8_PAIRS_ON ? 1 : isa & SD_X8_PAIRS_OFF ? 0 : sd_x8_pairs_preferred();
    const int vex = isa & SD_X8_AVXVNNI_ON ? 1 : isa & SD_X8_AVXVNNI_OFF ? 0 : sd_x8_avx_vnni_preferred();
    isa &= ~(SD_X8_PAIRS_ON | SD_X8_PAIRS_OFF | SD_X8_AVXVNNI_ON | SD_X8_AVXVNNI_OFF);
    if (isa > sd_quant_isa()) isa = sd_quant_isa();
    if (isa >= 1) {
        // Passes of ≤ rowsMax activation rows (their accumulators stay in registers, or one AMX
        // tile); with several passes, weight groups in tiles of ~24 KB (an even number, for the
        // 512-bit pairs) so later passes re-read them from L1/L2.
        // Q5_0 and Q5_1 have no AMX or 512-bit pair kernels: their 256-bit passes.
        const int five = type == SD_Q5_0 || type == SD_Q5_1, legacy = !sd_is_k(type), amx = isa >= 3 && legacy && !five && M > 8,
                  wide = pairs && isa >= 2 && legacy && !five && M >= 2;
        const int rowsMax = amx ? 16 : sd_x8_pass_rows(isa, type);
        int tile = M <= rowsMax ? G : (int)(24576 / gb) & ~1;
        if (tile < 2) tile = 2;
        for (int g = 0; g < G; g += tile) {
            int gt = G - g < tile ? G - g : tile;
            // Passes as equal as possible (5 = 3 + 2, not 4 + 1).
            const int passes = (M + rowsMax - 1) / rowsMax;
            for (int p = 0, m = 0; p < passes; p++) {
                const int r = (M - m) / (passes - p);
                const uint8_t *qr = qa + m * ldqa, *wg = w + g * gb;
                float *c = C + (size_t)m * ldc + 8 * g;
                if (amx) sd_x8_amx(type, r, gt, nb, qr, ldqa, wg, c, ldc, accumulate);
                else if (wide) {
                    // Pairs of groups on 512-bit registers, an odd last group on 256-bit ones.
                    sd_x16_vnni(type, r, gt / 2, nb, qr, ldqa, wg, c, ldc, accumulate);
                    if (gt & 1) sd_x8_vnni(type, r, 1, nb, qr, ldqa, wg + (gt - 1) * gb, c + 8 * (gt - 1), ldc, accumulate);
                } else
                    (isa >= 2 ? sd_x8_vnni : vex ? sd_x8_avxvnni : sd_x8_avx2)(type, r, gt, nb, qr, ldqa, wg, c, ldc, accumulate);
                m += r;
            }
        }
        return;
    }
    sd_x8_portable(type, M, G, K, qa, ldqa, w, C, ldc, accumulate);
}

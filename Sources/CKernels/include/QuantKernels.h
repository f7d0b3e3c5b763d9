#ifndef SPECDISTILL_QUANT_KERNELS_H
#define SPECDISTILL_QUANT_KERNELS_H
#include <stddef.h>

/// Few activation rows times a weight matrix whose rows stay in their ggml block type:
///
///     C[m, n] (+)= Σ_k A[m, k] · W_n[k]      m < M (1…16), n < N
///
/// where W_n is weight row n, `ldw` bytes after row n − 1, stored as ggml blocks (type codes are
/// ggml's: 8 Q8_0, 2 Q4_0, 3 Q4_1, 6 Q5_0, 7 Q5_1, 12 Q4_K, 13 Q5_K, 14 Q6_K; 1 F16 and 30 BF16,
/// whose "blocks" here are 16 elements, 32 bytes).
///
/// **Activation quantisation** (all types but F16 / BF16). Row m of A is first quantised on its
/// own, per block of 32 (legacy types) or 256 (K-quants) values: d = max|a| / 127,
/// q = round(a / d) ∈ [−127, 127], so |a − d·q| ≤ d / 2 = max|a| / 254. The block products are
/// then exact integer sums of q_w · q_a, scaled in float: legacy `d_w·d_a·Σ q_w q_a (+ m_w · d_a·Σ q_a)`,
/// Q4_K and Q5_K (q_w ∈ 0…15, 0…31; the same 256-value activation blocks and the same 6-bit
/// scale/min unpacking) `d_a·(d·Σ_j sc_j Σ q_w q_a − dmin·Σ_j m_j Σ q_a)`, Q6_K
/// `d·d_a·Σ_j sc_j Σ (q_w − 32) q_a`.
///
/// **F16 / BF16** keep the activations in float32 (sd_quant_act copies them) and convert the
/// weights exactly to float32 on the fly (F16: IEEE half; BF16: the bits shifted left by 16). Per
/// output, two accumulators of 8 float lanes; block b (elements 16b…16b+15, ascending) adds
/// s0[l] = fma(w[16b+l], a[16b+l], s0[l]) and s1[l] = fma(w[16b+8+l], a[16b+8+l], s1[l]), l < 8;
/// the output is ((t0+t4) + (t1+t5)) + ((t2+t6) + (t3+t7)) with t = s0 + s1 lane-wise. So the only
/// error is float32 rounding: |C − Σ w·a| ≤ (K/16 + 4) · 2⁻²⁴ · Σ |w·a| (to first order). This is
/// the order of sd_rows_times_wt's AVX2 path (K % 16 == 0), so there F16 / BF16 rows give the
/// bits of their float32 conversion.
///
/// **Summation order (batch and thread invariance).** Each output is computed from its own
/// quantised activation row and its own weight row, block by block in ascending order, with
/// per-row accumulators whose operations do not depend on M, on the group a row falls in, or on
/// the caller's split of N. So a row's result is bitwise the same alone or with other rows, on
/// any number of threads. For the legacy types the portable and AVX2 paths sum in different
/// orders (AVX2 keeps eight float lanes per accumulator); each path is invariant on its own. For
/// the K-quants (exact int32 super-block sums, then the same scalar float expression) and for
/// F16 / BF16 (the lane structure above on both paths) AVX2 equals the portable loop bit for bit.
///
/// Each weight block is decoded once and multiplied into every row of a group (≤ 8 rows on
/// AVX2, ≤ 6 for F16 / BF16); for more rows the weight rows go in tiles of about 16 KB so later
/// groups re-read L1.

/// 1 when `type` has a native kernel for rows of K elements (K a multiple of the block size: 32,
/// 256 for K-quants, 16 for F16 / BF16).
int sd_quant_supported(int type, int K);

/// Bytes of one quantised activation row of K elements for weights of `type` (4K for F16 / BF16).
size_t sd_quant_act_row_bytes(int type, int K);

/// Quantises M rows of K activations (row stride lda floats) into QA (M rows of
/// sd_quant_act_row_bytes(type, K) bytes). Row m depends only on A's row m.
void sd_quant_act(int type, int M, int K, const float *A, int lda, void *QA);

/// sd_quant_act with a chosen instruction set (1 AVX2, 0 portable); both give the same bytes.
void sd_quant_act_with(int isa, int type, int M, int K, const float *A, int lda, void *QA);

/// C[m, n] (+)= W_n · A_m from activations already quantised by sd_quant_act (same type and K),
/// with a chosen instruction set: 1 AVX2+FMA+F16C, 0 the portable loop (lowered to what the CPU has).
/// `W` points at weight row 0 of this call; ldw is the row stride in bytes.
void sd_quant_rows_times_wt_q(int isa, int type, int M, int N, int K, const void *QA, const void *W,
                              size_t ldw, float *C, int ldc, int accumulate);

/// Quantises A (allocating scratch) and calls sd_quant_rows_times_wt_q with `isa`.
void sd_quant_rows_times_wt_with(int isa, int type, int M, int N, int K, const float *A, int lda,
                                 const void *W, size_t ldw, float *C, int ldc, int accumulate);

/// sd_quant_rows_times_wt_with on the best instruction set of this CPU.
void sd_quant_rows_times_wt(int type, int M, int N, int K, const float *A, int lda, const void *W,
                            size_t ldw, float *C, int ldc, int accumulate);

/// The instruction set the quantised kernels use here: 3 AMX (AMX-TILE, AMX-INT8 granted by
/// Linux, plus everything of 2: the interleaved kernels of the legacy types multiply in tiles of
/// 16 activation rows, the K-quants run their VNNI path), 2 AVX-512 VNNI (F, BW, VL, VNNI; the
/// interleaved kernels below use it, the plain ones run their AVX2 path), 1 AVX2+FMA+F16C,
/// 0 portable; capped by SPECDISTILL_ISA (sd_isa_cap).
int sd_quant_isa(void);

/// **Interleaved groups of 8 weight rows ("x8")** for Q4_0, Q4_1 and Q8_0, repacked at load so
/// that the 8 float lanes of one accumulator are 8 output columns: no horizontal sums, one
/// activation-scale product per block for 8 outputs, and 4-bit products summed in int16.
/// Per group and block of 32 elements (b ascending), the bytes of the 8 plain blocks reordered:
///   Q4_1 (160 bytes): d[8] f16 · m[8] f16 · qs[4][8][4]; Q4_0 (144 bytes): d[8] f16 · qs[4][8][4]:
///     register k holds bytes 4k…4k+3 of the 16 nibble bytes of each of the 8 rows (low nibble
///     element j, high element j + 16); value = d·q + m with q ∈ 0…15 (Q4_0: m = −8d, exact).
///   Q5_0 (176 bytes): d[8] f16 · hb[8][4] · qs[4][8][4] as Q4_0; byte e of row i's hb holds at
///     bit k the fifth bit of element 4k + e and at bit 4 + k that of element 16 + 4k + e, so
///     q ∈ 0…31, m = −16d (exact); Q5_1 (192 bytes): d[8] · m[8] f16 · hb[8][4] · qs[4][8][4], the
///     same with Q4_1's m. Neither has AMX or 512-bit pair kernels.
///   Q8_0 (272 bytes): d[8] f16 · q[8][8][4]: chunk j holds elements 4j…4j+3 of each row.
///   Q4_K (per super-block of 256, 1184 bytes): d[8] · dmin[8] f16 · sc[8][8] · m[8][8] (the
///     6-bit scales and mins of sub-block j for the 8 rows, as bytes) · qs[4][8][8][4] (chunk c of
///     64 elements, bytes 4k…4k+3; low nibbles sub-block 2c, high 2c + 1); per output
///     acc = fma(d_a, d·Σ_j sc_j·Σ q_w q_a − dmin·Σ_j m_j·Σ q_a, acc).
///   Q6_K (1680 bytes): d[8] f16 · sc[16][8] i8 · ql and qh of the 8 rows in 4-byte chunks (see
///     QuantX8.c); acc = fma(d·d_a, (float)(Σ_g sc_g Σ q_w q_a − 32·Σ_g sc_g Σ q_a), acc).
/// Math per output (row n, activation row m), the same on every path, bit for bit:
///     acc = 0;  for b: acc = fma((float)Σ q_w·q_a, d_w·d_a, acc) [; acc = fma(m_w, s_a, acc)]
/// (the integer sum is exact; the bracket for Q4_0/Q4_1/Q5_0/Q5_1), so results are batch- and
/// thread-invariant and the AVX2 and AVX-512 VNNI paths equal the portable loop exactly.

/// 1 when `type` can be interleaved for rows of K elements (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 with K % 32 == 0;
/// Q4_K, Q6_K with K % 256 == 0).
int sd_x8_supported(int type, int K);

/// Bytes of one interleaved group (8 rows of K elements).
size_t sd_x8_group_bytes(int type, int K);

/// Repacks 8 rows of `type` (row stride ldw bytes) into one group at dst (sd_x8_group_bytes);
/// returns 1, or 0 for an unsupported type or K, or -1 - (8·b + i) when row i of block b has a
/// non-finite f16 scale (d, or the min of Q4_1 / dmin of Q4_K): checked while the bytes are being
/// copied anyway, so corrupt scales are refused at load for free.
int sd_x8_pack(int type, int K, const void *W, size_t ldw, void *dst);

/// Row i (0…7) of an interleaved group back in its ggml block layout (exact inverse of pack).
void sd_x8_unpack_row(int type, int K, const void *group, int i, void *dst);

/// C[m, 8g + i] (+)= W_{8g+i} · A_m for groups g < G of interleaved weights at W (consecutive
/// groups), activations quantised by sd_quant_act (same type and K). isa as above, plus 2: the
/// AVX-512 VNNI kernels (vpdpbusd for the exact integer sums; the same bits as the other paths).
/// At isa ≥ 2 the legacy types take pairs of groups on 512-bit registers from 2 rows when
/// sd_x8_pairs_preferred(); or'ed into isa, SD_X8_PAIRS_ON / SD_X8_PAIRS_OFF force the choice
/// (tests and benchmarks reach both paths on any AVX-512 CPU).
void sd_x8_rows_times_wt_q(int isa, int type, int M, int G, int K, const void *QA, const void *W,
                           float *C, int ldc, int accumulate);

#define SD_X8_PAIRS_ON 16
#define SD_X8_PAIRS_OFF 32

/// Whether the 512-bit pairs of groups pay on this CPU: not on AMD Zen 4 (family 19h with
/// AVX-512; yes elsewhere). Measured there in the model: appending 2 SmolLM2 tokens costs
/// 1.24–1.36× one token with the pairs, 1.04–1.07× without, although with the weights in cache
/// (`bench quant`) the pairs are faster there too (Q4_1, 2 rows: 11.9 vs 14.6 µs); why they lose
/// while streaming is not found (prefetching in consumption order changed nothing).
/// SPECDISTILL_X16=0|1 overrides.
int sd_x8_pairs_preferred(void);

/// Or'ed into the isa of sd_x8_rows_times_wt_q at level 1 (AVX2): the AVX-VNNI kernels (the
/// VEX-encoded 256-bit `vpdpbusd` of Intel's client cores since Alder Lake, Sierra Forest and AMD
/// Zen 5, on CPUs without AVX-512) forced on or off, whatever sd_x8_avx_vnni_preferred() says.
#define SD_X8_AVXVNNI_ON 64
#define SD_X8_AVXVNNI_OFF 128

/// 1 when the CPU has AVX-VNNI (CPUID leaf 7, subleaf 1, EAX bit 4) and the OS saves the AVX
/// state. At level 1 the interleaved kernels then form their integer sums with `vpdpbusd` (four
/// products into an int32 lane in one instruction) instead of `vpmaddubsw` + `vpaddw` +
/// `vpmaddwd`: the same bits. SPECDISTILL_AVXVNNI=0 turns it off (a plain AVX2 CPU's path).
int sd_x8_avx_vnni_preferred(void);

/// Where the interleaved kernels' one-row passes (decoding a token) prefetch the weight blocks
/// ahead of use: into L1 (0, the default) or only into L2 (1); passes of several rows always
/// prefetch into L1. Weights that come from memory on every token (a model larger than the
/// last-level cache) stream faster into L2 — on a 2-core Xeon (4–5 alternating runs, median
/// tok/s), Qwen2.5-Coder-1.5B Q4_K_M decodes 24.6 → 26.9 with AVX-512, 23.1 → 24.1 with AVX2 +
/// AVX-VNNI, 23.0 → 23.5 on plain AVX2, the 0.5B (Q5_0) 65.8 → 71.5 — while a model that stays
/// in the last-level cache is faster fetched into L1 (SmolLM2-135M Q4_1, 98 MB in a 260 MB
/// cache: 428 → 402 tok/s into L2).
/// The runtime sets it from the native weights it holds against sd_llc_bytes() (NativeWeights);
/// SPECDISTILL_PREFETCH=l1|l2 overrides every setting.
void sd_x8_set_prefetch_l2(int on);
/// The current choice of sd_x8_set_prefetch_l2 (after the SPECDISTILL_PREFETCH override).
int sd_x8_prefetch_l2(void);
/// The last-level cache's size in bytes: the highest-level data or unified cache Linux describes
/// under /sys/devices/system/cpu/cpu0/cache (what lscpu prints), else the L3's or L2's size as the
/// C library reports it, else 32 MiB. glibc's sysconf was seen 8–12× too large on AMD EPYC VMs
/// (268 MB and 403 MB for a 32 MiB L3), which put a 131 MB model "in cache" and flipped the
/// one-row prefetch choice above. Read once.
long sd_llc_bytes(void);
/// sd_llc_bytes's reading of one cache directory (index0 … index15, each with level, type and
/// size files); -1 when it describes no data or unified cache.
long sd_llc_bytes_in(const char *cache_dir);
/// A sysfs cache size ("32768K", "2M", "512") in bytes; -1 when it is not one.
long sd_cache_size_parse(const char *text);

#endif

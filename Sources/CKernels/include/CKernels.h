// The CKernels module owns the hand-written C kernels: a few rows times a weight matrix
// (RowsTimesW*.c; AVX-512 / AVX2 with runtime dispatch and a portable fallback), attention scores
// over a key cache (AttentionScores.c), rows times weights that stay in their ggml block type
// (QuantKernels.h, QuantRows*.c, interleaved groups of 8 rows in QuantX8*.c and, on 512-bit
// registers, QuantX16VNNI.c), and the thread pool (ThreadPool.c: spins briefly, then sleeps on a futex).
#ifndef SPECDISTILL_CKERNELS_H
#define SPECDISTILL_CKERNELS_H
#include <stddef.h>

/// C[m, n] (+)= sum_k A[m, k] * W[n, k] for m < M, n < N: a few rows times a transposed weight
/// matrix, reading every weight once, weight row by weight row (single-token decoding and the
/// verification step of speculative decoding). Row-major with leading dimensions lda, ldw, ldc.
/// accumulate != 0 adds to C. Uses the best instruction set of sd_rows_times_wt_isa(). Every
/// output element is computed in one fixed order whatever M, N or the caller's split of N, so a
/// row's results do not depend on how many rows are computed with it (batch invariance).
void sd_rows_times_wt(int M, int N, int K, const float *A, int lda, const float *W, int ldw,
                      float *C, int ldc, int accumulate);

/// sd_rows_times_wt with a chosen instruction set: 2 AVX-512, 1 AVX2+FMA, 0 the portable loop
/// (lowered to what the CPU has). The paths sum in different orders; each is batch-invariant.
void sd_rows_times_wt_with(int isa, int M, int N, int K, const float *A, int lda, const float *W,
                           int ldw, float *C, int ldc, int accumulate);

/// The portable reference path of sd_rows_times_wt (always the plain loop).
void sd_rows_times_wt_portable(int M, int N, int K, const float *A, int lda, const float *W,
                               int ldw, float *C, int ldc, int accumulate);

/// The instruction set sd_rows_times_wt uses on this CPU: 2 AVX-512F, 1 AVX2+FMA, 0 portable.
int sd_rows_times_wt_isa(void);

/// The cap SPECDISTILL_ISA puts on every kernel family's instruction set: 0 portable, 1 avx2,
/// 2 avx512, 99 when unset (the best the CPU has).
int sd_isa_cap(void);

/// 1 when the CPU has the AVX-512 subsets OpenBLAS's SkylakeX kernels use (F, CD, BW, DQ, VL).
int sd_cpu_has_avx512_core(void);
/// 1 when the CPU has AVX2 and FMA (OpenBLAS's Haswell kernels). Neither check is capped by SPECDISTILL_ISA.
int sd_cpu_has_avx2_fma(void);

/// 1 when the AVX2+FMA paths (and possibly AVX-512) are in use.
int sd_has_avx2(void);

/// C[m, n] = sum_k A[m, k] * W[n, k]: bitwise sd_rows_times_wt (accumulate 0) on this CPU, faster
/// for short rows and many n (attention scores of a few query rows over a key cache): on AVX-512
/// each row meets four weight rows at once, sharing its loads and the horizontal sums.
void sd_attn_scores(int M, int N, int K, const float *A, int lda, const float *W, int ldw, float *C, int ldc);

/// 1 when sd_attn_row computes head size HS on this CPU: AVX2 or AVX-512 (after the
/// SPECDISTILL_ISA cap), HS a multiple of 8 up to 128.
int sd_attn_row_available(int HS);
/// sd_attn_row_available for instruction-set path `isa` (sd_rows_times_wt_isa's numbering).
int sd_attn_row_available_with(int isa, int HS);

/// One query row of causal attention over `visible` cached positions, in one pass:
/// out[0..<HS] = Σ_j softmax_j(scale · q · K_j) · V_j for j < visible (K_j, V_j at row stride ld).
/// s (≥ visible floats) is scratch. Each row's bits depend only on its inputs, `visible` and the
/// path (batch and thread invariant). Returns 0 without writing when unavailable.
int sd_attn_row(int HS, const float *q, const float *K, const float *V, int ld, int visible, float scale, float *s,
                float *out);
/// sd_attn_row on path `isa` (1: AVX2, 2: AVX-512 where HS is a multiple of 16, else AVX2).
int sd_attn_row_with(int isa, int HS, const float *q, const float *K, const float *V, int ld, int visible, float scale,
                     float *s, float *out);

/// 1 when sd_attn_row2 computes head size HS on this CPU: where sd_attn_row does, except HS 80…128
/// on AVX-512 (multiples of 16 up to 64 there; on AVX2 multiples of 8 up to 128).
int sd_attn_row2_available(int HS);
/// sd_attn_row2_available on path `isa` (as sd_attn_row_with).
int sd_attn_row2_available_with(int isa, int HS);
/// sd_attn_row2 on path `isa`: bitwise two sd_attn_row_with(isa, …) calls.
int sd_attn_row2_with(int isa, int HS, const float *qa, const float *qb, const float *K, const float *V, int ld, int va,
                      int vb, float scale, float *sa, float *sb, float *outa, float *outb);

/// sd_attn_row for two queries over the same cache (visible va ≤ vb), bitwise equal to two
/// sd_attn_row calls, loading each key and value row once for both. Returns 0 without writing
/// when sd_attn_row2_available(HS) is 0 or va > vb.
int sd_attn_row2(int HS, const float *qa, const float *qb, const float *K, const float *V, int ld, int va, int vb,
                 float scale, float *sa, float *sb, float *outa, float *outb);

/// C[m, n] (+)= sum_k A[m, k] * W[k, n] for m < M, n < N (W not transposed, row stride ldw).
/// Every output element is accumulated over k in ascending order, one term at a time, whatever
/// M, N or the CPU path: results are independent of how many rows are computed together
/// (the value product of cached attention, where batch invariance matters).
void sd_rows_times_w(int M, int N, int K, const float *A, int lda, const float *W, int ldw,
                     float *C, int ldc, int accumulate);

/// Runs fn(ctx, i) for every task i = 0..<tasks on up to `threads` threads: the calling thread
/// and persistent helper threads, which claim task indices dynamically (a descheduled helper never
/// delays the job: the others run its tasks). Helpers spin briefly between jobs (at most
/// SPECDISTILL_SPIN_US microseconds, default 50, yielding the core after 5; the budget shrinks
/// when spins fail) and then sleep on a futex. Returns 1 when all tasks are done; returns 0
/// without running anything when the pool is unavailable (not Linux, thread creation failed) or
/// busy (a nested call from inside fn, or a concurrent call from another thread): the caller
/// then runs the loop another way.
int sd_pool_run(int tasks, int threads, void (*fn)(void *ctx, int task), void *ctx);

/// The index of the largest of x[0..<n] (n ≥ 1), the lowest index on ties; NaN never wins (x[0] =
/// NaN gives 0): the answer of the scalar loop `if x[i] > best`, on the best instruction set.
long sd_argmax(const float *x, long n);
/// sd_argmax on path `isa` (sd_rows_times_wt_isa's numbering, lowered to what the CPU has).
long sd_argmax_with(int isa, const float *x, long n);
/// The scalar loop sd_argmax equals.
long sd_argmax_portable(const float *x, long n);

#include "QuantKernels.h"

#endif

#ifndef SPECDISTILL_CKERNELS_H
#define SPECDISTILL_CKERNELS_H
#include <stddef.h>

/// C[m, n] (+)= sum_k A[m, k] * W[n, k] for m < M, n < N: a few rows times a transposed weight
/// matrix, reading every weight once (the verification step of speculative decoding).
/// Row-major with leading dimensions lda, ldw, ldc. accumulate != 0 adds to C.
/// Uses AVX2+FMA when the CPU has them, else a portable loop.
void sd_rows_times_wt(int M, int N, int K, const float *A, int lda, const float *W, int ldw,
                      float *C, int ldc, int accumulate);

/// The portable reference path of sd_rows_times_wt (always the plain loop).
void sd_rows_times_wt_portable(int M, int N, int K, const float *A, int lda, const float *W,
                               int ldw, float *C, int ldc, int accumulate);

/// 1 when the AVX2+FMA path is in use.
int sd_has_avx2(void);

/// C[m, n] (+)= sum_k A[m, k] * W[k, n] for m < M, n < N (W not transposed, row stride ldw).
/// Every output element is accumulated over k in ascending order, one term at a time, whatever
/// M, N or the CPU path: results are independent of how many rows are computed together
/// (the value product of cached attention, where batch invariance matters).
void sd_rows_times_w(int M, int N, int K, const float *A, int lda, const float *W, int ldw,
                     float *C, int ldc, int accumulate);

#endif

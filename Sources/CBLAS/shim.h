// The CBLAS module is OpenBLAS (cblas.h: sgemm, sgemv) and LAPACKE (lapacke.h) as a system
// library through pkg-config (Debian: libopenblas-dev, liblapacke-dev); Tensor is its only user.
#ifndef SPECDISTILL_CBLAS_SHIM_H
#define SPECDISTILL_CBLAS_SHIM_H
#include <cblas.h>
#include <lapacke.h>
#endif

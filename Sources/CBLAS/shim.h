#ifndef SPECDISTILL_CBLAS_SHIM_H
#define SPECDISTILL_CBLAS_SHIM_H
#include <cblas.h>
#include <lapacke.h>
#endif

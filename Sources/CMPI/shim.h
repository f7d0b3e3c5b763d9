#ifndef SPECDISTILL_CMPI_SHIM_H
#define SPECDISTILL_CMPI_SHIM_H
// Open MPI's C API (Debian: libopenmpi-dev; pkg-config ompi-c). Swift code does not use it
// directly: MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM) are macros over addresses of
// global structs, which Swift cannot import; CMPIShim wraps the calls the package needs.
#include <mpi.h>
#endif

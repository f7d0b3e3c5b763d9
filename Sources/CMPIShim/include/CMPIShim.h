#ifndef SPECDISTILL_CMPISHIM_H
#define SPECDISTILL_CMPISHIM_H
// The MPI calls specdistill makes, as plain C functions over MPI_COMM_WORLD (MPI's handles are
// macros Swift cannot import). Every function returns MPI's error code (0 = MPI_SUCCESS); the
// communicator's error handler is MPI_ERRORS_RETURN, so failures come back as codes.
#include <stddef.h>

/// MPI_Init_thread with MPI_THREAD_FUNNELED (only the main thread calls MPI; worker threads
/// compute); sets *rank and *size of MPI_COMM_WORLD.
int sd_mpi_init(int *rank, int *size);
/// 1 when MPI_Init has run and MPI_Finalize has not.
int sd_mpi_active(void);
/// In-place MPI_Allreduce(MPI_SUM) of count floats / doubles.
int sd_mpi_allreduce_sum_float(float *buffer, int count);
int sd_mpi_allreduce_sum_double(double *buffer, int count);
/// In-place MPI_Allreduce(MPI_MAX) of count doubles.
int sd_mpi_allreduce_max_double(double *buffer, int count);
/// MPI_Bcast of bytes bytes from root.
int sd_mpi_broadcast(void *buffer, int bytes, int root);
int sd_mpi_barrier(void);
int sd_mpi_finalize(void);
/// MPI_Abort(MPI_COMM_WORLD, code): ends every rank of the job.
void sd_mpi_abort(int code);
/// MPI_Error_string of code into text (capacity bytes, NUL-terminated).
void sd_mpi_error_string(int code, char *text, int capacity);
#endif

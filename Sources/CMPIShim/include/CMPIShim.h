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
/// In place, on every rank: buffer[i] ← ((b₀[i] + b₁[i]) + b₂[i]) + … + b_{N−1}[i], the ranks'
/// buffers summed in rank order whatever algorithm MPI would pick, so the result is bitwise
/// reproducible and, for two ranks, bitwise b₀ + b₁. Per piece of ≤ 2²⁰ floats: MPI_Alltoall
/// gives rank r part r of every rank's piece, rank r sums it in rank order into its part of the
/// buffer, MPI_Allgather (in place) spreads the sums — 2(N − 1)/N of the buffer sent per rank, as
/// a ring all-reduce; one scratch piece is allocated, and a last piece whose length is not a
/// multiple of N goes through a zero-padded copy.
int sd_mpi_allreduce_sum_float_ordered(float *buffer, long count);
/// MPI_Allgather of count doubles per rank: all[r·count + i] = rank r's mine[i].
int sd_mpi_allgather_double(const double *mine, int count, double *all);
/// Before a collective, names the ranks that do not reach it: every rank but 0 sends rank 0 one
/// small message (eager: it does not wait); rank 0 waits up to `timeout` seconds for all of them,
/// polling. Returns on rank 0 the number of ranks that did not arrive, with missing[r] = 1 for
/// each (missing has `size` entries); 0 on the other ranks; −1 on an MPI failure.
int sd_mpi_arrival(double timeout, int *missing);
/// MPI_Bcast of bytes bytes from root.
int sd_mpi_broadcast(void *buffer, int bytes, int root);
int sd_mpi_barrier(void);
int sd_mpi_finalize(void);
/// MPI_Abort(MPI_COMM_WORLD, code): ends every rank of the job.
void sd_mpi_abort(int code);
/// MPI_Error_string of code into text (capacity bytes, NUL-terminated).
void sd_mpi_error_string(int code, char *text, int capacity);
#endif

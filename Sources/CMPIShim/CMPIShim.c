#include "CMPIShim.h"
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/// Tag of the arrival messages (sd_mpi_arrival).
#define SD_ARRIVAL_TAG 7001

int sd_mpi_init(int *rank, int *size) {
    int provided = 0;
    int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) return rc;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    rc = MPI_Comm_rank(MPI_COMM_WORLD, rank);
    if (rc != MPI_SUCCESS) return rc;
    return MPI_Comm_size(MPI_COMM_WORLD, size);
}

int sd_mpi_active(void) {
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    return initialized && !finalized;
}

/// Floats per piece of the ordered all-reduce (4 MB): bounds its scratch buffer; 4–16 MB pieces
/// ran fastest on loopback (64 MB pieces took twice as long).
#define SD_PIECE_FLOATS (1L << 20)

int sd_mpi_allreduce_sum_float_ordered(float *buffer, long count) {
    int rank = 0, size = 1, rc = MPI_SUCCESS;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size == 1 || count <= 0) return MPI_SUCCESS;
    // Pieces of a multiple of `size` floats are reduced in place; only a short last piece whose
    // length is not a multiple of `size` goes through a zero-padded copy.
    long pieceMax = SD_PIECE_FLOATS / size * size;
    if (pieceMax > count) pieceMax = (count + size - 1) / size * size;
    float *recv = malloc(sizeof(float) * (size_t)pieceMax);
    float *padded = NULL;
    if (!recv) return MPI_ERR_NO_MEM;
    for (long offset = 0; offset < count && rc == MPI_SUCCESS; offset += pieceMax) {
        long n = count - offset < pieceMax ? count - offset : pieceMax;
        long part = (n + size - 1) / size;
        float *piece = buffer + offset;
        if (part * size != n) {
            padded = malloc(sizeof(float) * (size_t)(part * size));
            if (!padded) { rc = MPI_ERR_NO_MEM; break; }
            memcpy(padded, piece, sizeof(float) * (size_t)n);
            memset(padded + n, 0, sizeof(float) * (size_t)(part * size - n));
            piece = padded;
        }
        // recv[s·part + i] = element rank·part + i of rank s's piece.
        rc = MPI_Alltoall(piece, (int)part, MPI_FLOAT, recv, (int)part, MPI_FLOAT, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) break;
        float *mine = piece + (long)rank * part;
        for (long i = 0; i < part; i++) {
            float a = recv[i];
            for (int s = 1; s < size; s++) a += recv[(long)s * part + i];
            mine[i] = a;
        }
        rc = MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, piece, (int)part, MPI_FLOAT, MPI_COMM_WORLD);
        if (padded) {
            if (rc == MPI_SUCCESS) memcpy(buffer + offset, padded, sizeof(float) * (size_t)n);
            free(padded);
            padded = NULL;
        }
    }
    free(recv);
    return rc;
}

int sd_mpi_allgather_double(const double *mine, int count, double *all) {
    return MPI_Allgather(mine, count, MPI_DOUBLE, all, count, MPI_DOUBLE, MPI_COMM_WORLD);
}

int sd_mpi_arrival(double timeout, int *missing) {
    int rank = 0, size = 1, one = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size == 1) return 0;
    if (rank != 0) return MPI_Send(&one, 1, MPI_INT, 0, SD_ARRIVAL_TAG, MPI_COMM_WORLD) == MPI_SUCCESS ? 0 : -1;
    MPI_Request *requests = calloc((size_t)size, sizeof(MPI_Request));
    int *flags = calloc((size_t)size, sizeof(int)), *values = calloc((size_t)size, sizeof(int));
    if (!requests || !flags || !values) { free(requests); free(flags); free(values); return -1; }
    for (int r = 1; r < size; r++) MPI_Irecv(values + r, 1, MPI_INT, r, SD_ARRIVAL_TAG, MPI_COMM_WORLD, requests + r);
    double start = MPI_Wtime();
    int arrived = 0, waitedOnce = 0;
    for (;;) {
        arrived = 0;
        for (int r = 1; r < size; r++) {
            if (!flags[r]) MPI_Test(requests + r, flags + r, MPI_STATUS_IGNORE);
            arrived += flags[r];
        }
        if (arrived == size - 1 || MPI_Wtime() - start > timeout) break;
        if (waitedOnce) usleep(200); else waitedOnce = 1;
    }
    int count = 0;
    for (int r = 0; r < size; r++) {
        missing[r] = r > 0 && !flags[r];
        count += missing[r];
    }
    // The job is aborted when ranks are missing, so their receives are left pending.
    free(requests); free(flags); free(values);
    return count;
}

int sd_mpi_broadcast(void *buffer, int bytes, int root) {
    return MPI_Bcast(buffer, bytes, MPI_BYTE, root, MPI_COMM_WORLD);
}

int sd_mpi_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }

int sd_mpi_finalize(void) { return MPI_Finalize(); }

void sd_mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

void sd_mpi_error_string(int code, char *text, int capacity) {
    char buffer[MPI_MAX_ERROR_STRING];
    int length = 0;
    if (MPI_Error_string(code, buffer, &length) != MPI_SUCCESS) length = 0;
    buffer[length < MPI_MAX_ERROR_STRING ? length : MPI_MAX_ERROR_STRING - 1] = 0;
    if (capacity > 0) { strncpy(text, buffer, (size_t)capacity - 1); text[capacity - 1] = 0; }
}

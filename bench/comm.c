/* bench/comm.c — volt_comm_allreduce against a bare MPI_Allreduce, in one MPI job.
 *
 * For message sizes from 4 KB to 256 MB (f32, sum), both are timed in turn on the same
 * buffer, each repetition separated by a barrier, and the medians compared as bus
 * bandwidth: 2 (P - 1) / P * bytes / time, the traffic of a ring all-reduce per rank (the
 * convention of nccl-tests). Rank 0 prints a table and writes bench/results/comm.csv.
 *
 *     mpirun -n 2 bench_comm [results dir] [largest MB, default 256] */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/comm.h"
#include "core/clock.h"
#include "runtime/runtime.h"

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void check(int status) {
    if (status != VOLT_OK) volt_abort_with_errors(status);
}

int main(int argc, char **argv) {
    check(volt_init(&argc, &argv));
    const char *results = argc > 1 ? argv[1] : "bench/results";
    long largest_mb = argc > 2 ? atol(argv[2]) : 256;
    volt_comm *comm;
    check(volt_comm_create(MPI_COMM_WORLD, &comm));
    int rank = volt_comm_rank(comm), size = volt_comm_size(comm);
    MPI_Comm raw;
    MPI_Comm_dup(MPI_COMM_WORLD, &raw);

    size_t largest = (size_t)largest_mb << 20;
    float *buf = aligned_alloc(64, largest);
    for (size_t i = 0; i < largest / 4; i++) buf[i] = (float)(i % 7);
    FILE *csv = NULL;
    if (rank == 0) {
        char path[1024];
        snprintf(path, sizeof path, "%s/comm.csv", results);
        csv = fopen(path, "w");
        if (csv) fprintf(csv, "bytes,ranks,volt_busbw_gbps,mpi_busbw_gbps,ratio\n");
        printf("\nallreduce f32 sum, %d ranks, bus bandwidth 2(P-1)/P bytes/time, medians\n"
               "%12s %14s %14s %8s\n", size, "bytes", "volt GB/s", "MPI GB/s", "ratio");
    }
    for (size_t bytes = 4096; bytes <= largest; bytes *= 4) {
        size_t count = bytes / 4;
        int reps = bytes <= (1u << 20) ? 200 : bytes <= (16u << 20) ? 20 : 9;
        double *volt_times = malloc(sizeof(double) * (size_t)reps);
        double *mpi_times = malloc(sizeof(double) * (size_t)reps);
        for (int r = 0; r < reps; r++) {
            MPI_Barrier(raw);
            double t0 = volt_clock_seconds();
            check(volt_comm_allreduce(comm, buf, count, VOLT_F32, VOLT_REDUCE_SUM, NULL));
            double t1 = volt_clock_seconds();
            MPI_Barrier(raw);
            double t2 = volt_clock_seconds();
            MPI_Allreduce(MPI_IN_PLACE, buf, (int)count, MPI_FLOAT, MPI_SUM, raw);
            double t3 = volt_clock_seconds();
            volt_times[r] = t1 - t0;
            mpi_times[r] = t3 - t2;
            /* keep the values bounded: the sums grow by a factor of size each call */
            if (r % 8 == 7) memset(buf, 0, bytes);
        }
        /* every rank's time counts: the slowest rank's median is the collective's */
        qsort(volt_times, (size_t)reps, sizeof(double), compare_doubles);
        qsort(mpi_times, (size_t)reps, sizeof(double), compare_doubles);
        double medians[2] = {volt_times[reps / 2], mpi_times[reps / 2]};
        MPI_Allreduce(MPI_IN_PLACE, medians, 2, MPI_DOUBLE, MPI_MAX, raw);
        double factor = size > 1 ? 2.0 * (size - 1) / size : 1.0;
        double volt_bw = factor * (double)bytes / medians[0] * 1e-9;
        double mpi_bw = factor * (double)bytes / medians[1] * 1e-9;
        if (rank == 0) {
            printf("%12zu %14.2f %14.2f %8.3f\n", bytes, volt_bw, mpi_bw, volt_bw / mpi_bw);
            if (csv) fprintf(csv, "%zu,%d,%.3f,%.3f,%.4f\n", bytes, size, volt_bw, mpi_bw,
                             volt_bw / mpi_bw);
        }
        free(volt_times);
        free(mpi_times);
    }
    if (csv) fclose(csv);
    free(buf);
    MPI_Comm_free(&raw);
    volt_comm_destroy(comm);
    check(volt_finalize());
    return 0;
}

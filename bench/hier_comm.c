/* bench/hier_comm.c — the flat all-reduce (volt_comm_allreduce) against the two-level one
 * (volt_hier_allreduce: reduce-scatter in the node, all-reduce across nodes, all-gather in
 * the node), in one MPI job on several nodes.
 *
 * For message sizes from 4 KB to LARGEST MB (f32, sum, x4 each time), both run in turn on
 * the same buffer, refilled with the same values before each call and each call preceded
 * by a barrier: one untimed call of each, then REPS timed pairs (200 up to 64 KB, 50 up to
 * 1 MB, 20 up to 4 MB, 8 above). A repetition's time is the slowest rank's; the median,
 * min and max are over the repetitions. Bus bandwidth as bench/comm.c: 2 (P - 1) / P *
 * bytes / time with P all the ranks, for both, so that hier/flat of the bandwidths is
 * t(flat) / t(hier): above 1 the two-level one is faster.
 *
 * The values are small integers (exact in f32 at any rank count here): after the first
 * and the last repetition of each size every rank compares both results with the sums it
 * computes itself, and the run fails (exit status 1, the first wrong element on stderr)
 * when either differs.
 *
 * Rank 0 prints a table and writes <results dir>/hier_comm.csv: nodes, ranks_per_node,
 * rate, delay (the two labels given: what the links were shaped to; the program cannot
 * see it), bytes, reps, flat and hier median/min/max in microseconds, both bus
 * bandwidths (GB/s, of the medians) and hier_over_flat. The nodes are found by shared
 * memory (volt_comm_split_node); on one node, or with one rank per node, the two-level
 * all-reduce is inactive and both columns time the flat one (the output says so).
 *
 * Run it on a simulated cluster (tests/cluster/vcluster; bench/multinode.sh does):
 *     vcluster run -n 4 --per-node 2 -- bench_hier_comm [results dir] [largest MB (16)]
 *         [rate label (unshaped)] [delay label (none)] */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/comm.h"
#include "core/clock.h"
#include "dist/hierarchical.h"
#include "runtime/runtime.h"

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void check(int status) {
    if (status != VOLT_OK) volt_abort_with_errors(status);
}

/* rank r's element i: 0 .. 12, so that sums over any number of ranks here are exact */
static float value(size_t i, int rank) { return (float)((i * 7 + (size_t)rank * 3) % 13); }

/* The first element of got (count elements) that is not the sum over size ranks, or count
 * when all are. */
static size_t first_wrong(const float *got, size_t count, int size) {
    for (size_t i = 0; i < count; i++) {
        float sum = 0;
        for (int r = 0; r < size; r++) sum += value(i, r);
        if (got[i] != sum) return i;
    }
    return count;
}

/* Fails the run on every rank when any rank's result (flat or hier) is wrong. */
static void verify(MPI_Comm raw, const float *got, size_t count, const char *which, int rank,
                   int size) {
    size_t wrong = first_wrong(got, count, size);
    int bad = wrong < count, any = 0;
    if (bad) {
        float sum = 0;
        for (int r = 0; r < size; r++) sum += value(wrong, r);
        fprintf(stderr,
                "[rank %d] bench_hier_comm: the %s all-reduce of %zu bytes is wrong: element "
                "%zu is %g, the sum over %d ranks is %g\n",
                rank, which, count * sizeof(float), wrong, (double)got[wrong], size, (double)sum);
    }
    MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, raw);
    if (any) {
        if (rank == 0) fprintf(stderr, "bench_hier_comm: FAILED: the sums differ (above)\n");
        MPI_Abort(raw, 1);
    }
}

/* Median, min and max over reps of the slowest rank's time of each repetition. */
static void summarise(MPI_Comm raw, double *times, int reps, double out[3]) {
    MPI_Allreduce(MPI_IN_PLACE, times, reps, MPI_DOUBLE, MPI_MAX, raw);
    qsort(times, (size_t)reps, sizeof(double), compare_doubles);
    out[0] = times[reps / 2];
    out[1] = times[0];
    out[2] = times[reps - 1];
}

int main(int argc, char **argv) {
    check(volt_init(&argc, &argv));
    const char *results = argc > 1 ? argv[1] : "bench/results";
    long largest_mb = argc > 2 ? atol(argv[2]) : 16;
    const char *rate = argc > 3 ? argv[3] : "unshaped";
    const char *delay = argc > 4 ? argv[4] : "none";
    volt_comm *comm;
    check(volt_comm_create(MPI_COMM_WORLD, &comm));
    volt_hier *hier;
    check(volt_hier_create(comm, NULL, &hier));
    int rank = volt_comm_rank(comm), size = volt_comm_size(comm);
    int nodes, per_node;
    volt_hier_layout(hier, &nodes, &per_node);
    MPI_Comm raw;
    MPI_Comm_dup(MPI_COMM_WORLD, &raw);

    size_t largest = (size_t)(largest_mb > 0 ? largest_mb : 1) << 20;
    float *init = aligned_alloc(64, largest), *buf = aligned_alloc(64, largest);
    if (!init || !buf) {
        fprintf(stderr, "bench_hier_comm: cannot allocate 2 x %zu bytes\n", largest);
        MPI_Abort(raw, 1);
    }
    for (size_t i = 0; i < largest / 4; i++) init[i] = value(i, rank);
    FILE *csv = NULL;
    if (rank == 0) {
        char path[1024];
        snprintf(path, sizeof path, "%s/hier_comm.csv", results);
        csv = fopen(path, "w");
        if (!csv) fprintf(stderr, "bench_hier_comm: cannot write %s\n", path);
        if (csv)
            fprintf(csv, "nodes,ranks_per_node,rate,delay,bytes,reps,flat_median_us,flat_min_us,"
                         "flat_max_us,hier_median_us,hier_min_us,hier_max_us,flat_busbw_gbps,"
                         "hier_busbw_gbps,hier_over_flat\n");
        printf("\nallreduce f32 sum, %d ranks: %d nodes x %d ranks, links %s, delay %s\n", size,
               nodes, per_node, rate, delay);
        if (!volt_hier_active(hier))
            printf("the two-level all-reduce is inactive (it needs several nodes with several "
                   "ranks each, the same number on each): both columns are the flat one\n");
        printf("slowest rank per repetition; median [min, max] in us; bus bandwidth "
               "2(P-1)/P bytes/time of the medians\n"
               "%10s %5s %26s %26s %9s %9s %8s\n",
               "bytes", "reps", "flat us", "hier us", "flat GB/s", "hier GB/s", "hier/flat");
    }
    const double factor = size > 1 ? 2.0 * (size - 1) / size : 1.0;
    for (size_t bytes = 4096; bytes <= largest; bytes *= 4) {
        size_t count = bytes / 4;
        int reps = bytes <= (64u << 10)  ? 200
                   : bytes <= (1u << 20) ? 50
                   : bytes <= (4u << 20) ? 20
                                         : 8;
        double *flat_times = malloc(sizeof(double) * (size_t)reps);
        double *hier_times = malloc(sizeof(double) * (size_t)reps);
        /* rep -1: untimed, it opens the connections and grows the hierarchical scratch */
        for (int r = -1; r < reps; r++) {
            memcpy(buf, init, bytes);
            MPI_Barrier(raw);
            double t0 = volt_clock_seconds();
            check(volt_comm_allreduce(comm, buf, count, VOLT_F32, VOLT_REDUCE_SUM, NULL));
            double t1 = volt_clock_seconds();
            if (r == 0 || r == reps - 1) verify(raw, buf, count, "flat", rank, size);
            memcpy(buf, init, bytes);
            MPI_Barrier(raw);
            double t2 = volt_clock_seconds();
            check(volt_hier_allreduce(hier, buf, count, VOLT_F32, VOLT_REDUCE_SUM));
            double t3 = volt_clock_seconds();
            if (r == 0 || r == reps - 1) verify(raw, buf, count, "hierarchical", rank, size);
            if (r >= 0) {
                flat_times[r] = t1 - t0;
                hier_times[r] = t3 - t2;
            }
        }
        double flat[3], two_level[3];
        summarise(raw, flat_times, reps, flat);
        summarise(raw, hier_times, reps, two_level);
        double flat_bw = factor * (double)bytes / flat[0] * 1e-9;
        double hier_bw = factor * (double)bytes / two_level[0] * 1e-9;
        if (rank == 0) {
            char flat_text[64], hier_text[64];
            snprintf(flat_text, sizeof flat_text, "%.1f [%.1f, %.1f]", flat[0] * 1e6, flat[1] * 1e6,
                     flat[2] * 1e6);
            snprintf(hier_text, sizeof hier_text, "%.1f [%.1f, %.1f]", two_level[0] * 1e6,
                     two_level[1] * 1e6, two_level[2] * 1e6);
            printf("%10zu %5d %26s %26s %9.3f %9.3f %8.3f\n", bytes, reps, flat_text, hier_text,
                   flat_bw, hier_bw, hier_bw / flat_bw);
            if (csv)
                fprintf(csv, "%d,%d,%s,%s,%zu,%d,%.2f,%.2f,%.2f,%.2f,%.2f,%.2f,%.4f,%.4f,%.4f\n",
                        nodes, per_node, rate, delay, bytes, reps, flat[0] * 1e6, flat[1] * 1e6,
                        flat[2] * 1e6, two_level[0] * 1e6, two_level[1] * 1e6, two_level[2] * 1e6,
                        flat_bw, hier_bw, hier_bw / flat_bw);
        }
        free(flat_times);
        free(hier_times);
    }
    if (csv) fclose(csv);
    free(init);
    free(buf);
    MPI_Comm_free(&raw);
    volt_hier_destroy(hier);
    volt_comm_destroy(comm);
    check(volt_finalize());
    return 0;
}

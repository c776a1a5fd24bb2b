/* bench/gemm_adamw.c — two kernels against their ceilings, in one binary.
 *
 * GEMM: volt_matmul (validation, arena output, tape node, then cblas_sgemm) versus a bare
 * cblas_sgemm call on the same buffers, for square and training-shaped sizes. The ratio
 * is Volt's overhead; goal >= 0.98.
 *
 * AdamW: volt_optimizer_step over N floats reads p, g, m, v and writes p, m, v: 28 bytes
 * of memory traffic per element. memcpy of 14 bytes per element moves the same 28 bytes
 * (read + write). Both are reported in GB/s of traffic; the ratio says how close the
 * fused update is to the memory system's copy speed.
 *
 * Output: tables on stdout and bench/results/gemm.csv, bench/results/adamw.csv.
 *     gemm_adamw [results dir] */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/graph.h"
#include "core/clock.h"
#include "core/rng.h"
#include "ops/blas_info.h"
#include "ops/ops.h"
#include "optim/optim.h"

static void check(int status) {
    if (status != VOLT_OK) {
        volt_error_print(stderr);
        exit(1);
    }
}

static double median(double *samples, int count) {
    for (int i = 1; i < count; i++)
        for (int j = i; j > 0 && samples[j - 1] > samples[j]; j--) {
            double swap = samples[j];
            samples[j] = samples[j - 1];
            samples[j - 1] = swap;
        }
    return samples[count / 2];
}

/* Seconds per call of body_a and of body_b: medians over `runs` rounds, each timing
 * `reps` calls of one then `reps` of the other, so that machine noise hits both alike. */
#define TIME_PAIR(time_a, time_b, runs, reps, body_a, body_b)                          \
    do {                                                                               \
        double a_[32], b_[32];                                                         \
        for (int r_ = 0; r_ < (runs); r_++) {                                          \
            double t0_ = volt_clock_seconds();                                         \
            for (int k_ = 0; k_ < (reps); k_++) { body_a; }                            \
            double t1_ = volt_clock_seconds();                                         \
            for (int k_ = 0; k_ < (reps); k_++) { body_b; }                            \
            double t2_ = volt_clock_seconds();                                         \
            a_[r_] = (t1_ - t0_) / (reps);                                             \
            b_[r_] = (t2_ - t1_) / (reps);                                             \
        }                                                                              \
        (time_a) = median(a_, (runs));                                                 \
        (time_b) = median(b_, (runs));                                                 \
    } while (0)

static FILE *open_csv(const char *dir, const char *name, const char *header) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) fprintf(stderr, "gemm_adamw: cannot write %s (results not saved)\n", path);
    else fprintf(f, "%s\n", header);
    return f;
}

static void bench_gemm(const char *results) {
    static const long sizes[][3] = {
        {256, 256, 256}, {512, 512, 512}, {1024, 1024, 1024}, {2048, 2048, 2048},
        {256, 1024, 784}, {256, 1024, 1024}, /* the MLP's forward shapes: batch x out x in */
    };
    volt_graph *graph;
    check(volt_graph_create(NULL, &graph));
    volt_graph_set_grad_enabled(graph, 0);
    FILE *csv = open_csv(results, "gemm.csv", "m,n,k,volt_gflops,cblas_gflops,ratio");
    printf("\nGEMM f32 (C = A B), median of 9 rounds\n%6s %6s %6s %12s %12s %8s\n", "M", "N", "K",
           "volt GF/s", "cblas GF/s", "ratio");
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        long m = sizes[s][0], n = sizes[s][1], k = sizes[s][2];
        const long a_shape[] = {m, k}, b_shape[] = {k, n};
        volt_tensor *a = volt_graph_tensor(graph, VOLT_F32, 2, a_shape);
        volt_tensor *b = volt_graph_tensor(graph, VOLT_F32, 2, b_shape);
        float *c = aligned_alloc(64, sizeof(float) * (size_t)(m * n));
        volt_rng_uniform_f32(1, 0, 0, a->data, (size_t)(m * k), -1, 1);
        volt_rng_uniform_f32(1, 1, 0, b->data, (size_t)(k * n), -1, 1);
        double flops = 2.0 * (double)m * (double)n * (double)k;
        int reps = flops > 4e9 ? 3 : flops > 5e8 ? 10 : 40;
        /* Each call runs as in a training step: a fresh arena cycle (reset), views of the
         * inputs, the op. The inputs live in `graph`, the outputs in `step_graph`. */
        volt_graph *step_graph;
        check(volt_graph_create(NULL, &step_graph));
        double volt_time, blas_time;
        TIME_PAIR(volt_time, blas_time, 9, reps,
                  {
                      volt_graph_reset(step_graph);
                      volt_tensor *a_view = volt_graph_header(step_graph, a);
                      volt_tensor *b_view = volt_graph_header(step_graph, b);
                      a_view->data = a->data;
                      b_view->data = b->data;
                      if (!volt_matmul(a_view, b_view)) check(volt_error_status());
                  },
                  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k,
                              1.0f, a->data, (int)k, b->data, (int)n, 0.0f, c, (int)n));
        double volt_gflops = flops / volt_time * 1e-9, blas_gflops = flops / blas_time * 1e-9;
        printf("%6ld %6ld %6ld %12.1f %12.1f %8.3f\n", m, n, k, volt_gflops, blas_gflops,
               volt_gflops / blas_gflops);
        if (csv) fprintf(csv, "%ld,%ld,%ld,%.2f,%.2f,%.4f\n", m, n, k, volt_gflops, blas_gflops,
                         volt_gflops / blas_gflops);
        volt_graph_destroy(step_graph);
        free(c);
    }
    if (csv) fclose(csv);
    volt_graph_destroy(graph);
}

static void bench_adamw(const char *results) {
    FILE *csv = open_csv(results, "adamw.csv", "elements,adamw_gbps,memcpy_gbps,ratio");
    printf("\nAdamW update vs memcpy of the same traffic (28 bytes/element), median of 9 rounds\n"
           "%12s %14s %14s %8s\n", "elements", "AdamW GB/s", "memcpy GB/s", "ratio");
    static const size_t counts[] = {1u << 16, 1u << 20, 1u << 23, 1u << 25};
    for (size_t s = 0; s < sizeof counts / sizeof *counts; s++) {
        size_t n = counts[s];
        float *p = aligned_alloc(64, n * 4), *g = aligned_alloc(64, n * 4);
        volt_rng_uniform_f32(2, 0, 0, p, n, -1, 1);
        volt_rng_uniform_f32(2, 1, 0, g, n, -1, 1);
        char *src = aligned_alloc(64, n * 14), *dst = aligned_alloc(64, n * 14);
        memset(src, 1, n * 14);
        memset(dst, 0, n * 14);
        volt_optimizer_options options = volt_optimizer_defaults(VOLT_OPTIM_ADAMW);
        volt_optimizer *opt;
        check(volt_optimizer_create(&options, VOLT_F32, 0, n, &opt));
        int reps = n > (1u << 22) ? 5 : 50;
        check(volt_optimizer_step(opt, p, g, 1e-3));
        double adamw_time, copy_time;
        TIME_PAIR(adamw_time, copy_time, 9, reps, check(volt_optimizer_step(opt, p, g, 1e-3)),
                  memcpy(dst, src, n * 14));
        double bytes = 28.0 * (double)n;
        double adamw_gbps = bytes / adamw_time * 1e-9, copy_gbps = bytes / copy_time * 1e-9;
        printf("%12zu %14.1f %14.1f %8.3f\n", n, adamw_gbps, copy_gbps, adamw_gbps / copy_gbps);
        if (csv) fprintf(csv, "%zu,%.2f,%.2f,%.4f\n", n, adamw_gbps, copy_gbps, adamw_gbps / copy_gbps);
        volt_optimizer_destroy(opt);
        free(p), free(g), free(src), free(dst);
    }
    if (csv) fclose(csv);
}

int main(int argc, char **argv) {
    const char *results = argc > 1 ? argv[1] : "bench/results";
    volt_blas_info blas;
    volt_blas_query(&blas);
    char line[512], advice[512];
    volt_blas_describe(&blas, line, sizeof line, advice, sizeof advice);
    printf("%s\n%s%s", line, advice, advice[0] ? "\n" : "");
    bench_gemm(results);
    bench_adamw(results);
    return 0;
}

/* lib/ops/blas_info.c — BLAS identification through OpenBLAS's optional entry points,
 * declared weak so that linking another CBLAS leaves them NULL. */
#include "ops/blas_info.h"

#include <cblas.h>
#include <math.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

extern char *openblas_get_corename(void) __attribute__((weak));
extern char *openblas_get_config(void) __attribute__((weak));
extern int openblas_get_num_threads(void) __attribute__((weak));

/* OpenBLAS core names by the widest vector instructions their kernels use. */
static volt_simd_level kernel_level(const char *core) {
    static const struct {
        const char *name;
        volt_simd_level level;
    } cores[] = {
        {"Prescott", VOLT_SIMD_SSE},     {"Core2", VOLT_SIMD_SSE},
        {"Penryn", VOLT_SIMD_SSE},       {"Dunnington", VOLT_SIMD_SSE},
        {"Nehalem", VOLT_SIMD_SSE},      {"Atom", VOLT_SIMD_SSE},
        {"Katmai", VOLT_SIMD_SSE},       {"Banias", VOLT_SIMD_SSE},
        {"Opteron", VOLT_SIMD_SSE},      {"Barcelona", VOLT_SIMD_SSE},
        {"Sandybridge", VOLT_SIMD_AVX},  {"Bulldozer", VOLT_SIMD_AVX},
        {"Piledriver", VOLT_SIMD_AVX},   {"Steamroller", VOLT_SIMD_AVX},
        {"Excavator", VOLT_SIMD_AVX},    {"Haswell", VOLT_SIMD_AVX2},
        {"Zen", VOLT_SIMD_AVX2},         {"SkylakeX", VOLT_SIMD_AVX512},
        {"Cooperlake", VOLT_SIMD_AVX512}, {"SapphireRapids", VOLT_SIMD_AVX512},
    };
    for (size_t i = 0; i < sizeof cores / sizeof *cores; i++)
        if (strcasecmp(core, cores[i].name) == 0) return cores[i].level;
    return VOLT_SIMD_UNKNOWN;
}

static volt_simd_level cpu_level(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return VOLT_SIMD_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return VOLT_SIMD_AVX2;
    if (__builtin_cpu_supports("avx")) return VOLT_SIMD_AVX;
    return VOLT_SIMD_SSE;
#else
    return VOLT_SIMD_UNKNOWN;
#endif
}

const char *volt_simd_name(volt_simd_level level) {
    static const char *const names[] = {"unknown", "SSE", "AVX", "AVX2", "AVX-512"};
    return names[level];
}

/* C = A B for M x K times K x N with odd sizes, by sgemm and by a plain loop in double. */
static double gemm_self_check(void) {
    enum { M = 37, N = 29, K = 41 };
    float a[M * K], b[K * N], c[M * N]; /* 19 KB of stack */
    for (int i = 0; i < M * K; i++) a[i] = (float)((i * 7) % 13) / 13.0f - 0.5f;
    for (int i = 0; i < K * N; i++) b[i] = (float)((i * 5) % 11) / 11.0f - 0.5f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
    double worst = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double expected = 0, magnitude = 0;
            for (int k = 0; k < K; k++) {
                expected += (double)a[i * K + k] * b[k * N + j];
                magnitude += fabs((double)a[i * K + k] * b[k * N + j]);
            }
            double error = fabs(c[i * N + j] - expected) / fmax(magnitude, 1e-30);
            worst = isnan(error) || error > worst ? (isnan(error) ? INFINITY : error) : worst;
        }
    return worst;
}

void volt_blas_query(volt_blas_info *out) {
    memset(out, 0, sizeof *out);
    out->cpu_simd = cpu_level();
    out->gemm_error = gemm_self_check();
    out->coretype_env = getenv("OPENBLAS_CORETYPE");
    if (openblas_get_corename && openblas_get_config) {
        const char *config = openblas_get_config();
        snprintf(out->library, sizeof out->library, "%s", config ? config : "OpenBLAS");
        const char *core = openblas_get_corename();
        snprintf(out->kernel, sizeof out->kernel, "%s", core ? core : "");
        out->kernel_simd = kernel_level(out->kernel);
        out->threads = openblas_get_num_threads ? openblas_get_num_threads() : 0;
    } else {
        snprintf(out->library, sizeof out->library, "CBLAS (not OpenBLAS; kernel not reported)");
    }
}

int volt_blas_describe(const volt_blas_info *info, char *line, int line_size, char *advice,
                       int advice_size) {
    if (info->kernel[0])
        snprintf(line, (size_t)line_size, "BLAS: %s; kernel %s (%s) on a CPU with %s; %d thread%s",
                 info->library, info->kernel, volt_simd_name(info->kernel_simd),
                 volt_simd_name(info->cpu_simd), info->threads, info->threads == 1 ? "" : "s");
    else
        snprintf(line, (size_t)line_size, "BLAS: %s", info->library);
    advice[0] = '\0';
    if (!(info->gemm_error <= 1e-4)) {
        snprintf(advice, (size_t)advice_size,
                 "the BLAS computed a wrong SGEMM result (relative error %.3g on a 37x29x41 "
                 "product): results will be wrong. Try OPENBLAS_CORETYPE set to the kernel "
                 "of this CPU, or another BLAS.",
                 info->gemm_error);
        return 1;
    }
    if (info->kernel_simd == VOLT_SIMD_UNKNOWN || info->cpu_simd == VOLT_SIMD_UNKNOWN ||
        info->kernel_simd >= info->cpu_simd)
        return 0;
    const char *fix = info->cpu_simd == VOLT_SIMD_AVX512 ? "SkylakeX" : "Haswell";
    const char *why = info->coretype_env ? "OPENBLAS_CORETYPE in the environment chose it"
                                         : "OpenBLAS did not recognise this CPU";
    if (info->kernel_simd < VOLT_SIMD_AVX2 && info->cpu_simd >= VOLT_SIMD_AVX2) {
        snprintf(advice, (size_t)advice_size,
                 "OpenBLAS runs its %s (%s) kernels on a CPU with %s (%s): GEMMs will be "
                 "about 4-5x slower than they can be. Fix: export OPENBLAS_CORETYPE=%s, or "
                 "use a newer OpenBLAS or BLIS.",
                 info->kernel, volt_simd_name(info->kernel_simd),
                 volt_simd_name(info->cpu_simd), why, fix);
        return 1;
    }
    snprintf(advice, (size_t)advice_size,
             "OpenBLAS runs its %s (%s) kernels on a CPU with %s (%s): GEMMs may be up to "
             "2x slower than they can be; OPENBLAS_CORETYPE=%s uses the wider kernels.",
             info->kernel, volt_simd_name(info->kernel_simd), volt_simd_name(info->cpu_simd),
             why, fix);
    return 0;
}

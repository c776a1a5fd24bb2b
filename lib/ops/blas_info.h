/* lib/ops/blas_info.h — which BLAS does our GEMMs, with which kernel and threads.
 *
 * Any CBLAS works; for OpenBLAS the kernel it chose (openblas_get_corename) is compared
 * with what the CPU supports. OpenBLAS 0.3.21 does not recognise some new CPUs and falls
 * back to its SSE3 "Prescott" kernels, 4-5x slower on GEMM than the AVX-512 ones; a
 * kernel weaker than the CPU is reported with the fix (OPENBLAS_CORETYPE, or a newer
 * OpenBLAS / BLIS). */
#ifndef VOLT_OPS_BLAS_INFO_H
#define VOLT_OPS_BLAS_INFO_H

typedef enum volt_simd_level {
    VOLT_SIMD_UNKNOWN = 0,
    VOLT_SIMD_SSE,
    VOLT_SIMD_AVX,
    VOLT_SIMD_AVX2,
    VOLT_SIMD_AVX512,
} volt_simd_level;

typedef struct volt_blas_info {
    char library[128];       /* "OpenBLAS 0.3.21 DYNAMIC_ARCH ..." or "CBLAS (unknown)" */
    char kernel[64];         /* OpenBLAS core name ("SkylakeX"), "" if not OpenBLAS */
    int threads;             /* BLAS threads, 0 if the library does not say */
    const char *coretype_env; /* OPENBLAS_CORETYPE, NULL when unset */
    volt_simd_level kernel_simd; /* what the kernel uses (UNKNOWN if not OpenBLAS) */
    volt_simd_level cpu_simd;    /* what this CPU supports */
    double gemm_error;           /* max relative error of a 37x29x41 sgemm against a plain
                                  * loop in double; above 1e-4 the BLAS computes wrongly */
} volt_blas_info;

void volt_blas_query(volt_blas_info *out);
const char *volt_simd_name(volt_simd_level level);
/* Writes a one-line description into line and, when something is wrong, the problem
 * and its fix into advice. Returns 1 if a warning is due (a wrong GEMM result, or a
 * kernel without AVX2 on an AVX2 CPU), 0 otherwise (advice may still hold a note about a
 * milder mismatch). */
int volt_blas_describe(const volt_blas_info *info, char *line, int line_size, char *advice,
                       int advice_size);

#endif

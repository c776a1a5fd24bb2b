/* tests/unit/test_blas_info.c — the BLAS check: the real library is identified, and a
 * kernel weaker than the CPU is reported with the fix. */
#include <string.h>

#include "ops/blas_info.h"
#include "volt_test.h"

VOLT_TEST(query_identifies_the_linked_blas) {
    volt_blas_info info;
    volt_blas_query(&info);
    VOLT_EXPECT(info.library[0] != '\0');
    VOLT_EXPECT(info.cpu_simd != VOLT_SIMD_UNKNOWN);
    VOLT_EXPECT(info.gemm_error < 1e-6);
    if (strncmp(info.library, "OpenBLAS", 8) == 0) {
        VOLT_EXPECT(info.kernel[0] != '\0');
        VOLT_EXPECT(info.threads >= 1);
    }
    char line[512], advice[512];
    volt_blas_describe(&info, line, sizeof line, advice, sizeof advice);
    VOLT_EXPECT_STR_CONTAINS(line, "BLAS: ");
    printf("  %s\n", line);
}

static volt_blas_info openblas_with(const char *kernel, volt_simd_level kernel_simd,
                                    volt_simd_level cpu_simd, const char *coretype) {
    volt_blas_info info;
    memset(&info, 0, sizeof info);
    snprintf(info.library, sizeof info.library, "OpenBLAS 0.3.21 DYNAMIC_ARCH");
    snprintf(info.kernel, sizeof info.kernel, "%s", kernel);
    info.kernel_simd = kernel_simd;
    info.cpu_simd = cpu_simd;
    info.threads = 2;
    info.coretype_env = coretype;
    return info;
}

/* OpenBLAS 0.3.21 on a CPU it does not know: Prescott (SSE3) kernels on AVX-512. */
VOLT_TEST(prescott_on_avx512_warns_with_the_fix) {
    volt_blas_info info = openblas_with("Prescott", VOLT_SIMD_SSE, VOLT_SIMD_AVX512, NULL);
    char line[512], advice[512];
    VOLT_EXPECT_EQ_INT(volt_blas_describe(&info, line, sizeof line, advice, sizeof advice), 1);
    VOLT_EXPECT_STR_CONTAINS(line, "kernel Prescott (SSE) on a CPU with AVX-512");
    VOLT_EXPECT_STR_CONTAINS(advice, "4-5x slower");
    VOLT_EXPECT_STR_CONTAINS(advice, "OPENBLAS_CORETYPE=SkylakeX");
    VOLT_EXPECT_STR_CONTAINS(advice, "did not recognise this CPU");
    /* on an AVX2 machine the advice names the AVX2 kernels */
    info = openblas_with("Prescott", VOLT_SIMD_SSE, VOLT_SIMD_AVX2, NULL);
    VOLT_EXPECT_EQ_INT(volt_blas_describe(&info, line, sizeof line, advice, sizeof advice), 1);
    VOLT_EXPECT_STR_CONTAINS(advice, "OPENBLAS_CORETYPE=Haswell");
}

VOLT_TEST(a_wrong_gemm_result_warns) {
    volt_blas_info info = openblas_with("SkylakeX", VOLT_SIMD_AVX512, VOLT_SIMD_AVX512, NULL);
    info.gemm_error = 0.3;
    char line[512], advice[512];
    VOLT_EXPECT_EQ_INT(volt_blas_describe(&info, line, sizeof line, advice, sizeof advice), 1);
    VOLT_EXPECT_STR_CONTAINS(advice, "wrong SGEMM result");
}

VOLT_TEST(milder_or_no_mismatch_does_not_warn) {
    char line[512], advice[512];
    volt_blas_info info = openblas_with("Haswell", VOLT_SIMD_AVX2, VOLT_SIMD_AVX512, "Haswell");
    VOLT_EXPECT_EQ_INT(volt_blas_describe(&info, line, sizeof line, advice, sizeof advice), 0);
    VOLT_EXPECT_STR_CONTAINS(advice, "OPENBLAS_CORETYPE in the environment chose it");
    info = openblas_with("SkylakeX", VOLT_SIMD_AVX512, VOLT_SIMD_AVX512, NULL);
    VOLT_EXPECT_EQ_INT(volt_blas_describe(&info, line, sizeof line, advice, sizeof advice), 0);
    VOLT_EXPECT_EQ_INT(advice[0], '\0');
    volt_blas_info other;
    memset(&other, 0, sizeof other);
    snprintf(other.library, sizeof other.library, "CBLAS (not OpenBLAS; kernel not reported)");
    other.cpu_simd = VOLT_SIMD_AVX512;
    VOLT_EXPECT_EQ_INT(volt_blas_describe(&other, line, sizeof line, advice, sizeof advice), 0);
    VOLT_EXPECT_STR_CONTAINS(line, "not OpenBLAS");
}

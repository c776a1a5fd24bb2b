/* tests/gpu_selftest.c — the CUDA stack on every visible device: a kernel and a cuBLAS
 * GEMM checked against the host. Exit 77 (skipped) when there is no GPU. */
#include <stdio.h>

#include "cuda_info.h"
#include "core/error.h"

int main(void) {
    char versions[256];
    volt_cuda_versions(versions, sizeof versions);
    int count = volt_cuda_device_count();
    printf("%s; %d device%s\n", versions, count, count == 1 ? "" : "s");
    if (count == 0) {
        printf("no CUDA device: skipped\n");
        return 77;
    }
    int failed = 0;
    for (int d = 0; d < count; d++) {
        volt_cuda_device_info info;
        if (volt_cuda_device_query(d, &info) != VOLT_OK || volt_cuda_selftest(d) != VOLT_OK) {
            volt_error_print(stderr);
            volt_error_clear();
            failed++;
            continue;
        }
        printf("cuda:%d %s, sm_%d%d, %d SMs, %.1f GiB: ok\n", d, info.name, info.compute_major,
               info.compute_minor, info.multiprocessors, (double)info.memory_bytes / (1 << 30));
    }
    printf("%d passed, %d failed\n", count - failed, failed);
    return failed ? 1 : 0;
}

/* kernels/cuda_info.h — what CUDA devices this process sees, and a self-test.
 *
 * Compiled only when the build found the CUDA toolkit (VOLT_HAVE_CUDA). Without a GPU
 * (or a driver) volt_cuda_device_count() reports 0 devices, not an error: a CPU-only
 * run on a CUDA build is normal. */
#ifndef VOLT_KERNELS_CUDA_INFO_H
#define VOLT_KERNELS_CUDA_INFO_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct volt_cuda_device_info {
    char name[256];
    int compute_major, compute_minor;
    int multiprocessors;
    size_t memory_bytes;
} volt_cuda_device_info;

/* Number of usable devices (0 without a GPU or driver). */
int volt_cuda_device_count(void);
/* Properties of device `index`; VOLT_ERR_CUDA with CUDA's message on failure. */
int volt_cuda_device_query(int index, volt_cuda_device_info *out);
/* Runtime, driver, cuBLAS and NCCL versions as one line ("CUDA runtime 13.0, ..."). */
void volt_cuda_versions(char *buf, size_t size);
/* On device `index`: a kernel writes y = a x + y for n elements and cuBLAS multiplies two
 * small matrices; both are checked against the host. VOLT_OK when both agree. */
int volt_cuda_selftest(int index);

#ifdef __cplusplus
}
#endif
#endif

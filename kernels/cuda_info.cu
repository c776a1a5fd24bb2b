/* kernels/cuda_info.cu — device discovery and a self-test of the CUDA stack
 * (a kernel launch and a cuBLAS SGEMM, each checked against the host). */
#include "cuda_info.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#ifdef VOLT_HAVE_NCCL
#include <nccl.h>
#endif

extern "C" {
#include "core/error.h"
}

#define CUDA_TRY(call)                                                                 \
    do {                                                                               \
        cudaError_t e_ = (call);                                                       \
        if (e_ != cudaSuccess)                                                         \
            return VOLT_ERROR(VOLT_ERR_CUDA, "%s failed: %s", #call, cudaGetErrorString(e_)); \
    } while (0)

extern "C" int volt_cuda_device_count(void) {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        cudaGetLastError(); /* clear the sticky "no device / no driver" error */
        return 0;
    }
    return count;
}

extern "C" int volt_cuda_device_query(int index, volt_cuda_device_info *out) {
    cudaDeviceProp prop;
    CUDA_TRY(cudaGetDeviceProperties(&prop, index));
    snprintf(out->name, sizeof out->name, "%s", prop.name);
    out->compute_major = prop.major;
    out->compute_minor = prop.minor;
    out->multiprocessors = prop.multiProcessorCount;
    out->memory_bytes = prop.totalGlobalMem;
    return VOLT_OK;
}

extern "C" void volt_cuda_versions(char *buf, size_t size) {
    int runtime = 0, driver = 0, cublas = 0;
    cudaRuntimeGetVersion(&runtime);
    if (cudaDriverGetVersion(&driver) != cudaSuccess) driver = 0;
    cublas = CUBLAS_VERSION;
    char driver_text[32] = "no driver";
    if (driver > 0) snprintf(driver_text, sizeof driver_text, "driver %d.%d", driver / 1000,
                             (driver % 1000) / 10);
    int n = snprintf(buf, size, "CUDA runtime %d.%d, %s, cuBLAS %d", runtime / 1000,
                     (runtime % 1000) / 10, driver_text, cublas);
#ifdef VOLT_HAVE_NCCL
    int nccl = 0;
    ncclGetVersion(&nccl);
    if (n > 0 && (size_t)n < size) snprintf(buf + n, size - (size_t)n, ", NCCL %d", nccl);
#else
    (void)n;
#endif
}

/* y[i] = a x[i] + y[i] */
__global__ static void axpy_kernel(int n, float a, const float *x, float *y) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = a * x[i] + y[i];
}

extern "C" int volt_cuda_selftest(int index) {
    enum { N = 1 << 16, M = 64 };
    CUDA_TRY(cudaSetDevice(index));
    float *host = (float *)malloc(sizeof(float) * 3 * N);
    for (int i = 0; i < N; i++) host[i] = (float)(i % 17), host[N + i] = (float)(i % 5);
    float *x = NULL, *y = NULL;
    CUDA_TRY(cudaMalloc(&x, sizeof(float) * N));
    CUDA_TRY(cudaMalloc(&y, sizeof(float) * N));
    CUDA_TRY(cudaMemcpy(x, host, sizeof(float) * N, cudaMemcpyHostToDevice));
    CUDA_TRY(cudaMemcpy(y, host + N, sizeof(float) * N, cudaMemcpyHostToDevice));
    axpy_kernel<<<(N + 255) / 256, 256>>>(N, 2.0f, x, y);
    CUDA_TRY(cudaGetLastError());
    CUDA_TRY(cudaMemcpy(host + 2 * N, y, sizeof(float) * N, cudaMemcpyDeviceToHost));
    int wrong = 0;
    for (int i = 0; i < N; i++) wrong += host[2 * N + i] != 2.0f * host[i] + host[N + i];
    cudaFree(x);
    cudaFree(y);
    free(host);
    if (wrong) return VOLT_ERROR(VOLT_ERR_CUDA, "axpy kernel: %d of %d elements wrong", wrong, N);

    /* C = A B with cuBLAS (column-major), M x M, against a host triple loop */
    float a[M * M], b[M * M], c[M * M];
    for (int i = 0; i < M * M; i++) a[i] = (float)((i * 7) % 11) - 5, b[i] = (float)((i * 3) % 7) - 3;
    float *da, *db, *dc;
    CUDA_TRY(cudaMalloc(&da, sizeof a));
    CUDA_TRY(cudaMalloc(&db, sizeof b));
    CUDA_TRY(cudaMalloc(&dc, sizeof c));
    CUDA_TRY(cudaMemcpy(da, a, sizeof a, cudaMemcpyHostToDevice));
    CUDA_TRY(cudaMemcpy(db, b, sizeof b, cudaMemcpyHostToDevice));
    cublasHandle_t handle;
    if (cublasCreate(&handle) != CUBLAS_STATUS_SUCCESS)
        return VOLT_ERROR(VOLT_ERR_CUDA, "cublasCreate failed");
    const float one = 1.0f, zero = 0.0f;
    cublasStatus_t status = cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, M, M, M, &one, da, M,
                                        db, M, &zero, dc, M);
    cublasDestroy(handle);
    if (status != CUBLAS_STATUS_SUCCESS)
        return VOLT_ERROR(VOLT_ERR_CUDA, "cublasSgemm failed (status %d)", (int)status);
    CUDA_TRY(cudaMemcpy(c, dc, sizeof c, cudaMemcpyDeviceToHost));
    cudaFree(da);
    cudaFree(db);
    cudaFree(dc);
    double worst = 0;
    for (int col = 0; col < M; col++)
        for (int row = 0; row < M; row++) {
            double expected = 0;
            for (int k = 0; k < M; k++) expected += (double)a[k * M + row] * b[col * M + k];
            worst = fmax(worst, fabs(expected - c[col * M + row]));
        }
    if (worst > 1e-3) return VOLT_ERROR(VOLT_ERR_CUDA, "cuBLAS SGEMM differs from the host by %g", worst);
    return VOLT_OK;
}

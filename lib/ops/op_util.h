/* lib/ops/op_util.h — what every op file needs: validation helpers that push errors
 * naming the op and the shapes, and the dtype dispatch of CPU kernels. Internal to ops. */
#ifndef VOLT_OPS_OP_UTIL_H
#define VOLT_OPS_OP_UTIL_H

#include <cblas.h>
#include <stdio.h>

#include "core/error.h"
#include "ops/ops.h"

/* Returns NULL from an op (without pushing) when any input is NULL: a failure upstream
 * was already reported. */
#define VOLT_OP_INPUTS(...)                                                           \
    do {                                                                               \
        volt_tensor *volt_op_inputs_[] = {__VA_ARGS__};                               \
        for (size_t i_ = 0; i_ < sizeof volt_op_inputs_ / sizeof *volt_op_inputs_; i_++) \
            if (!volt_op_inputs_[i_]) return NULL;                                     \
    } while (0)

/* Fails the op (push, return NULL) when cond is false. */
#define VOLT_OP_REQUIRE(cond, status, ...)                                            \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            VOLT_ERROR((status), __VA_ARGS__);                                         \
            return NULL;                                                               \
        }                                                                              \
    } while (0)

/* Pushes VOLT_ERR_SHAPE when t is not a CPU f32/f64 tensor; returns 0 then. */
int volt_op_check_float(const char *op, const volt_tensor *t);
/* Same dtype and device for a and b, else pushes and returns 0. */
int volt_op_check_same_kind(const char *op, const volt_tensor *a, const volt_tensor *b);
/* The graph of the inputs, or pushes VOLT_ERR_ARG ("op: no input belongs to a graph"). */
volt_graph *volt_op_graph(const char *op, volt_tensor *const *inputs, int count);

/* C = alpha op(A) op(B) + beta C, row-major, by cblas_sgemm or cblas_dgemm for the dtype
 * (f32 or f64); sizes and leading dimensions as in BLAS. m, n or k of 0 is handled (BLAS
 * libraries disagree on it): nothing to do, or C = beta C with beta 0 meaning C = 0. */
void volt_op_gemm(volt_dtype dtype, enum CBLAS_TRANSPOSE trans_a, enum CBLAS_TRANSPOSE trans_b,
                  long m, long n, long k, double alpha, const void *a, long lda, const void *b,
                  long ldb, double beta, void *c, long ldc);

/* Elementwise unary ops (relu, gelu, tanh, sigmoid) share their plumbing: validation,
 * a contiguous input, the output, the tape node. Kernels per dtype: forward y = f(x);
 * backward dx += f'(x) * dy, given x, y and dy (use whichever is cheaper). */
typedef struct volt_unary_kernels {
    void (*forward_f32)(const float *x, float *y, size_t n);
    void (*forward_f64)(const double *x, double *y, size_t n);
    void (*backward_f32)(const float *x, const float *y, const float *dy, float *dx, size_t n);
    void (*backward_f64)(const double *x, const double *y, const double *dy, double *dx,
                         size_t n);
    double flops_per_element;
} volt_unary_kernels;
volt_tensor *volt_unary_op(const char *op, volt_tensor *x, const volt_unary_kernels *kernels);

#endif

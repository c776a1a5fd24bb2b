/* lib/ops/op_util.c — validation and the shared plumbing of elementwise unary ops. */
#include "ops/op_util.h"

#include <string.h>

int volt_op_check_float(const char *op, const volt_tensor *t) {
    char d[96];
    if (t->dtype != VOLT_F32 && t->dtype != VOLT_F64) {
        VOLT_ERROR(VOLT_ERR_SHAPE, "%s: expected an f32 or f64 tensor, got %s", op,
                   volt_tensor_describe(t, d, sizeof d));
        return 0;
    }
    if (t->device.type != VOLT_DEVICE_CPU) {
        VOLT_ERROR(VOLT_ERR_UNSUPPORTED, "%s: no kernel for %s in this build", op,
                   volt_tensor_describe(t, d, sizeof d));
        return 0;
    }
    return 1;
}

int volt_op_check_same_kind(const char *op, const volt_tensor *a, const volt_tensor *b) {
    if (a->dtype == b->dtype && a->device.type == b->device.type &&
        a->device.index == b->device.index)
        return 1;
    char da[96], db[96];
    VOLT_ERROR(VOLT_ERR_SHAPE, "%s: inputs differ in dtype or device: %s and %s", op,
               volt_tensor_describe(a, da, sizeof da), volt_tensor_describe(b, db, sizeof db));
    return 0;
}

volt_graph *volt_op_graph(const char *op, volt_tensor *const *inputs, int count) {
    volt_graph *graph = volt_graph_of(inputs, count);
    if (!graph)
        VOLT_ERROR(VOLT_ERR_ARG,
                   "%s: no input belongs to a graph (make inputs with volt_graph_tensor)", op);
    return graph;
}

void volt_op_gemm(volt_dtype dtype, enum CBLAS_TRANSPOSE trans_a, enum CBLAS_TRANSPOSE trans_b,
                  long m, long n, long k, double alpha, const void *a, long lda, const void *b,
                  long ldb, double beta, void *c, long ldc) {
    if (m == 0 || n == 0) return;
    if (k == 0) {
        if (beta == 1) return;
        size_t row_bytes = (size_t)n * volt_dtype_size(dtype);
        for (long i = 0; i < m; i++) {
            char *row = (char *)c + (size_t)(i * ldc) * volt_dtype_size(dtype);
            if (beta == 0) memset(row, 0, row_bytes); /* C = 0 even where C held NaN */
            else if (dtype == VOLT_F64)
                for (long j = 0; j < n; j++) ((double *)row)[j] *= beta;
            else
                for (long j = 0; j < n; j++) ((float *)row)[j] *= (float)beta;
        }
        return;
    }
    if (dtype == VOLT_F64)
        cblas_dgemm(CblasRowMajor, trans_a, trans_b, (int)m, (int)n, (int)k, alpha, a, (int)lda,
                    b, (int)ldb, beta, c, (int)ldc);
    else
        cblas_sgemm(CblasRowMajor, trans_a, trans_b, (int)m, (int)n, (int)k, (float)alpha, a,
                    (int)lda, b, (int)ldb, (float)beta, c, (int)ldc);
}

static int unary_backward(volt_graph *graph, volt_node *node) {
    const volt_unary_kernels *k = node->extra;
    volt_tensor *x = node->inputs[0], *y = node->output;
    volt_tensor *dx = volt_grad_of(graph, x);
    VOLT_CHECK_PTR(dx);
    size_t n = volt_tensor_numel(x);
    if (x->dtype == VOLT_F64)
        k->backward_f64(x->data, y->data, y->grad->data, dx->data, n);
    else
        k->backward_f32(x->data, y->data, y->grad->data, dx->data, n);
    return VOLT_OK;
}

volt_tensor *volt_unary_op(const char *op, volt_tensor *x, const volt_unary_kernels *kernels) {
    VOLT_OP_INPUTS(x);
    if (!volt_op_check_float(op, x)) return NULL;
    volt_graph *graph = volt_op_graph(op, &x, 1);
    if (!graph) return NULL;
    x = volt_contiguous(x);
    if (!x) return NULL;
    volt_tensor *y = volt_graph_tensor(graph, x->dtype, x->ndim, x->shape);
    VOLT_OP_REQUIRE(y, VOLT_ERR_NOMEM, "%s: out of memory for the output", op);
    size_t n = volt_tensor_numel(x);
    if (x->dtype == VOLT_F64) kernels->forward_f64(x->data, y->data, n);
    else kernels->forward_f32(x->data, y->data, n);
    if (volt_graph_needs_grad(graph, &x, 1)) {
        volt_node *node = volt_graph_record(graph, op, unary_backward, y, &x, 1);
        if (!node) return NULL;
        node->extra = (void *)kernels;
        node->flops = kernels->flops_per_element * (double)n;
    }
    return y;
}

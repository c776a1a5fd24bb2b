/* lib/ops/binary.c — elementwise binary ops with numpy broadcasting, scale, bias add.
 *
 * Broadcasting: shapes are right-aligned; a missing or size-1 dimension of one input
 * repeats along the other's size; the output has the broadcast shape.
 *   add: y = a + b    da = R_a(dy)          db = R_b(dy)
 *   sub: y = a - b    da = R_a(dy)          db = -R_b(dy)
 *   mul: y = a * b    da = R_a(dy * b)      db = R_b(dy * a)
 * where R_x sums over the dimensions along which x was broadcast (back to x's shape).
 *   scale:    y = s x                      dx = s dy
 *   bias_add: y[r, c] = x[r, c] + bias[c]  dx = dy, dbias[c] = sum_r dy[r, c]
 * (x seen as [rows, C]). Reductions over broadcast dimensions accumulate in double. */
#include <string.h>

#include "ops/op_util.h"

/* --- broadcast plan --------------------------------------------------------------------
 * The output shape padded to 4 dimensions, with each input's element strides (0 along
 * broadcast dimensions). Adjacent dimensions that every operand walks contiguously are
 * merged, so same-shape inputs become one flat loop and [2, 3, 4] + [4] a loop of 6 rows
 * of 4; the innermost stride of an input is then 1 (walks) or 0 (repeats). */

typedef struct broadcast_plan {
    long shape[VOLT_MAX_DIMS];
    long strides[2][VOLT_MAX_DIMS]; /* [0: a, 1: b][dim] */
} broadcast_plan;

/* The broadcast shape of a and b (ndim and shape), or 0 when they do not broadcast. */
static int broadcast_shape(const volt_tensor *a, const volt_tensor *b, int *ndim, long *shape) {
    int n = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int d = 0; d < n; d++) {
        int da = d - (n - a->ndim), db = d - (n - b->ndim);
        long sa = da >= 0 ? a->shape[da] : 1, sb = db >= 0 ? b->shape[db] : 1;
        if (sa != sb && sa != 1 && sb != 1) return 0;
        shape[d] = sa == 1 ? sb : sa;
    }
    *ndim = n;
    return 1;
}

/* Both inputs contiguous; out_ndim/out_shape from broadcast_shape. */
static void broadcast_plan_make(const volt_tensor *a, const volt_tensor *b, int out_ndim,
                                const long *out_shape, broadcast_plan *plan) {
    long shape[VOLT_MAX_DIMS], strides[2][VOLT_MAX_DIMS];
    const volt_tensor *in[2] = {a, b};
    int pad = VOLT_MAX_DIMS - out_ndim;
    for (int d = 0; d < VOLT_MAX_DIMS; d++) shape[d] = d < pad ? 1 : out_shape[d - pad];
    for (int k = 0; k < 2; k++) {
        int in_pad = VOLT_MAX_DIMS - in[k]->ndim;
        long stride = 1;
        for (int d = VOLT_MAX_DIMS - 1; d >= 0; d--) {
            long size = d < in_pad ? 1 : in[k]->shape[d - in_pad];
            strides[k][d] = size == 1 ? 0 : stride;
            stride *= size;
        }
    }
    /* merge from the innermost dimension outwards, dropping size-1 dimensions */
    for (int d = 0; d < VOLT_MAX_DIMS; d++) {
        plan->shape[d] = 1;
        plan->strides[0][d] = plan->strides[1][d] = 0;
    }
    int pos = VOLT_MAX_DIMS - 1;
    plan->shape[pos] = shape[pos];
    plan->strides[0][pos] = strides[0][pos];
    plan->strides[1][pos] = strides[1][pos];
    for (int d = VOLT_MAX_DIMS - 2; d >= 0; d--) {
        if (shape[d] == 1) continue;
        if (plan->shape[pos] == 1) {
            plan->shape[pos] = shape[d];
        } else if (strides[0][d] == plan->strides[0][pos] * plan->shape[pos] &&
                   strides[1][d] == plan->strides[1][pos] * plan->shape[pos]) {
            plan->shape[pos] *= shape[d];
            continue;
        } else {
            pos--;
            plan->shape[pos] = shape[d];
        }
        plan->strides[0][pos] = strides[0][d];
        plan->strides[1][pos] = strides[1][d];
    }
}

/* --- kernels ----------------------------------------------------------------------------
 * Forward: y = a OP b over the plan. Backward, for one input x with the other input o
 * (add and sub pass o = a single 1 with zero strides):
 *   grad_direct: x has the output's shape, dx += sign * dy * o;
 *   grad_reduce: x was broadcast, acc (double, x's shape, zeroed) += dy * o, then
 *                dx += sign * acc. */

#define BROADCAST_OUTER_LOOPS(plan)                                                    \
    for (long i0 = 0; i0 < (plan)->shape[0]; i0++)                                     \
        for (long i1 = 0; i1 < (plan)->shape[1]; i1++)                                 \
            for (long i2 = 0; i2 < (plan)->shape[2]; i2++)

#define BROADCAST_OFFSET(plan, k) \
    (i0 * (plan)->strides[k][0] + i1 * (plan)->strides[k][1] + i2 * (plan)->strides[k][2])

#define BINARY_FORWARD(NAME, OP, T, S)                                                 \
    static void NAME##_forward_##S(const broadcast_plan *plan, const T *a, const T *b,  \
                                   T *restrict y) {                                    \
        const long n = plan->shape[3];                                                 \
        const long sa = plan->strides[0][3], sb = plan->strides[1][3];                 \
        BROADCAST_OUTER_LOOPS(plan) {                                                  \
            const T *restrict ra = a + BROADCAST_OFFSET(plan, 0);                      \
            const T *restrict rb = b + BROADCAST_OFFSET(plan, 1);                      \
            if (sa == 1 && sb == 1) {                                                  \
                for (long e = 0; e < n; e++) y[e] = ra[e] OP rb[e];                    \
            } else if (sa == 0 && sb == 1) {                                           \
                const T va = ra[0];                                                    \
                for (long e = 0; e < n; e++) y[e] = va OP rb[e];                       \
            } else if (sa == 1 && sb == 0) {                                           \
                const T vb = rb[0];                                                    \
                for (long e = 0; e < n; e++) y[e] = ra[e] OP vb;                       \
            } else {                                                                   \
                for (long e = 0; e < n; e++) y[e] = ra[e * sa] OP rb[e * sb];          \
            }                                                                          \
            y += n;                                                                    \
        }                                                                              \
    }

#define BINARY_KERNELS(T, S)                                                           \
    BINARY_FORWARD(add, +, T, S)                                                       \
    BINARY_FORWARD(sub, -, T, S)                                                       \
    BINARY_FORWARD(mul, *, T, S)                                                       \
    /* x (index kx of the plan) has the output's shape; o is index 1 - kx */           \
    static void grad_direct_##S(const broadcast_plan *plan, int kx, const T *dy,       \
                                const T *o, T sign, T *restrict dx) {                  \
        const long n = plan->shape[3], so = plan->strides[1 - kx][3];                  \
        BROADCAST_OUTER_LOOPS(plan) {                                                  \
            const T *restrict ro = o + BROADCAST_OFFSET(plan, 1 - kx);                 \
            const T *restrict rdy = dy;                                                \
            if (so == 1) {                                                             \
                for (long e = 0; e < n; e++) dx[e] += sign * (rdy[e] * ro[e]);         \
            } else {                                                                   \
                const T vo = sign * ro[0]; /* so == 0 */                               \
                for (long e = 0; e < n; e++) dx[e] += vo * rdy[e];                     \
            }                                                                          \
            dx += n, dy += n;                                                          \
        }                                                                              \
    }                                                                                  \
    static void grad_reduce_##S(const broadcast_plan *plan, int kx, const T *dy,       \
                                const T *o, double *acc) {                             \
        const long n = plan->shape[3];                                                 \
        const long sx = plan->strides[kx][3], so = plan->strides[1 - kx][3];           \
        BROADCAST_OUTER_LOOPS(plan) {                                                  \
            double *restrict rx = acc + BROADCAST_OFFSET(plan, kx);                    \
            const T *restrict ro = o + BROADCAST_OFFSET(plan, 1 - kx);                 \
            const T *restrict rdy = dy;                                                \
            if (sx == 0) {                                                             \
                double sum = 0;                                                        \
                for (long e = 0; e < n; e++) sum += (double)rdy[e] * (double)ro[e * so]; \
                rx[0] += sum;                                                          \
            } else if (so == 1) {                                                      \
                for (long e = 0; e < n; e++) rx[e] += (double)rdy[e] * (double)ro[e];  \
            } else {                                                                   \
                const double vo = (double)ro[0];                                       \
                for (long e = 0; e < n; e++) rx[e] += (double)rdy[e] * vo;             \
            }                                                                          \
            dy += n;                                                                   \
        }                                                                              \
    }                                                                                  \
    static void add_acc_##S(const double *restrict acc, double sign, T *restrict dx,   \
                            size_t n) {                                                \
        for (size_t i = 0; i < n; i++) dx[i] += (T)(sign * acc[i]);                    \
    }                                                                                  \
    static void scale_forward_##S(const T *restrict x, T s, T *restrict y, size_t n) { \
        for (size_t i = 0; i < n; i++) y[i] = s * x[i];                                \
    }                                                                                  \
    static void scale_backward_##S(const T *restrict dy, T s, T *restrict dx, size_t n) { \
        for (size_t i = 0; i < n; i++) dx[i] += s * dy[i];                             \
    }                                                                                  \
    static void bias_add_forward_##S(const T *restrict x, const T *restrict bias,      \
                                     T *restrict y, size_t rows, size_t cols) {        \
        for (size_t r = 0; r < rows; r++, x += cols, y += cols)                        \
            for (size_t c = 0; c < cols; c++) y[c] = x[c] + bias[c];                   \
    }                                                                                  \
    static void add_into_##S(const T *restrict dy, T *restrict dx, size_t n) {         \
        for (size_t i = 0; i < n; i++) dx[i] += dy[i];                                 \
    }                                                                                  \
    /* dbias[c] += sum_r dy[r, c], rows summed in double in acc (cols, scratch) */     \
    static void bias_add_backward_bias_##S(const T *restrict dy, double *restrict acc, \
                                           T *restrict dbias, size_t rows, size_t cols) { \
        for (size_t c = 0; c < cols; c++) acc[c] = 0;                                  \
        for (size_t r = 0; r < rows; r++, dy += cols)                                  \
            for (size_t c = 0; c < cols; c++) acc[c] += (double)dy[c];                 \
        for (size_t c = 0; c < cols; c++) dbias[c] += (T)acc[c];                       \
    }
BINARY_KERNELS(float, f32)
BINARY_KERNELS(double, f64)

/* --- add, sub, mul ---------------------------------------------------------------------- */

typedef enum binary_kind { BINARY_ADD, BINARY_SUB, BINARY_MUL } binary_kind;
static const char *const binary_names[] = {"add", "sub", "mul"};

/* Accumulates the gradient of input kx of a binary node. */
static int binary_backward_input(volt_graph *graph, volt_node *node, const broadcast_plan *plan,
                                 int kx) {
    volt_tensor *x = node->inputs[kx], *y = node->output;
    volt_tensor *dx = volt_grad_of(graph, x);
    VOLT_CHECK_PTR(dx);
    binary_kind kind = (binary_kind)node->integers[0];
    double sign = kind == BINARY_SUB && kx == 1 ? -1.0 : 1.0;
    static const float one_f32 = 1.0f;
    static const double one_f64 = 1.0;
    /* mul: the other input; add, sub: a single 1 (strides of the other input do not
     * matter then: replaced by a zero-stride plan below) */
    broadcast_plan local = *plan;
    const void *other = node->inputs[1 - kx]->data;
    if (kind != BINARY_MUL) {
        other = x->dtype == VOLT_F64 ? (const void *)&one_f64 : (const void *)&one_f32;
        for (int d = 0; d < VOLT_MAX_DIMS; d++) local.strides[1 - kx][d] = 0;
    }
    size_t n = volt_tensor_numel(x);
    if (n == volt_tensor_numel(y)) {
        if (x->dtype == VOLT_F64)
            grad_direct_f64(&local, kx, y->grad->data, other, sign, dx->data);
        else
            grad_direct_f32(&local, kx, y->grad->data, other, (float)sign, dx->data);
        return VOLT_OK;
    }
    double *acc = volt_graph_alloc(graph, (n ? n : 1) * sizeof *acc);
    VOLT_CHECK_ALLOC(acc, n * sizeof *acc);
    memset(acc, 0, n * sizeof *acc);
    if (x->dtype == VOLT_F64) {
        grad_reduce_f64(&local, kx, y->grad->data, other, acc);
        add_acc_f64(acc, sign, dx->data, n);
    } else {
        grad_reduce_f32(&local, kx, y->grad->data, other, acc);
        add_acc_f32(acc, sign, dx->data, n);
    }
    return VOLT_OK;
}

static int binary_backward(volt_graph *graph, volt_node *node) {
    volt_tensor *a = node->inputs[0], *b = node->inputs[1], *y = node->output;
    broadcast_plan plan;
    broadcast_plan_make(a, b, y->ndim, y->shape, &plan);
    if (a->requires_grad) VOLT_CHECK(binary_backward_input(graph, node, &plan, 0));
    if (b->requires_grad) VOLT_CHECK(binary_backward_input(graph, node, &plan, 1));
    return VOLT_OK;
}

static volt_tensor *binary_op(binary_kind kind, volt_tensor *a, volt_tensor *b) {
    VOLT_OP_INPUTS(a, b);
    const char *op = binary_names[kind];
    if (!volt_op_check_float(op, a) || !volt_op_check_float(op, b) ||
        !volt_op_check_same_kind(op, a, b))
        return NULL;
    int ndim;
    long shape[VOLT_MAX_DIMS];
    char da[96], db[96];
    VOLT_OP_REQUIRE(broadcast_shape(a, b, &ndim, shape), VOLT_ERR_SHAPE,
                    "%s: shapes do not broadcast: %s and %s", op,
                    volt_tensor_describe(a, da, sizeof da), volt_tensor_describe(b, db, sizeof db));
    volt_tensor *inputs[2] = {a, b};
    volt_graph *graph = volt_op_graph(op, inputs, 2);
    if (!graph) return NULL;
    a = volt_contiguous(a);
    b = volt_contiguous(b);
    if (!a || !b) return NULL;
    inputs[0] = a, inputs[1] = b;
    volt_tensor *y = volt_graph_tensor(graph, a->dtype, ndim, shape);
    VOLT_OP_REQUIRE(y, VOLT_ERR_NOMEM, "%s: out of memory for the output", op);
    broadcast_plan plan;
    broadcast_plan_make(a, b, ndim, shape, &plan);
    if (a->dtype == VOLT_F64) {
        if (kind == BINARY_ADD) add_forward_f64(&plan, a->data, b->data, y->data);
        else if (kind == BINARY_SUB) sub_forward_f64(&plan, a->data, b->data, y->data);
        else mul_forward_f64(&plan, a->data, b->data, y->data);
    } else {
        if (kind == BINARY_ADD) add_forward_f32(&plan, a->data, b->data, y->data);
        else if (kind == BINARY_SUB) sub_forward_f32(&plan, a->data, b->data, y->data);
        else mul_forward_f32(&plan, a->data, b->data, y->data);
    }
    if (volt_graph_needs_grad(graph, inputs, 2)) {
        volt_node *node = volt_graph_record(graph, op, binary_backward, y, inputs, 2);
        if (!node) return NULL;
        node->integers[0] = kind;
        node->flops = (double)volt_tensor_numel(y);
    }
    return y;
}

volt_tensor *volt_add(volt_tensor *a, volt_tensor *b) { return binary_op(BINARY_ADD, a, b); }
volt_tensor *volt_sub(volt_tensor *a, volt_tensor *b) { return binary_op(BINARY_SUB, a, b); }
volt_tensor *volt_mul(volt_tensor *a, volt_tensor *b) { return binary_op(BINARY_MUL, a, b); }

/* --- scale ------------------------------------------------------------------------------ */

static int scale_backward(volt_graph *graph, volt_node *node) {
    volt_tensor *x = node->inputs[0], *y = node->output;
    volt_tensor *dx = volt_grad_of(graph, x);
    VOLT_CHECK_PTR(dx);
    size_t n = volt_tensor_numel(x);
    if (x->dtype == VOLT_F64) scale_backward_f64(y->grad->data, node->scalars[0], dx->data, n);
    else scale_backward_f32(y->grad->data, (float)node->scalars[0], dx->data, n);
    return VOLT_OK;
}

volt_tensor *volt_scale(volt_tensor *x, double s) {
    VOLT_OP_INPUTS(x);
    if (!volt_op_check_float("scale", x)) return NULL;
    volt_graph *graph = volt_op_graph("scale", &x, 1);
    if (!graph) return NULL;
    x = volt_contiguous(x);
    if (!x) return NULL;
    volt_tensor *y = volt_graph_tensor(graph, x->dtype, x->ndim, x->shape);
    VOLT_OP_REQUIRE(y, VOLT_ERR_NOMEM, "scale: out of memory for the output");
    size_t n = volt_tensor_numel(x);
    if (x->dtype == VOLT_F64) scale_forward_f64(x->data, s, y->data, n);
    else scale_forward_f32(x->data, (float)s, y->data, n);
    if (volt_graph_needs_grad(graph, &x, 1)) {
        volt_node *node = volt_graph_record(graph, "scale", scale_backward, y, &x, 1);
        if (!node) return NULL;
        node->scalars[0] = s;
        node->flops = (double)n;
    }
    return y;
}

/* --- bias_add --------------------------------------------------------------------------- */

static int bias_add_backward(volt_graph *graph, volt_node *node) {
    volt_tensor *x = node->inputs[0], *bias = node->inputs[1], *y = node->output;
    size_t cols = (size_t)bias->shape[0], n = volt_tensor_numel(x);
    size_t rows = cols ? n / cols : 0;
    if (x->requires_grad) {
        volt_tensor *dx = volt_grad_of(graph, x);
        VOLT_CHECK_PTR(dx);
        if (x->dtype == VOLT_F64) add_into_f64(y->grad->data, dx->data, n);
        else add_into_f32(y->grad->data, dx->data, n);
    }
    if (bias->requires_grad) {
        volt_tensor *dbias = volt_grad_of(graph, bias);
        VOLT_CHECK_PTR(dbias);
        double *acc = volt_graph_alloc(graph, (cols ? cols : 1) * sizeof *acc);
        VOLT_CHECK_ALLOC(acc, cols * sizeof *acc);
        if (x->dtype == VOLT_F64)
            bias_add_backward_bias_f64(y->grad->data, acc, dbias->data, rows, cols);
        else
            bias_add_backward_bias_f32(y->grad->data, acc, dbias->data, rows, cols);
    }
    return VOLT_OK;
}

volt_tensor *volt_bias_add(volt_tensor *x, volt_tensor *bias) {
    VOLT_OP_INPUTS(x, bias);
    if (!volt_op_check_float("bias_add", x) || !volt_op_check_float("bias_add", bias) ||
        !volt_op_check_same_kind("bias_add", x, bias))
        return NULL;
    char desc_x[96], desc_bias[96];
    VOLT_OP_REQUIRE(x->ndim >= 1 && bias->ndim == 1 && bias->shape[0] == x->shape[x->ndim - 1],
                    VOLT_ERR_SHAPE, "bias_add: expected x [..., C] and bias [C], got %s and %s",
                    volt_tensor_describe(x, desc_x, sizeof desc_x),
                    volt_tensor_describe(bias, desc_bias, sizeof desc_bias));
    volt_tensor *inputs[2] = {x, bias};
    volt_graph *graph = volt_op_graph("bias_add", inputs, 2);
    if (!graph) return NULL;
    x = volt_contiguous(x);
    bias = volt_contiguous(bias);
    if (!x || !bias) return NULL;
    inputs[0] = x, inputs[1] = bias;
    volt_tensor *y = volt_graph_tensor(graph, x->dtype, x->ndim, x->shape);
    VOLT_OP_REQUIRE(y, VOLT_ERR_NOMEM, "bias_add: out of memory for the output");
    size_t cols = (size_t)bias->shape[0], n = volt_tensor_numel(x);
    size_t rows = cols ? n / cols : 0;
    if (x->dtype == VOLT_F64) bias_add_forward_f64(x->data, bias->data, y->data, rows, cols);
    else bias_add_forward_f32(x->data, bias->data, y->data, rows, cols);
    if (volt_graph_needs_grad(graph, inputs, 2)) {
        volt_node *node = volt_graph_record(graph, "bias_add", bias_add_backward, y, inputs, 2);
        if (!node) return NULL;
        node->flops = (double)n;
    }
    return y;
}

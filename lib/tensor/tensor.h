/* lib/tensor/tensor.h — a tensor is a dtype, a shape, strides, a device and a pointer.
 *
 * A tensor never owns its memory: data points into an arena (per-step tensors), into a
 * flat parameter or gradient buffer (parameters, see lib/autograd/params.h), or into
 * memory the caller manages (volt_tensor_wrap). Strides are in elements, not bytes;
 * a contiguous tensor has row-major strides. Up to VOLT_MAX_DIMS dimensions; a scalar
 * has ndim 0 and one element.
 *
 * The autograd fields (graph, node, grad, param) are owned by lib/autograd: a tensor
 * made by an op on a graph records which tape node produced it. */
#ifndef VOLT_TENSOR_TENSOR_H
#define VOLT_TENSOR_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

enum { VOLT_MAX_DIMS = 4 };

typedef enum volt_dtype {
    VOLT_F32 = 0,
    VOLT_F64,
    VOLT_BF16,
    VOLT_F16,
    VOLT_I32,
    VOLT_I64,
    VOLT_DTYPE_COUNT
} volt_dtype;

typedef enum volt_device_type { VOLT_DEVICE_CPU = 0, VOLT_DEVICE_CUDA } volt_device_type;

typedef struct volt_device {
    volt_device_type type;
    int index; /* cuda:N; 0 for the CPU */
} volt_device;

typedef struct volt_graph volt_graph;
typedef struct volt_param volt_param;

typedef struct volt_tensor {
    volt_dtype dtype;
    volt_device device;
    int ndim;
    long shape[VOLT_MAX_DIMS];
    long strides[VOLT_MAX_DIMS]; /* elements */
    void *data;                  /* first element */
    /* autograd */
    volt_graph *graph;          /* the graph whose arena holds it; NULL for params/wrapped */
    int node;                   /* tape node that produced it, -1 for leaves */
    int requires_grad;          /* gradients flow to it */
    struct volt_tensor *grad;   /* same shape; allocated on first use in backward */
    volt_param *param;          /* non-NULL for parameters */
} volt_tensor;

static const volt_device VOLT_CPU = {VOLT_DEVICE_CPU, 0};

/* Bytes of one element; name ("f32"); whether it is a floating type. */
size_t volt_dtype_size(volt_dtype dtype);
const char *volt_dtype_name(volt_dtype dtype);
int volt_dtype_is_float(volt_dtype dtype);
/* Parses "f32", "float32", "bf16", ... ; VOLT_ERR_ARG naming the text otherwise. */
VOLT_NODISCARD int volt_dtype_parse(const char *text, volt_dtype *out);

/* Number of elements (1 for a scalar); bytes of a contiguous tensor of that size. */
size_t volt_tensor_numel(const volt_tensor *t);
size_t volt_tensor_nbytes(const volt_tensor *t);
int volt_tensor_is_contiguous(const volt_tensor *t);
int volt_tensor_same_shape(const volt_tensor *a, const volt_tensor *b);
/* Writes "[2, 3, 4]" into buf (always terminated). Returns buf. */
const char *volt_shape_string(const volt_tensor *t, char *buf, size_t size);
/* Writes "f32[2, 3] cpu" into buf. Returns buf. */
const char *volt_tensor_describe(const volt_tensor *t, char *buf, size_t size);

/* Fills in a tensor header for caller-managed memory (contiguous, row-major, no graph). */
VOLT_NODISCARD int volt_tensor_wrap(volt_tensor *t, void *data, volt_dtype dtype, int ndim,
                                    const long *shape);
/* Sets row-major strides from the shape. */
void volt_tensor_set_contiguous_strides(volt_tensor *t);

/* Element access for tests and tools (any dtype, any strides, CPU only), as double. */
double volt_tensor_get(const volt_tensor *t, const long *index);
void volt_tensor_set(volt_tensor *t, const long *index, double value);
/* Flat access in row-major order of the logical shape (handles strides). */
double volt_tensor_get_flat(const volt_tensor *t, size_t i);
void volt_tensor_set_flat(volt_tensor *t, size_t i, double value);

/* Element conversion between 16-bit floats and f32: round to nearest even, NaN kept. */
uint16_t volt_f32_to_bf16(float x);
float volt_bf16_to_f32(uint16_t x);
uint16_t volt_f32_to_f16(float x);
float volt_f16_to_f32(uint16_t x);
/* Rounds n f32 values in place to the nearest value of dtype (VOLT_BF16 or VOLT_F16;
 * VOLT_F32 leaves them): what a 16-bit tensor would hold, as f32, so that f32 arithmetic
 * on rounded operands computes what 16-bit storage with f32 accumulation does (the
 * 16-bit mixed precisions on CPU). Beyond the type's range: inf; NaN stays NaN. */
void volt_round_to_dtype(float *x, size_t n, volt_dtype dtype);
/* Converts n contiguous elements between any two dtypes (floats round to nearest even;
 * floats to integers truncate toward zero, saturate at the integer range, NaN gives 0). */
VOLT_NODISCARD int volt_convert(const void *src, volt_dtype src_dtype, void *dst,
                                volt_dtype dst_dtype, size_t n);

#endif

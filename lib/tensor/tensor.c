/* lib/tensor/tensor.c — tensor headers, element access and dtype conversion. */
#include "tensor/tensor.h"

#include <limits.h>
#include <math.h>
#include <string.h>

static const struct {
    const char *name;
    size_t size;
    int is_float;
} dtype_info[VOLT_DTYPE_COUNT] = {
    [VOLT_F32] = {"f32", 4, 1}, [VOLT_F64] = {"f64", 8, 1}, [VOLT_BF16] = {"bf16", 2, 1},
    [VOLT_F16] = {"f16", 2, 1}, [VOLT_I32] = {"i32", 4, 0}, [VOLT_I64] = {"i64", 8, 0},
};

size_t volt_dtype_size(volt_dtype dtype) { return dtype_info[dtype].size; }
const char *volt_dtype_name(volt_dtype dtype) {
    return (unsigned)dtype < VOLT_DTYPE_COUNT ? dtype_info[dtype].name : "?";
}
int volt_dtype_is_float(volt_dtype dtype) { return dtype_info[dtype].is_float; }

int volt_dtype_parse(const char *text, volt_dtype *out) {
    static const struct {
        const char *spelling;
        volt_dtype dtype;
    } spellings[] = {
        {"f32", VOLT_F32},       {"float32", VOLT_F32}, {"float", VOLT_F32},
        {"f64", VOLT_F64},       {"float64", VOLT_F64}, {"double", VOLT_F64},
        {"bf16", VOLT_BF16},     {"bfloat16", VOLT_BF16}, {"f16", VOLT_F16},
        {"float16", VOLT_F16},   {"half", VOLT_F16},    {"i32", VOLT_I32},
        {"int32", VOLT_I32},     {"i64", VOLT_I64},     {"int64", VOLT_I64},
    };
    VOLT_CHECK_ARG(text && out);
    for (size_t i = 0; i < sizeof spellings / sizeof *spellings; i++)
        if (strcmp(text, spellings[i].spelling) == 0) {
            *out = spellings[i].dtype;
            return VOLT_OK;
        }
    return VOLT_ERROR(VOLT_ERR_ARG, "unknown dtype '%s' (expected f32, f64, bf16, f16, i32 or i64)",
                      text);
}

size_t volt_tensor_numel(const volt_tensor *t) {
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= (size_t)t->shape[d];
    return n;
}

size_t volt_tensor_nbytes(const volt_tensor *t) {
    return volt_tensor_numel(t) * volt_dtype_size(t->dtype);
}

int volt_tensor_is_contiguous(const volt_tensor *t) {
    long expected = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->strides[d] != expected) return 0;
        expected *= t->shape[d];
    }
    return 1;
}

int volt_tensor_same_shape(const volt_tensor *a, const volt_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return 0;
    return 1;
}

const char *volt_shape_string(const volt_tensor *t, char *buf, size_t size) {
    size_t n = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < t->ndim && n < size; d++)
        n += (size_t)snprintf(buf + n, size - n, d ? ", %ld" : "%ld", t->shape[d]);
    if (n < size) snprintf(buf + n, size - n, "]");
    return buf;
}

const char *volt_tensor_describe(const volt_tensor *t, char *buf, size_t size) {
    char shape[96];
    if (t->device.type == VOLT_DEVICE_CUDA)
        snprintf(buf, size, "%s%s cuda:%d", volt_dtype_name(t->dtype),
                 volt_shape_string(t, shape, sizeof shape), t->device.index);
    else
        snprintf(buf, size, "%s%s cpu", volt_dtype_name(t->dtype),
                 volt_shape_string(t, shape, sizeof shape));
    return buf;
}

void volt_tensor_set_contiguous_strides(volt_tensor *t) {
    long stride = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        t->strides[d] = stride;
        stride *= t->shape[d];
    }
}

int volt_tensor_wrap(volt_tensor *t, void *data, volt_dtype dtype, int ndim,
                     const long *shape) {
    VOLT_CHECK_ARG(t && (unsigned)dtype < VOLT_DTYPE_COUNT);
    if (ndim < 0 || ndim > VOLT_MAX_DIMS)
        return VOLT_ERROR(VOLT_ERR_SHAPE, "a tensor has 0 to %d dimensions, not %d",
                          VOLT_MAX_DIMS, ndim);
    memset(t, 0, sizeof *t);
    t->dtype = dtype;
    t->device = VOLT_CPU;
    t->ndim = ndim;
    /* strides (elements) and the byte count must fit in a long: zero dimensions aside,
     * the product of the sizes times the element size is bounded by LONG_MAX */
    long bound = LONG_MAX / (long)volt_dtype_size(dtype);
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0)
            return VOLT_ERROR(VOLT_ERR_SHAPE, "dimension %d has negative size %ld", d, shape[d]);
        if (shape[d] > 1 && shape[d] > bound)
            return VOLT_ERROR(VOLT_ERR_SHAPE,
                              "a %s tensor of %d dimensions with size %ld in dimension %d has "
                              "more bytes than memory can address",
                              volt_dtype_name(dtype), ndim, shape[d], d);
        if (shape[d] > 1) bound /= shape[d];
        t->shape[d] = shape[d];
    }
    volt_tensor_set_contiguous_strides(t);
    t->data = data;
    t->node = -1;
    return VOLT_OK;
}

/* --- element access ----------------------------------------------------------------- */

static double load(const void *base, volt_dtype dtype, long offset) {
    switch (dtype) {
    case VOLT_F32: return ((const float *)base)[offset];
    case VOLT_F64: return ((const double *)base)[offset];
    case VOLT_BF16: return volt_bf16_to_f32(((const uint16_t *)base)[offset]);
    case VOLT_F16: return volt_f16_to_f32(((const uint16_t *)base)[offset]);
    case VOLT_I32: return ((const int32_t *)base)[offset];
    case VOLT_I64: return (double)((const int64_t *)base)[offset];
    default: return NAN;
    }
}

/* Float to integer: truncation toward zero, saturating at the type's range, NaN to 0
 * (a plain cast of NaN or an out-of-range value is undefined behaviour in C). */
static int64_t to_integer(double value, double min, double max) {
    if (isnan(value)) return 0;
    if (value <= min) return (int64_t)min;
    if (value >= max) return (int64_t)max;
    return (int64_t)value;
}

static void store(void *base, volt_dtype dtype, long offset, double value) {
    switch (dtype) {
    case VOLT_F32: ((float *)base)[offset] = (float)value; break;
    case VOLT_F64: ((double *)base)[offset] = value; break;
    case VOLT_BF16: ((uint16_t *)base)[offset] = volt_f32_to_bf16((float)value); break;
    case VOLT_F16: ((uint16_t *)base)[offset] = volt_f32_to_f16((float)value); break;
    case VOLT_I32:
        ((int32_t *)base)[offset] = (int32_t)to_integer(value, INT32_MIN, INT32_MAX);
        break;
    case VOLT_I64: /* 2^63 is the first double above INT64_MAX */
        ((int64_t *)base)[offset] = to_integer(value, -0x1p63, 0x1p63 - 1024);
        break;
    default: break;
    }
}

static long offset_of(const volt_tensor *t, const long *index) {
    long offset = 0;
    for (int d = 0; d < t->ndim; d++) offset += index[d] * t->strides[d];
    return offset;
}

static long offset_of_flat(const volt_tensor *t, size_t i) {
    long offset = 0;
    for (int d = t->ndim - 1; d >= 0; d--) {
        offset += (long)(i % (size_t)t->shape[d]) * t->strides[d];
        i /= (size_t)t->shape[d];
    }
    return offset;
}

double volt_tensor_get(const volt_tensor *t, const long *index) {
    return load(t->data, t->dtype, offset_of(t, index));
}
void volt_tensor_set(volt_tensor *t, const long *index, double value) {
    store(t->data, t->dtype, offset_of(t, index), value);
}
double volt_tensor_get_flat(const volt_tensor *t, size_t i) {
    return load(t->data, t->dtype, offset_of_flat(t, i));
}
void volt_tensor_set_flat(volt_tensor *t, size_t i, double value) {
    store(t->data, t->dtype, offset_of_flat(t, i), value);
}

/* --- 16-bit floats -------------------------------------------------------------------
 * bf16 is the top half of an f32: round to nearest even by adding 0x7fff plus the lowest
 * kept bit before truncating. f16 (IEEE binary16): 1 sign, 5 exponent (bias 15), 10
 * mantissa bits; conversion handles subnormals, overflow to inf, and NaN. */

static uint32_t f32_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}
static float f32_from_bits(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

uint16_t volt_f32_to_bf16(float x) {
    uint32_t u = f32_bits(x);
    if (isnan(x)) return (uint16_t)((u >> 16) | 0x0040); /* quiet NaN, sign kept */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float volt_bf16_to_f32(uint16_t x) { return f32_from_bits((uint32_t)x << 16); }

uint16_t volt_f32_to_f16(float x) {
    uint32_t u = f32_bits(x);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t magnitude = u & 0x7fffffffu;
    if (magnitude > 0x7f800000u) return sign | 0x7e00u; /* NaN */
    if (magnitude >= 0x477ff000u) return sign | 0x7c00u; /* rounds to >= 65520: inf */
    if (magnitude < 0x38800000u) {
        /* below the smallest normal f16 (2^-14): subnormal or zero. Scale so that the
         * f16 subnormal unit (2^-24) becomes 1 and round to nearest even in float. */
        float scaled = f32_from_bits(magnitude) * 0x1p24f;
        float rounded = nearbyintf(scaled); /* default rounding mode: nearest even */
        return sign | (uint16_t)rounded;
    }
    /* normal: rebias exponent (127 -> 15) and round the 13 dropped mantissa bits */
    uint32_t value = magnitude - 0x38000000u; /* subtract (127-15) << 23 */
    value += 0x0fffu + ((value >> 13) & 1u);
    return sign | (uint16_t)(value >> 13);
}

float volt_f16_to_f32(uint16_t x) {
    uint32_t sign = (uint32_t)(x & 0x8000u) << 16;
    uint32_t exponent = (x >> 10) & 0x1fu;
    uint32_t mantissa = x & 0x3ffu;
    if (exponent == 0) /* zero or subnormal: mantissa * 2^-24 */
        return f32_from_bits(sign) + (sign ? -1.0f : 1.0f) * (float)mantissa * 0x1p-24f;
    if (exponent == 31) return f32_from_bits(sign | 0x7f800000u | (mantissa << 13));
    return f32_from_bits(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

void volt_round_to_dtype(float *x, size_t n, volt_dtype dtype) {
    if (dtype == VOLT_BF16) {
        /* the bit operations of volt_f32_to_bf16 on whole words, branch-free so that the
         * compiler vectorises the loop */
        uint32_t *u = (uint32_t *)(void *)x;
        for (size_t i = 0; i < n; i++) {
            uint32_t bits = u[i];
            uint32_t rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) & 0xffff0000u;
            uint32_t quiet_nan = (bits | 0x00400000u) & 0xffff0000u;
            u[i] = (bits & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded;
        }
    } else if (dtype == VOLT_F16) {
        for (size_t i = 0; i < n; i++) x[i] = volt_f16_to_f32(volt_f32_to_f16(x[i]));
    }
}

int volt_convert(const void *src, volt_dtype src_dtype, void *dst, volt_dtype dst_dtype,
                 size_t n) {
    VOLT_CHECK_ARG((src && dst) || n == 0);
    VOLT_CHECK_ARG((unsigned)src_dtype < VOLT_DTYPE_COUNT && (unsigned)dst_dtype < VOLT_DTYPE_COUNT);
    if (src_dtype == dst_dtype) {
        memmove(dst, src, n * volt_dtype_size(src_dtype));
        return VOLT_OK;
    }
    if (src_dtype == VOLT_F32 && dst_dtype == VOLT_BF16) {
        const float *s = src;
        uint16_t *d = dst;
        for (size_t i = 0; i < n; i++) d[i] = volt_f32_to_bf16(s[i]);
        return VOLT_OK;
    }
    if (src_dtype == VOLT_BF16 && dst_dtype == VOLT_F32) {
        const uint16_t *s = src;
        float *d = dst;
        for (size_t i = 0; i < n; i++) d[i] = volt_bf16_to_f32(s[i]);
        return VOLT_OK;
    }
    for (size_t i = 0; i < n; i++) store(dst, dst_dtype, (long)i, load(src, src_dtype, (long)i));
    return VOLT_OK;
}

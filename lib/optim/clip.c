/* lib/optim/clip.c — gradient clipping, as torch.nn.utils.clip_grad_norm_ and
 * clip_grad_value_ define it:
 *
 *   norm:   total = sqrt(sum g^2); c = max_norm / (total + 1e-6); g *= c when c < 1
 *   value:  g = min(max(g, -clip_value), clip_value)     (NaN stays NaN, as torch.clamp)
 *
 * The sum of squares accumulates in double over eight partial sums, which keeps the
 * loop vectorisable without reassociation flags and the rounding error small. Only f32
 * and f64 are handled: other dtypes give a NaN norm and are left untouched. */
#include "optim/optim.h"

#include <math.h>

enum { SQ_NORM_LANES = 8 };

static double sq_norm_f32(const float *restrict grads, size_t n) {
    double partial[SQ_NORM_LANES] = {0};
    size_t i = 0;
    for (; i + SQ_NORM_LANES <= n; i += SQ_NORM_LANES)
        for (size_t lane = 0; lane < SQ_NORM_LANES; lane++) {
            double x = grads[i + lane];
            partial[lane] += x * x;
        }
    double sum = 0;
    for (; i < n; i++) sum += (double)grads[i] * grads[i];
    for (size_t lane = 0; lane < SQ_NORM_LANES; lane++) sum += partial[lane];
    return sum;
}

static double sq_norm_f64(const double *restrict grads, size_t n) {
    double partial[SQ_NORM_LANES] = {0};
    size_t i = 0;
    for (; i + SQ_NORM_LANES <= n; i += SQ_NORM_LANES)
        for (size_t lane = 0; lane < SQ_NORM_LANES; lane++) {
            double x = grads[i + lane];
            partial[lane] += x * x;
        }
    double sum = 0;
    for (; i < n; i++) sum += grads[i] * grads[i];
    for (size_t lane = 0; lane < SQ_NORM_LANES; lane++) sum += partial[lane];
    return sum;
}

double volt_grad_sq_norm(const void *grads, volt_dtype dtype, size_t n) {
    if (n == 0) return 0.0;
    if (!grads) return NAN;
    if (dtype == VOLT_F32) return sq_norm_f32(grads, n);
    if (dtype == VOLT_F64) return sq_norm_f64(grads, n);
    return NAN;
}

static void scale_f32(float *restrict grads, size_t n, float factor) {
    for (size_t i = 0; i < n; i++) grads[i] *= factor;
}

static void scale_f64(double *restrict grads, size_t n, double factor) {
    for (size_t i = 0; i < n; i++) grads[i] *= factor;
}

void volt_grad_scale(void *grads, volt_dtype dtype, size_t n, double factor) {
    if (!grads) return;
    if (dtype == VOLT_F32) scale_f32(grads, n, (float)factor);
    else if (dtype == VOLT_F64) scale_f64(grads, n, factor);
}

int volt_clip_grad_norm(void *grads, volt_dtype dtype, size_t n, double max_norm,
                        double *total_norm /* may be NULL */) {
    VOLT_CHECK_ARG(grads || n == 0);
    if (dtype != VOLT_F32 && dtype != VOLT_F64)
        return VOLT_ERROR(VOLT_ERR_ARG, "clip_grad_norm: dtype %d is not f32 or f64",
                          (int)dtype);
    if (!(max_norm >= 0 && isfinite(max_norm)))
        return VOLT_ERROR(VOLT_ERR_ARG, "clip_grad_norm: max_norm = %g must be finite and >= 0",
                          max_norm);
    double total = sqrt(volt_grad_sq_norm(grads, dtype, n));
    if (total_norm) *total_norm = total;
    if (!isfinite(total))
        return VOLT_ERROR(VOLT_ERR_NUMERIC,
                          "gradient norm is %g over %zu elements: not clipped, gradients "
                          "left as they are",
                          total, n);
    double clip_coef = max_norm / (total + 1e-6);
    if (clip_coef < 1) volt_grad_scale(grads, dtype, n, clip_coef);
    return VOLT_OK;
}

static void clip_value_f32(float *restrict grads, size_t n, float clip_value) {
    for (size_t i = 0; i < n; i++) {
        float x = grads[i];
        x = x < -clip_value ? -clip_value : x;
        grads[i] = x > clip_value ? clip_value : x;
    }
}

static void clip_value_f64(double *restrict grads, size_t n, double clip_value) {
    for (size_t i = 0; i < n; i++) {
        double x = grads[i];
        x = x < -clip_value ? -clip_value : x;
        grads[i] = x > clip_value ? clip_value : x;
    }
}

void volt_clip_grad_value(void *grads, volt_dtype dtype, size_t n, double clip_value) {
    if (!grads) return;
    if (dtype == VOLT_F32) clip_value_f32(grads, n, (float)clip_value);
    else if (dtype == VOLT_F64) clip_value_f64(grads, n, clip_value);
}

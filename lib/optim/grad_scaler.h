/* lib/optim/grad_scaler.h — dynamic loss scaling for f16 training (trainer.precision
 * 16-mixed), as PyTorch's GradScaler.
 *
 * f16 holds magnitudes from 2^-24 to 65504, so small gradients vanish. The loss is
 * multiplied by `scale` before backward, and so is every gradient; before clipping and
 * the optimizer they are multiplied by 1 / scale (unscale) in f32 and checked. A gradient
 * that is not finite (on any rank: the caller agrees over them) means the scale is too
 * large: the step is skipped (parameters and optimizer state unchanged) and the scale is
 * multiplied by backoff_factor. After growth_interval steps in a row without one, it is
 * multiplied by growth_factor. The defaults are PyTorch's: 65536, 2, 0.5 and 2000; with
 * powers of two, scaling and unscaling are exact. The state (scale, steps since the last
 * change, steps skipped) goes into checkpoints, so that a resumed run scales as the
 * uninterrupted one does. */
#ifndef VOLT_OPTIM_GRAD_SCALER_H
#define VOLT_OPTIM_GRAD_SCALER_H

#include <stddef.h>

#include "core/error.h"

typedef struct volt_grad_scaler_config {
    double init_scale;     /* > 0 */
    double growth_factor;  /* > 1 */
    double backoff_factor; /* in (0, 1) */
    long growth_interval;  /* >= 1 */
} volt_grad_scaler_config;

#define VOLT_GRAD_SCALER_DEFAULTS ((volt_grad_scaler_config){65536.0, 2.0, 0.5, 2000})

typedef struct volt_grad_scaler {
    volt_grad_scaler_config config;
    double scale;
    long good_steps;    /* steps in a row without a non-finite gradient */
    long skipped_steps; /* in all */
} volt_grad_scaler;

/* VOLT_ERR_CONFIG naming the grad_scaler.* key of a value out of range. */
VOLT_NODISCARD int volt_grad_scaler_init(volt_grad_scaler *scaler,
                                         const volt_grad_scaler_config *config);

/* grad (count f32 values) *= 1 / scale in place; returns 1 when every result is finite,
 * 0 otherwise (all values are still unscaled). */
int volt_grad_scaler_unscale(const volt_grad_scaler *scaler, float *grad, size_t count);

/* After a step, with the outcome every rank agreed on: returns 1 when the optimizer is to
 * step (all gradients finite), 0 when the step is skipped; moves the scale. */
int volt_grad_scaler_update(volt_grad_scaler *scaler, int all_finite);

/* Restores a saved state; VOLT_ERR_CONFIG for a scale that is not finite and > 0 or a
 * negative count. */
VOLT_NODISCARD int volt_grad_scaler_restore(volt_grad_scaler *scaler, double scale, long good_steps,
                                            long skipped_steps);

#endif

/* lib/optim/grad_scaler.c — see grad_scaler.h. */
#include "optim/grad_scaler.h"

#include <math.h>

int volt_grad_scaler_init(volt_grad_scaler *scaler, const volt_grad_scaler_config *config) {
    VOLT_CHECK_ARG(scaler && config);
    if (!(config->init_scale > 0) || !isfinite(config->init_scale))
        return VOLT_ERROR(VOLT_ERR_CONFIG, "grad_scaler.init_scale = %g: expected > 0",
                          config->init_scale);
    if (!(config->growth_factor > 1) || !isfinite(config->growth_factor))
        return VOLT_ERROR(VOLT_ERR_CONFIG, "grad_scaler.growth_factor = %g: expected > 1",
                          config->growth_factor);
    if (!(config->backoff_factor > 0 && config->backoff_factor < 1))
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "grad_scaler.backoff_factor = %g: expected between 0 and 1",
                          config->backoff_factor);
    if (config->growth_interval < 1)
        return VOLT_ERROR(VOLT_ERR_CONFIG, "grad_scaler.growth_interval = %ld: expected >= 1",
                          config->growth_interval);
    *scaler = (volt_grad_scaler){.config = *config, .scale = config->init_scale};
    return VOLT_OK;
}

int volt_grad_scaler_unscale(const volt_grad_scaler *scaler, float *grad, size_t count) {
    const float inverse = (float)(1.0 / scaler->scale);
    int finite = 1;
    for (size_t i = 0; i < count; i++) {
        grad[i] *= inverse;
        finite &= isfinite(grad[i]) != 0;
    }
    return finite;
}

int volt_grad_scaler_update(volt_grad_scaler *scaler, int all_finite) {
    if (!all_finite) {
        scaler->scale *= scaler->config.backoff_factor;
        scaler->good_steps = 0;
        scaler->skipped_steps++;
        return 0;
    }
    if (++scaler->good_steps >= scaler->config.growth_interval) {
        double grown = scaler->scale * scaler->config.growth_factor;
        if (isfinite(grown)) scaler->scale = grown; /* as PyTorch: never to inf */
        scaler->good_steps = 0;
    }
    return 1;
}

int volt_grad_scaler_restore(volt_grad_scaler *scaler, double scale, long good_steps,
                             long skipped_steps) {
    VOLT_CHECK_ARG(scaler);
    if (!(scale > 0) || !isfinite(scale) || good_steps < 0 || skipped_steps < 0)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "grad scaler state: scale %g, %ld good steps, %ld skipped: expected "
                          "a finite scale > 0 and counts >= 0",
                          scale, good_steps, skipped_steps);
    scaler->scale = scale;
    scaler->good_steps = good_steps;
    scaler->skipped_steps = skipped_steps;
    return VOLT_OK;
}

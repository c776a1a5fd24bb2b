/* lib/optim/optim.h — optimizers, learning-rate schedules and gradient clipping.
 *
 * An optimizer updates a contiguous range [offset, offset + length) of flat f32 (or
 * f64) parameter and gradient buffers and keeps state (momentum, moments) only for that
 * range: ZeRO-1 gives each rank its shard this way, a single process gives the whole
 * buffer. Updates follow PyTorch's definitions exactly (torch.optim.SGD, Adam, AdamW,
 * with their default arguments and bias correction), so that its numbers can be
 * reproduced. Each update is one fused, vectorisable loop over the range.
 *
 * The learning rate is passed to each step (a schedule computes it), so one optimizer
 * serves any schedule. */
#ifndef VOLT_OPTIM_OPTIM_H
#define VOLT_OPTIM_OPTIM_H

#include <stddef.h>

#include "core/error.h"
#include "tensor/tensor.h"

typedef enum volt_optimizer_kind { VOLT_OPTIM_SGD, VOLT_OPTIM_ADAM, VOLT_OPTIM_ADAMW } volt_optimizer_kind;

typedef struct volt_optimizer_options {
    volt_optimizer_kind kind;
    double lr;            /* the base learning rate (schedules scale from it) */
    double weight_decay;  /* SGD/Adam: L2 added to the gradient; AdamW: decoupled */
    /* SGD */
    double momentum;      /* 0: plain SGD */
    double dampening;
    int nesterov;         /* requires momentum > 0 and dampening == 0 */
    /* Adam, AdamW */
    double beta1, beta2;  /* 0.9, 0.999 */
    double eps;           /* 1e-8 */
} volt_optimizer_options;

/* PyTorch's defaults for the kind (SGD lr 1e-3; Adam lr 1e-3; AdamW lr 1e-3, decay 1e-2). */
volt_optimizer_options volt_optimizer_defaults(volt_optimizer_kind kind);
/* Parses "sgd", "adam", "adamw". */
VOLT_NODISCARD int volt_optimizer_kind_parse(const char *text, volt_optimizer_kind *out);

typedef struct volt_optimizer volt_optimizer;

/* Validates the options (lr >= 0, betas in [0, 1), eps > 0, weight_decay >= 0, nesterov
 * rules), naming the bad one. State is zero; dtype is VOLT_F32 or VOLT_F64. */
VOLT_NODISCARD int volt_optimizer_create(const volt_optimizer_options *options,
                                         volt_dtype dtype, size_t offset, size_t length,
                                         volt_optimizer **out);
void volt_optimizer_destroy(volt_optimizer *optimizer);

/* One update of params[offset .. offset+length) from grads[offset ..) with learning
 * rate lr. params and grads point at the start of the whole flat buffers. */
VOLT_NODISCARD int volt_optimizer_step(volt_optimizer *optimizer, void *params,
                                       const void *grads, double lr);
/* Steps taken so far (Adam's bias correction uses it). */
long volt_optimizer_steps(const volt_optimizer *optimizer);
/* Bytes of optimizer state held (ZeRO-1 checks it falls as 1/dp). */
size_t volt_optimizer_state_bytes(const volt_optimizer *optimizer);
/* The state buffers for checkpoints: count of them, and each one's name ("exp_avg",
 * "exp_avg_sq", "momentum_buffer") and data (length elements of the dtype). */
int volt_optimizer_state_count(const volt_optimizer *optimizer);
VOLT_NODISCARD int volt_optimizer_state(volt_optimizer *optimizer, int index,
                                        const char **name, void **data);
void volt_optimizer_set_steps(volt_optimizer *optimizer, long steps);

/* --- learning-rate schedules ------------------------------------------------------------ */

typedef enum volt_lr_schedule_kind {
    VOLT_LR_CONSTANT,       /* lr */
    VOLT_LR_STEP,           /* lr * gamma^(floor(step / step_size))   (torch StepLR) */
    VOLT_LR_LINEAR_WARMUP,  /* lr * min(1, (step + 1) / warmup_steps), then constant */
    VOLT_LR_COSINE,         /* linear warm-up, then cosine from lr to min_lr at total_steps */
} volt_lr_schedule_kind;

typedef struct volt_lr_schedule {
    volt_lr_schedule_kind kind;
    double base_lr;
    long step_size;     /* STEP */
    double gamma;       /* STEP */
    long warmup_steps;  /* LINEAR_WARMUP, COSINE (0: none) */
    long total_steps;   /* COSINE: steps at which lr reaches min_lr and stays */
    double min_lr;      /* COSINE */
} volt_lr_schedule;

/* Checks the fields the kind uses (step_size > 0, warmup_steps < total_steps, ...). */
VOLT_NODISCARD int volt_lr_schedule_check(const volt_lr_schedule *schedule);
/* Learning rate for step (0-based). */
double volt_lr_at(const volt_lr_schedule *schedule, long step);
VOLT_NODISCARD int volt_lr_schedule_kind_parse(const char *text, volt_lr_schedule_kind *out);

/* --- gradient clipping ------------------------------------------------------------------ */

/* Sum of squares of n elements (accumulated in double): the local part of a global norm. */
double volt_grad_sq_norm(const void *grads, volt_dtype dtype, size_t n);
/* Multiplies n elements by factor. */
void volt_grad_scale(void *grads, volt_dtype dtype, size_t n, double factor);
/* Clips by global L2 norm as torch.nn.utils.clip_grad_norm_: total = sqrt(sq_norm),
 * coefficient = max_norm / (total + 1e-6), applied when it is below 1. Returns the norm before clipping
 * in *total_norm. A non-finite norm is VOLT_ERR_NUMERIC (the gradients are untouched). */
VOLT_NODISCARD int volt_clip_grad_norm(void *grads, volt_dtype dtype, size_t n,
                                       double max_norm, double *total_norm);
/* Clamps each element to [-clip_value, clip_value]. */
void volt_clip_grad_value(void *grads, volt_dtype dtype, size_t n, double clip_value);

#endif

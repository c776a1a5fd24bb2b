/* lib/optim/schedule.c — learning rate as a function of the 0-based step s:
 *
 *   constant:       lr
 *   step:           lr gamma^floor(s / step_size)                        (torch StepLR)
 *   linear_warmup:  lr min(1, (s + 1) / warmup_steps)
 *   cosine:         lr (s + 1) / warmup_steps                            for s < warmup_steps
 *                   min_lr + (lr - min_lr) (1 + cos(pi p)) / 2           afterwards,
 *                   p = (s - warmup_steps) / (total_steps - warmup_steps) clamped to [0, 1]
 *
 * A negative step counts as step 0. A schedule that volt_lr_schedule_check rejects
 * gives NaN, which volt_optimizer_step refuses, so the mistake cannot pass unnoticed. */
#include "optim/optim.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const double pi = 3.14159265358979323846;

static const struct {
    const char *name;
    volt_lr_schedule_kind kind;
} schedule_kinds[] = {
    {"constant", VOLT_LR_CONSTANT},
    {"step", VOLT_LR_STEP},
    {"linear_warmup", VOLT_LR_LINEAR_WARMUP},
    {"cosine", VOLT_LR_COSINE},
};

static const char *schedule_kind_name(volt_lr_schedule_kind kind) {
    for (size_t i = 0; i < sizeof schedule_kinds / sizeof schedule_kinds[0]; i++)
        if (schedule_kinds[i].kind == kind) return schedule_kinds[i].name;
    return "unknown";
}

int volt_lr_schedule_kind_parse(const char *text, volt_lr_schedule_kind *out) {
    VOLT_CHECK_ARG(text && out);
    for (size_t i = 0; i < sizeof schedule_kinds / sizeof schedule_kinds[0]; i++) {
        if (strcmp(text, schedule_kinds[i].name) == 0) {
            *out = schedule_kinds[i].kind;
            return VOLT_OK;
        }
    }
    return VOLT_ERROR(VOLT_ERR_ARG,
                      "unknown lr schedule \"%s\" (expected constant, step, linear_warmup "
                      "or cosine)",
                      text);
}

/* Writes what is wrong with the schedule into problem and returns 1, or returns 0.
 * volt_lr_at uses it too, which must not touch the caller's error stack. */
static int schedule_problem(const volt_lr_schedule *s, char *problem, size_t size) {
    const char *kind = schedule_kind_name(s->kind);
    if (strcmp(kind, "unknown") == 0) {
        snprintf(problem, size,
                 "lr schedule kind = %d is not constant, step, linear_warmup or cosine",
                 (int)s->kind);
        return 1;
    }
    /* written as !(ok) so that NaN fails too */
    if (!(s->base_lr >= 0 && isfinite(s->base_lr))) {
        snprintf(problem, size, "%s schedule: base_lr = %g must be finite and >= 0", kind,
                 s->base_lr);
        return 1;
    }
    switch (s->kind) {
    case VOLT_LR_CONSTANT:
        return 0;
    case VOLT_LR_STEP:
        if (s->step_size <= 0) {
            snprintf(problem, size, "step schedule: step_size = %ld must be > 0", s->step_size);
            return 1;
        }
        if (!(s->gamma > 0 && isfinite(s->gamma))) {
            snprintf(problem, size, "step schedule: gamma = %g must be finite and > 0",
                     s->gamma);
            return 1;
        }
        return 0;
    case VOLT_LR_LINEAR_WARMUP:
        if (s->warmup_steps < 0) {
            snprintf(problem, size, "linear_warmup schedule: warmup_steps = %ld must be >= 0",
                     s->warmup_steps);
            return 1;
        }
        return 0;
    case VOLT_LR_COSINE:
        if (s->warmup_steps < 0) {
            snprintf(problem, size, "cosine schedule: warmup_steps = %ld must be >= 0",
                     s->warmup_steps);
            return 1;
        }
        if (s->total_steps <= s->warmup_steps) {
            snprintf(problem, size,
                     "cosine schedule: total_steps = %ld must be > warmup_steps = %ld",
                     s->total_steps, s->warmup_steps);
            return 1;
        }
        if (!(s->min_lr >= 0 && s->min_lr <= s->base_lr)) {
            snprintf(problem, size, "cosine schedule: min_lr = %g must be in [0, base_lr = %g]",
                     s->min_lr, s->base_lr);
            return 1;
        }
        return 0;
    }
    return 0;
}

int volt_lr_schedule_check(const volt_lr_schedule *schedule) {
    VOLT_CHECK_ARG(schedule);
    char problem[256];
    if (schedule_problem(schedule, problem, sizeof problem))
        return VOLT_ERROR(VOLT_ERR_ARG, "%s", problem);
    return VOLT_OK;
}

double volt_lr_at(const volt_lr_schedule *schedule, long step) {
    char problem[256];
    if (!schedule || schedule_problem(schedule, problem, sizeof problem)) return NAN;
    const volt_lr_schedule *s = schedule;
    if (step < 0) step = 0;
    switch (s->kind) {
    case VOLT_LR_CONSTANT:
        return s->base_lr;
    case VOLT_LR_STEP:
        return s->base_lr * pow(s->gamma, (double)(step / s->step_size));
    case VOLT_LR_LINEAR_WARMUP:
        if (step >= s->warmup_steps) return s->base_lr;
        return s->base_lr * (double)(step + 1) / (double)s->warmup_steps;
    case VOLT_LR_COSINE: {
        if (step < s->warmup_steps)
            return s->base_lr * (double)(step + 1) / (double)s->warmup_steps;
        double progress = (double)(step - s->warmup_steps) /
                          (double)(s->total_steps - s->warmup_steps);
        if (progress > 1) progress = 1;
        return s->min_lr + 0.5 * (s->base_lr - s->min_lr) * (1 + cos(pi * progress));
    }
    }
    return NAN;
}

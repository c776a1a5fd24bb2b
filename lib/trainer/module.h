/* lib/trainer/module.h — the researcher's model, as Lightning's LightningModule.
 *
 * A module is a table of functions (volt_module_ops) and a zeroed state block of
 * state_size bytes. The module says what to compute; the trainer owns the loop, the
 * graph, backward, clipping, the optimizer, the schedule, logging and checkpoints.
 *
 *   declare               its configuration keys (model.*) with defaults, before the
 *                         configuration is resolved; may be NULL
 *   init                  build layers into volt_module_params(m) (required)
 *   forward               x -> output (required)
 *   training_step         a batch -> scalar loss (required); the trainer runs backward
 *   validation_step,      evaluate a batch, log metrics with volt_log; return VOLT_OK
 *   test_step             (NULL: the stage is not supported by this module)
 *   predict_step          a batch -> predictions (NULL: forward(batch->x))
 *   configure_optimizers  fill a volt_optim_config (NULL: the trainer reads the
 *                         optimizer.* and lr_scheduler.* keys, see trainer.h)
 *   hooks                 on_fit_start/end, on_train_epoch_start/end,
 *                         on_validation_epoch_start/end, on_before_backward(loss),
 *                         on_after_backward, on_before_optimizer_step; any may be NULL.
 *                         Callbacks' hooks run first, then the module's.
 *
 * Steps run on the trainer's graph: tensors the module makes during a step live until
 * the step ends. Functions returning a tensor return NULL on failure (error pushed, as
 * ops do); the others return a status. */
#ifndef VOLT_TRAINER_MODULE_H
#define VOLT_TRAINER_MODULE_H

#include "autograd/params.h"
#include "core/config.h"
#include "dist/tensor_parallel.h"
#include "data/loader.h"
#include "log/metrics.h"
#include "optim/optim.h"

typedef struct volt_module volt_module;
typedef struct volt_trainer volt_trainer;

typedef enum volt_lr_interval { VOLT_LR_PER_STEP = 0, VOLT_LR_PER_EPOCH } volt_lr_interval;

typedef struct volt_optim_config {
    volt_optimizer_options optimizer;
    int has_schedule;
    volt_lr_schedule schedule; /* the schedule's base_lr is optimizer.lr */
    volt_lr_interval interval; /* the schedule steps per optimizer step or per epoch */
} volt_optim_config;

typedef struct volt_module_ops {
    const char *name;
    size_t state_size;
    int (*declare)(volt_config *config);
    int (*init)(volt_module *m, const volt_config *config);
    volt_tensor *(*forward)(volt_module *m, volt_tensor *x);
    volt_tensor *(*training_step)(volt_module *m, const volt_batch *batch, long batch_idx);
    int (*validation_step)(volt_module *m, const volt_batch *batch, long batch_idx);
    int (*test_step)(volt_module *m, const volt_batch *batch, long batch_idx);
    volt_tensor *(*predict_step)(volt_module *m, const volt_batch *batch, long batch_idx);
    int (*configure_optimizers)(volt_module *m, const volt_config *config, volt_optim_config *out);
    int (*on_fit_start)(volt_module *m);
    int (*on_fit_end)(volt_module *m);
    int (*on_train_epoch_start)(volt_module *m);
    int (*on_train_epoch_end)(volt_module *m);
    int (*on_validation_epoch_start)(volt_module *m);
    int (*on_validation_epoch_end)(volt_module *m);
    int (*on_before_backward)(volt_module *m, volt_tensor *loss);
    int (*on_after_backward)(volt_module *m);
    int (*on_before_optimizer_step)(volt_module *m);
} volt_module_ops;

/* Creates the module: a parameter store (f32, seeded with the seed), the state block,
 * then ops->init. */
VOLT_NODISCARD int volt_module_create(const volt_module_ops *ops, const volt_config *config,
                                      uint64_t seed, volt_module **out);
/* The same for a module whose layers split over a tensor-parallel group (the trainer's,
 * volt_trainer_tp, when trainer.layout has tp > 1): init reads it with volt_module_tp and
 * builds its layers with it (lib/nn/nn.h). NULL: a group of one. Collective over the
 * group (the layers' initialisation is not, but their checks fail alike on every rank). */
VOLT_NODISCARD int volt_module_create_tp(const volt_module_ops *ops, const volt_config *config,
                                         uint64_t seed, const volt_tp *tp, volt_module **out);
/* The module's tensor-parallel group (volt_tp_single when it has none); never NULL. */
const volt_tp *volt_module_tp(const volt_module *m);
void volt_module_destroy(volt_module *m);

void *volt_module_state(volt_module *m);
volt_params *volt_module_params(volt_module *m);
const volt_module_ops *volt_module_ops_of(const volt_module *m);
/* The trainer running the module (NULL outside fit/validate/test/predict). */
volt_trainer *volt_module_trainer(volt_module *m);

/* Logs a scalar (a 1-element tensor, or a plain number) for the current step or epoch;
 * flags from log/metrics.h (VOLT_LOG_STEP, VOLT_LOG_EPOCH, VOLT_LOG_PROG_BAR,
 * VOLT_LOG_MEAN|SUM|MIN|MAX). The weight is the current batch's size. Outside a step
 * (no trainer) it fails with VOLT_ERR_ARG. Lightning's default: STEP in training_step,
 * EPOCH in validation_step and test_step, when neither is given. */
VOLT_NODISCARD int volt_log(volt_module *m, const char *name, const volt_tensor *value, int flags);
VOLT_NODISCARD int volt_log_value(volt_module *m, const char *name, double value, int flags);

/* The fraction of rows where argmax(logits) == targets (no gradient): for accuracy. */
double volt_accuracy(const volt_tensor *logits, const volt_tensor *targets);

#endif

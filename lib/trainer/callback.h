/* lib/trainer/callback.h — code the trainer runs at fixed points, as Lightning's Callback.
 *
 * A callback is a table of hooks and a zeroed state block. Hooks receive the trainer
 * and the module; any may be NULL; each returns a status (an error stops the run).
 * Callbacks run in the order they were added, before the module's own hook.
 *
 * Built in (by name in the configuration's callbacks list, or by ops from code):
 *   EarlyStopping        monitor (required), min_delta (0), patience (3), mode
 *                        ("min"|"max"), check_finite (true), stopping_threshold,
 *                        divergence_threshold (unset by default); checked at the end of
 *                        each validation; the reason for stopping is logged. A monitor
 *                        never logged is an error after the first validation, naming
 *                        the metrics that were logged.
 *   LearningRateMonitor  logging_interval ("step"|"epoch"): logs "lr-<optimizer>".
 *   ModelCheckpoint      dirpath (<run folder>/checkpoints), filename
 *                        ("epoch={epoch}-step={step}"), monitor (unset), mode ("min"),
 *                        save_top_k (1), save_last (true), every_n_train_steps (0),
 *                        every_n_epochs (1), train_time_interval (0 s), save_weights_only
 *                        (false), as Lightning's; decisions are the same on every rank.
 *                        Added by default (trainer.enable_checkpointing).
 *   ThroughputMonitor    window (20), peak_tflops (unset): throughput/samples_per_sec
 *                        (progress bar), throughput/tflops (from the ops' flop counts)
 *                        and, with peak_tflops (one rank's), throughput/mfu; averaged
 *                        over the last `window` training batches, logged every batch.
 *   ModelSummary         max_depth (1): a table of layers, parameter counts and bytes
 *                        at fit start (also enabled by trainer.enable_model_summary). */
#ifndef VOLT_TRAINER_CALLBACK_H
#define VOLT_TRAINER_CALLBACK_H

#include "ckpt/checkpoint.h"
#include "core/config.h"
#include "trainer/module.h"

typedef struct volt_callback volt_callback;

typedef struct volt_callback_ops {
    const char *name;
    size_t state_size;
    /* Reads its options: from the configuration at callbacks.<index>.* (index >= 0), or
     * from `options` given in code (index -1; the callback defines the struct). */
    int (*setup)(volt_callback *cb, const volt_config *config, int index, const void *options);
    int (*on_fit_start)(volt_callback *cb, volt_trainer *t, volt_module *m);
    int (*on_fit_end)(volt_callback *cb, volt_trainer *t, volt_module *m);
    int (*on_train_epoch_start)(volt_callback *cb, volt_trainer *t, volt_module *m);
    int (*on_train_epoch_end)(volt_callback *cb, volt_trainer *t, volt_module *m);
    int (*on_validation_epoch_start)(volt_callback *cb, volt_trainer *t, volt_module *m);
    int (*on_validation_epoch_end)(volt_callback *cb, volt_trainer *t, volt_module *m);
    int (*on_train_batch_end)(volt_callback *cb, volt_trainer *t, volt_module *m, long batch_idx);
    int (*on_before_backward)(volt_callback *cb, volt_trainer *t, volt_module *m,
                              volt_tensor *loss);
    int (*on_after_backward)(volt_callback *cb, volt_trainer *t, volt_module *m);
    int (*on_before_optimizer_step)(volt_callback *cb, volt_trainer *t, volt_module *m);
    void (*teardown)(volt_callback *cb);
    /* Checkpoints: the callback's state as attributes of the group it is given
     * (volt_ckpt_put_* / volt_ckpt_get_*, lib/ckpt/checkpoint.h). Saving is collective:
     * every rank writes the same values. Loading runs after on_fit_start. */
    int (*state_save)(volt_callback *cb, volt_trainer *t, volt_ckpt *ckpt, const char *group);
    int (*state_load)(volt_callback *cb, volt_trainer *t, volt_ckpt *ckpt, const char *group);
} volt_callback_ops;

void *volt_callback_state(volt_callback *cb);

/* The built-ins' options when added from code (volt_trainer_add_callback's `options`). */
typedef struct volt_early_stopping_options {
    const char *monitor; /* required */
    double min_delta;
    long patience;
    const char *mode; /* "min" or "max" */
    int check_finite;
    int has_stopping_threshold; /* stop once the monitor is better than this */
    double stopping_threshold;
    int has_divergence_threshold; /* stop once the monitor is worse than this */
    double divergence_threshold;
} volt_early_stopping_options;
/* The defaults listed above, for a monitor. */
volt_early_stopping_options volt_early_stopping_defaults(const char *monitor);

typedef struct volt_lr_monitor_options {
    const char *logging_interval; /* "step" or "epoch"; NULL: "step" */
} volt_lr_monitor_options;

typedef struct volt_throughput_monitor_options {
    long window;        /* batches averaged; 0: 20 */
    double peak_tflops; /* one rank's peak; 0: no mfu */
} volt_throughput_monitor_options;

typedef struct volt_model_summary_options {
    int max_depth; /* parameters named with at most this many dots get a row each, deeper
                    * ones one row per prefix; -1: every parameter; 0: totals only */
} volt_model_summary_options;

/* The built-in callbacks, and lookup by name (NULL if unknown). */
extern const volt_callback_ops volt_early_stopping_ops;
extern const volt_callback_ops volt_lr_monitor_ops;
extern const volt_callback_ops volt_model_summary_ops;
extern const volt_callback_ops volt_model_checkpoint_ops;
extern const volt_callback_ops volt_throughput_monitor_ops;
const volt_callback_ops *volt_callback_find(const char *name);

#endif

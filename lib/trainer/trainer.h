/* lib/trainer/trainer.h — the loop, as Lightning's Trainer: fit, validate, test, predict.
 *
 * Configuration (declared by volt_trainer_declare; Lightning's names and defaults):
 *   trainer.max_epochs (1000 when neither it nor max_steps is set), trainer.min_epochs (0),
 *   trainer.max_steps (-1), trainer.max_time ("" or "DD:HH:MM:SS"),
 *   trainer.limit_train_batches / limit_val_batches / limit_test_batches /
 *   limit_predict_batches ("1.0": a float is a fraction of the loader, an integer a
 *   count), trainer.val_check_interval ("1.0": a fraction of the training epoch, or an
 *   integer number of batches), trainer.check_val_every_n_epoch (1),
 *   trainer.num_sanity_val_steps (2), trainer.accumulate_grad_batches (1),
 *   trainer.gradient_clip_val (0: off), trainer.gradient_clip_algorithm ("norm"|"value"),
 *   trainer.seed (42), trainer.deterministic (false), trainer.fast_dev_run ("false", or
 *   "true" = 1 batch, or an integer n: n batches of each loop, no run folder files but
 *   the configuration, max_epochs 1, no sanity check), trainer.log_every_n_steps (50),
 *   trainer.enable_progress_bar (true), trainer.enable_model_summary (true),
 *   trainer.default_root_dir ("runs"), trainer.name ("": the model's name),
 *   trainer.version (-1: the next free number), trainer.precision ("32-true";
 *   "bf16-mixed" and "16-mixed": linear layers and attention on 16-bit operands with f32
 *   accumulation,
 *   f32 master weights and optimizer state (on the CPU the operands and results are
 *   rounded: the numerics of 16-bit training, not its speed); "16-mixed" scales the loss
 *   dynamically: grad_scaler.init_scale (65536), growth_factor (2), backoff_factor (0.5),
 *   growth_interval (2000), as PyTorch's GradScaler: a step whose gradients overflow on
 *   any rank is skipped and the scale backs off; the scale is logged as
 *   grad_scaler/scale and saved in checkpoints; "16-true", "bf16-true" are refused).
 *   trainer.layout ("": dp = world size; lib/dist/layout.h), trainer.strategy ("auto":
 *   ddp when dp > 1, else single; "single" (an error with dp > 1), "ddp", "zero1"),
 *   strategy.bucket_mb (25: DDP's gradient bucket size, MB), strategy.hierarchical ("auto":
 *   DDP averages in two levels, inside then across nodes, when every dp group sits on
 *   several nodes with several ranks on each; "true": required, DDP only; "false": flat;
 *   dist/hierarchical.h). comm.timeout_s (600: a collective that waits longer ends the
 *   job, naming the ranks that did not arrive; 0: never; comm/watchdog.h).
 *   With dp > 1, data.batch_size
 *   is per rank (the global batch is batch_size * dp) and gradients are averaged over the
 *   global batch; zero1 shards the optimizer state (gradient_clip_algorithm "value" is
 *   rejected with it: ZeRO clips by the global norm). Logged metrics are reduced over
 *   the ranks (every rank must log the same names; under tensor parallelism the first
 *   rank of each tp group counts for its group), stop decisions are collective, a NaN
 *   loss on any rank stops every rank, and only rank 0 writes files and prints.
 *   optimizer.name ("adamw"|"adam"|"sgd"), optimizer.lr (1e-3), optimizer.weight_decay
 *   (0.01 for adamw, else 0), optimizer.momentum (0), optimizer.nesterov (false),
 *   optimizer.beta1 (0.9), optimizer.beta2 (0.999), optimizer.eps (1e-8): used when the
 *   module has no configure_optimizers.
 *   lr_scheduler.name ("none"|"step"|"linear_warmup"|"cosine"), lr_scheduler.interval
 *   ("step"|"epoch"), lr_scheduler.step_size, lr_scheduler.gamma,
 *   lr_scheduler.warmup_steps, lr_scheduler.total_steps (0: the run's total),
 *   lr_scheduler.min_lr.
 *   callbacks: a list of {name: EarlyStopping|LearningRateMonitor|ModelSummary, ...}.
 *
 * Run folder: <default_root_dir>/<name>/version_<n>/ holds config.yaml (the resolved
 * configuration: `volt-train fit --config <it>` repeats the run) and metrics.csv
 * (lib/log/csv_logger.h). A run that fails leaves no file claiming success: config.yaml
 * is written at the start, metrics.csv as the run goes, and a failure is reported.
 *
 * Loop order in fit (Lightning's): on_fit_start; sanity validation
 * (num_sanity_val_steps batches, metrics discarded); per epoch: on_train_epoch_start,
 * per batch: training_step, on_before_backward, backward (loss / accumulate), on_after_backward,
 * and on the last micro-batch of an accumulation: clipping, on_before_optimizer_step,
 * optimizer step, zero_grad, schedule step; validation at val_check_interval (or epoch
 * end) every check_val_every_n_epoch epochs; on_train_epoch_end; stop at max_epochs,
 * max_steps, max_time or a callback's request (not before min_epochs). Each hook: the
 * callbacks in order, then the module. */
#ifndef VOLT_TRAINER_TRAINER_H
#define VOLT_TRAINER_TRAINER_H

#include <mpi.h>

#include "data/datamodule.h"
#include "trainer/callback.h"
#include "trainer/module.h"

/* Declares every trainer.*, optimizer.*, lr_scheduler.* and callbacks.* key. */
VOLT_NODISCARD int volt_trainer_declare(volt_config *config);
/* Reads and checks the trainer's keys (bad values are VOLT_ERR_CONFIG naming the key),
 * and builds the callbacks listed under callbacks. The configuration must outlive the
 * trainer (config.yaml is written from it at each fit). */
VOLT_NODISCARD int volt_trainer_create(const volt_config *config, volt_trainer **out);
/* The same on the ranks of comm (volt_trainer_create uses MPI_COMM_WORLD): a trainer on
 * MPI_COMM_SELF is a one-rank run inside a larger job. Collective over comm when MPI is
 * initialised; without MPI the trainer is one rank. */
VOLT_NODISCARD int volt_trainer_create_on(const volt_config *config, MPI_Comm comm,
                                          volt_trainer **out);
void volt_trainer_destroy(volt_trainer *trainer);

/* The tensor-parallel group of this rank, from trainer.layout (tp=T: T consecutive ranks);
 * a group of one without tensor parallelism. Build the module on it:
 *     volt_module_create_tp(ops, config, seed, volt_trainer_tp(trainer), &module) */
const volt_tp *volt_trainer_tp(const volt_trainer *trainer);
/* Adds a callback from code (after those from the configuration). */
VOLT_NODISCARD int volt_trainer_add_callback(volt_trainer *trainer, const volt_callback_ops *ops,
                                             const void *options);

VOLT_NODISCARD int volt_trainer_fit(volt_trainer *trainer, volt_module *m, volt_datamodule *dm);
/* fit, resuming from a checkpoint (docs/checkpoint-format.md) when ckpt_path is not NULL:
 * a path, "last" (the last.h5 of the ModelCheckpoint folder: its dirpath, or by default
 * the newest run folder of this name that has one), "best" (the best checkpoint that
 * last.h5 records) or "auto" ("last" when there is one, else a fresh start). The model,
 * the optimizer state, step, epoch, the position inside the epoch (training continues
 * with the next unseen batch of the same order), the random streams and the callbacks'
 * states are restored, so a resumed run on the same layout takes bit-identical steps.
 * The checkpoint may come from any rank layout and strategy (shapes are global). */
VOLT_NODISCARD int volt_trainer_fit_from(volt_trainer *trainer, volt_module *m, volt_datamodule *dm,
                                         const char *ckpt_path);
/* Loads the model's weights (every tensor; with trainer.strict_loading, the default, no
 * other either) from a checkpoint before
 * validate, test or predict: a path, "last", "best" or "auto" as for
 * volt_trainer_fit_from. Collective over the trainer's ranks; every rank fails alike. */
VOLT_NODISCARD int volt_trainer_load_weights(volt_trainer *trainer, volt_module *m,
                                             const char *ckpt_path);
/* Saves the run's state now into path (collective over the trainer's ranks; atomic: an
 * earlier file at path survives any failure). During a fit it holds everything a resume
 * needs; weights_only, or outside a fit, only the model. */
VOLT_NODISCARD int volt_trainer_save_checkpoint(volt_trainer *trainer, const char *path,
                                                int weights_only);
VOLT_NODISCARD int volt_trainer_validate(volt_trainer *trainer, volt_module *m,
                                         volt_datamodule *dm);
VOLT_NODISCARD int volt_trainer_test(volt_trainer *trainer, volt_module *m, volt_datamodule *dm);
/* Writes predictions (one row per sample: the predict_step output, flattened) to
 * <run folder>/predictions.csv. */
VOLT_NODISCARD int volt_trainer_predict(volt_trainer *trainer, volt_module *m, volt_datamodule *dm);

/* For callbacks and modules. */
long volt_trainer_current_epoch(const volt_trainer *trainer);
long volt_trainer_global_step(const volt_trainer *trainer); /* optimizer steps so far */
double volt_trainer_lr(const volt_trainer *trainer);        /* of the last optimizer step */
volt_metrics *volt_trainer_metrics(volt_trainer *trainer);
const char *volt_trainer_log_dir(const volt_trainer *trainer); /* the run folder */
/* Asks the loop to stop after the current batch, as Lightning's should_stop: the epoch's
 * end hooks still run, and min_epochs still applies (the request then waits for the end
 * of epoch min_epochs). The first reason is kept and logged when it stops. */
void volt_trainer_request_stop(volt_trainer *trainer, const char *reason);
/* Whether the loop stops now: a request (once min_epochs are done), max_steps,
 * max_epochs, max_time (the limits do not wait for min_epochs). Every stop decision of
 * the loop goes through it. */
int volt_trainer_should_stop(volt_trainer *trainer); /* collective with dp > 1 */
const char *volt_trainer_stop_reason(const volt_trainer *trainer);
/* After a fit that SIGUSR1 or SIGTERM stopped (trainer.checkpoint_on_signal): the signal
 * number, else 0. The fit saved hpc_ckpt_<n>.h5 (and last.h5) first and returned VOLT_OK;
 * volt-train exits with VOLT_EXIT_REQUEUE, and `fit --ckpt_path=last` resumes. */
int volt_trainer_preempted(const volt_trainer *trainer);
/* The exit status meaning "checkpointed, requeue me" (EX_TEMPFAIL of sysexits.h). */
enum { VOLT_EXIT_REQUEUE = 75 };

#endif

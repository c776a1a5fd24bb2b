/* lib/trainer/trainer_internal.h — what the trainer's files share; not for modules or
 * applications (they use trainer.h, module.h and callback.h).
 *
 * The trainer is split by job: trainer_config.c declares and reads the options and owns
 * the object's life cycle and its small accessors, run_dir.c makes the run folder and
 * writes its files, trainer.c runs the loops; module.c (volt_log) and callbacks.c reach
 * the running loop through the struct below. */
#ifndef VOLT_TRAINER_TRAINER_INTERNAL_H
#define VOLT_TRAINER_TRAINER_INTERNAL_H

#include <stdio.h>

#include "data/loader.h"
#include "dist/ddp.h"
#include "dist/layout.h"
#include "dist/zero.h"
#include "log/csv_logger.h"
#include "log/progress.h"
#include "log/tensorboard.h"
#include "optim/grad_scaler.h"
#include "prof/prof.h"
#include "trainer/trainer.h"

/* A "limit_*_batches" or "val_check_interval" value: a count of batches, or a fraction. */
typedef struct trainer_amount {
    int is_count;
    long count;      /* when is_count */
    double fraction; /* otherwise, in [0, 1] */
} trainer_amount;

/* What the loop is doing: picks volt_log's default (STEP while training on a batch,
 * EPOCH elsewhere) and lets callbacks tell a sanity check from a real validation. */
typedef enum trainer_stage {
    TRAINER_IDLE = 0,
    TRAINER_TRAINING,
    TRAINER_SANITY,
    TRAINER_VALIDATING,
    TRAINER_TESTING,
    TRAINER_PREDICTING
} trainer_stage;

struct volt_callback {
    const volt_callback_ops *ops;
    void *state;
};

/* trainer.strategy, resolved ("auto" is ddp when dp > 1, else single). */
typedef enum trainer_strategy {
    TRAINER_STRATEGY_SINGLE = 0,
    TRAINER_STRATEGY_DDP,
    TRAINER_STRATEGY_ZERO1
} trainer_strategy;

/* What a fit holds between its setup and its end (trainer.c; checkpoints read it). */
typedef struct fit_context {
    volt_loader *train_loader, *val_loader;
    long train_batches;   /* per epoch, after limit_train_batches */
    long val_batches;     /* per validation; 0: no validation */
    long val_check_batch; /* validate after every this many batches of an epoch */
    volt_optim_config optim;
    volt_optimizer *optimizer; /* single and ddp */
    volt_ddp *ddp;             /* ddp */
    volt_hier *hier;           /* ddp's two-level all-reduce (strategy.hierarchical) */
    volt_zero *zero;           /* zero1: replaces the optimizer */
} fit_context;

/* The trainer.*, optimizer.* and lr_scheduler.* options, read and checked. */
typedef struct trainer_options {
    long max_epochs; /* -1: no limit */
    long min_epochs;
    long max_steps;  /* -1: no limit */
    double max_time; /* seconds; 0: no limit */
    const char *max_time_text;
    trainer_amount limit_train, limit_val, limit_test, limit_predict;
    trainer_amount val_check_interval;
    long check_val_every_n_epoch;
    long num_sanity_val_steps; /* -1: every validation batch */
    long accumulate_grad_batches;
    double gradient_clip_val; /* 0: off */
    int clip_by_value;        /* gradient_clip_algorithm "value" (else "norm") */
    long seed;
    int deterministic;
    long fast_dev_run; /* 0: off, else the batches of each loop */
    long log_every_n_steps;
    int enable_progress_bar;
    int enable_model_summary;
    int enable_checkpointing;
    int checkpoint_on_signal;
    int strict_loading;
    int tensorboard;         /* trainer.logger: tensorboard (metrics.csv too) */
    volt_prof_mode profiler; /* trainer.profiler */
    const char *papi_events; /* profiler.papi_events (NULL: the default set) */
    int profiler_trace;      /* profiler.trace */
    const char *default_root_dir;
    const char *name;        /* "": the module's name */
    long version;            /* -1: the next free number */
    volt_optim_config optim; /* from optimizer.* / lr_scheduler.* */
    const char *layout_text; /* trainer.layout ("": dp = world size) */
    const char *strategy_text;
    double bucket_mb; /* strategy.bucket_mb */
    const char *hierarchical_text; /* strategy.hierarchical: auto, true or false */
    double comm_timeout_s;         /* comm.timeout_s (0: none) */
    volt_dtype autocast;           /* trainer.precision: f32 (32-true), bf16 or f16 (-mixed) */
    int loss_scaling;              /* 16-mixed */
    volt_grad_scaler_config scaler; /* grad_scaler.* */
} trainer_options;

struct volt_trainer {
    const volt_config *config; /* borrowed: it must outlive the trainer */
    trainer_options options;

    /* the ranks: world is NULL in a process without MPI (one rank) */
    volt_comm *world;
    volt_groups groups; /* its dp and tp groups (when world is set) */
    volt_layout layout;
    volt_tp tp; /* the tensor-parallel group (groups.tp), or a group of one */
    int rank;   /* in world: rank 0 writes files and prints */
    trainer_strategy strategy;
    volt_zero *zero; /* during a fit with zero1 (for tests: its shard and state) */

    volt_callback **callbacks;
    int callback_count, callback_capacity;

    volt_graph *graph; /* every step (training and evaluation) runs on this one graph */
    volt_metrics *metrics;
    volt_progress *progress; /* NULL without the progress bar, and on ranks > 0 */

    char *log_dir;        /* the run folder; NULL before the first fit/validate/test/predict */
    volt_csv_logger *csv; /* metrics.csv; NULL under fast_dev_run and on ranks > 0 */
    volt_tb_writer *tensorboard; /* the same rows as TensorBoard scalars, or NULL */

    /* loop state */
    volt_module *module;
    trainer_stage stage;
    int fitting; /* inside volt_trainer_fit */
    long current_epoch;
    long global_step;         /* optimizer steps in this fit */
    long epochs_done;         /* training epochs completed in this fit */
    long batches_done;        /* training batches of current_epoch done (optimizer step included) */
    long train_batch_counter; /* training batches run in this fit: the graph's step for the
                               * next one, so that its random streams survive a resume */
    long resume_batch;        /* the first epoch after a resume starts at this batch */
    fit_context *fit;         /* during a fit */
    volt_prof *prof;          /* during a fit with trainer.profiler; NULL otherwise */
    double lr;                /* of the last optimizer step (before the first one: of it) */
    volt_grad_scaler scaler;  /* 16-mixed: the loss scale, kept across fits and in checkpoints */
    long batch_size;          /* of the batch being processed; 0 between batches */
    long last_batch_samples;  /* the last training batch: samples over all ranks */
    double last_batch_flops;  /* and the flops of its forward and backward on this rank */
    double fit_start_time;    /* (less the training time of the fits a resume continues) */
    double resumed_seconds;   /* that time, from the checkpoint */
    int stop_requested;
    int time_up;             /* max_time elapsed on some rank (agreed) */
    int preempt_signal;      /* SIGUSR1/SIGTERM reached some rank during the fit (agreed) */
    int preempt_saved;       /* and its checkpoint is saved */
    int failure_agreed;      /* the current failure is known to every rank (same message) */
    int stop_deferred_noted; /* said once that min_epochs keeps the run going */
    char *stop_reason;
    char optimizer_label[32]; /* "adamw": LearningRateMonitor logs "lr-adamw" */

    /* names the module logged during the current evaluation loop (taken at its end) */
    char **eval_names;
    int eval_name_count, eval_name_capacity;
};

/* trainer_config.c: the data-parallel group (NULL with one rank) and this rank in it. */
volt_comm *trainer_dp_comm(const volt_trainer *trainer);
int trainer_dp_size(const volt_trainer *trainer);
int trainer_dp_rank(const volt_trainer *trainer);

/* module.c: the trainer attaches itself for the length of a loop (NULL detaches). */
void volt_module_attach(volt_module *m, volt_trainer *trainer);

/* checkpointing.c: the run's state into a checkpoint file and back (collective).
 * trainer_restore runs after the fit's setup (model, optimizer, counters), and
 * trainer_restore_callbacks after on_fit_start (the callbacks' states). */
int trainer_restore(volt_trainer *trainer, volt_module *m, fit_context *f, const char *path);
int trainer_restore_callbacks(volt_trainer *trainer, const char *path);
/* ckpt_path: a path as it is, or "last", "best", "auto" looked up (see
 * volt_trainer_fit_from); *out is malloc'd, NULL for "auto" with nothing to resume. */
int trainer_resolve_ckpt_path(volt_trainer *trainer, const char *module_name, const char *text,
                              char **out);
/* trainer.c: whether a validation runs right after this training batch (callbacks that
 * want its metrics wait for it). */
int trainer_validates_after_batch(const volt_trainer *trainer, long batch_idx);
/* checkpointing.c: the signals that ask a fit to checkpoint and stop. install/restore
 * bracket a fit (with checkpoint_on_signal; install forgets earlier signals); the handler
 * only records the signal, which trainer_pending_signal reads (0 when none came). */
void trainer_signals_install(volt_trainer *trainer);
void trainer_signals_restore(volt_trainer *trainer);
int trainer_pending_signal(void);
/* Saves hpc_ckpt_<n>.h5 (the next free n) in the checkpoint folder and makes last.h5 a
 * link to it; collective. */
int trainer_save_preemption_checkpoint(volt_trainer *trainer);

/* checkpointing.c: trainer_resolve_ckpt_path on rank 0, the answer told to every rank
 * (collective; agreed). */
int trainer_find_checkpoint(volt_trainer *trainer, const char *module_name, const char *text,
                            char **out);
/* model_checkpoint.c: the dirpath set on the first ModelCheckpoint, or NULL (default). */
const char *trainer_checkpoint_dirpath(const volt_trainer *trainer);

/* trainer.c: volt_log tells the trainer which names it logged (for evaluation loops). */
int trainer_note_logged(volt_trainer *trainer, const char *name);

/* callbacks.c: the callbacks.* keys; a callback's life cycle. */
int callbacks_declare(volt_config *config);
int callback_create(const volt_callback_ops *ops, const volt_config *config, int index,
                    const void *options, volt_callback **out);
void callback_destroy(volt_callback *cb);
/* callbacks.<index>.<option>; an item may set only its callback's options (own: a
 * space-separated list). */
void callbacks_option_key(char *key, size_t size, int index, const char *option);
int callbacks_check_own_options(const volt_config *config, int index, const char *callback,
                                const char *own);
/* Whether any callbacks.<index>.* key that callbacks_declare declared was supplied. */
int callbacks_item_is_set(const volt_config *config, int index);

/* trainer_config.c: whether max_steps or max_epochs is reached (nothing left to train). */
int trainer_run_complete(const volt_trainer *trainer);
/* trainer_config.c: after volt_trainer_should_stop said yes, records and logs why. */
void trainer_note_stop(volt_trainer *trainer);

/* run_dir.c: makes (once per trainer) <root>/<name>/version_<n>/, saves config.yaml and
 * opens metrics.csv (not under fast_dev_run). */
int trainer_open_run_dir(volt_trainer *trainer, const char *module_name);
/* Writes metrics.csv now (a no-op without it). */
int trainer_save_metrics(volt_trainer *trainer);
/* Writes the TensorBoard events out (at the end of an epoch, a validation, a fit). */
int trainer_flush_tensorboard(volt_trainer *trainer);
/* predictions.csv: rows are written to <run folder>/predictions.csv.tmp, renamed into
 * place by the close with success = 1 and removed otherwise. */
int trainer_predictions_open(volt_trainer *trainer, FILE **out);
int trainer_predictions_write(FILE *file, const volt_tensor *output, long batch_size);
int trainer_predictions_close(volt_trainer *trainer, FILE *file, int success);

#endif

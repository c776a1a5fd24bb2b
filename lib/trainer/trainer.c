/* lib/trainer/trainer.c — the loops: fit, validate, test, predict, in Lightning's order.
 *
 * fit:   on_fit_start; sanity validation (num_sanity_val_steps batches, metrics dropped);
 *        per epoch: on_train_epoch_start; per batch: training_step, on_before_backward,
 *        backward of loss / accumulate_grad_batches, on_after_backward, and on the last
 *        micro-batch of each accumulation (or of the epoch): clipping,
 *        on_before_optimizer_step, optimizer step at the schedule's rate, zero_grad;
 *        on_train_batch_end; validation every val_check_batch batches of every
 *        check_val_every_n_epoch-th epoch; then on_train_epoch_end; on_fit_end.
 * Every hook runs the callbacks in order, then the module. Every step, training or
 * evaluation, runs on the trainer's one graph and resets it when it ends; evaluation runs
 * without gradients and in evaluation mode.
 *
 * Metrics: a training batch's STEP values become a row of metrics.csv when its optimizer
 * step is a multiple of log_every_n_steps (the row's step is that step's 0-based index);
 * an epoch's aggregates are a row at its end; a validation's aggregates a row at its end.
 * Stopping: after each batch and each epoch the loop asks volt_trainer_should_stop.
 *
 * Data parallel (dp > 1): each rank trains on its part of the global batch; the loss is
 * scaled by local_size * dp / global_size (so that averaging gradients gives the global
 * mean) and by 1 / accumulate_grad_batches; DDP averages gradients on the last
 * micro-batch of an accumulation (overlapped with backward), ZeRO-1 reduce-scatters them
 * in its step. Before backward the ranks agree on the step's outcome (an error or a
 * non-finite loss on any rank fails every rank with that rank's message); an error after
 * it, while collectives are in flight, aborts the job (volt_abort_with_errors). Training
 * STEP values are reduced over the ranks each batch (weighted by batch size); EPOCH
 * aggregates at the end of each loop; evaluation loops make no collective per batch, and
 * their STEP values are not written with dp > 1 (they are per rank). Setup (prepare_data on
 * node-local rank 0, setup, loaders, options, the run folder) is agreed with
 * volt_comm_agree so that every rank fails with the same message. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "comm/watchdog.h"
#include "core/log.h"
#include "ops/ops.h"
#include "runtime/runtime.h"
#include "trainer/trainer_internal.h"

/* ---- hooks ------------------------------------------------------------------------------- */

typedef enum hook_id {
    HOOK_FIT_START,
    HOOK_FIT_END,
    HOOK_TRAIN_EPOCH_START,
    HOOK_TRAIN_EPOCH_END,
    HOOK_VALIDATION_EPOCH_START,
    HOOK_VALIDATION_EPOCH_END,
    HOOK_AFTER_BACKWARD,
    HOOK_BEFORE_OPTIMIZER_STEP,
} hook_id;

static const char *const hook_names[] = {
    "on_fit_start",
    "on_fit_end",
    "on_train_epoch_start",
    "on_train_epoch_end",
    "on_validation_epoch_start",
    "on_validation_epoch_end",
    "on_after_backward",
    "on_before_optimizer_step",
};

typedef int (*callback_hook)(volt_callback *, volt_trainer *, volt_module *);
typedef int (*module_hook)(volt_module *);

static callback_hook callback_hook_of(const volt_callback_ops *ops, hook_id id) {
    switch (id) {
    case HOOK_FIT_START:
        return ops->on_fit_start;
    case HOOK_FIT_END:
        return ops->on_fit_end;
    case HOOK_TRAIN_EPOCH_START:
        return ops->on_train_epoch_start;
    case HOOK_TRAIN_EPOCH_END:
        return ops->on_train_epoch_end;
    case HOOK_VALIDATION_EPOCH_START:
        return ops->on_validation_epoch_start;
    case HOOK_VALIDATION_EPOCH_END:
        return ops->on_validation_epoch_end;
    case HOOK_AFTER_BACKWARD:
        return ops->on_after_backward;
    case HOOK_BEFORE_OPTIMIZER_STEP:
        return ops->on_before_optimizer_step;
    }
    return NULL;
}

static module_hook module_hook_of(const volt_module_ops *ops, hook_id id) {
    switch (id) {
    case HOOK_FIT_START:
        return ops->on_fit_start;
    case HOOK_FIT_END:
        return ops->on_fit_end;
    case HOOK_TRAIN_EPOCH_START:
        return ops->on_train_epoch_start;
    case HOOK_TRAIN_EPOCH_END:
        return ops->on_train_epoch_end;
    case HOOK_VALIDATION_EPOCH_START:
        return ops->on_validation_epoch_start;
    case HOOK_VALIDATION_EPOCH_END:
        return ops->on_validation_epoch_end;
    case HOOK_AFTER_BACKWARD:
        return ops->on_after_backward;
    case HOOK_BEFORE_OPTIMIZER_STEP:
        return ops->on_before_optimizer_step;
    }
    return NULL;
}

static const char *module_name(const volt_module *m) {
    const volt_module_ops *ops = volt_module_ops_of(m);
    return ops->name ? ops->name : "(unnamed)";
}

/* With more than one rank, an error no agreement covered (a peer may wait in a
 * collective): abort the job rather than leave it waiting. */
static int fatal_if_distributed(const volt_trainer *t, int status) {
    if (status != VOLT_OK && !t->failure_agreed && t->world && volt_comm_size(t->world) > 1) {
        volt_error_push(status, __FILE__, __LINE__, __func__,
                        "rank %d: cannot continue without its peers: aborting the job", t->rank);
        volt_abort_with_errors(status);
    }
    return status;
}

/* Every rank learns whether all succeeded (a no-op with one rank). */
static int agree(volt_trainer *t, int status) {
    if (!t->world || volt_comm_size(t->world) == 1) return status;
    status = volt_comm_agree(t->world, status);
    if (status != VOLT_OK) t->failure_agreed = 1;
    return status;
}

/* A collective whose failure (a metric-name mismatch) every rank sees alike. */
static int agreed(volt_trainer *t, int status) {
    if (status != VOLT_OK) t->failure_agreed = 1;
    return status;
}

static const char *callback_name(const volt_callback *cb) {
    return cb->ops->name ? cb->ops->name : "(unnamed callback)";
}

static int call_hook(volt_trainer *t, volt_module *m, hook_id id) {
    for (int i = 0; i < t->callback_count; i++) {
        volt_callback *cb = t->callbacks[i];
        callback_hook fn = callback_hook_of(cb->ops, id);
        int status = fn ? fn(cb, t, m) : VOLT_OK;
        if (status != VOLT_OK)
            return VOLT_ERROR(status, "callback %s: %s failed", callback_name(cb), hook_names[id]);
    }
    module_hook fn = module_hook_of(volt_module_ops_of(m), id);
    int status = fn ? fn(m) : VOLT_OK;
    if (status != VOLT_OK)
        return VOLT_ERROR(status, "module %s: %s failed", module_name(m), hook_names[id]);
    return VOLT_OK;
}

static int call_before_backward(volt_trainer *t, volt_module *m, volt_tensor *loss) {
    for (int i = 0; i < t->callback_count; i++) {
        volt_callback *cb = t->callbacks[i];
        int status =
            cb->ops->on_before_backward ? cb->ops->on_before_backward(cb, t, m, loss) : VOLT_OK;
        if (status != VOLT_OK)
            return VOLT_ERROR(status, "callback %s: on_before_backward failed", callback_name(cb));
    }
    const volt_module_ops *ops = volt_module_ops_of(m);
    int status = ops->on_before_backward ? ops->on_before_backward(m, loss) : VOLT_OK;
    if (status != VOLT_OK)
        return VOLT_ERROR(status, "module %s: on_before_backward failed", module_name(m));
    return VOLT_OK;
}

static int call_train_batch_end(volt_trainer *t, volt_module *m, long batch_idx) {
    for (int i = 0; i < t->callback_count; i++) {
        volt_callback *cb = t->callbacks[i];
        int status = cb->ops->on_train_batch_end ? cb->ops->on_train_batch_end(cb, t, m, batch_idx)
                                                 : VOLT_OK;
        if (status != VOLT_OK)
            return VOLT_ERROR(status, "callback %s: on_train_batch_end failed", callback_name(cb));
    }
    return VOLT_OK;
}

/* ---- metrics and progress ------------------------------------------------------------------ */

/* The step a row is filed under: the 0-based index of the last optimizer step. */
static long log_step(const volt_trainer *t) { return t->global_step > 0 ? t->global_step - 1 : 0; }

static int add_row(volt_trainer *t, volt_metric_values values) {
    if (!t->csv || values.count == 0) return VOLT_OK;
    VOLT_CHECK(volt_csv_logger_add(t->csv, log_step(t), t->current_epoch, values));
    for (int i = 0; t->tensorboard && i < values.count; i++) /* the same row, as scalars */
        VOLT_CHECK(
            volt_tb_add_scalar(t->tensorboard, values.names[i], values.values[i], log_step(t), 0));
    return VOLT_OK;
}

static void progress_start(volt_trainer *t, const char *phase, long total) {
    if (t->progress) volt_progress_start(t->progress, phase, total);
}
static void progress_update(volt_trainer *t, long done) {
    if (t->progress) volt_progress_update(t->progress, done, volt_metrics_prog_bar(t->metrics));
}
static void progress_end(volt_trainer *t) {
    if (t->progress) volt_progress_end(t->progress, volt_metrics_prog_bar(t->metrics));
}

int trainer_note_logged(volt_trainer *t, const char *name) {
    if (t->stage != TRAINER_SANITY && t->stage != TRAINER_VALIDATING && t->stage != TRAINER_TESTING)
        return VOLT_OK;
    for (int i = 0; i < t->eval_name_count; i++)
        if (strcmp(t->eval_names[i], name) == 0) return VOLT_OK;
    if (t->eval_name_count == t->eval_name_capacity) {
        int capacity = t->eval_name_capacity ? 2 * t->eval_name_capacity : 16;
        char **grown = realloc(t->eval_names, (size_t)capacity * sizeof *grown);
        VOLT_CHECK_ALLOC(grown, (size_t)capacity * sizeof *grown);
        t->eval_names = grown;
        t->eval_name_capacity = capacity;
    }
    char *copy = strdup(name);
    VOLT_CHECK_ALLOC(copy, strlen(name) + 1);
    t->eval_names[t->eval_name_count++] = copy;
    return VOLT_OK;
}

static void clear_eval_names(volt_trainer *t) {
    for (int i = 0; i < t->eval_name_count; i++) free(t->eval_names[i]);
    t->eval_name_count = 0;
}

/* Name/value pairs copied out of the metrics store (whose arrays live until its next call). */
typedef struct value_list {
    int count, capacity;
    char **names;
    double *values;
} value_list;

static void value_list_free(value_list *list) {
    for (int i = 0; i < list->count; i++) free(list->names[i]);
    free(list->names);
    free(list->values);
    *list = (value_list){0};
}

static int value_list_add(value_list *list, volt_metric_values values) {
    for (int i = 0; i < values.count; i++) {
        if (list->count == list->capacity) {
            int capacity = list->capacity ? 2 * list->capacity : 16;
            char **names = realloc(list->names, (size_t)capacity * sizeof *names);
            VOLT_CHECK_ALLOC(names, (size_t)capacity * sizeof *names);
            list->names = names;
            double *numbers = realloc(list->values, (size_t)capacity * sizeof *numbers);
            VOLT_CHECK_ALLOC(numbers, (size_t)capacity * sizeof *numbers);
            list->values = numbers;
            list->capacity = capacity;
        }
        list->names[list->count] = strdup(values.names[i]);
        VOLT_CHECK_ALLOC(list->names[list->count], strlen(values.names[i]) + 1);
        list->values[list->count++] = values.values[i];
    }
    return VOLT_OK;
}

/* The epoch aggregates of the names logged in this evaluation loop: a row of metrics.csv
 * unless they are to be dropped (sanity check); printed for validate() and test(). */
static int take_eval_epoch(volt_trainer *t, int keep, int print) {
    value_list list = {0};
    int status = VOLT_OK;
    if (t->world && volt_comm_size(t->world) > 1)
        VOLT_CHECK(agreed(t, volt_metrics_reduce_epoch(t->metrics, t->world, "",
                                                       (const char *const *)t->eval_names,
                                                       t->eval_name_count)));
    for (int i = 0; i < t->eval_name_count && status == VOLT_OK; i++)
        status = value_list_add(&list, volt_metrics_take_epoch(t->metrics, t->eval_names[i]));
    if (status == VOLT_OK && keep) {
        volt_metric_values values = {list.count, (const char *const *)list.names, list.values};
        status = add_row(t, values);
        for (int i = 0; i < list.count && print; i++)
            VOLT_INFO("  %-24s %.6g", list.names[i], list.values[i]);
    }
    value_list_free(&list);
    return status;
}

/* ---- data ------------------------------------------------------------------------------------ */

static int prepare_data(volt_trainer *t, volt_datamodule *dm, volt_stage stage) {
    const volt_datamodule_ops *ops = volt_datamodule_ops_of(dm);
    const char *name = ops->name ? ops->name : "(unnamed)";
    if (!ops->setup || !ops->loader)
        return VOLT_ERROR(VOLT_ERR_ARG, "data module %s lacks setup or loader", name);
    if (ops->prepare_data) { /* once per node, before any rank's setup */
        int local_rank = 0, status = VOLT_OK;
        volt_comm *node = NULL;
        if (t->world && volt_comm_size(t->world) > 1) {
            VOLT_CHECK(volt_comm_split_node(t->world, &node));
            local_rank = volt_comm_rank(node);
            volt_comm_destroy(node);
        }
        if (local_rank == 0) status = ops->prepare_data(dm, t->config);
        if (status != VOLT_OK)
            status = VOLT_ERROR(status, "data module %s: prepare_data failed", name);
        VOLT_CHECK(agree(t, status)); /* also the barrier before setup */
    }
    volt_datamodule_set_partition(dm, trainer_dp_rank(t), trainer_dp_size(t));
    int status = ops->setup(dm, stage, t->config);
    if (status != VOLT_OK)
        status =
            VOLT_ERROR(status, "data module %s: setup(%s) failed", name, volt_stage_name(stage));
    VOLT_CHECK(agree(t, status));
    return VOLT_OK;
}

static int get_loader(volt_datamodule *dm, volt_split split, int required, volt_loader **out) {
    const volt_datamodule_ops *ops = volt_datamodule_ops_of(dm);
    *out = NULL;
    int status = ops->loader(dm, split, out);
    if (status != VOLT_OK)
        return VOLT_ERROR(status, "data module %s: loader(%s) failed",
                          ops->name ? ops->name : "(unnamed)", volt_split_name(split));
    if (required && !*out)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "data module %s has no %s data (an HDF5 file needs a "
                          "/%s group)",
                          ops->name ? ops->name : "(unnamed)", volt_split_name(split),
                          volt_split_name(split));
    return VOLT_OK;
}

/* Batches a loop runs: a count (at most the loader's), or a fraction of the loader (0.3 of
 * 10 batches is 3; a positive fraction that rounds to 0 is an error, as in Lightning). */
static int limited_batches(const volt_loader *loader, const trainer_amount *limit, const char *key,
                           long *out) {
    long available = volt_loader_batches(loader);
    if (limit->is_count) {
        *out = limit->count < available ? limit->count : available;
        return VOLT_OK;
    }
    *out = (long)((double)available * limit->fraction);
    if (*out == 0 && limit->fraction > 0 && available > 0)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "%s = %g of %ld batches is less than one batch: "
                          "raise it, or give a count",
                          key, limit->fraction, available);
    return VOLT_OK;
}

/* With more than one rank: every rank must have evaluation batches, or none (each reduces
 * the loop's metrics); a split too small for the ranks is an error on every rank. */
static int agree_on_batches(volt_trainer *t, long batches, const char *split) {
    if (!t->world || volt_comm_size(t->world) == 1) return VOLT_OK;
    int has[2] = {batches > 0, batches == 0}; /* max of each: some rank has, some has not */
    VOLT_CHECK(volt_comm_allreduce(t->world, has, 2, VOLT_I32, VOLT_REDUCE_MAX, NULL));
    if (has[0] && has[1]) {
        t->failure_agreed = 1;
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "the %s split leaves some ranks without a batch (each rank reads a "
                          "contiguous part of it): it needs at least one sample per rank, "
                          "within the trainer.limit_*_batches",
                          split);
    }
    return VOLT_OK;
}

/* ---- evaluation loops --------------------------------------------------------------------------
 */

/* The batches of an evaluation loop (no collective: ranks may have different counts). */
static int eval_loop(volt_trainer *t, volt_module *m, volt_loader *loader, long batches,
                     const char *phase) {
    const volt_module_ops *ops = volt_module_ops_of(m);
    int validation = t->stage != TRAINER_TESTING, keep = t->stage != TRAINER_SANITY;
    VOLT_CHECK(volt_loader_start_epoch(loader, 0));
    progress_start(t, phase, batches);
    for (long i = 0; i < batches; i++) {
        volt_batch batch;
        int done = 0;
        volt_prof_begin(t->prof, "data");
        int read = volt_loader_next(loader, t->graph, &batch, &done);
        volt_prof_end(t->prof, "data");
        VOLT_CHECK(read);
        if (done) break;
        t->batch_size = batch.size;
        volt_watch_set_step(!validation ? "test batch"
                            : keep      ? "validation batch"
                                        : "sanity check batch",
                            i);
        int status = validation ? ops->validation_step(m, &batch, i) : ops->test_step(m, &batch, i);
        volt_prof_add_flops(t->prof, volt_graph_flops(t->graph));
        t->batch_size = 0;
        volt_graph_reset(t->graph);
        if (status != VOLT_OK)
            return VOLT_ERROR(status, "module %s: %s failed on batch %ld", module_name(m),
                              validation ? "validation_step" : "test_step", i);
        volt_metric_values step_values = volt_metrics_take_step(t->metrics);
        if (keep && trainer_dp_size(t) == 1) VOLT_CHECK(add_row(t, step_values));
        progress_update(t, i + 1);
    }
    progress_end(t);
    return VOLT_OK;
}

static int eval_batches(volt_trainer *t, volt_module *m, volt_loader *loader, long batches,
                        const char *phase) {
    int validation = t->stage != TRAINER_TESTING, keep = t->stage != TRAINER_SANITY;
    int print = !t->fitting;
    if (validation) VOLT_CHECK(call_hook(t, m, HOOK_VALIDATION_EPOCH_START));
    /* the ranks agree before the reduction of the loop's metrics */
    VOLT_CHECK(agree(t, eval_loop(t, m, loader, batches, phase)));
    if (print) VOLT_INFO("%s results:", phase);
    /* aggregates before the hooks, so that EarlyStopping sees this validation's values;
     * names the module logs in its own on_validation_epoch_end make a second row */
    VOLT_CHECK(take_eval_epoch(t, keep, print));
    if (validation) {
        VOLT_CHECK(call_hook(t, m, HOOK_VALIDATION_EPOCH_END));
        VOLT_CHECK(take_eval_epoch(t, keep, print));
    }
    if (keep) VOLT_CHECK(trainer_save_metrics(t));
    if (keep) VOLT_CHECK(trainer_flush_tensorboard(t));
    return VOLT_OK;
}

/* One validation (sanity, within fit, or alone) or test loop, without gradients and in
 * evaluation mode; the graph's settings and the stage are restored afterwards. */
static int run_eval(volt_trainer *t, volt_module *m, volt_loader *loader, long batches,
                    trainer_stage stage) {
    const char *phase = stage == TRAINER_SANITY    ? "Sanity Checking"
                        : stage == TRAINER_TESTING ? "Testing"
                                                   : "Validation";
    trainer_stage previous = t->stage;
    t->stage = stage;
    clear_eval_names(t);
    int was_grad = volt_graph_set_grad_enabled(t->graph, 0);
    int was_training = volt_graph_training(t->graph);
    volt_graph_set_training(t->graph, 0);
    const char *region = stage == TRAINER_SANITY    ? "sanity_check"
                         : stage == TRAINER_TESTING ? "test"
                                                    : "validation";
    volt_prof_begin(t->prof, region);
    int status = eval_batches(t, m, loader, batches, phase);
    volt_prof_end(t->prof, region);
    t->batch_size = 0;
    volt_graph_reset(t->graph);
    volt_graph_set_training(t->graph, was_training);
    volt_graph_set_grad_enabled(t->graph, was_grad);
    clear_eval_names(t);
    t->stage = previous;
    VOLT_CHECK(status);
    return VOLT_OK;
}

/* ---- fit ------------------------------------------------------------------------------------- */

static const char *optimizer_kind_name(volt_optimizer_kind kind) {
    switch (kind) {
    case VOLT_OPTIM_SGD:
        return "sgd";
    case VOLT_OPTIM_ADAM:
        return "adam";
    case VOLT_OPTIM_ADAMW:
        return "adamw";
    }
    return "optimizer";
}

/* The run's length in schedule intervals, for a cosine schedule with total_steps 0. */
static int run_total_intervals(const volt_trainer *t, const fit_context *f, long *out) {
    const trainer_options *o = &t->options;
    long per_epoch =
        (f->train_batches + o->accumulate_grad_batches - 1) / o->accumulate_grad_batches;
    long by_steps = -1, by_epochs = -1;
    if (f->optim.interval == VOLT_LR_PER_STEP) {
        by_steps = o->max_steps;
        if (o->max_epochs >= 0) by_epochs = o->max_epochs * per_epoch;
    } else {
        if (o->max_steps >= 0 && per_epoch > 0)
            by_steps = (o->max_steps + per_epoch - 1) / per_epoch;
        by_epochs = o->max_epochs;
    }
    *out = by_steps < 0 ? by_epochs : by_epochs < 0 || by_steps < by_epochs ? by_steps : by_epochs;
    if (*out <= 0)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "lr_scheduler.total_steps = 0 asks for the run's length, but the run "
                          "has no finite trainer.max_steps or trainer.max_epochs: set one, or "
                          "set lr_scheduler.total_steps");
    return VOLT_OK;
}

static int setup_optimizer(volt_trainer *t, volt_module *m, fit_context *f) {
    const volt_module_ops *ops = volt_module_ops_of(m);
    const char *source = "the optimizer.* and lr_scheduler.* keys";
    if (ops->configure_optimizers) {
        memset(&f->optim, 0, sizeof f->optim);
        f->optim.optimizer = volt_optimizer_defaults(VOLT_OPTIM_ADAMW);
        int status = ops->configure_optimizers(m, t->config, &f->optim);
        if (status != VOLT_OK)
            return VOLT_ERROR(status, "module %s: configure_optimizers failed", module_name(m));
        source = "configure_optimizers";
    } else {
        f->optim = t->options.optim;
    }
    if (f->optim.has_schedule) {
        volt_lr_schedule *s = &f->optim.schedule;
        s->base_lr = f->optim.optimizer.lr;
        if (s->kind == VOLT_LR_COSINE && s->total_steps == 0) {
            VOLT_CHECK(run_total_intervals(t, f, &s->total_steps));
            if (s->total_steps <= s->warmup_steps)
                return VOLT_ERROR(VOLT_ERR_CONFIG,
                                  "lr_scheduler.warmup_steps = %ld: the run is only %ld %s long",
                                  s->warmup_steps, s->total_steps,
                                  f->optim.interval == VOLT_LR_PER_STEP ? "steps" : "epochs");
        }
        if (volt_lr_schedule_check(s) != VOLT_OK)
            return VOLT_ERROR(VOLT_ERR_CONFIG, "the learning-rate schedule from %s is invalid",
                              source);
    }
    volt_params *params = volt_module_params(m);
    if (t->strategy != TRAINER_STRATEGY_ZERO1 || !t->world) /* ZeRO makes its own */
        if (volt_optimizer_create(&f->optim.optimizer, volt_params_dtype(params), 0,
                                  volt_params_flat_size(params), &f->optimizer) != VOLT_OK)
            return VOLT_ERROR(VOLT_ERR_CONFIG, "cannot make the optimizer from %s", source);
    snprintf(t->optimizer_label, sizeof t->optimizer_label, "%s",
             optimizer_kind_name(f->optim.optimizer.kind));
    return VOLT_OK;
}

/* DDP or ZeRO-1 over the dp group (collective; after every rank's setup succeeded). ZeRO
 * first, as it may reallocate the flat buffers. */
static int setup_strategy(volt_trainer *t, volt_module *m, fit_context *f) {
    if (!t->world || t->strategy == TRAINER_STRATEGY_SINGLE) return VOLT_OK;
    volt_params *params = volt_module_params(m);
    if (t->strategy == TRAINER_STRATEGY_ZERO1) {
        VOLT_CHECK(volt_zero_create(t->groups.dp, params, &f->optim.optimizer, &f->zero));
        if (t->options.clip_by_value)
            volt_zero_set_clip_value(f->zero, t->options.gradient_clip_val);
        volt_zero_set_tensor_parallel(f->zero, &t->tp);
        t->zero = f->zero;
        return VOLT_OK;
    }
    size_t bucket_bytes = (size_t)(t->options.bucket_mb * 1024.0 * 1024.0);
    VOLT_CHECK(volt_ddp_create(t->groups.dp, params, bucket_bytes > 0 ? bucket_bytes : 1, &f->ddp));
    volt_ddp_attach(f->ddp, t->graph);
    const char *hierarchical = t->options.hierarchical_text;
    if (strcmp(hierarchical, "false") != 0) {
        VOLT_CHECK(volt_hier_create(t->groups.dp, NULL, &f->hier));
        int nodes = 0, per_node = 0; /* "true" on a layout without it failed at creation */
        volt_hier_layout(f->hier, &nodes, &per_node);
        /* every dp group (one per tp index) must average alike: all or none */
        int active = volt_hier_active(f->hier);
        VOLT_CHECK(volt_comm_allreduce(t->world, &active, 1, VOLT_I32, VOLT_REDUCE_MIN, NULL));
        if (!active) volt_hier_disable(f->hier);
        if (active) {
            volt_ddp_set_hierarchical(f->ddp, f->hier);
            if (t->rank == 0)
                VOLT_INFO("DDP: hierarchical all-reduce over %d nodes of %d ranks", nodes,
                          per_node);
        }
    }
    return VOLT_OK;
}

static double lr_now(const volt_trainer *t, const fit_context *f) {
    if (!f->optim.has_schedule) return f->optim.optimizer.lr;
    long at = f->optim.interval == VOLT_LR_PER_STEP ? t->global_step : t->current_epoch;
    return volt_lr_at(&f->optim.schedule, at);
}

static int clip_gradients(volt_trainer *t, volt_module *m, const fit_context *f, long batch_idx) {
    const trainer_options *o = &t->options;
    if (o->gradient_clip_val <= 0 || f->zero) return VOLT_OK; /* ZeRO clips in its step */
    volt_params *params = volt_module_params(m);
    void *grad = volt_params_grad(params);
    size_t n = volt_params_flat_size(params);
    if (o->clip_by_value) {
        volt_clip_grad_value(grad, volt_params_dtype(params), n, o->gradient_clip_val);
        return VOLT_OK;
    }
    double norm = 0;
    int status;
    if (t->tp.size > 1) { /* the whole model's norm: parts summed over the tp group */
        double sq_norm = 0;
        VOLT_CHECK(volt_tp_grad_sq_norm(&t->tp, NULL, params, grad, 0, n, &sq_norm));
        norm = sqrt(sq_norm);
        status = isfinite(norm) ? VOLT_OK
                                : VOLT_ERROR(VOLT_ERR_NUMERIC,
                                             "gradient norm is %g over the tensor-parallel "
                                             "group: not clipped",
                                             norm);
        double clip_coef = o->gradient_clip_val / (norm + 1e-6); /* as clip_grad_norm_ */
        if (status == VOLT_OK && clip_coef < 1)
            volt_grad_scale(grad, volt_params_dtype(params), n, clip_coef);
    } else {
        status =
            volt_clip_grad_norm(grad, volt_params_dtype(params), n, o->gradient_clip_val, &norm);
    }
    if (status != VOLT_OK)
        return VOLT_ERROR(status, "gradient norm is %g at step %ld (epoch %ld, batch %ld)", norm,
                          t->global_step, t->current_epoch, batch_idx);
    return VOLT_OK;
}

/* This batch's loss on this rank, checked; the ranks agree on the outcome (an error or a
 * non-finite loss anywhere fails every rank with that rank's message). *global_size
 * receives the samples of the batch over the dp group. */
static int batch_loss(volt_trainer *t, volt_module *m, const volt_batch *batch, long batch_idx,
                      volt_tensor **loss_out, long *global_size) {
    const volt_module_ops *ops = volt_module_ops_of(m);
    volt_tensor *loss = NULL;
    int status = VOLT_OK;
    /* the loader knows the global batch: no collective needed to learn its size */
    *global_size = batch->global_size;
    t->last_batch_samples = batch->global_size;
    t->last_batch_flops = 0;
    if (batch->size > 0 || !t->world) {
        volt_prof_begin(t->prof, "forward");
        loss = ops->training_step(m, batch, batch_idx);
        t->last_batch_flops = volt_graph_flops(t->graph);
        volt_prof_add_flops(t->prof, t->last_batch_flops);
        volt_prof_end(t->prof, "forward");
        if (!loss)
            status = VOLT_ERROR(volt_error_status() ? volt_error_status() : VOLT_ERR_ARG,
                                "module %s: training_step gave no loss at step %ld (epoch %ld, "
                                "batch %ld)",
                                module_name(m), t->global_step, t->current_epoch, batch_idx);
        else if (volt_tensor_numel(loss) != 1 ||
                 (loss->dtype != VOLT_F32 && loss->dtype != VOLT_F64)) {
            char described[96];
            status =
                VOLT_ERROR(VOLT_ERR_SHAPE,
                           "module %s: training_step returned %s, expected a "
                           "scalar f32 or f64 loss",
                           module_name(m), volt_tensor_describe(loss, described, sizeof described));
        } else {
            double value = volt_tensor_get_flat(loss, 0);
            if (!isfinite(value))
                status = VOLT_ERROR(VOLT_ERR_NUMERIC, /* agreement adds "rank R: " */
                                    "the training loss is %g at step %ld (epoch %ld, batch %ld): "
                                    "stopping (lower the learning rate, clip gradients, or "
                                    "check the data)",
                                    value, t->global_step, t->current_epoch, batch_idx);
        }
    }
    if (t->world && volt_comm_size(t->world) > 1) VOLT_CHECK(agree(t, status));
    VOLT_CHECK(status);
    *loss_out = loss;
    return VOLT_OK;
}

/* 16-mixed, after the gradients of a step are complete (averaged over dp; ZeRO-1 reduces
 * its shards later, which unscaling commutes with): divides them by the loss scale and
 * checks them. Every rank must take the same decision, and under ZeRO-1 and tensor
 * parallelism each holds other gradients: the outcome is agreed over the world. *step: 0
 * when a gradient overflowed (the step is to be skipped). Logs grad_scaler/scale, the
 * scale this step used. */
static int unscale_step(volt_trainer *t, volt_module *m, long batch_idx, int *step) {
    volt_params *params = volt_module_params(m);
    if (volt_params_dtype(params) != VOLT_F32)
        return VOLT_ERROR(VOLT_ERR_UNSUPPORTED, "16-mixed needs f32 parameters, not %s",
                          volt_dtype_name(volt_params_dtype(params)));
    double used = t->scaler.scale;
    int32_t finite = volt_grad_scaler_unscale(&t->scaler, volt_params_grad(params),
                                              volt_params_flat_size(params));
    if (t->world && volt_comm_size(t->world) > 1)
        VOLT_CHECK(volt_comm_allreduce(t->world, &finite, 1, VOLT_I32, VOLT_REDUCE_MIN, NULL));
    *step = volt_grad_scaler_update(&t->scaler, finite);
    if (!*step)
        VOLT_DEBUG("16-mixed: a gradient overflowed at step %ld (epoch %ld, batch %ld) with loss "
                   "scale %g: step skipped, scale now %g",
                   t->global_step, t->current_epoch, batch_idx, used, t->scaler.scale);
    VOLT_CHECK(volt_metrics_log(t->metrics, "grad_scaler/scale", used, 1.0, VOLT_LOG_STEP));
    return VOLT_OK;
}

/* After the loss: backward (scaled), gradient averaging, and on the last micro-batch of an
 * accumulation clipping and the optimizer step. */
static int train_backward_and_step(volt_trainer *t, volt_module *m, fit_context *f,
                                   volt_tensor *loss, long local_size, long global_size,
                                   long batch_idx, int ends_accumulation, int *stepped) {
    const trainer_options *o = &t->options;
    if (loss) {
        VOLT_CHECK(call_before_backward(t, m, loss));
        double scale = 1.0 / (double)o->accumulate_grad_batches;
        if (f->ddp || f->zero) /* the group's average of the gradients is the global mean */
            scale *= (double)local_size * (double)trainer_dp_size(t) / (double)global_size;
        if (o->loss_scaling) scale *= t->scaler.scale; /* 16-mixed: undone by unscale_step */
        volt_tensor *scaled = loss;
        if (scale != 1.0) {
            scaled = volt_scale(loss, scale);
            VOLT_CHECK_PTR(scaled);
        }
        volt_prof_begin(t->prof, "backward");
        int status = volt_backward(scaled);
        double backward_flops = volt_graph_backward_flops(t->graph);
        t->last_batch_flops += backward_flops;
        volt_prof_add_flops(t->prof, backward_flops);
        volt_prof_end(t->prof, "backward");
        VOLT_CHECK(status);
    }
    if (f->ddp) { /* waiting for the buckets not done during backward */
        volt_prof_begin(t->prof, "grad_allreduce_wait");
        int status = volt_ddp_finish(f->ddp);
        volt_prof_end(t->prof, "grad_allreduce_wait");
        VOLT_CHECK(status);
    }
    VOLT_CHECK(call_hook(t, m, HOOK_AFTER_BACKWARD));
    if (!ends_accumulation) return VOLT_OK;
    if (o->loss_scaling) {
        int step = 1;
        VOLT_CHECK(unscale_step(t, m, batch_idx, &step));
        if (!step) { /* skipped: the parameters and the optimizer state stay */
            t->global_step++;
            volt_params_zero_grad(volt_module_params(m));
            *stepped = 1;
            return VOLT_OK;
        }
    }
    VOLT_CHECK(clip_gradients(t, m, f, batch_idx));
    VOLT_CHECK(call_hook(t, m, HOOK_BEFORE_OPTIMIZER_STEP));
    volt_params *params = volt_module_params(m);
    double lr = lr_now(t, f);
    int status;
    volt_prof_begin(t->prof, "optimizer");
    if (f->zero) { /* reduce-scatter, clipping (norm: here; value: set at setup), the
                    * shard's update, all-gather; no norm is asked for (its all-reduce would
                    * cost a collective per step without clipping) */
        status = volt_zero_step(f->zero, lr, o->clip_by_value ? 0 : o->gradient_clip_val, NULL);
    } else {
        status = volt_optimizer_step(f->optimizer, volt_params_data(params),
                                     volt_params_grad(params), lr);
    }
    volt_prof_end(t->prof, "optimizer");
    if (status != VOLT_OK)
        return VOLT_ERROR(status, "optimizer step %ld failed (epoch %ld, batch %ld, lr %g)",
                          t->global_step, t->current_epoch, batch_idx, lr);
    t->lr = lr;
    t->global_step++;
    volt_params_zero_grad(params);
    *stepped = 1; /* the schedule steps with global_step (or current_epoch): see lr_now */
    return VOLT_OK;
}

/* One training batch, up to and including the optimizer step when the batch ends an
 * accumulation; *stepped says whether it did. */
static int train_batch(volt_trainer *t, volt_module *m, fit_context *f, const volt_batch *batch,
                       long batch_idx, int *stepped) {
    const trainer_options *o = &t->options;
    *stepped = 0;
    t->batch_size = batch->size;
    volt_watch_set_step("fit step", t->global_step);
    int ends_accumulation =
        (batch_idx + 1) % o->accumulate_grad_batches == 0 || batch_idx + 1 == f->train_batches;
    if (f->ddp) volt_ddp_set_sync(f->ddp, ends_accumulation);
    volt_tensor *loss = NULL;
    long global_size = 0;
    VOLT_CHECK(batch_loss(t, m, batch, batch_idx, &loss, &global_size));
    /* an error from here on leaves peers inside collectives: fatal with dp > 1 */
    int status = train_backward_and_step(t, m, f, loss, batch->size, global_size, batch_idx,
                                         ends_accumulation, stepped);
    return fatal_if_distributed(t, status);
}

static int should_validate(const volt_trainer *t, const fit_context *f, long batch_idx) {
    if (f->val_batches == 0) return 0;
    if ((t->current_epoch + 1) % t->options.check_val_every_n_epoch != 0) return 0;
    return (batch_idx + 1) % f->val_check_batch == 0;
}

int trainer_validates_after_batch(const volt_trainer *t, long batch_idx) {
    return t->fit && t->stage == TRAINER_TRAINING && should_validate(t, t->fit, batch_idx);
}

static int train_epoch(volt_trainer *t, volt_module *m, fit_context *f) {
    t->current_epoch = t->epochs_done;
    VOLT_CHECK(call_hook(t, m, HOOK_TRAIN_EPOCH_START));
    long first = t->resume_batch; /* 0 except in the first epoch after a resume */
    t->resume_batch = 0;
    t->batches_done = first;
    VOLT_CHECK(volt_loader_start_epoch_at(f->train_loader, t->current_epoch, first));
    char phase[48];
    snprintf(phase, sizeof phase, "Epoch %ld", t->current_epoch);
    int phase_open = 0;
    for (long i = first; i < f->train_batches; i++) {
        volt_batch batch;
        int done = 0;
        volt_prof_begin(t->prof, "data");
        int read = volt_loader_next(f->train_loader, t->graph, &batch, &done);
        volt_prof_end(t->prof, "data");
        VOLT_CHECK(read);
        if (done) break;
        if (!phase_open) progress_start(t, phase, f->train_batches);
        phase_open = 1;
        int stepped = 0;
        volt_graph_set_step(t->graph, t->train_batch_counter);
        /* dropout draws the masks of this rank's rows of the global batch */
        volt_graph_set_batch_offset(t->graph, batch.global_first);
        volt_prof_begin(t->prof, "train_batch");
        int status = train_batch(t, m, f, &batch, i, &stepped);
        volt_prof_end(t->prof, "train_batch");
        t->batch_size = 0;
        volt_graph_reset(t->graph);
        VOLT_CHECK(status);
        t->train_batch_counter++;
        t->batches_done = i + 1;
        volt_prof_begin(t->prof, "batch_end_callbacks");
        status = call_train_batch_end(t, m, i);
        volt_prof_end(t->prof, "batch_end_callbacks");
        VOLT_CHECK(status);
        /* Step values are averaged over the ranks only around the steps whose rows
         * metrics.csv keeps (every log_every_n_steps; Lightning, too, syncs step values
         * only on request): the other steps run no metric collectives, and the progress
         * bar shows rank 0's own values in between. global_step is the same on every
         * rank, so every rank takes the same branch. */
        int sync_step_values = t->global_step % t->options.log_every_n_steps == 0;
        volt_prof_begin(t->prof, "logging");
        if (sync_step_values && t->world && volt_comm_size(t->world) > 1)
            status = agreed(t, volt_metrics_reduce_step(t->metrics, t->world, (double)batch.size));
        volt_metric_values step_values = volt_metrics_take_step(t->metrics);
        if (status == VOLT_OK && stepped && sync_step_values) {
            status = add_row(t, step_values);
            if (status == VOLT_OK) status = trainer_save_metrics(t);
        }
        progress_update(t, i + 1);
        volt_prof_end(t->prof, "logging");
        VOLT_CHECK(status);
        if (should_validate(t, f, i)) {
            progress_end(t);
            phase_open = 0;
            VOLT_CHECK(run_eval(t, m, f->val_loader, f->val_batches, TRAINER_VALIDATING));
        }
        if (volt_trainer_should_stop(t)) {
            if (t->preempt_signal) {
                /* a checkpoint holds no half-accumulated gradients: go on to the end of
                 * the accumulation; at the epoch's last batch, let the epoch end as usual
                 * (its hooks, its metrics row) and save between epochs */
                int boundary = (i + 1) % t->options.accumulate_grad_batches == 0;
                if (i + 1 == f->train_batches) break;
                if (!boundary) continue;
                VOLT_CHECK(trainer_save_preemption_checkpoint(t));
            }
            break;
        }
    }
    if (phase_open) progress_end(t);
    if (t->preempt_saved) return VOLT_OK; /* saved mid-epoch; the time left is short */
    VOLT_CHECK(call_hook(t, m, HOOK_TRAIN_EPOCH_END));
    if (t->world && volt_comm_size(t->world) > 1)
        VOLT_CHECK(agreed(t, volt_metrics_reduce_epoch(t->metrics, t->world, "", NULL, 0)));
    VOLT_CHECK(add_row(t, volt_metrics_take_epoch(t->metrics, "")));
    VOLT_CHECK(trainer_save_metrics(t));
    VOLT_CHECK(trainer_flush_tensorboard(t));
    t->epochs_done++;
    if (t->stop_requested && t->epochs_done < t->options.min_epochs && !t->stop_deferred_noted) {
        VOLT_INFO("%s; but trainer.min_epochs=%ld keeps training going", t->stop_reason,
                  t->options.min_epochs);
        t->stop_deferred_noted = 1;
    }
    return VOLT_OK;
}

static int fit_setup_local(volt_trainer *t, volt_module *m, volt_datamodule *dm, fit_context *f) {
    const volt_module_ops *ops = volt_module_ops_of(m);
    const trainer_options *o = &t->options;
    VOLT_CHECK(get_loader(dm, VOLT_SPLIT_TRAIN, 1, &f->train_loader));
    if (ops->validation_step) VOLT_CHECK(get_loader(dm, VOLT_SPLIT_VAL, 0, &f->val_loader));
    VOLT_CHECK(limited_batches(f->train_loader, &o->limit_train, "trainer.limit_train_batches",
                               &f->train_batches));
    if (f->val_loader)
        VOLT_CHECK(limited_batches(f->val_loader, &o->limit_val, "trainer.limit_val_batches",
                                   &f->val_batches));
    if (o->val_check_interval.is_count) {
        f->val_check_batch = o->val_check_interval.count;
        if (f->val_batches > 0 && f->val_check_batch > f->train_batches)
            return VOLT_ERROR(VOLT_ERR_CONFIG,
                              "trainer.val_check_interval = %ld is more than the %ld training "
                              "batches of an epoch",
                              f->val_check_batch, f->train_batches);
    } else {
        f->val_check_batch = (long)((double)f->train_batches * o->val_check_interval.fraction);
        if (f->val_check_batch < 1) f->val_check_batch = 1;
    }
    VOLT_CHECK(setup_optimizer(t, m, f));
    return VOLT_OK;
}

/* Setup; with ckpt_path, the checkpoint's state too (before the run folder exists, so
 * that a bad checkpoint leaves none): *resumed receives its path (NULL: a fresh start). */
static int fit_setup(volt_trainer *t, volt_module *m, volt_datamodule *dm, fit_context *f,
                     const char *ckpt_path, char **resumed) {
    *resumed = NULL;
    VOLT_CHECK(prepare_data(t, dm, VOLT_STAGE_FIT));
    VOLT_CHECK(agree(t, fit_setup_local(t, m, dm, f)));
    VOLT_CHECK(agree_on_batches(t, f->val_batches, "validation"));
    VOLT_CHECK(setup_strategy(t, m, f));
    if (ckpt_path) {
        VOLT_CHECK(trainer_find_checkpoint(t, module_name(m), ckpt_path, resumed));
        if (*resumed)
            VOLT_CHECK(trainer_restore(t, m, f, *resumed));
        else
            VOLT_INFO("ckpt_path=auto: no checkpoint to resume from, starting afresh");
    }
    VOLT_CHECK(trainer_open_run_dir(t, module_name(m)));
    return VOLT_OK;
}

static int fit_run(volt_trainer *t, volt_module *m, volt_datamodule *dm, fit_context *f,
                   const char *ckpt_path) {
    char *resumed = NULL;
    int status = fit_setup(t, m, dm, f, ckpt_path, &resumed);
    if (status != VOLT_OK) {
        free(resumed);
        return status;
    }
    t->fit = f;
    volt_params_zero_grad(volt_module_params(m));
    t->lr = lr_now(t, f);
    /* max_time counts the time of the fits a resume continues */
    t->fit_start_time = volt_clock_seconds() - t->resumed_seconds;
    status = call_hook(t, m, HOOK_FIT_START);
    /* callbacks get their states after on_fit_start (which may reset them) */
    if (status == VOLT_OK && resumed) status = trainer_restore_callbacks(t, resumed);
    free(resumed);
    VOLT_CHECK(status);
    long sanity = t->options.num_sanity_val_steps;
    if (f->val_batches > 0 && sanity != 0) {
        long batches = sanity < 0 || sanity > f->val_batches ? f->val_batches : sanity;
        VOLT_CHECK(run_eval(t, m, f->val_loader, batches, TRAINER_SANITY));
    }
    t->stage = TRAINER_TRAINING;
    if (f->train_batches == 0) /* as Lightning: nothing to train on, and no step would come */
        VOLT_INFO("no training batches (the loader has %ld, trainer.limit_train_batches = %s): "
                  "training skipped",
                  volt_loader_batches(f->train_loader),
                  volt_config_string(t->config, "trainer.limit_train_batches", "?"));
    else
        while (!volt_trainer_should_stop(t)) VOLT_CHECK(train_epoch(t, m, f));
    if (t->preempt_signal && !t->preempt_saved && trainer_run_complete(t)) {
        VOLT_INFO("a signal came as the run finished: nothing left to resume, no checkpoint");
        t->preempt_signal = 0;
    }
    if (t->preempt_signal && !t->preempt_saved) { /* the signal came between epochs */
        VOLT_CHECK(trainer_save_preemption_checkpoint(t));
    }
    trainer_note_stop(t);
    t->stage = TRAINER_IDLE;
    VOLT_CHECK(call_hook(t, m, HOOK_FIT_END));
    VOLT_CHECK(trainer_save_metrics(t));
    return VOLT_OK;
}

/* A loop's start and end: the module knows its trainer only in between. */
static void loop_begin(volt_trainer *t, volt_module *m) {
    t->module = m;
    t->failure_agreed = 0;
    volt_module_attach(m, t);
    t->stage = TRAINER_IDLE;
    t->batch_size = 0;
}

static void loop_end(volt_trainer *t, volt_module *m) {
    volt_graph_reset(t->graph);
    volt_module_attach(m, NULL);
    t->module = NULL;
    t->stage = TRAINER_IDLE;
    t->batch_size = 0;
    t->fitting = 0;
    clear_eval_names(t);
}

/* The profiler's report (collective): rank 0 prints it and writes <run folder>/profile.txt;
 * with profiler.trace every rank writes <run folder>/trace_rank<r>.json. */
static int profile_report(volt_trainer *t, const fit_context *f) {
    MPI_Comm comm = t->world ? volt_comm_mpi(t->world) : MPI_COMM_NULL;
    char *text = NULL;
    size_t size = 0;
    FILE *memory = t->rank == 0 ? open_memstream(&text, &size) : NULL;
    int status = volt_prof_report(t->prof, comm, memory);
    if (memory && f->ddp) { /* what overlap hid (the waits are grad_allreduce_wait) */
        double seconds, bytes;
        volt_ddp_overlap(f->ddp, &seconds, &bytes);
        fprintf(memory,
                "DDP on rank 0: %.2f MB of gradients all-reduced while backward ran, in flight "
                "for %.4f s (the rest waited for in grad_allreduce_wait)\n",
                bytes / 1e6, seconds);
    }
    if (memory) fclose(memory);
    if (status == VOLT_OK && t->rank == 0 && text) {
        fputs(text, stdout);
        fflush(stdout);
        const char *dir = t->log_dir ? t->log_dir : ".";
        char path[4200];
        snprintf(path, sizeof path, "%s/profile.txt", dir);
        FILE *file = fopen(path, "w");
        if (!file || fputs(text, file) < 0)
            status = VOLT_ERROR(VOLT_ERR_IO, "cannot write %s", path);
        if (file && fclose(file) != 0 && status == VOLT_OK)
            status = VOLT_ERROR(VOLT_ERR_IO, "cannot write %s", path);
    }
    free(text);
    if (status == VOLT_OK && t->options.profiler_trace) {
        char path[4200];
        snprintf(path, sizeof path, "%s/trace_rank%d.json", t->log_dir ? t->log_dir : ".", t->rank);
        status = volt_prof_write_trace(t->prof, path, t->rank);
    }
    return agree(t, status);
}

int volt_trainer_fit(volt_trainer *t, volt_module *m, volt_datamodule *dm) {
    return volt_trainer_fit_from(t, m, dm, NULL);
}

int volt_trainer_fit_from(volt_trainer *t, volt_module *m, volt_datamodule *dm,
                          const char *ckpt_path) {
    VOLT_CHECK_ARG(t && m && dm);
    loop_begin(t, m);
    t->fitting = 1;
    t->current_epoch = t->global_step = t->epochs_done = 0;
    t->batches_done = t->train_batch_counter = t->resume_batch = 0;
    t->resumed_seconds = 0;
    t->preempt_signal = t->preempt_saved = 0;
    volt_prof_options profiler = {t->options.profiler, t->options.papi_events,
                                  t->options.profiler_trace};
    VOLT_CHECK(volt_prof_create(&profiler, &t->prof));
    volt_prof_set_current(t->prof);
    trainer_signals_install(t);
    t->stop_requested = t->stop_deferred_noted = t->time_up = 0;
    free(t->stop_reason);
    t->stop_reason = NULL;
    fit_context f = {0};
    int status = fit_run(t, m, dm, &f, ckpt_path);
    t->fit = NULL;
    trainer_signals_restore(t);
    if (status == VOLT_OK && t->prof) status = profile_report(t, &f);
    volt_prof_set_current(NULL);
    volt_prof_destroy(t->prof);
    t->prof = NULL;
    if (f.ddp) {
        volt_graph_on_grad_ready(t->graph, NULL, NULL);
        volt_ddp_destroy(f.ddp);
    }
    volt_hier_destroy(f.hier);
    volt_zero_destroy(f.zero);
    t->zero = NULL;
    volt_optimizer_destroy(f.optimizer);
    loop_end(t, m);
    status = fatal_if_distributed(t, status);
    if (status != VOLT_OK)
        return VOLT_ERROR(status, "fit of %s stopped at epoch %ld, step %ld", module_name(m),
                          t->current_epoch, t->global_step);
    return VOLT_OK;
}

/* ---- validate, test -------------------------------------------------------------------------- */

static int eval_run(volt_trainer *t, volt_module *m, volt_datamodule *dm, int test) {
    const volt_module_ops *ops = volt_module_ops_of(m);
    if (test ? !ops->test_step : !ops->validation_step)
        return VOLT_ERROR(VOLT_ERR_UNSUPPORTED, "module %s has no %s", module_name(m),
                          test ? "test_step" : "validation_step");
    VOLT_CHECK(prepare_data(t, dm, test ? VOLT_STAGE_TEST : VOLT_STAGE_VALIDATE));
    volt_loader *loader;
    long batches = 0;
    int status = get_loader(dm, test ? VOLT_SPLIT_TEST : VOLT_SPLIT_VAL, 1, &loader);
    if (status == VOLT_OK)
        status = limited_batches(loader, test ? &t->options.limit_test : &t->options.limit_val,
                                 test ? "trainer.limit_test_batches" : "trainer.limit_val_batches",
                                 &batches);
    VOLT_CHECK(agree(t, status));
    VOLT_CHECK(agree_on_batches(t, batches, test ? "test" : "validation"));
    VOLT_CHECK(trainer_open_run_dir(t, module_name(m)));
    VOLT_CHECK(run_eval(t, m, loader, batches, test ? TRAINER_TESTING : TRAINER_VALIDATING));
    return VOLT_OK;
}

int volt_trainer_validate(volt_trainer *t, volt_module *m, volt_datamodule *dm) {
    VOLT_CHECK_ARG(t && m && dm);
    loop_begin(t, m);
    int status = fatal_if_distributed(t, eval_run(t, m, dm, 0));
    loop_end(t, m);
    VOLT_CHECK(status);
    return VOLT_OK;
}

int volt_trainer_test(volt_trainer *t, volt_module *m, volt_datamodule *dm) {
    VOLT_CHECK_ARG(t && m && dm);
    loop_begin(t, m);
    int status = fatal_if_distributed(t, eval_run(t, m, dm, 1));
    loop_end(t, m);
    VOLT_CHECK(status);
    return VOLT_OK;
}

/* ---- predict --------------------------------------------------------------------------------- */

static int predict_batches(volt_trainer *t, volt_module *m, volt_loader *loader, long batches,
                           FILE *file) {
    const volt_module_ops *ops = volt_module_ops_of(m);
    VOLT_CHECK(volt_loader_start_epoch(loader, 0));
    progress_start(t, "Predicting", batches);
    for (long i = 0; i < batches; i++) {
        volt_batch batch;
        int done = 0;
        VOLT_CHECK(volt_loader_next(loader, t->graph, &batch, &done));
        if (done) break;
        t->batch_size = batch.size;
        volt_watch_set_step("predict batch", i);
        volt_tensor *output =
            ops->predict_step ? ops->predict_step(m, &batch, i) : ops->forward(m, batch.x);
        int status = output
                         ? trainer_predictions_write(file, output, batch.size)
                         : VOLT_ERROR(volt_error_status() ? volt_error_status() : VOLT_ERR_ARG,
                                      "module %s: %s gave no output on batch %ld", module_name(m),
                                      ops->predict_step ? "predict_step" : "forward", i);
        t->batch_size = 0;
        volt_graph_reset(t->graph);
        VOLT_CHECK(status);
        (void)volt_metrics_take_step(t->metrics);
        progress_update(t, i + 1);
    }
    progress_end(t);
    return VOLT_OK;
}

/* With more than one rank: every rank's rows (its contiguous part of the split, with a
 * header line first) go to rank 0, which writes them in rank order, that is sample order. */
static int gather_predictions(volt_trainer *t, const char *rows, size_t size, FILE *file) {
    MPI_Comm mpi = volt_comm_mpi(t->world);
    const int ranks = volt_comm_size(t->world);
    if (size > (size_t)INT_MAX)
        return VOLT_ERROR(VOLT_ERR_UNSUPPORTED, "%zu bytes of predictions on one rank", size);
    /* under tensor parallelism the ranks of a group hold the same rows: its first sends */
    int length = t->tp.size > 1 && t->tp.rank != 0 ? 0 : (int)size;
    int *lengths = calloc((size_t)ranks, sizeof *lengths),
        *offsets = calloc((size_t)ranks, sizeof *offsets);
    if (!lengths || !offsets) {
        free(lengths), free(offsets);
        return VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory gathering predictions");
    }
    int status = VOLT_OK;
    volt_comm_watch_begin(t->world, "gather of prediction sizes");
    int code = MPI_Gather(&length, 1, MPI_INT, lengths, 1, MPI_INT, 0, mpi);
    volt_comm_watch_end();
    VOLT_CHECK_MPI(code);
    long total = 0;
    for (int r = 0; r < ranks; r++) {
        offsets[r] = (int)total;
        total += lengths[r];
    }
    char *all = t->rank == 0 ? malloc((size_t)total + 1) : NULL;
    if (t->rank == 0 && (!all || total > INT_MAX))
        status = VOLT_ERROR(VOLT_ERR_NOMEM, "cannot gather %ld bytes of predictions", total);
    VOLT_CHECK(volt_comm_agree(t->world, status));
    volt_comm_watch_begin(t->world, "gather of predictions");
    code = MPI_Gatherv(rows, length, MPI_CHAR, all, lengths, offsets, MPI_CHAR, 0, mpi);
    volt_comm_watch_end();
    VOLT_CHECK_MPI(code);
    int header_written = 0;
    for (int r = 0; t->rank == 0 && file && r < ranks; r++) {
        const char *part = all + offsets[r], *end = part + lengths[r];
        if (part == end) continue;
        const char *body = memchr(part, '\n', (size_t)(end - part));
        body = body ? body + 1 : end;
        if (!header_written) fwrite(part, 1, (size_t)(body - part), file);
        header_written = 1;
        fwrite(body, 1, (size_t)(end - body), file);
    }
    free(all), free(lengths), free(offsets);
    return VOLT_OK;
}

static int predict_run(volt_trainer *t, volt_module *m, volt_datamodule *dm) {
    VOLT_CHECK(prepare_data(t, dm, VOLT_STAGE_PREDICT));
    volt_loader *loader;
    long batches = 0;
    int status = get_loader(dm, VOLT_SPLIT_PREDICT, 1, &loader);
    if (status == VOLT_OK)
        status = limited_batches(loader, &t->options.limit_predict, "trainer.limit_predict_batches",
                                 &batches);
    VOLT_CHECK(agree(t, status));
    VOLT_CHECK(trainer_open_run_dir(t, module_name(m)));
    FILE *file = NULL;
    VOLT_CHECK(agree(t, trainer_predictions_open(t, &file)));
    const int distributed = t->world && volt_comm_size(t->world) > 1;
    char *rows = NULL;
    size_t rows_size = 0;
    FILE *rows_file = NULL; /* this rank's rows, with more than one rank */
    if (distributed && t->log_dir && t->options.fast_dev_run == 0) {
        rows_file = open_memstream(&rows, &rows_size);
        if (!rows_file) status = VOLT_ERROR(VOLT_ERR_NOMEM, "cannot buffer the predictions");
        if (agree(t, status) != VOLT_OK) {
            (void)trainer_predictions_close(t, file, 0);
            return VOLT_ERROR(VOLT_ERR_NOMEM, "cannot buffer the predictions");
        }
    }
    t->stage = TRAINER_PREDICTING;
    int was_grad = volt_graph_set_grad_enabled(t->graph, 0);
    int was_training = volt_graph_training(t->graph);
    volt_graph_set_training(t->graph, 0);
    status = predict_batches(t, m, loader, batches, rows_file ? rows_file : file);
    volt_graph_reset(t->graph);
    volt_graph_set_training(t->graph, was_training);
    volt_graph_set_grad_enabled(t->graph, was_grad);
    if (distributed) {
        if (rows_file) fclose(rows_file);
        status = agree(t, status);
        if (status == VOLT_OK && rows_file) status = gather_predictions(t, rows, rows_size, file);
        free(rows);
    }
    int closed = trainer_predictions_close(t, file, status == VOLT_OK);
    VOLT_CHECK(status);
    VOLT_CHECK(agree(t, closed));
    return VOLT_OK;
}

int volt_trainer_predict(volt_trainer *t, volt_module *m, volt_datamodule *dm) {
    VOLT_CHECK_ARG(t && m && dm);
    loop_begin(t, m);
    int status = fatal_if_distributed(t, predict_run(t, m, dm));
    loop_end(t, m);
    VOLT_CHECK(status);
    return VOLT_OK;
}

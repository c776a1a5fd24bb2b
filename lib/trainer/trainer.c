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
 * Stopping: after each batch and each epoch the loop asks volt_trainer_should_stop. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "ops/ops.h"
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
    if (ops->prepare_data) {
        int status = ops->prepare_data(dm, t->config);
        if (status != VOLT_OK)
            return VOLT_ERROR(status, "data module %s: prepare_data failed", name);
    }
    int status = ops->setup(dm, stage, t->config);
    if (status != VOLT_OK)
        return VOLT_ERROR(status, "data module %s: setup(%s) failed", name, volt_stage_name(stage));
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

/* ---- evaluation loops --------------------------------------------------------------------------
 */

static int eval_batches(volt_trainer *t, volt_module *m, volt_loader *loader, long batches,
                        const char *phase) {
    const volt_module_ops *ops = volt_module_ops_of(m);
    int validation = t->stage != TRAINER_TESTING, keep = t->stage != TRAINER_SANITY;
    int print = !t->fitting;
    if (validation) VOLT_CHECK(call_hook(t, m, HOOK_VALIDATION_EPOCH_START));
    VOLT_CHECK(volt_loader_start_epoch(loader, 0));
    progress_start(t, phase, batches);
    for (long i = 0; i < batches; i++) {
        volt_batch batch;
        int done = 0;
        VOLT_CHECK(volt_loader_next(loader, t->graph, &batch, &done));
        if (done) break;
        t->batch_size = batch.size;
        int status = validation ? ops->validation_step(m, &batch, i) : ops->test_step(m, &batch, i);
        t->batch_size = 0;
        volt_graph_reset(t->graph);
        if (status != VOLT_OK)
            return VOLT_ERROR(status, "module %s: %s failed on batch %ld", module_name(m),
                              validation ? "validation_step" : "test_step", i);
        volt_metric_values step_values = volt_metrics_take_step(t->metrics);
        if (keep) VOLT_CHECK(add_row(t, step_values));
        progress_update(t, i + 1);
    }
    progress_end(t);
    if (print) VOLT_INFO("%s results:", phase);
    /* aggregates before the hooks, so that EarlyStopping sees this validation's values;
     * names the module logs in its own on_validation_epoch_end make a second row */
    VOLT_CHECK(take_eval_epoch(t, keep, print));
    if (validation) {
        VOLT_CHECK(call_hook(t, m, HOOK_VALIDATION_EPOCH_END));
        VOLT_CHECK(take_eval_epoch(t, keep, print));
    }
    if (keep) VOLT_CHECK(trainer_save_metrics(t));
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
    int status = eval_batches(t, m, loader, batches, phase);
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

typedef struct fit_context {
    volt_loader *train_loader, *val_loader;
    long train_batches;   /* per epoch, after limit_train_batches */
    long val_batches;     /* per validation; 0: no validation */
    long val_check_batch; /* validate after every this many batches of an epoch */
    volt_optim_config optim;
    volt_optimizer *optimizer;
} fit_context;

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
    if (volt_optimizer_create(&f->optim.optimizer, volt_params_dtype(params), 0,
                              volt_params_flat_size(params), &f->optimizer) != VOLT_OK)
        return VOLT_ERROR(VOLT_ERR_CONFIG, "cannot make the optimizer from %s", source);
    snprintf(t->optimizer_label, sizeof t->optimizer_label, "%s",
             optimizer_kind_name(f->optim.optimizer.kind));
    return VOLT_OK;
}

static double lr_now(const volt_trainer *t, const fit_context *f) {
    if (!f->optim.has_schedule) return f->optim.optimizer.lr;
    long at = f->optim.interval == VOLT_LR_PER_STEP ? t->global_step : t->current_epoch;
    return volt_lr_at(&f->optim.schedule, at);
}

static int clip_gradients(volt_trainer *t, volt_module *m, long batch_idx) {
    const trainer_options *o = &t->options;
    if (o->gradient_clip_val <= 0) return VOLT_OK;
    volt_params *params = volt_module_params(m);
    void *grad = volt_params_grad(params);
    size_t n = volt_params_flat_size(params);
    if (o->clip_by_value) {
        volt_clip_grad_value(grad, volt_params_dtype(params), n, o->gradient_clip_val);
        return VOLT_OK;
    }
    double norm = 0;
    int status =
        volt_clip_grad_norm(grad, volt_params_dtype(params), n, o->gradient_clip_val, &norm);
    if (status != VOLT_OK)
        return VOLT_ERROR(status, "gradient norm is %g at step %ld (epoch %ld, batch %ld)", norm,
                          t->global_step, t->current_epoch, batch_idx);
    return VOLT_OK;
}

/* One training batch, up to and including the optimizer step when the batch ends an
 * accumulation; *stepped says whether it did. */
static int train_batch(volt_trainer *t, volt_module *m, fit_context *f, const volt_batch *batch,
                       long batch_idx, int *stepped) {
    const volt_module_ops *ops = volt_module_ops_of(m);
    const trainer_options *o = &t->options;
    *stepped = 0;
    t->batch_size = batch->size;
    volt_tensor *loss = ops->training_step(m, batch, batch_idx);
    if (!loss)
        return VOLT_ERROR(volt_error_status() ? volt_error_status() : VOLT_ERR_ARG,
                          "module %s: training_step gave no loss at step %ld (epoch %ld, batch "
                          "%ld)",
                          module_name(m), t->global_step, t->current_epoch, batch_idx);
    if (volt_tensor_numel(loss) != 1 || (loss->dtype != VOLT_F32 && loss->dtype != VOLT_F64)) {
        char described[96];
        return VOLT_ERROR(VOLT_ERR_SHAPE,
                          "module %s: training_step returned %s, expected a "
                          "scalar f32 or f64 loss",
                          module_name(m), volt_tensor_describe(loss, described, sizeof described));
    }
    double value = volt_tensor_get_flat(loss, 0);
    if (!isfinite(value))
        return VOLT_ERROR(VOLT_ERR_NUMERIC,
                          "the training loss is %g at step %ld (epoch %ld, batch %ld): "
                          "stopping (lower the learning rate, clip gradients, or check the data)",
                          value, t->global_step, t->current_epoch, batch_idx);
    VOLT_CHECK(call_before_backward(t, m, loss));
    volt_tensor *scaled = loss;
    if (o->accumulate_grad_batches > 1) {
        scaled = volt_scale(loss, 1.0 / (double)o->accumulate_grad_batches);
        VOLT_CHECK_PTR(scaled);
    }
    VOLT_CHECK(volt_backward(scaled));
    VOLT_CHECK(call_hook(t, m, HOOK_AFTER_BACKWARD));

    int ends_accumulation =
        (batch_idx + 1) % o->accumulate_grad_batches == 0 || batch_idx + 1 == f->train_batches;
    if (!ends_accumulation) return VOLT_OK;
    VOLT_CHECK(clip_gradients(t, m, batch_idx));
    VOLT_CHECK(call_hook(t, m, HOOK_BEFORE_OPTIMIZER_STEP));
    volt_params *params = volt_module_params(m);
    double lr = lr_now(t, f);
    int status =
        volt_optimizer_step(f->optimizer, volt_params_data(params), volt_params_grad(params), lr);
    if (status != VOLT_OK)
        return VOLT_ERROR(status, "optimizer step %ld failed (epoch %ld, batch %ld, lr %g)",
                          t->global_step, t->current_epoch, batch_idx, lr);
    t->lr = lr;
    t->global_step++;
    volt_params_zero_grad(params);
    *stepped = 1; /* the schedule steps with global_step (or current_epoch): see lr_now */
    return VOLT_OK;
}

static int should_validate(const volt_trainer *t, const fit_context *f, long batch_idx) {
    if (f->val_batches == 0) return 0;
    if ((t->current_epoch + 1) % t->options.check_val_every_n_epoch != 0) return 0;
    return (batch_idx + 1) % f->val_check_batch == 0;
}

static int train_epoch(volt_trainer *t, volt_module *m, fit_context *f) {
    t->current_epoch = t->epochs_done;
    VOLT_CHECK(call_hook(t, m, HOOK_TRAIN_EPOCH_START));
    VOLT_CHECK(volt_loader_start_epoch(f->train_loader, t->current_epoch));
    char phase[48];
    snprintf(phase, sizeof phase, "Epoch %ld", t->current_epoch);
    int phase_open = 0;
    for (long i = 0; i < f->train_batches; i++) {
        volt_batch batch;
        int done = 0;
        VOLT_CHECK(volt_loader_next(f->train_loader, t->graph, &batch, &done));
        if (done) break;
        if (!phase_open) progress_start(t, phase, f->train_batches);
        phase_open = 1;
        int stepped = 0;
        int status = train_batch(t, m, f, &batch, i, &stepped);
        t->batch_size = 0;
        volt_graph_reset(t->graph);
        VOLT_CHECK(status);
        VOLT_CHECK(call_train_batch_end(t, m, i));
        volt_metric_values step_values = volt_metrics_take_step(t->metrics);
        if (stepped && t->global_step % t->options.log_every_n_steps == 0) {
            VOLT_CHECK(add_row(t, step_values));
            VOLT_CHECK(trainer_save_metrics(t));
        }
        progress_update(t, i + 1);
        if (should_validate(t, f, i)) {
            progress_end(t);
            phase_open = 0;
            VOLT_CHECK(run_eval(t, m, f->val_loader, f->val_batches, TRAINER_VALIDATING));
        }
        if (volt_trainer_should_stop(t)) break;
    }
    if (phase_open) progress_end(t);
    VOLT_CHECK(call_hook(t, m, HOOK_TRAIN_EPOCH_END));
    VOLT_CHECK(add_row(t, volt_metrics_take_epoch(t->metrics, "")));
    VOLT_CHECK(trainer_save_metrics(t));
    t->epochs_done++;
    if (t->stop_requested && t->epochs_done < t->options.min_epochs && !t->stop_deferred_noted) {
        VOLT_INFO("%s; but trainer.min_epochs=%ld keeps training going", t->stop_reason,
                  t->options.min_epochs);
        t->stop_deferred_noted = 1;
    }
    return VOLT_OK;
}

static int fit_setup(volt_trainer *t, volt_module *m, volt_datamodule *dm, fit_context *f) {
    const volt_module_ops *ops = volt_module_ops_of(m);
    const trainer_options *o = &t->options;
    VOLT_CHECK(prepare_data(t, dm, VOLT_STAGE_FIT));
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
    VOLT_CHECK(trainer_open_run_dir(t, module_name(m)));
    return VOLT_OK;
}

static int fit_run(volt_trainer *t, volt_module *m, volt_datamodule *dm, fit_context *f) {
    VOLT_CHECK(fit_setup(t, m, dm, f));
    volt_params_zero_grad(volt_module_params(m));
    t->lr = lr_now(t, f);
    t->fit_start_time = volt_clock_seconds();
    VOLT_CHECK(call_hook(t, m, HOOK_FIT_START));
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
    trainer_note_stop(t);
    t->stage = TRAINER_IDLE;
    VOLT_CHECK(call_hook(t, m, HOOK_FIT_END));
    VOLT_CHECK(trainer_save_metrics(t));
    return VOLT_OK;
}

/* A loop's start and end: the module knows its trainer only in between. */
static void loop_begin(volt_trainer *t, volt_module *m) {
    t->module = m;
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

int volt_trainer_fit(volt_trainer *t, volt_module *m, volt_datamodule *dm) {
    VOLT_CHECK_ARG(t && m && dm);
    loop_begin(t, m);
    t->fitting = 1;
    t->current_epoch = t->global_step = t->epochs_done = 0;
    t->stop_requested = t->stop_deferred_noted = 0;
    free(t->stop_reason);
    t->stop_reason = NULL;
    fit_context f = {0};
    int status = fit_run(t, m, dm, &f);
    volt_optimizer_destroy(f.optimizer);
    loop_end(t, m);
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
    VOLT_CHECK(get_loader(dm, test ? VOLT_SPLIT_TEST : VOLT_SPLIT_VAL, 1, &loader));
    long batches;
    VOLT_CHECK(limited_batches(loader, test ? &t->options.limit_test : &t->options.limit_val,
                               test ? "trainer.limit_test_batches" : "trainer.limit_val_batches",
                               &batches));
    VOLT_CHECK(trainer_open_run_dir(t, module_name(m)));
    VOLT_CHECK(run_eval(t, m, loader, batches, test ? TRAINER_TESTING : TRAINER_VALIDATING));
    return VOLT_OK;
}

int volt_trainer_validate(volt_trainer *t, volt_module *m, volt_datamodule *dm) {
    VOLT_CHECK_ARG(t && m && dm);
    loop_begin(t, m);
    int status = eval_run(t, m, dm, 0);
    loop_end(t, m);
    VOLT_CHECK(status);
    return VOLT_OK;
}

int volt_trainer_test(volt_trainer *t, volt_module *m, volt_datamodule *dm) {
    VOLT_CHECK_ARG(t && m && dm);
    loop_begin(t, m);
    int status = eval_run(t, m, dm, 1);
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

static int predict_run(volt_trainer *t, volt_module *m, volt_datamodule *dm) {
    VOLT_CHECK(prepare_data(t, dm, VOLT_STAGE_PREDICT));
    volt_loader *loader;
    VOLT_CHECK(get_loader(dm, VOLT_SPLIT_PREDICT, 1, &loader));
    long batches;
    VOLT_CHECK(limited_batches(loader, &t->options.limit_predict, "trainer.limit_predict_batches",
                               &batches));
    VOLT_CHECK(trainer_open_run_dir(t, module_name(m)));
    FILE *file = NULL;
    VOLT_CHECK(trainer_predictions_open(t, &file));
    t->stage = TRAINER_PREDICTING;
    int was_grad = volt_graph_set_grad_enabled(t->graph, 0);
    int was_training = volt_graph_training(t->graph);
    volt_graph_set_training(t->graph, 0);
    int status = predict_batches(t, m, loader, batches, file);
    volt_graph_reset(t->graph);
    volt_graph_set_training(t->graph, was_training);
    volt_graph_set_grad_enabled(t->graph, was_grad);
    int closed = trainer_predictions_close(t, file, status == VOLT_OK);
    VOLT_CHECK(status);
    VOLT_CHECK(closed);
    return VOLT_OK;
}

int volt_trainer_predict(volt_trainer *t, volt_module *m, volt_datamodule *dm) {
    VOLT_CHECK_ARG(t && m && dm);
    loop_begin(t, m);
    int status = predict_run(t, m, dm);
    loop_end(t, m);
    VOLT_CHECK(status);
    return VOLT_OK;
}

/* lib/trainer/callbacks.c — the built-in callbacks and the callback life cycle.
 *
 * EarlyStopping follows Lightning's: at the end of each validation of a fit (not the
 * sanity check) it reads the monitor's latest value and, in this order, stops when the
 * value is not finite (check_finite), when it is better than stopping_threshold, when
 * it is worse than divergence_threshold; otherwise an improvement (value < best -
 * min_delta in "min" mode, value > best + min_delta in "max" mode) resets the count of
 * validations without one, and `patience` such validations in a row stop the run.
 * LearningRateMonitor logs "lr-<optimizer>"; ModelSummary prints the parameters. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/clock.h"
#include "core/log.h"
#include "trainer/trainer_internal.h"

/* ---- the callbacks.* keys ----------------------------------------------------------------- */

typedef struct option_decl {
    const char *option;
    volt_config_type type;
    const char *default_value;
    const char *help;
} option_decl;

static const option_decl callback_options[] = {
    {"name", VOLT_CONFIG_STRING, NULL,
     "EarlyStopping, LearningRateMonitor, ModelCheckpoint, ModelSummary or ThroughputMonitor"},
    {"monitor", VOLT_CONFIG_STRING, NULL,
     "EarlyStopping, ModelCheckpoint: the logged metric to watch"},
    {"min_delta", VOLT_CONFIG_FLOAT, "0",
     "EarlyStopping: the least change that counts as an "
     "improvement"},
    {"patience", VOLT_CONFIG_INT, "3",
     "EarlyStopping: validations without improvement "
     "before stopping"},
    {"mode", VOLT_CONFIG_STRING, "min",
     "EarlyStopping, ModelCheckpoint: min (lower is better) or max"},
    {"check_finite", VOLT_CONFIG_BOOL, "true",
     "EarlyStopping: stop when the monitor is NaN "
     "or infinite"},
    {"stopping_threshold", VOLT_CONFIG_FLOAT, NULL,
     "EarlyStopping: stop once the monitor is "
     "better than this"},
    {"divergence_threshold", VOLT_CONFIG_FLOAT, NULL,
     "EarlyStopping: stop once the monitor "
     "is worse than this"},
    {"logging_interval", VOLT_CONFIG_STRING, "step", "LearningRateMonitor: step or epoch"},
    {"dirpath", VOLT_CONFIG_STRING, NULL,
     "ModelCheckpoint: the folder (default: <run folder>/checkpoints)"},
    {"filename", VOLT_CONFIG_STRING, "epoch={epoch}-step={step}",
     "ModelCheckpoint: file name template ({epoch}, {step}, {metric} or {metric:.4f}); .h5 "
     "is added"},
    {"save_top_k", VOLT_CONFIG_INT, "1",
     "ModelCheckpoint: keep the k best (by monitor; without one, the latest); 0: none; -1: "
     "all"},
    {"save_last", VOLT_CONFIG_BOOL, "true", "ModelCheckpoint: also keep last.h5"},
    {"every_n_train_steps", VOLT_CONFIG_INT, "0",
     "ModelCheckpoint: save every n optimizer steps (0: off)"},
    {"every_n_epochs", VOLT_CONFIG_INT, "1",
     "ModelCheckpoint: save every n epochs (0: off; ignored when a step or time interval is "
     "set)"},
    {"train_time_interval", VOLT_CONFIG_FLOAT, "0",
     "ModelCheckpoint: save every so many seconds of training (0: off)"},
    {"save_weights_only", VOLT_CONFIG_BOOL, "false",
     "ModelCheckpoint: the model only (no optimizer state: cannot resume)"},
    {"window", VOLT_CONFIG_INT, "20", "ThroughputMonitor: batches averaged for each logged value"},
    {"peak_tflops", VOLT_CONFIG_FLOAT, NULL,
     "ThroughputMonitor: one rank's peak TFLOP/s, for the model flops utilisation (mfu)"},
    {"max_depth", VOLT_CONFIG_INT, "1",
     "ModelSummary: name depth listed one by one (-1: "
     "all)"},
};
enum { CALLBACK_OPTION_COUNT = sizeof callback_options / sizeof callback_options[0] };

int callbacks_declare(volt_config *config) {
    for (int i = 0; i < CALLBACK_OPTION_COUNT; i++) {
        char key[64];
        snprintf(key, sizeof key, "callbacks.*.%s", callback_options[i].option);
        VOLT_CHECK(volt_config_declare(config, key, callback_options[i].type,
                                       callback_options[i].default_value,
                                       callback_options[i].help));
    }
    return VOLT_OK;
}

void callbacks_option_key(char *key, size_t size, int index, const char *option) {
    snprintf(key, size, "callbacks.%d.%s", index, option);
}

int callbacks_item_is_set(const volt_config *config, int index) {
    char key[64];
    for (int i = 0; i < CALLBACK_OPTION_COUNT; i++) {
        callbacks_option_key(key, sizeof key, index, callback_options[i].option);
        if (volt_config_is_set(config, key)) return 1;
    }
    return 0;
}

/* A callbacks.<index> item may set only the options of its callback (`own`, a
 * space-separated list). */
int callbacks_check_own_options(const volt_config *config, int index, const char *callback,
                                const char *own) {
    char key[64];
    for (int i = 1; i < CALLBACK_OPTION_COUNT; i++) { /* 0 is name */
        const char *option = callback_options[i].option;
        callbacks_option_key(key, sizeof key, index, option);
        if (!volt_config_is_set(config, key)) continue;
        size_t length = strlen(option);
        const char *p = own;
        int found = 0;
        while (!found && (p = strstr(p, option)) != NULL) {
            found = (p == own || p[-1] == ' ') && (p[length] == ' ' || p[length] == '\0');
            p += length;
        }
        if (!found)
            return VOLT_ERROR(VOLT_ERR_CONFIG, "%s: %s has no option %s (its options: %s)", key,
                              callback, option, *own ? own : "none");
    }
    return VOLT_OK;
}

/* ---- life cycle ------------------------------------------------------------------------------ */

void *volt_callback_state(volt_callback *cb) { return cb ? cb->state : NULL; }

int callback_create(const volt_callback_ops *ops, const volt_config *config, int index,
                    const void *options, volt_callback **out) {
    VOLT_CHECK_ARG(ops && out);
    *out = NULL;
    volt_callback *cb = calloc(1, sizeof *cb);
    VOLT_CHECK_ALLOC(cb, sizeof *cb);
    cb->ops = ops;
    if (ops->state_size > 0 && !(cb->state = calloc(1, ops->state_size))) {
        free(cb);
        return VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory allocating %zu bytes for callback %s",
                          ops->state_size, ops->name ? ops->name : "(unnamed)");
    }
    int status = ops->setup ? ops->setup(cb, config, index, options) : VOLT_OK;
    if (status != VOLT_OK) {
        callback_destroy(cb);
        return VOLT_ERROR(status, "cannot set up callback %s", ops->name ? ops->name : "(unnamed)");
    }
    *out = cb;
    return VOLT_OK;
}

void callback_destroy(volt_callback *cb) {
    if (!cb) return;
    if (cb->ops->teardown) cb->ops->teardown(cb);
    free(cb->state);
    free(cb);
}

const volt_callback_ops *volt_callback_find(const char *name) {
    static const volt_callback_ops *const builtins[] = {
        &volt_early_stopping_ops, &volt_lr_monitor_ops, &volt_model_checkpoint_ops,
        &volt_model_summary_ops, &volt_throughput_monitor_ops};
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (strcmp(builtins[i]->name, name) == 0) return builtins[i];
    return NULL;
}

/* ---- EarlyStopping --------------------------------------------------------------------------- */

typedef struct early_stopping {
    char *monitor;
    int index; /* callbacks.<index>, or -1 when added from code */
    double min_delta;
    long patience;
    int mode_max;
    int check_finite;
    int has_stopping_threshold, has_divergence_threshold;
    double stopping_threshold, divergence_threshold;
    double best;
    long wait_count;
} early_stopping;

volt_early_stopping_options volt_early_stopping_defaults(const char *monitor) {
    return (volt_early_stopping_options){
        .monitor = monitor, .min_delta = 0, .patience = 3, .mode = "min", .check_finite = 1};
}

static int early_stopping_read_config(const volt_config *c, int index,
                                      volt_early_stopping_options *o) {
    char key[64];
    VOLT_CHECK(callbacks_check_own_options(c, index, "EarlyStopping",
                                           "monitor min_delta patience mode check_finite "
                                           "stopping_threshold divergence_threshold"));
    callbacks_option_key(key, sizeof key, index, "monitor");
    if (!volt_config_is_set(c, key))
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "%s is required for EarlyStopping (the name of a "
                          "logged metric, such as val/loss)",
                          key);
    VOLT_CHECK(volt_config_get_string(c, key, &o->monitor));
    callbacks_option_key(key, sizeof key, index, "min_delta");
    VOLT_CHECK(volt_config_get_float(c, key, &o->min_delta));
    callbacks_option_key(key, sizeof key, index, "patience");
    VOLT_CHECK(volt_config_get_int(c, key, &o->patience));
    callbacks_option_key(key, sizeof key, index, "mode");
    VOLT_CHECK(volt_config_get_string(c, key, &o->mode));
    callbacks_option_key(key, sizeof key, index, "check_finite");
    VOLT_CHECK(volt_config_get_bool(c, key, &o->check_finite));
    callbacks_option_key(key, sizeof key, index, "stopping_threshold");
    if ((o->has_stopping_threshold = volt_config_is_set(c, key)))
        VOLT_CHECK(volt_config_get_float(c, key, &o->stopping_threshold));
    callbacks_option_key(key, sizeof key, index, "divergence_threshold");
    if ((o->has_divergence_threshold = volt_config_is_set(c, key)))
        VOLT_CHECK(volt_config_get_float(c, key, &o->divergence_threshold));
    return VOLT_OK;
}

static int early_stopping_setup(volt_callback *cb, const volt_config *config, int index,
                                const void *options) {
    early_stopping *s = cb->state;
    volt_early_stopping_options o = volt_early_stopping_defaults(NULL);
    if (index >= 0)
        VOLT_CHECK(early_stopping_read_config(config, index, &o));
    else if (options)
        o = *(const volt_early_stopping_options *)options;
    char key[64] = "EarlyStopping option";
    char where[80] = "EarlyStopping";
#define OPTION_NAME(option)                                                                        \
    (index >= 0 ? (callbacks_option_key(key, sizeof key, index, option), key)                      \
                : (snprintf(where, sizeof where, "EarlyStopping's %s", option), where))
    if (!o.monitor || !*o.monitor)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "%s is required (the name of a logged metric, such "
                          "as val/loss)",
                          OPTION_NAME("monitor"));
    if (!o.mode) o.mode = "min";
    if (strcmp(o.mode, "min") != 0 && strcmp(o.mode, "max") != 0)
        return VOLT_ERROR(VOLT_ERR_CONFIG, "%s = '%s': expected min or max", OPTION_NAME("mode"),
                          o.mode);
    if (o.patience < 0)
        return VOLT_ERROR(VOLT_ERR_CONFIG, "%s = %ld: expected >= 0", OPTION_NAME("patience"),
                          o.patience);
    if (!isfinite(o.min_delta))
        return VOLT_ERROR(VOLT_ERR_CONFIG, "%s = %g: expected a finite number",
                          OPTION_NAME("min_delta"), o.min_delta);
    if (o.has_stopping_threshold && !isfinite(o.stopping_threshold))
        return VOLT_ERROR(VOLT_ERR_CONFIG, "%s = %g: expected a finite number",
                          OPTION_NAME("stopping_threshold"), o.stopping_threshold);
    if (o.has_divergence_threshold && !isfinite(o.divergence_threshold))
        return VOLT_ERROR(VOLT_ERR_CONFIG, "%s = %g: expected a finite number",
                          OPTION_NAME("divergence_threshold"), o.divergence_threshold);
#undef OPTION_NAME
    s->monitor = strdup(o.monitor);
    VOLT_CHECK_ALLOC(s->monitor, strlen(o.monitor) + 1);
    s->index = index;
    s->min_delta = fabs(o.min_delta); /* as Lightning: the sign comes from the mode */
    s->patience = o.patience;
    s->mode_max = strcmp(o.mode, "max") == 0;
    s->check_finite = o.check_finite != 0;
    s->has_stopping_threshold = o.has_stopping_threshold;
    s->stopping_threshold = o.stopping_threshold;
    s->has_divergence_threshold = o.has_divergence_threshold;
    s->divergence_threshold = o.divergence_threshold;
    s->best = s->mode_max ? -INFINITY : INFINITY;
    return VOLT_OK;
}

static int early_stopping_fit_start(volt_callback *cb, volt_trainer *t, volt_module *m) {
    (void)t;
    (void)m;
    early_stopping *s = cb->state;
    s->best = s->mode_max ? -INFINITY : INFINITY;
    s->wait_count = 0;
    return VOLT_OK;
}

/* The monitor was never produced: name the metrics that were. */
static int monitor_missing(early_stopping *s, volt_trainer *t) {
    volt_metric_values all = volt_metrics_all_latest(volt_trainer_metrics(t));
    char names[1024] = "";
    size_t used = 0;
    for (int i = 0; i < all.count && used + 1 < sizeof names; i++) {
        int n = snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", all.names[i]);
        if (n < 0) break;
        used += (size_t)n;
    }
    char key[64] = "EarlyStopping's monitor";
    if (s->index >= 0) callbacks_option_key(key, sizeof key, s->index, "monitor");
    return VOLT_ERROR(VOLT_ERR_CONFIG, "%s = '%s' was never logged; the metrics logged so far: %s",
                      key, s->monitor, all.count ? names : "none");
}

static int early_stopping_check(volt_callback *cb, volt_trainer *t, volt_module *m) {
    (void)m;
    early_stopping *s = cb->state;
    if (!t->fitting || t->stage != TRAINER_VALIDATING)
        return VOLT_OK; /* not sanity, not validate() */
    double current;
    if (!volt_metrics_latest(volt_trainer_metrics(t), s->monitor, &current))
        return monitor_missing(s, t);
    const char *better = s->mode_max ? ">" : "<", *worse = s->mode_max ? "<" : ">";
    char reason[384];
    reason[0] = '\0';
    if (s->check_finite && !isfinite(current)) {
        snprintf(reason, sizeof reason,
                 "EarlyStopping: monitored metric %s = %g is not finite (check_finite); the best "
                 "value was %g",
                 s->monitor, current, s->best);
    } else if (s->has_stopping_threshold &&
               (s->mode_max ? current > s->stopping_threshold : current < s->stopping_threshold)) {
        snprintf(reason, sizeof reason, "EarlyStopping: stopping_threshold reached: %s = %g %s %g",
                 s->monitor, current, better, s->stopping_threshold);
    } else if (s->has_divergence_threshold && (s->mode_max ? current < s->divergence_threshold
                                                           : current > s->divergence_threshold)) {
        snprintf(reason, sizeof reason,
                 "EarlyStopping: divergence_threshold reached: %s = %g %s %g", s->monitor, current,
                 worse, s->divergence_threshold);
    } else if (s->mode_max ? current - s->min_delta > s->best : current + s->min_delta < s->best) {
        s->best = current;
        s->wait_count = 0;
        VOLT_DEBUG("EarlyStopping: %s improved to %g", s->monitor, current);
    } else {
        s->wait_count++;
        if (s->wait_count >= s->patience)
            snprintf(reason, sizeof reason,
                     "EarlyStopping: %s did not improve in the last %ld validations (patience "
                     "%ld); the best value was %g",
                     s->monitor, s->wait_count, s->patience, s->best);
    }
    if (reason[0]) {
        if (!t->stop_requested) VOLT_INFO("%s", reason);
        volt_trainer_request_stop(t, reason);
    }
    return VOLT_OK;
}

static void early_stopping_teardown(volt_callback *cb) {
    early_stopping *s = cb->state;
    free(s->monitor);
    s->monitor = NULL;
}

/* Checkpoints keep the best value so far and the validations since it improved. */
static int early_stopping_state_save(volt_callback *cb, volt_trainer *t, volt_ckpt *ckpt,
                                     const char *group) {
    (void)t;
    early_stopping *s = cb->state;
    VOLT_CHECK(volt_ckpt_put_string(ckpt, group, "monitor", s->monitor));
    VOLT_CHECK(volt_ckpt_put_double(ckpt, group, "best_score", s->best));
    VOLT_CHECK(volt_ckpt_put_long(ckpt, group, "wait_count", s->wait_count));
    return VOLT_OK;
}

static int early_stopping_state_load(volt_callback *cb, volt_trainer *t, volt_ckpt *ckpt,
                                     const char *group) {
    (void)t;
    early_stopping *s = cb->state;
    char *monitor = NULL;
    VOLT_CHECK(volt_ckpt_get_string(ckpt, group, "monitor", &monitor));
    int same = strcmp(monitor, s->monitor) == 0;
    free(monitor);
    if (!same) return VOLT_OK; /* watching another metric now: start afresh */
    VOLT_CHECK(volt_ckpt_get_double(ckpt, group, "best_score", &s->best));
    VOLT_CHECK(volt_ckpt_get_long(ckpt, group, "wait_count", &s->wait_count));
    return VOLT_OK;
}

const volt_callback_ops volt_early_stopping_ops = {
    .name = "EarlyStopping",
    .state_size = sizeof(early_stopping),
    .setup = early_stopping_setup,
    .on_fit_start = early_stopping_fit_start,
    .on_validation_epoch_end = early_stopping_check,
    .teardown = early_stopping_teardown,
    .state_save = early_stopping_state_save,
    .state_load = early_stopping_state_load,
};

/* ---- LearningRateMonitor ----------------------------------------------------------------------
 */

typedef struct lr_monitor {
    int per_epoch;
} lr_monitor;

static int lr_monitor_setup(volt_callback *cb, const volt_config *config, int index,
                            const void *options) {
    lr_monitor *s = cb->state;
    const char *interval = "step";
    char key[64] = "LearningRateMonitor's logging_interval";
    if (index >= 0) {
        VOLT_CHECK(
            callbacks_check_own_options(config, index, "LearningRateMonitor", "logging_interval"));
        callbacks_option_key(key, sizeof key, index, "logging_interval");
        VOLT_CHECK(volt_config_get_string(config, key, &interval));
    } else if (options && ((const volt_lr_monitor_options *)options)->logging_interval) {
        interval = ((const volt_lr_monitor_options *)options)->logging_interval;
    }
    if (strcmp(interval, "step") != 0 && strcmp(interval, "epoch") != 0)
        return VOLT_ERROR(VOLT_ERR_CONFIG, "%s = '%s': expected step or epoch", key, interval);
    s->per_epoch = strcmp(interval, "epoch") == 0;
    return VOLT_OK;
}

static int lr_monitor_log(volt_trainer *t, int flags) {
    char name[64];
    snprintf(name, sizeof name, "lr-%s", t->optimizer_label[0] ? t->optimizer_label : "optimizer");
    VOLT_CHECK(volt_metrics_log(volt_trainer_metrics(t), name, volt_trainer_lr(t), 1.0, flags));
    return VOLT_OK;
}

static int lr_monitor_batch_end(volt_callback *cb, volt_trainer *t, volt_module *m,
                                long batch_idx) {
    (void)m;
    (void)batch_idx;
    const lr_monitor *s = cb->state;
    return s->per_epoch ? VOLT_OK : lr_monitor_log(t, VOLT_LOG_STEP);
}

static int lr_monitor_epoch_end(volt_callback *cb, volt_trainer *t, volt_module *m) {
    (void)m;
    const lr_monitor *s = cb->state;
    return s->per_epoch ? lr_monitor_log(t, VOLT_LOG_EPOCH) : VOLT_OK;
}

const volt_callback_ops volt_lr_monitor_ops = {
    .name = "LearningRateMonitor",
    .state_size = sizeof(lr_monitor),
    .setup = lr_monitor_setup,
    .on_train_batch_end = lr_monitor_batch_end,
    .on_train_epoch_end = lr_monitor_epoch_end,
};

/* ---- ThroughputMonitor ------------------------------------------------------------------------
 */

/* Over a sliding window of training batches (their end times, global samples, and the
 * flops the trainer counted from the ops of forward and backward on this rank, times
 * the ranks): throughput/samples_per_sec (on the progress bar), throughput/tflops and,
 * with peak_tflops, throughput/mfu = tflops / (peak_tflops x ranks). Logged at each
 * batch end once the window is full; the same values on every rank (global samples,
 * and flops x ranks: data-parallel ranks run the same ops). */
enum { THROUGHPUT_MAX_WINDOW = 1000 };

typedef struct throughput_monitor {
    long window;
    int has_peak;
    double peak_tflops;
    double times[THROUGHPUT_MAX_WINDOW + 1], samples[THROUGHPUT_MAX_WINDOW + 1],
        flops[THROUGHPUT_MAX_WINDOW + 1];
    long seen; /* batch ends recorded */
} throughput_monitor;

static int throughput_setup(volt_callback *cb, const volt_config *config, int index,
                            const void *options) {
    throughput_monitor *s = cb->state;
    s->window = 20;
    if (index >= 0) {
        char key[64];
        VOLT_CHECK(
            callbacks_check_own_options(config, index, "ThroughputMonitor", "window peak_tflops"));
        callbacks_option_key(key, sizeof key, index, "window");
        VOLT_CHECK(volt_config_get_int(config, key, &s->window));
        callbacks_option_key(key, sizeof key, index, "peak_tflops");
        if ((s->has_peak = volt_config_is_set(config, key)))
            VOLT_CHECK(volt_config_get_float(config, key, &s->peak_tflops));
    } else if (options) {
        const volt_throughput_monitor_options *o = options;
        s->window = o->window > 0 ? o->window : 20;
        s->has_peak = o->peak_tflops > 0;
        s->peak_tflops = o->peak_tflops;
    }
    if (s->window < 1 || s->window > THROUGHPUT_MAX_WINDOW)
        return VOLT_ERROR(VOLT_ERR_CONFIG, "ThroughputMonitor window = %ld: expected 1 to %d",
                          s->window, THROUGHPUT_MAX_WINDOW);
    if (s->has_peak && !(s->peak_tflops > 0 && isfinite(s->peak_tflops)))
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "ThroughputMonitor peak_tflops = %g: expected a positive number",
                          s->peak_tflops);
    return VOLT_OK;
}

static int throughput_fit_start(volt_callback *cb, volt_trainer *t, volt_module *m) {
    (void)t;
    (void)m;
    throughput_monitor *s = cb->state;
    s->seen = 0;
    return VOLT_OK;
}

static int throughput_batch_end(volt_callback *cb, volt_trainer *t, volt_module *m,
                                long batch_idx) {
    (void)m;
    (void)batch_idx;
    throughput_monitor *s = cb->state;
    long slot = s->seen % (s->window + 1);
    s->times[slot] = volt_clock_seconds();
    s->samples[slot] = (double)t->last_batch_samples;
    s->flops[slot] = t->last_batch_flops * (double)trainer_dp_size(t);
    s->seen++;
    if (s->seen <= s->window) return VOLT_OK; /* window + 1 ends span window batches */
    long oldest = s->seen % (s->window + 1);
    double seconds = s->times[slot] - s->times[oldest];
    double samples = 0, flops = 0;
    for (long i = 0; i <= s->window; i++)
        if (i != oldest) samples += s->samples[i], flops += s->flops[i];
    if (!(seconds > 0)) return VOLT_OK;
    volt_metrics *metrics = volt_trainer_metrics(t);
    double tflops = flops / seconds / 1e12;
    VOLT_CHECK(volt_metrics_log(metrics, "throughput/samples_per_sec", samples / seconds, 1.0,
                                VOLT_LOG_STEP | VOLT_LOG_PROG_BAR));
    VOLT_CHECK(volt_metrics_log(metrics, "throughput/tflops", tflops, 1.0, VOLT_LOG_STEP));
    if (s->has_peak)
        VOLT_CHECK(volt_metrics_log(metrics, "throughput/mfu",
                                    tflops / (s->peak_tflops * trainer_dp_size(t)), 1.0,
                                    VOLT_LOG_STEP));
    return VOLT_OK;
}

const volt_callback_ops volt_throughput_monitor_ops = {
    .name = "ThroughputMonitor",
    .state_size = sizeof(throughput_monitor),
    .setup = throughput_setup,
    .on_fit_start = throughput_fit_start,
    .on_train_batch_end = throughput_batch_end,
};

/* ---- ModelSummary ---------------------------------------------------------------------------- */

typedef struct model_summary {
    int max_depth;
} model_summary;

static int model_summary_setup(volt_callback *cb, const volt_config *config, int index,
                               const void *options) {
    model_summary *s = cb->state;
    long depth = 1;
    char key[64] = "ModelSummary's max_depth";
    if (index >= 0) {
        VOLT_CHECK(callbacks_check_own_options(config, index, "ModelSummary", "max_depth"));
        callbacks_option_key(key, sizeof key, index, "max_depth");
        VOLT_CHECK(volt_config_get_int(config, key, &depth));
    } else if (options) {
        depth = ((const volt_model_summary_options *)options)->max_depth;
    }
    if (depth < -1 || depth > 64)
        return VOLT_ERROR(VOLT_ERR_CONFIG, "%s = %ld: expected -1 (all) or 0 .. 64", key, depth);
    s->max_depth = (int)depth;
    return VOLT_OK;
}

static int name_depth(const char *name) {
    int dots = 0;
    for (; *name; name++) dots += *name == '.';
    return dots;
}

/* Length of the first `depth` dot-separated segments of name. */
static size_t prefix_length(const char *name, int depth) {
    size_t i = 0;
    for (int seen = 0; name[i]; i++)
        if (name[i] == '.' && ++seen == depth) break;
    return i;
}

typedef struct summary_row {
    char name[96];
    char shape[48];
    size_t count;
    long tensors; /* > 0: a row for the tensors under a prefix */
} summary_row;

static int model_summary_print(volt_callback *cb, volt_trainer *t, volt_module *m) {
    (void)t;
    const model_summary *s = cb->state;
    if (t->rank > 0) return VOLT_OK;
    volt_params *params = volt_module_params(m);
    int n = volt_params_count(params);
    summary_row *rows = calloc(n > 0 ? (size_t)n : 1, sizeof *rows);
    VOLT_CHECK_ALLOC(rows, (size_t)(n > 0 ? n : 1) * sizeof *rows);
    int row_count = 0;
    size_t total = 0, name_width = 4, shape_width = 5;
    for (int i = 0; i < n; i++) {
        const volt_param *p = volt_params_get(params, i);
        total += p->numel;
        if (s->max_depth == 0) continue;
        int deep = s->max_depth > 0 && name_depth(p->name) > s->max_depth;
        size_t length = deep ? prefix_length(p->name, s->max_depth) : strlen(p->name);
        summary_row *last = row_count ? &rows[row_count - 1] : NULL;
        if (deep && last && strncmp(last->name, p->name, length) == 0 &&
            last->name[length] == '\0') { /* another tensor of the same prefix */
            last->count += p->numel;
            last->tensors++;
            snprintf(last->shape, sizeof last->shape, "%ld tensors", last->tensors);
            continue;
        }
        summary_row *row = &rows[row_count++];
        snprintf(row->name, sizeof row->name, "%.*s", (int)length, p->name);
        row->tensors = deep;
        if (deep)
            snprintf(row->shape, sizeof row->shape, "1 tensor");
        else
            volt_shape_string(p->tensor, row->shape, sizeof row->shape);
        row->count = p->numel;
    }
    for (int i = 0; i < row_count; i++) {
        if (strlen(rows[i].name) > name_width) name_width = strlen(rows[i].name);
        if (strlen(rows[i].shape) > shape_width) shape_width = strlen(rows[i].shape);
    }
    const volt_module_ops *ops = volt_module_ops_of(m);
    VOLT_INFO("model summary: %s", ops->name ? ops->name : "(unnamed)");
    if (row_count > 0) {
        VOLT_INFO("  %-*s  %-*s  %12s", (int)name_width, "Name", (int)shape_width, "Shape",
                  "Params");
        for (int i = 0; i < row_count; i++)
            VOLT_INFO("  %-*s  %-*s  %12zu", (int)name_width, rows[i].name, (int)shape_width,
                      rows[i].shape, rows[i].count);
    }
    size_t bytes = total * volt_dtype_size(volt_params_dtype(params));
    VOLT_INFO("  total: %zu parameters in %d tensors, %zu bytes (%.2f MiB, %s)", total, n, bytes,
              (double)bytes / (1024.0 * 1024.0), volt_dtype_name(volt_params_dtype(params)));
    /* under tensor parallelism the numbers above are this rank's: its part of the split
     * layers and the whole of the replicated ones */
    const volt_tp *tp = volt_trainer_tp(t);
    if (tp->size > 1) {
        size_t whole = 0;
        for (int i = 0; i < n; i++) {
            const volt_param *p = volt_params_get(params, i);
            size_t count = 1;
            for (int d = 0; d < p->tensor->ndim; d++) count *= (size_t)p->slice.global_shape[d];
            whole += count;
        }
        VOLT_INFO("  per rank under tp=%d: %zu of the model's %zu parameters (%.3f)", tp->size,
                  total, whole, whole ? (double)total / (double)whole : 0.0);
    }
    const fit_context *f = t->fit;
    const volt_optimizer *optimizer =
        f ? (f->zero ? volt_zero_optimizer(f->zero) : f->optimizer) : NULL;
    if (optimizer)
        VOLT_INFO("  optimizer state of rank 0: %zu bytes (%.2f MiB)",
                  volt_optimizer_state_bytes(optimizer),
                  (double)volt_optimizer_state_bytes(optimizer) / (1024.0 * 1024.0));
    /* parameters, gradients and optimizer state are allocated by now: the host memory a
     * rank needs before the first step (the profiler's report gives the peak of the run) */
    struct rusage usage;
    if (getrusage(RUSAGE_SELF, &usage) == 0)
        VOLT_INFO("  host memory of rank 0 at fit start: %.1f MB peak resident",
                  (double)usage.ru_maxrss / 1024.0);
    free(rows);
    return VOLT_OK;
}

const volt_callback_ops volt_model_summary_ops = {
    .name = "ModelSummary",
    .state_size = sizeof(model_summary),
    .setup = model_summary_setup,
    .on_fit_start = model_summary_print,
};

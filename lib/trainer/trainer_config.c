/* lib/trainer/trainer_config.c — the trainer's options (declared with Lightning's names
 * and defaults, read and checked once at create), its life cycle, and the small
 * functions callbacks and modules call: where the loop is, and stopping.
 *
 * Every stop decision goes through volt_trainer_should_stop, collective with more than
 * one rank (all ranks stop together). */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "comm/watchdog.h"
#include "core/clock.h"
#include "core/log.h"
#include "runtime/runtime.h"
#include "trainer/trainer_internal.h"

/* ---- declarations ------------------------------------------------------------------------ */

typedef struct key_decl {
    const char *key;
    volt_config_type type;
    const char *default_value; /* NULL: unset unless supplied */
    const char *help;
} key_decl;

static const key_decl trainer_keys[] = {
    {"trainer.max_epochs", VOLT_CONFIG_INT, NULL,
     "stop after this many epochs (unset: 1000, or no limit when max_steps is set; -1: no "
     "limit)"},
    {"trainer.min_epochs", VOLT_CONFIG_INT, "0",
     "train at least this many epochs, whatever "
     "a callback asks"},
    {"trainer.max_steps", VOLT_CONFIG_INT, "-1",
     "stop after this many optimizer steps (-1: "
     "no limit)"},
    {"trainer.max_time", VOLT_CONFIG_STRING, "",
     "stop after this long, DD:HH:MM:SS (\"\": "
     "no limit)"},
    {"trainer.limit_train_batches", VOLT_CONFIG_STRING, "1.0",
     "training batches per epoch: a fraction of the loader (0.25) or a count (10)"},
    {"trainer.limit_val_batches", VOLT_CONFIG_STRING, "1.0",
     "validation batches: a fraction or a count (0 disables validation)"},
    {"trainer.limit_test_batches", VOLT_CONFIG_STRING, "1.0",
     "test batches: a fraction or a "
     "count"},
    {"trainer.limit_predict_batches", VOLT_CONFIG_STRING, "1.0",
     "prediction batches: a fraction or a count"},
    {"trainer.val_check_interval", VOLT_CONFIG_STRING, "1.0",
     "validate every this fraction of a training epoch, or every this many batches"},
    {"trainer.check_val_every_n_epoch", VOLT_CONFIG_INT, "1", "validate in every n-th epoch"},
    {"trainer.num_sanity_val_steps", VOLT_CONFIG_INT, "2",
     "validation batches run before training to catch bugs early (-1: all)"},
    {"trainer.accumulate_grad_batches", VOLT_CONFIG_INT, "1",
     "batches whose gradients add up before each optimizer step"},
    {"trainer.gradient_clip_val", VOLT_CONFIG_FLOAT, "0",
     "gradient clipping threshold (0: "
     "off)"},
    {"trainer.gradient_clip_algorithm", VOLT_CONFIG_STRING, "norm",
     "norm (global L2 norm) or value (each element)"},
    {"trainer.seed", VOLT_CONFIG_INT, "42", "seed of initialisation, shuffling and dropout"},
    {"trainer.deterministic", VOLT_CONFIG_BOOL, "false",
     "deterministic algorithms only (the CPU back end always is)"},
    {"trainer.fast_dev_run", VOLT_CONFIG_STRING, "false",
     "true (1 batch) or n: run n batches of each loop, once, writing nothing but the "
     "configuration"},
    {"trainer.log_every_n_steps", VOLT_CONFIG_INT, "50",
     "steps between rows of metrics.csv (and progress lines in batch jobs)"},
    {"trainer.enable_progress_bar", VOLT_CONFIG_BOOL, "true", "show the progress bar"},
    {"trainer.enable_checkpointing", VOLT_CONFIG_BOOL, "true",
     "add a ModelCheckpoint (one checkpoint per epoch, last.h5 kept) unless callbacks lists "
     "one; off under fast_dev_run"},
    {"trainer.logger", VOLT_CONFIG_STRING, "csv",
     "csv (metrics.csv), or tensorboard (metrics.csv and TensorBoard event files in the run "
     "folder)"},
    {"trainer.profiler", VOLT_CONFIG_STRING, "off",
     "off, simple (timers: <run folder>/profile.txt, also printed) or papi (timers and "
     "hardware counters where the kernel exposes them)"},
    {"profiler.papi_events", VOLT_CONFIG_STRING, NULL,
     "PAPI events (comma-separated; default PAPI_TOT_CYC,PAPI_TOT_INS,PAPI_FP_OPS,"
     "PAPI_L2_TCM, those the CPU has)"},
    {"profiler.trace", VOLT_CONFIG_BOOL, "false",
     "also write <run folder>/trace_rank<r>.json (Chrome trace events: Perfetto)"},
    {"trainer.strict_loading", VOLT_CONFIG_BOOL, "true",
     "a checkpoint's /model must hold exactly the model's tensors (false: tensors the model "
     "does not have are ignored; missing ones are still an error)"},
    {"trainer.checkpoint_on_signal", VOLT_CONFIG_BOOL, "true",
     "on SIGUSR1 or SIGTERM (what Slurm sends before a job's end), save hpc_ckpt_<n>.h5 at "
     "the next step and stop; volt-train then exits with 75 (requeue me)"},
    {"trainer.enable_model_summary", VOLT_CONFIG_BOOL, "true",
     "print the model's parameters at fit start"},
    {"trainer.default_root_dir", VOLT_CONFIG_STRING, "runs", "where run folders go"},
    {"trainer.name", VOLT_CONFIG_STRING, "", "run folder name (\"\": the model's name)"},
    {"trainer.version", VOLT_CONFIG_INT, "-1", "run folder version (-1: the next free one)"},
    {"trainer.precision", VOLT_CONFIG_STRING, "32-true",
     "32-true; bf16-mixed or 16-mixed: linear layers and attention on 16-bit operands, f32 "
     "accumulation and f32 master weights (16-mixed with dynamic loss scaling); on the CPU "
     "the products are rounded to the 16-bit type, for the numerics, not for speed"},
    {"grad_scaler.init_scale", VOLT_CONFIG_FLOAT, "65536",
     "16-mixed: the first loss scale (PyTorch's GradScaler)"},
    {"grad_scaler.growth_factor", VOLT_CONFIG_FLOAT, "2",
     "16-mixed: the scale grows by this after growth_interval steps without overflow"},
    {"grad_scaler.backoff_factor", VOLT_CONFIG_FLOAT, "0.5",
     "16-mixed: the scale shrinks by this when a gradient overflows (the step is skipped)"},
    {"grad_scaler.growth_interval", VOLT_CONFIG_INT, "2000",
     "16-mixed: steps in a row without overflow before the scale grows"},
    {"trainer.layout", VOLT_CONFIG_STRING, "",
     "rank layout, such as dp=4 (\"\": dp = the number of ranks)"},
    {"trainer.strategy", VOLT_CONFIG_STRING, "auto",
     "auto (ddp when dp > 1, else single), single, ddp or zero1"},
    {"strategy.bucket_mb", VOLT_CONFIG_FLOAT, "25", "DDP gradient bucket size in MB"},
    {"strategy.hierarchical", VOLT_CONFIG_STRING, "auto",
     "DDP's all-reduce in two levels, inside then across nodes: auto (when there are "
     "several nodes with several ranks each), true (required) or false"},
    {"comm.timeout_s", VOLT_CONFIG_FLOAT, "600",
     "a collective that waits longer ends the job with a message naming it and the ranks "
     "that did not arrive (0: wait forever); must exceed the longest time one rank works "
     "while the others wait (data preparation, a checkpoint)"},
    {"optimizer.name", VOLT_CONFIG_STRING, "adamw",
     "adamw, adam or sgd (when the module has "
     "no configure_optimizers)"},
    {"optimizer.lr", VOLT_CONFIG_FLOAT, "0.001", "learning rate"},
    {"optimizer.weight_decay", VOLT_CONFIG_FLOAT, NULL,
     "weight decay (unset: 0.01 for adamw, else 0)"},
    {"optimizer.momentum", VOLT_CONFIG_FLOAT, "0", "SGD momentum"},
    {"optimizer.nesterov", VOLT_CONFIG_BOOL, "false", "SGD Nesterov momentum"},
    {"optimizer.beta1", VOLT_CONFIG_FLOAT, "0.9", "Adam(W) first-moment decay"},
    {"optimizer.beta2", VOLT_CONFIG_FLOAT, "0.999", "Adam(W) second-moment decay"},
    {"optimizer.eps", VOLT_CONFIG_FLOAT, "1e-08", "Adam(W) denominator epsilon"},
    {"lr_scheduler.name", VOLT_CONFIG_STRING, "none", "none, step, linear_warmup or cosine"},
    {"lr_scheduler.interval", VOLT_CONFIG_STRING, "step",
     "step the schedule every optimizer step or every epoch"},
    {"lr_scheduler.step_size", VOLT_CONFIG_INT, "1", "step: intervals between decays"},
    {"lr_scheduler.gamma", VOLT_CONFIG_FLOAT, "0.1", "step: decay factor"},
    {"lr_scheduler.warmup_steps", VOLT_CONFIG_INT, "0",
     "linear_warmup, cosine: warm-up "
     "intervals"},
    {"lr_scheduler.total_steps", VOLT_CONFIG_INT, "0",
     "cosine: intervals to reach min_lr (0: the run's total)"},
    {"lr_scheduler.min_lr", VOLT_CONFIG_FLOAT, "0", "cosine: final learning rate"},
};

int volt_trainer_declare(volt_config *config) {
    VOLT_CHECK_ARG(config);
    for (size_t i = 0; i < sizeof trainer_keys / sizeof trainer_keys[0]; i++)
        VOLT_CHECK(volt_config_declare(config, trainer_keys[i].key, trainer_keys[i].type,
                                       trainer_keys[i].default_value, trainer_keys[i].help));
    VOLT_CHECK(callbacks_declare(config));
    return VOLT_OK;
}

/* ---- parsing ----------------------------------------------------------------------------- */

static int bad_value(const char *key, long value, const char *expected) {
    return VOLT_ERROR(VOLT_ERR_CONFIG, "%s = %ld: expected %s", key, value, expected);
}

static int read_long_at_least(const volt_config *c, const char *key, long minimum,
                              const char *expected, long *out) {
    VOLT_CHECK(volt_config_get_int(c, key, out));
    if (*out < minimum) return bad_value(key, *out, expected);
    return VOLT_OK;
}

/* A whole-string decimal integer. */
static int parse_integer(const char *text, long *out) {
    if (!*text) return 0;
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || *end) return 0;
    *out = value;
    return 1;
}

static int parse_real(const char *text, double *out) {
    if (!*text) return 0;
    char *end;
    errno = 0;
    double value = strtod(text, &end);
    if (errno || *end || !isfinite(value)) return 0;
    *out = value;
    return 1;
}

/* "10" is a count of batches, "0.25" a fraction in [0, 1] (with zero_ok, 0 is allowed:
 * no batches; val_check_interval needs a positive amount). */
static int parse_amount(const volt_config *c, const char *key, int zero_ok, trainer_amount *out) {
    const char *text;
    VOLT_CHECK(volt_config_get_string(c, key, &text));
    long count;
    double fraction;
    if (parse_integer(text, &count)) {
        if (count < 0 || (!zero_ok && count == 0))
            return VOLT_ERROR(VOLT_ERR_CONFIG, "%s = %s: a count of batches must be %s", key, text,
                              zero_ok ? ">= 0" : "> 0");
        *out = (trainer_amount){.is_count = 1, .count = count};
        return VOLT_OK;
    }
    if (parse_real(text, &fraction)) {
        if (fraction < 0 || fraction > 1 || (!zero_ok && fraction == 0))
            return VOLT_ERROR(VOLT_ERR_CONFIG, "%s = %s: a fraction must be in %s", key, text,
                              zero_ok ? "[0, 1]" : "(0, 1]");
        *out = (trainer_amount){.is_count = 0, .fraction = fraction};
        return VOLT_OK;
    }
    return VOLT_ERROR(VOLT_ERR_CONFIG,
                      "%s = '%s': expected a number of batches (an integer such as 10) or a "
                      "fraction of the loader (such as 0.25)",
                      key, text);
}

/* "false", "true" (1 batch) or an integer n >= 0 (0: off). */
static int parse_fast_dev_run(const volt_config *c, long *out) {
    const char *key = "trainer.fast_dev_run", *text;
    VOLT_CHECK(volt_config_get_string(c, key, &text));
    char lower[8] = {0};
    size_t length = strlen(text);
    for (size_t i = 0; i < length && i < sizeof lower - 1; i++)
        lower[i] = (char)tolower((unsigned char)text[i]);
    if (length < sizeof lower && strcmp(lower, "false") == 0) {
        *out = 0;
        return VOLT_OK;
    }
    if (length < sizeof lower && strcmp(lower, "true") == 0) {
        *out = 1;
        return VOLT_OK;
    }
    long n;
    if (parse_integer(text, &n) && n >= 0) {
        *out = n;
        return VOLT_OK;
    }
    return VOLT_ERROR(VOLT_ERR_CONFIG,
                      "%s = '%s': expected false, true or a number of batches >= 0", key, text);
}

/* "DD:HH:MM:SS" -> seconds; "" -> 0 (no limit). */
static int parse_max_time(const volt_config *c, double *out, const char **text_out) {
    const char *key = "trainer.max_time", *text;
    VOLT_CHECK(volt_config_get_string(c, key, &text));
    *text_out = text;
    *out = 0;
    if (!*text) return VOLT_OK;
    long field[4];
    const char *p = text;
    for (int i = 0; i < 4; i++) {
        if (!isdigit((unsigned char)*p)) goto bad;
        char *end;
        errno = 0;
        field[i] = strtol(p, &end, 10);
        if (errno || end - p > 6) goto bad;
        p = end;
        if (i < 3) {
            if (*p != ':') goto bad;
            p++;
        }
    }
    if (*p || field[1] > 23 || field[2] > 59 || field[3] > 59) goto bad;
    *out = ((double)field[0] * 24 + (double)field[1]) * 3600 + (double)field[2] * 60 +
           (double)field[3];
    if (*out <= 0)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "%s = '%s': the time limit must be positive (\"\" "
                          "for none)",
                          key, text);
    return VOLT_OK;
bad:
    return VOLT_ERROR(VOLT_ERR_CONFIG,
                      "%s = '%s': expected DD:HH:MM:SS (days, hours < 24, minutes < 60, "
                      "seconds < 60), such as 00:12:00:00",
                      key, text);
}

/* trainer.precision (Lightning's names; "32", "16" and "bf16" are its older spellings)
 * and, for 16-mixed, grad_scaler.*. */
static int read_precision(const volt_config *c, trainer_options *o) {
    const char *key = "trainer.precision", *text;
    VOLT_CHECK(volt_config_get_string(c, key, &text));
    o->autocast = VOLT_F32;
    o->loss_scaling = 0;
    if (strcmp(text, "bf16-mixed") == 0 || strcmp(text, "bf16") == 0) {
        o->autocast = VOLT_BF16;
    } else if (strcmp(text, "16-mixed") == 0 || strcmp(text, "16") == 0) {
        o->autocast = VOLT_F16;
        o->loss_scaling = 1;
    } else if (strcmp(text, "32-true") != 0 && strcmp(text, "32") != 0) {
        static const char *const later[] = {"16-true", "bf16-true", "64-true", "64"};
        for (size_t i = 0; i < sizeof later / sizeof later[0]; i++)
            if (strcmp(text, later[i]) == 0)
                return VOLT_ERROR(VOLT_ERR_UNSUPPORTED,
                                  "%s = '%s' is not supported: parameters and optimizer state "
                                  "stay in f32 (use 16-mixed or bf16-mixed)",
                                  key, text);
        return VOLT_ERROR(VOLT_ERR_CONFIG, "%s = '%s': expected 32-true, bf16-mixed or 16-mixed",
                          key, text);
    }
    volt_grad_scaler_config *s = &o->scaler;
    VOLT_CHECK(volt_config_get_float(c, "grad_scaler.init_scale", &s->init_scale));
    VOLT_CHECK(volt_config_get_float(c, "grad_scaler.growth_factor", &s->growth_factor));
    VOLT_CHECK(volt_config_get_float(c, "grad_scaler.backoff_factor", &s->backoff_factor));
    VOLT_CHECK(volt_config_get_int(c, "grad_scaler.growth_interval", &s->growth_interval));
    volt_grad_scaler check;
    VOLT_CHECK(volt_grad_scaler_init(&check, s));
    return VOLT_OK;
}

/* optimizer.* (unset weight decay: PyTorch's default for the kind). */
static int read_optimizer(const volt_config *c, volt_optimizer_options *out) {
    const char *name;
    VOLT_CHECK(volt_config_get_string(c, "optimizer.name", &name));
    volt_optimizer_kind kind;
    if (volt_optimizer_kind_parse(name, &kind) != VOLT_OK) {
        volt_error_clear();
        return VOLT_ERROR(VOLT_ERR_CONFIG, "optimizer.name = '%s': expected adamw, adam or sgd",
                          name);
    }
    volt_optimizer_options o = volt_optimizer_defaults(kind);
    VOLT_CHECK(volt_config_get_float(c, "optimizer.lr", &o.lr));
    if (volt_config_is_set(c, "optimizer.weight_decay")) /* else the kind's default */
        VOLT_CHECK(volt_config_get_float(c, "optimizer.weight_decay", &o.weight_decay));
    VOLT_CHECK(volt_config_get_float(c, "optimizer.momentum", &o.momentum));
    VOLT_CHECK(volt_config_get_bool(c, "optimizer.nesterov", &o.nesterov));
    VOLT_CHECK(volt_config_get_float(c, "optimizer.beta1", &o.beta1));
    VOLT_CHECK(volt_config_get_float(c, "optimizer.beta2", &o.beta2));
    VOLT_CHECK(volt_config_get_float(c, "optimizer.eps", &o.eps));
    if (!(o.lr >= 0)) return VOLT_ERROR(VOLT_ERR_CONFIG, "optimizer.lr = %g: expected >= 0", o.lr);
    if (!(o.weight_decay >= 0))
        return VOLT_ERROR(VOLT_ERR_CONFIG, "optimizer.weight_decay = %g: expected >= 0",
                          o.weight_decay);
    if (!(o.momentum >= 0 && o.momentum < 1))
        return VOLT_ERROR(VOLT_ERR_CONFIG, "optimizer.momentum = %g: expected in [0, 1)",
                          o.momentum);
    if (o.nesterov && (kind != VOLT_OPTIM_SGD || o.momentum <= 0))
        return VOLT_ERROR(VOLT_ERR_CONFIG, "optimizer.nesterov = true needs optimizer.name = "
                                           "sgd and optimizer.momentum > 0");
    if (!(o.beta1 >= 0 && o.beta1 < 1))
        return VOLT_ERROR(VOLT_ERR_CONFIG, "optimizer.beta1 = %g: expected in [0, 1)", o.beta1);
    if (!(o.beta2 >= 0 && o.beta2 < 1))
        return VOLT_ERROR(VOLT_ERR_CONFIG, "optimizer.beta2 = %g: expected in [0, 1)", o.beta2);
    if (!(o.eps > 0)) return VOLT_ERROR(VOLT_ERR_CONFIG, "optimizer.eps = %g: expected > 0", o.eps);
    *out = o;
    return VOLT_OK;
}

/* lr_scheduler.* (a cosine total of 0 is filled in at fit, when the run's length is known). */
static int read_schedule(const volt_config *c, volt_optim_config *out) {
    const char *name, *interval;
    VOLT_CHECK(volt_config_get_string(c, "lr_scheduler.name", &name));
    VOLT_CHECK(volt_config_get_string(c, "lr_scheduler.interval", &interval));
    if (strcmp(interval, "step") == 0)
        out->interval = VOLT_LR_PER_STEP;
    else if (strcmp(interval, "epoch") == 0)
        out->interval = VOLT_LR_PER_EPOCH;
    else
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "lr_scheduler.interval = '%s': expected step or "
                          "epoch",
                          interval);
    out->has_schedule = 0;
    if (strcmp(name, "none") == 0) return VOLT_OK;
    volt_lr_schedule s = {.base_lr = out->optimizer.lr};
    if (volt_lr_schedule_kind_parse(name, &s.kind) != VOLT_OK) {
        volt_error_clear();
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "lr_scheduler.name = '%s': expected none, step, "
                          "linear_warmup or cosine",
                          name);
    }
    VOLT_CHECK(volt_config_get_int(c, "lr_scheduler.step_size", &s.step_size));
    VOLT_CHECK(volt_config_get_float(c, "lr_scheduler.gamma", &s.gamma));
    VOLT_CHECK(volt_config_get_int(c, "lr_scheduler.warmup_steps", &s.warmup_steps));
    VOLT_CHECK(volt_config_get_int(c, "lr_scheduler.total_steps", &s.total_steps));
    VOLT_CHECK(volt_config_get_float(c, "lr_scheduler.min_lr", &s.min_lr));
    if (s.kind == VOLT_LR_STEP && s.step_size <= 0)
        return bad_value("lr_scheduler.step_size", s.step_size, "> 0");
    if (s.kind == VOLT_LR_STEP && !(s.gamma > 0))
        return VOLT_ERROR(VOLT_ERR_CONFIG, "lr_scheduler.gamma = %g: expected > 0", s.gamma);
    if (s.warmup_steps < 0) return bad_value("lr_scheduler.warmup_steps", s.warmup_steps, ">= 0");
    if (s.total_steps < 0)
        return bad_value("lr_scheduler.total_steps", s.total_steps, ">= 0 (0: the run's total)");
    if (s.kind == VOLT_LR_COSINE && s.total_steps > 0 && s.total_steps <= s.warmup_steps)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "lr_scheduler.total_steps = %ld: expected more than "
                          "lr_scheduler.warmup_steps = %ld",
                          s.total_steps, s.warmup_steps);
    if (s.kind == VOLT_LR_COSINE && !(s.min_lr >= 0 && s.min_lr <= s.base_lr))
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "lr_scheduler.min_lr = %g: expected in [0, "
                          "optimizer.lr = %g]",
                          s.min_lr, s.base_lr);
    out->has_schedule = 1;
    out->schedule = s;
    return VOLT_OK;
}

/* fast_dev_run n replaces the limits and max_steps; an explicit different value of one of
 * them is a contradiction the user should hear about. */
static int check_fast_dev_run_conflicts(const volt_config *c, const trainer_options *o) {
    static const char *const limits[] = {"trainer.limit_train_batches", "trainer.limit_val_batches",
                                         "trainer.limit_test_batches",
                                         "trainer.limit_predict_batches"};
    const trainer_amount *amounts[] = {&o->limit_train, &o->limit_val, &o->limit_test,
                                       &o->limit_predict};
    for (int i = 0; i < 4; i++) {
        if (!volt_config_is_set(c, limits[i])) continue;
        if (amounts[i]->is_count && amounts[i]->count == o->fast_dev_run) continue;
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "%s = %s contradicts trainer.fast_dev_run = %ld, which runs %ld "
                          "batch%s of each loop: drop one of them",
                          limits[i], volt_config_string(c, limits[i], "?"), o->fast_dev_run,
                          o->fast_dev_run, o->fast_dev_run == 1 ? "" : "es");
    }
    if (volt_config_is_set(c, "trainer.max_steps") && o->max_steps != o->fast_dev_run)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "trainer.max_steps = %ld contradicts trainer.fast_dev_run = %ld, "
                          "which takes %ld step%s: drop one of them",
                          o->max_steps, o->fast_dev_run, o->fast_dev_run,
                          o->fast_dev_run == 1 ? "" : "s");
    return VOLT_OK;
}

static int read_options(const volt_config *c, trainer_options *o) {
    if (volt_config_is_set(c, "trainer.max_epochs")) {
        VOLT_CHECK(read_long_at_least(c, "trainer.max_epochs", -1, "-1 (no limit) or >= 0",
                                      &o->max_epochs));
    } else {
        o->max_epochs = -2; /* decided below, with max_steps */
    }
    VOLT_CHECK(read_long_at_least(c, "trainer.min_epochs", 0, ">= 0", &o->min_epochs));
    VOLT_CHECK(
        read_long_at_least(c, "trainer.max_steps", -1, "-1 (no limit) or >= 0", &o->max_steps));
    if (o->max_epochs == -2) o->max_epochs = o->max_steps == -1 ? 1000 : -1;
    VOLT_CHECK(parse_max_time(c, &o->max_time, &o->max_time_text));
    VOLT_CHECK(parse_amount(c, "trainer.limit_train_batches", 1, &o->limit_train));
    VOLT_CHECK(parse_amount(c, "trainer.limit_val_batches", 1, &o->limit_val));
    VOLT_CHECK(parse_amount(c, "trainer.limit_test_batches", 1, &o->limit_test));
    VOLT_CHECK(parse_amount(c, "trainer.limit_predict_batches", 1, &o->limit_predict));
    VOLT_CHECK(parse_amount(c, "trainer.val_check_interval", 0, &o->val_check_interval));
    VOLT_CHECK(read_long_at_least(c, "trainer.check_val_every_n_epoch", 1, ">= 1",
                                  &o->check_val_every_n_epoch));
    VOLT_CHECK(read_long_at_least(c, "trainer.num_sanity_val_steps", -1, "-1 (all) or >= 0",
                                  &o->num_sanity_val_steps));
    VOLT_CHECK(read_long_at_least(c, "trainer.accumulate_grad_batches", 1, ">= 1",
                                  &o->accumulate_grad_batches));
    VOLT_CHECK(volt_config_get_float(c, "trainer.gradient_clip_val", &o->gradient_clip_val));
    if (!(o->gradient_clip_val >= 0))
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "trainer.gradient_clip_val = %g: expected >= 0 (0: "
                          "off)",
                          o->gradient_clip_val);
    const char *algorithm;
    VOLT_CHECK(volt_config_get_string(c, "trainer.gradient_clip_algorithm", &algorithm));
    if (strcmp(algorithm, "norm") != 0 && strcmp(algorithm, "value") != 0)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "trainer.gradient_clip_algorithm = '%s': expected "
                          "norm or value",
                          algorithm);
    o->clip_by_value = strcmp(algorithm, "value") == 0;
    VOLT_CHECK(read_long_at_least(c, "trainer.seed", 0, ">= 0", &o->seed));
    VOLT_CHECK(volt_config_get_bool(c, "trainer.deterministic", &o->deterministic));
    VOLT_CHECK(parse_fast_dev_run(c, &o->fast_dev_run));
    VOLT_CHECK(
        read_long_at_least(c, "trainer.log_every_n_steps", 1, ">= 1", &o->log_every_n_steps));
    VOLT_CHECK(volt_config_get_bool(c, "trainer.enable_progress_bar", &o->enable_progress_bar));
    VOLT_CHECK(volt_config_get_bool(c, "trainer.enable_model_summary", &o->enable_model_summary));
    VOLT_CHECK(volt_config_get_bool(c, "trainer.enable_checkpointing", &o->enable_checkpointing));
    VOLT_CHECK(volt_config_get_bool(c, "trainer.checkpoint_on_signal", &o->checkpoint_on_signal));
    VOLT_CHECK(volt_config_get_bool(c, "trainer.strict_loading", &o->strict_loading));
    const char *logger = "csv";
    VOLT_CHECK(volt_config_get_string(c, "trainer.logger", &logger));
    if (strcmp(logger, "csv") == 0)
        o->tensorboard = 0;
    else if (strcmp(logger, "tensorboard") == 0 || strcmp(logger, "csv,tensorboard") == 0)
        o->tensorboard = 1;
    else
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "trainer.logger = '%s': expected csv or tensorboard (which writes "
                          "metrics.csv too)",
                          logger);
    const char *profiler = "off";
    VOLT_CHECK(volt_config_get_string(c, "trainer.profiler", &profiler));
    if (volt_prof_mode_parse(profiler, &o->profiler) != VOLT_OK) {
        volt_error_clear();
        return VOLT_ERROR(VOLT_ERR_CONFIG, "trainer.profiler = '%s': expected off, simple or papi",
                          profiler);
    }
    o->papi_events = NULL;
    if (volt_config_is_set(c, "profiler.papi_events"))
        VOLT_CHECK(volt_config_get_string(c, "profiler.papi_events", &o->papi_events));
    VOLT_CHECK(volt_config_get_bool(c, "profiler.trace", &o->profiler_trace));
    VOLT_CHECK(volt_config_get_string(c, "trainer.default_root_dir", &o->default_root_dir));
    if (!*o->default_root_dir)
        return VOLT_ERROR(VOLT_ERR_CONFIG, "trainer.default_root_dir = '': expected a folder "
                                           "(such as runs)");
    VOLT_CHECK(volt_config_get_string(c, "trainer.name", &o->name));
    if (strchr(o->name, '/') || strcmp(o->name, ".") == 0 || strcmp(o->name, "..") == 0)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "trainer.name = '%s': expected a plain folder name, "
                          "without '/'",
                          o->name);
    VOLT_CHECK(
        read_long_at_least(c, "trainer.version", -1, "-1 (the next free) or >= 0", &o->version));
    VOLT_CHECK(read_precision(c, o));
    VOLT_CHECK(read_optimizer(c, &o->optim.optimizer));
    VOLT_CHECK(read_schedule(c, &o->optim));

    VOLT_CHECK(volt_config_get_string(c, "trainer.layout", &o->layout_text));
    VOLT_CHECK(volt_config_get_string(c, "trainer.strategy", &o->strategy_text));
    if (strcmp(o->strategy_text, "auto") != 0 && strcmp(o->strategy_text, "single") != 0 &&
        strcmp(o->strategy_text, "ddp") != 0 && strcmp(o->strategy_text, "zero1") != 0)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "trainer.strategy = '%s': expected auto, single, ddp or zero1",
                          o->strategy_text);
    VOLT_CHECK(volt_config_get_string(c, "strategy.hierarchical", &o->hierarchical_text));
    if (strcmp(o->hierarchical_text, "auto") != 0 && strcmp(o->hierarchical_text, "true") != 0 &&
        strcmp(o->hierarchical_text, "false") != 0)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "strategy.hierarchical = '%s': expected auto, true or false",
                          o->hierarchical_text);
    VOLT_CHECK(volt_config_get_float(c, "strategy.bucket_mb", &o->bucket_mb));
    if (!(o->bucket_mb > 0) || !isfinite(o->bucket_mb))
        return VOLT_ERROR(VOLT_ERR_CONFIG, "strategy.bucket_mb = %g: expected > 0", o->bucket_mb);
    VOLT_CHECK(volt_config_get_float(c, "comm.timeout_s", &o->comm_timeout_s));
    if (!(o->comm_timeout_s >= 0) || !isfinite(o->comm_timeout_s))
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "comm.timeout_s = %g: expected seconds >= 0 (0: no timeout)",
                          o->comm_timeout_s);

    if (o->fast_dev_run > 0) {
        VOLT_CHECK(check_fast_dev_run_conflicts(c, o));
        trainer_amount n = {.is_count = 1, .count = o->fast_dev_run};
        o->limit_train = o->limit_val = o->limit_test = o->limit_predict = n;
        o->max_steps = o->fast_dev_run;
        o->max_epochs = 1;
        o->num_sanity_val_steps = 0;
        o->val_check_interval = (trainer_amount){.is_count = 0, .fraction = 1.0};
        o->check_val_every_n_epoch = 1;
        o->log_every_n_steps = 1;
    }
    return VOLT_OK;
}

/* ---- life cycle ---------------------------------------------------------------------------- */

static int add_callback(volt_trainer *t, volt_callback *cb) {
    if (t->callback_count == t->callback_capacity) {
        int capacity = t->callback_capacity ? 2 * t->callback_capacity : 8;
        volt_callback **grown = realloc(t->callbacks, (size_t)capacity * sizeof *grown);
        if (!grown) {
            callback_destroy(cb);
            return VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory adding a callback");
        }
        t->callbacks = grown;
        t->callback_capacity = capacity;
    }
    /* ModelCheckpoint callbacks run after the others (as in Lightning), so that what they
     * save holds the states the others reached at the same hook */
    int at = t->callback_count;
    if (cb->ops != &volt_model_checkpoint_ops)
        while (at > 0 && t->callbacks[at - 1]->ops == &volt_model_checkpoint_ops) at--;
    memmove(t->callbacks + at + 1, t->callbacks + at,
            (size_t)(t->callback_count - at) * sizeof *t->callbacks);
    t->callbacks[at] = cb;
    t->callback_count++;
    return VOLT_OK;
}

/* The callbacks listed under callbacks.<i>, in order; ModelSummary first when
 * enable_model_summary asks for it and the list does not name it. */
static int build_config_callbacks(volt_trainer *t) {
    const volt_config *c = t->config;
    int count = 0, listed_summary = 0, listed_checkpoint = 0;
    char key[64];
    for (;; count++) {
        snprintf(key, sizeof key, "callbacks.%d.name", count);
        if (!volt_config_is_set(c, key)) break;
        if (strcmp(volt_config_string(c, key, ""), "ModelSummary") == 0) listed_summary = 1;
        if (strcmp(volt_config_string(c, key, ""), "ModelCheckpoint") == 0) listed_checkpoint = 1;
    }
    if (callbacks_item_is_set(c, count))
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "callbacks.%d has options but no name (expected "
                          "callbacks.%d.name: EarlyStopping, LearningRateMonitor, "
                          "ModelCheckpoint, ModelSummary or ThroughputMonitor)",
                          count, count);
    for (int later = count + 1; later <= count + 64; later++) /* items after a gap */
        if (callbacks_item_is_set(c, later))
            return VOLT_ERROR(VOLT_ERR_CONFIG,
                              "callbacks.%d is set but callbacks.%d is not: the list's items are "
                              "numbered from 0 without gaps",
                              later, count);
    if (t->options.enable_model_summary && !listed_summary) {
        volt_callback *cb;
        VOLT_CHECK(callback_create(&volt_model_summary_ops, c, -1, NULL, &cb));
        VOLT_CHECK(add_callback(t, cb));
    }
    for (int i = 0; i < count; i++) {
        snprintf(key, sizeof key, "callbacks.%d.name", i);
        const char *name = volt_config_string(c, key, "");
        const volt_callback_ops *ops = volt_callback_find(name);
        if (!ops)
            return VOLT_ERROR(VOLT_ERR_CONFIG,
                              "%s = '%s': unknown callback (expected EarlyStopping, "
                              "LearningRateMonitor, ModelCheckpoint, ModelSummary or "
                              "ThroughputMonitor)",
                              key, name);
        volt_callback *cb;
        VOLT_CHECK(callback_create(ops, c, i, NULL, &cb));
        VOLT_CHECK(add_callback(t, cb));
    }
    if (t->options.enable_checkpointing && t->options.fast_dev_run == 0 && !listed_checkpoint) {
        volt_callback *cb;
        VOLT_CHECK(callback_create(&volt_model_checkpoint_ops, c, -1, NULL, &cb));
        VOLT_CHECK(add_callback(t, cb));
    }
    return VOLT_OK;
}

/* The ranks: the layout (parsed on every rank, so that a wrong one fails everywhere with
 * the same message before any work), the groups and the strategy. */
static int build_ranks(volt_trainer *t, MPI_Comm parent) {
    int mpi_up = 0;
    MPI_Initialized(&mpi_up);
    int world_size = 1;
    if (mpi_up) {
        VOLT_CHECK(volt_watchdog_set_timeout(t->options.comm_timeout_s));
        VOLT_CHECK(volt_comm_create(parent, &t->world));
        t->rank = volt_comm_rank(t->world);
        world_size = volt_comm_size(t->world);
    }
    VOLT_CHECK(volt_layout_parse(t->options.layout_text, world_size, &t->layout));
    if (t->world) {
        VOLT_CHECK(volt_groups_create(t->world, &t->layout, &t->groups));
        t->tp = volt_tp_of(t->layout.tp > 1 ? t->groups.tp : NULL);
    }
    const char *strategy = t->options.strategy_text;
    const int dp = t->layout.dp;
    if (strcmp(strategy, "single") == 0 && dp > 1)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "trainer.strategy = single, but the layout has dp = %d ranks: use "
                          "ddp or zero1 (or auto)",
                          dp);
    if (strcmp(strategy, "zero1") == 0) {
        t->strategy = TRAINER_STRATEGY_ZERO1;
    } else if (strcmp(strategy, "ddp") == 0 || (strcmp(strategy, "auto") == 0 && dp > 1)) {
        t->strategy = TRAINER_STRATEGY_DDP;
    } else {
        t->strategy = TRAINER_STRATEGY_SINGLE;
    }
    /* strategy.hierarchical = true on a layout that cannot have it: the ranks agree (every
     * tp index has its own dp group, whose nodes may differ), before any work */
    if (strcmp(t->options.hierarchical_text, "true") == 0 && t->world) {
        if (t->strategy != TRAINER_STRATEGY_DDP)
            return VOLT_ERROR(VOLT_ERR_CONFIG,
                              "strategy.hierarchical = true is for DDP's all-reduce, but the "
                              "strategy is %s: use auto or false",
                              t->strategy == TRAINER_STRATEGY_ZERO1 ? "zero1" : "single");
        volt_hier *hier = NULL;
        VOLT_CHECK(volt_hier_create(t->groups.dp, NULL, &hier));
        int nodes = 0, per_node = 0, active = volt_hier_active(hier);
        volt_hier_layout(hier, &nodes, &per_node);
        volt_hier_destroy(hier);
        VOLT_CHECK(volt_comm_allreduce(t->world, &active, 1, VOLT_I32, VOLT_REDUCE_MIN, NULL));
        if (!active)
            return VOLT_ERROR(VOLT_ERR_CONFIG,
                              "strategy.hierarchical = true needs every data-parallel group "
                              "on more than one node with more than one rank on each, the "
                              "same number on every node; this rank's group of %d is on %d "
                              "node%s (%s ranks per node): use auto or false",
                              dp, nodes, nodes == 1 ? "" : "s",
                              per_node == 0   ? "different numbers of"
                              : per_node == 1 ? "1"
                                              : "2 or more");
    }
    return VOLT_OK;
}

volt_comm *trainer_dp_comm(const volt_trainer *t) {
    return t->world && t->layout.dp > 1 ? t->groups.dp : NULL;
}
int trainer_dp_size(const volt_trainer *t) { return t->world ? t->layout.dp : 1; }

const volt_tp *volt_trainer_tp(const volt_trainer *t) {
    return t && t->world && t->layout.tp > 1 ? &t->tp : &volt_tp_single;
}
int trainer_dp_rank(const volt_trainer *t) { return t->world ? t->groups.dp_rank : 0; }

static int trainer_build(volt_trainer *t, MPI_Comm parent) {
    VOLT_CHECK(read_options(t->config, &t->options));
    VOLT_CHECK(build_ranks(t, parent));
    VOLT_CHECK(build_config_callbacks(t));
    volt_graph_options graph_options = {.seed = (uint64_t)t->options.seed};
    VOLT_CHECK(volt_graph_create(&graph_options, &t->graph));
    VOLT_CHECK(volt_graph_set_autocast(t->graph, t->options.autocast));
    VOLT_CHECK(volt_grad_scaler_init(&t->scaler, &t->options.scaler));
    VOLT_CHECK(volt_metrics_create(&t->metrics));
    /* the ranks of a tensor-parallel group compute the same metrics: the first counts */
    volt_metrics_set_counted(t->metrics, t->tp.rank == 0);
    if (t->options.enable_progress_bar && t->rank == 0)
        VOLT_CHECK(volt_progress_create(stdout, -1, t->options.log_every_n_steps, &t->progress));
    return VOLT_OK;
}

int volt_trainer_create(const volt_config *config, volt_trainer **out) {
    return volt_trainer_create_on(config, MPI_COMM_WORLD, out);
}

int volt_trainer_create_on(const volt_config *config, MPI_Comm comm, volt_trainer **out) {
    VOLT_CHECK_ARG(config && out);
    *out = NULL;
    volt_trainer *t = calloc(1, sizeof *t);
    VOLT_CHECK_ALLOC(t, sizeof *t);
    t->config = config;
    int status = trainer_build(t, comm);
    if (status != VOLT_OK) {
        volt_trainer_destroy(t);
        return status;
    }
    *out = t;
    return VOLT_OK;
}

void volt_trainer_destroy(volt_trainer *t) {
    if (!t) return;
    for (int i = 0; i < t->callback_count; i++) callback_destroy(t->callbacks[i]);
    free(t->callbacks);
    volt_progress_destroy(t->progress);
    volt_csv_logger_destroy(t->csv);
    if (volt_tb_writer_destroy(t->tensorboard) != VOLT_OK) {
        volt_error_print(stderr); /* the last events may be lost: say so, go on */
        volt_error_clear();
    }
    volt_metrics_destroy(t->metrics);
    volt_graph_destroy(t->graph);
    for (int i = 0; i < t->eval_name_count; i++) free(t->eval_names[i]);
    free(t->eval_names);
    free(t->log_dir);
    free(t->stop_reason);
    if (t->groups.dp || t->groups.tp) volt_groups_destroy(&t->groups);
    volt_comm_destroy(t->world);
    free(t);
}

int volt_trainer_add_callback(volt_trainer *t, const volt_callback_ops *ops, const void *options) {
    VOLT_CHECK_ARG(t && ops);
    volt_callback *cb;
    VOLT_CHECK(callback_create(ops, t->config, -1, options, &cb));
    VOLT_CHECK(add_callback(t, cb));
    return VOLT_OK;
}

/* ---- for callbacks and modules ------------------------------------------------------------- */

long volt_trainer_current_epoch(const volt_trainer *t) { return t ? t->current_epoch : 0; }
long volt_trainer_global_step(const volt_trainer *t) { return t ? t->global_step : 0; }
double volt_trainer_lr(const volt_trainer *t) { return t ? t->lr : 0; }
volt_metrics *volt_trainer_metrics(volt_trainer *t) { return t ? t->metrics : NULL; }
const char *volt_trainer_log_dir(const volt_trainer *t) { return t ? t->log_dir : NULL; }

void volt_trainer_request_stop(volt_trainer *t, const char *reason) {
    if (!t) return;
    if (!t->stop_requested) { /* the first reason is the one reported */
        free(t->stop_reason);
        t->stop_reason = strdup(reason && *reason ? reason : "a callback asked to stop");
    }
    t->stop_requested = 1;
}

/* Why the run must stop now, or NULL. A stop request waits for min_epochs; the limits
 * (max_epochs, max_steps, max_time) do not. */
static const char *stop_condition(const volt_trainer *t) {
    const trainer_options *o = &t->options;
    if (t->preempt_signal) return "preempted";
    if (t->stop_requested && t->epochs_done >= o->min_epochs) return "request";
    if (o->max_steps >= 0 && t->global_step >= o->max_steps) return "max_steps";
    if (o->max_epochs >= 0 && t->epochs_done >= o->max_epochs) return "max_epochs";
    if (o->max_time > 0 && (t->time_up || volt_clock_seconds() - t->fit_start_time >= o->max_time))
        return "max_time";
    return NULL;
}

int trainer_run_complete(const volt_trainer *t) {
    const trainer_options *o = &t->options;
    return (o->max_steps >= 0 && t->global_step >= o->max_steps) ||
           (o->max_epochs >= 0 && t->epochs_done >= o->max_epochs);
}

/* The one place the loop decides to stop. With more than one rank it is collective: any
 * rank's stop request or elapsed max_time stops every rank (step and epoch counts are
 * the same everywhere; early stopping sees the same reduced metrics). */
int volt_trainer_should_stop(volt_trainer *t) {
    if (!t) return 0;
    int signal_number = trainer_pending_signal();
    if (!t->world || volt_comm_size(t->world) == 1) {
        if (signal_number && t->fitting) t->preempt_signal = signal_number;
        return stop_condition(t) != NULL;
    }
    const trainer_options *o = &t->options;
    int flags[3] = {t->stop_requested,
                    o->max_time > 0 && volt_clock_seconds() - t->fit_start_time >= o->max_time,
                    t->fitting ? signal_number : 0};
    int status = volt_comm_allreduce(t->world, flags, 3, VOLT_I32, VOLT_REDUCE_MAX, NULL);
    if (status != VOLT_OK) {
        volt_error_push(status, __FILE__, __LINE__, __func__,
                        "rank %d: the ranks cannot agree on stopping: aborting the job", t->rank);
        volt_abort_with_errors(status);
    }
    if (flags[0] && !t->stop_requested) volt_trainer_request_stop(t, "another rank asked to stop");
    if (flags[1]) t->time_up = 1;
    if (flags[2]) t->preempt_signal = flags[2]; /* a signal reached some rank */
    return stop_condition(t) != NULL;
}

const char *volt_trainer_stop_reason(const volt_trainer *t) { return t ? t->stop_reason : NULL; }

int volt_trainer_preempted(const volt_trainer *t) { return t ? t->preempt_signal : 0; }

/* Called by the loop when volt_trainer_should_stop said yes: records and logs why. */
void trainer_note_stop(volt_trainer *t) {
    const char *condition = stop_condition(t);
    if (!condition) return;
    const trainer_options *o = &t->options;
    char reason[256];
    if (strcmp(condition, "preempted") == 0) {
        VOLT_INFO("stopping at epoch %ld, step %ld: %s", t->current_epoch, t->global_step,
                  t->stop_reason ? t->stop_reason : "preempted");
        return;
    }
    if (strcmp(condition, "request") == 0) {
        VOLT_INFO("stopping at epoch %ld, step %ld: %s", t->current_epoch, t->global_step,
                  t->stop_reason);
        return;
    }
    if (strcmp(condition, "max_steps") == 0)
        snprintf(reason, sizeof reason, "max_steps=%ld reached", o->max_steps);
    else if (strcmp(condition, "max_epochs") == 0)
        snprintf(reason, sizeof reason, "max_epochs=%ld reached", o->max_epochs);
    else
        snprintf(reason, sizeof reason, "max_time=%s reached", o->max_time_text);
    free(t->stop_reason);
    t->stop_reason = strdup(reason);
    VOLT_INFO("stopping at epoch %ld, step %ld: %s", t->current_epoch, t->global_step, reason);
}

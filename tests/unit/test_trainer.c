/* tests/unit/test_trainer.c — the trainer end to end on a tiny module: a linear classifier
 * (4 features -> 2 classes) on a synthetic data set written to a temporary HDF5 file in
 * the layout of lib/data/dataset.h and read through volt_hdf5_datamodule_ops.
 *
 * What must hold: the loop's arithmetic (batches, steps, validations) for the limits,
 * accumulation, drop_last, val_check_interval, check_val_every_n_epoch, max_steps,
 * max_epochs and min_epochs; the exact order of hooks and callbacks; EarlyStopping's
 * four reasons; metrics.csv's rows and weighted epoch means; the run folder (config.yaml
 * loads back into the same configuration, version_<n> increments); every bad option is
 * VOLT_ERR_CONFIG naming its key; a monitor never logged and a NaN loss fail clearly.
 * Each test works in its own mkdtemp folder, removed at its end. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, open_memstream, lstat */
#include <dirent.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt/checkpoint.h"
#include "data/datamodule.h"
#include "nn/nn.h"
#include "trainer/trainer.h"
#include "volt_test.h"

enum { FEATURES = 4, CLASSES = 2, TEXT_BYTES = 16384 };

/* ---- temporary folders and files ------------------------------------------------------------ */

typedef struct temp_dir {
    char path[64];
    char data[128]; /* the data set inside it */
    int ok;
} temp_dir;

static temp_dir temp_dir_create(void) {
    temp_dir dir = {{0}, {0}, 0};
    dir.ok = volt_test_make_temp_dir(dir.path, sizeof dir.path, "trainer");
    snprintf(dir.data, sizeof dir.data, "%s/data.h5", dir.path);
    return dir;
}

static void temp_dir_remove(const temp_dir *dir) {
    if (dir->ok) volt_test_remove_tree(dir->path);
}

static int file_exists(const char *path) { return access(path, F_OK) == 0; }

/* The whole file as text ("" if it cannot be read). */
static void read_text(const char *path, char *text, size_t size) {
    text[0] = '\0';
    FILE *file = fopen(path, "r");
    if (!file) return;
    size_t n = fread(text, 1, size - 1, file);
    text[n] = '\0';
    fclose(file);
}

static int count_lines(const char *text) {
    int lines = 0;
    for (; *text; text++) lines += *text == '\n';
    return lines;
}

/* Names in a folder other than . and .., sorted, space-separated. */
static void list_folder(const char *path, char *out, size_t size) {
    char names[16][256];
    int count = 0;
    out[0] = '\0';
    DIR *listing = opendir(path);
    if (!listing) return;
    struct dirent *entry;
    while ((entry = readdir(listing)) && count < 16) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
        snprintf(names[count++], sizeof names[0], "%s", entry->d_name);
    }
    closedir(listing);
    qsort(names, (size_t)count, sizeof names[0], (int (*)(const void *, const void *))strcmp);
    for (int i = 0; i < count; i++) {
        strncat(out, names[i], size - strlen(out) - 1);
        if (i + 1 < count) strncat(out, " ", size - strlen(out) - 1);
    }
}

/* ---- the data set ---------------------------------------------------------------------------- */

/* Feature j of sample i of a split, in [-1, 1), from a multiplicative hash; the label is
 * 1 when x0 + x1 > 0, so a linear model can learn it. */
static float feature(int split, long i, int j) {
    unsigned long h =
        ((unsigned long)split * 1000003ul + (unsigned long)i * FEATURES + (unsigned long)j + 1) *
        2654435761ul;
    return (float)((h >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

static int write_split(hid_t file, const char *name, int split, long n, int labels) {
    if (n == 0) return 0;
    hid_t group = H5Gcreate2(file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    float *x = malloc((size_t)n * FEATURES * sizeof *x);
    int64_t *y = malloc((size_t)n * sizeof *y);
    for (long i = 0; i < n; i++) {
        for (int j = 0; j < FEATURES; j++) x[i * FEATURES + j] = feature(split, i, j);
        y[i] = x[i * FEATURES] + x[i * FEATURES + 1] > 0;
    }
    hsize_t x_dims[2] = {(hsize_t)n, FEATURES}, y_dims[1] = {(hsize_t)n};
    hid_t x_space = H5Screate_simple(2, x_dims, NULL);
    hid_t x_set =
        H5Dcreate2(group, "x", H5T_IEEE_F32LE, x_space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t failed = H5Dwrite(x_set, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
    H5Dclose(x_set);
    H5Sclose(x_space);
    if (labels) {
        hid_t y_space = H5Screate_simple(1, y_dims, NULL);
        hid_t y_set =
            H5Dcreate2(group, "y", H5T_STD_I64LE, y_space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        failed |= H5Dwrite(y_set, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, y);
        H5Dclose(y_set);
        H5Sclose(y_space);
    }
    H5Gclose(group);
    free(x);
    free(y);
    return failed < 0 || group < 0;
}

/* /train, /val, /test with labels and /predict without, of the given sizes. */
static void write_dataset(const char *path, long train, long val, long test, long predict) {
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0) {
        volt_test_fail(__FILE__, __LINE__, "cannot create %s", path);
        return;
    }
    const char *format = "volt-dataset-1";
    hid_t string_type = H5Tcopy(H5T_C_S1);
    H5Tset_size(string_type, strlen(format));
    hid_t scalar = H5Screate(H5S_SCALAR);
    hid_t attribute = H5Acreate2(file, "format", string_type, scalar, H5P_DEFAULT, H5P_DEFAULT);
    int failed = H5Awrite(attribute, string_type, format) < 0;
    H5Aclose(attribute);
    int64_t classes = CLASSES;
    attribute = H5Acreate2(file, "num_classes", H5T_STD_I64LE, scalar, H5P_DEFAULT, H5P_DEFAULT);
    failed |= H5Awrite(attribute, H5T_NATIVE_INT64, &classes) < 0;
    H5Aclose(attribute);
    H5Sclose(scalar);
    H5Tclose(string_type);
    failed |= write_split(file, "/train", 0, train, 1);
    failed |= write_split(file, "/val", 1, val, 1);
    failed |= write_split(file, "/test", 2, test, 1);
    failed |= write_split(file, "/predict", 3, predict, 0);
    H5Fclose(file);
    if (failed) volt_test_fail(__FILE__, __LINE__, "cannot write the data set %s", path);
}

/* ---- the module: a linear classifier that records what the trainer makes it do ----------------
 */

/* What the current test makes the module do, and what it saw. */
static struct {
    long nan_loss_at_step; /* -1: never */
    int quiet;             /* log nothing but what the flags below ask for */
    int log_batch_index;   /* train/idx (STEP|EPOCH) and val/idx (EPOCH) = batch_idx */
    int log_constant;      /* val/const = 1 in every validation */
    int log_nan;           /* val/nan = NaN */
    long validation_steps;
    long train_steps_without_grad; /* training steps on a graph in eval or no-grad mode */
    long eval_steps_with_grad;     /* evaluation steps in training or gradient mode */
    const volt_module_ops *ops;    /* NULL: linear_classifier_ops */
    int tracing;
    char trace[TEXT_BYTES];
} behaviour;

static void behaviour_reset(void) {
    memset(&behaviour, 0, sizeof behaviour);
    behaviour.nan_loss_at_step = -1;
}

static void trace(const char *token) {
    if (!behaviour.tracing) return;
    strncat(behaviour.trace, token, sizeof behaviour.trace - strlen(behaviour.trace) - 1);
    strncat(behaviour.trace, " ", sizeof behaviour.trace - strlen(behaviour.trace) - 1);
}

static void trace_index(const char *word, long index) {
    char token[64];
    snprintf(token, sizeof token, "%s%ld", word, index);
    trace(token);
}

typedef struct linear_classifier {
    volt_linear_layer *fc;
} linear_classifier;

static int lc_init(volt_module *m, const volt_config *config) {
    (void)config;
    linear_classifier *s = volt_module_state(m);
    s->fc = volt_linear_new(volt_module_params(m), "fc", FEATURES, CLASSES, 1);
    VOLT_CHECK_PTR(s->fc);
    return VOLT_OK;
}

static volt_tensor *lc_forward(volt_module *m, volt_tensor *x) {
    linear_classifier *s = volt_module_state(m);
    return volt_linear(s->fc, x);
}

static volt_tensor *lc_training_step(volt_module *m, const volt_batch *batch, long batch_idx) {
    trace_index("train", batch_idx);
    volt_graph *graph = batch->x->graph;
    behaviour.train_steps_without_grad +=
        !volt_graph_grad_enabled(graph) || !volt_graph_training(graph);
    volt_tensor *loss = volt_cross_entropy(lc_forward(m, batch->x), batch->y);
    if (!loss) return NULL;
    volt_trainer *t = volt_module_trainer(m);
    if (behaviour.nan_loss_at_step >= 0 &&
        volt_trainer_global_step(t) >= behaviour.nan_loss_at_step)
        loss = volt_scale(loss, NAN);
    if (!behaviour.quiet && volt_log(m, "train/loss", loss, VOLT_LOG_STEP | VOLT_LOG_PROG_BAR))
        return NULL;
    if (behaviour.log_batch_index &&
        volt_log_value(m, "train/idx", (double)batch_idx, VOLT_LOG_STEP | VOLT_LOG_EPOCH))
        return NULL;
    return loss;
}

static int lc_evaluate(volt_module *m, const volt_batch *batch, long batch_idx,
                       const char *prefix) {
    char name[64];
    volt_graph *graph = batch->x->graph;
    behaviour.eval_steps_with_grad += volt_graph_grad_enabled(graph) || volt_graph_training(graph);
    volt_tensor *logits = lc_forward(m, batch->x);
    volt_tensor *loss = volt_cross_entropy(logits, batch->y);
    VOLT_CHECK_PTR(loss);
    if (!behaviour.quiet) {
        snprintf(name, sizeof name, "%s/loss", prefix);
        VOLT_CHECK(volt_log(m, name, loss, 0));
        snprintf(name, sizeof name, "%s/acc", prefix);
        VOLT_CHECK(volt_log_value(m, name, volt_accuracy(logits, batch->y), 0));
    }
    if (behaviour.log_batch_index) {
        snprintf(name, sizeof name, "%s/idx", prefix);
        VOLT_CHECK(volt_log_value(m, name, (double)batch_idx, 0));
    }
    if (behaviour.log_constant) VOLT_CHECK(volt_log_value(m, "val/const", 1.0, 0));
    if (behaviour.log_nan) VOLT_CHECK(volt_log_value(m, "val/nan", NAN, 0));
    return VOLT_OK;
}

static int lc_validation_step(volt_module *m, const volt_batch *batch, long batch_idx) {
    trace_index("val", batch_idx);
    behaviour.validation_steps++;
    return lc_evaluate(m, batch, batch_idx, "val");
}

static int lc_test_step(volt_module *m, const volt_batch *batch, long batch_idx) {
    return lc_evaluate(m, batch, batch_idx, "test");
}

static volt_tensor *lc_predict_step(volt_module *m, const volt_batch *batch, long batch_idx) {
    (void)batch_idx;
    return volt_softmax(lc_forward(m, batch->x));
}

#define TRACE_HOOK(hook, token)                                                                    \
    static int lc_##hook(volt_module *m) {                                                         \
        (void)m;                                                                                   \
        trace(token);                                                                              \
        return VOLT_OK;                                                                            \
    }
TRACE_HOOK(on_fit_start, "m.fit_start")
TRACE_HOOK(on_fit_end, "m.fit_end")
TRACE_HOOK(on_train_epoch_start, "m.train_epoch_start")
TRACE_HOOK(on_train_epoch_end, "m.train_epoch_end")
TRACE_HOOK(on_validation_epoch_start, "m.val_epoch_start")
TRACE_HOOK(on_validation_epoch_end, "m.val_epoch_end")
TRACE_HOOK(on_after_backward, "m.after_backward")
TRACE_HOOK(on_before_optimizer_step, "m.before_optimizer_step")

static int lc_on_before_backward(volt_module *m, volt_tensor *loss) {
    (void)m;
    (void)loss;
    trace("m.before_backward");
    return VOLT_OK;
}

static const volt_module_ops linear_classifier_ops = {
    .name = "lin",
    .state_size = sizeof(linear_classifier),
    .init = lc_init,
    .forward = lc_forward,
    .training_step = lc_training_step,
    .validation_step = lc_validation_step,
    .test_step = lc_test_step,
    .predict_step = lc_predict_step,
    .on_fit_start = lc_on_fit_start,
    .on_fit_end = lc_on_fit_end,
    .on_train_epoch_start = lc_on_train_epoch_start,
    .on_train_epoch_end = lc_on_train_epoch_end,
    .on_validation_epoch_start = lc_on_validation_epoch_start,
    .on_validation_epoch_end = lc_on_validation_epoch_end,
    .on_before_backward = lc_on_before_backward,
    .on_after_backward = lc_on_after_backward,
    .on_before_optimizer_step = lc_on_before_optimizer_step,
};

/* Adam at 0.05, halved every epoch: the optimizer from the module, not the keys. */
static int lc_configure_optimizers(volt_module *m, const volt_config *config,
                                   volt_optim_config *out) {
    (void)m;
    (void)config;
    out->optimizer = volt_optimizer_defaults(VOLT_OPTIM_ADAM);
    out->optimizer.lr = 0.05;
    out->has_schedule = 1;
    out->schedule = (volt_lr_schedule){.kind = VOLT_LR_STEP, .step_size = 1, .gamma = 0.5};
    out->interval = VOLT_LR_PER_EPOCH;
    return VOLT_OK;
}

static volt_module_ops with_configure_optimizers(void) {
    volt_module_ops ops = linear_classifier_ops;
    ops.configure_optimizers = lc_configure_optimizers;
    return ops;
}

/* ---- a recording callback ----------------------------------------------------------------------
 */

typedef struct recorder {
    long batch_ends, optimizer_steps, validations, epochs, epoch_starts;
    long global_step_at_fit_end, epoch_at_fit_end;
    double lr_at_fit_end;
} recorder;

static recorder *recorder_of(volt_callback *cb) { return *(recorder **)volt_callback_state(cb); }

static int rec_setup(volt_callback *cb, const volt_config *config, int index, const void *options) {
    (void)config;
    (void)index;
    *(recorder **)volt_callback_state(cb) = (recorder *)options;
    return VOLT_OK;
}
static int rec_fit_start(volt_callback *cb, volt_trainer *t, volt_module *m) {
    (void)cb, (void)t, (void)m;
    trace("cb.fit_start");
    return VOLT_OK;
}
static int rec_fit_end(volt_callback *cb, volt_trainer *t, volt_module *m) {
    (void)m;
    recorder *r = recorder_of(cb);
    r->global_step_at_fit_end = volt_trainer_global_step(t);
    r->epoch_at_fit_end = volt_trainer_current_epoch(t);
    r->lr_at_fit_end = volt_trainer_lr(t);
    trace("cb.fit_end");
    return VOLT_OK;
}
static int rec_train_epoch_start(volt_callback *cb, volt_trainer *t, volt_module *m) {
    (void)t, (void)m;
    recorder_of(cb)->epoch_starts++;
    trace("cb.train_epoch_start");
    return VOLT_OK;
}
static int rec_train_epoch_end(volt_callback *cb, volt_trainer *t, volt_module *m) {
    (void)t, (void)m;
    recorder_of(cb)->epochs++;
    trace("cb.train_epoch_end");
    return VOLT_OK;
}
static int rec_val_epoch_start(volt_callback *cb, volt_trainer *t, volt_module *m) {
    (void)t, (void)m;
    recorder_of(cb)->validations++;
    trace("cb.val_epoch_start");
    return VOLT_OK;
}
static int rec_val_epoch_end(volt_callback *cb, volt_trainer *t, volt_module *m) {
    (void)cb, (void)t, (void)m;
    trace("cb.val_epoch_end");
    return VOLT_OK;
}
static int rec_batch_end(volt_callback *cb, volt_trainer *t, volt_module *m, long batch_idx) {
    (void)t, (void)m;
    recorder_of(cb)->batch_ends++;
    trace_index("cb.train_batch_end", batch_idx);
    return VOLT_OK;
}
static int rec_before_backward(volt_callback *cb, volt_trainer *t, volt_module *m,
                               volt_tensor *loss) {
    (void)cb, (void)t, (void)m, (void)loss;
    trace("cb.before_backward");
    return VOLT_OK;
}
static int rec_after_backward(volt_callback *cb, volt_trainer *t, volt_module *m) {
    (void)cb, (void)t, (void)m;
    trace("cb.after_backward");
    return VOLT_OK;
}
static int rec_before_optimizer_step(volt_callback *cb, volt_trainer *t, volt_module *m) {
    (void)t, (void)m;
    recorder_of(cb)->optimizer_steps++;
    trace("cb.before_optimizer_step");
    return VOLT_OK;
}

static const volt_callback_ops recorder_ops = {
    .name = "Recorder",
    .state_size = sizeof(recorder *),
    .setup = rec_setup,
    .on_fit_start = rec_fit_start,
    .on_fit_end = rec_fit_end,
    .on_train_epoch_start = rec_train_epoch_start,
    .on_train_epoch_end = rec_train_epoch_end,
    .on_validation_epoch_start = rec_val_epoch_start,
    .on_validation_epoch_end = rec_val_epoch_end,
    .on_train_batch_end = rec_batch_end,
    .on_before_backward = rec_before_backward,
    .on_after_backward = rec_after_backward,
    .on_before_optimizer_step = rec_before_optimizer_step,
};

/* ---- one run ------------------------------------------------------------------------------------
 */

typedef struct run_result {
    int config_status, create_status, fit_status;
    recorder rec;
    long training_steps;   /* training_step calls */
    long validation_steps; /* validation_step calls */
    char log_dir[512];
    char stop_reason[512];
    char errors[4096]; /* the error stack of a failure */
    float params[64];
    size_t param_count;
} run_result;

/* Called after fit with everything still alive (for test/predict). */
typedef void (*after_fit_fn)(volt_trainer *t, volt_module *m, volt_datamodule *dm, run_result *r);

static void capture_errors(run_result *r) { volt_test_take_errors(r->errors, sizeof r->errors); }

/* The declarations a run uses: the trainer's, the data module's. */
static volt_config *declared_config(void) {
    volt_config *config = NULL;
    VOLT_EXPECT_OK(volt_config_create(&config));
    if (!config) return NULL;
    VOLT_EXPECT_OK(volt_trainer_declare(config));
    VOLT_EXPECT_OK(volt_hdf5_datamodule_ops.declare(config));
    return config;
}

/* Whether settings (NULL-terminated "key=value") mention key. */
static int mentions(const char *const *settings, const char *key) {
    size_t length = strlen(key);
    for (int i = 0; settings && settings[i]; i++)
        if (strncmp(settings[i], key, length) == 0 && settings[i][length] == '=') return 1;
    return 0;
}

/* Applies "key=value" settings as overrides, but not those that `except` mentions; the
 * value "@unset" leaves the key unset. */
static int apply_settings(volt_config *config, const char *const *settings,
                          const char *const *except) {
    for (int i = 0; settings && settings[i]; i++) {
        char key[128];
        const char *equals = strchr(settings[i], '=');
        if (!equals) return VOLT_ERROR(VOLT_ERR_ARG, "setting '%s' lacks '='", settings[i]);
        snprintf(key, sizeof key, "%.*s", (int)(equals - settings[i]), settings[i]);
        if (mentions(except, key) || strcmp(equals + 1, "@unset") == 0) continue;
        VOLT_CHECK(volt_config_set(config, key, equals + 1, "test"));
    }
    return VOLT_OK;
}

/* A fit of the linear classifier on dir's data set with the test defaults (no progress
 * bar, no summary, no sanity check, SGD lr 0.1, batches of 4 in file order, 1 epoch)
 * overridden by settings. */
static run_result run_fit(const temp_dir *dir, const char *const *settings, after_fit_fn after) {
    run_result r;
    memset(&r, 0, sizeof r);
    char root[128], data[160];
    snprintf(root, sizeof root, "trainer.default_root_dir=%s/runs", dir->path);
    snprintf(data, sizeof data, "data.path=%s", dir->data);
    const char *defaults[] = {root,
                              data,
                              "trainer.enable_progress_bar=false",
                              "trainer.enable_model_summary=false",
                              "trainer.num_sanity_val_steps=0",
                              "trainer.max_epochs=1",
                              "data.batch_size=4",
                              "data.shuffle=false",
                              "optimizer.name=sgd",
                              "optimizer.lr=0.1",
                              NULL};
    volt_config *config = declared_config();
    if (!config) return r;
    r.config_status = apply_settings(config, defaults, settings);
    if (r.config_status == VOLT_OK) r.config_status = apply_settings(config, settings, NULL);
    if (r.config_status == VOLT_OK) r.config_status = volt_config_resolve(config);
    if (r.config_status != VOLT_OK) {
        capture_errors(&r);
        volt_config_destroy(config);
        return r;
    }
    volt_trainer *trainer = NULL;
    r.create_status = volt_trainer_create(config, &trainer);
    if (r.create_status != VOLT_OK) {
        capture_errors(&r);
        volt_config_destroy(config);
        return r;
    }
    volt_module *module = NULL;
    volt_datamodule *dm = NULL;
    VOLT_EXPECT_OK(volt_module_create(behaviour.ops ? behaviour.ops : &linear_classifier_ops,
                                      config, 42, &module));
    VOLT_EXPECT_OK(volt_datamodule_create(&volt_hdf5_datamodule_ops, &dm));
    VOLT_EXPECT_OK(volt_trainer_add_callback(trainer, &recorder_ops, &r.rec));
    if (module && dm) {
        long steps_before = behaviour.validation_steps;
        r.fit_status = volt_trainer_fit(trainer, module, dm);
        if (r.fit_status != VOLT_OK) capture_errors(&r);
        r.validation_steps = behaviour.validation_steps - steps_before;
        const char *log_dir = volt_trainer_log_dir(trainer);
        snprintf(r.log_dir, sizeof r.log_dir, "%s", log_dir ? log_dir : "");
        const char *reason = volt_trainer_stop_reason(trainer);
        snprintf(r.stop_reason, sizeof r.stop_reason, "%s", reason ? reason : "");
        volt_params *params = volt_module_params(module);
        r.param_count = volt_params_flat_size(params);
        if (r.param_count > 64) r.param_count = 64;
        memcpy(r.params, volt_params_data(params), r.param_count * sizeof(float));
        if (after) after(trainer, module, dm, &r);
    }
    volt_datamodule_destroy(dm);
    volt_module_destroy(module);
    volt_trainer_destroy(trainer);
    volt_config_destroy(config);
    return r;
}

/* A standard data set: 20 training samples (5 batches of 4), 10 validation samples (3
 * batches: 4, 4, 2), 6 test samples, 5 to predict. */
static temp_dir standard_dir(void) {
    temp_dir dir = temp_dir_create();
    if (dir.ok) write_dataset(dir.data, 20, 10, 6, 5);
    return dir;
}

#define SETTINGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ---- loop arithmetic
 * ------------------------------------------------------------------------------ */

/* Training batches and optimizer steps for each way of limiting an epoch. */
VOLT_TEST(steps_per_epoch_follow_limits_accumulation_and_drop_last) {
    behaviour_reset();
    temp_dir dir = standard_dir();
    /* 20 samples in batches of 4: 5 batches, 5 steps per epoch */
    run_result r = run_fit(&dir, SETTINGS("trainer.max_epochs=2"), NULL);
    VOLT_EXPECT_OK(r.fit_status);
    VOLT_EXPECT_EQ_INT(r.rec.batch_ends, 10);
    VOLT_EXPECT_EQ_INT(r.rec.optimizer_steps, 10);
    VOLT_EXPECT_EQ_INT(r.rec.global_step_at_fit_end, 10);
    VOLT_EXPECT_EQ_INT(r.rec.epochs, 2);
    /* a fraction: int(5 * 0.4) = 2 batches per epoch */
    r = run_fit(&dir, SETTINGS("trainer.max_epochs=2", "trainer.limit_train_batches=0.4"), NULL);
    VOLT_EXPECT_OK(r.fit_status);
    VOLT_EXPECT_EQ_INT(r.rec.batch_ends, 4);
    VOLT_EXPECT_EQ_INT(r.rec.global_step_at_fit_end, 4);
    /* a count: 3 batches; and 1 means one batch, 1.0 the whole loader */
    r = run_fit(&dir, SETTINGS("trainer.max_epochs=2", "trainer.limit_train_batches=3"), NULL);
    VOLT_EXPECT_EQ_INT(r.rec.batch_ends, 6);
    r = run_fit(&dir, SETTINGS("trainer.limit_train_batches=1"), NULL);
    VOLT_EXPECT_EQ_INT(r.rec.batch_ends, 1);
    r = run_fit(&dir, SETTINGS("trainer.limit_train_batches=1.0"), NULL);
    VOLT_EXPECT_EQ_INT(r.rec.batch_ends, 5);
    /* more than the loader has: the loader's 5 */
    r = run_fit(&dir, SETTINGS("trainer.limit_train_batches=50"), NULL);
    VOLT_EXPECT_EQ_INT(r.rec.batch_ends, 5);
    /* accumulation of 2 over 5 batches: steps after batches 2, 4 and the last: 3 per epoch */
    r = run_fit(&dir, SETTINGS("trainer.max_epochs=2", "trainer.accumulate_grad_batches=2"), NULL);
    VOLT_EXPECT_OK(r.fit_status);
    VOLT_EXPECT_EQ_INT(r.rec.batch_ends, 10);
    VOLT_EXPECT_EQ_INT(r.rec.optimizer_steps, 6);
    VOLT_EXPECT_EQ_INT(r.rec.global_step_at_fit_end, 6);
    /* batches of 6: 4 batches (6, 6, 6, 2), 3 with drop_last */
    r = run_fit(&dir, SETTINGS("data.batch_size=6"), NULL);
    VOLT_EXPECT_EQ_INT(r.rec.batch_ends, 4);
    r = run_fit(&dir, SETTINGS("data.batch_size=6", "data.drop_last=true"), NULL);
    VOLT_EXPECT_EQ_INT(r.rec.batch_ends, 3);
    /* a fraction that rounds to no batch at all is refused */
    r = run_fit(&dir, SETTINGS("trainer.limit_train_batches=0.1"), NULL);
    VOLT_EXPECT_EQ_INT(r.fit_status, VOLT_ERR_CONFIG);
    VOLT_EXPECT_STR_CONTAINS(r.errors, "trainer.limit_train_batches");
    temp_dir_remove(&dir);
}

/* Accumulating two batches of 2 with the loss scaled by 1/2 gives the update of one batch
 * of 4 (SGD, same samples in the same order). */
VOLT_TEST(accumulation_scales_the_loss) {
    behaviour_reset();
    temp_dir dir = standard_dir();
    run_result whole = run_fit(&dir, SETTINGS("data.batch_size=4"), NULL);
    run_result halves =
        run_fit(&dir, SETTINGS("data.batch_size=2", "trainer.accumulate_grad_batches=2"), NULL);
    run_result unscaled = run_fit(&dir, SETTINGS("data.batch_size=2"), NULL);
    VOLT_EXPECT_EQ_INT(halves.rec.optimizer_steps, whole.rec.optimizer_steps);
    VOLT_EXPECT(whole.param_count > 0 && whole.param_count == halves.param_count);
    double worst = 0, unscaled_diff = 0;
    for (size_t i = 0; i < whole.param_count; i++) {
        worst = fmax(worst, fabs((double)whole.params[i] - (double)halves.params[i]));
        unscaled_diff =
            fmax(unscaled_diff, fabs((double)whole.params[i] - (double)unscaled.params[i]));
    }
    VOLT_EXPECT_NEAR(worst, 0.0, 1e-6);
    VOLT_EXPECT(unscaled_diff > 1e-4); /* the comparison can tell runs apart */
    temp_dir_remove(&dir);
}

/* val_check_interval as a fraction and as a count; check_val_every_n_epoch. */
VOLT_TEST(validation_cadence) {
    behaviour_reset();
    temp_dir dir = standard_dir();
    /* once per epoch, at its end, with all 3 validation batches */
    run_result r = run_fit(&dir, SETTINGS("trainer.max_epochs=2"), NULL);
    VOLT_EXPECT_EQ_INT(r.rec.validations, 2);
    VOLT_EXPECT_EQ_INT(r.validation_steps, 6);
    /* 0.4 of 5 batches: every 2 batches, so after batches 2 and 4 of each epoch */
    r = run_fit(&dir, SETTINGS("trainer.max_epochs=2", "trainer.val_check_interval=0.4"), NULL);
    VOLT_EXPECT_EQ_INT(r.rec.validations, 4);
    /* the count 1: after every batch; the fraction 1.0: once */
    r = run_fit(&dir, SETTINGS("trainer.val_check_interval=1"), NULL);
    VOLT_EXPECT_EQ_INT(r.rec.validations, 5);
    r = run_fit(&dir, SETTINGS("trainer.val_check_interval=1.0"), NULL);
    VOLT_EXPECT_EQ_INT(r.rec.validations, 1);
    /* every 2 batches (a count) over 2 epochs of 5: batches 2, 4 of each */
    r = run_fit(&dir, SETTINGS("trainer.max_epochs=2", "trainer.val_check_interval=2"), NULL);
    VOLT_EXPECT_EQ_INT(r.rec.validations, 4);
    /* every second epoch of 5: epochs 1 and 3 */
    r = run_fit(&dir, SETTINGS("trainer.max_epochs=5", "trainer.check_val_every_n_epoch=2"), NULL);
    VOLT_EXPECT_EQ_INT(r.rec.validations, 2);
    /* limit_val_batches: 2 of 3 batches; 0 turns validation off */
    r = run_fit(&dir, SETTINGS("trainer.limit_val_batches=2"), NULL);
    VOLT_EXPECT_EQ_INT(r.validation_steps, 2);
    r = run_fit(&dir, SETTINGS("trainer.limit_val_batches=0"), NULL);
    VOLT_EXPECT_EQ_INT(r.rec.validations, 0);
    /* the sanity check runs num_sanity_val_steps batches first (-1: all of them) */
    r = run_fit(&dir, SETTINGS("trainer.num_sanity_val_steps=2"), NULL);
    VOLT_EXPECT_EQ_INT(r.rec.validations, 2);
    VOLT_EXPECT_EQ_INT(r.validation_steps, 5);
    r = run_fit(&dir, SETTINGS("trainer.num_sanity_val_steps=-1"), NULL);
    VOLT_EXPECT_EQ_INT(r.validation_steps, 6);
    /* a count beyond the epoch's 5 batches would never validate: refused */
    r = run_fit(&dir, SETTINGS("trainer.val_check_interval=7"), NULL);
    VOLT_EXPECT_EQ_INT(r.fit_status, VOLT_ERR_CONFIG);
    VOLT_EXPECT_STR_CONTAINS(r.errors, "trainer.val_check_interval");
    temp_dir_remove(&dir);
}

VOLT_TEST(max_steps_and_max_epochs) {
    behaviour_reset();
    temp_dir dir = standard_dir();
    /* max_steps first: 7 steps = one epoch of 5 and 2 batches of the next, whose end hooks run */
    run_result r = run_fit(&dir, SETTINGS("trainer.max_epochs=5", "trainer.max_steps=7"), NULL);
    VOLT_EXPECT_OK(r.fit_status);
    VOLT_EXPECT_EQ_INT(r.rec.global_step_at_fit_end, 7);
    VOLT_EXPECT_EQ_INT(r.rec.epochs, 2);
    VOLT_EXPECT_EQ_INT(r.rec.epoch_at_fit_end, 1);
    VOLT_EXPECT_STR_CONTAINS(r.stop_reason, "max_steps=7");
    /* max_epochs first */
    r = run_fit(&dir, SETTINGS("trainer.max_epochs=2", "trainer.max_steps=100"), NULL);
    VOLT_EXPECT_EQ_INT(r.rec.global_step_at_fit_end, 10);
    VOLT_EXPECT_STR_CONTAINS(r.stop_reason, "max_epochs=2");
    /* max_steps alone: max_epochs unset means no epoch limit (not 1000, not 1) */
    r = run_fit(&dir, SETTINGS("trainer.max_epochs=@unset", "trainer.max_steps=12"), NULL);
    VOLT_EXPECT_EQ_INT(r.rec.global_step_at_fit_end, 12);
    VOLT_EXPECT_EQ_INT(r.rec.epochs, 3);
    /* max_epochs 0: no training at all */
    r = run_fit(&dir, SETTINGS("trainer.max_epochs=0"), NULL);
    VOLT_EXPECT_OK(r.fit_status);
    VOLT_EXPECT_EQ_INT(r.rec.batch_ends, 0);
    temp_dir_remove(&dir);
}

/* No training batches (limit_train_batches=0) skip training, as Lightning's fit does: no
 * epoch runs, whatever max_epochs (unset: 1000) says, and max_steps, which no step could
 * reach, does not keep the loop going (max_time only guards the test against a hang). */
VOLT_TEST(no_training_batches_skip_training) {
    behaviour_reset();
    temp_dir dir = standard_dir();
    run_result r =
        run_fit(&dir, SETTINGS("trainer.max_epochs=@unset", "trainer.limit_train_batches=0"), NULL);
    VOLT_EXPECT_OK(r.fit_status);
    VOLT_EXPECT_EQ_INT(r.rec.epoch_starts, 0);
    VOLT_EXPECT_EQ_INT(r.rec.validations, 0);
    r = run_fit(&dir,
                SETTINGS("trainer.max_epochs=@unset", "trainer.max_steps=5",
                         "trainer.max_time=00:00:00:02", "trainer.limit_train_batches=0"),
                NULL);
    VOLT_EXPECT_OK(r.fit_status);
    VOLT_EXPECT_EQ_INT(r.rec.epoch_starts, 0);
    temp_dir_remove(&dir);
}

/* ---- hooks and callbacks
 * -------------------------------------------------------------------------- */

/* Lightning's order for 2 epochs of 3 batches, 2 validation batches and a sanity check of
 * 1 batch: callbacks before the module in every hook, validation before the epoch's end. */
#define BATCH(b)                                                                                   \
    "train" #b " cb.before_backward m.before_backward cb.after_backward m.after_backward "         \
    "cb.before_optimizer_step m.before_optimizer_step cb.train_batch_end" #b " "
#define EPOCH                                                                                      \
    "cb.train_epoch_start m.train_epoch_start " BATCH(0) BATCH(1) BATCH(                           \
        2) "cb.val_epoch_start m.val_epoch_start val0 val1 cb.val_epoch_end m.val_epoch_end "      \
           "cb.train_epoch_end m.train_epoch_end "

VOLT_TEST(hooks_and_callbacks_run_in_lightnings_order) {
    behaviour_reset();
    temp_dir dir = temp_dir_create();
    write_dataset(dir.data, 12, 8, 0, 0);
    behaviour.tracing = 1;
    run_result r =
        run_fit(&dir, SETTINGS("trainer.max_epochs=2", "trainer.num_sanity_val_steps=1"), NULL);
    VOLT_EXPECT_OK(r.fit_status);
    const char *expected = "cb.fit_start m.fit_start "
                           "cb.val_epoch_start m.val_epoch_start val0 cb.val_epoch_end "
                           "m.val_epoch_end " EPOCH EPOCH "cb.fit_end m.fit_end ";
    if (strcmp(behaviour.trace, expected) != 0)
        volt_test_fail(__FILE__, __LINE__, "hook order\n  got:      %s\n  expected: %s",
                       behaviour.trace, expected);
    /* training on gradients in training mode, evaluation without either */
    VOLT_EXPECT_EQ_INT(behaviour.train_steps_without_grad, 0);
    VOLT_EXPECT_EQ_INT(behaviour.eval_steps_with_grad, 0);
    VOLT_EXPECT_EQ_INT(behaviour.validation_steps, 5);
    temp_dir_remove(&dir);
}

/* ---- early stopping -----------------------------------------------------------------------------
 */

VOLT_TEST(early_stopping_patience) {
    behaviour_reset();
    behaviour.log_constant = 1;
    temp_dir dir = standard_dir();
    /* val/const never improves after its first value: stop after 1 + patience validations */
    run_result r = run_fit(&dir,
                           SETTINGS("trainer.max_epochs=10", "callbacks.0.name=EarlyStopping",
                                    "callbacks.0.monitor=val/const", "callbacks.0.patience=2"),
                           NULL);
    VOLT_EXPECT_OK(r.fit_status);
    VOLT_EXPECT_EQ_INT(r.rec.epochs, 3);
    VOLT_EXPECT_STR_CONTAINS(r.stop_reason, "val/const did not improve");
    VOLT_EXPECT_STR_CONTAINS(r.stop_reason, "patience 2");
    /* a decreasing loss with min_delta 0 keeps improving: all 4 epochs run */
    r = run_fit(&dir,
                SETTINGS("trainer.max_epochs=4", "callbacks.0.name=EarlyStopping",
                         "callbacks.0.monitor=val/loss", "callbacks.0.patience=1"),
                NULL);
    VOLT_EXPECT_EQ_INT(r.rec.epochs, 4);
    VOLT_EXPECT_STR_CONTAINS(r.stop_reason, "max_epochs=4");
    /* ... unless min_delta asks for more than it improves by */
    r = run_fit(&dir,
                SETTINGS("trainer.max_epochs=4", "callbacks.0.name=EarlyStopping",
                         "callbacks.0.monitor=val/loss", "callbacks.0.patience=1",
                         "callbacks.0.min_delta=10"),
                NULL);
    VOLT_EXPECT_EQ_INT(r.rec.epochs, 2);
    /* mode max: accuracy is bounded by 1, val/const never rises */
    r = run_fit(&dir,
                SETTINGS("trainer.max_epochs=10", "callbacks.0.name=EarlyStopping",
                         "callbacks.0.monitor=val/const", "callbacks.0.mode=max",
                         "callbacks.0.patience=1"),
                NULL);
    VOLT_EXPECT_EQ_INT(r.rec.epochs, 2);
    temp_dir_remove(&dir);
}

VOLT_TEST(early_stopping_thresholds_and_non_finite) {
    behaviour_reset();
    behaviour.log_nan = 1;
    temp_dir dir = standard_dir();
    /* cross-entropy of 2 classes starts near log 2 = 0.69: below 100 at once */
    run_result r =
        run_fit(&dir,
                SETTINGS("trainer.max_epochs=10", "callbacks.0.name=EarlyStopping",
                         "callbacks.0.monitor=val/loss", "callbacks.0.stopping_threshold=100"),
                NULL);
    VOLT_EXPECT_OK(r.fit_status);
    VOLT_EXPECT_EQ_INT(r.rec.epochs, 1);
    VOLT_EXPECT_STR_CONTAINS(r.stop_reason, "stopping_threshold");
    /* ... and above 0.01 at once: diverged */
    r = run_fit(&dir,
                SETTINGS("trainer.max_epochs=10", "callbacks.0.name=EarlyStopping",
                         "callbacks.0.monitor=val/loss", "callbacks.0.divergence_threshold=0.01"),
                NULL);
    VOLT_EXPECT_EQ_INT(r.rec.epochs, 1);
    VOLT_EXPECT_STR_CONTAINS(r.stop_reason, "divergence_threshold");
    /* a NaN monitor stops with check_finite (the default) ... */
    r = run_fit(&dir,
                SETTINGS("trainer.max_epochs=10", "callbacks.0.name=EarlyStopping",
                         "callbacks.0.monitor=val/nan", "callbacks.0.patience=5"),
                NULL);
    VOLT_EXPECT_EQ_INT(r.rec.epochs, 1);
    VOLT_EXPECT_STR_CONTAINS(r.stop_reason, "not finite");
    /* ... and without it counts as no improvement */
    r = run_fit(&dir,
                SETTINGS("trainer.max_epochs=10", "callbacks.0.name=EarlyStopping",
                         "callbacks.0.monitor=val/nan", "callbacks.0.patience=2",
                         "callbacks.0.check_finite=false"),
                NULL);
    VOLT_EXPECT_EQ_INT(r.rec.epochs, 2);
    VOLT_EXPECT_STR_CONTAINS(r.stop_reason, "did not improve");
    temp_dir_remove(&dir);
}

/* A stop request waits for min_epochs. */
VOLT_TEST(min_epochs_overrides_an_early_stop) {
    behaviour_reset();
    behaviour.log_constant = 1;
    temp_dir dir = standard_dir();
    run_result r = run_fit(&dir,
                           SETTINGS("trainer.max_epochs=10", "callbacks.0.name=EarlyStopping",
                                    "callbacks.0.monitor=val/const", "callbacks.0.patience=1"),
                           NULL);
    VOLT_EXPECT_EQ_INT(r.rec.epochs, 2);
    r = run_fit(&dir,
                SETTINGS("trainer.max_epochs=10", "trainer.min_epochs=4",
                         "callbacks.0.name=EarlyStopping", "callbacks.0.monitor=val/const",
                         "callbacks.0.patience=1"),
                NULL);
    VOLT_EXPECT_OK(r.fit_status);
    VOLT_EXPECT_EQ_INT(r.rec.epochs, 4);
    VOLT_EXPECT_STR_CONTAINS(r.stop_reason, "did not improve");
    temp_dir_remove(&dir);
}

/* Lightning's "Early stopping conditioned on metric ... which is not available". */
VOLT_TEST(monitor_never_logged_names_the_logged_metrics) {
    behaviour_reset();
    temp_dir dir = standard_dir();
    run_result r = run_fit(&dir,
                           SETTINGS("trainer.max_epochs=3", "callbacks.0.name=EarlyStopping",
                                    "callbacks.0.monitor=val/los"),
                           NULL);
    VOLT_EXPECT_EQ_INT(r.fit_status, VOLT_ERR_CONFIG);
    VOLT_EXPECT_STR_CONTAINS(r.errors, "callbacks.0.monitor = 'val/los' was never logged");
    VOLT_EXPECT_STR_CONTAINS(r.errors, "val/acc, val/loss");
    VOLT_EXPECT_EQ_INT(r.rec.validations, 1); /* found after the first validation */
    temp_dir_remove(&dir);
}

/* ---- metrics.csv
 * ------------------------------------------------------------------------------------ */

/* 10 training and 10 validation samples in batches of 4, 4, 2: the module logs each
 * batch's index, so the epoch means weighted by batch size are (0*4 + 1*4 + 2*2) / 10 = 0.8
 * (an unweighted mean would be 1). */
VOLT_TEST(metrics_csv_rows_and_weighted_epoch_means) {
    behaviour_reset();
    behaviour.quiet = 1;
    behaviour.log_batch_index = 1;
    temp_dir dir = temp_dir_create();
    write_dataset(dir.data, 10, 10, 0, 0);
    run_result r = run_fit(&dir, SETTINGS("trainer.log_every_n_steps=1"), NULL);
    VOLT_EXPECT_OK(r.fit_status);
    char path[600], text[TEXT_BYTES];
    snprintf(path, sizeof path, "%s/metrics.csv", r.log_dir);
    read_text(path, text, sizeof text);
    const char *expected = "step,epoch,train/idx_epoch,train/idx_step,val/idx\n"
                           "0,0,,0,\n"
                           "1,0,,1,\n"
                           "2,0,,2,\n"
                           "2,0,,,0.8\n"
                           "2,0,0.8,,\n";
    if (strcmp(text, expected) != 0)
        volt_test_fail(__FILE__, __LINE__, "metrics.csv\n--- got:\n%s--- expected:\n%s", text,
                       expected);
    /* every 2 steps over 2 epochs of 3 steps: rows after the 2nd, 4th and 6th steps
     * (0-based steps 1, 3, 5), 2 validation rows and 2 epoch rows, after the header */
    r = run_fit(&dir, SETTINGS("trainer.max_epochs=2", "trainer.log_every_n_steps=2"), NULL);
    snprintf(path, sizeof path, "%s/metrics.csv", r.log_dir);
    read_text(path, text, sizeof text);
    VOLT_EXPECT_EQ_INT(count_lines(text), 8);
    VOLT_EXPECT_STR_CONTAINS(text, "\n1,0,,1,\n");
    VOLT_EXPECT_STR_CONTAINS(text, "\n3,1,,0,\n");
    VOLT_EXPECT_STR_CONTAINS(text, "\n5,1,,2,\n5,1,,,0.8\n5,1,0.8,,\n");
    temp_dir_remove(&dir);
}

/* The cosine schedule with total_steps 0 spans the run (2 epochs of 5 steps = 10), and
 * LearningRateMonitor logs the rate each step under lr-<optimizer>. */
VOLT_TEST(cosine_schedule_spans_the_run_and_lr_is_logged) {
    behaviour_reset();
    temp_dir dir = standard_dir();
    run_result r = run_fit(&dir,
                           SETTINGS("trainer.max_epochs=2", "trainer.log_every_n_steps=1",
                                    "lr_scheduler.name=cosine", "lr_scheduler.min_lr=0.01",
                                    "callbacks.0.name=LearningRateMonitor"),
                           NULL);
    VOLT_EXPECT_OK(r.fit_status);
    volt_lr_schedule cosine = {
        .kind = VOLT_LR_COSINE, .base_lr = 0.1, .total_steps = 10, .min_lr = 0.01};
    VOLT_EXPECT_NEAR(r.rec.lr_at_fit_end, volt_lr_at(&cosine, 9), 1e-12);
    char path[600], text[TEXT_BYTES], expected_row[128];
    snprintf(path, sizeof path, "%s/metrics.csv", r.log_dir);
    read_text(path, text, sizeof text);
    VOLT_EXPECT_STR_CONTAINS(text, "step,epoch,lr-sgd,train/loss,val/acc,val/loss\n");
    snprintf(expected_row, sizeof expected_row, "\n9,1,%.9g,", volt_lr_at(&cosine, 9));
    VOLT_EXPECT_STR_CONTAINS(text, expected_row);
    /* without max_steps or max_epochs the run has no length to span */
    r = run_fit(&dir, SETTINGS("trainer.max_epochs=-1", "lr_scheduler.name=cosine"), NULL);
    VOLT_EXPECT_EQ_INT(r.fit_status, VOLT_ERR_CONFIG);
    VOLT_EXPECT_STR_CONTAINS(r.errors, "lr_scheduler.total_steps");
    temp_dir_remove(&dir);
}

VOLT_TEST(configure_optimizers_and_a_per_epoch_schedule) {
    behaviour_reset();
    volt_module_ops ops = with_configure_optimizers();
    behaviour.ops = &ops;
    temp_dir dir = standard_dir();
    run_result r = run_fit(&dir,
                           SETTINGS("trainer.max_epochs=3", "trainer.log_every_n_steps=1",
                                    "callbacks.0.name=LearningRateMonitor",
                                    "callbacks.0.logging_interval=epoch"),
                           NULL);
    VOLT_EXPECT_OK(r.fit_status);
    VOLT_EXPECT_NEAR(r.rec.lr_at_fit_end, 0.05 * 0.5 * 0.5, 1e-15);
    char path[600], text[TEXT_BYTES];
    snprintf(path, sizeof path, "%s/metrics.csv", r.log_dir);
    read_text(path, text, sizeof text);
    /* the epoch rows carry the rate of each epoch: 0.05, 0.025, 0.0125 */
    VOLT_EXPECT_STR_CONTAINS(text, "step,epoch,lr-adam,train/loss,val/acc,val/loss\n");
    VOLT_EXPECT_STR_CONTAINS(text, "\n4,0,0.05,,,\n");
    VOLT_EXPECT_STR_CONTAINS(text, "\n9,1,0.025,,,\n");
    VOLT_EXPECT_STR_CONTAINS(text, "\n14,2,0.0125,,,\n");
    temp_dir_remove(&dir);
}

/* Clipping bounds one SGD step (lr 0.1) from the initial parameters: by value, each
 * element moves at most 0.1 * 0.001; by norm, the whole step has length 0.1 * 0.001. */
VOLT_TEST(gradient_clipping_by_value_and_norm) {
    behaviour_reset();
    temp_dir dir = standard_dir();
    run_result initial = run_fit(&dir, SETTINGS("trainer.max_epochs=0"), NULL);
    run_result by_value =
        run_fit(&dir,
                SETTINGS("trainer.limit_train_batches=1", "trainer.gradient_clip_val=0.001",
                         "trainer.gradient_clip_algorithm=value"),
                NULL);
    run_result by_norm = run_fit(
        &dir, SETTINGS("trainer.limit_train_batches=1", "trainer.gradient_clip_val=0.001"), NULL);
    run_result free_step = run_fit(&dir, SETTINGS("trainer.limit_train_batches=1"), NULL);
    double largest_move = 0, norm = 0, free_norm = 0;
    for (size_t i = 0; i < initial.param_count; i++) {
        largest_move = fmax(largest_move, fabs((double)by_value.params[i] - initial.params[i]));
        double d = (double)by_norm.params[i] - initial.params[i];
        double f = (double)free_step.params[i] - initial.params[i];
        norm += d * d;
        free_norm += f * f;
    }
    VOLT_EXPECT_NEAR(largest_move, 1e-4, 1e-7); /* some gradient exceeded 0.001 */
    VOLT_EXPECT_NEAR(sqrt(norm), 1e-4, 1e-6);
    VOLT_EXPECT(sqrt(free_norm) > 1e-3); /* unclipped, the step is far longer */
    temp_dir_remove(&dir);
}

VOLT_TEST(max_time_stops_the_run) {
    behaviour_reset();
    behaviour.quiet = 1;
    temp_dir dir = standard_dir();
    run_result r =
        run_fit(&dir,
                SETTINGS("trainer.max_epochs=-1", "trainer.max_time=00:00:00:01",
                         "trainer.limit_val_batches=0", "trainer.log_every_n_steps=100000"),
                NULL);
    VOLT_EXPECT_OK(r.fit_status);
    VOLT_EXPECT_STR_CONTAINS(r.stop_reason, "max_time=00:00:00:01");
    VOLT_EXPECT(r.rec.epochs > 1);
    temp_dir_remove(&dir);
}

/* ---- the run folder
 * ------------------------------------------------------------------------------- */

static void write_yaml_text(const volt_config *config, char *text, size_t size) {
    char *buffer = NULL;
    size_t length = 0;
    FILE *stream = open_memstream(&buffer, &length);
    text[0] = '\0';
    if (!stream) return;
    VOLT_EXPECT_OK(volt_config_write_yaml(config, stream));
    fclose(stream);
    snprintf(text, size, "%s", buffer ? buffer : "");
    free(buffer);
}

VOLT_TEST(config_yaml_loads_back_into_the_same_configuration) {
    behaviour_reset();
    temp_dir dir = standard_dir();
    const char *const *settings =
        SETTINGS("trainer.limit_train_batches=0.6", "trainer.max_time=00:01:00:00",
                 "trainer.name=", "callbacks.0.name=EarlyStopping", "callbacks.0.monitor=val/loss",
                 "callbacks.1.name=LearningRateMonitor", "callbacks.1.logging_interval=epoch",
                 "optimizer.weight_decay=0.5");
    run_result r = run_fit(&dir, settings, NULL);
    VOLT_EXPECT_OK(r.fit_status);
    char path[600];
    snprintf(path, sizeof path, "%s/config.yaml", r.log_dir);
    VOLT_EXPECT(file_exists(path));

    /* the configuration of the run, rebuilt as run_fit built it */
    char root[128], data[160];
    snprintf(root, sizeof root, "trainer.default_root_dir=%s/runs", dir.path);
    snprintf(data, sizeof data, "data.path=%s", dir.data);
    const char *defaults[] = {root,
                              data,
                              "trainer.enable_progress_bar=false",
                              "trainer.enable_model_summary=false",
                              "trainer.num_sanity_val_steps=0",
                              "trainer.max_epochs=1",
                              "data.batch_size=4",
                              "data.shuffle=false",
                              "optimizer.name=sgd",
                              "optimizer.lr=0.1",
                              NULL};
    volt_config *original = declared_config(), *loaded = declared_config();
    if (original && loaded) {
        VOLT_EXPECT_OK(apply_settings(original, defaults, settings));
        VOLT_EXPECT_OK(apply_settings(original, settings, NULL));
        VOLT_EXPECT_OK(volt_config_resolve(original));
        VOLT_EXPECT_OK(volt_config_load_file(loaded, path));
        VOLT_EXPECT_OK(volt_config_resolve(loaded));
        static char original_text[TEXT_BYTES], loaded_text[TEXT_BYTES];
        write_yaml_text(original, original_text, sizeof original_text);
        write_yaml_text(loaded, loaded_text, sizeof loaded_text);
        VOLT_EXPECT(strlen(original_text) > 100);
        if (strcmp(original_text, loaded_text) != 0)
            volt_test_fail(__FILE__, __LINE__, "config.yaml differs\n--- run:\n%s--- loaded:\n%s",
                           original_text, loaded_text);
        VOLT_EXPECT_STR_CONTAINS(loaded_text, "limit_train_batches: \"0.6\"");
        VOLT_EXPECT(
            strcmp(volt_config_string(loaded, "callbacks.1.logging_interval", ""), "epoch") == 0);
        /* a trainer made from the loaded file reads the same options */
        volt_trainer *trainer = NULL;
        VOLT_EXPECT_OK(volt_trainer_create(loaded, &trainer));
        volt_trainer_destroy(trainer);
    }
    volt_config_destroy(original);
    volt_config_destroy(loaded);
    temp_dir_remove(&dir);
}

VOLT_TEST(run_folder_versions_increment) {
    behaviour_reset();
    temp_dir dir = standard_dir();
    char expected[512];
    run_result r = run_fit(&dir, NULL, NULL);
    snprintf(expected, sizeof expected, "%s/runs/lin/version_0", dir.path);
    VOLT_EXPECT(strcmp(r.log_dir, expected) == 0);
    char listing[512];
    list_folder(r.log_dir, listing, sizeof listing);
    VOLT_EXPECT(strcmp(listing, "checkpoints config.yaml metrics.csv") == 0);
    r = run_fit(&dir, NULL, NULL);
    snprintf(expected, sizeof expected, "%s/runs/lin/version_1", dir.path);
    VOLT_EXPECT(strcmp(r.log_dir, expected) == 0);
    /* a gap: the next is one past the largest */
    snprintf(expected, sizeof expected, "%s/runs/lin/version_7", dir.path);
    VOLT_EXPECT(mkdir(expected, 0777) == 0);
    r = run_fit(&dir, NULL, NULL);
    snprintf(expected, sizeof expected, "%s/runs/lin/version_8", dir.path);
    VOLT_EXPECT(strcmp(r.log_dir, expected) == 0);
    /* another name, an explicit version */
    r = run_fit(&dir, SETTINGS("trainer.name=exp", "trainer.version=3"), NULL);
    snprintf(expected, sizeof expected, "%s/runs/exp/version_3", dir.path);
    VOLT_EXPECT(strcmp(r.log_dir, expected) == 0);
    temp_dir_remove(&dir);
}

/* fast_dev_run: one batch of each loop, one epoch, and no files but config.yaml. */
VOLT_TEST(fast_dev_run_runs_one_batch_and_writes_only_the_configuration) {
    behaviour_reset();
    temp_dir dir = standard_dir();
    /* with the progress bar and the model summary on, as a first try of a model would be */
    run_result r =
        run_fit(&dir,
                SETTINGS("trainer.max_epochs=@unset", "trainer.fast_dev_run=true",
                         "trainer.num_sanity_val_steps=@unset", "trainer.enable_progress_bar=true",
                         "trainer.enable_model_summary=true"),
                NULL);
    VOLT_EXPECT_OK(r.fit_status);
    VOLT_EXPECT_EQ_INT(r.rec.batch_ends, 1);
    VOLT_EXPECT_EQ_INT(r.rec.validations, 1);
    VOLT_EXPECT_EQ_INT(r.validation_steps, 1);
    char listing[512];
    list_folder(r.log_dir, listing, sizeof listing);
    VOLT_EXPECT(strcmp(listing, "config.yaml") == 0);
    r = run_fit(&dir, SETTINGS("trainer.fast_dev_run=3", "trainer.max_epochs=5"), NULL);
    VOLT_EXPECT_EQ_INT(r.rec.batch_ends, 3);
    VOLT_EXPECT_EQ_INT(r.rec.epochs, 1);
    temp_dir_remove(&dir);
}

/* test() and predict() after fit, on the same trainer and run folder. */
static void test_and_predict(volt_trainer *t, volt_module *m, volt_datamodule *dm, run_result *r) {
    (void)r;
    VOLT_EXPECT_OK(volt_trainer_test(t, m, dm));
    double accuracy = -1;
    VOLT_EXPECT(volt_metrics_latest(volt_trainer_metrics(t), "test/acc", &accuracy));
    VOLT_EXPECT(accuracy >= 0 && accuracy <= 1);
    VOLT_EXPECT_OK(volt_trainer_validate(t, m, dm));
    VOLT_EXPECT_OK(volt_trainer_predict(t, m, dm));
}

VOLT_TEST(test_and_predict_write_to_the_run_folder) {
    behaviour_reset();
    temp_dir dir = standard_dir();
    run_result r = run_fit(&dir, SETTINGS("trainer.max_epochs=3"), test_and_predict);
    VOLT_EXPECT_OK(r.fit_status);
    char path[600], text[TEXT_BYTES];
    snprintf(path, sizeof path, "%s/predictions.csv", r.log_dir);
    read_text(path, text, sizeof text);
    /* a header and one row per sample (5), each the 2 class probabilities */
    VOLT_EXPECT_EQ_INT(count_lines(text), 6);
    VOLT_EXPECT(strncmp(text, "output_0,output_1\n", 18) == 0);
    double p0 = 0, p1 = 0;
    VOLT_EXPECT(sscanf(text + 18, "%lf,%lf", &p0, &p1) == 2);
    VOLT_EXPECT_NEAR(p0 + p1, 1.0, 1e-6);
    snprintf(path, sizeof path, "%s/metrics.csv", r.log_dir);
    read_text(path, text, sizeof text);
    VOLT_EXPECT_STR_CONTAINS(text, "test/acc");
    temp_dir_remove(&dir);
}

/* A run in an existing version folder (trainer.version given) that fails before writing
 * metrics leaves none of the earlier run's metrics.csv or predictions.csv there: next to
 * the failed run's config.yaml they would pass for its results. Its checkpoints stay: a
 * job requeued into the same version resumes from them. */
VOLT_TEST(a_failed_run_in_a_reused_version_folder_keeps_no_earlier_results) {
    behaviour_reset();
    temp_dir dir = standard_dir();
    run_result r = run_fit(&dir, SETTINGS("trainer.version=3"), test_and_predict);
    VOLT_EXPECT_OK(r.fit_status);
    char listing[512];
    list_folder(r.log_dir, listing, sizeof listing);
    VOLT_EXPECT(strcmp(listing, "checkpoints config.yaml metrics.csv predictions.csv") == 0);
    behaviour.nan_loss_at_step = 0;
    r = run_fit(&dir, SETTINGS("trainer.version=3"), NULL);
    VOLT_EXPECT_EQ_INT(r.fit_status, VOLT_ERR_NUMERIC);
    list_folder(r.log_dir, listing, sizeof listing);
    if (strcmp(listing, "checkpoints config.yaml") != 0)
        volt_test_fail(__FILE__, __LINE__, "after the failed run, %s holds: %s", r.log_dir,
                       listing);
    temp_dir_remove(&dir);
}

/* ---- failures ----------------------------------------------------------------------------------
 */

VOLT_TEST(a_nan_loss_stops_the_run_naming_the_step) {
    behaviour_reset();
    behaviour.nan_loss_at_step = 3;
    temp_dir dir = standard_dir();
    run_result r = run_fit(&dir, SETTINGS("trainer.max_epochs=3"), NULL);
    VOLT_EXPECT_EQ_INT(r.fit_status, VOLT_ERR_NUMERIC);
    VOLT_EXPECT_STR_CONTAINS(r.errors, "training loss is nan at step 3 (epoch 0, batch 3)");
    VOLT_EXPECT_EQ_INT(r.rec.optimizer_steps, 3);
    temp_dir_remove(&dir);
}

/* Each bad option, alone or with the options it depends on: VOLT_ERR_CONFIG naming the key. */
VOLT_TEST(bad_trainer_options_name_their_key) {
    behaviour_reset();
    temp_dir dir = standard_dir();
    static const struct {
        const char *settings[4];
        const char *key;
    } cases[] = {
        {{"trainer.max_epochs=-2"}, "trainer.max_epochs"},
        {{"trainer.min_epochs=-1"}, "trainer.min_epochs"},
        {{"trainer.max_steps=-3"}, "trainer.max_steps"},
        {{"trainer.max_time=1:00"}, "trainer.max_time"},
        {{"trainer.max_time=00:24:00:00"}, "trainer.max_time"},
        {{"trainer.max_time=00:00:00:00"}, "trainer.max_time"},
        {{"trainer.limit_train_batches=1.5"}, "trainer.limit_train_batches"},
        {{"trainer.limit_train_batches=-1"}, "trainer.limit_train_batches"},
        {{"trainer.limit_val_batches=half"}, "trainer.limit_val_batches"},
        {{"trainer.limit_test_batches=2.0"}, "trainer.limit_test_batches"},
        {{"trainer.limit_predict_batches=-0.5"}, "trainer.limit_predict_batches"},
        {{"trainer.val_check_interval=0"}, "trainer.val_check_interval"},
        {{"trainer.val_check_interval=0.0"}, "trainer.val_check_interval"},
        {{"trainer.val_check_interval=1.5"}, "trainer.val_check_interval"},
        {{"trainer.check_val_every_n_epoch=0"}, "trainer.check_val_every_n_epoch"},
        {{"trainer.num_sanity_val_steps=-2"}, "trainer.num_sanity_val_steps"},
        {{"trainer.accumulate_grad_batches=0"}, "trainer.accumulate_grad_batches"},
        {{"trainer.gradient_clip_val=-1"}, "trainer.gradient_clip_val"},
        {{"trainer.gradient_clip_algorithm=l2"}, "trainer.gradient_clip_algorithm"},
        {{"trainer.seed=-1"}, "trainer.seed"},
        {{"trainer.fast_dev_run=maybe"}, "trainer.fast_dev_run"},
        {{"trainer.fast_dev_run=-1"}, "trainer.fast_dev_run"},
        {{"trainer.fast_dev_run=true", "trainer.limit_train_batches=5"},
         "trainer.limit_train_batches"},
        {{"trainer.fast_dev_run=2", "trainer.limit_val_batches=0.5"}, "trainer.limit_val_batches"},
        {{"trainer.fast_dev_run=2", "trainer.max_steps=10"}, "trainer.max_steps"},
        {{"trainer.log_every_n_steps=0"}, "trainer.log_every_n_steps"},
        {{"trainer.default_root_dir="}, "trainer.default_root_dir"},
        {{"trainer.name=a/b"}, "trainer.name"},
        {{"trainer.version=-2"}, "trainer.version"},
        {{"trainer.precision=fp8"}, "trainer.precision"},
        {{"optimizer.name=rmsprop"}, "optimizer.name"},
        {{"optimizer.lr=-0.1"}, "optimizer.lr"},
        {{"optimizer.weight_decay=-0.1"}, "optimizer.weight_decay"},
        {{"optimizer.momentum=1.5"}, "optimizer.momentum"},
        {{"optimizer.nesterov=true"}, "optimizer.nesterov"},
        {{"optimizer.beta1=1"}, "optimizer.beta1"},
        {{"optimizer.beta2=-0.5"}, "optimizer.beta2"},
        {{"optimizer.eps=0"}, "optimizer.eps"},
        {{"lr_scheduler.name=exponential"}, "lr_scheduler.name"},
        {{"lr_scheduler.interval=batch"}, "lr_scheduler.interval"},
        {{"lr_scheduler.name=step", "lr_scheduler.step_size=0"}, "lr_scheduler.step_size"},
        {{"lr_scheduler.name=step", "lr_scheduler.gamma=0"}, "lr_scheduler.gamma"},
        {{"lr_scheduler.name=linear_warmup", "lr_scheduler.warmup_steps=-1"},
         "lr_scheduler.warmup_steps"},
        {{"lr_scheduler.name=cosine", "lr_scheduler.total_steps=-1"}, "lr_scheduler.total_steps"},
        {{"lr_scheduler.name=cosine", "lr_scheduler.min_lr=1"}, "lr_scheduler.min_lr"},
        {{"callbacks.0.name=Bogus"}, "callbacks.0.name"},
        {{"callbacks.0.monitor=val/loss"}, "callbacks.0.name"},
        {{"callbacks.0.name=EarlyStopping"}, "callbacks.0.monitor"},
        {{"callbacks.0.name=EarlyStopping", "callbacks.0.monitor=val/loss",
          "callbacks.0.mode=median"},
         "callbacks.0.mode"},
        {{"callbacks.0.name=EarlyStopping", "callbacks.0.monitor=val/loss",
          "callbacks.0.patience=-1"},
         "callbacks.0.patience"},
        {{"callbacks.0.name=ModelSummary", "callbacks.1.name=EarlyStopping",
          "callbacks.1.monitor=val/loss", "callbacks.1.max_depth=2"},
         "callbacks.1.max_depth"},
        {{"callbacks.0.name=LearningRateMonitor", "callbacks.0.logging_interval=hour"},
         "callbacks.0.logging_interval"},
        {{"callbacks.0.name=LearningRateMonitor", "callbacks.0.patience=2"},
         "callbacks.0.patience"},
        {{"callbacks.0.name=ModelSummary", "callbacks.0.max_depth=-5"}, "callbacks.0.max_depth"},
        /* distributed keys: checked in a one-process run too */
        {{"trainer.strategy=fsdp"}, "trainer.strategy"},
        {{"strategy.bucket_mb=0"}, "strategy.bucket_mb"},
        {{"trainer.layout=dp=2"}, "dp=2"},
        {{"trainer.layout=pp=1"}, "pp"},
        /* a list numbered with a gap (or from 1) would drop its later items unseen */
        {{"callbacks.1.name=EarlyStopping", "callbacks.1.monitor=val/loss"}, "callbacks.1"},
        {{"callbacks.0.name=ModelSummary", "callbacks.2.name=EarlyStopping",
          "callbacks.2.monitor=val/loss"},
         "callbacks.2"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *settings[5] = {cases[i].settings[0], cases[i].settings[1], cases[i].settings[2],
                                   cases[i].settings[3], NULL};
        run_result r = run_fit(&dir, settings, NULL);
        if (r.config_status != VOLT_OK || r.create_status != VOLT_ERR_CONFIG ||
            !strstr(r.errors, cases[i].key))
            volt_test_fail(__FILE__, __LINE__,
                           "%s: config %s, create %s (expected VOLT_ERR_CONFIG naming %s):\n%s",
                           cases[i].settings[0], volt_status_name(r.config_status),
                           volt_status_name(r.create_status), cases[i].key, r.errors);
    }
    /* a precision Lightning has but Volt refuses: 16-bit parameters */
    run_result r = run_fit(&dir, SETTINGS("trainer.precision=bf16-true"), NULL);
    VOLT_EXPECT_EQ_INT(r.create_status, VOLT_ERR_UNSUPPORTED);
    VOLT_EXPECT_STR_CONTAINS(r.errors, "trainer.precision");
    VOLT_EXPECT_STR_CONTAINS(r.errors, "16-mixed or bf16-mixed");
    /* and good values of the same keys pass */
    r = run_fit(&dir,
                SETTINGS("trainer.max_time=00:00:10:00", "trainer.precision=32-true",
                         "trainer.gradient_clip_val=0.5"),
                NULL);
    VOLT_EXPECT_OK(r.create_status);
    VOLT_EXPECT_OK(r.fit_status);
    temp_dir_remove(&dir);
}

/* volt_log outside a loop, and with a tensor that is not one number. */
VOLT_TEST(volt_log_needs_a_trainer_and_a_scalar) {
    behaviour_reset();
    volt_module *m = NULL;
    VOLT_EXPECT_OK(volt_module_create(&linear_classifier_ops, NULL, 1, &m));
    if (!m) return;
    VOLT_EXPECT_FAIL(volt_log_value(m, "x", 1.0, 0), VOLT_ERR_ARG);
    volt_tensor matrix;
    float values[4] = {1, 2, 3, 4};
    VOLT_EXPECT_OK(volt_tensor_wrap(&matrix, values, VOLT_F32, 2, (const long[]){2, 2}));
    VOLT_EXPECT_FAIL(volt_log(m, "x", &matrix, 0), VOLT_ERR_SHAPE);
    /* accuracy: rows 0 and 2 right, row 1 wrong */
    float logits[6] = {2, 1, 0, 3, 5, 4};
    int64_t targets[3] = {0, 0, 0};
    volt_tensor l, t;
    VOLT_EXPECT_OK(volt_tensor_wrap(&l, logits, VOLT_F32, 2, (const long[]){3, 2}));
    VOLT_EXPECT_OK(volt_tensor_wrap(&t, targets, VOLT_I64, 1, (const long[]){3}));
    VOLT_EXPECT_NEAR(volt_accuracy(&l, &t), 2.0 / 3.0, 1e-12);
    volt_module_destroy(m);
}

/* ---- ModelCheckpoint ------------------------------------------------------------------------- */

/* The kept files of a ModelCheckpoint whose filename is "<tag>{...}-{val/loss:.6f}": the
 * scores in their names, sorted; returns how many (last.h5 excluded). */
static int kept_scores(const char *folder, double *scores, int capacity) {
    DIR *listing = opendir(folder);
    int count = 0;
    if (!listing) return 0;
    struct dirent *entry;
    while ((entry = readdir(listing)) && count < capacity) {
        const char *dash = strrchr(entry->d_name, '-');
        if (entry->d_name[0] == '.' || strcmp(entry->d_name, "last.h5") == 0 || !dash) continue;
        scores[count++] = strtod(dash + 1, NULL);
    }
    closedir(listing);
    for (int i = 1; i < count; i++) /* insertion sort */
        for (int j = i; j > 0 && scores[j] < scores[j - 1]; j--) {
            double x = scores[j];
            scores[j] = scores[j - 1];
            scores[j - 1] = x;
        }
    return count;
}

/* save_top_k keeps the k best by the monitor: the same run keeping every file shows
 * which those are. last.h5 holds the final state. */
VOLT_TEST(model_checkpoint_keeps_the_top_k_by_its_monitor) {
    behaviour_reset();
    temp_dir dir = standard_dir();
    char all_dir[300], top_dir[300], dirpath[320];
    snprintf(all_dir, sizeof all_dir, "%s/all", dir.path);
    snprintf(top_dir, sizeof top_dir, "%s/top", dir.path);
    snprintf(dirpath, sizeof dirpath, "callbacks.0.dirpath=%s", all_dir);
    run_result all = run_fit(&dir,
                             SETTINGS("trainer.max_epochs=8", "optimizer.lr=0.5",
                                      "callbacks.0.name=ModelCheckpoint", dirpath,
                                      "callbacks.0.monitor=val/loss", "callbacks.0.save_top_k=-1",
                                      "callbacks.0.filename=e{epoch}-{val/loss:.6f}"),
                             NULL);
    VOLT_EXPECT_OK(all.fit_status);
    snprintf(dirpath, sizeof dirpath, "callbacks.0.dirpath=%s", top_dir);
    run_result top = run_fit(&dir,
                             SETTINGS("trainer.max_epochs=8", "optimizer.lr=0.5",
                                      "callbacks.0.name=ModelCheckpoint", dirpath,
                                      "callbacks.0.monitor=val/loss", "callbacks.0.save_top_k=3",
                                      "callbacks.0.filename=e{epoch}-{val/loss:.6f}"),
                             NULL);
    VOLT_EXPECT_OK(top.fit_status);
    double every[16], kept[16];
    int n_all = kept_scores(all_dir, every, 16), n_top = kept_scores(top_dir, kept, 16);
    VOLT_EXPECT_EQ_INT(n_all, 8);
    VOLT_EXPECT_EQ_INT(n_top, 3);
    for (int i = 0; i < n_top && i < n_all; i++) VOLT_EXPECT(kept[i] == every[i]);
    VOLT_EXPECT(every[0] < every[n_all - 1]); /* the scores differ: the test can tell */

    /* last.h5 is the final state; best_model_path names the lowest score */
    char last[400];
    snprintf(last, sizeof last, "%s/last.h5", top_dir);
    volt_ckpt *ckpt;
    VOLT_EXPECT_OK(volt_ckpt_open(NULL, last, &ckpt));
    if (ckpt) {
        long step = 0;
        double best = 0;
        char *best_path = NULL;
        VOLT_EXPECT_OK(volt_ckpt_get_long(ckpt, "meta", "global_step", &step));
        VOLT_EXPECT_EQ_INT(step, 8 * 5);
        VOLT_EXPECT_OK(volt_ckpt_get_double(ckpt, "meta/callbacks/ModelCheckpoint",
                                            "best_model_score", &best));
        VOLT_EXPECT_NEAR(best, every[0], 1e-6);
        VOLT_EXPECT_OK(volt_ckpt_get_string(ckpt, "meta/callbacks/ModelCheckpoint",
                                            "best_model_path", &best_path));
        char expected[32];
        snprintf(expected, sizeof expected, "-%.6f.h5", every[0]);
        VOLT_EXPECT_STR_CONTAINS(best_path ? best_path : "", expected);
        free(best_path);
        volt_ckpt_close(ckpt);
    }
    temp_dir_remove(&dir);
}

/* A step-triggered save at a batch that a validation follows waits for it: the file's
 * score is that validation's. Without a monitor, save_top_k 1 keeps only the latest. */
VOLT_TEST(model_checkpoint_step_saves_rank_by_the_same_steps_validation) {
    behaviour_reset();
    temp_dir dir = standard_dir();
    run_result r = run_fit(
        &dir,
        SETTINGS("trainer.max_epochs=2", "optimizer.lr=0.5", "trainer.val_check_interval=2",
                 "data.batch_size=5", /* validations at even steps */
                 "trainer.log_every_n_steps=1", "callbacks.0.name=ModelCheckpoint",
                 "callbacks.0.monitor=val/loss", "callbacks.0.every_n_train_steps=2",
                 "callbacks.0.save_top_k=-1", "callbacks.0.filename=s{step}-{val/loss:.6f}"),
        NULL);
    VOLT_EXPECT_OK(r.fit_status);
    /* metrics.csv: the val/loss of each validation, by its step column */
    char path[600], line[512];
    snprintf(path, sizeof path, "%s/metrics.csv", r.log_dir);
    FILE *csv = fopen(path, "r");
    int column = -1, found = 0, matched = 0;
    if (csv && fgets(line, sizeof line, csv)) {
        int c = 0;
        for (char *field = strtok(line, ",\n"); field; field = strtok(NULL, ",\n"), c++)
            if (strcmp(field, "val/loss") == 0) column = c;
    }
    VOLT_EXPECT(column > 0);
    while (csv && column > 0 && fgets(line, sizeof line, csv)) {
        /* split keeping empty fields */
        char *fields[16];
        int count = 0;
        char *p = line;
        fields[count++] = p;
        for (; *p && count < 16; p++)
            if (*p == ',') {
                *p = '\0';
                fields[count++] = p + 1;
            }
        if (column >= count || fields[column][0] == '\0' || fields[column][0] == '\n') continue;
        long row_step = strtol(fields[0], NULL, 10); /* the step index: steps done - 1 */
        double value = strtod(fields[column], NULL);
        found++;
        char file[700];
        snprintf(file, sizeof file, "%s/checkpoints/s%ld-%.6f.h5", r.log_dir, row_step + 1, value);
        if (access(file, F_OK) == 0)
            matched++;
        else
            volt_test_fail(__FILE__, __LINE__, "no checkpoint %s for the validation at step %ld",
                           file, row_step + 1);
    }
    if (csv) fclose(csv);
    VOLT_EXPECT(found >= 4);
    VOLT_EXPECT_EQ_INT(matched, found);
    temp_dir_remove(&dir);
}

VOLT_TEST(model_checkpoint_rejects_bad_options) {
    behaviour_reset();
    temp_dir dir = standard_dir();
    run_result r = run_fit(
        &dir, SETTINGS("callbacks.0.name=ModelCheckpoint", "callbacks.0.save_top_k=2"), NULL);
    VOLT_EXPECT_EQ_INT(r.create_status, VOLT_ERR_CONFIG);
    VOLT_EXPECT_STR_CONTAINS(r.errors, "callbacks.0.save_top_k = 2 needs a monitor");
    r = run_fit(&dir, SETTINGS("callbacks.0.name=ModelCheckpoint", "callbacks.0.filename=a/b"),
                NULL);
    VOLT_EXPECT_EQ_INT(r.create_status, VOLT_ERR_CONFIG);
    VOLT_EXPECT_STR_CONTAINS(r.errors, "callbacks.0.filename = 'a/b': a file name");
    r = run_fit(&dir, SETTINGS("callbacks.0.name=ModelCheckpoint", "callbacks.0.filename={nope}"),
                NULL);
    VOLT_EXPECT_EQ_INT(r.fit_status, VOLT_ERR_CONFIG);
    VOLT_EXPECT_STR_CONTAINS(r.errors, "{nope} is neither epoch, step nor a logged metric");
    r = run_fit(&dir, SETTINGS("callbacks.0.name=EarlyStopping", "callbacks.0.save_last=true"),
                NULL);
    VOLT_EXPECT_EQ_INT(r.create_status, VOLT_ERR_CONFIG);
    VOLT_EXPECT_STR_CONTAINS(r.errors, "EarlyStopping has no option save_last");
    temp_dir_remove(&dir);
}

/* ModelCheckpoint runs after the other callbacks (as in Lightning) whatever the list's
 * order: the EarlyStopping state it saves after a validation is that validation's. */
VOLT_TEST(model_checkpoint_saves_the_other_callbacks_updated_states) {
    behaviour_reset();
    temp_dir dir = standard_dir();
    run_result r =
        run_fit(&dir,
                SETTINGS("trainer.max_epochs=2", "callbacks.0.name=ModelCheckpoint",
                         "callbacks.0.every_n_train_steps=5", "callbacks.0.save_top_k=-1",
                         "callbacks.1.name=EarlyStopping", "callbacks.1.monitor=val/loss"),
                NULL);
    VOLT_EXPECT_OK(r.fit_status);
    char path[700];
    snprintf(path, sizeof path, "%s/checkpoints/epoch=0-step=5.h5", r.log_dir);
    volt_ckpt *ckpt;
    VOLT_EXPECT_OK(volt_ckpt_open(NULL, path, &ckpt));
    if (ckpt) {
        double best = INFINITY;
        VOLT_EXPECT_OK(
            volt_ckpt_get_double(ckpt, "meta/callbacks/EarlyStopping", "best_score", &best));
        VOLT_EXPECT(isfinite(best)); /* the first validation's val/loss, not the initial inf */
        volt_ckpt_close(ckpt);
    }
    temp_dir_remove(&dir);
}

/* ThroughputMonitor logs samples/s, TFLOP/s from the ops' counts and, with a peak, MFU:
 * tflops / samples_per_sec is the flops per sample of forward and backward (the
 * classifier's GEMM 2 x features x classes forward, once more for dW backward; the loss
 * adds its own), and mfu is tflops / peak on one rank. */
VOLT_TEST(throughput_monitor_logs_samples_flops_and_mfu) {
    behaviour_reset();
    temp_dir dir = standard_dir();
    run_result r = run_fit(&dir,
                           SETTINGS("trainer.max_epochs=3", "trainer.log_every_n_steps=1",
                                    "callbacks.0.name=ThroughputMonitor", "callbacks.0.window=2",
                                    "callbacks.0.peak_tflops=0.5"),
                           NULL);
    VOLT_EXPECT_OK(r.fit_status);
    char path[600], line[1024];
    snprintf(path, sizeof path, "%s/metrics.csv", r.log_dir);
    FILE *csv = fopen(path, "r");
    int samples_col = -1, tflops_col = -1, mfu_col = -1, rows = 0;
    if (csv && fgets(line, sizeof line, csv)) {
        int c = 0;
        for (char *field = strtok(line, ",\n"); field; field = strtok(NULL, ",\n"), c++) {
            if (strcmp(field, "throughput/samples_per_sec") == 0) samples_col = c;
            if (strcmp(field, "throughput/tflops") == 0) tflops_col = c;
            if (strcmp(field, "throughput/mfu") == 0) mfu_col = c;
        }
    }
    VOLT_EXPECT(samples_col >= 0 && tflops_col >= 0 && mfu_col >= 0);
    while (csv && samples_col >= 0 && tflops_col >= 0 && mfu_col >= 0 &&
           fgets(line, sizeof line, csv)) {
        char *fields[32];
        int count = 0;
        fields[count++] = line;
        for (char *p = line; *p && count < 32; p++)
            if (*p == ',') {
                *p = '\0';
                fields[count++] = p + 1;
            }
        if (samples_col >= count || fields[samples_col][0] == '\0') continue;
        double samples = strtod(fields[samples_col], NULL);
        double tflops = strtod(fields[tflops_col], NULL);
        double mfu = strtod(fields[mfu_col], NULL);
        rows++;
        VOLT_EXPECT(samples > 0 && tflops > 0);
        VOLT_EXPECT_NEAR(mfu, tflops / 0.5, 1e-6 * tflops / 0.5 + 1e-12);
        double per_sample = tflops * 1e12 / samples; /* same window: flops per sample */
        double gemm = 2.0 * 2 * FEATURES * CLASSES;  /* forward and dW */
        if (!(per_sample >= gemm && per_sample < 3 * gemm))
            volt_test_fail(__FILE__, __LINE__, "%g flops per sample (the GEMMs alone: %g)",
                           per_sample, gemm);
    }
    if (csv) fclose(csv);
    VOLT_EXPECT(rows >= 10); /* 15 steps, a window of 2: logged from the third batch */
    temp_dir_remove(&dir);
}

/* tests/mpi/test_trainer_dist.c — the trainer across ranks (1, 2 and 4): DDP and ZeRO-1
 * in the fit loop, per-rank data, metrics reduced over the ranks, agreement on errors.
 *
 * Rank 0 writes a small HDF5 data set (256 training samples of 8 features, 3 classes;
 * 50 validation samples) into a folder every rank sees, then all read it. The module is
 * an MLP 8-16-3 (tanh) with cross-entropy, AdamW (lr 1e-2). The reference is a one-rank
 * run on MPI_COMM_SELF (volt_trainer_create_on) with batch 32, computed on every rank in
 * process; the distributed run takes the same global batch of 32 as 32/P per rank.
 * Losses are compared step by step by |a - b| / max(|a|, |b|). */
#include <hdf5.h>
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn.h"
#include "ops/ops.h"
#include "trainer/trainer.h"
#include "trainer/trainer_internal.h" /* the ZeRO object of a running fit */
#include "volt_test.h"

enum { FEATURES = 8, HIDDEN = 16, CLASSES = 3, TRAIN = 256, VAL = 50, STEPS = 50, BATCH = 32 };

static int world_rank(void) {
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank;
}

static int world_size(void) {
    int size = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    return size;
}

/* ---- the data set (rank 0 writes, every rank reads) ---------------------------------- */

static float feature(int split, long i, int j) {
    unsigned long h =
        ((unsigned long)split * 1000003ul + (unsigned long)i * FEATURES + (unsigned long)j + 1) *
        2654435761ul;
    return (float)((h >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

static int write_split(hid_t file, const char *name, int split, long n) {
    hid_t group = H5Gcreate2(file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    float *x = malloc((size_t)n * FEATURES * sizeof *x);
    int64_t *y = malloc((size_t)n * sizeof *y);
    for (long i = 0; i < n; i++) {
        for (int j = 0; j < FEATURES; j++) x[i * FEATURES + j] = feature(split, i, j);
        float score = x[i * FEATURES] + 0.5f * x[i * FEATURES + 1];
        y[i] = score < -0.3f ? 0 : score < 0.3f ? 1 : 2;
    }
    hsize_t x_dims[2] = {(hsize_t)n, FEATURES}, y_dims[1] = {(hsize_t)n};
    hid_t x_space = H5Screate_simple(2, x_dims, NULL), y_space = H5Screate_simple(1, y_dims, NULL);
    hid_t x_set =
        H5Dcreate2(group, "x", H5T_IEEE_F32LE, x_space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t y_set =
        H5Dcreate2(group, "y", H5T_STD_I64LE, y_space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t failed = H5Dwrite(x_set, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
    failed |= H5Dwrite(y_set, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, y);
    H5Dclose(x_set), H5Dclose(y_set), H5Sclose(x_space), H5Sclose(y_space), H5Gclose(group);
    free(x), free(y);
    return failed < 0 || group < 0;
}

static int write_dataset(const char *path) {
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0) return 1;
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
    H5Aclose(attribute), H5Sclose(scalar), H5Tclose(string_type);
    failed |= write_split(file, "/train", 0, TRAIN);
    failed |= write_split(file, "/val", 1, VAL);
    failed |= write_split(file, "/test", 2, VAL);
    H5Fclose(file);
    return failed;
}

/* The shared folder (made by rank 0, its name broadcast) with data.h5 in it. */
static char folder[256], data_path[300];

/* At exit on rank 0: the harness agreed on the outcome (a collective) before, so every
 * rank is done with the folder. */
static void remove_shared_data(void) { volt_test_remove_tree(folder); }

static void make_shared_data(void) {
    if (folder[0]) return;
    int failed = 0;
    if (world_rank() == 0) {
        failed = !volt_test_make_temp_dir(folder, sizeof folder, "trainer_dist");
        if (!failed) atexit(remove_shared_data);
        snprintf(data_path, sizeof data_path, "%s/data.h5", folder);
        if (!failed) failed = write_dataset(data_path);
    }
    MPI_Bcast(folder, sizeof folder, MPI_CHAR, 0, MPI_COMM_WORLD);
    MPI_Bcast(data_path, sizeof data_path, MPI_CHAR, 0, MPI_COMM_WORLD);
    MPI_Bcast(&failed, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (failed) volt_test_fail(__FILE__, __LINE__, "cannot write the data set");
}

/* ---- the module ------------------------------------------------------------------------ */

static struct {
    int log_only_on_rank0; /* log "train/only0" on rank 0 only */
    long nan_at_step;      /* > 0: the last rank's loss is NaN from this step on */
    long stop_at_step;     /* > 0: rank 0 asks to stop at this step */
} behaviour;

typedef struct mlp {
    volt_linear_layer *fc1, *fc2;
} mlp;

static int mlp_init(volt_module *m, const volt_config *config) {
    (void)config;
    mlp *s = volt_module_state(m);
    s->fc1 = volt_linear_new(volt_module_params(m), "fc1", FEATURES, HIDDEN, 1);
    VOLT_CHECK_PTR(s->fc1);
    s->fc2 = volt_linear_new(volt_module_params(m), "fc2", HIDDEN, CLASSES, 1);
    VOLT_CHECK_PTR(s->fc2);
    return VOLT_OK;
}

static volt_tensor *mlp_forward(volt_module *m, volt_tensor *x) {
    mlp *s = volt_module_state(m);
    return volt_linear(s->fc2, volt_tanh(volt_linear(s->fc1, x)));
}

static volt_tensor *mlp_training_step(volt_module *m, const volt_batch *batch, long batch_idx) {
    (void)batch_idx;
    volt_tensor *loss = volt_cross_entropy(mlp_forward(m, batch->x), batch->y);
    if (!loss) return NULL;
    volt_trainer *t = volt_module_trainer(m);
    if (behaviour.nan_at_step > 0 && world_rank() == world_size() - 1 &&
        volt_trainer_global_step(t) >= behaviour.nan_at_step)
        loss = volt_scale(loss, NAN);
    if (behaviour.stop_at_step > 0 && world_rank() == 0 &&
        volt_trainer_global_step(t) == behaviour.stop_at_step)
        volt_trainer_request_stop(t, "rank 0 asked to stop");
    if (volt_log(m, "train/loss", loss, VOLT_LOG_STEP)) return NULL;
    if (behaviour.log_only_on_rank0 && world_rank() == 0 &&
        volt_log_value(m, "train/only0", 1.0, VOLT_LOG_STEP))
        return NULL;
    return loss;
}

static int mlp_validation_step(volt_module *m, const volt_batch *batch, long batch_idx) {
    (void)batch_idx;
    volt_tensor *logits = mlp_forward(m, batch->x);
    volt_tensor *loss = volt_cross_entropy(logits, batch->y);
    VOLT_CHECK_PTR(loss);
    VOLT_CHECK(volt_log(m, "val/loss", loss, 0));
    VOLT_CHECK(volt_log_value(m, "val/count", (double)batch->size, VOLT_LOG_EPOCH | VOLT_LOG_SUM));
    return VOLT_OK;
}

static volt_tensor *mlp_predict_step(volt_module *m, const volt_batch *batch, long batch_idx) {
    (void)batch_idx;
    return volt_softmax(mlp_forward(m, batch->x));
}

static const volt_module_ops mlp_ops = {
    .name = "mlp",
    .state_size = sizeof(mlp),
    .init = mlp_init,
    .forward = mlp_forward,
    .predict_step = mlp_predict_step,
    .training_step = mlp_training_step,
    .validation_step = mlp_validation_step,
};

/* ---- a callback recording the (reduced) loss of every step ---------------------------- */

typedef struct run_record {
    double losses[STEPS];
    int loss_count;
    size_t zero_state_bytes, zero_padded, zero_shard;
} run_record;

static void record_latest(volt_trainer *t, run_record *r) {
    double value;
    if (volt_metrics_latest(volt_trainer_metrics(t), "train/loss", &value) && r->loss_count < STEPS)
        r->losses[r->loss_count++] = value;
}

/* at the end of batch k the latest loss is batch k-1's (batch k's is taken after) */
static int rec_batch_end(volt_callback *cb, volt_trainer *t, volt_module *m, long batch_idx) {
    (void)m, (void)batch_idx;
    run_record *r = *(run_record **)volt_callback_state(cb);
    if (volt_trainer_global_step(t) > 1) record_latest(t, r);
    if (t->zero && r->zero_padded == 0) {
        r->zero_state_bytes = volt_optimizer_state_bytes(volt_zero_optimizer(t->zero));
        r->zero_padded = volt_zero_padded_size(t->zero);
        r->zero_shard = volt_zero_shard_length(t->zero);
    }
    return VOLT_OK;
}

static int rec_fit_end(volt_callback *cb, volt_trainer *t, volt_module *m) {
    (void)m;
    record_latest(t, *(run_record **)volt_callback_state(cb));
    return VOLT_OK;
}

static int rec_setup(volt_callback *cb, const volt_config *config, int index, const void *options) {
    (void)config, (void)index;
    *(run_record **)volt_callback_state(cb) = (run_record *)options;
    return VOLT_OK;
}

static const volt_callback_ops recorder_ops = {
    .name = "recorder",
    .state_size = sizeof(run_record *),
    .setup = rec_setup,
    .on_train_batch_end = rec_batch_end,
    .on_fit_end = rec_fit_end,
};

/* ---- runs -------------------------------------------------------------------------------- */

typedef struct run_result {
    int create_status, fit_status, validate_status, predict_status;
    char errors[2048];
    run_record record;
    double val_count;
    long final_step;
    char predictions[16384]; /* predictions.csv (rank 0, or every rank of a one-rank run) */
} run_result;

static void read_file(const char *path, char *text, size_t size) {
    text[0] = '\0';
    FILE *file = fopen(path, "r");
    if (!file) return;
    size_t n = fread(text, 1, size - 1, file);
    text[n] = '\0';
    fclose(file);
}

static void capture_errors(run_result *r) { volt_test_take_errors(r->errors, sizeof r->errors); }

/* A fit (and, with validate, a validation) on comm with the test defaults and settings
 * ("key=value", NULL-terminated). */
enum { FIT = 0, VALIDATE = 1, PREDICT = 2 };
static run_result run(MPI_Comm comm, const char *const *settings, int then) {
    static int run_number;
    run_result r;
    memset(&r, 0, sizeof r);
    char root[400], data[400];
    /* one root per rank and run: the one-rank runs on MPI_COMM_SELF write on every rank */
    snprintf(root, sizeof root, "trainer.default_root_dir=%s/runs_%d_%d", folder, world_rank(),
             run_number++);
    snprintf(data, sizeof data, "data.path=%s", data_path);
    const char *defaults[] = {root,
                              data,
                              "trainer.enable_progress_bar=false",
                              "trainer.enable_model_summary=false",
                              "trainer.num_sanity_val_steps=0",
                              "trainer.max_steps=50",
                              "trainer.log_every_n_steps=1",
                              "trainer.limit_val_batches=0",
                              "data.shuffle=true",
                              "data.prefetch=false",
                              "optimizer.name=adamw",
                              "optimizer.lr=0.01",
                              NULL};
    volt_config *config = NULL;
    VOLT_EXPECT_OK(volt_config_create(&config));
    VOLT_EXPECT_OK(volt_trainer_declare(config));
    VOLT_EXPECT_OK(volt_hdf5_datamodule_ops.declare(config));
    for (int pass = 0; pass < 2; pass++) {
        const char *const *list = pass == 0 ? defaults : settings;
        for (int i = 0; list && list[i]; i++) {
            char key[128];
            const char *equals = strchr(list[i], '=');
            snprintf(key, sizeof key, "%.*s", (int)(equals - list[i]), list[i]);
            VOLT_EXPECT_OK(volt_config_set(config, key, equals + 1, "test"));
        }
    }
    VOLT_EXPECT_OK(volt_config_resolve(config));
    volt_trainer *trainer = NULL;
    r.create_status = volt_trainer_create_on(config, comm, &trainer);
    if (r.create_status != VOLT_OK) {
        capture_errors(&r);
        volt_config_destroy(config);
        return r;
    }
    volt_module *module = NULL;
    volt_datamodule *dm = NULL;
    VOLT_EXPECT_OK(volt_module_create(&mlp_ops, config, 42, &module));
    VOLT_EXPECT_OK(volt_datamodule_create(&volt_hdf5_datamodule_ops, &dm));
    VOLT_EXPECT_OK(volt_trainer_add_callback(trainer, &recorder_ops, &r.record));
    r.fit_status = volt_trainer_fit(trainer, module, dm);
    if (r.fit_status != VOLT_OK) capture_errors(&r);
    r.final_step = volt_trainer_global_step(trainer);
    if (then == PREDICT && r.fit_status == VOLT_OK) {
        r.predict_status = volt_trainer_predict(trainer, module, dm);
        if (r.predict_status != VOLT_OK) capture_errors(&r);
        char path[600];
        snprintf(path, sizeof path, "%s/predictions.csv", volt_trainer_log_dir(trainer));
        int writer = comm == MPI_COMM_SELF || world_rank() == 0;
        if (writer) read_file(path, r.predictions, sizeof r.predictions);
    }
    if (then == VALIDATE && r.fit_status == VOLT_OK) {
        r.validate_status = volt_trainer_validate(trainer, module, dm);
        if (r.validate_status != VOLT_OK) capture_errors(&r);
        volt_metrics_latest(volt_trainer_metrics(trainer), "val/count", &r.val_count);
    }
    volt_datamodule_destroy(dm);
    volt_module_destroy(module);
    volt_trainer_destroy(trainer);
    volt_config_destroy(config);
    return r;
}

static void expect_same_losses(const run_result *a, const run_result *b, double tolerance,
                               const char *what) {
    VOLT_EXPECT_EQ_INT(a->record.loss_count, STEPS);
    VOLT_EXPECT_EQ_INT(b->record.loss_count, STEPS);
    double worst = 0;
    int worst_step = 0;
    for (int i = 0; i < STEPS && i < a->record.loss_count && i < b->record.loss_count; i++) {
        double d = volt_test_rel_diff(a->record.losses[i], b->record.losses[i], 1e-12);
        if (d > worst) worst = d, worst_step = i;
    }
    if (!(worst <= tolerance))
        volt_test_fail(__FILE__, __LINE__,
                       "%s: step %d losses %.9g vs %.9g differ by %.3g (relative) > %.1g", what,
                       worst_step, a->record.losses[worst_step], b->record.losses[worst_step],
                       worst, tolerance);
}

static char batch_setting[64];
static const char *per_rank_batch(void) {
    snprintf(batch_setting, sizeof batch_setting, "data.batch_size=%d", BATCH / world_size());
    return batch_setting;
}

/* The single-rank reference: batch 32 on MPI_COMM_SELF, computed once. */
static run_result reference;
static const run_result *single_rank_reference(void) {
    if (reference.record.loss_count == 0) {
        const char *settings[] = {"data.batch_size=32", NULL};
        reference = run(MPI_COMM_SELF, settings, 0);
        VOLT_EXPECT_OK(reference.fit_status);
    }
    return &reference;
}

/* ---- tests ------------------------------------------------------------------------------- */

/* DDP with per-rank batch 32/P follows the 1-rank run with batch 32: the same samples and
 * the same averaged gradient, so the same losses up to f32 summation order. */
VOLT_TEST(ddp_follows_the_single_rank_run) {
    make_shared_data();
    const run_result *single = single_rank_reference();
    const char *settings[] = {per_rank_batch(), "trainer.strategy=ddp", NULL};
    run_result ddp = run(MPI_COMM_WORLD, settings, 0);
    VOLT_EXPECT_OK(ddp.create_status);
    VOLT_EXPECT_OK(ddp.fit_status);
    expect_same_losses(&ddp, single, 1e-5, "ddp vs 1 rank");
}

/* ZeRO-1 follows DDP, and keeps optimizer state for its shard only (AdamW: two f32
 * moments per element of padded / dp). */
VOLT_TEST(zero1_follows_ddp_with_a_sharded_state) {
    make_shared_data();
    const char *ddp_settings[] = {per_rank_batch(), "trainer.strategy=ddp", NULL};
    const char *zero_settings[] = {per_rank_batch(), "trainer.strategy=zero1", NULL};
    run_result ddp = run(MPI_COMM_WORLD, ddp_settings, 0);
    run_result zero = run(MPI_COMM_WORLD, zero_settings, 0);
    VOLT_EXPECT_OK(zero.fit_status);
    expect_same_losses(&zero, &ddp, 1e-6, "zero1 vs ddp");
    VOLT_EXPECT(zero.record.zero_padded > 0);
    VOLT_EXPECT_EQ_INT(zero.record.zero_shard, zero.record.zero_padded / (size_t)world_size());
    VOLT_EXPECT_EQ_INT(zero.record.zero_state_bytes, 2 * sizeof(float) * zero.record.zero_shard);
    expect_same_losses(&zero, single_rank_reference(), 1e-5, "zero1 vs 1 rank");
}

/* The bucket size changes when gradients travel, not what they sum to. */
VOLT_TEST(ddp_results_do_not_depend_on_the_bucket_size) {
    make_shared_data();
    static const char *const buckets[] = {"strategy.bucket_mb=0.001", "strategy.bucket_mb=25",
                                          "strategy.bucket_mb=1000"};
    run_result first;
    for (int i = 0; i < 3; i++) {
        const char *settings[] = {per_rank_batch(), "trainer.strategy=ddp", buckets[i], NULL};
        run_result r = run(MPI_COMM_WORLD, settings, 0);
        VOLT_EXPECT_OK(r.fit_status);
        if (i == 0)
            first = r;
        else
            expect_same_losses(&r, &first, 1e-6, buckets[i]);
    }
}

/* Every validation sample is counted once: each rank reads a contiguous part of the split
 * in batches (50 samples: parts of 12 or 13 at 4 ranks, batches of 8 leave remainders). */
VOLT_TEST(validation_counts_each_sample_once) {
    make_shared_data();
    const char *settings[] = {per_rank_batch(), "data.val_batch_size=8",
                              "trainer.limit_val_batches=1.0", "trainer.max_steps=2", NULL};
    run_result r = run(MPI_COMM_WORLD, settings, VALIDATE);
    VOLT_EXPECT_OK(r.fit_status);
    VOLT_EXPECT_OK(r.validate_status);
    VOLT_EXPECT_NEAR(r.val_count, (double)VAL, 0);
}

/* Gradient accumulation (communication on the last micro-batch only) and clipping by the
 * global norm follow the one-rank run, with DDP and with ZeRO-1. */
VOLT_TEST(accumulation_and_clipping_follow_the_single_rank_run) {
    make_shared_data();
    const char *single_settings[] = {"data.batch_size=32", "trainer.accumulate_grad_batches=2",
                                     "trainer.gradient_clip_val=0.05", NULL};
    run_result single = run(MPI_COMM_SELF, single_settings, FIT);
    VOLT_EXPECT_OK(single.fit_status);
    static const char *const strategies[] = {"trainer.strategy=ddp", "trainer.strategy=zero1"};
    for (int i = 0; i < 2; i++) {
        const char *settings[] = {per_rank_batch(), strategies[i],
                                  "trainer.accumulate_grad_batches=2",
                                  "trainer.gradient_clip_val=0.05", NULL};
        run_result r = run(MPI_COMM_WORLD, settings, FIT);
        VOLT_EXPECT_OK(r.fit_status);
        expect_same_losses(&r, &single, 1e-5, strategies[i]);
    }
}

/* Clipping by value follows the one-rank run with DDP and with ZeRO-1 (which clamps
 * each rank's shard of the averaged gradients). The threshold is low enough to clamp. */
VOLT_TEST(clipping_by_value_follows_the_single_rank_run) {
    make_shared_data();
    const char *single_settings[] = {"data.batch_size=32", "trainer.gradient_clip_val=0.002",
                                     "trainer.gradient_clip_algorithm=value", NULL};
    run_result single = run(MPI_COMM_SELF, single_settings, FIT);
    VOLT_EXPECT_OK(single.fit_status);
    const char *unclipped_settings[] = {"data.batch_size=32", NULL};
    run_result unclipped = run(MPI_COMM_SELF, unclipped_settings, FIT);
    VOLT_EXPECT_OK(unclipped.fit_status);
    /* the clamp changes the run: otherwise this test could not tell */
    double differs = 0;
    for (int k = 0; k < single.record.loss_count && k < unclipped.record.loss_count; k++)
        differs = fmax(differs, fabs(single.record.losses[k] - unclipped.record.losses[k]));
    VOLT_EXPECT(differs > 1e-4);
    static const char *const strategies[] = {"trainer.strategy=ddp", "trainer.strategy=zero1"};
    for (int i = 0; i < 2; i++) {
        const char *settings[] = {per_rank_batch(), strategies[i], "trainer.gradient_clip_val=0.002",
                                  "trainer.gradient_clip_algorithm=value", NULL};
        run_result r = run(MPI_COMM_WORLD, settings, FIT);
        VOLT_EXPECT_OK(r.fit_status);
        expect_same_losses(&r, &single, 1e-5, strategies[i]);
    }
}

/* A NaN loss on the last rank stops every rank with VOLT_ERR_NUMERIC naming that rank and
 * the step. */
VOLT_TEST(a_nan_loss_on_one_rank_stops_every_rank) {
    make_shared_data();
    behaviour.nan_at_step = 3;
    const char *settings[] = {per_rank_batch(), NULL};
    run_result r = run(MPI_COMM_WORLD, settings, FIT);
    behaviour.nan_at_step = 0;
    VOLT_EXPECT_EQ_INT(r.fit_status, VOLT_ERR_NUMERIC);
    char rank_text[32];
    snprintf(rank_text, sizeof rank_text, "rank %d", world_size() - 1);
    VOLT_EXPECT_STR_CONTAINS(r.errors, rank_text);
    VOLT_EXPECT_STR_CONTAINS(r.errors, "at step 3");
}

/* One rank's stop request stops every rank at the same step. */
VOLT_TEST(a_stop_request_on_rank_0_stops_every_rank) {
    make_shared_data();
    behaviour.stop_at_step = 5;
    const char *settings[] = {per_rank_batch(), NULL};
    run_result r = run(MPI_COMM_WORLD, settings, FIT);
    behaviour.stop_at_step = 0;
    VOLT_EXPECT_OK(r.fit_status);
    VOLT_EXPECT_EQ_INT(r.final_step, 6); /* stops after the batch that asked */
}

/* predictions.csv: every rank's rows gathered to rank 0 in sample order, as one rank
 * writes them. */
VOLT_TEST(predictions_are_gathered_in_sample_order) {
    make_shared_data();
    const char *single_settings[] = {"data.batch_size=32", "data.val_batch_size=8",
                                     "trainer.max_steps=3", NULL};
    run_result single = run(MPI_COMM_SELF, single_settings, PREDICT);
    VOLT_EXPECT_OK(single.predict_status);
    const char *settings[] = {per_rank_batch(), "data.val_batch_size=8", "trainer.max_steps=3",
                              NULL};
    run_result r = run(MPI_COMM_WORLD, settings, PREDICT);
    VOLT_EXPECT_OK(r.predict_status);
    if (world_rank() == 0) {
        int lines = 0;
        for (const char *c = r.predictions; *c; c++) lines += *c == '\n';
        VOLT_EXPECT_EQ_INT(lines, VAL + 1);
        /* the same model up to summation order: every value close, in the same order */
        const char *a = strchr(r.predictions, '\n'), *b = strchr(single.predictions, '\n');
        double worst = a && b ? 0 : 1;
        for (int values = 0; a && b && values < 3 * VAL; values++) {
            char *a_end, *b_end;
            double va = strtod(a + 1, &a_end), vb = strtod(b + 1, &b_end);
            if (a_end == a + 1 || b_end == b + 1) {
                worst = 1;
                break;
            }
            worst = fmax(worst, volt_test_rel_diff(va, vb, 1e-6));
            a = a_end, b = b_end;
        }
        VOLT_EXPECT(worst <= 1e-4);
    }
}

/* A metric logged on rank 0 only is an error on every rank, naming it (not a hang). */
VOLT_TEST(a_metric_logged_on_one_rank_fails_every_rank) {
    if (world_size() == 1) return; /* nothing to disagree with */
    make_shared_data();
    behaviour.log_only_on_rank0 = 1;
    const char *settings[] = {per_rank_batch(), NULL};
    run_result r = run(MPI_COMM_WORLD, settings, 0);
    behaviour.log_only_on_rank0 = 0;
    VOLT_EXPECT_EQ_INT(r.fit_status, VOLT_ERR_ARG);
    VOLT_EXPECT_STR_CONTAINS(r.errors, "train/only0");
}

/* A layout whose product is not the world size fails on every rank, naming it. */
VOLT_TEST(a_wrong_layout_fails_every_rank) {
    make_shared_data();
    const char *settings[] = {"trainer.layout=dp=3", NULL};
    run_result r = run(MPI_COMM_WORLD, settings, 0);
    VOLT_EXPECT_EQ_INT(r.create_status, VOLT_ERR_CONFIG);
    VOLT_EXPECT_STR_CONTAINS(r.errors, "dp=3");
}

/* single with dp > 1 is refused. */
VOLT_TEST(single_strategy_with_several_ranks_is_refused) {
    if (world_size() == 1) return;
    make_shared_data();
    const char *settings[] = {"trainer.strategy=single", NULL};
    run_result r = run(MPI_COMM_WORLD, settings, 0);
    VOLT_EXPECT_EQ_INT(r.create_status, VOLT_ERR_CONFIG);
    VOLT_EXPECT_STR_CONTAINS(r.errors, "trainer.strategy = single");
}

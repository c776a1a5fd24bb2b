/* bench/trainer_overhead.c — what the trainer costs per step: the same MLP on the same
 * data through volt_trainer_fit versus a hand-written loop over the same Volt calls.
 *
 * Model 784-256-10 with ReLU, batch 128, f32, cross-entropy, AdamW (the Fashion-MNIST
 * configuration's shapes); data: 12 800 random samples written once to an HDF5 file in
 * the layout of lib/data/dataset.h, in /dev/shm when it exists (memory), else /tmp,
 * read by the HDF5 data module (trainer) or a volt_loader with the same options (loop).
 * The loop does what the module's step and the trainer do, minus the trainer: next
 * batch, forward, loss, accuracy, backward, optimizer step, zero_grad, graph reset. The
 * trainer's run logs train/loss each step and train/acc each epoch, writes metrics.csv
 * every log_every_n_steps (50) and runs no validation and no progress bar.
 *
 * Step times: the trainer's are the intervals between consecutive on_train_batch_end
 * calls of a callback (everything the loop does per batch), the loop's are timed
 * around each iteration. Rounds alternate a trainer fit and a loop, each from freshly
 * initialised weights (a model trained longer on random labels holds other, slower,
 * tiny and denormal numbers), so that machine noise hits both alike and both time the
 * same arithmetic. Reported: medians of the wall-clock time and of the process's CPU
 * time per step (CPU time is what other load on a shared machine disturbs least), and
 * the ratios trainer / loop. Output: a table on stdout and
 * bench/results/trainer_overhead.csv.
 *
 * A fourth argument sets trainer.profiler (off by default): `simple` measures what the
 * profiler's regions cost per step (the CSV is then trainer_overhead_profiler_simple.csv).
 *
 *     trainer_overhead [epochs per round, default 1] [rounds, default 10] [results dir]
 *                      [profiler: off|simple|papi] */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/rng.h"
#include "nn/nn.h"
#include "ops/blas_info.h"
#include "runtime/runtime.h"
#include "trainer/trainer.h"

enum { SAMPLES = 12800, IN = 784, HIDDEN = 256, OUT = 10, BATCH = 128 };
enum { STEPS_PER_EPOCH = SAMPLES / BATCH };

static void check(int status) {
    if (status != VOLT_OK) volt_abort_with_errors(status);
}

/* --- the data ---------------------------------------------------------------------------- */

static void write_attribute(hid_t where, const char *name, hid_t type, const void *value) {
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attribute = H5Acreate2(where, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (attribute < 0 || H5Awrite(attribute, type, value) < 0) {
        fprintf(stderr, "trainer_overhead: cannot write attribute %s\n", name);
        exit(1);
    }
    H5Aclose(attribute);
    H5Sclose(space);
}

static void write_dataset(const char *path) {
    float *x = malloc(sizeof(float) * SAMPLES * IN);
    int64_t *y = malloc(sizeof(int64_t) * SAMPLES);
    if (!x || !y) exit(1);
    volt_rng_uniform_f32(7, 0, 0, x, (size_t)SAMPLES * IN, 0.0f, 1.0f);
    for (long i = 0; i < SAMPLES; i++) y[i] = volt_rng_bits(7, 1, (uint64_t)i) % OUT;
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0) {
        fprintf(stderr, "trainer_overhead: cannot create %s\n", path);
        exit(1);
    }
    hid_t text = H5Tcopy(H5T_C_S1);
    H5Tset_size(text, strlen("volt-dataset-1"));
    write_attribute(file, "format", text, "volt-dataset-1");
    H5Tclose(text);
    const int64_t classes = OUT;
    write_attribute(file, "num_classes", H5T_NATIVE_INT64, &classes);
    hid_t group = H5Gcreate2(file, "train", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const hsize_t x_dims[] = {SAMPLES, IN}, y_dims[] = {SAMPLES};
    hid_t x_space = H5Screate_simple(2, x_dims, NULL), y_space = H5Screate_simple(1, y_dims, NULL);
    hid_t xd =
        H5Dcreate2(group, "x", H5T_IEEE_F32LE, x_space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t yd =
        H5Dcreate2(group, "y", H5T_STD_I64LE, y_space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (xd < 0 || yd < 0 || H5Dwrite(xd, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) < 0 ||
        H5Dwrite(yd, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, y) < 0) {
        fprintf(stderr, "trainer_overhead: cannot write %s\n", path);
        exit(1);
    }
    H5Dclose(xd);
    H5Dclose(yd);
    H5Sclose(x_space);
    H5Sclose(y_space);
    H5Gclose(group);
    H5Fclose(file);
    free(x);
    free(y);
}

/* --- the model: one forward for both ----------------------------------------------------- */

typedef struct mlp {
    volt_linear_layer *fc1, *fc2;
} mlp;

static int mlp_build(volt_params *params, mlp *s) {
    VOLT_CHECK_PTR(s->fc1 = volt_linear_new(params, "fc1", IN, HIDDEN, 1));
    VOLT_CHECK_PTR(s->fc2 = volt_linear_new(params, "fc2", HIDDEN, OUT, 1));
    return VOLT_OK;
}

static volt_tensor *mlp_logits(const mlp *s, volt_tensor *x) {
    return volt_linear(s->fc2, volt_relu(volt_linear(s->fc1, x)));
}

static int module_init(volt_module *m, const volt_config *config) {
    (void)config;
    return mlp_build(volt_module_params(m), volt_module_state(m));
}

static volt_tensor *module_forward(volt_module *m, volt_tensor *x) {
    return mlp_logits(volt_module_state(m), x);
}

static volt_tensor *module_training_step(volt_module *m, const volt_batch *b, long i) {
    (void)i;
    volt_tensor *logits = module_forward(m, b->x);
    volt_tensor *loss = volt_cross_entropy(logits, b->y);
    if (!loss || volt_log(m, "train/loss", loss, VOLT_LOG_STEP | VOLT_LOG_PROG_BAR) ||
        volt_log_value(m, "train/acc", volt_accuracy(logits, b->y), VOLT_LOG_EPOCH))
        return NULL;
    return loss;
}

static const volt_module_ops bench_mlp_ops = {
    .name = "mlp",
    .state_size = sizeof(mlp),
    .init = module_init,
    .forward = module_forward,
    .training_step = module_training_step,
};

/* --- step timer: per-step intervals, stamped by a callback or by the loop --------------- */

/* Wall-clock time and the process's CPU time (all its threads), per step. */
typedef struct step_timer {
    double *wall, *cpu;
    long count, capacity;
    double last_wall, last_cpu; /* at the previous batch end (or the epoch's start) */
} step_timer;

static const char *profiler_mode = "off"; /* trainer.profiler of the trainer's runs */

static double process_cpu_seconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
}

static step_timer timer_new(long capacity) {
    step_timer t = {.capacity = capacity};
    t.wall = malloc(sizeof(double) * (size_t)capacity);
    t.cpu = malloc(sizeof(double) * (size_t)capacity);
    if (!t.wall || !t.cpu) exit(1);
    return t;
}

static void timer_free(step_timer *t) {
    free(t->wall);
    free(t->cpu);
}

static void timer_mark(step_timer *t) {
    t->last_wall = volt_clock_seconds();
    t->last_cpu = process_cpu_seconds();
}

static void timer_stamp(step_timer *t) {
    double wall = volt_clock_seconds(), cpu = process_cpu_seconds();
    if (t->count < t->capacity) {
        t->wall[t->count] = wall - t->last_wall;
        t->cpu[t->count] = cpu - t->last_cpu;
        t->count++;
    }
    t->last_wall = wall;
    t->last_cpu = cpu;
}

typedef struct step_timer_options {
    step_timer *timer;
} step_timer_options;

static int timer_setup(volt_callback *cb, const volt_config *c, int index, const void *options) {
    (void)c;
    (void)index;
    *(step_timer **)volt_callback_state(cb) = ((const step_timer_options *)options)->timer;
    return VOLT_OK;
}

static int timer_epoch_start(volt_callback *cb, volt_trainer *t, volt_module *m) {
    (void)t;
    (void)m;
    timer_mark(*(step_timer **)volt_callback_state(cb)); /* step 0 includes the epoch's start */
    return VOLT_OK;
}

static int timer_batch_end(volt_callback *cb, volt_trainer *t, volt_module *m, long i) {
    (void)t;
    (void)m;
    (void)i;
    timer_stamp(*(step_timer **)volt_callback_state(cb));
    return VOLT_OK;
}

static const volt_callback_ops step_timer_ops = {
    .name = "StepTimer",
    .state_size = sizeof(step_timer *),
    .setup = timer_setup,
    .on_train_epoch_start = timer_epoch_start,
    .on_train_batch_end = timer_batch_end,
};

/* --- the two runs ------------------------------------------------------------------------ */

static void trainer_epochs(const char *data_path, const char *root, long epochs,
                           step_timer *timer) {
    volt_config *config;
    check(volt_config_create(&config));
    check(volt_trainer_declare(config));
    check(volt_hdf5_datamodule_ops.declare(config));
    char text[64];
    snprintf(text, sizeof text, "%ld", epochs);
    const char *settings[][2] = {
        {"data.path", data_path},
        {"data.batch_size", "128"},
        {"trainer.max_epochs", text},
        {"trainer.limit_val_batches", "0"},
        {"trainer.num_sanity_val_steps", "0"},
        {"trainer.enable_progress_bar", "false"},
        {"trainer.enable_model_summary", "false"},
        {"trainer.default_root_dir", root},
        {"trainer.name", "trainer_overhead"},
        {"optimizer.name", "adamw"},
        {"trainer.profiler", profiler_mode},
        {"trainer.enable_checkpointing", "false"}, /* the loop saves none (bench_ckpt_io) */
    };
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
        check(volt_config_set(config, settings[i][0], settings[i][1], "bench"));
    check(volt_config_resolve(config));
    volt_trainer *trainer;
    volt_module *module;
    volt_datamodule *data;
    check(volt_trainer_create(config, &trainer));
    step_timer_options options = {timer};
    check(volt_trainer_add_callback(trainer, &step_timer_ops, &options));
    check(volt_module_create(&bench_mlp_ops, config, 42, &module));
    check(volt_datamodule_create(&volt_hdf5_datamodule_ops, &data));
    check(volt_trainer_fit(trainer, module, data));
    volt_datamodule_destroy(data);
    volt_module_destroy(module);
    volt_trainer_destroy(trainer);
    volt_config_destroy(config);
}

typedef struct hand_loop {
    volt_params *params;
    mlp model;
    volt_graph *graph;
    volt_optimizer *optimizer;
    volt_dataset *dataset;
    volt_loader *loader;
    long epoch;
} hand_loop;

static void hand_loop_create(const char *data_path, hand_loop *h) {
    check(volt_params_create(VOLT_F32, 42, &h->params));
    check(mlp_build(h->params, &h->model));
    volt_graph_options graph_options = {.seed = 42};
    check(volt_graph_create(&graph_options, &h->graph));
    volt_optimizer_options adamw = volt_optimizer_defaults(VOLT_OPTIM_ADAMW);
    check(volt_optimizer_create(&adamw, VOLT_F32, 0, volt_params_flat_size(h->params),
                                &h->optimizer));
    check(volt_dataset_open(data_path, VOLT_SPLIT_TRAIN, &h->dataset));
    volt_loader_options options = {.batch_size = BATCH, .shuffle = 1, .prefetch = 1, .seed = 42};
    check(volt_loader_create(h->dataset, &options, &h->loader));
}

static void hand_loop_destroy(hand_loop *h) {
    volt_loader_destroy(h->loader);
    volt_dataset_close(h->dataset);
    volt_optimizer_destroy(h->optimizer);
    volt_graph_destroy(h->graph);
    volt_params_destroy(h->params);
}

static void hand_epochs(hand_loop *h, long epochs, step_timer *timer) {
    double accuracy_sum = 0; /* what the module logs each epoch, computed the same way */
    for (long e = 0; e < epochs; e++) {
        timer_mark(timer);
        check(volt_loader_start_epoch(h->loader, h->epoch++));
        for (;;) {
            volt_batch batch;
            int done = 0;
            check(volt_loader_next(h->loader, h->graph, &batch, &done));
            if (done) break;
            volt_tensor *logits = mlp_logits(&h->model, batch.x);
            volt_tensor *loss = volt_cross_entropy(logits, batch.y);
            if (!loss) check(volt_error_status());
            accuracy_sum += volt_accuracy(logits, batch.y);
            check(volt_backward(loss));
            check(volt_optimizer_step(h->optimizer, volt_params_data(h->params),
                                      volt_params_grad(h->params), 1e-3));
            volt_params_zero_grad(h->params); /* ready for the next backward */
            volt_graph_reset(h->graph);
            timer_stamp(timer);
        }
    }
    if (!isfinite(accuracy_sum)) fprintf(stderr, "trainer_overhead: accuracy is not finite\n");
}

/* --- timing ------------------------------------------------------------------------------ */

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_of(const double *values, long count) {
    if (count <= 0) return NAN;
    double *sorted = malloc(sizeof(double) * (size_t)count);
    if (!sorted) return NAN;
    memcpy(sorted, values, sizeof(double) * (size_t)count);
    qsort(sorted, (size_t)count, sizeof(double), compare_doubles);
    double middle = sorted[count / 2];
    free(sorted);
    return middle;
}

static void write_csv(const char *path, const double trainer[3], const double loop[3], long steps,
                      double round_ratio, const volt_blas_info *blas) {
    FILE *csv = fopen(path, "w");
    if (!csv) {
        fprintf(stderr, "trainer_overhead: cannot write %s (results not saved)\n", path);
        return;
    }
    fprintf(csv, "implementation,median_wall_ms,median_cpu_ms,whole_run_ms,steps,batch,"
                 "wall_ratio,round_wall_ratio,cpu_ratio,blas_kernel,blas_threads\n");
    fprintf(csv, "trainer,%.5f,%.5f,%.5f,%ld,%d,%.4f,%.4f,%.4f,%s,%d\n", trainer[0] * 1e3,
            trainer[1] * 1e3, trainer[2] * 1e3, steps, BATCH, trainer[0] / loop[0], round_ratio,
            trainer[1] / loop[1], blas->kernel, blas->threads);
    fprintf(csv, "hand_loop,%.5f,%.5f,%.5f,%ld,%d,1,1,1,%s,%d\n", loop[0] * 1e3, loop[1] * 1e3,
            loop[2] * 1e3, steps, BATCH, blas->kernel, blas->threads);
    fclose(csv);
    printf("wrote %s\n", path);
}

int main(int argc, char **argv) {
    check(volt_init(&argc, &argv));
    long epochs = argc > 1 ? atol(argv[1]) : 1;
    long rounds = argc > 2 ? atol(argv[2]) : 10;
    const char *results = argc > 3 ? argv[3] : "bench/results";
    if (argc > 4) profiler_mode = argv[4];
    if (epochs <= 0 || rounds <= 0) {
        fprintf(stderr, "usage: trainer_overhead [epochs per round > 0] [rounds > 0] "
                        "[results dir]\n");
        return 2;
    }
    char folder[] = "/dev/shm/volt_trainer_overhead_XXXXXX";
    char fallback[] = "/tmp/volt_trainer_overhead_XXXXXX";
    const char *dir = mkdtemp(folder);
    if (!dir) dir = mkdtemp(fallback);
    if (!dir) {
        fprintf(stderr, "trainer_overhead: cannot create a temporary folder\n");
        return 1;
    }
    char data_path[256], root[256];
    snprintf(data_path, sizeof data_path, "%s/data.h5", dir);
    snprintf(root, sizeof root, "%s/runs", dir);
    write_dataset(data_path);

    long capacity = epochs * rounds * STEPS_PER_EPOCH;
    step_timer trainer_timer = timer_new(capacity), loop_timer = timer_new(capacity);
    step_timer warmup = timer_new(STEPS_PER_EPOCH);
    hand_loop hand = {0};
    hand_loop_create(data_path, &hand);
    hand_epochs(&hand, 1, &warmup); /* page cache, BLAS buffers */
    hand_loop_destroy(&hand);
    double trainer_seconds = 0, loop_seconds = 0;
    double *round_ratios = malloc(sizeof(double) * (size_t)rounds);
    if (!round_ratios) return 1;
    for (long r = 0; r < rounds; r++) {
        long trainer_first = trainer_timer.count, loop_first = loop_timer.count;
        double t0 = volt_clock_seconds();
        trainer_epochs(data_path, root, epochs, &trainer_timer);
        double t1 = volt_clock_seconds();
        hand = (hand_loop){0};
        hand_loop_create(data_path, &hand);
        hand_epochs(&hand, epochs, &loop_timer);
        hand_loop_destroy(&hand);
        double t2 = volt_clock_seconds();
        trainer_seconds += t1 - t0;
        loop_seconds += t2 - t1;
        /* the two halves of a round ran a second apart: their ratio shrugs off slow drifts
         * of the machine's load */
        round_ratios[r] =
            median_of(trainer_timer.wall + trainer_first, trainer_timer.count - trainer_first) /
            median_of(loop_timer.wall + loop_first, loop_timer.count - loop_first);
    }
    double round_ratio = median_of(round_ratios, rounds);
    free(round_ratios);

    long steps = trainer_timer.count;
    /* per step: median wall, median CPU, whole run (set-up included) */
    const double trainer[3] = {median_of(trainer_timer.wall, steps),
                               median_of(trainer_timer.cpu, steps), trainer_seconds / steps};
    const double loop[3] = {median_of(loop_timer.wall, loop_timer.count),
                            median_of(loop_timer.cpu, loop_timer.count),
                            loop_seconds / loop_timer.count};
    volt_blas_info blas;
    volt_blas_query(&blas);
    printf("\nMLP 784-256-10, batch %d, f32, AdamW, %ld steps of each (%ld rounds of %ld "
           "epoch%s), %d BLAS thread%s, data in %s\n",
           BATCH, steps, rounds, epochs, epochs == 1 ? "" : "s", blas.threads,
           blas.threads == 1 ? "" : "s", dir);
    printf("%-18s %12s %12s %12s\n", "ms per step", "median wall", "median CPU", "whole run");
    printf("%-18s %12.4f %12.4f %12.4f\n", "volt_trainer_fit", trainer[0] * 1e3, trainer[1] * 1e3,
           trainer[2] * 1e3);
    printf("%-18s %12.4f %12.4f %12.4f\n", "hand-written loop", loop[0] * 1e3, loop[1] * 1e3,
           loop[2] * 1e3);
    printf("trainer / loop: %.4f wall (%.4f: median of the rounds' ratios), %.4f CPU\n",
           trainer[0] / loop[0], round_ratio, trainer[1] / loop[1]);
    printf("trainer overhead: %+.2f%% of the step in wall-clock time, %+.2f%% in CPU time "
           "(goal <= 1%%)\n",
           (trainer[0] / loop[0] - 1) * 100, (trainer[1] / loop[1] - 1) * 100);
    printf("(whole run: with each round's set-up; for the trainer the run folder, config.yaml,"
           " metrics.csv,\n the data module and the optimizer; for the loop the model, "
           "dataset, loader and optimizer)\n");
    char path[1024];
    if (strcmp(profiler_mode, "off") == 0)
        snprintf(path, sizeof path, "%s/trainer_overhead.csv", results);
    else
        snprintf(path, sizeof path, "%s/trainer_overhead_profiler_%s.csv", results, profiler_mode);
    write_csv(path, trainer, loop, steps, round_ratio, &blas);

    /* the temporary data and run folders */
    char command[600];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    if (system(command) != 0) fprintf(stderr, "trainer_overhead: could not remove %s\n", dir);
    timer_free(&trainer_timer);
    timer_free(&loop_timer);
    timer_free(&warmup);
    check(volt_finalize());
    return 0;
}

/* bench/scaling.c — data-parallel step time of the trainer: 1 rank against 2 ranks with
 * DDP (small buckets, overlapped with backward; one bucket, not overlapped) and ZeRO-1.
 *
 * Model: the built-in MLP (apps/models/mlp.c) 784-256-10, ReLU, f32, cross-entropy,
 * AdamW; per-rank batch 128 (weak scaling: the global batch is 128 * ranks). Data: rank
 * 0 writes a synthetic Fashion-MNIST-sized set in the layout of lib/data/dataset.h
 * (/train 60 000 x 784 u8 with scale 1/255 and u8 labels of 10 classes, /val 1 000) to
 * a temporary file, in /dev/shm when it exists, else /tmp; every rank reads it through
 * the HDF5 data module, as volt-train does.
 *
 * Configurations, each a fresh trainer, module and data module per repetition:
 *   (a) 1 rank: rank 0 fits on MPI_COMM_SELF (strategy single), rank 1 waits in a barrier
 *   (b) 2 ranks, ddp with its default buckets (25 MB: one bucket for this model, which
 *       volt_ddp_finish all-reduces after backward): what a user gets
 *   (c) 2 ranks, ddp, strategy.bucket_mb 0.25 (all buckets but the last all-reduced
 *       during backward): t(b)/t(c) is what overlap gains
 *   (d) 2 ranks, zero1
 *   (e) 2 ranks, each fitting alone on MPI_COMM_SELF at the same time: no communication,
 *       so t(a)/t(e) is the efficiency the machine itself allows two busy ranks (shared
 *       memory bandwidth and caches), and t(e)/t(b) what communication costs on top
 * Timing: one fit of WARMUP + TIMED steps (trainer.max_steps); a callback stamps the
 * wall clock at the end of optimizer step WARMUP and of step WARMUP + TIMED, so only the
 * timed steps count (set-up, the first steps and the end of fit are excluded). A
 * configuration's time is the slowest rank's; each is repeated REPS times (the
 * configurations interleaved, so that machine noise hits them alike) and the median
 * reported. No validation, sanity check, progress bar or model summary.
 *
 * Optimizer state bytes per rank: the trainer does not expose its optimizer, so they are
 * measured on the same parameter store outside the trainer: DDP from an AdamW
 * volt_optimizer over the whole flat buffer, ZeRO-1 from volt_zero_create on the world
 * communicator (the shard's optimizer, padded / dp elements).
 *
 *     OPENBLAS_NUM_THREADS=1 mpirun -n 2 bench_scaling [results dir] */
#include <hdf5.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "comm/comm.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/rng.h"
#include "data/datamodule.h"
#include "dist/zero.h"
#include "models/models.h"
#include "optim/optim.h"
#include "runtime/runtime.h"
#include "trainer/trainer.h"

enum { TRAIN = 60000, VAL = 1000, IN = 784, CLASSES = 10, BATCH = 128 };
enum { WARMUP = 30, TIMED = 200, REPS = 5, CONFIGS = 5 };

static void check(int status) {
    if (status != VOLT_OK) volt_abort_with_errors(status);
}

/* --- the data ---------------------------------------------------------------------------- */

static void fail_write(const char *path, const char *what) {
    fprintf(stderr, "bench_scaling: cannot write %s (%s)\n", path, what);
    MPI_Abort(MPI_COMM_WORLD, 1);
}

static void write_attribute(const char *path, hid_t where, const char *name, hid_t type,
                            const void *value) {
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attribute = H5Acreate2(where, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (attribute < 0 || H5Awrite(attribute, type, value) < 0) fail_write(path, name);
    H5Aclose(attribute);
    H5Sclose(space);
}

static void write_split(const char *path, hid_t file, const char *name, long count,
                        uint64_t stream) {
    unsigned char *x = malloc((size_t)count * IN);
    unsigned char *y = malloc((size_t)count);
    if (!x || !y) fail_write(path, "out of memory");
    for (long i = 0; i < count * IN; i++)
        x[i] = (unsigned char)(volt_rng_bits(11, stream, (uint64_t)i) & 0xff);
    for (long i = 0; i < count; i++)
        y[i] = (unsigned char)(volt_rng_bits(11, stream + 1, (uint64_t)i) % CLASSES);
    hid_t group = H5Gcreate2(file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const hsize_t x_dims[] = {(hsize_t)count, IN}, y_dims[] = {(hsize_t)count};
    hid_t x_space = H5Screate_simple(2, x_dims, NULL), y_space = H5Screate_simple(1, y_dims, NULL);
    hid_t xd = H5Dcreate2(group, "x", H5T_STD_U8LE, x_space, H5P_DEFAULT, H5P_DEFAULT,
                          H5P_DEFAULT);
    hid_t yd = H5Dcreate2(group, "y", H5T_STD_U8LE, y_space, H5P_DEFAULT, H5P_DEFAULT,
                          H5P_DEFAULT);
    if (group < 0 || xd < 0 || yd < 0 ||
        H5Dwrite(xd, H5T_NATIVE_UCHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) < 0 ||
        H5Dwrite(yd, H5T_NATIVE_UCHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT, y) < 0)
        fail_write(path, name);
    const double scale = 1.0 / 255.0;
    write_attribute(path, xd, "scale", H5T_NATIVE_DOUBLE, &scale);
    H5Dclose(xd);
    H5Dclose(yd);
    H5Sclose(x_space);
    H5Sclose(y_space);
    H5Gclose(group);
    free(x);
    free(y);
}

static void write_dataset(const char *path) {
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0) fail_write(path, "H5Fcreate");
    hid_t text = H5Tcopy(H5T_C_S1);
    H5Tset_size(text, strlen("volt-dataset-1"));
    write_attribute(path, file, "format", text, "volt-dataset-1");
    H5Tclose(text);
    const int64_t classes = CLASSES;
    write_attribute(path, file, "num_classes", H5T_NATIVE_INT64, &classes);
    write_split(path, file, "train", TRAIN, 0);
    write_split(path, file, "val", VAL, 2);
    if (H5Fclose(file) < 0) fail_write(path, "H5Fclose");
}

/* --- the step timer: stamps at the end of steps WARMUP and WARMUP + TIMED ---------------- */

typedef struct step_window {
    double start, end;
} step_window;

static int window_setup(volt_callback *cb, const volt_config *config, int index,
                        const void *options) {
    (void)config;
    (void)index;
    *(step_window **)volt_callback_state(cb) = *(step_window *const *)options;
    return VOLT_OK;
}

static int window_batch_end(volt_callback *cb, volt_trainer *t, volt_module *m, long i) {
    (void)m;
    (void)i;
    step_window *w = *(step_window **)volt_callback_state(cb);
    long step = volt_trainer_global_step(t);
    if (step == WARMUP) w->start = volt_clock_seconds();
    if (step == WARMUP + TIMED) w->end = volt_clock_seconds();
    return VOLT_OK;
}

static const volt_callback_ops step_window_ops = {
    .name = "StepWindow",
    .state_size = sizeof(step_window *),
    .setup = window_setup,
    .on_train_batch_end = window_batch_end,
};

/* --- one configuration ------------------------------------------------------------------- */

typedef struct bench_config {
    const char *label;
    const char *strategy;
    const char *bucket_mb;
    int ranks;       /* ranks in the fit: 1 = rank 0 alone on MPI_COMM_SELF */
    int independent; /* every rank fits alone on MPI_COMM_SELF, at the same time */
} bench_config;

static const bench_config configs[CONFIGS] = {
    {"(a) 1 rank, single", "single", "25", 1, 0},
    {"(b) 2 ranks, ddp (default)", "ddp", "25", 2, 0},
    {"(c) 2 ranks, ddp 0.25 MB", "ddp", "0.25", 2, 0},
    {"(d) 2 ranks, zero1", "zero1", "25", 2, 0},
    {"(e) 2 independent ranks", "single", "25", 2, 1},
};

/* The configuration volt-train would resolve: trainer, data module and MLP keys. */
static volt_config *make_config(const char *data_path, const char *root, const bench_config *c) {
    volt_config *config;
    check(volt_config_create(&config));
    check(volt_trainer_declare(config));
    check(volt_hdf5_datamodule_ops.declare(config));
    check(volt_mlp_ops.declare(config));
    char steps[32], batch[32], in[32], classes[32];
    snprintf(steps, sizeof steps, "%d", WARMUP + TIMED);
    snprintf(batch, sizeof batch, "%d", BATCH);
    snprintf(in, sizeof in, "%d", IN);
    snprintf(classes, sizeof classes, "%d", CLASSES);
    const char *settings[][2] = {
        {"data.path", data_path},
        {"data.batch_size", batch},
        {"data.prefetch", "false"}, /* 2 ranks on 2 cores: no third thread competing */
        {"trainer.max_steps", steps},
        {"trainer.limit_val_batches", "0"},
        {"trainer.num_sanity_val_steps", "0"},
        {"trainer.enable_progress_bar", "false"},
        {"trainer.enable_model_summary", "false"},
        {"trainer.default_root_dir", root},
        {"trainer.name", "scaling"},
        {"trainer.strategy", c->strategy},
        {"strategy.bucket_mb", c->bucket_mb},
        {"optimizer.name", "adamw"},
        {"model.hidden", "256"},
        {"model.input_size", in},
        {"model.num_classes", classes},
    };
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
        check(volt_config_set(config, settings[i][0], settings[i][1], "bench_scaling"));
    check(volt_config_resolve(config));
    return config;
}

/* Seconds per timed step on this rank (0 on a rank that does not take part). */
static double run_config(const char *data_path, const char *root, const bench_config *c,
                         int rank) {
    double per_step = 0;
    if (c->ranks == 2 || rank == 0) {
        MPI_Comm comm = c->ranks == 2 && !c->independent ? MPI_COMM_WORLD : MPI_COMM_SELF;
        /* independent fits each write their own run folders */
        char own_root[400];
        snprintf(own_root, sizeof own_root, "%s/rank%d", root, rank);
        volt_config *config = make_config(data_path, c->independent ? own_root : root, c);
        volt_trainer *trainer;
        volt_module *module;
        volt_datamodule *data;
        step_window window = {0, 0};
        step_window *window_ptr = &window;
        check(volt_trainer_create_on(config, comm, &trainer));
        check(volt_trainer_add_callback(trainer, &step_window_ops, &window_ptr));
        check(volt_module_create(&volt_mlp_ops, config, 42, &module));
        check(volt_datamodule_create(&volt_hdf5_datamodule_ops, &data));
        check(volt_trainer_fit(trainer, module, data));
        if (volt_trainer_global_step(trainer) != WARMUP + TIMED || window.end <= window.start) {
            fprintf(stderr, "bench_scaling: %s stopped at step %ld (expected %d)\n", c->label,
                    volt_trainer_global_step(trainer), WARMUP + TIMED);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        per_step = (window.end - window.start) / TIMED;
        volt_datamodule_destroy(data);
        volt_module_destroy(module);
        volt_trainer_destroy(trainer);
        volt_config_destroy(config);
    }
    MPI_Barrier(MPI_COMM_WORLD); /* rank 1 waits here during (a) */
    MPI_Allreduce(MPI_IN_PLACE, &per_step, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return per_step;
}

/* --- optimizer state per rank, outside the trainer --------------------------------------- */

static void optimizer_state_bytes(const char *data_path, const char *root, size_t *ddp,
                                  size_t *zero, size_t *numel, size_t *padded) {
    volt_config *config = make_config(data_path, root, &configs[3]);
    volt_module *module;
    check(volt_module_create(&volt_mlp_ops, config, 42, &module));
    volt_params *params = volt_module_params(module);
    *numel = volt_params_numel(params);
    volt_optimizer_options adamw = volt_optimizer_defaults(VOLT_OPTIM_ADAMW);
    volt_optimizer *full;
    check(volt_optimizer_create(&adamw, VOLT_F32, 0, volt_params_flat_size(params), &full));
    *ddp = volt_optimizer_state_bytes(full);
    volt_optimizer_destroy(full);
    volt_comm *world;
    check(volt_comm_create(MPI_COMM_WORLD, &world));
    volt_zero *z;
    check(volt_zero_create(world, params, &adamw, &z));
    *zero = volt_optimizer_state_bytes(volt_zero_optimizer(z));
    *padded = volt_zero_padded_size(z);
    volt_zero_destroy(z);
    volt_comm_destroy(world);
    volt_module_destroy(module);
    volt_config_destroy(config);
}

/* --- main -------------------------------------------------------------------------------- */

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    check(volt_init(&argc, &argv));
    const char *results = argc > 1 ? argv[1] : "bench/results";
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size != 2) {
        if (rank == 0) fprintf(stderr, "bench_scaling: run it on 2 ranks (mpirun -n 2)\n");
        check(volt_finalize());
        return 2;
    }

    /* a temporary folder for the data file and the trainers' run folders */
    char dir[256] = "";
    if (rank == 0) {
        char in_memory[] = "/dev/shm/volt_scaling_XXXXXX";
        char on_disk[] = "/tmp/volt_scaling_XXXXXX";
        const char *made = mkdtemp(in_memory);
        if (!made) made = mkdtemp(on_disk);
        if (!made) {
            fprintf(stderr, "bench_scaling: cannot create a temporary folder\n");
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        snprintf(dir, sizeof dir, "%s", made);
    }
    MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
    char data_path[320], root[320];
    snprintf(data_path, sizeof data_path, "%s/data.h5", dir);
    snprintf(root, sizeof root, "%s/runs", dir);
    if (rank == 0) {
        double t0 = volt_clock_seconds();
        write_dataset(data_path);
        printf("wrote %s (%d x %d u8 train, %d val) in %.2f s\n", data_path, TRAIN, IN, VAL,
               volt_clock_seconds() - t0);
        fflush(stdout);
    }
    MPI_Barrier(MPI_COMM_WORLD);

    double times[CONFIGS][REPS];
    for (int r = 0; r < REPS; r++)
        for (int c = 0; c < CONFIGS; c++) {
            times[c][r] = run_config(data_path, root, &configs[c], rank);
            if (rank == 0) {
                printf("  rep %d %-28s %8.3f ms/step\n", r + 1, configs[c].label,
                       times[c][r] * 1e3);
                fflush(stdout);
            }
        }
    double median[CONFIGS];
    for (int c = 0; c < CONFIGS; c++) {
        qsort(times[c], REPS, sizeof(double), compare_doubles);
        median[c] = times[c][REPS / 2];
    }
    size_t ddp_bytes, zero_bytes, numel, padded;
    optimizer_state_bytes(data_path, root, &ddp_bytes, &zero_bytes, &numel, &padded);

    if (rank == 0) {
        const char *blas = getenv("OPENBLAS_NUM_THREADS");
        printf("\nMLP 784-256-10 (%zu parameters), AdamW, f32, per-rank batch %d, %d warm-up + "
               "%d timed steps per fit, median of %d, OPENBLAS_NUM_THREADS=%s\n",
               numel, BATCH, WARMUP, TIMED, REPS, blas ? blas : "(unset)");
        printf("%-28s %10s %14s %16s\n", "configuration", "ms/step", "samples/s", "optim bytes/rank");
        FILE *csv = NULL;
        char path[1024];
        snprintf(path, sizeof path, "%s/scaling.csv", results);
        csv = fopen(path, "w");
        if (csv)
            fprintf(csv, "configuration,ranks,strategy,bucket_mb,ms_per_step,samples_per_s,"
                         "optimizer_state_bytes_per_rank,vs_b\n");
        for (int c = 0; c < CONFIGS; c++) {
            const bench_config *k = &configs[c];
            double samples = (double)BATCH * k->ranks / median[c];
            size_t bytes = strcmp(k->strategy, "zero1") == 0 ? zero_bytes : ddp_bytes;
            printf("%-28s %10.3f %14.0f %16zu\n", k->label, median[c] * 1e3, samples, bytes);
            if (csv)
                fprintf(csv, "\"%s\",%d,%s,%s,%.5f,%.1f,%zu,%.4f\n", k->label, k->ranks,
                        k->strategy, k->bucket_mb, median[c] * 1e3, samples, bytes,
                        median[c] / median[1]);
        }
        double efficiency = median[0] / median[1];
        double overlap = median[1] / median[2];
        double zero_ratio = median[3] / median[1];
        printf("weak-scaling efficiency t(a)/t(b): %.3f (goal >= 0.90)\n", efficiency);
        printf("overlap gain t(b)/t(c):            %.3f (> 1: overlapping buckets help)\n",
               overlap);
        printf("ZeRO/DDP t(d)/t(b):                %.3f (goal <= 1.05)\n", zero_ratio);
        printf("machine limit t(a)/t(e):           %.3f (two busy ranks, no communication)\n",
               median[0] / median[4]);
        printf("communication cost t(e)/t(b):      %.3f\n", median[4] / median[1]);
        printf("optimizer state per rank: DDP %zu B (AdamW over %zu flat elements), ZeRO-1 %zu "
               "B (padded %zu / dp 2), ratio %.3f\n",
               ddp_bytes, ddp_bytes / 8, zero_bytes, padded, (double)zero_bytes / ddp_bytes);
        if (csv) {
            fprintf(csv,
                    "# efficiency_a_over_b,%.4f\n# overlap_b_over_c,%.4f\n"
                    "# zero_d_over_b,%.4f\n# machine_limit_a_over_e,%.4f\n",
                    efficiency, overlap, zero_ratio, median[0] / median[4]);
            fclose(csv);
            printf("wrote %s\n", path);
        } else {
            fprintf(stderr, "bench_scaling: cannot write %s (results not saved)\n", path);
        }
        char command[600];
        snprintf(command, sizeof command, "rm -rf '%s'", dir);
        if (system(command) != 0) fprintf(stderr, "bench_scaling: could not remove %s\n", dir);
    }
    check(volt_finalize());
    return 0;
}

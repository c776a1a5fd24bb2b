/* bench/scaling.c — data-parallel step time of the trainer at P ranks against 1 rank: weak
 * and strong scaling, DDP (one bucket, not overlapped; small buckets, overlapped with
 * backward) and ZeRO-1. One program for any P that divides 512 (bench/run: 2 and 4).
 *
 * Model: the built-in MLP (apps/models/mlp.c) 784-256-10, ReLU, f32, cross-entropy,
 * AdamW. Data: rank 0 writes a synthetic Fashion-MNIST-shaped set in the layout of
 * lib/data/dataset.h (/train N x 784 u8 with scale 1/255 and u8 labels of 10 classes,
 * /val 1 000; N = 60 000, or more so that one epoch holds every fit's warm-up and timed
 * steps: no epoch end inside the timing) to a temporary file, in /dev/shm when it exists,
 * else /tmp; every rank reads it through the HDF5 data module, as volt-train does.
 *
 * Configurations, each a fresh trainer, module and data module per repetition:
 *   weak scaling, per-rank batch 128 (the global batch is 128 P):
 *   (a) 1 rank: rank 0 fits on MPI_COMM_SELF (strategy single)
 *   (b) P ranks, ddp with its default buckets (25 MB: one bucket for this model, which
 *       volt_ddp_finish all-reduces after backward): what a user gets
 *   (c) P ranks, ddp, strategy.bucket_mb 0.25 (all buckets but the last all-reduced
 *       during backward): t(b)/t(c) is what overlap gains
 *   (d) P ranks, zero1
 *   (e) P ranks, each fitting alone on MPI_COMM_SELF at the same time: no communication,
 *       so t(a)/t(e) is the efficiency the machine itself allows P busy ranks (shared
 *       cores, memory bandwidth and caches), and t(e)/t(b) what communication costs on top
 *   strong scaling, global batch 512 (per-rank 512 / P):
 *   (f) 1 rank, batch 512
 *   (g), (h), (i), (j) as (b), (c), (d), (e) with per-rank batch 512 / P: speedup
 *       t(f)/t(g), efficiency speedup / P; t(f)/t(j) is the speedup the machine allows
 *       without communication
 * Efficiency is t(1 rank)/t(P) for weak scaling and t(1 rank)/(P t(P)) for strong: in
 * both, samples/s at P over P times samples/s at 1 rank.
 * Ranks left out of a configuration (all but rank 0 in (a) and (f)) wait in a barrier
 * that sleeps, so that they leave the cores to the fitting rank; with more ranks than
 * cores (4 on 2 here: oversubscribed, which the output and the CSV say) the fitting ranks
 * of (b)-(e) and (g)-(j) take turns on the cores (Open MPI then yields the core between
 * polls in its waits: mpi_yield_when_idle), so those figures measure time-sharing.
 * Timing: one fit of WARMUP + TIMED steps (trainer.max_steps); a callback stamps the
 * wall clock at the end of optimizer step WARMUP and of step WARMUP + TIMED, so only the
 * timed steps count (set-up, the first steps and the end of fit are excluded); the
 * independent fits of (e) and (j) meet in a world barrier at step WARMUP, so that their
 * timed steps run at the same time. A configuration's time is the slowest rank's; each is
 * repeated REPS times (the configurations interleaved, so that machine noise hits them
 * alike) and the median reported. TIMED (200) and REPS (5) are arguments: fewer for a
 * smoke check (bench/run --quick: 20 and 1). No validation, sanity check, progress bar or
 * model summary.
 *
 * Optimizer state bytes per rank: the trainer does not expose its optimizer, so they are
 * measured on the same parameter store outside the trainer: DDP from an AdamW
 * volt_optimizer over the whole flat buffer, ZeRO-1 from volt_zero_create on the world
 * communicator (the shard's optimizer, padded / P elements).
 *
 * Writes <results dir>/scaling.csv: one row per configuration (configuration, ranks in
 * the fit, strategy, bucket_mb, ms_per_step, samples_per_s, optimizer_state_bytes_per_rank,
 * scaling, world_ranks, per_rank_batch, global_batch, speedup, efficiency), then `#` lines
 * with the ranks and cores per node and the summary ratios.
 *
 *     OPENBLAS_NUM_THREADS=1 mpirun -n P [--oversubscribe] bench_scaling [results dir]
 *         [repetitions (5)] [timed steps (200)] */
#include <hdf5.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

enum { MIN_TRAIN = 60000, VAL = 1000, IN = 784, CLASSES = 10 };
enum { WEAK_BATCH = 128, STRONG_GLOBAL_BATCH = 512 };
enum { WARMUP = 30, DEFAULT_TIMED = 200, DEFAULT_REPS = 5, CONFIGS = 10 };

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
    hid_t xd = H5Dcreate2(group, "x", H5T_STD_U8LE, x_space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t yd = H5Dcreate2(group, "y", H5T_STD_U8LE, y_space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
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

static void write_dataset(const char *path, long train) {
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0) fail_write(path, "H5Fcreate");
    hid_t text = H5Tcopy(H5T_C_S1);
    H5Tset_size(text, strlen("volt-dataset-1"));
    write_attribute(path, file, "format", text, "volt-dataset-1");
    H5Tclose(text);
    const int64_t classes = CLASSES;
    write_attribute(path, file, "num_classes", H5T_NATIVE_INT64, &classes);
    write_split(path, file, "train", train, 0);
    write_split(path, file, "val", VAL, 2);
    if (H5Fclose(file) < 0) fail_write(path, "H5Fclose");
}

/* --- waiting without spinning ------------------------------------------------------------ */

/* A barrier over the world that sleeps 0.5 ms between polls: a rank left out of a
 * configuration leaves its core to the ranks that fit (MPI_Barrier would spin on it). */
static void sleeping_barrier(void) {
    MPI_Request request;
    MPI_Ibarrier(MPI_COMM_WORLD, &request);
    const struct timespec pause = {0, 500000};
    for (int done = 0;;) {
        MPI_Test(&request, &done, MPI_STATUS_IGNORE);
        if (done) break;
        nanosleep(&pause, NULL);
    }
}

/* --- the step timer: stamps at the end of steps WARMUP and WARMUP + timed ---------------- */

typedef struct step_window {
    long timed_steps;
    int meet_at_start; /* independent fits: a world barrier before the first stamp */
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
    if (step == WARMUP) {
        if (w->meet_at_start) MPI_Barrier(MPI_COMM_WORLD);
        w->start = volt_clock_seconds();
    }
    if (step == WARMUP + w->timed_steps) w->end = volt_clock_seconds();
    return VOLT_OK;
}

static const volt_callback_ops step_window_ops = {
    .name = "StepWindow",
    .state_size = sizeof(step_window *),
    .setup = window_setup,
    .on_train_batch_end = window_batch_end,
};

/* --- the configurations ------------------------------------------------------------------ */

typedef struct bench_config {
    char letter;
    const char *scaling; /* "weak" or "strong" */
    const char *strategy;
    const char *bucket_mb;
    int all_ranks;   /* 0: rank 0 alone on MPI_COMM_SELF; 1: every rank of the world */
    int independent; /* every rank fits alone on MPI_COMM_SELF, at the same time */
    /* filled in for this world size by main: */
    int ranks;          /* ranks in the fit (1 or P) */
    int per_rank_batch; /* weak: 128; strong: 512 / ranks */
    char label[64];
} bench_config;

static bench_config configs[CONFIGS] = {
    {'a', "weak", "single", "25", 0, 0, 0, 0, ""},  {'b', "weak", "ddp", "25", 1, 0, 0, 0, ""},
    {'c', "weak", "ddp", "0.25", 1, 0, 0, 0, ""},   {'d', "weak", "zero1", "25", 1, 0, 0, 0, ""},
    {'e', "weak", "single", "25", 1, 1, 0, 0, ""},  {'f', "strong", "single", "25", 0, 0, 0, 0, ""},
    {'g', "strong", "ddp", "25", 1, 0, 0, 0, ""},   {'h', "strong", "ddp", "0.25", 1, 0, 0, 0, ""},
    {'i', "strong", "zero1", "25", 1, 0, 0, 0, ""}, {'j', "strong", "single", "25", 1, 1, 0, 0, ""},
};
enum { A, B, C, D, E, F, G, H, I, J }; /* indices into configs */

/* Ranks, per-rank batch and label, e.g. "(g) 2 ranks x 256, ddp 0.25 MB". */
static void complete_configs(int world) {
    for (int c = 0; c < CONFIGS; c++) {
        bench_config *k = &configs[c];
        k->ranks = k->all_ranks ? world : 1;
        k->per_rank_batch =
            strcmp(k->scaling, "weak") == 0 ? WEAK_BATCH : STRONG_GLOBAL_BATCH / k->ranks;
        char what[32];
        if (k->independent)
            snprintf(what, sizeof what, "independent");
        else if (strcmp(k->strategy, "ddp") == 0)
            snprintf(what, sizeof what, "ddp %s",
                     strcmp(k->bucket_mb, "25") == 0 ? "(default)" : "0.25 MB");
        else
            snprintf(what, sizeof what, "%s", k->strategy);
        snprintf(k->label, sizeof k->label, "(%c) %d rank%s x %d, %s", k->letter, k->ranks,
                 k->ranks == 1 ? "" : "s", k->per_rank_batch, what);
    }
}

/* The configuration volt-train would resolve: trainer, data module and MLP keys. */
static volt_config *make_config(const char *data_path, const char *root, const bench_config *c,
                                long timed_steps) {
    volt_config *config;
    check(volt_config_create(&config));
    check(volt_trainer_declare(config));
    check(volt_hdf5_datamodule_ops.declare(config));
    check(volt_mlp_ops.declare(config));
    char steps[32], batch[32], in[32], classes[32];
    snprintf(steps, sizeof steps, "%ld", WARMUP + timed_steps);
    snprintf(batch, sizeof batch, "%d", c->per_rank_batch);
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

/* Seconds per timed step, the slowest rank's. */
static double run_config(const char *data_path, const char *root, const bench_config *c,
                         long timed_steps, int rank) {
    double per_step = 0;
    if (c->all_ranks || rank == 0) {
        MPI_Comm comm = c->all_ranks && !c->independent ? MPI_COMM_WORLD : MPI_COMM_SELF;
        /* independent fits each write their own run folders */
        char own_root[400];
        snprintf(own_root, sizeof own_root, "%s/rank%d", root, rank);
        volt_config *config =
            make_config(data_path, c->independent ? own_root : root, c, timed_steps);
        volt_trainer *trainer;
        volt_module *module;
        volt_datamodule *data;
        step_window window = {timed_steps, c->independent, 0, 0};
        step_window *window_ptr = &window;
        check(volt_trainer_create_on(config, comm, &trainer));
        check(volt_trainer_add_callback(trainer, &step_window_ops, &window_ptr));
        check(volt_module_create(&volt_mlp_ops, config, 42, &module));
        check(volt_datamodule_create(&volt_hdf5_datamodule_ops, &data));
        check(volt_trainer_fit(trainer, module, data));
        if (volt_trainer_global_step(trainer) != WARMUP + timed_steps ||
            window.end <= window.start) {
            fprintf(stderr, "bench_scaling: %s stopped at step %ld (expected %ld)\n", c->label,
                    volt_trainer_global_step(trainer), WARMUP + timed_steps);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        per_step = (window.end - window.start) / (double)timed_steps;
        volt_datamodule_destroy(data);
        volt_module_destroy(module);
        volt_trainer_destroy(trainer);
        volt_config_destroy(config);
    }
    sleeping_barrier(); /* the other ranks wait here during (a) and (f) */
    MPI_Allreduce(MPI_IN_PLACE, &per_step, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return per_step;
}

/* --- optimizer state per rank, outside the trainer --------------------------------------- */

static void optimizer_state_bytes(const char *data_path, const char *root, size_t *ddp,
                                  size_t *zero, size_t *numel, size_t *padded) {
    volt_config *config = make_config(data_path, root, &configs[D], DEFAULT_TIMED);
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

/* A positive count from argv[index], or fallback when absent. */
static long count_argument(int argc, char **argv, int index, long fallback, const char *what) {
    if (argc <= index) return fallback;
    char *end;
    long value = strtol(argv[index], &end, 10);
    if (*end || value < 1) {
        fprintf(stderr, "bench_scaling: %s must be a positive number, not '%s'\n", what,
                argv[index]);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    return value;
}

/* The 1-rank configuration of c's scaling: (a) or (f). */
static int base_of(int c) { return strcmp(configs[c].scaling, "weak") == 0 ? A : F; }

int main(int argc, char **argv) {
    check(volt_init(&argc, &argv));
    const char *results = argc > 1 ? argv[1] : "bench/results";
    const long reps = count_argument(argc, argv, 2, DEFAULT_REPS, "repetitions");
    const long timed_steps = count_argument(argc, argv, 3, DEFAULT_TIMED, "timed steps");
    int rank, world;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    if (STRONG_GLOBAL_BATCH % world != 0) {
        if (rank == 0)
            fprintf(stderr,
                    "bench_scaling: strong scaling splits a batch of %d over the ranks: "
                    "run it on a number of ranks that divides it (1, 2, 4, ...), not %d\n",
                    STRONG_GLOBAL_BATCH, world);
        check(volt_finalize());
        return 2;
    }
    complete_configs(world);

    /* ranks sharing this node against its cores: more ranks than cores take turns */
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);
    int ranks_per_node;
    MPI_Comm_size(node, &ranks_per_node);
    MPI_Comm_free(&node);
    MPI_Allreduce(MPI_IN_PLACE, &ranks_per_node, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    const int oversubscribed = cores > 0 && ranks_per_node > cores;

    /* one epoch holds every fit: the largest global batch times the steps of a fit */
    long largest_batch = (long)WEAK_BATCH * world;
    if (largest_batch < STRONG_GLOBAL_BATCH) largest_batch = STRONG_GLOBAL_BATCH;
    long train = largest_batch * (WARMUP + timed_steps);
    train = train < MIN_TRAIN ? MIN_TRAIN : (train + 999) / 1000 * 1000;

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
        write_dataset(data_path, train);
        printf("wrote %s (%ld x %d u8 train, %d val) in %.2f s\n", data_path, train, IN, VAL,
               volt_clock_seconds() - t0);
        if (oversubscribed)
            printf("oversubscribed: %d ranks on %ld cores take turns on them\n", ranks_per_node,
                   cores);
        fflush(stdout);
    }
    MPI_Barrier(MPI_COMM_WORLD);

    double *times = malloc(sizeof(double) * CONFIGS * (size_t)reps);
    if (!times) {
        fprintf(stderr, "bench_scaling: out of memory\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    for (long r = 0; r < reps; r++)
        for (int c = 0; c < CONFIGS; c++) {
            times[c * reps + r] = run_config(data_path, root, &configs[c], timed_steps, rank);
            if (rank == 0) {
                printf("  rep %ld %-34s %8.3f ms/step\n", r + 1, configs[c].label,
                       times[c * reps + r] * 1e3);
                fflush(stdout);
            }
        }
    double median[CONFIGS];
    for (int c = 0; c < CONFIGS; c++) {
        qsort(times + c * reps, (size_t)reps, sizeof(double), compare_doubles);
        median[c] = reps % 2 ? times[c * reps + reps / 2]
                             : 0.5 * (times[c * reps + reps / 2 - 1] + times[c * reps + reps / 2]);
    }
    free(times);
    size_t ddp_bytes, zero_bytes, numel, padded;
    optimizer_state_bytes(data_path, root, &ddp_bytes, &zero_bytes, &numel, &padded);

    if (rank == 0) {
        const char *blas = getenv("OPENBLAS_NUM_THREADS");
        printf("\nMLP 784-256-10 (%zu parameters), AdamW, f32, %d rank%s (%d per node, %ld "
               "cores%s), %d warm-up + %ld timed steps per fit, median of %ld, "
               "OPENBLAS_NUM_THREADS=%s\n",
               numel, world, world == 1 ? "" : "s", ranks_per_node, cores,
               oversubscribed ? ": oversubscribed" : "", WARMUP, timed_steps, reps,
               blas ? blas : "(unset)");
        char path[1024];
        snprintf(path, sizeof path, "%s/scaling.csv", results);
        FILE *csv = fopen(path, "w");
        if (csv)
            fprintf(csv, "configuration,ranks,strategy,bucket_mb,ms_per_step,samples_per_s,"
                         "optimizer_state_bytes_per_rank,scaling,world_ranks,per_rank_batch,"
                         "global_batch,speedup,efficiency\n");
        for (int c = 0; c < CONFIGS; c++) {
            const bench_config *k = &configs[c];
            if (c == A || c == F)
                printf("%s scaling: %s\n%-34s %10s %12s %9s %10s %16s\n",
                       c == A ? "weak" : "\nstrong",
                       c == A ? "per-rank batch 128, t(1)/t(P)"
                              : "global batch 512 over the ranks, speedup t(1)/t(P), "
                                "efficiency speedup/P",
                       "configuration", "ms/step", "samples/s", "speedup", "efficiency",
                       "optim bytes/rank");
            const int global_batch = k->per_rank_batch * k->ranks;
            const double samples = global_batch / median[c];
            const double base_samples = configs[base_of(c)].per_rank_batch / median[base_of(c)];
            const double speedup = samples / base_samples, efficiency = speedup / k->ranks;
            const size_t bytes = strcmp(k->strategy, "zero1") == 0 ? zero_bytes : ddp_bytes;
            printf("%-34s %10.3f %12.0f %9.3f %10.3f %16zu\n", k->label, median[c] * 1e3, samples,
                   speedup, efficiency, bytes);
            if (csv)
                fprintf(csv, "\"%s\",%d,%s,%s,%.5f,%.1f,%zu,%s,%d,%d,%d,%.4f,%.4f\n", k->label,
                        k->ranks, k->strategy, k->bucket_mb, median[c] * 1e3, samples, bytes,
                        k->scaling, world, k->per_rank_batch, global_batch, speedup, efficiency);
        }
        const double weak = median[A] / median[B], overlap = median[B] / median[C];
        const double zero_ratio = median[D] / median[B], limit = median[A] / median[E];
        const double strong = median[F] / median[G], strong_overlap = median[G] / median[H];
        const double strong_zero = median[I] / median[G], strong_limit = median[F] / median[J];
        const char *plural = world == 1 ? "" : "s";
        printf("\nweak scaling, %d rank%s against 1:\n", world, plural);
        printf("  efficiency t(a)/t(b):            %.3f (goal >= 0.90)\n", weak);
        printf("  overlap gain t(b)/t(c):          %.3f (> 1: overlapping buckets help)\n",
               overlap);
        printf("  ZeRO/DDP t(d)/t(b):              %.3f (goal <= 1.05)\n", zero_ratio);
        printf("  machine limit t(a)/t(e):         %.3f (%d busy rank%s, no communication)\n",
               limit, world, plural);
        printf("  communication cost t(e)/t(b):    %.3f\n", median[E] / median[B]);
        printf("strong scaling, %d rank%s against 1:\n", world, plural);
        printf("  speedup t(f)/t(g):               %.3f (efficiency %.3f)\n", strong,
               strong / world);
        printf("  overlap gain t(g)/t(h):          %.3f\n", strong_overlap);
        printf("  ZeRO/DDP t(i)/t(g):              %.3f\n", strong_zero);
        printf("  machine limit t(f)/t(j):         %.3f (efficiency %.3f; no communication)\n",
               strong_limit, strong_limit / world);
        printf("  communication cost t(j)/t(g):    %.3f\n", median[J] / median[G]);
        printf("optimizer state per rank: DDP %zu B (AdamW over %zu flat elements), ZeRO-1 %zu "
               "B (padded %zu / %d rank%s), ratio %.3f\n",
               ddp_bytes, ddp_bytes / 8, zero_bytes, padded, world, plural,
               (double)zero_bytes / ddp_bytes);
        if (oversubscribed)
            printf("%d ranks on %ld cores: oversubscribed, the ranks take turns on the cores\n",
                   ranks_per_node, cores);
        if (csv) {
            fprintf(csv,
                    "# world_ranks,%d\n# ranks_per_node,%d\n# cores_per_node,%ld\n"
                    "# oversubscribed,%d\n# repetitions,%ld\n# timed_steps,%ld\n"
                    "# efficiency_a_over_b,%.4f\n# overlap_b_over_c,%.4f\n"
                    "# zero_d_over_b,%.4f\n# machine_limit_a_over_e,%.4f\n"
                    "# strong_speedup_f_over_g,%.4f\n# strong_overlap_g_over_h,%.4f\n"
                    "# strong_zero_i_over_g,%.4f\n# strong_machine_limit_f_over_j,%.4f\n",
                    world, ranks_per_node, cores, oversubscribed, reps, timed_steps, weak, overlap,
                    zero_ratio, limit, strong, strong_overlap, strong_zero, strong_limit);
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

/* bench/ckpt_io.c — checkpoint I/O against the disk's own speed, at 2 ranks.
 *
 * Part 1, a 1 GiB checkpoint: a model of 89.5 M f32 parameters in three 2-D tensors with
 * AdamW state (exp_avg, exp_avg_sq): 3 x 358 MB. Volt writes it with lib/ckpt as the
 * trainer does (collective MPI-IO, then fsync, rename and folder fsync on commit), both
 * ways its strategies do: DDP (every rank holds everything and writes half of each
 * tensor) and ZeRO-1 (each rank writes its own shard of the optimizer state). The
 * reference is `dd if=/dev/zero bs=8M conv=fsync` writing the same number of bytes into
 * the same folder, twice: over the same file again (its page cache reused), and into a
 * new file then renamed over the old one, as a checkpoint is written (the previous file
 * stays whole until the rename, so the new one needs fresh pages: on this kind of VM,
 * pages just freed are handed back to the host and are slow to get again). Reads: Volt reads the
 * model on every rank and the optimizer state of each rank's shard (what a ZeRO-1 resume reads)
 * against `dd of=/dev/null` of the file. Before each read the page cache is dropped when the kernel
 * lets us (root, not in a container), so that both read from the disk; otherwise the report says
 * the reads were cached. Volt and dd take turns, REPS times, in rotating order; medians, and ratios
 * as bandwidths (dd time / Volt time: >= 1 means Volt is as fast).
 *
 * Part 2, the demo's share (when a Fashion-MNIST file in Volt's layout is given): the
 * demo's configuration (MLP 784-256-10, per-rank batch 64) fits 3 epochs on 2 ranks; a
 * callback times each epoch and a volt_trainer_save_checkpoint at its end.
 *
 *     mpirun -n 2 bench_ckpt_io [results dir] [work dir] [fashion_mnist.h5] */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt/checkpoint.h"
#include "core/clock.h"
#include "core/config.h"
#include "data/datamodule.h"
#include "models/models.h"
#include "runtime/runtime.h"
#include "trainer/trainer.h"

enum { REPS = 8 }; /* two rounds of the four orders */

static void check(int status) {
    if (status != VOLT_OK) volt_abort_with_errors(status);
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, compare_doubles);
    return v[n / 2];
}

/* Rank 0 runs a shell command; every rank gets its wall time. */
static double timed_command(const char *command, int rank) {
    double seconds = 0;
    if (rank == 0) {
        double t0 = volt_clock_seconds();
        if (system(command) != 0) {
            fprintf(stderr, "bench_ckpt_io: '%s' failed\n", command);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        seconds = volt_clock_seconds() - t0;
    }
    MPI_Bcast(&seconds, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    return seconds;
}

/* Drops the page cache (all ranks wait); returns whether the kernel allowed it. The
 * files read were fsynced when written, so their pages are clean and do drop. */
static int drop_caches(int rank) {
    int ok = 0;
    if (rank == 0) {
        FILE *f = fopen("/proc/sys/vm/drop_caches", "w");
        ok = f && fputs("3\n", f) >= 0;
        if (f && fclose(f) != 0) ok = 0;
    }
    MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return ok;
}

/* --- part 1 ------------------------------------------------------------------------------ */

typedef struct model {
    volt_params *params;
    volt_optimizer *full;  /* DDP: the whole buffer */
    volt_optimizer *shard; /* ZeRO-1: this rank's shard */
    size_t shard_offset, shard_length;
} model;

static void fill(float *x, size_t n, float base) {
    for (size_t i = 0; i < n; i++) x[i] = base + (float)(i % 1000) * 1e-3f;
}

static model make_model(int rank, int size) {
    model m;
    check(volt_params_create(VOLT_F32, 1, &m.params));
    volt_param *p;
    check(volt_params_add(m.params, "layer1.weight", 2, (const long[]){8192, 4096}, &p));
    check(volt_params_add(m.params, "layer2.weight", 2, (const long[]){8192, 4096}, &p));
    check(volt_params_add(m.params, "layer3.weight", 2, (const long[]){4096, 5461}, &p));
    size_t unit = (size_t)size * VOLT_PARAM_ALIGN;
    size_t padded = (volt_params_flat_size(m.params) + unit - 1) / unit * unit;
    check(volt_params_pad_to(m.params, padded));
    fill(volt_params_data(m.params), padded, 0.5f);
    volt_optimizer_options adamw = volt_optimizer_defaults(VOLT_OPTIM_ADAMW);
    check(volt_optimizer_create(&adamw, VOLT_F32, 0, padded, &m.full));
    m.shard_length = padded / (size_t)size;
    m.shard_offset = (size_t)rank * m.shard_length;
    check(volt_optimizer_create(&adamw, VOLT_F32, m.shard_offset, m.shard_length, &m.shard));
    for (int s = 0; s < 2; s++) {
        const char *name;
        void *data;
        check(volt_optimizer_state(m.full, s, &name, &data));
        fill(data, padded, 1.0f + (float)s);
        check(volt_optimizer_state(m.shard, s, &name, &data));
        fill(data, m.shard_length, 1.0f + (float)s);
    }
    return m;
}

static double volt_write(volt_comm *world, model *m, const char *path, int sharded) {
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = volt_clock_seconds();
    volt_ckpt *ckpt;
    check(volt_ckpt_create(world, path, &ckpt));
    int status = volt_ckpt_write_model(ckpt, m->params);
    if (status == VOLT_OK)
        status = sharded ? volt_ckpt_write_optimizer(ckpt, m->params, m->shard, m->shard_offset,
                                                     m->shard_length, 0, "adamw")
                         : volt_ckpt_write_optimizer(ckpt, m->params, m->full, 0,
                                                     volt_params_flat_size(m->params), 1, "adamw");
    check(volt_ckpt_commit(ckpt, status));
    return volt_clock_seconds() - t0; /* commit ends agreed on every rank */
}

static double volt_read(volt_comm *world, model *m, const char *path) {
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = volt_clock_seconds();
    volt_ckpt *ckpt;
    check(volt_ckpt_open(world, path, &ckpt));
    check(volt_ckpt_read_model(ckpt, m->params, 1));
    check(volt_ckpt_read_optimizer(ckpt, m->params, m->shard, m->shard_offset, m->shard_length,
                                   "adamw"));
    volt_ckpt_close(ckpt);
    MPI_Barrier(MPI_COMM_WORLD);
    return volt_clock_seconds() - t0;
}

static long file_bytes(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* --- part 2 ------------------------------------------------------------------------------ */

typedef struct epoch_timer {
    double start, epoch_seconds[8], save_seconds[8];
    int epochs;
    const char *path;
} epoch_timer;

static int timer_setup(volt_callback *cb, const volt_config *config, int index,
                       const void *options) {
    (void)config;
    (void)index;
    *(epoch_timer **)volt_callback_state(cb) = *(epoch_timer *const *)options;
    return VOLT_OK;
}

static int timer_epoch_start(volt_callback *cb, volt_trainer *t, volt_module *m) {
    (void)t;
    (void)m;
    epoch_timer *e = *(epoch_timer **)volt_callback_state(cb);
    MPI_Barrier(MPI_COMM_WORLD);
    e->start = volt_clock_seconds();
    return VOLT_OK;
}

static int timer_epoch_end(volt_callback *cb, volt_trainer *t, volt_module *m) {
    (void)m;
    epoch_timer *e = *(epoch_timer **)volt_callback_state(cb);
    MPI_Barrier(MPI_COMM_WORLD);
    double end = volt_clock_seconds();
    VOLT_CHECK(volt_trainer_save_checkpoint(t, e->path, 0));
    double saved = volt_clock_seconds();
    if (e->epochs < 8) {
        e->epoch_seconds[e->epochs] = end - e->start;
        e->save_seconds[e->epochs] = saved - end;
        e->epochs++;
    }
    return VOLT_OK;
}

static const volt_callback_ops epoch_timer_ops = {
    .name = "EpochTimer",
    .state_size = sizeof(epoch_timer *),
    .setup = timer_setup,
    .on_train_epoch_start = timer_epoch_start,
    .on_train_epoch_end = timer_epoch_end,
};

static void demo_share(const char *data_path, const char *dir, int rank, FILE *csv) {
    volt_config *config;
    check(volt_config_create(&config));
    check(volt_trainer_declare(config));
    check(volt_hdf5_datamodule_ops.declare(config));
    check(volt_mlp_ops.declare(config));
    check(volt_config_declare(config, "model.name", VOLT_CONFIG_STRING, "mlp", "the model"));
    check(volt_config_load_file(config, "configs/fashion_mnist_mlp.yaml"));
    char root[600];
    snprintf(root, sizeof root, "%s/runs", dir);
    const char *settings[][2] = {
        {"data.path", data_path},
        {"trainer.max_epochs", "3"},
        {"trainer.default_root_dir", root},
        {"trainer.enable_progress_bar", "false"},
        {"trainer.enable_checkpointing", "false"}, /* the timer saves instead */
        {"trainer.enable_model_summary", "false"},
        {"model.input_size", "784"},
        {"model.num_classes", "10"},
    };
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
        check(volt_config_set(config, settings[i][0], settings[i][1], "bench_ckpt_io"));
    check(volt_config_resolve(config));
    char path[700];
    snprintf(path, sizeof path, "%s/demo.h5", dir);
    epoch_timer timer = {.path = path};
    epoch_timer *timer_ptr = &timer;
    volt_trainer *trainer;
    volt_module *module;
    volt_datamodule *data;
    check(volt_trainer_create(config, &trainer));
    check(volt_trainer_add_callback(trainer, &epoch_timer_ops, &timer_ptr));
    check(volt_module_create(&volt_mlp_ops, config, 42, &module));
    check(volt_datamodule_create(&volt_hdf5_datamodule_ops, &data));
    check(volt_trainer_fit(trainer, module, data));
    if (rank == 0) {
        double epochs[8], saves[8];
        memcpy(epochs, timer.epoch_seconds, sizeof epochs);
        memcpy(saves, timer.save_seconds, sizeof saves);
        double e = median(epochs, timer.epochs), s = median(saves, timer.epochs);
        printf("\ndemo (MLP 784-256-10, 2 ranks, per-rank batch 64): epoch %.3f s, checkpoint "
               "%.4f s (%ld bytes): %.2f%% of an epoch (medians of %d epochs)\n",
               e, s, file_bytes(path), 100.0 * s / e, timer.epochs);
        if (csv)
            fprintf(csv, "demo_epoch_s,%.4f\ndemo_checkpoint_s,%.5f\ndemo_share,%.5f\n", e, s,
                    s / e);
    }
    volt_datamodule_destroy(data);
    volt_module_destroy(module);
    volt_trainer_destroy(trainer);
    volt_config_destroy(config);
}

/* --- main -------------------------------------------------------------------------------- */

int main(int argc, char **argv) {
    check(volt_init(&argc, &argv));
    const char *results = argc > 1 ? argv[1] : "bench/results";
    const char *work = argc > 2 ? argv[2] : "/tmp";
    const char *demo_data = argc > 3 ? argv[3] : NULL;
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    char dir[512] = "";
    if (rank == 0) {
        snprintf(dir, sizeof dir, "%s/volt_ckpt_io_XXXXXX", work);
        if (!mkdtemp(dir)) {
            fprintf(stderr, "bench_ckpt_io: cannot create a folder in %s\n", work);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
    }
    MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
    volt_comm *world;
    check(volt_comm_create(MPI_COMM_WORLD, &world));
    model m = make_model(rank, size);
    char path[600], dd_path[600], command[2200];
    snprintf(path, sizeof path, "%s/ckpt.h5", dir);
    snprintf(dd_path, sizeof dd_path, "%s/dd.bin", dir);

    /* the bytes dd writes: the checkpoint's own size, rounded to 8 MiB blocks */
    volt_write(world, &m, path, 0);
    long bytes = file_bytes(path);
    MPI_Bcast(&bytes, 1, MPI_LONG, 0, MPI_COMM_WORLD);
    long blocks = (bytes + (8L << 20) - 1) / (8L << 20);
    double ddp_w[REPS], zero_w[REPS], dd_w[REPS], dd_new_w[REPS], volt_r[REPS], dd_r[REPS];
    int cold = 1;
    for (int r = 0; r < REPS; r++) {
        /* the four writers in turn, starting one later each repetition: which one runs
         * after which changes what the page cache holds (see above), so each takes every
         * place once in four repetitions */
        for (int k = 0; k < 4; k++) {
            switch ((r + k) % 4) {
            case 0:
                snprintf(command, sizeof command,
                         "dd if=/dev/zero of='%s' bs=8M count=%ld conv=fsync status=none", dd_path,
                         blocks);
                dd_w[r] = timed_command(command, rank);
                break;
            case 1: /* the same bytes written as a checkpoint is: into a new file while the
                     * previous one still exists, then renamed over it */
                snprintf(command, sizeof command,
                         "dd if=/dev/zero of='%s.new' bs=8M count=%ld conv=fsync status=none "
                         "&& mv '%s.new' '%s'",
                         dd_path, blocks, dd_path, dd_path);
                dd_new_w[r] = timed_command(command, rank);
                break;
            case 2:
                ddp_w[r] = volt_write(world, &m, path, 0);
                break;
            default:
                zero_w[r] = volt_write(world, &m, path, 1);
            }
        }
        cold &= drop_caches(rank);
        snprintf(command, sizeof command, "dd if='%s' of=/dev/null bs=8M status=none", path);
        dd_r[r] = timed_command(command, rank);
        cold &= drop_caches(rank);
        volt_r[r] = volt_read(world, &m, path);
        if (rank == 0) {
            printf("  rep %d: write dd %.3f s, dd new+mv %.3f s, Volt DDP %.3f s, ZeRO-1 %.3f s; "
                   "read dd %.3f s, Volt %.3f s\n",
                   r + 1, dd_w[r], dd_new_w[r], ddp_w[r], zero_w[r], dd_r[r], volt_r[r]);
            fflush(stdout);
        }
    }
    double gb = (double)bytes / 1e9;
    double w_new = median(dd_new_w, REPS);
    double w_dd = median(dd_w, REPS), w_ddp = median(ddp_w, REPS), w_zero = median(zero_w, REPS);
    double r_dd = median(dd_r, REPS), r_volt = median(volt_r, REPS);
    FILE *csv = NULL;
    if (rank == 0) {
        char csv_path[600];
        snprintf(csv_path, sizeof csv_path, "%s/ckpt_io.csv", results);
        csv = fopen(csv_path, "w");
        printf("\ncheckpoint of %.3f GB (model + AdamW state), 2 ranks, medians of %d, %s "
               "reads\n",
               gb, REPS, cold ? "cold (page cache dropped)" : "WARM (page cache not dropped)");
        printf("%-26s %9s %9s %9s %12s\n", "", "seconds", "GB/s", "vs dd", "vs dd new+mv");
        printf("%-26s %9.3f %9.2f %9s %12.3f\n", "write: dd conv=fsync", w_dd, gb / w_dd, "1",
               w_new / w_dd);
        printf("%-26s %9.3f %9.2f %9.3f %12s\n", "write: dd new file + mv", w_new, gb / w_new,
               w_dd / w_new, "1");
        printf("%-26s %9.3f %9.2f %9.3f %12.3f\n", "write: Volt DDP", w_ddp, gb / w_ddp,
               w_dd / w_ddp, w_new / w_ddp);
        printf("%-26s %9.3f %9.2f %9.3f %12.3f\n", "write: Volt ZeRO-1", w_zero, gb / w_zero,
               w_dd / w_zero, w_new / w_zero);
        printf("%-26s %9.3f %9.2f %9s\n", "read: dd", r_dd, gb / r_dd, "1");
        printf("%-26s %9.3f %9.2f %9.3f\n", "read: Volt (ZeRO-1 shards)", r_volt, gb / r_volt,
               r_dd / r_volt);
        if (csv)
            fprintf(csv,
                    "what,value\nbytes,%ld\nreads_cold,%d\nwrite_dd_new_file_s,%.4f\n"
                    "write_dd_s,%.4f\nwrite_ddp_s,%.4f\n"
                    "write_zero1_s,%.4f\nread_dd_s,%.4f\nread_volt_s,%.4f\n"
                    "write_ratio_ddp,%.4f\nwrite_ratio_zero1,%.4f\nread_ratio,%.4f\n",
                    bytes, cold, w_new, w_dd, w_ddp, w_zero, r_dd, r_volt, w_dd / w_ddp,
                    w_dd / w_zero, r_dd / r_volt);
        unlink(path);
        unlink(dd_path);
    }
    volt_optimizer_destroy(m.full);
    volt_optimizer_destroy(m.shard);
    volt_params_destroy(m.params);
    if (demo_data && access(demo_data, R_OK) == 0)
        demo_share(demo_data, dir, rank, csv);
    else if (rank == 0)
        printf("\n(no Fashion-MNIST file given: the demo's checkpoint share is not measured)\n");
    if (rank == 0) {
        if (csv) fclose(csv);
        snprintf(command, sizeof command, "rm -rf '%s'", dir);
        if (system(command) != 0) fprintf(stderr, "bench_ckpt_io: could not remove %s\n", dir);
    }
    volt_comm_destroy(world);
    check(volt_finalize());
    return 0;
}

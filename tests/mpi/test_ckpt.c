/* tests/mpi/test_ckpt.c — checkpoint files (lib/ckpt) at 1, 2 and 4 ranks: round trips
 * of model, optimizer state and attributes through real parallel HDF5 files; resharding
 * (state written by ZeRO-1 shards, read whole and by other shards); tensor-parallel
 * parts (volt_params_add_slice) stored as global tensors by every dp x tp layout of the
 * world and read back by every part of tp = 1, 2 and 4; atomic commit; and the errors of
 * bad files, each agreed by every rank.
 *
 * Values are a function of the parameter and element (value_of; for the split models
 * the global tensor's random numbers, volt_param_init_uniform), so a tensor written or
 * read at the wrong offset, rank, shard or part cannot pass; comparisons are exact. */
#include <hdf5.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt/checkpoint.h"
#include "volt_test.h"

/* Shapes chosen so that ranges cut rows and planes at odd places. */
static const long SHAPE_A[] = {7, 5};
static const long SHAPE_B[] = {13};
static const long SHAPE_C[] = {3, 4, 5};
static const long SHAPE_D[] = {1};

static float value_of(int param, size_t element, int state) {
    return (float)(1000 * state + 100 * param) + (float)element * 0.25f + 0.5f;
}

static volt_params *make_params(int with_extra, int wrong_shape) {
    volt_params *params;
    if (volt_params_create(VOLT_F32, 3, &params) != VOLT_OK) return NULL;
    volt_param *p;
    long a[] = {7, wrong_shape ? 6 : 5};
    int ok = volt_params_add(params, "fc1.weight", 2, wrong_shape ? a : SHAPE_A, &p) == VOLT_OK &&
             volt_params_add(params, "fc1.bias", 1, SHAPE_B, &p) == VOLT_OK &&
             volt_params_add(params, "conv.weight", 3, SHAPE_C, &p) == VOLT_OK &&
             volt_params_add(params, "scale", 1, SHAPE_D, &p) == VOLT_OK;
    if (ok && with_extra) ok = volt_params_add(params, "extra", 1, SHAPE_B, &p) == VOLT_OK;
    if (!ok) {
        volt_params_destroy(params);
        return NULL;
    }
    return params;
}

static void fill_params(volt_params *params) {
    float *data = volt_params_data(params);
    for (int i = 0; i < volt_params_count(params); i++) {
        volt_param *p = volt_params_get(params, i);
        for (size_t e = 0; e < p->numel; e++) data[p->offset + e] = value_of(i, e, 0);
    }
}

/* Fills the optimizer's state over [offset, offset + length) of the flat buffers. */
static void fill_state(volt_params *params, volt_optimizer *opt, size_t offset, size_t length) {
    for (int s = 0; s < volt_optimizer_state_count(opt); s++) {
        const char *name;
        void *raw;
        if (volt_optimizer_state(opt, s, &name, &raw) != VOLT_OK) return;
        float *state = raw;
        for (int i = 0; i < volt_params_count(params); i++) {
            volt_param *p = volt_params_get(params, i);
            for (size_t e = 0; e < p->numel; e++) {
                size_t flat = p->offset + e;
                if (flat >= offset && flat < offset + length)
                    state[flat - offset] = value_of(i, e, s + 1);
            }
        }
    }
}

/* Mismatches between the state and value_of over [offset, offset + length). */
static long state_mismatches(volt_params *params, volt_optimizer *opt, size_t offset,
                             size_t length) {
    long bad = 0;
    for (int s = 0; s < volt_optimizer_state_count(opt); s++) {
        const char *name;
        void *raw;
        if (volt_optimizer_state(opt, s, &name, &raw) != VOLT_OK) return -1;
        const float *state = raw;
        for (int i = 0; i < volt_params_count(params); i++) {
            volt_param *p = volt_params_get(params, i);
            for (size_t e = 0; e < p->numel; e++) {
                size_t flat = p->offset + e;
                if (flat >= offset && flat < offset + length &&
                    state[flat - offset] != value_of(i, e, s + 1))
                    bad++;
            }
        }
    }
    return bad;
}

static long param_mismatches(volt_params *params) {
    const float *data = volt_params_data(params);
    long bad = 0;
    for (int i = 0; i < volt_params_count(params); i++) {
        volt_param *p = volt_params_get(params, i);
        for (size_t e = 0; e < p->numel; e++)
            if (data[p->offset + e] != value_of(i, e, 0)) bad++;
    }
    return bad;
}

/* A temporary folder made by rank 0, known to all. */
static void shared_temp_dir(char *dir, size_t size, const char *tag) {
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank == 0 && !volt_test_make_temp_dir(dir, size, tag)) {
        fprintf(stderr, "test_ckpt: cannot make a temporary folder\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    MPI_Bcast(dir, (int)size, MPI_CHAR, 0, MPI_COMM_WORLD);
}

static void remove_shared(const char *dir) {
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) volt_test_remove_tree(dir);
}

static volt_optimizer *adamw(size_t offset, size_t length) {
    volt_optimizer_options options = volt_optimizer_defaults(VOLT_OPTIM_ADAMW);
    volt_optimizer *opt = NULL;
    if (volt_optimizer_create(&options, VOLT_F32, offset, length, &opt) != VOLT_OK) return NULL;
    return opt;
}

/* Writes params (filled) and a replicated AdamW state (steps 17) to path. */
static int write_replicated(volt_comm *world, const char *path) {
    volt_params *params = make_params(0, 0);
    if (!params) return VOLT_ERR_NOMEM;
    fill_params(params);
    size_t n = volt_params_flat_size(params);
    volt_optimizer *opt = adamw(0, n);
    fill_state(params, opt, 0, n);
    volt_optimizer_set_steps(opt, 17);
    volt_ckpt *ckpt;
    int status = volt_ckpt_create(world, path, &ckpt);
    if (status == VOLT_OK) {
        int local = volt_ckpt_write_model(ckpt, params);
        if (local == VOLT_OK)
            local = volt_ckpt_write_optimizer(ckpt, params, opt, 0, n, 1, "adamw");
        if (local == VOLT_OK) local = volt_ckpt_put_long(ckpt, "meta", "global_step", 42);
        status = volt_ckpt_commit(ckpt, local);
    }
    volt_optimizer_destroy(opt);
    volt_params_destroy(params);
    return status;
}

VOLT_TEST(model_optimizer_and_attributes_round_trip) {
    volt_comm *world;
    VOLT_EXPECT_OK(volt_comm_create(MPI_COMM_WORLD, &world));
    char dir[256];
    shared_temp_dir(dir, sizeof dir, "ckpt");
    char path[400];
    snprintf(path, sizeof path, "%s/a.h5", dir);

    volt_params *params = make_params(0, 0);
    fill_params(params);
    size_t n = volt_params_flat_size(params);
    volt_optimizer *opt = adamw(0, n);
    fill_state(params, opt, 0, n);
    volt_optimizer_set_steps(opt, 17);
    const char *yaml = "trainer:\n  max_epochs: 3\nmodel:\n  name: mlp\n";
    volt_ckpt *ckpt;
    VOLT_EXPECT_OK(volt_ckpt_create(world, path, &ckpt));
    int local = volt_ckpt_write_model(ckpt, params);
    if (local == VOLT_OK) local = volt_ckpt_write_optimizer(ckpt, params, opt, 0, n, 1, "adamw");
    if (local == VOLT_OK) local = volt_ckpt_put_long(ckpt, "meta", "global_step", 123456789012L);
    if (local == VOLT_OK) local = volt_ckpt_put_double(ckpt, "meta", "lr", 1.25e-3);
    if (local == VOLT_OK) local = volt_ckpt_put_string(ckpt, "meta", "config", yaml);
    if (local == VOLT_OK)
        local = volt_ckpt_put_long(ckpt, "meta/callbacks/EarlyStopping", "wait_count", 2);
    /* longer than the 64 KiB an attribute may have in HDF5's earliest file format */
    enum { BIG = 100000 };
    char *big = malloc(BIG + 1);
    for (int i = 0; big && i < BIG; i++) big[i] = (char)('a' + i % 26);
    if (big) big[BIG] = '\0';
    if (local == VOLT_OK)
        local = big ? volt_ckpt_put_string(ckpt, "meta", "big", big) : VOLT_ERR_NOMEM;
    VOLT_EXPECT_OK(volt_ckpt_commit(ckpt, local));
    char temp[420];
    snprintf(temp, sizeof temp, "%s/.a.h5.tmp", dir);
    VOLT_EXPECT(access(path, F_OK) == 0);
    VOLT_EXPECT(access(temp, F_OK) != 0); /* renamed into place */

    volt_params *back = make_params(0, 0);
    volt_optimizer *back_opt = adamw(0, n);
    VOLT_EXPECT_OK(volt_ckpt_open(world, path, &ckpt));
    VOLT_EXPECT_OK(volt_ckpt_read_model(ckpt, back, 1));
    VOLT_EXPECT(volt_ckpt_has_optimizer(ckpt));
    VOLT_EXPECT_OK(volt_ckpt_read_optimizer(ckpt, back, back_opt, 0, n, "adamw"));
    VOLT_EXPECT_EQ_INT(param_mismatches(back), 0);
    VOLT_EXPECT_EQ_INT(state_mismatches(back, back_opt, 0, n), 0);
    VOLT_EXPECT_EQ_INT(volt_optimizer_steps(back_opt), 17);
    long step = 0, version = 0, wait = 0;
    double lr = 0;
    char *config = NULL, *volt_version = NULL;
    VOLT_EXPECT_OK(volt_ckpt_get_long(ckpt, "meta", "global_step", &step));
    VOLT_EXPECT_OK(volt_ckpt_get_long(ckpt, "meta", "format_version", &version));
    VOLT_EXPECT_OK(volt_ckpt_get_long(ckpt, "meta/callbacks/EarlyStopping", "wait_count", &wait));
    VOLT_EXPECT_OK(volt_ckpt_get_double(ckpt, "meta", "lr", &lr));
    VOLT_EXPECT_OK(volt_ckpt_get_string(ckpt, "meta", "config", &config));
    VOLT_EXPECT_OK(volt_ckpt_get_string(ckpt, "meta", "volt_version", &volt_version));
    VOLT_EXPECT(step == 123456789012L);
    VOLT_EXPECT_EQ_INT(version, VOLT_CKPT_FORMAT_VERSION);
    VOLT_EXPECT_EQ_INT(wait, 2);
    VOLT_EXPECT(lr == 1.25e-3);
    VOLT_EXPECT(config && strcmp(config, yaml) == 0);
    VOLT_EXPECT(volt_version && volt_version[0] != '\0');
    char *big_back = NULL;
    VOLT_EXPECT_OK(volt_ckpt_get_string(ckpt, "meta", "big", &big_back));
    VOLT_EXPECT(big && big_back && strcmp(big, big_back) == 0);
    free(big_back);
    free(big);
    VOLT_EXPECT(volt_ckpt_has(ckpt, "meta", "lr"));
    VOLT_EXPECT(!volt_ckpt_has(ckpt, "meta", "nothing"));
    VOLT_EXPECT(!volt_ckpt_has(ckpt, "no/such/group", NULL));
    VOLT_EXPECT(volt_ckpt_get_long(ckpt, "meta", "nothing", &step) == VOLT_ERR_IO);
    char errors[512];
    volt_test_take_errors(errors, sizeof errors);
    VOLT_EXPECT_STR_CONTAINS(errors, "no attribute nothing of /meta");
    free(config);
    free(volt_version);
    volt_ckpt_close(ckpt);

    /* one process alone (no MPI-IO) reads what the group wrote */
    volt_params *alone = make_params(0, 0);
    VOLT_EXPECT_OK(volt_ckpt_open(NULL, path, &ckpt));
    VOLT_EXPECT_OK(volt_ckpt_read_model(ckpt, alone, 1));
    VOLT_EXPECT_EQ_INT(param_mismatches(alone), 0);
    volt_ckpt_close(ckpt);

    volt_params_destroy(alone);
    volt_optimizer_destroy(back_opt);
    volt_params_destroy(back);
    volt_optimizer_destroy(opt);
    volt_params_destroy(params);
    remove_shared(dir);
    volt_comm_destroy(world);
}

/* ZeRO-1 shards write their own ranges; the state reads back whole (one rank's view, as
 * after a move to dp=1) and by a different sharding (as after a move to another dp). */
VOLT_TEST(sharded_optimizer_state_reshards) {
    volt_comm *world;
    VOLT_EXPECT_OK(volt_comm_create(MPI_COMM_WORLD, &world));
    int rank = volt_comm_rank(world), size = volt_comm_size(world);
    char dir[256];
    shared_temp_dir(dir, sizeof dir, "ckpt");
    char path[400];
    snprintf(path, sizeof path, "%s/zero.h5", dir);

    volt_params *params = make_params(0, 0);
    fill_params(params);
    size_t unit = (size_t)size * VOLT_PARAM_ALIGN;
    size_t padded = (volt_params_flat_size(params) + unit - 1) / unit * unit;
    VOLT_EXPECT_OK(volt_params_pad_to(params, padded));
    size_t shard = padded / (size_t)size;
    volt_optimizer *opt = adamw((size_t)rank * shard, shard);
    fill_state(params, opt, (size_t)rank * shard, shard);
    volt_optimizer_set_steps(opt, 5);
    volt_ckpt *ckpt;
    VOLT_EXPECT_OK(volt_ckpt_create(world, path, &ckpt));
    int local = volt_ckpt_write_model(ckpt, params);
    if (local == VOLT_OK)
        local =
            volt_ckpt_write_optimizer(ckpt, params, opt, (size_t)rank * shard, shard, 0, "adamw");
    VOLT_EXPECT_OK(volt_ckpt_commit(ckpt, local));

    /* whole (unpadded store, as a single process would have it) */
    volt_params *whole = make_params(0, 0);
    size_t n = volt_params_flat_size(whole);
    volt_optimizer *whole_opt = adamw(0, n);
    VOLT_EXPECT_OK(volt_ckpt_open(world, path, &ckpt));
    VOLT_EXPECT_OK(volt_ckpt_read_optimizer(ckpt, whole, whole_opt, 0, n, "adamw"));
    VOLT_EXPECT_EQ_INT(state_mismatches(whole, whole_opt, 0, n), 0);
    VOLT_EXPECT_EQ_INT(volt_optimizer_steps(whole_opt), 5);

    /* another sharding: ranks in reverse order, odd-sized ranges of the unpadded buffer */
    size_t from = n * (size_t)(size - 1 - rank) / (size_t)size;
    size_t to = n * (size_t)(size - rank) / (size_t)size;
    volt_optimizer *other = adamw(from, to - from);
    VOLT_EXPECT_OK(volt_ckpt_read_optimizer(ckpt, whole, other, from, to - from, "adamw"));
    VOLT_EXPECT_EQ_INT(state_mismatches(whole, other, from, to - from), 0);
    volt_ckpt_close(ckpt);

    volt_optimizer_destroy(other);
    volt_optimizer_destroy(whole_opt);
    volt_params_destroy(whole);
    volt_optimizer_destroy(opt);
    volt_params_destroy(params);
    remove_shared(dir);
    volt_comm_destroy(world);
}

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* A failure on one rank during a write leaves the previous file as it was and no
 * temporary file; every rank reports the same error. */
VOLT_TEST(a_failed_write_keeps_the_previous_checkpoint) {
    volt_comm *world;
    VOLT_EXPECT_OK(volt_comm_create(MPI_COMM_WORLD, &world));
    int rank = volt_comm_rank(world), size = volt_comm_size(world);
    char dir[256];
    shared_temp_dir(dir, sizeof dir, "ckpt");
    char path[400], temp[420];
    snprintf(path, sizeof path, "%s/last.h5", dir);
    snprintf(temp, sizeof temp, "%s/.last.h5.tmp", dir);
    VOLT_EXPECT_OK(write_replicated(world, path));
    long good_size = file_size(path);
    VOLT_EXPECT(good_size > 0);

    volt_params *params = make_params(0, 0);
    volt_ckpt *ckpt;
    VOLT_EXPECT_OK(volt_ckpt_create(world, path, &ckpt));
    int local = volt_ckpt_write_model(ckpt, params); /* zeros this time */
    if (rank == size - 1) local = VOLT_ERROR(VOLT_ERR_IO, "disk full (simulated)");
    int status = volt_ckpt_commit(ckpt, local);
    VOLT_EXPECT(status == VOLT_ERR_IO);
    char errors[512];
    volt_test_take_errors(errors, sizeof errors);
    char expected[64];
    snprintf(expected, sizeof expected, "rank %d: disk full (simulated)", size - 1);
    VOLT_EXPECT_STR_CONTAINS(errors, expected);
    MPI_Barrier(MPI_COMM_WORLD);
    VOLT_EXPECT(access(temp, F_OK) != 0);
    VOLT_EXPECT_EQ_INT(file_size(path), good_size);
    VOLT_EXPECT_OK(volt_ckpt_open(world, path, &ckpt));
    VOLT_EXPECT_OK(volt_ckpt_read_model(ckpt, params, 1));
    VOLT_EXPECT_EQ_INT(param_mismatches(params), 0); /* the old values, not the zeros */
    volt_ckpt_close(ckpt);

    /* a folder that does not exist: every rank fails at create, nothing is left */
    char missing[450];
    snprintf(missing, sizeof missing, "%s/no/such/dir/x.h5", dir);
    VOLT_EXPECT(volt_ckpt_create(world, missing, &ckpt) == VOLT_ERR_IO);
    volt_test_take_errors(errors, sizeof errors);
    VOLT_EXPECT_STR_CONTAINS(errors, "cannot create the checkpoint file");
    VOLT_EXPECT_STR_CONTAINS(errors, "no/such/dir/.x.h5.tmp");

    volt_params_destroy(params);
    remove_shared(dir);
    volt_comm_destroy(world);
}

/* Opens path and reads the model into params; returns the status and the message. */
static int try_read(volt_comm *world, const char *path, volt_params *params, int strict,
                    char *errors, size_t size) {
    volt_ckpt *ckpt;
    int status = volt_ckpt_open(world, path, &ckpt);
    if (status == VOLT_OK) {
        status = volt_comm_agree(world, volt_ckpt_read_model(ckpt, params, strict));
        volt_ckpt_close(ckpt);
    }
    volt_test_take_errors(errors, size);
    return status;
}

VOLT_TEST(bad_checkpoints_give_their_own_messages_on_every_rank) {
    volt_comm *world;
    VOLT_EXPECT_OK(volt_comm_create(MPI_COMM_WORLD, &world));
    int rank = volt_comm_rank(world);
    char dir[256];
    shared_temp_dir(dir, sizeof dir, "ckpt");
    char good[400], text[400], plain[400], truncated[400], missing[400];
    snprintf(good, sizeof good, "%s/good.h5", dir);
    snprintf(text, sizeof text, "%s/text.h5", dir);
    snprintf(plain, sizeof plain, "%s/plain.h5", dir);
    snprintf(truncated, sizeof truncated, "%s/truncated.h5", dir);
    snprintf(missing, sizeof missing, "%s/missing.h5", dir);
    VOLT_EXPECT_OK(write_replicated(world, good));
    if (rank == 0) {
        FILE *f = fopen(text, "w");
        if (f) {
            fputs("this is not HDF5\n", f);
            fclose(f);
        }
        hid_t file = H5Fcreate(plain, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        H5Fclose(file);
        /* the first half of a good file */
        long n = file_size(good);
        char *bytes = malloc((size_t)n);
        FILE *in = fopen(good, "rb");
        FILE *out = fopen(truncated, "wb");
        if (bytes && in && out && fread(bytes, 1, (size_t)n, in) == (size_t)n)
            fwrite(bytes, 1, (size_t)n / 2, out);
        if (in) fclose(in);
        if (out) fclose(out);
        free(bytes);
    }
    MPI_Barrier(MPI_COMM_WORLD);

    char errors[1024];
    volt_params *params = make_params(0, 0);
    VOLT_EXPECT(try_read(world, missing, params, 1, errors, sizeof errors) == VOLT_ERR_IO);
    VOLT_EXPECT_STR_CONTAINS(errors, "cannot read the checkpoint");
    VOLT_EXPECT_STR_CONTAINS(errors, "No such file");
    VOLT_EXPECT(try_read(world, text, params, 1, errors, sizeof errors) == VOLT_ERR_IO);
    VOLT_EXPECT_STR_CONTAINS(errors, "is not an HDF5 file");
    VOLT_EXPECT(try_read(world, plain, params, 1, errors, sizeof errors) == VOLT_ERR_IO);
    VOLT_EXPECT_STR_CONTAINS(errors, "not a Volt checkpoint (no /meta/format_version)");
    VOLT_EXPECT(try_read(world, truncated, params, 1, errors, sizeof errors) != VOLT_OK);
    VOLT_EXPECT_STR_CONTAINS(errors, "truncated or corrupt");

    volt_params *wrong = make_params(0, 1);
    VOLT_EXPECT(try_read(world, good, wrong, 1, errors, sizeof errors) == VOLT_ERR_SHAPE);
    VOLT_EXPECT_STR_CONTAINS(errors, "/model/fc1.weight has shape [7, 5], the model's "
                                     "fc1.weight has [7, 6]");
    volt_params *extra = make_params(1, 0);
    VOLT_EXPECT(try_read(world, good, extra, 1, errors, sizeof errors) == VOLT_ERR_IO);
    VOLT_EXPECT_STR_CONTAINS(errors, "has no tensor /model/extra");

    /* a model with fewer tensors than the file: strict names the extras, lenient loads */
    volt_params *fewer;
    volt_param *p;
    VOLT_EXPECT_OK(volt_params_create(VOLT_F32, 3, &fewer));
    VOLT_EXPECT_OK(volt_params_add(fewer, "fc1.weight", 2, SHAPE_A, &p));
    VOLT_EXPECT(try_read(world, good, fewer, 1, errors, sizeof errors) == VOLT_ERR_IO);
    VOLT_EXPECT_STR_CONTAINS(errors, "holds 3 tensors the model does not have");
    VOLT_EXPECT_STR_CONTAINS(errors, "strict off");
    VOLT_EXPECT_OK(try_read(world, good, fewer, 0, errors, sizeof errors));
    VOLT_EXPECT_EQ_INT(param_mismatches(fewer), 0);

    /* optimizer kind */
    volt_ckpt *ckpt;
    VOLT_EXPECT_OK(volt_ckpt_open(world, good, &ckpt));
    size_t n = volt_params_flat_size(params);
    volt_optimizer_options sgd_options = volt_optimizer_defaults(VOLT_OPTIM_SGD);
    sgd_options.momentum = 0.9;
    volt_optimizer *sgd;
    VOLT_EXPECT_OK(volt_optimizer_create(&sgd_options, VOLT_F32, 0, n, &sgd));
    VOLT_EXPECT(volt_ckpt_read_optimizer(ckpt, params, sgd, 0, n, "sgd") == VOLT_ERR_CONFIG);
    volt_test_take_errors(errors, sizeof errors);
    VOLT_EXPECT_STR_CONTAINS(errors, "holds adamw optimizer state; this run's optimizer is sgd");
    volt_ckpt_close(ckpt);

    volt_optimizer_destroy(sgd);
    volt_params_destroy(fewer);
    volt_params_destroy(extra);
    volt_params_destroy(wrong);
    volt_params_destroy(params);
    remove_shared(dir);
    volt_comm_destroy(world);
}

/* ---- tensor parallelism ------------------------------------------------------------------ */

/* A model with every kind of split lib/nn makes, between whole parameters: q, k and v
 * rows in 3 blocks (2-D and 1-D, as c_attn), columns (an input-split weight, as c_proj),
 * rows (the vocabulary of wte), and the middle dimension of a 3-D tensor (runs that are
 * neither rows nor columns). Every split dimension divides by 1, 2 and 4 (and 3 blocks). */
typedef struct tp_spec {
    const char *name;
    int ndim;
    long shape[3];
    int split, dim, blocks;
} tp_spec;

static const tp_spec TP_SPECS[] = {
    {"h.attn.c_attn.weight", 2, {12, 5}, 1, 0, 3},
    {"h.attn.c_attn.bias", 1, {12}, 1, 0, 3},
    {"h.ln_1.weight", 1, {5}, 0, 0, 1},
    {"h.attn.c_proj.weight", 2, {3, 8}, 1, 1, 1},
    {"h.attn.c_proj.bias", 1, {3}, 0, 0, 1},
    {"wte.weight", 2, {8, 3}, 1, 0, 1},
    {"conv.weight", 3, {2, 4, 3}, 1, 1, 1},
    {"ln_f.bias", 2, {3, 7}, 0, 0, 1},
};
enum { TP_SPEC_COUNT = sizeof TP_SPECS / sizeof TP_SPECS[0], TP_SEED = 7 };

/* Part `part` of `parts` of the model (parts = 1: the whole model), every parameter drawn
 * from U(-1, 1) with seed: a part holds the whole model's numbers at its positions
 * (volt_param_init_uniform), so the whole model of the same seed is the expected global
 * tensor, computed without the checkpoint's map. wide_proj: c_proj.weight is [3, 12]. */
static volt_params *make_tp_params(uint64_t seed, int parts, int part, int wide_proj) {
    volt_params *params;
    if (volt_params_create(VOLT_F32, seed, &params) != VOLT_OK) return NULL;
    for (int i = 0; i < TP_SPEC_COUNT; i++) {
        const tp_spec *spec = &TP_SPECS[i];
        long shape[3] = {spec->shape[0], spec->shape[1], spec->shape[2]};
        if (wide_proj && strcmp(spec->name, "h.attn.c_proj.weight") == 0) shape[1] = 12;
        volt_param *p;
        int status = spec->split && parts > 1
                         ? volt_params_add_slice(params, spec->name, spec->ndim, shape, spec->dim,
                                                 spec->blocks, parts, part, &p)
                         : volt_params_add(params, spec->name, spec->ndim, shape, &p);
        if (status != VOLT_OK) {
            volt_params_destroy(params);
            return NULL;
        }
        volt_param_init_uniform(params, p, -1.0, 1.0);
    }
    return params;
}

/* The seed of optimizer state s's values. */
static uint64_t state_seed(int s) { return 100 + (uint64_t)s; }

/* Fills [offset, offset + length) of every state of opt with the values of the same
 * positions of the model part drawn from state_seed(s) (0 past its parameters). */
static int fill_tp_state(volt_optimizer *opt, int parts, int part, size_t offset, size_t length) {
    for (int s = 0; s < volt_optimizer_state_count(opt); s++) {
        const char *name;
        void *raw;
        if (volt_optimizer_state(opt, s, &name, &raw) != VOLT_OK) return VOLT_ERR_INTERNAL;
        volt_params *values = make_tp_params(state_seed(s), parts, part, 0);
        if (!values) return VOLT_ERR_NOMEM;
        const float *from = volt_params_data(values);
        size_t n = volt_params_flat_size(values);
        for (size_t k = 0; k < length; k++)
            ((float *)raw)[k] = offset + k < n ? from[offset + k] : 0.0f;
        volt_params_destroy(values);
    }
    return VOLT_OK;
}

/* Compares got[k] (flat position offset + k, k < length) with the parameters' elements of
 * expected; counts the mismatches and describes the first one in first. */
static long tp_mismatches(const float *got, size_t offset, size_t length, volt_params *expected,
                          const char *what, char *first, size_t size) {
    const float *want = volt_params_data(expected);
    long bad = 0;
    for (int i = 0; i < volt_params_count(expected); i++) {
        volt_param *p = volt_params_get(expected, i);
        for (size_t e = 0; e < p->numel; e++) {
            size_t flat = p->offset + e;
            if (flat < offset || flat >= offset + length || got[flat - offset] == want[flat])
                continue;
            if (bad++ == 0)
                snprintf(first, size, "%s %s element %zu: %g read, %g expected", what, p->name, e,
                         (double)got[flat - offset], (double)want[flat]);
        }
    }
    return bad;
}

/* Writes the model split tp ways (rank r holds part r % tp) with AdamW state (steps 9):
 * replicated over the dp group (DDP), or zero: each rank of dp index d of D holds the
 * d-th of D shards of its own flat buffer, padded to D x 16 (ZeRO-1). */
static int write_tp(volt_comm *world, const char *path, int tp, int zero) {
    int rank = volt_comm_rank(world), size = volt_comm_size(world);
    int part = rank % tp, dp_rank = rank / tp, dp = size / tp;
    volt_params *params = make_tp_params(TP_SEED, tp, part, 0);
    if (!params) return VOLT_ERR_NOMEM;
    size_t offset = 0, length = volt_params_flat_size(params);
    int status = VOLT_OK;
    if (zero) {
        size_t unit = (size_t)dp * VOLT_PARAM_ALIGN;
        size_t padded = (length + unit - 1) / unit * unit;
        status = volt_params_pad_to(params, padded);
        length = padded / (size_t)dp;
        offset = (size_t)dp_rank * length;
    }
    volt_optimizer *opt = status == VOLT_OK ? adamw(offset, length) : NULL;
    if (!opt) status = VOLT_ERR_NOMEM;
    if (status == VOLT_OK) status = fill_tp_state(opt, tp, part, offset, length);
    if (status == VOLT_OK) volt_optimizer_set_steps(opt, 9);
    volt_ckpt *ckpt;
    status = volt_comm_agree(world, status);
    if (status == VOLT_OK) status = volt_ckpt_create(world, path, &ckpt);
    if (status == VOLT_OK) {
        int local = volt_ckpt_set_tensor_parallel(ckpt, tp);
        if (local == VOLT_OK) local = volt_ckpt_write_model(ckpt, params);
        if (local == VOLT_OK)
            local = volt_ckpt_write_optimizer(ckpt, params, opt, offset, length, !zero, "adamw");
        status = volt_ckpt_commit(ckpt, local);
    }
    volt_optimizer_destroy(opt);
    volt_params_destroy(params);
    return status;
}

/* Rank 0 reads the file with plain HDF5 (none of lib/ckpt's maps): every tensor must be
 * the whole model's, at its global shape. Returns the mismatches (-1: unreadable). */
static long file_mismatches(const char *path, char *first, size_t size) {
    volt_params *whole[3] = {make_tp_params(TP_SEED, 1, 0, 0),
                             make_tp_params(state_seed(0), 1, 0, 0),
                             make_tp_params(state_seed(1), 1, 0, 0)};
    const char *groups[3] = {"/model/%s", "/optim/%s/exp_avg", "/optim/%s/exp_avg_sq"};
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    long bad = file < 0 || !whole[0] || !whole[1] || !whole[2] ? -1 : 0;
    for (int g = 0; g < 3 && bad >= 0; g++) {
        for (int i = 0; i < volt_params_count(whole[g]) && bad >= 0; i++) {
            volt_param *p = volt_params_get(whole[g], i);
            char name[300];
            snprintf(name, sizeof name, groups[g], p->name);
            hid_t dataset = H5Dopen2(file, name, H5P_DEFAULT);
            hid_t space = dataset >= 0 ? H5Dget_space(dataset) : -1;
            hsize_t dims[4] = {0};
            int ndim = space >= 0 ? H5Sget_simple_extent_dims(space, dims, NULL) : -1;
            int same = ndim == p->tensor->ndim;
            for (int d = 0; same && d < ndim; d++) same = dims[d] == (hsize_t)p->tensor->shape[d];
            float *values = malloc(p->numel * sizeof *values);
            if (!same || !values ||
                H5Dread(dataset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) < 0) {
                snprintf(first, size, "%s: missing, unreadable or not at the global shape", name);
                bad = -1;
            } else {
                char where[400];
                long here = tp_mismatches(values, p->offset, p->numel, whole[g], name,
                                          bad ? where : first, bad ? sizeof where : size);
                bad += here;
            }
            free(values);
            if (space >= 0) H5Sclose(space);
            if (dataset >= 0) H5Dclose(dataset);
        }
    }
    if (file >= 0) H5Fclose(file);
    for (int g = 0; g < 3; g++) volt_params_destroy(whole[g]);
    return bad;
}

/* Reads the file into part `part` of `parts` of the model: the parameters, the whole
 * optimizer state, and the state by three uneven disjoint ranges (as ZeRO-1 shards of
 * another dp would be); compares each with the part drawn from the seeds. Returns the
 * mismatches (-1: a read failed), the first described in first. */
static long read_part_mismatches(volt_comm *world, const char *path, int parts, int part,
                                 char *first, size_t size) {
    volt_params *got = make_tp_params(1, parts, part, 0);
    volt_params *want = make_tp_params(TP_SEED, parts, part, 0);
    volt_params *want_state[2] = {make_tp_params(state_seed(0), parts, part, 0),
                                  make_tp_params(state_seed(1), parts, part, 0)};
    if (!got || !want || !want_state[0] || !want_state[1]) return -1;
    size_t n = volt_params_flat_size(got);
    float *data = volt_params_data(got);
    for (size_t k = 0; k < n; k++) data[k] = -1000.0f; /* nothing read stays visible */
    char where[400];
    long bad = 0;
    volt_ckpt *ckpt;
    if (volt_ckpt_open(world, path, &ckpt) != VOLT_OK) return -1;
    if (volt_ckpt_read_model(ckpt, got, 1) != VOLT_OK) bad = -1;
    if (bad == 0) bad = tp_mismatches(data, 0, n, want, "/model", first, size);
    size_t cuts[4] = {0, n / 3, n * 2 / 3, n}; /* [0, n), then the 3 ranges between */
    for (int r = 0; r < 4 && bad >= 0; r++) {
        size_t offset = r == 0 ? 0 : cuts[r - 1], length = r == 0 ? n : cuts[r] - cuts[r - 1];
        volt_optimizer *opt = adamw(offset, length);
        for (int s = 0; opt && s < volt_optimizer_state_count(opt); s++) {
            const char *name;
            void *raw;
            if (volt_optimizer_state(opt, s, &name, &raw) == VOLT_OK)
                for (size_t k = 0; k < length; k++) ((float *)raw)[k] = -1000.0f;
        }
        if (!opt || volt_ckpt_read_optimizer(ckpt, got, opt, offset, length, "adamw") != VOLT_OK ||
            volt_optimizer_steps(opt) != 9) {
            snprintf(first, size, "reading the optimizer state [%zu, %zu) failed", offset,
                     offset + length);
            bad = -1;
        }
        for (int s = 0; bad >= 0 && s < 2; s++) {
            const char *name;
            void *raw;
            if (volt_optimizer_state(opt, s, &name, &raw) != VOLT_OK) {
                bad = -1;
                break;
            }
            long here = tp_mismatches(raw, offset, length, want_state[s], name, bad ? where : first,
                                      bad ? sizeof where : size);
            bad += here;
        }
        volt_optimizer_destroy(opt);
    }
    volt_ckpt_close(ckpt);
    volt_params_destroy(want_state[1]);
    volt_params_destroy(want_state[0]);
    volt_params_destroy(want);
    volt_params_destroy(got);
    return bad;
}

/* Every layout of the world writes, DDP-like and ZeRO-like: tp = 1, 2, 4 where they
 * divide the world (at 4 ranks: dp=4, dp=2 x tp=2, tp=4). The file must hold the whole
 * model's tensors at their global shapes, and every part of every tp = 1, 2, 4 must read
 * back exactly its numbers (a tp=2 file read at tp=1 and tp=4, a tp=1 file at tp=2 and
 * 4, ...), the optimizer state whole and by uneven shards. */
VOLT_TEST(split_parameters_are_stored_whole_and_read_by_any_tp) {
    volt_comm *world;
    VOLT_EXPECT_OK(volt_comm_create(MPI_COMM_WORLD, &world));
    int rank = volt_comm_rank(world), size = volt_comm_size(world);
    char dir[256];
    shared_temp_dir(dir, sizeof dir, "ckpt");
    for (int tp = 1; tp <= size; tp *= 2) {
        if (size % tp != 0) continue;
        for (int zero = 0; zero <= 1; zero++) {
            char path[400];
            snprintf(path, sizeof path, "%s/tp%d_%s.h5", dir, tp, zero ? "zero" : "ddp");
            int status = write_tp(world, path, tp, zero);
            if (status != VOLT_OK) {
                char errors[512];
                volt_test_take_errors(errors, sizeof errors);
                volt_test_fail(__FILE__, __LINE__, "writing dp=%d,tp=%d (%s) failed: %s", size / tp,
                               tp, zero ? "zero1" : "ddp", errors);
                continue;
            }
            char first[512] = "";
            long bad = rank == 0 ? file_mismatches(path, first, sizeof first) : 0;
            if (bad != 0)
                volt_test_fail(__FILE__, __LINE__,
                               "dp=%d,tp=%d (%s) wrote %ld wrong elements; first: %s", size / tp,
                               tp, zero ? "zero1" : "ddp", bad, first);
            for (int parts = 1; parts <= 4; parts *= 2)
                for (int part = 0; part < parts; part++) {
                    first[0] = '\0';
                    bad = read_part_mismatches(world, path, parts, part, first, sizeof first);
                    if (bad != 0)
                        volt_test_fail(__FILE__, __LINE__,
                                       "rank %d: the file of dp=%d,tp=%d (%s) read as part %d of "
                                       "%d: %ld wrong; first: %s",
                                       rank, size / tp, tp, zero ? "zero1" : "ddp", part, parts,
                                       bad, first);
                }
        }
    }
    remove_shared(dir);
    volt_comm_destroy(world);
}

/* A split model whose global shape is not the file's fails with both shapes; a writer
 * that holds split parameters without the matching tensor-parallel degree fails on every
 * rank, naming the parameter, and leaves no file; a degree that does not divide the
 * world is refused. */
VOLT_TEST(tensor_parallel_mismatches_fail_clearly) {
    volt_comm *world;
    VOLT_EXPECT_OK(volt_comm_create(MPI_COMM_WORLD, &world));
    int rank = volt_comm_rank(world), size = volt_comm_size(world);
    char dir[256];
    shared_temp_dir(dir, sizeof dir, "ckpt");
    char path[400], errors[1024];
    snprintf(path, sizeof path, "%s/tp.h5", dir);
    int tp = size >= 2 ? 2 : 1;
    VOLT_EXPECT_OK(write_tp(world, path, tp, 0));

    volt_params *wide = make_tp_params(1, 2, rank % 2, 1);
    VOLT_EXPECT(try_read(world, path, wide, 1, errors, sizeof errors) == VOLT_ERR_SHAPE);
    VOLT_EXPECT_STR_CONTAINS(errors, "/model/h.attn.c_proj.weight has shape [3, 8], the model's "
                                     "h.attn.c_proj.weight has [3, 12] (split 2 ways along "
                                     "dimension 1)");

    /* parts of 2 written as if the group were not tensor parallel */
    volt_params *split = make_tp_params(TP_SEED, 2, rank % 2, 0);
    char other[400];
    snprintf(other, sizeof other, "%s/untold.h5", dir);
    volt_ckpt *ckpt;
    VOLT_EXPECT_OK(volt_ckpt_create(world, other, &ckpt));
    int local = volt_ckpt_write_model(ckpt, split);
    VOLT_EXPECT(local == VOLT_ERR_ARG);
    VOLT_EXPECT(volt_ckpt_commit(ckpt, VOLT_OK) == VOLT_ERR_ARG);
    volt_test_take_errors(errors, sizeof errors);
    VOLT_EXPECT_STR_CONTAINS(errors, "h.attn.c_attn.weight holds part");
    VOLT_EXPECT_STR_CONTAINS(errors, "has tensor-parallel index 0 of 1");
    MPI_Barrier(MPI_COMM_WORLD);
    VOLT_EXPECT(access(other, F_OK) != 0);

    VOLT_EXPECT_OK(volt_ckpt_create(world, other, &ckpt));
    VOLT_EXPECT(volt_ckpt_set_tensor_parallel(ckpt, 3) == VOLT_ERR_ARG);
    volt_test_take_errors(errors, sizeof errors);
    VOLT_EXPECT_STR_CONTAINS(errors, "a tensor-parallel degree of 3 does not divide");
    VOLT_EXPECT(volt_ckpt_commit(ckpt, VOLT_ERR_ARG) == VOLT_ERR_ARG);
    volt_test_take_errors(errors, sizeof errors);

    volt_params_destroy(split);
    volt_params_destroy(wide);
    remove_shared(dir);
    volt_comm_destroy(world);
}

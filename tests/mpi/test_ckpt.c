/* tests/mpi/test_ckpt.c — checkpoint files (lib/ckpt) at 1, 2 and 4 ranks: round trips
 * of model, optimizer state and attributes through real parallel HDF5 files; resharding
 * (state written by ZeRO-1 shards, read whole and by other shards); atomic commit; and
 * the errors of bad files, each agreed by every rank.
 *
 * Values are a function of the parameter and element (value_of), so a tensor written or
 * read at the wrong offset, rank or shard cannot pass; comparisons are exact. */
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

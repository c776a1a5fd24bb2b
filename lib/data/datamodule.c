/* lib/data/datamodule.c — the data module object, and the built-in HDF5 data module.
 *
 * The HDF5 data module keeps, for each split it serves, the dataset it opened and the
 * loader over it. setup(stage) opens what the stage needs (again if it was open, so that
 * a later setup sees the configuration as it is then):
 *   fit       train (required), val (when the file has it)
 *   validate  val (required)
 *   test      test (required)
 *   predict   predict, or test when the file has no predict split.
 * Training batches follow data.batch_size, data.shuffle, data.drop_last with the seed
 * trainer.seed; val/test/predict use data.val_batch_size (0: data.batch_size), in file
 * order, keeping every sample. */
#include "data/datamodule.h"

#include <stdlib.h>

struct volt_datamodule {
    const volt_datamodule_ops *ops;
    void *state;
    int rank, ranks; /* the partition (see datamodule.h) */
};

static const char *const stage_names[] = {"fit", "validate", "test", "predict"};

const char *volt_stage_name(volt_stage stage) {
    return (int)stage >= VOLT_STAGE_FIT && (int)stage <= VOLT_STAGE_PREDICT ? stage_names[stage]
                                                                            : "(unknown stage)";
}

int volt_datamodule_create(const volt_datamodule_ops *ops, volt_datamodule **out) {
    VOLT_CHECK_ARG(ops && out);
    *out = NULL;
    if (!ops->setup || !ops->loader)
        return VOLT_ERROR(VOLT_ERR_ARG, "data module '%s' has no %s function",
                          ops->name ? ops->name : "(unnamed)", ops->setup ? "loader" : "setup");
    volt_datamodule *dm = calloc(1, sizeof *dm);
    VOLT_CHECK_ALLOC(dm, sizeof *dm);
    dm->ops = ops;
    dm->ranks = 1;
    if (ops->state_size > 0) {
        dm->state = calloc(1, ops->state_size);
        if (!dm->state) {
            free(dm);
            return VOLT_ERROR(VOLT_ERR_NOMEM,
                              "out of memory allocating %zu bytes for the state "
                              "of data module '%s'",
                              ops->state_size, ops->name ? ops->name : "(unnamed)");
        }
    }
    *out = dm;
    return VOLT_OK;
}

void volt_datamodule_destroy(volt_datamodule *dm) {
    if (!dm) return;
    if (dm->ops->teardown) dm->ops->teardown(dm);
    free(dm->state);
    free(dm);
}

void *volt_datamodule_state(volt_datamodule *dm) { return dm->state; }
const volt_datamodule_ops *volt_datamodule_ops_of(const volt_datamodule *dm) { return dm->ops; }

void volt_datamodule_set_partition(volt_datamodule *dm, int rank, int ranks) {
    if (!dm) return;
    dm->ranks = ranks > 0 ? ranks : 1;
    dm->rank = rank >= 0 && rank < dm->ranks ? rank : 0;
}

void volt_datamodule_partition(const volt_datamodule *dm, int *rank, int *ranks) {
    if (rank) *rank = dm ? dm->rank : 0;
    if (ranks) *ranks = dm ? dm->ranks : 1;
}

/* ---- the HDF5 data module ------------------------------------------------------------ */

typedef struct hdf5_datamodule {
    volt_dataset *datasets[VOLT_SPLIT_COUNT]; /* by the split served */
    volt_loader *loaders[VOLT_SPLIT_COUNT];
    int in_memory; /* data.in_memory: splits read into memory when opened */
} hdf5_datamodule;

static int hdf5_declare(volt_config *config) {
    VOLT_CHECK(volt_config_declare(config, "data.path", VOLT_CONFIG_STRING, NULL,
                                   "the HDF5 data file (layout of volt-data)"));
    VOLT_CHECK(volt_config_declare(config, "data.batch_size", VOLT_CONFIG_INT, "64",
                                   "samples per training batch (per rank)"));
    VOLT_CHECK(volt_config_declare(config, "data.val_batch_size", VOLT_CONFIG_INT, "0",
                                   "samples per val/test/predict batch (0: data.batch_size)"));
    VOLT_CHECK(volt_config_declare(config, "data.shuffle", VOLT_CONFIG_BOOL, "true",
                                   "shuffle the training split each epoch (seed trainer.seed)"));
    VOLT_CHECK(volt_config_declare(config, "data.drop_last", VOLT_CONFIG_BOOL, "false",
                                   "drop the training split's last, smaller batch"));
    VOLT_CHECK(volt_config_declare(config, "data.prefetch", VOLT_CONFIG_BOOL, "true",
                                   "read the next batch in a thread while training on this one"));
    VOLT_CHECK(volt_config_declare(config, "data.in_memory", VOLT_CONFIG_BOOL, "false",
                                   "read each split into memory once (4 bytes per feature)"));
    return VOLT_OK;
}

static void close_served(hdf5_datamodule *state, volt_split served) {
    volt_loader_destroy(state->loaders[served]);
    volt_dataset_close(state->datasets[served]);
    state->loaders[served] = NULL;
    state->datasets[served] = NULL;
}

/* Opens split `source` of path to serve split `served`, with its batch size taken from
 * batch_key (checked here, so that the message names the key). */
static int open_served(hdf5_datamodule *state, const char *path, volt_split served,
                       volt_split source, const volt_loader_options *options,
                       const char *batch_key) {
    close_served(state, served);
    volt_dataset *dataset;
    VOLT_CHECK(volt_dataset_open(path, source, &dataset));
    const long length = volt_dataset_length(dataset);
    int status = VOLT_OK;
    if (options->batch_size <= 0)
        status = VOLT_ERROR(VOLT_ERR_CONFIG,
                            "%s = %ld must be at least 1 (split '%s' of '%s' has %ld samples)",
                            batch_key, options->batch_size, volt_split_name(source), path, length);
    else if (options->drop_last && !options->contiguous &&
             options->batch_size * (options->ranks > 1 ? options->ranks : 1) > length)
        status = VOLT_ERROR(VOLT_ERR_CONFIG,
                            "%s = %ld is larger than the %ld samples of split '%s' of '%s': "
                            "with data.drop_last no batch would remain",
                            batch_key, options->batch_size, length, volt_split_name(source), path);
    if (status == VOLT_OK && state->in_memory) status = volt_dataset_load(dataset);
    volt_loader *loader = NULL;
    if (status == VOLT_OK) status = volt_loader_create(dataset, options, &loader);
    if (status != VOLT_OK) {
        volt_dataset_close(dataset);
        return volt_error_push(status, __FILE__, __LINE__, __func__, "opening split '%s' of '%s'",
                               volt_split_name(source), path);
    }
    state->datasets[served] = dataset;
    state->loaders[served] = loader;
    return VOLT_OK;
}

static int hdf5_setup(volt_datamodule *dm, volt_stage stage, const volt_config *config) {
    VOLT_CHECK_ARG(dm && config);
    hdf5_datamodule *state = volt_datamodule_state(dm);
    const char *path = volt_config_string(config, "data.path", NULL);
    if (!path || !path[0])
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "data.path is not set: give the HDF5 data file (--data.path=FILE)");

    const long batch_size = volt_config_int(config, "data.batch_size", 64);
    long eval_batch_size = volt_config_int(config, "data.val_batch_size", 0);
    const char *eval_batch_key = "data.val_batch_size";
    if (eval_batch_size < 0)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "data.val_batch_size = %ld must be at least 0 (0: data.batch_size)",
                          eval_batch_size);
    if (eval_batch_size == 0) {
        eval_batch_size = batch_size;
        eval_batch_key = "data.batch_size";
    }
    const int prefetch = volt_config_bool(config, "data.prefetch", 1);
    state->in_memory = volt_config_bool(config, "data.in_memory", 0);
    int rank = 0, ranks = 1;
    volt_datamodule_partition(dm, &rank, &ranks);
    const volt_loader_options train_options = {
        .rank = rank,
        .ranks = ranks,
        .batch_size = batch_size,
        .shuffle = volt_config_bool(config, "data.shuffle", 1),
        .drop_last = volt_config_bool(config, "data.drop_last", 0),
        .prefetch = prefetch,
        .seed = (uint64_t)volt_config_int(config, "trainer.seed", 42),
    };
    const volt_loader_options eval_options = {
        .rank = rank,
        .ranks = ranks,
        .contiguous = 1,
        .batch_size = eval_batch_size,
        .shuffle = 0,
        .drop_last = 0,
        .prefetch = prefetch,
        .seed = train_options.seed,
    };

    int has = 0;
    switch (stage) {
    case VOLT_STAGE_FIT:
        VOLT_CHECK(open_served(state, path, VOLT_SPLIT_TRAIN, VOLT_SPLIT_TRAIN, &train_options,
                               "data.batch_size"));
        VOLT_CHECK(volt_dataset_has_split(path, VOLT_SPLIT_VAL, &has));
        if (has)
            VOLT_CHECK(open_served(state, path, VOLT_SPLIT_VAL, VOLT_SPLIT_VAL, &eval_options,
                                   eval_batch_key));
        else
            close_served(state, VOLT_SPLIT_VAL);
        return VOLT_OK;
    case VOLT_STAGE_VALIDATE:
        VOLT_CHECK(open_served(state, path, VOLT_SPLIT_VAL, VOLT_SPLIT_VAL, &eval_options,
                               eval_batch_key));
        return VOLT_OK;
    case VOLT_STAGE_TEST:
        VOLT_CHECK(open_served(state, path, VOLT_SPLIT_TEST, VOLT_SPLIT_TEST, &eval_options,
                               eval_batch_key));
        return VOLT_OK;
    case VOLT_STAGE_PREDICT:
        VOLT_CHECK(volt_dataset_has_split(path, VOLT_SPLIT_PREDICT, &has));
        VOLT_CHECK(open_served(state, path, VOLT_SPLIT_PREDICT,
                               has ? VOLT_SPLIT_PREDICT : VOLT_SPLIT_TEST, &eval_options,
                               eval_batch_key));
        return VOLT_OK;
    }
    return VOLT_ERROR(VOLT_ERR_ARG, "unknown stage %d", (int)stage);
}

static int hdf5_loader(volt_datamodule *dm, volt_split split, volt_loader **out) {
    VOLT_CHECK_ARG(dm && out);
    VOLT_CHECK_ARG((int)split >= 0 && (int)split < VOLT_SPLIT_COUNT);
    hdf5_datamodule *state = volt_datamodule_state(dm);
    *out = state->loaders[split];
    return VOLT_OK;
}

static void hdf5_teardown(volt_datamodule *dm) {
    hdf5_datamodule *state = volt_datamodule_state(dm);
    for (int split = 0; split < VOLT_SPLIT_COUNT; split++) close_served(state, (volt_split)split);
}

const volt_datamodule_ops volt_hdf5_datamodule_ops = {
    .name = "hdf5",
    .state_size = sizeof(hdf5_datamodule),
    .declare = hdf5_declare,
    .prepare_data = NULL,
    .setup = hdf5_setup,
    .loader = hdf5_loader,
    .teardown = hdf5_teardown,
};

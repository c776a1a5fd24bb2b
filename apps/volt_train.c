/* apps/volt_train.c — volt-train: the trainer's command line, as Lightning's CLI.
 *
 *     volt-train fit|validate|test|predict --config FILE [--config FILE2 ...]
 *                [--section.key=value ...] [--ckpt_path=PATH] [--print-config] [--help]
 *
 * One configuration drives the run: every key of the trainer (trainer.*, optimizer.*,
 * lr_scheduler.*, callbacks), of the HDF5 data module (data.*) and of the model
 * (model.name, then that model's model.* keys) is declared, then YAML files (in order),
 * --key=value overrides and VOLT_SECTION__KEY environment variables are read, and the
 * result is resolved: an unknown key or a bad value is an error naming it (exit 2).
 *
 * Then: the trainer (it checks its keys and builds the callbacks), the data set's sample
 * size and class count (into model.input_size / model.num_classes, see
 * models/models.h), the model, the data module, and the subcommand, which runs
 * prepare_data and setup through the trainer. Exit status: 0 on success, 2 for a bad
 * command line or configuration, 1 when the run fails (the error stack is printed once), 75
 * when a signal stopped fit after its checkpoint (requeue). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "data/datamodule.h"
#include "data/dataset.h"
#include "models/models.h"
#include "comm/comm.h"
#include "runtime/runtime.h"
#include "trainer/trainer.h"

extern char **environ;

enum { EXIT_RUN_FAILED = 1, EXIT_USAGE = 2 };

static const char usage_text[] =
    "usage: volt-train fit|validate|test|predict --config FILE [--config FILE2 ...]\n"
    "                  [--section.key=value ...] [--ckpt_path=PATH] [--print-config] [--help]\n"
    "       volt-train --version\n"
    "\n"
    "  fit        train model.name on data.path's /train split, validating on /val\n"
    "  validate   evaluate on /val (metrics val/*)\n"
    "  test       evaluate on /test (metrics test/*)\n"
    "  predict    write <run folder>/predictions.csv for /predict\n"
    "\n"
    "--ckpt_path=FILE|last|best|auto: fit resumes from a checkpoint (ModelCheckpoint writes\n"
    "them to <run folder>/checkpoints/; last: the newest last.h5; best: the best one it\n"
    "records; auto: last when there is one, else a fresh start); validate, test and\n"
    "predict evaluate its weights (without it, the freshly initialised model).\n"
    "\n"
    "Configuration, later sources winning: the declared defaults, YAML files in the\n"
    "order given, --section.key=value (or --section.key value) on the command line,\n"
    "then VOLT_SECTION__KEY environment variables (VOLT_TRAINER__MAX_EPOCHS=3).\n"
    "  trainer.*, optimizer.*, lr_scheduler.*, callbacks   lib/trainer/trainer.h\n"
    "  data.*                                             lib/data/datamodule.h\n"
    "  model.name, model.*                                apps/models/models.h\n"
    "                                                     (models: %s)\n"
    "--print-config prints the resolved configuration (every key with its value) as\n"
    "YAML and exits; each run saves it as <run folder>/config.yaml, and\n"
    "`volt-train fit --config <that file>` repeats the run.\n"
    "\n"
    "Exit status: 0 success, 2 bad command line or configuration, 1 the run failed,\n"
    "75 a signal (SIGUSR1, SIGTERM) stopped fit after it saved hpc_ckpt_<n>.h5 and\n"
    "last.h5: requeue the job and resume with --ckpt_path=last.\n";

static void print_usage(FILE *out) {
    char names[256];
    fprintf(out, usage_text, volt_model_names(names, sizeof names));
}

typedef struct train_command {
    volt_stage stage;
    int print_config;
    const char *ckpt_path; /* fit --ckpt_path: a file, last, best or auto; NULL: none */
} train_command;

static int has_argument(int argc, char **argv, const char *a, const char *b) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) return 0;
        if (strcmp(argv[i], a) == 0 || (b && strcmp(argv[i], b) == 0)) return 1;
    }
    return 0;
}

/* What parse_args left: the subcommand, --print-config, nothing else. */
static int parse_command(int argc, char **argv, train_command *command) {
    static const char *const names[] = {"fit", "validate", "test", "predict"};
    static const volt_stage stages[] = {VOLT_STAGE_FIT, VOLT_STAGE_VALIDATE, VOLT_STAGE_TEST,
                                        VOLT_STAGE_PREDICT};
    int found = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--print-config") == 0) {
            command->print_config = 1;
            continue;
        }
        if (strncmp(argv[i], "--ckpt_path=", 12) == 0 || strcmp(argv[i], "--ckpt_path") == 0) {
            const char *value = argv[i][11] == '=' ? argv[i] + 12 : i + 1 < argc ? argv[++i] : "";
            if (!*value)
                return VOLT_ERROR(VOLT_ERR_CONFIG,
                                  "--ckpt_path needs a value: a checkpoint file, last, best or "
                                  "auto");
            command->ckpt_path = value;
            continue;
        }
        int known = -1;
        for (int k = 0; k < 4; k++)
            if (strcmp(argv[i], names[k]) == 0) known = k;
        if (known >= 0 && !found) {
            command->stage = stages[known];
            found = 1;
        } else if (known >= 0) {
            return VOLT_ERROR(VOLT_ERR_CONFIG, "two subcommands given ('%s' and '%s')",
                              volt_stage_name(command->stage), argv[i]);
        } else if (strncmp(argv[i], "-", 1) == 0) {
            return VOLT_ERROR(VOLT_ERR_CONFIG,
                              "unknown option '%s' (configuration keys look like "
                              "--trainer.max_epochs=3; see volt-train --help)",
                              argv[i]);
        } else {
            return VOLT_ERROR(VOLT_ERR_CONFIG,
                              "unknown subcommand '%s': expected fit, validate, test or "
                              "predict",
                              argv[i]);
        }
    }
    if (!found)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "no subcommand: expected fit, validate, test or predict");
    return VOLT_OK;
}

/* Declares every key, reads files, command line and environment, resolves. */
static int configure(volt_config *config, int *argc, char **argv, train_command *command,
                     const volt_module_ops **model_ops) {
    VOLT_CHECK(volt_trainer_declare(config));
    if (volt_hdf5_datamodule_ops.declare) VOLT_CHECK(volt_hdf5_datamodule_ops.declare(config));
    VOLT_CHECK(volt_config_declare(config, "model.name", VOLT_CONFIG_STRING, "mlp",
                                   "the model to train (apps/models/models.h)"));
    VOLT_CHECK(volt_config_parse_args(config, argc, argv));
    VOLT_CHECK(volt_config_load_env(config, environ));
    VOLT_CHECK(parse_command(*argc, argv, command));
    /* the model's own keys depend on which model: declared before resolving */
    const char *name = volt_config_string(config, "model.name", "mlp");
    *model_ops = volt_model_find(name);
    VOLT_CHECK_PTR(*model_ops);
    if ((*model_ops)->declare) VOLT_CHECK((*model_ops)->declare(config));
    VOLT_CHECK(volt_config_resolve(config));
    return VOLT_OK;
}

/* The split a stage reads, as the HDF5 data module serves it (predict falls back to
 * test when the file has no predict split). */
static volt_split stage_split(volt_stage stage, const int *present) {
    switch (stage) {
    case VOLT_STAGE_VALIDATE:
        return VOLT_SPLIT_VAL;
    case VOLT_STAGE_TEST:
        return VOLT_SPLIT_TEST;
    case VOLT_STAGE_PREDICT:
        return present[VOLT_SPLIT_PREDICT] ? VOLT_SPLIT_PREDICT : VOLT_SPLIT_TEST;
    case VOLT_STAGE_FIT:
        break;
    }
    return VOLT_SPLIT_TRAIN;
}

/* Sets model.<key> from the data set when it is 0; otherwise the two must agree. */
static int set_from_data(volt_config *config, const char *key, long from_data, const char *path) {
    long given = volt_config_int(config, key, 0);
    if (given != 0 && given != from_data)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "%s=%ld, but the data set %s has %ld (leave it 0 to take the data "
                          "set's)",
                          key, given, path, from_data);
    char text[32], origin[1100];
    snprintf(text, sizeof text, "%ld", from_data);
    snprintf(origin, sizeof origin, "data set %s", path);
    VOLT_CHECK(volt_config_set(config, key, text, origin));
    return VOLT_OK;
}

/* Opens one split for its sample size and, when labelled, its class count. */
static int read_split_sizes(const char *path, volt_split split, long *features, long *num_classes) {
    volt_dataset *dataset;
    VOLT_CHECK(volt_dataset_open(path, split, &dataset));
    *features = volt_dataset_features(dataset);
    *num_classes = volt_dataset_has_labels(dataset) ? volt_dataset_num_classes(dataset) : 0;
    volt_dataset_close(dataset);
    return VOLT_OK;
}

/* Sets model.input_size and model.num_classes from data.path, after checking that the
 * split the stage reads is there (the data module would find out only after the model
 * was built from sizes it does not have). */
static int configure_from_data(volt_config *config, volt_stage stage) {
    const char *path;
    VOLT_CHECK(volt_config_get_string(config, "data.path", &path));
    if (access(path, R_OK) != 0)
        return VOLT_ERROR(VOLT_ERR_IO,
                          "data.path: cannot read %s (convert a data set into Volt's HDF5 "
                          "layout with volt-data idx|csv)",
                          path);
    int present[VOLT_SPLIT_COUNT];
    char found[64] = "";
    for (int split = 0; split < VOLT_SPLIT_COUNT; split++) {
        VOLT_CHECK(volt_dataset_has_split(path, (volt_split)split, &present[split]));
        size_t used = strlen(found);
        if (present[split])
            snprintf(found + used, sizeof found - used, "%s/%s", used ? ", " : "",
                     volt_split_name((volt_split)split));
    }
    volt_split needed = stage_split(stage, present);
    if (!present[needed])
        return VOLT_ERROR(VOLT_ERR_IO,
                          "data set %s has no /%s group (with an x dataset), which %s needs; "
                          "it has %s (the layout: lib/data/dataset.h)",
                          path, volt_split_name(needed), volt_stage_name(stage),
                          found[0] ? found : "none of /train, /val, /test, /predict");
    long features = 0, num_classes = 0;
    VOLT_CHECK(read_split_sizes(path, needed, &features, &num_classes));
    /* unlabelled samples (predict): the classes of a labelled split */
    for (int split = 0; split < VOLT_SPLIT_COUNT && num_classes == 0; split++) {
        long other_features = 0;
        if (present[split] && split != (int)needed)
            VOLT_CHECK(read_split_sizes(path, (volt_split)split, &other_features, &num_classes));
    }
    VOLT_CHECK(set_from_data(config, "model.input_size", features, path));
    if (num_classes) VOLT_CHECK(set_from_data(config, "model.num_classes", num_classes, path));
    return VOLT_OK;
}

#ifdef VOLT_TRAIN_TEST_HOOKS
/* Test build only (volt-train-test, tests/trainer.cmake): the HDF5 data module, except
 * that setup fails on the rank named by VOLT_TEST_FAIL_RANK, as a rank that cannot open
 * its data file would. */
static int failing_setup(volt_datamodule *dm, volt_stage stage, const volt_config *config) {
    const char *fail = getenv("VOLT_TEST_FAIL_RANK");
    if (fail && *fail && atoi(fail) == volt_core_rank())
        return VOLT_ERROR(VOLT_ERR_IO,
                          "cannot open data file '%s' on this rank "
                          "(VOLT_TEST_FAIL_RANK=%s)",
                          volt_config_string(config, "data.path", "?"), fail);
    return volt_hdf5_datamodule_ops.setup(dm, stage, config);
}

static const volt_datamodule_ops *datamodule_ops(void) {
    static volt_datamodule_ops ops;
    ops = volt_hdf5_datamodule_ops;
    ops.name = "hdf5 (test: VOLT_TEST_FAIL_RANK)";
    ops.setup = failing_setup;
    return &ops;
}
#else
static const volt_datamodule_ops *datamodule_ops(void) { return &volt_hdf5_datamodule_ops; }
#endif

static int run_stage(volt_trainer *trainer, const train_command *command, volt_module *module,
                     volt_datamodule *datamodule) {
    if (command->ckpt_path && command->stage != VOLT_STAGE_FIT)
        VOLT_CHECK(volt_trainer_load_weights(trainer, module, command->ckpt_path));
    switch (command->stage) {
    case VOLT_STAGE_FIT:
        return volt_trainer_fit_from(trainer, module, datamodule, command->ckpt_path);
    case VOLT_STAGE_VALIDATE:
        return volt_trainer_validate(trainer, module, datamodule);
    case VOLT_STAGE_TEST:
        return volt_trainer_test(trainer, module, datamodule);
    case VOLT_STAGE_PREDICT:
        return volt_trainer_predict(trainer, module, datamodule);
    }
    return VOLT_ERROR(VOLT_ERR_INTERNAL, "unknown stage %d", (int)command->stage);
}

/* Builds the trainer, the model and the data module, and runs the stage. */
/* *preempted: a signal stopped the fit after its checkpoint (volt_trainer_preempted). */
static int execute(volt_config *config, const train_command *command,
                   const volt_module_ops *model_ops, int *preempted) {
    volt_trainer *trainer = NULL;
    volt_module *module = NULL;
    volt_datamodule *datamodule = NULL;
    volt_comm *world = NULL; /* for agreement on this program's own fallible work */
    int status = volt_comm_create(MPI_COMM_WORLD, &world);
    /* the trainer first: its keys and callbacks are checked before any data is read (the
     * same on every rank, so every rank fails alike) */
    if (status == VOLT_OK) status = volt_trainer_create(config, &trainer);
    if (status == VOLT_OK) {
        status = configure_from_data(config, command->stage);
        if (status == VOLT_OK)
            status = volt_module_create_tp(model_ops, config,
                                           (uint64_t)volt_config_int(config, "trainer.seed", 42),
                                           volt_trainer_tp(trainer), &module);
        if (status == VOLT_OK) status = volt_datamodule_create(datamodule_ops(), &datamodule);
        status = volt_comm_agree(world, status); /* a rank that cannot read the data */
    }
    if (status == VOLT_OK) status = run_stage(trainer, command, module, datamodule);
    *preempted = status == VOLT_OK && volt_trainer_preempted(trainer) != 0;
    if (status != VOLT_OK)
        status = VOLT_ERROR(status, "volt-train %s failed", volt_stage_name(command->stage));
    volt_datamodule_destroy(datamodule);
    volt_module_destroy(module);
    volt_trainer_destroy(trainer);
    volt_comm_destroy(world);
    return status;
}

/* Returns the exit status. */
static int volt_train_main(int argc, char **argv, int rank, int world_size) {
    if (has_argument(argc, argv, "--help", "-h")) {
        if (rank == 0) print_usage(stdout);
        return 0;
    }
    volt_config *config = NULL;
    train_command command = {0};
    const volt_module_ops *model_ops = NULL;
    int preempted = 0;
    int status = volt_config_create(&config);
    if (status == VOLT_OK) status = configure(config, &argc, argv, &command, &model_ops);
    if (status != VOLT_OK) {
        /* the same on every rank (same files, arguments and environment): print once */
        if (rank == 0) {
            volt_error_print(stderr);
            fprintf(stderr, "(volt-train --help shows the usage)\n");
        }
        volt_error_clear();
        volt_config_destroy(config);
        return EXIT_USAGE;
    }
    if (command.print_config) {
        status = rank == 0 ? volt_config_write_yaml(config, stdout) : VOLT_OK;
        if (status == VOLT_OK && fflush(stdout) != 0)
            status = VOLT_ERROR(VOLT_ERR_IO, "cannot write the configuration to stdout");
    } else {
        status = execute(config, &command, model_ops, &preempted);
    }
    volt_config_destroy(config);
    if (status == VOLT_OK) return preempted ? VOLT_EXIT_REQUEUE : 0;
    /* With more ranks every failure that returns here is known to every rank with the
     * same message (agreed, or the same configuration everywhere): a failure that could
     * not be agreed has aborted the job (MPI_Abort) in the trainer. Rank 0 prints it. */
    if (world_size == 1 || rank == 0) volt_error_print(stderr);
    volt_error_clear();
    return status == VOLT_ERR_CONFIG ? EXIT_USAGE : EXIT_RUN_FAILED;
}

int main(int argc, char **argv) {
    if (has_argument(argc, argv, "--version", NULL)) { /* without starting MPI */
        volt_print_version(stdout, "volt-train");
        return 0;
    }
    /* with --help or --print-config, stdout is the answer: no start-up report on it */
    if (has_argument(argc, argv, "--help", "-h") ||
        has_argument(argc, argv, "--print-config", NULL))
        volt_log_set_level(VOLT_LEVEL_WARN);
    if (volt_init(&argc, &argv) != VOLT_OK) volt_abort_with_errors(EXIT_RUN_FAILED);
    int exit_status = volt_train_main(argc, argv, volt_core_rank(), volt_core_world_size());
    if (volt_finalize() != VOLT_OK) volt_abort_with_errors(EXIT_RUN_FAILED);
    return exit_status;
}

/* lib/trainer/run_dir.c — the run folder <default_root_dir>/<name>/version_<n>/ and the
 * files in it: config.yaml (the resolved configuration), metrics.csv and predictions.csv.
 *
 * A trainer makes its folder once, at its first fit/validate/test/predict, and keeps it
 * for later calls (as Lightning's logger keeps its version). The next free version is
 * one more than the largest version_<n> present; mkdir's EEXIST makes two processes that
 * race for a number take different ones; a version given (trainer.version) that exists is
 * reused, its metrics.csv and predictions.csv removed first. Every file is written under a
 * temporary name and renamed into place, so no file claims more than what happened. Only
 * rank 0 (of the trainer's ranks) writes: it picks the version and the ranks agree on the
 * outcome, then learn the path from it. predictions.csv holds every rank's rows, gathered
 * to rank 0 in sample order. */
#include <dirent.h>
#include <stdint.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "core/fs.h"
#include "core/log.h"
#include "trainer/trainer_internal.h"

static char *join_path(const char *a, const char *b) {
    size_t size = strlen(a) + strlen(b) + 2;
    char *path = malloc(size);
    if (path) snprintf(path, size, "%s/%s", a, b);
    return path;
}

/* One more than the largest version_<n> in folder (0 when there is none). */
static long next_version(const char *folder) {
    DIR *listing = opendir(folder);
    if (!listing) return 0;
    long next = 0;
    struct dirent *entry;
    while ((entry = readdir(listing))) {
        const char *name = entry->d_name;
        if (strncmp(name, "version_", 8) != 0 || name[8] < '0' || name[8] > '9') continue;
        char *end;
        long n = strtol(name + 8, &end, 10);
        if (*end == '\0' && n >= next) next = n + 1;
    }
    closedir(listing);
    return next;
}

static int make_version_folder(const char *parent, long requested, char **out) {
    long version = requested >= 0 ? requested : next_version(parent);
    for (int attempt = 0; attempt < 1000; attempt++, version++) {
        char name[32];
        snprintf(name, sizeof name, "version_%ld", version);
        char *path = join_path(parent, name);
        VOLT_CHECK_ALLOC(path, strlen(parent) + sizeof name);
        if (mkdir(path, 0777) == 0) {
            *out = path;
            return VOLT_OK;
        }
        int error = errno;
        if (error == EEXIST && requested >= 0) {
            VOLT_WARN("trainer.version = %ld: %s exists; its files will be replaced", requested,
                      path);
            /* the earlier run's results must not pass for this run's if it fails early */
            static const char *const results[] = {"metrics.csv", "predictions.csv"};
            int status = VOLT_OK;
            for (size_t i = 0; i < sizeof results / sizeof results[0] && status == VOLT_OK; i++) {
                char *result = join_path(path, results[i]);
                if (!result)
                    status =
                        VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory naming %s/%s", path, results[i]);
                else if (remove(result) != 0 && errno != ENOENT)
                    status = VOLT_ERROR(VOLT_ERR_IO, "cannot remove %s of an earlier run: %s",
                                        result, strerror(errno));
                free(result);
            }
            if (status != VOLT_OK) {
                free(path);
                return status;
            }
            *out = path;
            return VOLT_OK;
        }
        free(path);
        if (error != EEXIST)
            return VOLT_ERROR(VOLT_ERR_IO, "cannot create folder %s/%s: %s", parent, name,
                              strerror(error));
    }
    return VOLT_ERROR(VOLT_ERR_IO, "cannot find a free version folder in %s", parent);
}

/* The run's hyperparameters for TensorBoard's HParams tab: the keys a sweep changes. */
static int write_hparams(volt_trainer *t) {
    static const char *const number_keys[] = {"optimizer.lr",
                                              "optimizer.weight_decay",
                                              "data.batch_size",
                                              "trainer.max_epochs",
                                              "trainer.max_steps",
                                              "trainer.accumulate_grad_batches",
                                              "trainer.gradient_clip_val",
                                              "trainer.seed",
                                              "model.dropout"};
    static const char *const string_keys[] = {"optimizer.name",   "lr_scheduler.name",
                                              "model.name",       "model.hidden",
                                              "model.activation", "trainer.strategy"};
    volt_tb_hparam hparams[32];
    int n = 0;
    for (size_t i = 0; i < sizeof number_keys / sizeof number_keys[0]; i++) {
        double value;
        long whole;
        if (!volt_config_is_set(t->config, number_keys[i])) continue;
        if (volt_config_get_float(t->config, number_keys[i], &value) != VOLT_OK) {
            volt_error_clear(); /* an integer key */
            if (volt_config_get_int(t->config, number_keys[i], &whole) != VOLT_OK) {
                volt_error_clear(); /* not a number: left out */
                continue;
            }
            value = (double)whole;
        }
        if (isfinite(value)) hparams[n++] = VOLT_TB_NUMBER(number_keys[i], value);
    }
    for (size_t i = 0; i < sizeof string_keys / sizeof string_keys[0]; i++) {
        const char *value = volt_config_string(t->config, string_keys[i], NULL);
        if (value) hparams[n++] = VOLT_TB_STRING(string_keys[i], value);
    }
    char dp[16];
    snprintf(dp, sizeof dp, "%d", trainer_dp_size(t));
    hparams[n++] = VOLT_TB_STRING("trainer.layout", dp);
    return volt_tb_add_hparams(t->tensorboard, hparams, n, NULL, 0, 0);
}

static int open_run_dir_here(volt_trainer *t, const char *module_name) {
    if (!t->log_dir) {
        const char *name = t->options.name[0]            ? t->options.name
                           : module_name && *module_name ? module_name
                                                         : "model";
        char *parent = join_path(t->options.default_root_dir, name);
        VOLT_CHECK_ALLOC(parent, strlen(t->options.default_root_dir) + strlen(name) + 2);
        int status = volt_make_folders(parent);
        if (status == VOLT_OK)
            status = make_version_folder(parent, t->options.version, &t->log_dir);
        free(parent);
        VOLT_CHECK(status);
        if (t->options.fast_dev_run == 0) {
            char *csv_path = join_path(t->log_dir, "metrics.csv");
            VOLT_CHECK_ALLOC(csv_path, strlen(t->log_dir) + 16);
            status = volt_csv_logger_create(csv_path, &t->csv);
            free(csv_path);
            VOLT_CHECK(status);
            if (t->options.tensorboard) {
                VOLT_CHECK(volt_tb_writer_create(t->log_dir, &t->tensorboard));
                VOLT_CHECK(write_hparams(t));
            }
        }
        VOLT_INFO("run folder: %s", t->log_dir);
    }
    char *config_path = join_path(t->log_dir, "config.yaml");
    VOLT_CHECK_ALLOC(config_path, strlen(t->log_dir) + 16);
    int status = volt_config_save(t->config, config_path);
    free(config_path);
    VOLT_CHECK(status);
    return VOLT_OK;
}

/* Rank 0 makes the folder (and picks the version); the ranks agree on its success, and
 * the others learn its path (volt_trainer_log_dir) but write nothing. */
int trainer_open_run_dir(volt_trainer *t, const char *module_name) {
    int status = t->rank == 0 ? open_run_dir_here(t, module_name) : VOLT_OK;
    if (!t->world || volt_comm_size(t->world) == 1) return status;
    status = volt_comm_agree(t->world, status);
    if (status != VOLT_OK) {
        t->failure_agreed = 1;
        return status;
    }
    int32_t words[1024] = {0}; /* the path, sent as 4096 bytes */
    char *path = (char *)words;
    if (t->rank == 0) snprintf(path, sizeof words, "%s", t->log_dir);
    VOLT_CHECK(volt_comm_broadcast(t->world, words, 1024, VOLT_I32, 0, NULL));
    path[sizeof words - 1] = '\0';
    if (t->rank > 0 && (!t->log_dir || strcmp(t->log_dir, path) != 0)) {
        free(t->log_dir);
        t->log_dir = strdup(path);
        VOLT_CHECK_ALLOC(t->log_dir, strlen(path) + 1);
    }
    return VOLT_OK;
}

int trainer_save_metrics(volt_trainer *t) {
    if (t->csv) VOLT_CHECK(volt_csv_logger_save(t->csv));
    return VOLT_OK;
}

int trainer_flush_tensorboard(volt_trainer *t) {
    if (t->tensorboard) VOLT_CHECK(volt_tb_flush(t->tensorboard));
    return VOLT_OK;
}

/* ---- predictions.csv ------------------------------------------------------------------------ */

static char *predictions_path(const volt_trainer *t, const char *suffix) {
    size_t size = strlen(t->log_dir) + sizeof "/predictions.csv" + strlen(suffix);
    char *path = malloc(size);
    if (path) snprintf(path, size, "%s/predictions.csv%s", t->log_dir, suffix);
    return path;
}

int trainer_predictions_open(volt_trainer *t, FILE **out) {
    *out = NULL;
    if (!t->log_dir || t->options.fast_dev_run > 0 || t->rank > 0)
        return VOLT_OK; /* nothing to write (rank 0 writes every rank's rows) */
    char *path = predictions_path(t, ".tmp");
    VOLT_CHECK_ALLOC(path, strlen(t->log_dir) + 32);
    *out = fopen(path, "w");
    int status =
        *out ? VOLT_OK : VOLT_ERROR(VOLT_ERR_IO, "cannot create %s: %s", path, strerror(errno));
    free(path);
    return status;
}

/* One row per sample: output[i] flattened, values as %.9g (round trip for f32). A header
 * names the columns output_0 .. output_<k-1> before the first row. */
int trainer_predictions_write(FILE *file, const volt_tensor *output, long batch_size) {
    if (!file) return VOLT_OK;
    size_t numel = volt_tensor_numel(output);
    if (output->ndim < 1 || output->shape[0] != batch_size || batch_size <= 0) {
        char described[96];
        return VOLT_ERROR(VOLT_ERR_SHAPE,
                          "predict_step returned %s for a batch of %ld samples: expected the "
                          "batch as its first dimension",
                          volt_tensor_describe(output, described, sizeof described), batch_size);
    }
    size_t per_sample = numel / (size_t)batch_size;
    if (ftell(file) == 0) {
        for (size_t j = 0; j < per_sample; j++) fprintf(file, "%soutput_%zu", j ? "," : "", j);
        fputc('\n', file);
    }
    for (long i = 0; i < batch_size; i++) {
        for (size_t j = 0; j < per_sample; j++)
            fprintf(file, "%s%.9g", j ? "," : "",
                    volt_tensor_get_flat(output, (size_t)i * per_sample + j));
        fputc('\n', file);
    }
    if (ferror(file)) return VOLT_ERROR(VOLT_ERR_IO, "cannot write predictions.csv");
    return VOLT_OK;
}

int trainer_predictions_close(volt_trainer *t, FILE *file, int success) {
    if (!file) return VOLT_OK;
    char *tmp_path = predictions_path(t, ".tmp"), *path = predictions_path(t, "");
    int status = VOLT_OK;
    if (fclose(file) != 0 && success)
        status = VOLT_ERROR(VOLT_ERR_IO, "cannot write %s: %s", tmp_path ? tmp_path : "?",
                            strerror(errno));
    if (!tmp_path || !path) {
        if (success && status == VOLT_OK)
            status = VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory naming predictions.csv");
    } else if (success && status == VOLT_OK) {
        if (rename(tmp_path, path) != 0)
            status = VOLT_ERROR(VOLT_ERR_IO, "cannot rename %s to %s: %s", tmp_path, path,
                                strerror(errno));
        else
            VOLT_INFO("predictions: %s", path);
    }
    if (tmp_path && (status != VOLT_OK || !success)) remove(tmp_path);
    free(tmp_path);
    free(path);
    return status;
}

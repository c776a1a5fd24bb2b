/* lib/trainer/checkpointing.c — the run's state into a checkpoint and back.
 *
 * What a checkpoint holds (docs/checkpoint-format.md): the model; the optimizer state
 * (DDP and single: every rank holds all of it and writes 1/P; ZeRO-1: each rank writes
 * its shard), every tensor at its global shape (under tensor parallelism each rank
 * writes and reads its part of the split ones); in /meta the counters (global_step,
 * current_epoch, batches_done, epochs_done), the random streams (rng_seed, rng_step: the
 * graph's step for the next training batch), lr, layout ("dp=2,tp=2"), strategy,
 * world_size, module, the resolved configuration as YAML; each callback's state under
 * /meta/callbacks/<name>. The learning-rate schedule is a function of global_step (or
 * the epoch), so the counters restore it.
 *
 * A checkpoint taken when an epoch's last batch is done (batches_done equals the epoch's
 * batch count) resumes at the start of the next epoch. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/fs.h"
#include "core/log.h"
#include "trainer/trainer_internal.h"

static const char *strategy_name(trainer_strategy s) {
    return s == TRAINER_STRATEGY_ZERO1 ? "zero1" : s == TRAINER_STRATEGY_DDP ? "ddp" : "single";
}

/* The resolved configuration as YAML (malloc'd), or NULL. */
static char *config_yaml(const volt_config *config) {
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (!f) return NULL;
    int status = volt_config_write_yaml(config, f);
    fclose(f);
    if (status != VOLT_OK) {
        free(text);
        return NULL;
    }
    return text;
}

/* The group of callback i: meta/callbacks/<name>, with .<i> when the name repeats. */
static void callback_group(const volt_trainer *t, int i, char *group, size_t size) {
    const char *name = t->callbacks[i]->ops->name ? t->callbacks[i]->ops->name : "callback";
    int earlier = 0;
    for (int j = 0; j < i; j++)
        if (t->callbacks[j]->ops->name && strcmp(t->callbacks[j]->ops->name, name) == 0) earlier++;
    if (earlier)
        snprintf(group, size, "meta/callbacks/%s.%d", name, earlier);
    else
        snprintf(group, size, "meta/callbacks/%s", name);
}

/* Keeps the first failure. */
static void note(int *first, int status) {
    if (*first == VOLT_OK) *first = status;
}

/* Every rank makes every call (each is collective) even after a failure of its own, and
 * returns its first failure: volt_ckpt_commit then agrees on the outcome. */
static int write_state(volt_trainer *t, volt_ckpt *ckpt, int weights_only) {
    int first = VOLT_OK;
    volt_module *m = t->module;
    volt_params *params = volt_module_params(m);
    const int tp_size = volt_trainer_tp(t)->size;
    note(&first, volt_ckpt_set_tensor_parallel(ckpt, tp_size));
    note(&first, volt_ckpt_write_model(ckpt, params));
    fit_context *f = t->fit;
    int full = f && !weights_only;
    if (full) {
        if (f->zero)
            note(&first,
                 volt_ckpt_write_optimizer(ckpt, params, volt_zero_optimizer(f->zero),
                                           volt_zero_shard_offset(f->zero),
                                           volt_zero_shard_length(f->zero), 0, t->optimizer_label));
        else
            note(&first,
                 volt_ckpt_write_optimizer(ckpt, params, f->optimizer, 0,
                                           volt_params_flat_size(params), 1, t->optimizer_label));
    }
    const char *module = volt_module_ops_of(m)->name;
    note(&first, volt_ckpt_put_string(ckpt, "meta", "module", module ? module : ""));
    note(&first, volt_ckpt_put_long(ckpt, "meta", "weights_only", !full));
    note(&first, volt_ckpt_put_long(ckpt, "meta", "global_step", t->global_step));
    note(&first, volt_ckpt_put_long(ckpt, "meta", "current_epoch", t->current_epoch));
    note(&first, volt_ckpt_put_long(ckpt, "meta", "batches_done", t->batches_done));
    note(&first, volt_ckpt_put_long(ckpt, "meta", "epochs_done", t->epochs_done));
    long global_batch = f && f->train_loader ? volt_loader_options_of(f->train_loader)->batch_size *
                                                   trainer_dp_size(t)
                                             : 0;
    note(&first, volt_ckpt_put_long(ckpt, "meta", "global_batch_size", global_batch));
    note(&first, volt_ckpt_put_long(ckpt, "meta", "rng_seed", (long)volt_graph_seed(t->graph)));
    note(&first, volt_ckpt_put_long(ckpt, "meta", "rng_step", t->train_batch_counter));
    note(&first, volt_ckpt_put_double(ckpt, "meta", "lr", t->lr));
    if (t->options.loss_scaling) { /* 16-mixed: where the loss scale stands */
        note(&first, volt_ckpt_put_double(ckpt, "meta", "grad_scaler_scale", t->scaler.scale));
        note(&first,
             volt_ckpt_put_long(ckpt, "meta", "grad_scaler_good_steps", t->scaler.good_steps));
        note(&first, volt_ckpt_put_long(ckpt, "meta", "grad_scaler_skipped_steps",
                                        t->scaler.skipped_steps));
    }
    /* rank 0's clock: an attribute has one value, the same on every rank */
    double elapsed = t->fit ? volt_clock_seconds() - t->fit_start_time : 0;
    if (t->world && volt_comm_size(t->world) > 1)
        note(&first, volt_comm_broadcast(t->world, &elapsed, 1, VOLT_F64, 0, NULL));
    note(&first, volt_ckpt_put_double(ckpt, "meta", "elapsed_seconds", elapsed));
    char layout[64];
    snprintf(layout, sizeof layout, "dp=%d,tp=%d", trainer_dp_size(t), tp_size);
    note(&first, volt_ckpt_put_string(ckpt, "meta", "layout", layout));
    note(&first, volt_ckpt_put_string(ckpt, "meta", "strategy", strategy_name(t->strategy)));
    note(&first,
         volt_ckpt_put_long(ckpt, "meta", "world_size", t->world ? volt_comm_size(t->world) : 1));
    char *yaml = config_yaml(t->config);
    if (!yaml) note(&first, VOLT_ERROR(VOLT_ERR_NOMEM, "cannot render the configuration as YAML"));
    note(&first, volt_ckpt_put_string(ckpt, "meta", "config", yaml ? yaml : ""));
    free(yaml);
    for (int i = 0; i < t->callback_count; i++) {
        volt_callback *cb = t->callbacks[i];
        if (!cb->ops->state_save) continue;
        char group[128];
        callback_group(t, i, group, sizeof group);
        note(&first, cb->ops->state_save(cb, t, ckpt, group));
    }
    return first;
}

int volt_trainer_save_checkpoint(volt_trainer *t, const char *path, int weights_only) {
    VOLT_CHECK_ARG(t && path && *path);
    if (!t->module)
        return VOLT_ERROR(VOLT_ERR_ARG, "volt_trainer_save_checkpoint: no module (call it "
                                        "during a fit, validate, test or predict)");
    volt_ckpt *ckpt;
    volt_prof_begin(t->prof, "checkpoint");
    int status = volt_ckpt_create(t->world, path, &ckpt);
    if (status == VOLT_OK) status = volt_ckpt_commit(ckpt, write_state(t, ckpt, weights_only));
    volt_prof_end(t->prof, "checkpoint");
    if (status != VOLT_OK) {
        t->failure_agreed = 1;
        return VOLT_ERROR(status, "saving the checkpoint %s failed at step %ld", path,
                          t->global_step);
    }
    VOLT_DEBUG("saved checkpoint %s at step %ld", path, t->global_step);
    return VOLT_OK;
}

/* ---- restore ----------------------------------------------------------------------------- */

static int read_state(volt_trainer *t, volt_module *m, fit_context *f, volt_ckpt *ckpt) {
    const char *path = volt_ckpt_path(ckpt);
    volt_params *params = volt_module_params(m);
    long weights_only = 0;
    VOLT_CHECK(volt_ckpt_get_long(ckpt, "meta", "weights_only", &weights_only));
    if (weights_only)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "the checkpoint %s holds weights only (save_weights_only): it cannot "
                          "resume training",
                          path);
    char *module = NULL;
    VOLT_CHECK(volt_ckpt_get_string(ckpt, "meta", "module", &module));
    const char *ours = volt_module_ops_of(m)->name ? volt_module_ops_of(m)->name : "";
    if (strcmp(module, ours) != 0) {
        int status = VOLT_ERROR(VOLT_ERR_CONFIG,
                                "the checkpoint %s was saved by module %s; this run's module is "
                                "%s",
                                path, module, ours);
        free(module);
        return status;
    }
    free(module);
    VOLT_CHECK(volt_ckpt_read_model(ckpt, params, t->options.strict_loading));
    if (f->zero)
        VOLT_CHECK(volt_ckpt_read_optimizer(ckpt, params, volt_zero_optimizer(f->zero),
                                            volt_zero_shard_offset(f->zero),
                                            volt_zero_shard_length(f->zero), t->optimizer_label));
    else
        VOLT_CHECK(volt_ckpt_read_optimizer(ckpt, params, f->optimizer, 0,
                                            volt_params_flat_size(params), t->optimizer_label));
    long step, epoch, batches, epochs, rng_seed, rng_step;
    VOLT_CHECK(volt_ckpt_get_long(ckpt, "meta", "global_step", &step));
    VOLT_CHECK(volt_ckpt_get_long(ckpt, "meta", "current_epoch", &epoch));
    VOLT_CHECK(volt_ckpt_get_long(ckpt, "meta", "batches_done", &batches));
    VOLT_CHECK(volt_ckpt_get_long(ckpt, "meta", "epochs_done", &epochs));
    VOLT_CHECK(volt_ckpt_get_long(ckpt, "meta", "rng_seed", &rng_seed));
    VOLT_CHECK(volt_ckpt_get_long(ckpt, "meta", "rng_step", &rng_step));
    if ((uint64_t)rng_seed != volt_graph_seed(t->graph))
        VOLT_WARN("the checkpoint %s was trained with seed %ld, this run uses %llu: random "
                  "streams (dropout) differ from the original run's",
                  path, rng_seed, (unsigned long long)volt_graph_seed(t->graph));
    long global_batch = 0;
    VOLT_CHECK(volt_ckpt_get_long(ckpt, "meta", "global_batch_size", &global_batch));
    long our_batch = volt_loader_options_of(f->train_loader)->batch_size * trainer_dp_size(t);
    if (global_batch != our_batch)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "the checkpoint %s was trained with a global batch of %ld samples "
                          "(data.batch_size x dp), this run's is %ld: its position in the epoch "
                          "would not match (keep data.batch_size x dp the same to resume)",
                          path, global_batch, our_batch);
    if (batches > f->train_batches)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "the checkpoint %s stopped after batch %ld of epoch %ld, but an epoch "
                          "has %ld batches here (different batch size, data or "
                          "limit_train_batches?)",
                          path, batches, epoch, f->train_batches);
    double elapsed = 0;
    if (volt_ckpt_has(ckpt, "meta", "elapsed_seconds"))
        VOLT_CHECK(volt_ckpt_get_double(ckpt, "meta", "elapsed_seconds", &elapsed));
    t->resumed_seconds = elapsed > 0 ? elapsed : 0;
    if (t->options.loss_scaling && volt_ckpt_has(ckpt, "meta", "grad_scaler_scale")) {
        double scale = 0;
        long good = 0, skipped = 0;
        VOLT_CHECK(volt_ckpt_get_double(ckpt, "meta", "grad_scaler_scale", &scale));
        VOLT_CHECK(volt_ckpt_get_long(ckpt, "meta", "grad_scaler_good_steps", &good));
        VOLT_CHECK(volt_ckpt_get_long(ckpt, "meta", "grad_scaler_skipped_steps", &skipped));
        VOLT_CHECK(volt_grad_scaler_restore(&t->scaler, scale, good, skipped));
    }
    t->global_step = step;
    t->train_batch_counter = rng_step;
    if (batches == f->train_batches) { /* the epoch was complete */
        t->epochs_done = epoch + 1;
        t->resume_batch = 0;
    } else {
        t->epochs_done = epoch;
        t->resume_batch = batches;
    }
    t->current_epoch = t->epochs_done;
    t->batches_done = t->resume_batch; /* a save before the next batch records this place */
    (void)epochs;
    return VOLT_OK;
}

static int read_callbacks(volt_trainer *t, volt_ckpt *ckpt) {
    for (int i = 0; i < t->callback_count; i++) {
        volt_callback *cb = t->callbacks[i];
        if (!cb->ops->state_load) continue;
        char group[128];
        callback_group(t, i, group, sizeof group);
        if (!volt_ckpt_has(ckpt, group, NULL)) continue; /* a callback added since */
        VOLT_CHECK(cb->ops->state_load(cb, t, ckpt, group));
    }
    return VOLT_OK;
}

int trainer_restore_callbacks(volt_trainer *t, const char *path) {
    volt_ckpt *ckpt;
    int status = volt_ckpt_open(t->world, path, &ckpt);
    if (status == VOLT_OK) {
        status = read_callbacks(t, ckpt);
        volt_ckpt_close(ckpt);
        if (t->world) status = volt_comm_agree(t->world, status);
    }
    if (status != VOLT_OK) {
        t->failure_agreed = 1;
        return VOLT_ERROR(status, "cannot restore the callbacks' states from %s", path);
    }
    return VOLT_OK;
}

int trainer_restore(volt_trainer *t, volt_module *m, fit_context *f, const char *path) {
    volt_ckpt *ckpt;
    int status = volt_ckpt_open(t->world, path, &ckpt);
    if (status != VOLT_OK) {
        t->failure_agreed = 1;
        return status;
    }
    status = read_state(t, m, f, ckpt);
    volt_ckpt_close(ckpt);
    if (t->world) status = volt_comm_agree(t->world, status);
    if (status != VOLT_OK) {
        t->failure_agreed = 1;
        return VOLT_ERROR(status, "cannot resume from %s", path);
    }
    VOLT_INFO("resumed from %s: epoch %ld, batch %ld, step %ld", path, t->epochs_done,
              t->resume_batch, t->global_step);
    return VOLT_OK;
}

/* ---- "last", "best", "auto" -------------------------------------------------------------- */

/* <parent>/version_<n>/checkpoints/last.h5 with the largest n that exists, or NULL. */
static char *newest_last(const char *parent) {
    DIR *dir = opendir(parent);
    if (!dir) return NULL;
    long best = -1;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(dir)) != NULL) {
        char *end;
        if (strncmp(e->d_name, "version_", 8) != 0) continue;
        long n = strtol(e->d_name + 8, &end, 10);
        if (*end != '\0' || n <= best) continue;
        int length = snprintf(path, sizeof path, "%s/%s/checkpoints/last.h5", parent, e->d_name);
        if (length > 0 && (size_t)length < sizeof path && access(path, F_OK) == 0) best = n;
    }
    closedir(dir);
    if (best < 0) return NULL;
    int length = snprintf(path, sizeof path, "%s/version_%ld/checkpoints/last.h5", parent, best);
    return length > 0 && (size_t)length < sizeof path ? strdup(path) : NULL;
}

int trainer_resolve_ckpt_path(volt_trainer *t, const char *module_name, const char *text,
                              char **out) {
    *out = NULL;
    int is_last = strcmp(text, "last") == 0, is_best = strcmp(text, "best") == 0,
        is_auto = strcmp(text, "auto") == 0;
    if (!is_last && !is_best && !is_auto) {
        *out = strdup(text);
        VOLT_CHECK_ALLOC(*out, strlen(text) + 1);
        return VOLT_OK;
    }
    char *last = NULL;
    const char *dirpath = trainer_checkpoint_dirpath(t);
    if (dirpath) {
        char path[4096];
        snprintf(path, sizeof path, "%s/last.h5", dirpath);
        if (access(path, F_OK) == 0) last = strdup(path);
    } else {
        const char *name = t->options.name[0] ? t->options.name : module_name;
        char parent[4096];
        snprintf(parent, sizeof parent, "%s/%s", t->options.default_root_dir, name);
        last = newest_last(parent);
    }
    if (!last) {
        if (is_auto) return VOLT_OK; /* a fresh start */
        return VOLT_ERROR(VOLT_ERR_CONFIG, "ckpt_path=%s: no last.h5 in %s%s (is save_last on?)",
                          text, dirpath ? dirpath : t->options.default_root_dir,
                          dirpath ? "" : "/<name>/version_*/checkpoints");
    }
    if (!is_best) {
        *out = last;
        return VOLT_OK;
    }
    volt_ckpt *ckpt;
    int status = volt_ckpt_open(NULL, last, &ckpt);
    char *best = NULL;
    if (status == VOLT_OK) {
        if (volt_ckpt_has(ckpt, "meta/callbacks/ModelCheckpoint", "best_model_path"))
            status = volt_ckpt_get_string(ckpt, "meta/callbacks/ModelCheckpoint", "best_model_path",
                                          &best);
        volt_ckpt_close(ckpt);
    }
    if (status == VOLT_OK && (!best || !*best))
        status = VOLT_ERROR(VOLT_ERR_CONFIG,
                            "ckpt_path=best: %s records no best checkpoint (set a monitor on "
                            "ModelCheckpoint)",
                            last);
    free(last);
    if (status != VOLT_OK) {
        free(best);
        return status;
    }
    *out = best;
    return VOLT_OK;
}

int trainer_find_checkpoint(volt_trainer *t, const char *module_name, const char *text,
                            char **out) {
    *out = NULL;
    int status = t->rank == 0 ? trainer_resolve_ckpt_path(t, module_name, text, out) : VOLT_OK;
    if (!t->world || volt_comm_size(t->world) == 1) return status;
    status = volt_comm_agree(t->world, status);
    if (status != VOLT_OK) {
        t->failure_agreed = 1;
        return status;
    }
    int32_t words[1024] = {0}; /* the path, sent as 4096 bytes ("" for none) */
    char *path = (char *)words;
    if (t->rank == 0 && *out) snprintf(path, sizeof words, "%s", *out);
    VOLT_CHECK(volt_comm_broadcast(t->world, words, 1024, VOLT_I32, 0, NULL));
    path[sizeof words - 1] = '\0';
    if (t->rank > 0 && path[0]) {
        *out = strdup(path);
        VOLT_CHECK_ALLOC(*out, strlen(path) + 1);
    }
    return VOLT_OK;
}

int volt_trainer_load_weights(volt_trainer *t, volt_module *m, const char *ckpt_path) {
    VOLT_CHECK_ARG(t && m && ckpt_path && *ckpt_path);
    const char *name = volt_module_ops_of(m)->name ? volt_module_ops_of(m)->name : "model";
    char *path = NULL;
    VOLT_CHECK(trainer_find_checkpoint(t, name, ckpt_path, &path));
    if (!path) { /* "auto" with nothing saved: the fresh model */
        VOLT_INFO("ckpt_path=auto: no checkpoint found, using the freshly initialised model");
        return VOLT_OK;
    }
    volt_ckpt *ckpt;
    int status = volt_ckpt_open(t->world, path, &ckpt);
    if (status == VOLT_OK) {
        status = volt_ckpt_read_model(ckpt, volt_module_params(m), t->options.strict_loading);
        volt_ckpt_close(ckpt);
        if (t->world) status = volt_comm_agree(t->world, status);
    }
    if (status != VOLT_OK) {
        t->failure_agreed = 1;
        status = VOLT_ERROR(status, "cannot load the model's weights from %s", path);
    } else {
        VOLT_INFO("loaded the model's weights from %s", path);
    }
    free(path);
    return status;
}

/* ---- preemption --------------------------------------------------------------------------- */

static volatile sig_atomic_t pending_signal;
static struct sigaction previous_usr1, previous_term;
static int signals_installed;

static void note_signal(int signal_number) { pending_signal = signal_number; }

void trainer_signals_install(volt_trainer *t) {
    pending_signal = 0;
    if (!t->options.checkpoint_on_signal || signals_installed) return;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = note_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &action, &previous_usr1);
    sigaction(SIGTERM, &action, &previous_term);
    signals_installed = 1;
}

void trainer_signals_restore(volt_trainer *t) {
    (void)t;
    if (!signals_installed) return;
    sigaction(SIGUSR1, &previous_usr1, NULL);
    sigaction(SIGTERM, &previous_term, NULL);
    signals_installed = 0;
}

int trainer_pending_signal(void) { return pending_signal; }

/* The folder of hpc_ckpt files: ModelCheckpoint's dirpath, else <run folder>/checkpoints. */
static int preemption_folder(volt_trainer *t, char *dir, size_t size) {
    const char *dirpath = trainer_checkpoint_dirpath(t);
    const char *log_dir = volt_trainer_log_dir(t);
    int n = dirpath ? snprintf(dir, size, "%s", dirpath)
                    : snprintf(dir, size, "%s/checkpoints", log_dir ? log_dir : ".");
    if (n < 0 || (size_t)n >= size)
        return VOLT_ERROR(VOLT_ERR_IO,
                          "the checkpoint folder %s%s is too long a path (%zu "
                          "bytes at most)",
                          dirpath   ? dirpath
                          : log_dir ? log_dir
                                    : ".",
                          dirpath ? "" : "/checkpoints", size - 1);
    return volt_make_folders(dir);
}

/* Rank 0: <dir>/hpc_ckpt_<n>.h5 with n one more than the largest there. */
static void next_preemption_path(const char *dir, char *path, size_t size) {
    long largest = 0;
    DIR *listing = opendir(dir);
    struct dirent *e;
    while (listing && (e = readdir(listing)) != NULL) {
        char *end;
        if (strncmp(e->d_name, "hpc_ckpt_", 9) != 0) continue;
        long n = strtol(e->d_name + 9, &end, 10);
        if (strcmp(end, ".h5") == 0 && n > largest) largest = n;
    }
    if (listing) closedir(listing);
    snprintf(path, size, "%s/hpc_ckpt_%ld.h5", dir, largest + 1);
}

int trainer_save_preemption_checkpoint(volt_trainer *t) {
    int32_t words[1024] = {0}; /* the path, chosen by rank 0, sent as 4096 bytes */
    char *path = (char *)words;
    char dir[3800] = "";
    int status = VOLT_OK;
    if (t->rank == 0) {
        status = preemption_folder(t, dir, sizeof dir);
        if (status == VOLT_OK) next_preemption_path(dir, path, sizeof words);
    }
    if (t->world && volt_comm_size(t->world) > 1) {
        status = volt_comm_agree(t->world, status);
        if (status == VOLT_OK)
            status = volt_comm_broadcast(t->world, words, 1024, VOLT_I32, 0, NULL);
    }
    if (status != VOLT_OK) {
        t->failure_agreed = 1;
        return status;
    }
    path[sizeof words - 1] = '\0';
    VOLT_CHECK(volt_trainer_save_checkpoint(t, path, 0));
    /* last.h5 names the newest state, so that --ckpt_path=last (or auto) resumes here */
    if (t->rank == 0) {
        char last[4096], temp[4096];
        snprintf(last, sizeof last, "%s/last.h5", dir);
        snprintf(temp, sizeof temp, "%s/.last.h5.link", dir);
        unlink(temp);
        if (link(path, temp) != 0 || rename(temp, last) != 0)
            status = VOLT_ERROR(VOLT_ERR_IO, "cannot make %s a link to %s: %s", last, path,
                                strerror(errno));
        int fd = open(dir, O_RDONLY | O_DIRECTORY);
        if (fd >= 0) {
            fsync(fd);
            close(fd);
        }
    }
    if (t->world && volt_comm_size(t->world) > 1) status = volt_comm_agree(t->world, status);
    if (status != VOLT_OK) {
        t->failure_agreed = 1;
        return status;
    }
    char reason[4300];
    snprintf(reason, sizeof reason,
             "%s received: saved %s at step %ld; requeue the job and resume with "
             "--ckpt_path=last",
             t->preempt_signal == SIGTERM   ? "SIGTERM"
             : t->preempt_signal == SIGUSR1 ? "SIGUSR1"
                                            : "a signal",
             path, t->global_step);
    free(t->stop_reason);
    t->stop_reason = strdup(reason);
    t->preempt_saved = 1;
    return VOLT_OK;
}

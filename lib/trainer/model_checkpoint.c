/* lib/trainer/model_checkpoint.c — the ModelCheckpoint callback (Lightning's options).
 *
 * When: every_n_train_steps optimizer steps (at the batch's end, or after the validation
 * that follows that batch, so that a monitored validation metric is this step's), every
 * train_time_interval seconds (rank 0's clock, told to every rank), or else every
 * every_n_epochs epochs (at the epoch's end, after its validation). Never twice at one
 * step. Every rank takes the same decisions: steps and epochs are the same everywhere and
 * monitored metrics are reduced over the ranks before callbacks see them.
 *
 * What is kept: with a monitor, the save_top_k best files by it (a new file is written
 * only when it enters the top k; the one it pushes out is deleted after the new one is in
 * place); without one, the latest (save_top_k 1) or all (-1). save_last keeps last.h5 with
 * the latest state: a hard link to the file just written, or a file of its own when the
 * state did not enter the top k. Files are written atomically (volt_ckpt_commit); rank 0
 * deletes and links. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/fs.h"
#include "core/log.h"
#include "trainer/trainer_internal.h"

enum { MAX_KEPT = 64 };

typedef struct kept_file {
    double score;
    char *path;
} kept_file;

typedef struct model_checkpoint {
    int index;
    char *dirpath_option; /* NULL: <run folder>/checkpoints */
    char *filename;
    char *monitor; /* NULL: none */
    int mode_max;
    long save_top_k;
    int save_last;
    long every_n_train_steps, every_n_epochs;
    double train_time_interval;
    int save_weights_only;
    /* state */
    char *dirpath;
    kept_file kept[MAX_KEPT];
    int kept_count;
    long last_saved_step;
    double last_save_time;
    int pending; /* a save due at a batch that a validation follows: made after it */
} model_checkpoint;

static char *dup_or_null(const char *text) { return text ? strdup(text) : NULL; }

static int read_options(model_checkpoint *s, const volt_config *c, int index) {
    char key[64];
    VOLT_CHECK(callbacks_check_own_options(
        c, index, "ModelCheckpoint",
        "dirpath filename monitor mode save_top_k save_last every_n_train_steps "
        "every_n_epochs train_time_interval save_weights_only"));
    const char *text = NULL;
#define GET(kind, option, out)                                                                     \
    do {                                                                                           \
        callbacks_option_key(key, sizeof key, index, option);                                      \
        VOLT_CHECK(volt_config_get_##kind(c, key, out));                                           \
    } while (0)
    callbacks_option_key(key, sizeof key, index, "dirpath");
    if (volt_config_is_set(c, key)) {
        VOLT_CHECK(volt_config_get_string(c, key, &text));
        s->dirpath_option = dup_or_null(text);
    }
    GET(string, "filename", &text);
    s->filename = dup_or_null(text);
    callbacks_option_key(key, sizeof key, index, "monitor");
    if (volt_config_is_set(c, key)) {
        VOLT_CHECK(volt_config_get_string(c, key, &text));
        s->monitor = dup_or_null(text);
    }
    GET(string, "mode", &text);
    if (strcmp(text, "min") != 0 && strcmp(text, "max") != 0) {
        callbacks_option_key(key, sizeof key, index, "mode");
        return VOLT_ERROR(VOLT_ERR_CONFIG, "%s = '%s': expected min or max", key, text);
    }
    s->mode_max = strcmp(text, "max") == 0;
    GET(int, "save_top_k", &s->save_top_k);
    GET(bool, "save_last", &s->save_last);
    GET(int, "every_n_train_steps", &s->every_n_train_steps);
    GET(int, "every_n_epochs", &s->every_n_epochs);
    GET(float, "train_time_interval", &s->train_time_interval);
    GET(bool, "save_weights_only", &s->save_weights_only);
#undef GET
    return VOLT_OK;
}

static int model_checkpoint_setup(volt_callback *cb, const volt_config *config, int index,
                                  const void *options) {
    (void)options;
    model_checkpoint *s = volt_callback_state(cb);
    s->index = index;
    s->mode_max = 0;
    s->save_top_k = 1;
    s->save_last = 1;
    s->every_n_epochs = 1;
    if (index >= 0) {
        VOLT_CHECK(read_options(s, config, index));
    } else {
        s->filename = strdup("epoch={epoch}-step={step}");
    }
    if (!s->filename || (s->dirpath_option == NULL && 0))
        return VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory for ModelCheckpoint's options");
    char key[64] = "ModelCheckpoint";
#define NAME(option)                                                                               \
    (index >= 0 ? (callbacks_option_key(key, sizeof key, index, option), key) : option)
    if (s->save_top_k < -1)
        return VOLT_ERROR(VOLT_ERR_CONFIG, "%s = %ld: expected -1 (all), 0 (none) or k > 0",
                          NAME("save_top_k"), s->save_top_k);
    if (s->save_top_k > MAX_KEPT)
        return VOLT_ERROR(VOLT_ERR_CONFIG, "%s = %ld: at most %d (or -1 for all)",
                          NAME("save_top_k"), s->save_top_k, MAX_KEPT);
    if (!s->monitor && s->save_top_k > 1)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "%s = %ld needs a monitor (the k best by which metric?); without one "
                          "use 1 (the latest) or -1 (all)",
                          NAME("save_top_k"), s->save_top_k);
    if (s->every_n_train_steps < 0 || s->every_n_epochs < 0)
        return VOLT_ERROR(VOLT_ERR_CONFIG, "%s and every_n_epochs must be >= 0",
                          NAME("every_n_train_steps"));
    if (!(s->train_time_interval >= 0) || !isfinite(s->train_time_interval))
        return VOLT_ERROR(VOLT_ERR_CONFIG, "%s = %g: expected seconds >= 0",
                          NAME("train_time_interval"), s->train_time_interval);
    int depth = 0, slash = 0; /* a '/' outside {...}: metric names have them */
    for (const char *p = s->filename; *p; p++) {
        depth += *p == '{' ? 1 : *p == '}' ? -1 : 0;
        slash |= *p == '/' && depth == 0;
    }
    if (slash)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "%s = '%s': a file name, without '/' (set dirpath "
                          "for the folder)",
                          NAME("filename"), s->filename);
#undef NAME
    s->last_saved_step = -1;
    return VOLT_OK;
}

static void forget_kept(model_checkpoint *s) {
    for (int i = 0; i < s->kept_count; i++) free(s->kept[i].path);
    s->kept_count = 0;
}

static void model_checkpoint_teardown(volt_callback *cb) {
    model_checkpoint *s = volt_callback_state(cb);
    forget_kept(s);
    free(s->dirpath_option);
    free(s->filename);
    free(s->monitor);
    free(s->dirpath);
}

static int agree_status(volt_trainer *t, int status) {
    if (!t->world || volt_comm_size(t->world) == 1) return status;
    status = volt_comm_agree(t->world, status);
    if (status != VOLT_OK) t->failure_agreed = 1;
    return status;
}

static int model_checkpoint_fit_start(volt_callback *cb, volt_trainer *t, volt_module *m) {
    (void)m;
    model_checkpoint *s = volt_callback_state(cb);
    free(s->dirpath);
    if (s->dirpath_option) {
        s->dirpath = strdup(s->dirpath_option);
    } else {
        const char *log_dir = volt_trainer_log_dir(t);
        size_t n = strlen(log_dir ? log_dir : ".") + 16;
        s->dirpath = malloc(n);
        if (s->dirpath) snprintf(s->dirpath, n, "%s/checkpoints", log_dir ? log_dir : ".");
    }
    VOLT_CHECK_ALLOC(s->dirpath, strlen(s->dirpath_option ? s->dirpath_option : "") + 64);
    forget_kept(s);
    s->last_saved_step = -1;
    s->last_save_time = volt_clock_seconds();
    int status = t->rank == 0 ? volt_make_folders(s->dirpath) : VOLT_OK;
    return agree_status(t, status);
}

/* The file name from the template: {epoch}, {step}, {metric}, {metric:.4f}. */
static int format_name(const model_checkpoint *s, volt_trainer *t, char *out, size_t size) {
    size_t used = 0;
    const char *p = s->filename;
    while (*p && used + 1 < size) {
        if (*p != '{') {
            out[used++] = *p++;
            continue;
        }
        const char *end = strchr(p, '}');
        if (!end)
            return VOLT_ERROR(VOLT_ERR_CONFIG, "ModelCheckpoint filename '%s': '{' without '}'",
                              s->filename);
        char field[128], format[16] = "";
        size_t length = (size_t)(end - p - 1);
        if (length >= sizeof field) length = sizeof field - 1;
        memcpy(field, p + 1, length);
        field[length] = '\0';
        char *colon = strchr(field, ':');
        if (colon) {
            snprintf(format, sizeof format, "%%%s", colon + 1);
            *colon = '\0';
        }
        char value[96];
        double metric;
        if (strcmp(field, "epoch") == 0)
            snprintf(value, sizeof value, "%ld", t->current_epoch);
        else if (strcmp(field, "step") == 0)
            snprintf(value, sizeof value, "%ld", t->global_step);
        else if (volt_metrics_latest(volt_trainer_metrics(t), field, &metric)) {
            if (format[0] && strspn(format + 1, "0123456789.+-# ") < strlen(format) - 2)
                return VOLT_ERROR(VOLT_ERR_CONFIG,
                                  "ModelCheckpoint filename '%s': format '%s' may hold only "
                                  "flags, a width and a precision before its conversion (such "
                                  "as .4f)",
                                  s->filename, colon + 1);
            if (format[0] && strspn(format + 1, "0123456789.+-# ") == strlen(format) - 1)
                return VOLT_ERROR(VOLT_ERR_CONFIG,
                                  "ModelCheckpoint filename '%s': format '%s' has no conversion "
                                  "(such as .4f)",
                                  s->filename, colon + 1);
            const char *conversion = format[0] ? format + strlen(format) - 1 : "g";
            if (format[0] && !strchr("eEfFgG", *conversion))
                return VOLT_ERROR(VOLT_ERR_CONFIG,
                                  "ModelCheckpoint filename '%s': format '%s' is not a floating "
                                  "point format (e, f or g)",
                                  s->filename, colon + 1);
            snprintf(value, sizeof value, format[0] ? format : "%g", metric);
        } else
            return VOLT_ERROR(VOLT_ERR_CONFIG,
                              "ModelCheckpoint filename '%s': {%s} is neither epoch, step nor a "
                              "logged metric",
                              s->filename, field);
        for (char *v = value; *v && used + 1 < size; v++) out[used++] = *v == '/' ? '_' : *v;
        p = end + 1;
    }
    out[used] = '\0';
    return VOLT_OK;
}

static int better(const model_checkpoint *s, double a, double b) {
    if (isnan(a)) return 0;
    if (isnan(b)) return 1;
    return s->mode_max ? a > b : a < b;
}

/* Index of the worst kept file (the latest-saved among equals goes last). */
static int worst_kept(const model_checkpoint *s) {
    int worst = 0;
    for (int i = 1; i < s->kept_count; i++)
        if (!better(s, s->kept[i].score, s->kept[worst].score)) worst = i;
    return worst;
}

/* Rank 0: dir/last.h5 becomes a hard link to path (through a temporary name, so that
 * last.h5 is always a whole file). */
static int link_last(const char *dir, const char *path) {
    char last[4200], temp[4200];
    snprintf(last, sizeof last, "%s/last.h5", dir);
    snprintf(temp, sizeof temp, "%s/.last.h5.link", dir);
    unlink(temp);
    if (link(path, temp) != 0)
        return VOLT_ERROR(VOLT_ERR_IO, "cannot link %s as %s: %s", path, temp, strerror(errno));
    if (rename(temp, last) != 0)
        return VOLT_ERROR(VOLT_ERR_IO, "cannot rename %s to %s: %s", temp, last, strerror(errno));
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    return VOLT_OK;
}

static int save_now(model_checkpoint *s, volt_trainer *t) {
    if (t->global_step == s->last_saved_step) return VOLT_OK;
    s->last_saved_step = t->global_step;
    s->last_save_time = volt_clock_seconds();
    /* the score and the file name are rank 0's, told to every rank: a step metric is a
     * rank's own value between the steps whose values are averaged, and every rank must
     * take the same decision (or some would wait in a write the others never start) */
    struct {
        double score;
        char name[1016];
    } decision = {NAN, ""};
    int status = VOLT_OK;
    if (t->rank == 0) {
        if (s->monitor &&
            !volt_metrics_latest(volt_trainer_metrics(t), s->monitor, &decision.score)) {
            char key[64] = "ModelCheckpoint's monitor";
            if (s->index >= 0) callbacks_option_key(key, sizeof key, s->index, "monitor");
            status =
                VOLT_ERROR(VOLT_ERR_CONFIG, "%s = '%s' has not been logged by step %ld (epoch %ld)",
                           key, s->monitor, t->global_step, t->current_epoch);
        } else {
            status = format_name(s, t, decision.name, sizeof decision.name);
        }
    }
    if (t->world && volt_comm_size(t->world) > 1) {
        VOLT_CHECK(agree_status(t, status));
        VOLT_CHECK(
            volt_comm_broadcast(t->world, &decision, sizeof decision / 4, VOLT_I32, 0, NULL));
    }
    VOLT_CHECK(status);
    double score = decision.score;
    char path[4200];
    int length = snprintf(path, sizeof path, "%s/%s.h5", s->dirpath, decision.name);
    if (length < 0 || (size_t)length >= sizeof path)
        return VOLT_ERROR(VOLT_ERR_CONFIG, "ModelCheckpoint: the path %s/%s.h5 is too long",
                          s->dirpath, decision.name);
    /* does it enter the kept set, and which file leaves it? */
    int keep = 0, evict = -1;
    if (s->save_top_k == -1) {
        keep = 1;
    } else if (s->save_top_k > 0) {
        if (!s->monitor) { /* the latest */
            keep = 1;
            if (s->kept_count > 0) evict = 0;
        } else if (s->kept_count < s->save_top_k) {
            keep = 1;
        } else {
            int worst = worst_kept(s);
            if (better(s, score, s->kept[worst].score)) {
                keep = 1;
                evict = worst;
            }
        }
    }
    char *evicted = NULL;
    if (keep) {
        for (int i = 0; i < s->kept_count; i++) /* the same name again: overwritten */
            if (strcmp(s->kept[i].path, path) == 0) {
                free(s->kept[i].path);
                s->kept[i] = s->kept[--s->kept_count];
                if (evict == s->kept_count) evict = i;
                break;
            }
        if (evict >= 0 && evict < s->kept_count) {
            evicted = s->kept[evict].path;
            s->kept[evict] = s->kept[--s->kept_count];
        }
        if (s->kept_count == MAX_KEPT) { /* -1 keeps every file; the list records the newest */
            free(s->kept[0].path);
            memmove(s->kept, s->kept + 1, (MAX_KEPT - 1) * sizeof s->kept[0]);
            s->kept_count--;
        }
        s->kept[s->kept_count].path = strdup(path);
        s->kept[s->kept_count].score = score;
        if (!s->kept[s->kept_count].path) {
            free(evicted);
            return VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory for a checkpoint path");
        }
        s->kept_count++;
        /* the state saved with the file already lists it */
        status = volt_trainer_save_checkpoint(t, path, s->save_weights_only);
        if (status != VOLT_OK) {
            free(evicted);
            return status;
        }
        VOLT_INFO("checkpoint %s (step %ld%s%s%s)", path, t->global_step, s->monitor ? ", " : "",
                  s->monitor ? s->monitor : "", s->monitor ? " recorded" : "");
    }
    /* only files of this folder: a resumed run's list also names its predecessor's */
    size_t dir_length = strlen(s->dirpath);
    int ours =
        evicted && strncmp(evicted, s->dirpath, dir_length) == 0 && evicted[dir_length] == '/';
    if (t->rank == 0 && ours && strcmp(evicted, path) != 0 && unlink(evicted) != 0 &&
        errno != ENOENT)
        VOLT_WARN("ModelCheckpoint: cannot delete %s: %s", evicted, strerror(errno));
    free(evicted);
    if (s->save_last) {
        if (keep) {
            status = t->rank == 0 ? link_last(s->dirpath, path) : VOLT_OK;
            status = agree_status(t, status);
        } else {
            char last[4200];
            snprintf(last, sizeof last, "%s/last.h5", s->dirpath);
            status = volt_trainer_save_checkpoint(t, last, s->save_weights_only);
        }
    }
    return status;
}

static int model_checkpoint_batch_end(volt_callback *cb, volt_trainer *t, volt_module *m,
                                      long batch_idx) {
    (void)m;
    (void)batch_idx;
    model_checkpoint *s = volt_callback_state(cb);
    if (!t->fitting) return VOLT_OK;
    s->pending = 0;
    int due = s->every_n_train_steps > 0 && t->global_step > 0 &&
              t->global_step % s->every_n_train_steps == 0;
    if (!due && s->train_time_interval > 0) {
        int32_t elapsed =
            t->rank == 0 && volt_clock_seconds() - s->last_save_time >= s->train_time_interval;
        if (t->world && volt_comm_size(t->world) > 1)
            VOLT_CHECK(volt_comm_broadcast(t->world, &elapsed, 1, VOLT_I32, 0, NULL));
        due = elapsed != 0;
    }
    if (!due) return VOLT_OK;
    if (trainer_validates_after_batch(t, batch_idx)) { /* rank by this step's metrics */
        s->pending = 1;
        return VOLT_OK;
    }
    return save_now(s, t);
}

static int model_checkpoint_validation_end(volt_callback *cb, volt_trainer *t, volt_module *m) {
    (void)m;
    model_checkpoint *s = volt_callback_state(cb);
    if (!s->pending || !t->fitting || t->stage != TRAINER_VALIDATING) return VOLT_OK;
    s->pending = 0;
    return save_now(s, t);
}

static int model_checkpoint_epoch_end(volt_callback *cb, volt_trainer *t, volt_module *m) {
    (void)m;
    model_checkpoint *s = volt_callback_state(cb);
    if (s->every_n_train_steps > 0 || s->train_time_interval > 0 || s->every_n_epochs == 0)
        return VOLT_OK;
    if ((t->current_epoch + 1) % s->every_n_epochs != 0) return VOLT_OK;
    return save_now(s, t);
}

static int model_checkpoint_state_save(volt_callback *cb, volt_trainer *t, volt_ckpt *ckpt,
                                       const char *group) {
    (void)t;
    model_checkpoint *s = volt_callback_state(cb);
    int best = -1;
    for (int i = 0; i < s->kept_count; i++)
        if (best < 0 || (s->monitor && better(s, s->kept[i].score, s->kept[best].score))) best = i;
    if (!s->monitor && s->kept_count > 0) best = s->kept_count - 1; /* the latest */
    /* one "score<TAB>path" line per kept file */
    size_t size = 1;
    for (int i = 0; i < s->kept_count; i++) size += strlen(s->kept[i].path) + 40;
    char *list = calloc(size, 1);
    VOLT_CHECK_ALLOC(list, size);
    for (int i = 0; i < s->kept_count; i++)
        snprintf(list + strlen(list), size - strlen(list), "%.17g\t%s\n", s->kept[i].score,
                 s->kept[i].path);
    int status = volt_ckpt_put_string(ckpt, group, "kept", list);
    free(list);
    VOLT_CHECK(status);
    VOLT_CHECK(
        volt_ckpt_put_string(ckpt, group, "best_model_path", best >= 0 ? s->kept[best].path : ""));
    VOLT_CHECK(volt_ckpt_put_double(ckpt, group, "best_model_score",
                                    best >= 0 ? s->kept[best].score : NAN));
    VOLT_CHECK(volt_ckpt_put_string(ckpt, group, "monitor", s->monitor ? s->monitor : ""));
    return VOLT_OK;
}

static int model_checkpoint_state_load(volt_callback *cb, volt_trainer *t, volt_ckpt *ckpt,
                                       const char *group) {
    model_checkpoint *s = volt_callback_state(cb);
    char *monitor = NULL;
    VOLT_CHECK(volt_ckpt_get_string(ckpt, group, "monitor", &monitor));
    int same = strcmp(monitor, s->monitor ? s->monitor : "") == 0;
    free(monitor);
    s->last_saved_step = t->global_step; /* the state it resumes from is saved already */
    if (!same) return VOLT_OK; /* ranked by another metric: its scores mean nothing here */
    char *list = NULL;
    VOLT_CHECK(volt_ckpt_get_string(ckpt, group, "kept", &list));
    forget_kept(s);
    char *line = list;
    while (line && *line && s->kept_count < MAX_KEPT) {
        char *next = strchr(line, '\n');
        if (next) *next++ = '\0';
        char *tab = strchr(line, '\t');
        if (tab) {
            *tab = '\0';
            s->kept[s->kept_count].score = strtod(line, NULL);
            s->kept[s->kept_count].path = strdup(tab + 1);
            if (s->kept[s->kept_count].path) s->kept_count++;
        }
        line = next;
    }
    free(list);
    return VOLT_OK;
}

const volt_callback_ops volt_model_checkpoint_ops = {
    .name = "ModelCheckpoint",
    .state_size = sizeof(model_checkpoint),
    .setup = model_checkpoint_setup,
    .on_fit_start = model_checkpoint_fit_start,
    .on_train_batch_end = model_checkpoint_batch_end,
    .on_train_epoch_end = model_checkpoint_epoch_end,
    .on_validation_epoch_end = model_checkpoint_validation_end,
    .teardown = model_checkpoint_teardown,
    .state_save = model_checkpoint_state_save,
    .state_load = model_checkpoint_state_load,
};

const char *trainer_checkpoint_dirpath(const volt_trainer *t) {
    for (int i = 0; i < t->callback_count; i++)
        if (t->callbacks[i]->ops == &volt_model_checkpoint_ops) {
            const model_checkpoint *s = t->callbacks[i]->state;
            return s->dirpath_option;
        }
    return NULL;
}

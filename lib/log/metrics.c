/* lib/log/metrics.c — the metric store behind metrics.h.
 *
 * Two small malloc'd tables, searched linearly (a module logs a few dozen names):
 *   entries: one per logged name, with its flags for the current epoch, the pending STEP
 *            value and the EPOCH accumulator (weighted sum and weight sum in double, plain
 *            sum, min, max);
 *   slots:   one per produced name ("loss", "loss_step", "loss_epoch"), with its latest
 *            value. Slots are never removed, so the names handed out stay put.
 * Every allocation happens in volt_metrics_log, which returns a status: it creates the
 * entry and the slots its flags will produce, and grows the output buffers to one place
 * per slot. The take functions then only move values, sort and hand out, and cannot fail.
 *
 * An entry's flags are fixed from its first log until a take_epoch whose prefix matches
 * its name (that is the end of its epoch); logging it with other flags before that is an
 * error, after that the new flags replace the old ones. */
#include "log/metrics.h"

#include <stdint.h>
#include <stdio.h>

#include "comm/comm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum {
    FLAG_REDUCTIONS = VOLT_LOG_SUM | VOLT_LOG_MIN | VOLT_LOG_MAX,
    FLAG_ALL = VOLT_LOG_STEP | VOLT_LOG_EPOCH | VOLT_LOG_PROG_BAR | FLAG_REDUCTIONS,
};

typedef struct metric_slot {
    char *name; /* produced name */
    double value;
    int produced; /* 0 until a take function first produced it */
    int prog_bar; /* the metric that last produced it had VOLT_LOG_PROG_BAR */
} metric_slot;

typedef struct metric_entry {
    char *name;                /* as logged */
    int flags;                 /* normalised: STEP or EPOCH (or both) always set */
    int locked;                /* logged since the last take_epoch covering it: flags are fixed */
    int step_slot, epoch_slot; /* produced names under the current flags; -1: none */
    /* the value of the step, with where it goes, kept at log time */
    int step_pending, pending_slot, pending_prog_bar;
    double step_value;
    /* the epoch's accumulator */
    long epoch_count;
    double weighted_sum, weight_sum, sum, min, max;
} metric_entry;

struct volt_metrics {
    metric_entry *entries;
    int entry_count, entry_capacity;
    metric_slot *slots;
    int slot_count, slot_capacity;
    /* what the take functions hand out: one place per slot */
    const metric_slot **order;
    const char **out_names;
    double *out_values;
    int out_capacity;
    int replica; /* volt_metrics_set_counted(0): this rank's sums add nothing */
};

/* ---- helpers ----------------------------------------------------------------------- */

static char *copy_with_suffix(const char *text, const char *suffix) {
    size_t text_length = strlen(text), suffix_length = strlen(suffix);
    char *copy = malloc(text_length + suffix_length + 1);
    if (copy) {
        memcpy(copy, text, text_length);
        memcpy(copy + text_length, suffix, suffix_length + 1);
    }
    return copy;
}

/* "STEP|EPOCH|SUM|PROG_BAR" for messages; buffer of 64 bytes. */
static const char *flags_text(int flags, char *buffer) {
    static const struct {
        int flag;
        const char *name;
    } names[] = {{VOLT_LOG_STEP, "STEP"}, {VOLT_LOG_EPOCH, "EPOCH"},
                 {VOLT_LOG_SUM, "SUM"},   {VOLT_LOG_MIN, "MIN"},
                 {VOLT_LOG_MAX, "MAX"},   {VOLT_LOG_PROG_BAR, "PROG_BAR"}};
    buffer[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(flags & names[i].flag)) continue;
        if (buffer[0]) strcat(buffer, "|");
        strcat(buffer, names[i].name);
    }
    if ((flags & VOLT_LOG_EPOCH) && !(flags & FLAG_REDUCTIONS)) strcat(buffer, "|MEAN");
    return buffer;
}

static metric_entry *find_entry(volt_metrics *metrics, const char *name) {
    for (int i = 0; i < metrics->entry_count; i++)
        if (strcmp(metrics->entries[i].name, name) == 0) return &metrics->entries[i];
    return NULL;
}

static int find_slot(const volt_metrics *metrics, const char *name) {
    for (int i = 0; i < metrics->slot_count; i++)
        if (strcmp(metrics->slots[i].name, name) == 0) return i;
    return -1;
}

/* Grows an array to hold at least `needed` elements of `size` bytes. */
static int reserve(void **array, int *capacity, int needed, size_t size) {
    if (needed <= *capacity) return VOLT_OK;
    int new_capacity = *capacity ? *capacity : 16;
    while (new_capacity < needed) new_capacity *= 2;
    void *grown = realloc(*array, (size_t)new_capacity * size);
    VOLT_CHECK_ALLOC(grown, (size_t)new_capacity * size);
    *array = grown;
    *capacity = new_capacity;
    return VOLT_OK;
}

/* Room for one more entry, two more slots and an output place per slot. */
static int reserve_all(volt_metrics *metrics) {
    VOLT_CHECK(reserve((void **)&metrics->entries, &metrics->entry_capacity,
                       metrics->entry_count + 1, sizeof *metrics->entries));
    VOLT_CHECK(reserve((void **)&metrics->slots, &metrics->slot_capacity, metrics->slot_count + 2,
                       sizeof *metrics->slots));
    int needed = metrics->slot_count + 2;
    if (needed > metrics->out_capacity) {
        int capacity = metrics->slot_capacity;
        const metric_slot **order = realloc(metrics->order, (size_t)capacity * sizeof *order);
        if (order) metrics->order = order;
        const char **names = realloc(metrics->out_names, (size_t)capacity * sizeof *names);
        if (names) metrics->out_names = names;
        double *values = realloc(metrics->out_values, (size_t)capacity * sizeof *values);
        if (values) metrics->out_values = values;
        if (!order || !names || !values)
            return VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory growing metric output to %d names",
                              capacity);
        metrics->out_capacity = capacity;
    }
    return VOLT_OK;
}

/* The slot for a produced name, added if new (room reserved by reserve_all). */
static int slot_for(volt_metrics *metrics, const char *name, const char *suffix, int *slot) {
    char *produced = copy_with_suffix(name, suffix);
    VOLT_CHECK_ALLOC(produced, strlen(name) + strlen(suffix) + 1);
    *slot = find_slot(metrics, produced);
    if (*slot >= 0) {
        free(produced);
        return VOLT_OK;
    }
    *slot = metrics->slot_count++;
    metrics->slots[*slot] = (metric_slot){.name = produced};
    return VOLT_OK;
}

/* Another metric of this epoch that produces the same name (a "loss" logged with STEP and
 * EPOCH next to a "loss_step"), or NULL. */
static const metric_entry *slot_claimed(const volt_metrics *metrics, const metric_entry *entry,
                                        int slot) {
    for (int i = 0; i < metrics->entry_count; i++) {
        const metric_entry *other = &metrics->entries[i];
        if (other == entry || !other->locked) continue;
        if (other->step_slot == slot || other->epoch_slot == slot) return other;
    }
    return NULL;
}

/* Sorted by name into the output buffers. */
static int compare_slots(const void *a, const void *b) {
    const metric_slot *slot_a = *(const metric_slot *const *)a;
    const metric_slot *slot_b = *(const metric_slot *const *)b;
    return strcmp(slot_a->name, slot_b->name);
}

static volt_metric_values hand_out(volt_metrics *metrics, int count) {
    if (count == 0) return (volt_metric_values){0, metrics->out_names, metrics->out_values};
    qsort(metrics->order, (size_t)count, sizeof *metrics->order, compare_slots);
    for (int i = 0; i < count; i++) {
        metrics->out_names[i] = metrics->order[i]->name;
        metrics->out_values[i] = metrics->order[i]->value;
    }
    return (volt_metric_values){count, metrics->out_names, metrics->out_values};
}

static const volt_metric_values no_values = {0, NULL, NULL};

/* ---- the store --------------------------------------------------------------------- */

int volt_metrics_create(volt_metrics **out) {
    VOLT_CHECK_ARG(out);
    *out = calloc(1, sizeof **out);
    VOLT_CHECK_ALLOC(*out, sizeof **out);
    return VOLT_OK;
}

void volt_metrics_destroy(volt_metrics *metrics) {
    if (!metrics) return;
    for (int i = 0; i < metrics->entry_count; i++) free(metrics->entries[i].name);
    for (int i = 0; i < metrics->slot_count; i++) free(metrics->slots[i].name);
    free(metrics->entries);
    free(metrics->slots);
    free(metrics->order);
    free(metrics->out_names);
    free(metrics->out_values);
    free(metrics);
}

int volt_metrics_log(volt_metrics *metrics, const char *name, double value, double weight,
                     int flags) {
    VOLT_CHECK_ARG(metrics);
    if (!name || !name[0]) return VOLT_ERROR(VOLT_ERR_ARG, "metric name is empty");
    if (flags & ~FLAG_ALL)
        return VOLT_ERROR(VOLT_ERR_ARG, "metric '%s': unknown flags 0x%x", name,
                          (unsigned)(flags & ~FLAG_ALL));
    int reduction = flags & FLAG_REDUCTIONS;
    char text[64], other_text[64];
    if (reduction & (reduction - 1))
        return VOLT_ERROR(VOLT_ERR_ARG, "metric '%s': two reductions (%s); give at most one", name,
                          flags_text(flags, text));
    if (!isfinite(weight) || weight <= 0)
        return VOLT_ERROR(VOLT_ERR_ARG, "metric '%s': weight %g must be finite and > 0", name,
                          weight);
    if (!(flags & (VOLT_LOG_STEP | VOLT_LOG_EPOCH))) flags |= VOLT_LOG_STEP;

    metric_entry *entry = find_entry(metrics, name);
    if (entry && entry->locked && entry->flags != flags)
        return VOLT_ERROR(VOLT_ERR_ARG,
                          "metric '%s' logged with flags %s, but earlier in this epoch with %s",
                          name, flags_text(flags, text), flags_text(entry->flags, other_text));
    if (!entry || !entry->locked) {
        /* (new) flags: find or add the names they produce, before changing anything */
        VOLT_CHECK(reserve_all(metrics));
        int both = (flags & VOLT_LOG_STEP) && (flags & VOLT_LOG_EPOCH);
        int step_slot = -1, epoch_slot = -1;
        if (flags & VOLT_LOG_STEP)
            VOLT_CHECK(slot_for(metrics, name, both ? "_step" : "", &step_slot));
        if (flags & VOLT_LOG_EPOCH)
            VOLT_CHECK(slot_for(metrics, name, both ? "_epoch" : "", &epoch_slot));
        const int produced[2] = {step_slot, epoch_slot};
        for (int i = 0; i < 2; i++) {
            const metric_entry *other =
                produced[i] < 0 ? NULL : slot_claimed(metrics, entry, produced[i]);
            if (other)
                return VOLT_ERROR(VOLT_ERR_ARG,
                                  "metric '%s' (%s) would produce '%s', which metric '%s' (%s) "
                                  "already produces in this epoch",
                                  name, flags_text(flags, text), metrics->slots[produced[i]].name,
                                  other->name, flags_text(other->flags, other_text));
        }
        if (!entry) {
            char *copy = copy_with_suffix(name, "");
            VOLT_CHECK_ALLOC(copy, strlen(name) + 1);
            entry = &metrics->entries[metrics->entry_count++];
            *entry = (metric_entry){.name = copy};
        }
        entry->flags = flags;
        entry->step_slot = step_slot;
        entry->epoch_slot = epoch_slot;
        entry->locked = 1;
    }

    if (flags & VOLT_LOG_STEP) {
        entry->step_pending = 1;
        entry->step_value = value;
        entry->pending_slot = entry->step_slot;
        entry->pending_prog_bar = (flags & VOLT_LOG_PROG_BAR) != 0;
    }
    if (flags & VOLT_LOG_EPOCH) {
        if (entry->epoch_count == 0) {
            entry->weighted_sum = entry->weight_sum = entry->sum = 0;
            entry->min = entry->max = value;
        }
        entry->epoch_count++;
        entry->weighted_sum += value * weight;
        entry->weight_sum += weight;
        entry->sum += value;
        /* a NaN stays visible rather than losing every comparison */
        if (value < entry->min || isnan(value)) entry->min = value;
        if (value > entry->max || isnan(value)) entry->max = value;
    }
    return VOLT_OK;
}

volt_metric_values volt_metrics_take_step(volt_metrics *metrics) {
    if (!metrics) return no_values;
    int count = 0;
    for (int i = 0; i < metrics->entry_count; i++) {
        metric_entry *entry = &metrics->entries[i];
        if (!entry->step_pending) continue;
        metric_slot *slot = &metrics->slots[entry->pending_slot];
        slot->value = entry->step_value;
        slot->produced = 1;
        slot->prog_bar = entry->pending_prog_bar;
        metrics->order[count++] = slot;
        entry->step_pending = 0;
    }
    return hand_out(metrics, count);
}

volt_metric_values volt_metrics_take_epoch(volt_metrics *metrics, const char *prefix) {
    if (!metrics) return no_values;
    if (!prefix) prefix = "";
    size_t prefix_length = strlen(prefix);
    int count = 0;
    for (int i = 0; i < metrics->entry_count; i++) {
        metric_entry *entry = &metrics->entries[i];
        if (strncmp(entry->name, prefix, prefix_length) != 0) continue;
        if (entry->epoch_count > 0) {
            double value;
            switch (entry->flags & FLAG_REDUCTIONS) {
            case VOLT_LOG_SUM:
                value = entry->sum;
                break;
            case VOLT_LOG_MIN:
                value = entry->min;
                break;
            case VOLT_LOG_MAX:
                value = entry->max;
                break;
            default:
                value = entry->weighted_sum / entry->weight_sum;
                break;
            }
            metric_slot *slot = &metrics->slots[entry->epoch_slot];
            slot->value = value;
            slot->produced = 1;
            slot->prog_bar = (entry->flags & VOLT_LOG_PROG_BAR) != 0;
            metrics->order[count++] = slot;
            entry->epoch_count = 0;
        }
        entry->locked = 0;
    }
    return hand_out(metrics, count);
}

volt_metric_values volt_metrics_prog_bar(volt_metrics *metrics) {
    if (!metrics) return no_values;
    int count = 0;
    for (int i = 0; i < metrics->slot_count; i++)
        if (metrics->slots[i].produced && metrics->slots[i].prog_bar)
            metrics->order[count++] = &metrics->slots[i];
    return hand_out(metrics, count);
}

int volt_metrics_latest(const volt_metrics *metrics, const char *name, double *value) {
    if (!metrics || !name) return 0;
    int slot = find_slot(metrics, name);
    if (slot < 0 || !metrics->slots[slot].produced) return 0;
    if (value) *value = metrics->slots[slot].value;
    return 1;
}

volt_metric_values volt_metrics_all_latest(volt_metrics *metrics) {
    if (!metrics) return no_values;
    int count = 0;
    for (int i = 0; i < metrics->slot_count; i++)
        if (metrics->slots[i].produced) metrics->order[count++] = &metrics->slots[i];
    return hand_out(metrics, count);
}

/* ---- across ranks ------------------------------------------------------------------ */

/* The entries taking part (indices into metrics->entries), sorted by name. */
typedef struct entry_filter_args {
    const char *prefix;
    const char *const *names; /* NULL: any name */
    int name_count;
} entry_filter_args;
typedef int (*entry_filter)(const metric_entry *entry, const entry_filter_args *args);

static int step_filter(const metric_entry *entry, const entry_filter_args *args) {
    (void)args;
    return entry->step_pending;
}

static int epoch_filter(const metric_entry *entry, const entry_filter_args *args) {
    if (entry->epoch_count == 0 || strncmp(entry->name, args->prefix, strlen(args->prefix)) != 0)
        return 0;
    if (!args->names) return 1;
    for (int i = 0; i < args->name_count; i++)
        if (strcmp(args->names[i], entry->name) == 0) return 1;
    return 0;
}

typedef struct named_index {
    const char *name;
    int index;
} named_index;

static int compare_named(const void *a, const void *b) {
    return strcmp(((const named_index *)a)->name, ((const named_index *)b)->name);
}

static int select_entries(volt_metrics *metrics, entry_filter filter, const entry_filter_args *args,
                          int **out, int *count) {
    *count = 0;
    const size_t capacity = (size_t)(metrics->entry_count > 0 ? metrics->entry_count : 1);
    named_index *named = malloc(capacity * sizeof *named);
    *out = malloc(capacity * sizeof **out);
    if (!named || !*out) {
        free(named), free(*out);
        *out = NULL;
        return VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory sorting %d metric names",
                          metrics->entry_count);
    }
    for (int i = 0; i < metrics->entry_count; i++)
        if (filter(&metrics->entries[i], args))
            named[(*count)++] = (named_index){metrics->entries[i].name, i};
    qsort(named, (size_t)*count, sizeof *named, compare_named);
    for (int i = 0; i < *count; i++) (*out)[i] = named[i].index;
    free(named);
    return VOLT_OK;
}

/* Every name separated by '\n', in a malloc'd string. */
static char *join_names(const volt_metrics *metrics, const int *indices, int count) {
    size_t length = 1;
    for (int i = 0; i < count; i++) length += strlen(metrics->entries[indices[i]].name) + 1;
    char *text = malloc(length), *at = text;
    if (!text) return NULL;
    for (int i = 0; i < count; i++) {
        size_t n = strlen(metrics->entries[indices[i]].name);
        memcpy(at, metrics->entries[indices[i]].name, n);
        at[n] = '\n';
        at += n + 1;
    }
    *at = '\0';
    return text;
}

/* Whether `name` is a line of the '\n'-separated list. */
static int list_has(const char *list, const char *name, size_t length) {
    for (const char *at = list; *at;) {
        const char *end = strchr(at, '\n');
        if ((size_t)(end - at) == length && strncmp(at, name, length) == 0) return 1;
        at = end + 1;
    }
    return 0;
}

/* After a mismatch: gathers every rank's names and reports those some ranks lack. */
static int report_mismatch(volt_comm *comm, const char *mine, int taking_part, const char *what) {
    MPI_Comm mpi = volt_comm_mpi(comm);
    const int size = volt_comm_size(comm);
    int length = taking_part ? (int)strlen(mine) : 0;
    int *lengths = malloc((size_t)size * sizeof *lengths);
    int *offsets = malloc((size_t)size * sizeof *offsets);
    if (!lengths || !offsets) {
        free(lengths), free(offsets);
        return VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory comparing metric names");
    }
    volt_comm_watch_begin(comm, "all-gather of metric names");
    int status = MPI_Allgather(&length, 1, MPI_INT, lengths, 1, MPI_INT, mpi);
    volt_comm_watch_end();
    int total = 0;
    for (int r = 0; r < size; r++) {
        offsets[r] = total;
        total += lengths[r];
    }
    char *all = malloc((size_t)total + 1);
    if (status == MPI_SUCCESS && all) {
        volt_comm_watch_begin(comm, "all-gather of metric names");
        status = MPI_Allgatherv(mine, length, MPI_CHAR, all, lengths, offsets, MPI_CHAR, mpi);
        volt_comm_watch_end();
    }
    if (status != MPI_SUCCESS || !all) {
        free(all), free(lengths), free(offsets);
        return VOLT_ERROR(VOLT_ERR_ARG, "the ranks logged different %s metric names", what);
    }
    char message[1024] = "";
    size_t used = 0;
    for (int r = 0; r < size; r++) { /* each name logged somewhere, once */
        for (int at = offsets[r]; at < offsets[r] + lengths[r];) {
            const char *name = all + at;
            size_t name_length =
                (size_t)((const char *)memchr(name, '\n', (size_t)(offsets[r] + lengths[r] - at)) -
                         name);
            int seen_before = 0, missing = 0;
            for (int q = 0; q < size; q++) {
                if (lengths[q] == 0) continue;
                char *list = strndup(all + offsets[q], (size_t)lengths[q]);
                int has = list && list_has(list, name, name_length);
                free(list);
                if (q < r && has) seen_before = 1;
                if (!has) missing = 1;
            }
            if (!seen_before && missing && used + name_length + 40 < sizeof message)
                used += (size_t)snprintf(message + used, sizeof message - used,
                                         "%s'%.*s' (logged on rank %d, not on all)",
                                         used ? ", " : "", (int)name_length, name, r);
            at += (int)name_length + 1;
        }
    }
    free(all), free(lengths), free(offsets);
    return VOLT_ERROR(VOLT_ERR_ARG,
                      "the ranks logged different %s metrics: %s; every rank must log the same "
                      "names",
                      what, message[0] ? message : "(names differ)");
}

/* The name check: all-reduces [count, hash] (max and min over the ranks taking part). */
static int check_names(volt_comm *comm, const volt_metrics *metrics, const int *indices, int count,
                       int taking_part, const char *what) {
    char *joined = join_names(metrics, indices, count);
    VOLT_CHECK_ALLOC(joined, 1);
    uint64_t hash = 1469598103934665603ull; /* FNV-1a */
    for (const char *at = joined; *at; at++) hash = (hash ^ (unsigned char)*at) * 1099511628211ull;
    int64_t signed_hash = (int64_t)(hash >> 1);
    int64_t bounds[4] = {taking_part ? count : INT64_MIN, taking_part ? signed_hash : INT64_MIN,
                         taking_part ? -(int64_t)count : INT64_MIN,
                         taking_part ? -signed_hash : INT64_MIN};
    int status = volt_comm_allreduce(comm, bounds, 4, VOLT_I64, VOLT_REDUCE_MAX, NULL);
    if (status != VOLT_OK) {
        free(joined);
        return VOLT_ERROR(status, "cannot compare the %s metric names across ranks", what);
    }
    int agree = bounds[0] == INT64_MIN || (bounds[0] == -bounds[2] && bounds[1] == -bounds[3]);
    if (!agree) status = report_mismatch(comm, joined, taking_part, what);
    free(joined);
    return status;
}

void volt_metrics_set_counted(volt_metrics *metrics, int counted) {
    if (metrics) metrics->replica = !counted;
}

int volt_metrics_reduce_epoch(volt_metrics *metrics, volt_comm *comm, const char *prefix,
                              const char *const *names, int name_count) {
    VOLT_CHECK_ARG(metrics && comm);
    const entry_filter_args args = {prefix ? prefix : "", names, name_count};
    int *indices, count;
    VOLT_CHECK(select_entries(metrics, epoch_filter, &args, &indices, &count));
    int status = check_names(comm, metrics, indices, count, 1, "epoch");
    double *sums = NULL, *extremes = NULL;
    if (status == VOLT_OK && count > 0) {
        sums = malloc((size_t)count * 4 * sizeof *sums);
        extremes = malloc((size_t)count * 2 * sizeof *extremes);
        if (!sums || !extremes)
            status = VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory reducing metrics");
    }
    if (status == VOLT_OK && count > 0) {
        for (int i = 0; i < count; i++) {
            const metric_entry *entry = &metrics->entries[indices[i]];
            const double counts = metrics->replica ? 0.0 : 1.0;
            sums[4 * i] = counts * entry->weighted_sum;
            sums[4 * i + 1] = counts * entry->weight_sum;
            sums[4 * i + 2] = counts * entry->sum;
            sums[4 * i + 3] = counts * (double)entry->epoch_count;
            extremes[2 * i] = entry->max;
            extremes[2 * i + 1] = -entry->min;
        }
        status =
            volt_comm_allreduce(comm, sums, (size_t)count * 4, VOLT_F64, VOLT_REDUCE_SUM, NULL);
        if (status == VOLT_OK)
            status = volt_comm_allreduce(comm, extremes, (size_t)count * 2, VOLT_F64,
                                         VOLT_REDUCE_MAX, NULL);
        if (status == VOLT_OK)
            for (int i = 0; i < count; i++) {
                metric_entry *entry = &metrics->entries[indices[i]];
                entry->weighted_sum = sums[4 * i];
                entry->weight_sum = sums[4 * i + 1];
                entry->sum = sums[4 * i + 2];
                entry->epoch_count = (long)sums[4 * i + 3];
                entry->max = extremes[2 * i];
                entry->min = -extremes[2 * i + 1];
            }
        else
            status = VOLT_ERROR(status, "cannot reduce the epoch metrics across ranks");
    }
    free(sums);
    free(extremes);
    free(indices);
    return status;
}

int volt_metrics_reduce_step(volt_metrics *metrics, volt_comm *comm, double weight) {
    VOLT_CHECK_ARG(metrics && comm);
    int *indices, count;
    const entry_filter_args args = {"", NULL, 0};
    VOLT_CHECK(select_entries(metrics, step_filter, &args, &indices, &count));
    const int taking_part = weight > 0 || count > 0;
    if (!(weight > 0)) weight = 0;
    int status = check_names(comm, metrics, indices, count, taking_part, "step");
    /* the agreed count: the largest over the ranks (a rank not taking part has none) */
    int agreed = count;
    if (status == VOLT_OK)
        status = volt_comm_allreduce(comm, &agreed, 1, VOLT_I32, VOLT_REDUCE_MAX, NULL);
    double *values = NULL;
    if (status == VOLT_OK && agreed > 0) {
        values = calloc((size_t)agreed + 1, sizeof *values);
        if (!values) status = VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory reducing metrics");
    }
    if (status == VOLT_OK && agreed > 0) {
        for (int i = 0; i < count; i++)
            values[i] = metrics->entries[indices[i]].step_value * weight;
        values[agreed] = taking_part ? weight : 0;
        status =
            volt_comm_allreduce(comm, values, (size_t)agreed + 1, VOLT_F64, VOLT_REDUCE_SUM, NULL);
        if (status == VOLT_OK)
            for (int i = 0; i < count && values[agreed] > 0; i++)
                metrics->entries[indices[i]].step_value = values[i] / values[agreed];
        else
            status = VOLT_ERROR(status, "cannot reduce the step metrics across ranks");
    }
    free(values);
    free(indices);
    return status;
}

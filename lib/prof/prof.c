/* lib/prof/prof.c — the profiler (see prof.h).
 *
 * Regions are a table of (name, parent) rows, found by a linear search among the
 * children of the innermost open region (a handful per parent). The open regions are a
 * stack of (row, start time, children's time, counter values at the start). Trace events
 * go to a growable array, capped at TRACE_CAP events (the cap is reported). */
#include "prof/prof.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "comm/watchdog.h"
#include "core/clock.h"

#ifdef VOLT_HAVE_PAPI
#include <papi.h>
#endif
#ifdef VOLT_HAVE_CUDA
#include <nvtx3/nvToolsExt.h>
#endif

enum { TRACE_CAP = 4000000 };

typedef struct region {
    const char *name;
    int parent, depth;
    long count;
    double seconds, self_seconds, flops, bytes;
    long long counters[VOLT_PROF_MAX_EVENTS];
} region;

typedef struct frame {
    int row;
    double start, children;
    long long counters[VOLT_PROF_MAX_EVENTS];
} frame;

typedef struct trace_event {
    int row;
    double start, seconds;
} trace_event;

struct volt_prof {
    volt_prof_mode mode;
    double origin; /* clock at create: trace times are from here */
    region regions[VOLT_PROF_MAX_REGIONS];
    int region_count;
    int overflowed; /* regions past VOLT_PROF_MAX_REGIONS, charged to their parent */
    frame stack[VOLT_PROF_MAX_DEPTH];
    int depth;
    int skipped;     /* begins past VOLT_PROF_MAX_DEPTH not yet ended */
    long mismatches; /* volt_prof_end with another name than the innermost region's */
    int root_closed;
    /* PAPI */
    int papi_active;
    int event_set;
    int event_count;
    char event_names[VOLT_PROF_MAX_EVENTS][64];
    char papi_status[1400];
    /* trace */
    int trace;
    trace_event *events;
    long event_total, event_capacity, events_dropped;
};

static volt_prof *current;

int volt_prof_mode_parse(const char *text, volt_prof_mode *out) {
    VOLT_CHECK_ARG(text && out);
    if (strcmp(text, "off") == 0)
        *out = VOLT_PROF_OFF;
    else if (strcmp(text, "simple") == 0)
        *out = VOLT_PROF_SIMPLE;
    else if (strcmp(text, "papi") == 0)
        *out = VOLT_PROF_PAPI;
    else
        return VOLT_ERROR(VOLT_ERR_CONFIG, "profiler '%s': expected off, simple or papi", text);
    return VOLT_OK;
}

void volt_prof_set_current(volt_prof *prof) { current = prof; }
volt_prof *volt_prof_current(void) { return current; }

/* ---- PAPI ---------------------------------------------------------------------------------- */

static void read_counters(volt_prof *prof, long long *values) {
#ifdef VOLT_HAVE_PAPI
    if (prof->papi_active && PAPI_read(prof->event_set, values) == PAPI_OK) return;
#else
    (void)prof;
#endif
    memset(values, 0, sizeof(long long) * VOLT_PROF_MAX_EVENTS);
}

#ifdef VOLT_HAVE_PAPI
/* PAPI_library_init may run once per process. */
static int papi_initialised; /* 1 ok, -1 failed */
static int papi_init_code;

static void setup_papi(volt_prof *prof, const char *events) {
    if (!papi_initialised) {
        papi_init_code = PAPI_library_init(PAPI_VER_CURRENT);
        papi_initialised = papi_init_code == PAPI_VER_CURRENT ? 1 : -1;
    }
    if (papi_initialised < 0) {
        snprintf(prof->papi_status, sizeof prof->papi_status,
                 "PAPI could not start (PAPI_library_init: %s): timers only",
                 PAPI_strerror(papi_init_code));
        return;
    }
    const PAPI_component_info_t *cpu = PAPI_get_component_info(0);
    if (!cpu || cpu->disabled || cpu->num_cntrs == 0) {
        snprintf(prof->papi_status, sizeof prof->papi_status,
                 "no hardware counters here (PAPI's CPU component: %s): timers only",
                 cpu && cpu->disabled_reason[0] ? cpu->disabled_reason : "it reports 0 counters");
        return;
    }
    prof->event_set = PAPI_NULL;
    if (PAPI_create_eventset(&prof->event_set) != PAPI_OK) {
        snprintf(prof->papi_status, sizeof prof->papi_status,
                 "PAPI_create_eventset failed: timers only");
        return;
    }
    char list[512];
    snprintf(list, sizeof list, "%s", events);
    char missing[256] = "";
    for (char *save = NULL, *name = strtok_r(list, ", ", &save); name;
         name = strtok_r(NULL, ", ", &save)) {
        if (prof->event_count == VOLT_PROF_MAX_EVENTS) break;
        int code = PAPI_query_named_event(name);
        if (code == PAPI_OK) code = PAPI_add_named_event(prof->event_set, name);
        if (code != PAPI_OK) {
            snprintf(missing + strlen(missing), sizeof missing - strlen(missing), "%s%s (%s)",
                     missing[0] ? ", " : "", name, PAPI_strerror(code));
            continue;
        }
        snprintf(prof->event_names[prof->event_count++], 64, "%s", name);
    }
    if (prof->event_count == 0 || PAPI_start(prof->event_set) != PAPI_OK) {
        snprintf(prof->papi_status, sizeof prof->papi_status,
                 "none of the PAPI events could be counted (%s): timers only",
                 missing[0] ? missing : "PAPI_start failed");
        prof->event_count = 0;
        PAPI_cleanup_eventset(prof->event_set);
        PAPI_destroy_eventset(&prof->event_set);
        return;
    }
    prof->papi_active = 1;
    snprintf(prof->papi_status, sizeof prof->papi_status, "PAPI counters on%s%s",
             missing[0] ? "; left out: " : "", missing);
}
#endif

int volt_prof_papi_active(const volt_prof *prof) { return prof && prof->papi_active; }

const char *volt_prof_papi_status(const volt_prof *prof) {
    return prof ? prof->papi_status : "profiler off";
}

/* ---- life cycle ---------------------------------------------------------------------------- */

int volt_prof_create(const volt_prof_options *options, volt_prof **out) {
    VOLT_CHECK_ARG(options && out);
    *out = NULL;
    if (options->mode == VOLT_PROF_OFF) return VOLT_OK;
    volt_prof *prof = calloc(1, sizeof *prof);
    VOLT_CHECK_ALLOC(prof, sizeof *prof);
    prof->mode = options->mode;
    prof->trace = options->trace;
    snprintf(prof->papi_status, sizeof prof->papi_status, "timers only (profiler: simple)");
    if (options->mode == VOLT_PROF_PAPI) {
#ifdef VOLT_HAVE_PAPI
        setup_papi(prof, options->papi_events ? options->papi_events
                                              : "PAPI_TOT_CYC,PAPI_TOT_INS,PAPI_FP_OPS,"
                                                "PAPI_L2_TCM");
#else
        snprintf(prof->papi_status, sizeof prof->papi_status,
                 "this Volt was built without PAPI (VOLT_WITH_PAPI): timers only");
#endif
    }
    prof->regions[0] = (region){.name = "total", .parent = -1, .depth = 0};
    prof->region_count = 1;
    prof->origin = volt_clock_seconds();
    prof->stack[0] = (frame){.row = 0, .start = prof->origin};
    read_counters(prof, prof->stack[0].counters);
    prof->depth = 1;
    *out = prof;
    return VOLT_OK;
}

void volt_prof_destroy(volt_prof *prof) {
    if (!prof) return;
    if (current == prof) current = NULL;
#ifdef VOLT_HAVE_PAPI
    if (prof->papi_active) {
        long long ignored[VOLT_PROF_MAX_EVENTS];
        PAPI_stop(prof->event_set, ignored);
        PAPI_cleanup_eventset(prof->event_set);
        PAPI_destroy_eventset(&prof->event_set);
    }
#endif
    free(prof->events);
    free(prof);
}

/* ---- regions ------------------------------------------------------------------------------- */

static int find_or_add(volt_prof *prof, int parent, const char *name) {
    for (int i = 1; i < prof->region_count; i++)
        if (prof->regions[i].parent == parent && strcmp(prof->regions[i].name, name) == 0) return i;
    if (prof->region_count == VOLT_PROF_MAX_REGIONS) {
        prof->overflowed++;
        return -1;
    }
    int row = prof->region_count++;
    prof->regions[row] =
        (region){.name = name, .parent = parent, .depth = prof->regions[parent].depth + 1};
    return row;
}

void volt_prof_begin(volt_prof *prof, const char *name) {
    if (!prof || !name || prof->root_closed) return;
#ifdef VOLT_HAVE_CUDA
    nvtxRangePushA(name);
#endif
    if (prof->depth == VOLT_PROF_MAX_DEPTH) { /* charged to the innermost region */
        prof->overflowed++;
        prof->skipped++;
        return;
    }
    int parent = prof->stack[prof->depth - 1].row;
    int row = find_or_add(prof, parent, name);
    frame *f = &prof->stack[prof->depth++];
    f->row = row < 0 ? parent : row; /* past the table: charged to the parent */
    f->children = 0;
    read_counters(prof, f->counters);
    f->start = volt_clock_seconds();
}

static void record_event(volt_prof *prof, int row, double start, double seconds) {
    if (prof->event_total == prof->event_capacity) {
        if (prof->event_capacity >= TRACE_CAP) {
            prof->events_dropped++;
            return;
        }
        long capacity = prof->event_capacity ? prof->event_capacity * 2 : 4096;
        trace_event *grown = realloc(prof->events, (size_t)capacity * sizeof *grown);
        if (!grown) {
            prof->events_dropped++;
            return;
        }
        prof->events = grown;
        prof->event_capacity = capacity;
    }
    prof->events[prof->event_total++] = (trace_event){row, start - prof->origin, seconds};
}

/* Closes the innermost frame into its region. */
static void close_frame(volt_prof *prof, double now) {
    frame *f = &prof->stack[--prof->depth];
    region *r = &prof->regions[f->row];
    double seconds = now - f->start;
    r->count++;
    r->seconds += seconds;
    r->self_seconds += seconds - f->children;
    if (prof->papi_active) {
        long long values[VOLT_PROF_MAX_EVENTS];
        read_counters(prof, values);
        for (int e = 0; e < prof->event_count; e++) r->counters[e] += values[e] - f->counters[e];
    }
    if (prof->depth > 0) prof->stack[prof->depth - 1].children += seconds;
    if (prof->trace) record_event(prof, f->row, f->start, seconds);
}

void volt_prof_end(volt_prof *prof, const char *name) {
    if (!prof || !name || prof->root_closed) return;
#ifdef VOLT_HAVE_CUDA
    nvtxRangePop();
#endif
    double now = volt_clock_seconds();
    if (prof->skipped > 0) {
        prof->skipped--;
        return;
    }
    if (prof->depth <= 1 ||
        strcmp(prof->regions[prof->stack[prof->depth - 1].row].name, name) != 0) {
        prof->mismatches++;
        return;
    }
    close_frame(prof, now);
}

void volt_prof_add_flops(volt_prof *prof, double flops) {
    if (!prof || prof->root_closed) return;
    prof->regions[prof->stack[prof->depth - 1].row].flops += flops;
}

void volt_prof_add_bytes(volt_prof *prof, double bytes) {
    if (!prof || prof->root_closed) return;
    prof->regions[prof->stack[prof->depth - 1].row].bytes += bytes;
}

void volt_prof_charge_bytes(double bytes) { volt_prof_add_bytes(current, bytes); }

int volt_prof_region(const volt_prof *prof, int index, volt_prof_region_stats *out) {
    if (!prof || index < 0 || index >= prof->region_count) return 0;
    const region *r = &prof->regions[index];
    *out = (volt_prof_region_stats){.name = r->name,
                                    .parent = r->parent,
                                    .depth = r->depth,
                                    .count = r->count,
                                    .seconds = r->seconds,
                                    .self_seconds = r->self_seconds,
                                    .flops = r->flops,
                                    .bytes = r->bytes};
    out->counter_count = prof->papi_active ? prof->event_count : 0;
    for (int e = 0; e < out->counter_count; e++) {
        out->counter_names[e] = prof->event_names[e];
        out->counters[e] = r->counters[e];
    }
    return 1;
}

/* ---- report -------------------------------------------------------------------------------- */

/* Rows in tree order (depth first, children in the order they first opened). */
static int tree_order(const volt_prof *prof, int row, int *order, int n) {
    order[n++] = row;
    for (int i = 1; i < prof->region_count; i++)
        if (prof->regions[i].parent == row) n = tree_order(prof, i, order, n);
    return n;
}

static double peak_rss_mb(void) {
    struct rusage usage;
    if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
    return (double)usage.ru_maxrss / 1024.0; /* kilobytes on Linux */
}

int volt_prof_report(volt_prof *prof, MPI_Comm comm, FILE *out) {
    VOLT_CHECK_ARG(prof);
    if (!prof->root_closed) {
        if (prof->depth != 1)
            return VOLT_ERROR(VOLT_ERR_ARG, "profiler report: region %s is still open",
                              prof->regions[prof->stack[prof->depth - 1].row].name);
        close_frame(prof, volt_clock_seconds());
        prof->root_closed = 1;
    }
    int rank = 0, size = 1;
    if (comm != MPI_COMM_NULL) {
        MPI_Comm_rank(comm, &rank);
        MPI_Comm_size(comm, &size);
    }
    int n = prof->region_count, events = prof->event_count;
    /* the same tree on every rank: compare the counts of rows and events */
    int shape[2] = {n, events}, lowest[2] = {n, events}, highest[2] = {n, events};
    if (comm != MPI_COMM_NULL) {
        volt_watch_begin(NULL, "profiler report reductions", 0, 0, NULL);
        MPI_Allreduce(shape, lowest, 2, MPI_INT, MPI_MIN, comm);
        MPI_Allreduce(shape, highest, 2, MPI_INT, MPI_MAX, comm);
        volt_watch_end();
    }
    if (lowest[0] != highest[0] || lowest[1] != highest[1])
        return VOLT_ERROR(VOLT_ERR_ARG,
                          "profiler report: the ranks opened different regions (%d to %d "
                          "regions) or count different PAPI events",
                          lowest[0], highest[0]);
    /* per row: seconds (max, min), self (sum), flops, bytes (sum), count (max) */
    enum { PER_ROW = 4 };
    double *mine = calloc((size_t)n * PER_ROW, sizeof(double));
    double *maxs = calloc((size_t)n * PER_ROW, sizeof(double));
    double *mins = calloc((size_t)n * PER_ROW, sizeof(double));
    double *sums = calloc((size_t)n * PER_ROW, sizeof(double));
    long long *counters = calloc((size_t)n * VOLT_PROF_MAX_EVENTS + 1, sizeof(long long));
    long long *counter_sums = calloc((size_t)n * VOLT_PROF_MAX_EVENTS + 1, sizeof(long long));
    if (!mine || !maxs || !mins || !sums || !counters || !counter_sums) {
        free(mine), free(maxs), free(mins), free(sums), free(counters), free(counter_sums);
        return VOLT_ERROR(VOLT_ERR_NOMEM, "profiler report: out of memory");
    }
    for (int i = 0; i < n; i++) {
        const region *r = &prof->regions[i];
        mine[i * PER_ROW + 0] = r->seconds;
        mine[i * PER_ROW + 1] = r->self_seconds;
        mine[i * PER_ROW + 2] = r->flops;
        mine[i * PER_ROW + 3] = r->bytes;
        for (int e = 0; e < events; e++) counters[i * VOLT_PROF_MAX_EVENTS + e] = r->counters[e];
    }
    double rss = peak_rss_mb(), rss_max = rss, rss_min = rss;
    long count_max[VOLT_PROF_MAX_REGIONS];
    for (int i = 0; i < n; i++) count_max[i] = prof->regions[i].count;
    if (comm != MPI_COMM_NULL) {
        volt_watch_begin(NULL, "profiler report reductions", 0, 0, NULL);
        MPI_Reduce(mine, maxs, n * PER_ROW, MPI_DOUBLE, MPI_MAX, 0, comm);
        MPI_Reduce(mine, mins, n * PER_ROW, MPI_DOUBLE, MPI_MIN, 0, comm);
        MPI_Reduce(mine, sums, n * PER_ROW, MPI_DOUBLE, MPI_SUM, 0, comm);
        MPI_Reduce(counters, counter_sums, n * VOLT_PROF_MAX_EVENTS, MPI_LONG_LONG, MPI_SUM, 0,
                   comm);
        MPI_Reduce(&rss, &rss_max, 1, MPI_DOUBLE, MPI_MAX, 0, comm);
        MPI_Reduce(&rss, &rss_min, 1, MPI_DOUBLE, MPI_MIN, 0, comm);
        long counts[VOLT_PROF_MAX_REGIONS];
        for (int i = 0; i < n; i++) counts[i] = prof->regions[i].count;
        MPI_Reduce(counts, count_max, n, MPI_LONG, MPI_MAX, 0, comm);
        volt_watch_end();
    } else {
        memcpy(maxs, mine, (size_t)n * PER_ROW * sizeof(double));
        memcpy(mins, mine, (size_t)n * PER_ROW * sizeof(double));
        memcpy(sums, mine, (size_t)n * PER_ROW * sizeof(double));
        memcpy(counter_sums, counters, (size_t)n * VOLT_PROF_MAX_EVENTS * sizeof(long long));
    }
    if (rank == 0 && out) {
        int order[VOLT_PROF_MAX_REGIONS];
        int rows = tree_order(prof, 0, order, 0);
        double total = maxs[0];
        double self_sum = 0;
        for (int i = 0; i < n; i++) self_sum += sums[i * PER_ROW + 1] / size;
        fprintf(out, "Profile: %d rank%s, %.3f s (the slowest rank); %s\n", size,
                size == 1 ? "" : "s", total, prof->papi_status);
        fprintf(out, "%-34s %8s %10s %8s %7s %10s %9s %9s", "region", "count", "max s", "max/min",
                "%", "self s", "GFLOP/s", "MB comm");
        for (int e = 0; e < events; e++) fprintf(out, " %14s", prof->event_names[e]);
        if (events >= 2) fprintf(out, " %5s", "IPC");
        fprintf(out, "\n");
        for (int k = 0; k < rows; k++) {
            int i = order[k];
            const region *r = &prof->regions[i];
            char label[64];
            snprintf(label, sizeof label, "%*s%s", 2 * r->depth, "",
                     i == 0 ? "total (self: outside any region)" : r->name);
            double max_s = maxs[i * PER_ROW + 0], min_s = mins[i * PER_ROW + 0];
            double flops = sums[i * PER_ROW + 2];
            /* flops of the region and everything under it, over its time */
            double inclusive_flops = flops;
            for (int j = 0; j < n; j++)
                for (int a = prof->regions[j].parent; a >= 0; a = prof->regions[a].parent)
                    if (a == i) inclusive_flops += sums[j * PER_ROW + 2];
            fprintf(out, "%-34s %8ld %10.4f %8.2f %6.1f%% %10.4f %9.2f %9.2f", label, count_max[i],
                    max_s, min_s > 0 ? max_s / min_s : 1.0, total > 0 ? 100.0 * max_s / total : 0.0,
                    sums[i * PER_ROW + 1] / size, max_s > 0 ? inclusive_flops / max_s / 1e9 : 0.0,
                    sums[i * PER_ROW + 3] / 1e6);
            for (int e = 0; e < events; e++)
                fprintf(out, " %14lld", counter_sums[i * VOLT_PROF_MAX_EVENTS + e]);
            if (events >= 2) {
                long long cycles = counter_sums[i * VOLT_PROF_MAX_EVENTS + 0];
                long long instructions = counter_sums[i * VOLT_PROF_MAX_EVENTS + 1];
                fprintf(out, " %5.2f", cycles > 0 ? (double)instructions / (double)cycles : 0.0);
            }
            fprintf(out, "\n");
        }
        fprintf(out, "self times add up to %.4f s (mean over ranks; the total's mean is %.4f s)\n",
                self_sum, sums[0] / size);
        fprintf(out, "peak resident memory per rank: %.1f MB (max), %.1f MB (min)\n", rss_max,
                rss_min);
        if (prof->mismatches || prof->overflowed || prof->events_dropped)
            fprintf(out,
                    "note: %ld region ends did not match the open region, %d regions past the "
                    "limit of %d or depth %d, %ld trace events dropped\n",
                    prof->mismatches, prof->overflowed, VOLT_PROF_MAX_REGIONS, VOLT_PROF_MAX_DEPTH,
                    prof->events_dropped);
    }
    free(mine), free(maxs), free(mins), free(sums), free(counters), free(counter_sums);
    return VOLT_OK;
}

/* ---- trace --------------------------------------------------------------------------------- */

static void json_string(FILE *f, const char *text) {
    fputc('"', f);
    for (; *text; text++) {
        if (*text == '"' || *text == '\\')
            fprintf(f, "\\%c", *text);
        else if ((unsigned char)*text < 0x20)
            fprintf(f, "\\u%04x", *text);
        else
            fputc(*text, f);
    }
    fputc('"', f);
}

int volt_prof_write_trace(const volt_prof *prof, const char *path, int rank) {
    VOLT_CHECK_ARG(prof && path);
    FILE *f = fopen(path, "w");
    if (!f) return VOLT_ERROR(VOLT_ERR_IO, "cannot write the trace %s: %s", path, strerror(errno));
    fprintf(f, "{\"displayTimeUnit\": \"ms\", \"traceEvents\": [\n");
    fprintf(f,
            "{\"name\": \"process_name\", \"ph\": \"M\", \"pid\": %d, \"tid\": 0, "
            "\"args\": {\"name\": \"rank %d\"}}",
            rank, rank);
    for (long i = 0; i < prof->event_total; i++) {
        const trace_event *e = &prof->events[i];
        fprintf(f, ",\n{\"name\": ");
        json_string(f, prof->regions[e->row].name);
        fprintf(f, ", \"ph\": \"X\", \"pid\": %d, \"tid\": 0, \"ts\": %.3f, \"dur\": %.3f}", rank,
                e->start * 1e6, e->seconds * 1e6);
    }
    fprintf(f, "\n]}\n");
    if (ferror(f) | (fclose(f) != 0))
        return VOLT_ERROR(VOLT_ERR_IO, "writing the trace %s failed", path);
    return VOLT_OK;
}

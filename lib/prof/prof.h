/* lib/prof/prof.h — a profiler of nested regions: time, flops, bytes communicated, PAPI
 * counters, a cross-rank report and a Chrome trace.
 *
 * Regions form a tree: a region is a name under its parent (the region open when it
 * began), so "backward" inside "train_batch" and "backward" elsewhere are two rows.
 * volt_prof_begin / volt_prof_end bracket a region and must nest. Each region keeps its
 * count, its inclusive time, its self time (inclusive minus its children's), and what was
 * charged to it while it was the innermost open region: flops (volt_prof_add_flops) and
 * bytes communicated (volt_prof_add_bytes). The profiler's root region ("total") runs from
 * volt_prof_create to the report, so the self times of all regions, the root's included
 * (time in no region), add up to the total.
 *
 * Cost: every function takes a NULL profiler and does nothing, so a program with the
 * profiler off pays one pointer test per region. A process has one current profiler
 * (volt_prof_set_current), which lower layers that cannot be handed one charge (the
 * communicator charges its bytes with volt_prof_charge_bytes).
 *
 * PAPI (VOLT_PROF_PAPI, in a build with PAPI): initialised once per process; the events
 * asked for are checked with PAPI_query_named_event and those the CPU lacks are left out
 * with a note; each region accumulates its inclusive counter deltas. Where the kernel
 * exposes no counters (a VM without a PMU, perf_event_paranoid too high, a container),
 * or in a build without PAPI, the profiler runs on timers and volt_prof_papi_status says
 * why, in PAPI's own words; the report prints it once.
 *
 * Trace (options.trace): every region instance is an event of a Chrome trace-event JSON
 * file per rank (Perfetto and chrome://tracing open it). In a CUDA build every region is
 * also an NVTX range, so Nsight Systems shows the same names. */
#ifndef VOLT_PROF_PROF_H
#define VOLT_PROF_PROF_H

#include <mpi.h>
#include <stdio.h>

#include "core/error.h"

typedef enum volt_prof_mode { VOLT_PROF_OFF = 0, VOLT_PROF_SIMPLE, VOLT_PROF_PAPI } volt_prof_mode;

/* Parses "off", "simple", "papi". */
VOLT_NODISCARD int volt_prof_mode_parse(const char *text, volt_prof_mode *out);

typedef struct volt_prof_options {
    volt_prof_mode mode;     /* OFF: volt_prof_create gives NULL */
    const char *papi_events; /* comma-separated; NULL: PAPI_TOT_CYC,PAPI_TOT_INS,PAPI_FP_OPS,
                              * PAPI_L2_TCM */
    int trace;               /* record events for volt_prof_write_trace */
} volt_prof_options;

enum { VOLT_PROF_MAX_REGIONS = 128, VOLT_PROF_MAX_DEPTH = 32, VOLT_PROF_MAX_EVENTS = 8 };

typedef struct volt_prof volt_prof;

/* Starts the root region. With mode OFF, *out is NULL and that is not an error. */
VOLT_NODISCARD int volt_prof_create(const volt_prof_options *options, volt_prof **out);
void volt_prof_destroy(volt_prof *prof);

/* The process's current profiler (NULL: none), for volt_prof_charge_*. */
void volt_prof_set_current(volt_prof *prof);
volt_prof *volt_prof_current(void);

/* Opens a region named name (static storage, or kept alive until the report) under the
 * innermost open one. */
void volt_prof_begin(volt_prof *prof, const char *name);
/* Closes the innermost region, which must be name (a mismatch is recorded and reported;
 * the stack is left as it was). */
void volt_prof_end(volt_prof *prof, const char *name);

/* Charges the innermost open region. */
void volt_prof_add_flops(volt_prof *prof, double flops);
void volt_prof_add_bytes(volt_prof *prof, double bytes);
/* The same on the current profiler (no-ops without one). */
void volt_prof_charge_bytes(double bytes);

/* Whether PAPI counters are being read; else the reason (a build without PAPI, no
 * counters in this kernel with PAPI's reason, no event available). */
int volt_prof_papi_active(const volt_prof *prof);
const char *volt_prof_papi_status(const volt_prof *prof);

/* One region's totals on this rank (for tests): index 0 is the root. Returns 0 past the
 * last region. */
typedef struct volt_prof_region_stats {
    const char *name;
    int parent; /* -1 for the root */
    int depth;
    long count;
    double seconds, self_seconds, flops, bytes;
    int counter_count; /* PAPI events read (0 without counters) */
    const char *counter_names[VOLT_PROF_MAX_EVENTS];
    long long counters[VOLT_PROF_MAX_EVENTS]; /* inclusive */
} volt_prof_region_stats;
int volt_prof_region(const volt_prof *prof, int index, volt_prof_region_stats *out);

/* The cross-rank report, collective over comm (every rank must have opened the same
 * regions in the same tree; MPI_COMM_NULL: this process alone). Closes the root region
 * first (no region may be open). Rank 0 writes the table to out (may be NULL on other
 * ranks). Columns: count, max time over ranks, max/min (imbalance), % of the total,
 * self time (mean over ranks), GFLOP/s (flops summed over ranks / max time), MB
 * communicated (summed), and with PAPI each counter (summed) and IPC. Then the peak
 * resident memory per rank (max and min). */
VOLT_NODISCARD int volt_prof_report(volt_prof *prof, MPI_Comm comm, FILE *out);

/* Writes this rank's trace (options.trace) as Chrome trace-event JSON; pid is the rank. */
VOLT_NODISCARD int volt_prof_write_trace(const volt_prof *prof, const char *path, int rank);

#endif

/* tests/unit/test_prof.c — the profiler (lib/prof) in one process: the region tree, self
 * and inclusive times that add up, flops and bytes charged to the innermost region, the
 * report's table, the PAPI fallback (here and wherever the kernel has no counters), the
 * trace file, and mismatched ends. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/graph.h"
#include "core/clock.h"
#include "gradcheck.h"
#include "ops/ops.h"
#include "prof/prof.h"
#include "volt_test.h"

/* Busy for about `seconds` (the clock, not sleep: the time is on this thread). */
static void spin(double seconds) {
    double end = volt_clock_seconds() + seconds;
    volatile double x = 0;
    while (volt_clock_seconds() < end) x += 1;
}

static int find(const volt_prof *prof, const char *name, int parent, volt_prof_region_stats *out) {
    volt_prof_region_stats s;
    for (int i = 0; volt_prof_region(prof, i, &s); i++)
        if (strcmp(s.name, name) == 0 && s.parent == parent) {
            *out = s;
            return i;
        }
    return -1;
}

VOLT_TEST(off_is_null_and_every_call_accepts_null) {
    volt_prof_options options = {.mode = VOLT_PROF_OFF};
    volt_prof *prof = (volt_prof *)1;
    VOLT_EXPECT_OK(volt_prof_create(&options, &prof));
    VOLT_EXPECT(prof == NULL);
    volt_prof_begin(NULL, "x");
    volt_prof_add_flops(NULL, 1);
    volt_prof_end(NULL, "x");
    volt_prof_charge_bytes(5); /* no current profiler */
    volt_prof_mode mode;
    VOLT_EXPECT_OK(volt_prof_mode_parse("papi", &mode));
    VOLT_EXPECT_EQ_INT(mode, VOLT_PROF_PAPI);
    VOLT_EXPECT(volt_prof_mode_parse("fast", &mode) == VOLT_ERR_CONFIG);
    char errors[256];
    volt_test_take_errors(errors, sizeof errors);
    VOLT_EXPECT_STR_CONTAINS(errors, "profiler 'fast': expected off, simple or papi");
}

VOLT_TEST(regions_nest_and_self_times_add_up_to_the_total) {
    volt_prof_options options = {.mode = VOLT_PROF_SIMPLE};
    volt_prof *prof;
    VOLT_EXPECT_OK(volt_prof_create(&options, &prof));
    volt_prof_set_current(prof);
    for (int step = 0; step < 3; step++) {
        volt_prof_begin(prof, "step");
        spin(0.002);
        volt_prof_begin(prof, "forward");
        volt_prof_add_flops(prof, 2.0 * 64 * 128 * 32); /* a GEMM: 2 m n k */
        spin(0.003);
        volt_prof_end(prof, "forward");
        volt_prof_begin(prof, "comm");
        volt_prof_charge_bytes(1000); /* as the communicator does */
        volt_prof_end(prof, "comm");
        volt_prof_end(prof, "step");
    }
    volt_prof_begin(prof, "forward"); /* another row: a forward outside "step" */
    volt_prof_end(prof, "forward");
    spin(0.002);                         /* in no region: the root's self time */
    volt_prof_end(prof, "nothing open"); /* a mismatch: recorded, nothing closed */
    volt_prof_set_current(NULL);

    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    VOLT_EXPECT_OK(volt_prof_report(prof, MPI_COMM_NULL, out));
    fclose(out);

    volt_prof_region_stats root = {0}, step = {0}, forward = {0}, comm = {0}, other = {0};
    VOLT_EXPECT_EQ_INT(find(prof, "total", -1, &root), 0);
    int step_row = find(prof, "step", 0, &step);
    VOLT_EXPECT(step_row > 0);
    VOLT_EXPECT(find(prof, "forward", step_row, &forward) > 0);
    VOLT_EXPECT(find(prof, "comm", step_row, &comm) > 0);
    VOLT_EXPECT(find(prof, "forward", 0, &other) > 0);
    VOLT_EXPECT_EQ_INT(step.count, 3);
    VOLT_EXPECT_EQ_INT(forward.count, 3);
    VOLT_EXPECT_EQ_INT(other.count, 1);
    VOLT_EXPECT_EQ_INT(forward.depth, 2);
    VOLT_EXPECT(forward.flops == 3 * 2.0 * 64 * 128 * 32); /* exact */
    VOLT_EXPECT(step.flops == 0);                          /* charged to the innermost only */
    VOLT_EXPECT(comm.bytes == 3000);
    VOLT_EXPECT(step.seconds >= forward.seconds + comm.seconds);
    VOLT_EXPECT_NEAR(step.self_seconds, step.seconds - forward.seconds - comm.seconds, 1e-9);
    double self_sum = 0;
    volt_prof_region_stats s;
    for (int i = 0; volt_prof_region(prof, i, &s); i++) self_sum += s.self_seconds;
    VOLT_EXPECT(fabs(self_sum - root.seconds) <= 0.01 * root.seconds);
    VOLT_EXPECT(root.seconds >= 0.017); /* 3 x (2 + 3 ms) + 2 ms of spinning */
    VOLT_EXPECT(forward.seconds >= 0.009 && forward.seconds < step.seconds);

    /* the table: rows in tree order, indented, the mismatch noted */
    VOLT_EXPECT_STR_CONTAINS(text ? text : "", "Profile: 1 rank,");
    VOLT_EXPECT_STR_CONTAINS(text ? text : "", "\n  step ");
    VOLT_EXPECT_STR_CONTAINS(text ? text : "", "\n    forward ");
    VOLT_EXPECT_STR_CONTAINS(text ? text : "", "1 region ends did not match");
    VOLT_EXPECT_STR_CONTAINS(text ? text : "", "self times add up to");
    VOLT_EXPECT_STR_CONTAINS(text ? text : "", "peak resident memory per rank");
    const char *comm_line = text ? strstr(text, "\n    comm ") : NULL;
    VOLT_EXPECT(comm_line != NULL);
    if (comm_line) { /* its last column: 3000 bytes = 0.00 MB; count 3 */
        long count = 0;
        VOLT_EXPECT(sscanf(comm_line, " comm %ld", &count) == 1);
        VOLT_EXPECT_EQ_INT(count, 3);
    }
    free(text);
    volt_prof_destroy(prof);
}

VOLT_TEST(report_refuses_an_open_region) {
    volt_prof_options options = {.mode = VOLT_PROF_SIMPLE};
    volt_prof *prof;
    VOLT_EXPECT_OK(volt_prof_create(&options, &prof));
    volt_prof_begin(prof, "left_open");
    VOLT_EXPECT(volt_prof_report(prof, MPI_COMM_NULL, NULL) == VOLT_ERR_ARG);
    char errors[256];
    volt_test_take_errors(errors, sizeof errors);
    VOLT_EXPECT_STR_CONTAINS(errors, "region left_open is still open");
    volt_prof_end(prof, "left_open");
    VOLT_EXPECT_OK(volt_prof_report(prof, MPI_COMM_NULL, NULL));
    volt_prof_destroy(prof);
}

/* Where the kernel has counters PAPI reads them; where it has none (this kind of VM) the
 * profiler says why and runs on timers: never a crash, never silent zeros. */
VOLT_TEST(papi_counts_or_says_why_not) {
    volt_prof_options options = {.mode = VOLT_PROF_PAPI};
    volt_prof *prof;
    VOLT_EXPECT_OK(volt_prof_create(&options, &prof));
    const char *status = volt_prof_papi_status(prof);
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    volt_prof_begin(prof, "work");
    spin(0.002);
    volt_prof_end(prof, "work");
    VOLT_EXPECT_OK(volt_prof_report(prof, MPI_COMM_NULL, out));
    fclose(out);
    if (volt_prof_papi_active(prof)) {
        VOLT_EXPECT_STR_CONTAINS(status, "PAPI counters on");
        VOLT_EXPECT_STR_CONTAINS(text ? text : "", "IPC");
    } else {
        VOLT_EXPECT_STR_CONTAINS(status, "timers only");
        VOLT_EXPECT(strlen(status) > strlen("timers only") + 10); /* with a reason */
        VOLT_EXPECT_STR_CONTAINS(text ? text : "", status);       /* said in the report */
        VOLT_EXPECT(!strstr(text ? text : "", "IPC"));            /* no zero columns */
        printf("PAPI here: %s\n", status);
    }
    free(text);
    volt_prof_destroy(prof);
}

VOLT_TEST(trace_is_chrome_trace_json) {
    char dir[256];
    VOLT_EXPECT(volt_test_make_temp_dir(dir, sizeof dir, "prof"));
    volt_prof_options options = {.mode = VOLT_PROF_SIMPLE, .trace = 1};
    volt_prof *prof;
    VOLT_EXPECT_OK(volt_prof_create(&options, &prof));
    for (int i = 0; i < 3; i++) {
        volt_prof_begin(prof, "a \"quoted\" name");
        volt_prof_end(prof, "a \"quoted\" name");
    }
    VOLT_EXPECT_OK(volt_prof_report(prof, MPI_COMM_NULL, NULL));
    char path[320];
    snprintf(path, sizeof path, "%s/trace.json", dir);
    VOLT_EXPECT_OK(volt_prof_write_trace(prof, path, 3));
    FILE *f = fopen(path, "r");
    char text[4096] = "";
    if (f) {
        size_t n = fread(text, 1, sizeof text - 1, f);
        text[n] = '\0';
        fclose(f);
    }
    VOLT_EXPECT_STR_CONTAINS(text, "\"traceEvents\": [");
    VOLT_EXPECT_STR_CONTAINS(text,
                             "\"name\": \"a \\\"quoted\\\" name\", \"ph\": \"X\", \"pid\": 3");
    VOLT_EXPECT_STR_CONTAINS(text, "\"name\": \"total\"");
    int events = 0;
    for (const char *p = text; (p = strstr(p, "\"ph\": \"X\"")); p++) events++;
    VOLT_EXPECT_EQ_INT(events, 4); /* three regions and the root */
    char bad[400];
    snprintf(bad, sizeof bad, "%s/no/such/dir/trace.json", dir);
    VOLT_EXPECT(volt_prof_write_trace(prof, bad, 0) == VOLT_ERR_IO);
    char errors[512];
    volt_test_take_errors(errors, sizeof errors);
    VOLT_EXPECT_STR_CONTAINS(errors, "cannot write the trace");
    volt_prof_destroy(prof);
    volt_test_remove_tree(dir);
}

/* The flops the profiler charges come from the ops: a GEMM's is 2 m n k exactly, and
 * backward counts it once per operand that needs a gradient. */
VOLT_TEST(a_gemm_counts_2mnk_flops_forward_and_per_operand_backward) {
    volt_graph_options options = {0};
    volt_graph *g;
    VOLT_EXPECT_OK(volt_graph_create(&options, &g));
    enum { M = 7, K = 13, N = 5 };
    for (int both = 0; both <= 1; both++) {
        volt_tensor *a = volt_test_leaf(g, VOLT_F32, 2, (const long[]){M, K}, both, 1, -1, 1);
        volt_tensor *b = volt_test_leaf(g, VOLT_F32, 2, (const long[]){K, N}, 1, 2, -1, 1);
        volt_tensor *c = volt_matmul(a, b);
        VOLT_EXPECT(c != NULL);
        VOLT_EXPECT(volt_graph_flops(g) == 2.0 * M * N * K);
        VOLT_EXPECT(volt_graph_backward_flops(g) == (both ? 2 : 1) * 2.0 * M * N * K);
        volt_graph_reset(g);
        volt_test_leaf_free(a);
        volt_test_leaf_free(b);
    }
    volt_graph_destroy(g);
}

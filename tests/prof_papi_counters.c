/* tests/prof_papi_counters.c — the profiler's PAPI path where the kernel has counters:
 * a region running a known loop reads non-zero cycles and instructions, and the
 * report has the counter columns and IPC. Where there are none (this kind of VM, a
 * container, perf_event_paranoid), it says why and exits 77 (skipped); the fallback
 * itself is tested in tests/unit/test_prof.c everywhere. */
#include <stdio.h>
#include <string.h>

#include "prof/prof.h"

int main(void) {
    volt_prof_options options = {.mode = VOLT_PROF_PAPI,
                                 .papi_events = "PAPI_TOT_CYC,PAPI_TOT_INS"};
    volt_prof *prof = NULL;
    if (volt_prof_create(&options, &prof) != VOLT_OK) return 1;
    if (!volt_prof_papi_active(prof)) {
        printf("skipped: %s\n", volt_prof_papi_status(prof));
        volt_prof_destroy(prof);
        return 77;
    }
    volatile double x = 0;
    volt_prof_begin(prof, "loop");
    for (int i = 0; i < 10000000; i++) x += 1.0;
    volt_prof_end(prof, "loop");
    char text[8192] = "";
    FILE *out = fmemopen(text, sizeof text - 1, "w");
    int failed = volt_prof_report(prof, MPI_COMM_NULL, out) != VOLT_OK;
    if (out) fclose(out);
    volt_prof_region_stats s;
    failed |= !volt_prof_region(prof, 1, &s) || strcmp(s.name, "loop") != 0;
    failed |= s.counter_count != 2 || s.counters[0] <= 0 || s.counters[1] < 10000000;
    failed |= !strstr(text, "PAPI_TOT_CYC") || !strstr(text, "IPC");
    printf("%s\n%s", failed ? "FAILED" : "counters read", text);
    volt_prof_destroy(prof);
    return failed ? 1 : 0;
}

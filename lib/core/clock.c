/* lib/core/clock.c — CLOCK_MONOTONIC through clock_gettime. */
#include "core/clock.h"

#include <time.h>

uint64_t volt_clock_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double volt_clock_seconds(void) { return (double)volt_clock_ns() * 1e-9; }

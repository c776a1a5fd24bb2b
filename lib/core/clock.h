/* lib/core/clock.h — monotonic clocks for timing (never wall-clock time of day). */
#ifndef VOLT_CORE_CLOCK_H
#define VOLT_CORE_CLOCK_H

#include <stdint.h>

/* Seconds since an arbitrary fixed point, from CLOCK_MONOTONIC; nanosecond resolution. */
double volt_clock_seconds(void);
/* Nanoseconds since the same point. */
uint64_t volt_clock_ns(void);

#endif

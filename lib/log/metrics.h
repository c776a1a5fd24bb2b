/* lib/log/metrics.h — logged values: what the module reports each step and each epoch.
 *
 * A value is logged under a name with a weight (the batch size) and flags:
 *   VOLT_LOG_STEP      keep this step's value (a row of metrics.csv at this step);
 *   VOLT_LOG_EPOCH     aggregate over the epoch with the reduction:
 *   VOLT_LOG_MEAN      (default) mean weighted by the weights, so a last, smaller batch
 *                      counts for its size; VOLT_LOG_SUM, VOLT_LOG_MIN, VOLT_LOG_MAX;
 *   VOLT_LOG_PROG_BAR  show it on the progress bar.
 * Neither STEP nor EPOCH means STEP (Lightning's default in training_step). A metric
 * logged with both appears as "<name>_step" and "<name>_epoch" (Lightning's names);
 * with one, under its own name. Logging one name with other flags in the same epoch,
 * two reductions, a non-finite weight or a weight <= 0 is VOLT_ERR_ARG naming it.
 *
 * Every produced value is also the metric's latest value (what callbacks such as
 * EarlyStopping monitor): volt_metrics_latest. */
#ifndef VOLT_LOG_METRICS_H
#define VOLT_LOG_METRICS_H

#include "core/error.h"

enum {
    VOLT_LOG_STEP = 1 << 0,
    VOLT_LOG_EPOCH = 1 << 1,
    VOLT_LOG_PROG_BAR = 1 << 2,
    VOLT_LOG_MEAN = 0, /* the default reduction */
    VOLT_LOG_SUM = 1 << 3,
    VOLT_LOG_MIN = 1 << 4,
    VOLT_LOG_MAX = 1 << 5,
};

typedef struct volt_metrics volt_metrics;

/* Name/value pairs handed out by the store; valid until its next call. */
typedef struct volt_metric_values {
    int count;
    const char *const *names;
    const double *values;
} volt_metric_values;

VOLT_NODISCARD int volt_metrics_create(volt_metrics **out);
void volt_metrics_destroy(volt_metrics *metrics);

VOLT_NODISCARD int volt_metrics_log(volt_metrics *metrics, const char *name, double value,
                                    double weight, int flags);

/* The STEP values logged since the last call (names with "_step" where needed), sorted
 * by name; clears them. */
volt_metric_values volt_metrics_take_step(volt_metrics *metrics);
/* The EPOCH aggregates whose names start with prefix ("" for all; "val/" for the
 * validation metrics), sorted by name; clears those accumulators. */
volt_metric_values volt_metrics_take_epoch(volt_metrics *metrics, const char *prefix);
/* The PROG_BAR metrics' latest values, sorted by name. */
volt_metric_values volt_metrics_prog_bar(volt_metrics *metrics);

/* Latest value of a produced metric (by its produced name); 0 if never produced. */
int volt_metrics_latest(const volt_metrics *metrics, const char *name, double *value);
/* All produced names so far, sorted (for "monitor metric never logged" errors). */
volt_metric_values volt_metrics_all_latest(volt_metrics *metrics);

#endif

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

/* Across ranks (collective over comm; every rank calls them at the same point).
 *
 * volt_metrics_reduce_epoch combines the EPOCH accumulators of the names starting with
 * prefix (and, when names is not NULL, among those name_count logged names) over the
 * group, before volt_metrics_take_epoch produces them: weighted sums and weights summed (so a mean
 * is the mean over every rank's samples), min of the minima, max of the maxima, sums summed.
 * volt_metrics_reduce_step replaces each pending STEP value by the mean over the ranks weighted by
 * `weight` (this rank's batch size); a rank with weight 0 (an empty part of a batch) that logged
 * nothing takes no part (its values, if any, weigh nothing).
 *
 * Both first check that the ranks logged the same names (a count and a hash of the
 * sorted names, all-reduced): a mismatch is VOLT_ERR_ARG on every rank naming the names
 * that some ranks did not log, never a hang. */
typedef struct volt_comm volt_comm;
/* Whether this rank's epoch accumulators count in volt_metrics_reduce_epoch's sums (1,
 * the default). A rank that only repeats another's values (the ranks of a tensor-parallel
 * group after the first compute the same metrics) sets 0: its weighted sums, weights,
 * sums and counts then add nothing, so a VOLT_LOG_SUM metric is not multiplied by the
 * group's size; it still takes part in every collective, and its minima and maxima
 * (the same values) still count. */
void volt_metrics_set_counted(volt_metrics *metrics, int counted);
VOLT_NODISCARD int volt_metrics_reduce_epoch(volt_metrics *metrics, volt_comm *comm,
                                             const char *prefix, const char *const *names,
                                             int name_count);
VOLT_NODISCARD int volt_metrics_reduce_step(volt_metrics *metrics, volt_comm *comm, double weight);

/* Latest value of a produced metric (by its produced name); 0 if never produced. */
int volt_metrics_latest(const volt_metrics *metrics, const char *name, double *value);
/* All produced names so far, sorted (for "monitor metric never logged" errors). */
volt_metric_values volt_metrics_all_latest(volt_metrics *metrics);

#endif

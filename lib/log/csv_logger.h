/* lib/log/csv_logger.h — metrics.csv in the layout of Lightning's CSVLogger.
 *
 * Columns: step, epoch, then the sorted union of every metric name seen so far; one row
 * per logging event, empty cells where a metric was not logged (sparse rows). Because
 * the union grows, rows are kept in memory and each save rewrites the whole file
 * (written to <path>.tmp, then renamed), so the file on disk is always complete. Values
 * print with %.9g (round-trip for f32). */
#ifndef VOLT_LOG_CSV_LOGGER_H
#define VOLT_LOG_CSV_LOGGER_H

#include "core/error.h"
#include "log/metrics.h"

typedef struct volt_csv_logger volt_csv_logger;

VOLT_NODISCARD int volt_csv_logger_create(const char *path, volt_csv_logger **out);
void volt_csv_logger_destroy(volt_csv_logger *logger);

/* Adds a row (nothing if values.count == 0). */
VOLT_NODISCARD int volt_csv_logger_add(volt_csv_logger *logger, long step, long epoch,
                                       volt_metric_values values);
/* Rewrites the file with every row so far. */
VOLT_NODISCARD int volt_csv_logger_save(volt_csv_logger *logger);
long volt_csv_logger_rows(const volt_csv_logger *logger);

#endif

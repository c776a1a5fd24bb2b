/* lib/log/progress.h — the progress bar (rank 0 only; the caller decides).
 *
 * A phase ("Epoch 3", "Validation", "Testing") has a total number of batches. On a
 * terminal the line is redrawn in place (carriage return, at most 10 times a second and
 * at the phase's end):
 *   Epoch 3: 412/938 [=========>          ] 152.3 it/s ETA 00:03 train/loss=0.412
 * Otherwise (a batch job writing to a file) one plain line is written every
 * `every_n_batches` batches and at the end, never a carriage return. */
#ifndef VOLT_LOG_PROGRESS_H
#define VOLT_LOG_PROGRESS_H

#include <stdio.h>

#include "log/metrics.h"

typedef struct volt_progress volt_progress;

/* terminal: 1, 0, or -1 to decide: isatty(fileno(out)), but never under an MPI launcher
 * (Open MPI hands its processes a pseudo-terminal even in batch jobs). every_n_batches
 * >= 1. */
VOLT_NODISCARD int volt_progress_create(FILE *out, int terminal, long every_n_batches,
                                        volt_progress **out_progress);
void volt_progress_destroy(volt_progress *progress);

void volt_progress_start(volt_progress *progress, const char *phase, long total_batches);
/* done: batches finished in this phase (1..total). */
void volt_progress_update(volt_progress *progress, long done, volt_metric_values metrics);
/* Ends the phase's line (a newline on a terminal, a final line otherwise). */
void volt_progress_end(volt_progress *progress, volt_metric_values metrics);

#endif

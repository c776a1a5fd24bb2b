/* lib/log/progress.c — the progress bar behind progress.h.
 *
 * One line per phase:
 *   terminal:  \rEpoch 3: 412/938 [=========>          ] 152.3 it/s ETA 00:03 train/loss=0.412
 *   otherwise: Epoch 3: 412/938 (43%) 152.3 it/s ETA 00:03 train/loss=0.412
 * The bar is BAR_WIDTH cells; round(width * done / total) of them are '=', then a '>' head
 * while unfinished. The rate is the phase's average (batches over the monotonic time since
 * volt_progress_start), shown as s/it below one batch a second; the ETA is the remaining
 * batches at that rate, mm:ss, or h:mm:ss from an hour on. The phase's last line shows the
 * elapsed time in place of the ETA. Metrics print as name=value with 4 significant digits.
 * A terminal redraw shorter than the one before pads with spaces to wipe its tail. An
 * unknown total (<= 0) shows as "412/?", without bar, percentage or ETA.
 *
 * Every function accepts a NULL progress and does nothing, so that the caller can hold one
 * on rank 0 only and call the same code everywhere. */
#define _POSIX_C_SOURCE 200809L /* fileno, isatty */
#include "log/progress.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"

enum { BAR_WIDTH = 20, PHASE_BYTES = 96 };
static const double REDRAW_INTERVAL_S = 0.1; /* at most 10 redraws a second */

struct volt_progress {
    FILE *out;
    int terminal;
    long every_n_batches;
    char phase[PHASE_BYTES]; /* truncated copy */
    long total_batches;      /* <= 0: unknown */
    long done;
    double start_s, last_draw_s;
    int drawn;       /* the line has been drawn since start */
    int line_length; /* characters of the last terminal line, for padding */
};

/* Writes a duration as mm:ss or h:mm:ss and returns the characters written. */
static int write_duration(FILE *out, double seconds) {
    if (!(seconds >= 0 && seconds < 1e9)) return fprintf(out, "--:--");
    long total = (long)(seconds + 0.5);
    long hours = total / 3600, minutes = total / 60 % 60, secs = total % 60;
    if (hours > 0) return fprintf(out, "%ld:%02ld:%02ld", hours, minutes, secs);
    return fprintf(out, "%02ld:%02ld", minutes, secs);
}

static void draw(volt_progress *progress, volt_metric_values metrics, int ending) {
    FILE *out = progress->out;
    long done = progress->done, total = progress->total_batches;
    double elapsed = volt_clock_seconds() - progress->start_s;
    int length = 0;
    if (progress->terminal) fputc('\r', out);
    if (total > 0)
        length += fprintf(out, "%s: %ld/%ld", progress->phase, done, total);
    else
        length += fprintf(out, "%s: %ld/?", progress->phase, done);

    if (total > 0) {
        double fraction = (double)done / (double)total;
        fraction = fraction < 0 ? 0 : fraction > 1 ? 1 : fraction;
        if (progress->terminal) {
            char bar[BAR_WIDTH + 1];
            int filled = (int)lround(fraction * BAR_WIDTH);
            for (int i = 0; i < BAR_WIDTH; i++) bar[i] = i < filled ? '=' : ' ';
            if (filled < BAR_WIDTH) bar[filled] = '>';
            bar[BAR_WIDTH] = '\0';
            length += fprintf(out, " [%s]", bar);
        } else {
            length += fprintf(out, " (%d%%)", (int)(fraction * 100));
        }
    }

    double rate = done > 0 && elapsed > 0 ? (double)done / elapsed : 0;
    if (rate >= 1)
        length += fprintf(out, " %.1f it/s", rate);
    else if (rate > 0)
        length += fprintf(out, " %.2f s/it", 1 / rate);
    else
        length += fprintf(out, " ? it/s");

    if (ending) {
        length += fprintf(out, " elapsed ");
        length += write_duration(out, elapsed);
    } else if (total > 0) {
        length += fprintf(out, " ETA ");
        length += write_duration(out, rate > 0 ? (double)(total - done) / rate : -1);
    }

    for (int i = 0; i < metrics.count; i++)
        length += fprintf(out, " %s=%.4g", metrics.names[i], metrics.values[i]);

    if (progress->terminal) {
        for (int i = length; i < progress->line_length; i++) fputc(' ', out);
        progress->line_length = length;
    }
    if (!progress->terminal || ending) fputc('\n', out);
    fflush(out);
    progress->drawn = 1;
}

/* A terminal that a person watches. Open MPI gives the processes it starts a
 * pseudo-terminal even when mpirun's own output goes to a file (a batch job), so under
 * an MPI launcher isatty() says nothing: plain lines are the safe choice there. */
static int is_interactive(FILE *out) {
    static const char *const launcher_variables[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE",
                                                     "PMIX_RANK"};
    for (size_t i = 0; i < sizeof launcher_variables / sizeof *launcher_variables; i++)
        if (getenv(launcher_variables[i])) return 0;
    return isatty(fileno(out));
}

int volt_progress_create(FILE *out, int terminal, long every_n_batches,
                         volt_progress **out_progress) {
    VOLT_CHECK_ARG(out_progress);
    *out_progress = NULL;
    VOLT_CHECK_ARG(out);
    if (terminal < -1 || terminal > 1)
        return VOLT_ERROR(VOLT_ERR_ARG,
                          "progress: terminal is %d; expected 1, 0 or -1 (ask isatty)", terminal);
    if (every_n_batches < 1)
        return VOLT_ERROR(VOLT_ERR_ARG, "progress: every_n_batches is %ld; expected >= 1",
                          every_n_batches);
    volt_progress *progress = calloc(1, sizeof *progress);
    VOLT_CHECK_ALLOC(progress, sizeof *progress);
    progress->out = out;
    progress->terminal = terminal == -1 ? is_interactive(out) : terminal;
    progress->every_n_batches = every_n_batches;
    *out_progress = progress;
    return VOLT_OK;
}

void volt_progress_destroy(volt_progress *progress) { free(progress); }

void volt_progress_start(volt_progress *progress, const char *phase, long total_batches) {
    if (!progress) return;
    /* a phase left open on a terminal keeps its line */
    if (progress->terminal && progress->drawn) fputc('\n', progress->out);
    snprintf(progress->phase, sizeof progress->phase, "%s", phase ? phase : "");
    progress->total_batches = total_batches;
    progress->done = 0;
    progress->start_s = volt_clock_seconds();
    progress->last_draw_s = progress->start_s;
    progress->drawn = 0;
    progress->line_length = 0;
}

void volt_progress_update(volt_progress *progress, long done, volt_metric_values metrics) {
    if (!progress) return;
    progress->done = done;
    int last = progress->total_batches > 0 && done >= progress->total_batches;
    if (progress->terminal) {
        double now = volt_clock_seconds();
        if (progress->drawn && !last && now - progress->last_draw_s < REDRAW_INTERVAL_S) return;
        progress->last_draw_s = now;
        draw(progress, metrics, 0);
    } else if (done % progress->every_n_batches == 0 && !last) {
        /* the last line is volt_progress_end's */
        draw(progress, metrics, 0);
    }
}

void volt_progress_end(volt_progress *progress, volt_metric_values metrics) {
    if (!progress) return;
    draw(progress, metrics, 1);
    progress->drawn = 0;
}

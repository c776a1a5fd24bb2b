/* lib/log/csv_logger.c — metrics.csv as Lightning's CSVLogger writes it.
 *
 * The columns are a sorted array of names (each malloc'd once, never moved); a row keeps
 * its cells sorted the same way, each cell pointing at its column's name, so writing a row
 * is one merge walk over the columns. A save writes <path>.tmp, flushes it to disk (fsync:
 * a node that fails right after the rename must not leave an empty file behind), then
 * renames it over <path>: a reader, or a job killed mid-save, sees the old file or the
 * new one, never half of one. */
#define _POSIX_C_SOURCE 200809L /* fileno, fsync */
#include "log/csv_logger.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct csv_cell {
    const char *name; /* the column's own string */
    double value;
} csv_cell;

typedef struct csv_row {
    long step, epoch;
    int cell_count;
    csv_cell *cells; /* sorted by name */
} csv_row;

struct volt_csv_logger {
    char *path, *tmp_path;
    char **columns; /* sorted */
    int column_count, column_capacity;
    csv_row *rows;
    long row_count, row_capacity;
};

static char *copy_string(const char *text, const char *suffix) {
    size_t text_length = strlen(text), suffix_length = strlen(suffix);
    char *copy = malloc(text_length + suffix_length + 1);
    if (copy) {
        memcpy(copy, text, text_length);
        memcpy(copy + text_length, suffix, suffix_length + 1);
    }
    return copy;
}

static int compare_cells(const void *a, const void *b) {
    return strcmp(((const csv_cell *)a)->name, ((const csv_cell *)b)->name);
}

/* The column's own name string, inserted in order if new (room reserved by the caller). */
static int column_for(volt_csv_logger *logger, const char *name, const char **column) {
    int low = 0, high = logger->column_count;
    while (low < high) {
        int mid = low + (high - low) / 2;
        int order = strcmp(logger->columns[mid], name);
        if (order == 0) {
            *column = logger->columns[mid];
            return VOLT_OK;
        }
        if (order < 0)
            low = mid + 1;
        else
            high = mid;
    }
    char *copy = copy_string(name, "");
    VOLT_CHECK_ALLOC(copy, strlen(name) + 1);
    memmove(&logger->columns[low + 1], &logger->columns[low],
            (size_t)(logger->column_count - low) * sizeof *logger->columns);
    logger->columns[low] = copy;
    logger->column_count++;
    *column = copy;
    return VOLT_OK;
}

/* A name as a CSV field: quoted, with quotes doubled, when it holds a comma, a quote or a
 * line break. */
static void write_name(FILE *file, const char *name) {
    if (!strpbrk(name, ",\"\r\n")) {
        fputs(name, file);
        return;
    }
    fputc('"', file);
    for (const char *c = name; *c; c++) {
        if (*c == '"') fputc('"', file);
        fputc(*c, file);
    }
    fputc('"', file);
}

static void write_rows(const volt_csv_logger *logger, FILE *file) {
    fputs("step,epoch", file);
    for (int c = 0; c < logger->column_count; c++) {
        fputc(',', file);
        write_name(file, logger->columns[c]);
    }
    fputc('\n', file);
    for (long r = 0; r < logger->row_count; r++) {
        const csv_row *row = &logger->rows[r];
        fprintf(file, "%ld,%ld", row->step, row->epoch);
        int cell = 0;
        for (int c = 0; c < logger->column_count; c++) {
            fputc(',', file);
            if (cell < row->cell_count && row->cells[cell].name == logger->columns[c])
                fprintf(file, "%.9g", row->cells[cell++].value);
        }
        fputc('\n', file);
    }
}

int volt_csv_logger_create(const char *path, volt_csv_logger **out) {
    VOLT_CHECK_ARG(out);
    *out = NULL;
    if (!path || !path[0]) return VOLT_ERROR(VOLT_ERR_ARG, "metrics file path is empty");
    volt_csv_logger *logger = calloc(1, sizeof *logger);
    VOLT_CHECK_ALLOC(logger, sizeof *logger);
    logger->path = copy_string(path, "");
    logger->tmp_path = copy_string(path, ".tmp");
    if (!logger->path || !logger->tmp_path) {
        volt_csv_logger_destroy(logger);
        return VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory copying the path %s", path);
    }
    *out = logger;
    return VOLT_OK;
}

void volt_csv_logger_destroy(volt_csv_logger *logger) {
    if (!logger) return;
    for (long r = 0; r < logger->row_count; r++) free(logger->rows[r].cells);
    for (int c = 0; c < logger->column_count; c++) free(logger->columns[c]);
    free(logger->rows);
    free(logger->columns);
    free(logger->path);
    free(logger->tmp_path);
    free(logger);
}

int volt_csv_logger_add(volt_csv_logger *logger, long step, long epoch, volt_metric_values values) {
    VOLT_CHECK_ARG(logger);
    VOLT_CHECK_ARG(values.count >= 0);
    if (values.count == 0) return VOLT_OK;
    VOLT_CHECK_ARG(values.names && values.values);
    for (int i = 0; i < values.count; i++) {
        const char *name = values.names[i];
        if (!name || !name[0])
            return VOLT_ERROR(VOLT_ERR_ARG, "metric %d of the row at step %ld has no name", i,
                              step);
        if (strcmp(name, "step") == 0 || strcmp(name, "epoch") == 0)
            return VOLT_ERROR(VOLT_ERR_ARG,
                              "metric '%s' at step %ld would be a second '%s' column of %s", name,
                              step, name, logger->path);
    }

    size_t cells_bytes = (size_t)values.count * sizeof(csv_cell);
    csv_cell *cells = malloc(cells_bytes);
    VOLT_CHECK_ALLOC(cells, cells_bytes);
    for (int i = 0; i < values.count; i++) cells[i] = (csv_cell){values.names[i], values.values[i]};
    qsort(cells, (size_t)values.count, sizeof *cells, compare_cells);
    for (int i = 1; i < values.count; i++) {
        if (strcmp(cells[i - 1].name, cells[i].name) == 0) {
            int status =
                VOLT_ERROR(VOLT_ERR_ARG, "metric '%s' appears twice in the row at step %ld",
                           cells[i].name, step);
            free(cells);
            return status;
        }
    }

    /* room for the row and every column it may add, before adding any */
    int status = VOLT_OK;
    if (logger->row_count == logger->row_capacity) {
        long capacity = logger->row_capacity ? 2 * logger->row_capacity : 64;
        csv_row *rows = realloc(logger->rows, (size_t)capacity * sizeof *rows);
        if (rows) {
            logger->rows = rows;
            logger->row_capacity = capacity;
        } else {
            status = VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory growing %s to %ld rows",
                                logger->path, capacity);
        }
    }
    if (status == VOLT_OK && logger->column_count + values.count > logger->column_capacity) {
        int capacity = logger->column_capacity ? logger->column_capacity : 16;
        while (capacity < logger->column_count + values.count) capacity *= 2;
        char **columns = realloc(logger->columns, (size_t)capacity * sizeof *columns);
        if (columns) {
            logger->columns = columns;
            logger->column_capacity = capacity;
        } else {
            status = VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory growing %s to %d columns",
                                logger->path, capacity);
        }
    }
    for (int i = 0; status == VOLT_OK && i < values.count; i++)
        status = column_for(logger, cells[i].name, &cells[i].name);
    if (status != VOLT_OK) {
        free(cells);
        return status;
    }
    logger->rows[logger->row_count++] = (csv_row){step, epoch, values.count, cells};
    return VOLT_OK;
}

int volt_csv_logger_save(volt_csv_logger *logger) {
    VOLT_CHECK_ARG(logger);
    FILE *file = fopen(logger->tmp_path, "w");
    if (!file)
        return VOLT_ERROR(VOLT_ERR_IO, "cannot write metrics file %s: cannot create %s: %s",
                          logger->path, logger->tmp_path, strerror(errno));
    write_rows(logger, file);
    int failed = ferror(file) || fflush(file) != 0 || fsync(fileno(file)) != 0;
    int saved_errno = errno;
    if (fclose(file) != 0 && !failed) {
        failed = 1;
        saved_errno = errno;
    }
    if (failed) {
        remove(logger->tmp_path);
        return VOLT_ERROR(VOLT_ERR_IO, "cannot write metrics file %s: writing %s failed: %s",
                          logger->path, logger->tmp_path, strerror(saved_errno));
    }
    if (rename(logger->tmp_path, logger->path) != 0) {
        saved_errno = errno;
        remove(logger->tmp_path);
        return VOLT_ERROR(VOLT_ERR_IO, "cannot write metrics file %s: renaming %s to it failed: %s",
                          logger->path, logger->tmp_path, strerror(saved_errno));
    }
    return VOLT_OK;
}

long volt_csv_logger_rows(const volt_csv_logger *logger) { return logger ? logger->row_count : 0; }

/* tests/unit/test_log.c — the logging layer: the metric store's reductions, names and
 * bad inputs (with the message a user sees), metrics.csv byte for byte as it grows, and
 * the progress bar's text in terminal and batch-job modes. Files live in a fresh mkdtemp
 * directory per test, removed at its end. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, open_memstream */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "log/csv_logger.h"
#include "log/metrics.h"
#include "log/progress.h"
#include "volt_test.h"

/* ---- fixtures -------------------------------------------------------------------------- */

static volt_metrics *metrics_new(void) {
    volt_metrics *metrics = NULL;
    VOLT_EXPECT_OK(volt_metrics_create(&metrics));
    return metrics;
}

/* Checks that values holds exactly these names, in this order, with these values. */
static void expect_values(const char *file, int line, volt_metric_values values, int count,
                          const char *const *names, const double *expected) {
    if (values.count != count) {
        volt_test_fail(file, line, "expected %d metrics, got %d", count, values.count);
        for (int i = 0; i < values.count; i++)
            fprintf(stderr, "    got %s = %.17g\n", values.names[i], values.values[i]);
        return;
    }
    for (int i = 0; i < count; i++) {
        if (strcmp(values.names[i], names[i]) != 0)
            volt_test_fail(file, line, "metric %d: name \"%s\", expected \"%s\"", i,
                           values.names[i], names[i]);
        else if (!(fabs(values.values[i] - expected[i]) <= 1e-12 * fmax(1, fabs(expected[i]))))
            volt_test_fail(file, line, "metric %s: %.17g, expected %.17g", names[i],
                           values.values[i], expected[i]);
    }
}
#define EXPECT_VALUES(values, count, names, expected)                                              \
    expect_values(__FILE__, __LINE__, (values), (count), (names), (expected))

typedef struct temp_dir {
    char path[64];
    int ok;
} temp_dir;

static temp_dir temp_dir_create(void) {
    temp_dir dir;
    dir.ok = volt_test_make_temp_dir(dir.path, sizeof dir.path, "log");
    return dir;
}

/* Removes the directory, failing the test if anything but expected_file was left in it. */
static void temp_dir_remove(const temp_dir *dir, const char *expected_file) {
    if (!dir->ok) return;
    DIR *listing = opendir(dir->path);
    if (listing) {
        struct dirent *entry;
        while ((entry = readdir(listing))) {
            if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
            if (!expected_file || strcmp(entry->d_name, expected_file) != 0)
                volt_test_fail(__FILE__, __LINE__, "unexpected file %s left in %s", entry->d_name,
                               dir->path);
            char path[512];
            snprintf(path, sizeof path, "%s/%s", dir->path, entry->d_name);
            remove(path);
        }
        closedir(listing);
    }
    if (rmdir(dir->path) != 0) volt_test_fail(__FILE__, __LINE__, "rmdir %s failed", dir->path);
}

/* The whole file as a malloc'd string ("" if it cannot be read, after failing the test). */
static char *read_text(const char *path) {
    FILE *file = fopen(path, "r");
    char *text = NULL;
    size_t size = 0;
    FILE *copy = open_memstream(&text, &size);
    if (!file) volt_test_fail(__FILE__, __LINE__, "cannot open %s", path);
    for (int c; file && (c = fgetc(file)) != EOF;) fputc(c, copy);
    if (file) fclose(file);
    fclose(copy);
    return text;
}

static void expect_text(const char *file, int line, const char *got, const char *expected) {
    if (strcmp(got, expected) != 0)
        volt_test_fail(file, line, "text differs\n--- got:\n%s--- expected:\n%s---", got, expected);
}
#define EXPECT_TEXT(got, expected) expect_text(__FILE__, __LINE__, (got), (expected))

static void expect_prefix(const char *file, int line, const char *text, const char *prefix) {
    if (!text || strncmp(text, prefix, strlen(prefix)) != 0)
        volt_test_fail(file, line, "expected \"%s\" to start with \"%s\"", text ? text : "(null)",
                       prefix);
}
#define EXPECT_PREFIX(text, prefix) expect_prefix(__FILE__, __LINE__, (text), (prefix))

static int count_char(const char *text, char c) {
    int count = 0;
    for (; *text; text++) count += *text == c;
    return count;
}

/* ---- the metric store ------------------------------------------------------------------ */

/* Batches of 32, 32 and a last one of 5: the epoch mean weighs each batch's mean by its
 * size, (0.9*32 + 0.7*32 + 0.2*5) / 69 = 52.2 / 69, not the mean of the three (0.6). */
VOLT_TEST(epoch_mean_is_weighted_by_batch_size) {
    volt_metrics *metrics = metrics_new();
    VOLT_EXPECT_OK(volt_metrics_log(metrics, "train/loss", 0.9, 32, VOLT_LOG_EPOCH));
    VOLT_EXPECT_OK(volt_metrics_log(metrics, "train/loss", 0.7, 32, VOLT_LOG_EPOCH));
    VOLT_EXPECT_OK(volt_metrics_log(metrics, "train/loss", 0.2, 5, VOLT_LOG_EPOCH));
    VOLT_EXPECT_EQ_INT(volt_metrics_take_step(metrics).count, 0); /* EPOCH only */
    volt_metric_values epoch = volt_metrics_take_epoch(metrics, "");
    VOLT_EXPECT_EQ_INT(epoch.count, 1);
    if (epoch.count == 1) {
        VOLT_EXPECT(strcmp(epoch.names[0], "train/loss") == 0);
        VOLT_EXPECT_NEAR(epoch.values[0], 52.2 / 69.0, 1e-15);
    }
    /* the accumulator is cleared: the next epoch starts afresh */
    VOLT_EXPECT_EQ_INT(volt_metrics_take_epoch(metrics, "").count, 0);
    VOLT_EXPECT_OK(volt_metrics_log(metrics, "train/loss", 4.0, 7, VOLT_LOG_EPOCH));
    epoch = volt_metrics_take_epoch(metrics, "");
    VOLT_EXPECT_EQ_INT(epoch.count, 1);
    if (epoch.count == 1) VOLT_EXPECT_NEAR(epoch.values[0], 4.0, 0);
    volt_metrics_destroy(metrics);
}

/* SUM adds the values (not weighted, as Lightning's reduce_fx="sum"); MIN and MAX. */
VOLT_TEST(epoch_sum_min_max) {
    volt_metrics *metrics = metrics_new();
    const double values[] = {3.0, -1.5, 7.25, 2.0};
    const double weights[] = {32, 32, 32, 5};
    for (int i = 0; i < 4; i++) {
        VOLT_EXPECT_OK(volt_metrics_log(metrics, "count", values[i], weights[i],
                                        VOLT_LOG_EPOCH | VOLT_LOG_SUM));
        VOLT_EXPECT_OK(
            volt_metrics_log(metrics, "low", values[i], weights[i], VOLT_LOG_EPOCH | VOLT_LOG_MIN));
        VOLT_EXPECT_OK(volt_metrics_log(metrics, "high", values[i], weights[i],
                                        VOLT_LOG_EPOCH | VOLT_LOG_MAX));
    }
    const char *names[] = {"count", "high", "low"};
    const double expected[] = {3.0 - 1.5 + 7.25 + 2.0, 7.25, -1.5};
    EXPECT_VALUES(volt_metrics_take_epoch(metrics, ""), 3, names, expected);
    volt_metrics_destroy(metrics);
}

/* Lightning's names: with STEP and EPOCH, "<name>_step" each step and "<name>_epoch" at
 * the end; with one of them (or neither: STEP), the name itself. */
VOLT_TEST(step_and_epoch_names) {
    volt_metrics *metrics = metrics_new();
    VOLT_EXPECT_OK(volt_metrics_log(metrics, "loss", 2.0, 4, VOLT_LOG_STEP | VOLT_LOG_EPOCH));
    VOLT_EXPECT_OK(volt_metrics_log(metrics, "lr", 0.1, 4, 0));
    VOLT_EXPECT_OK(volt_metrics_log(metrics, "acc", 0.5, 4, VOLT_LOG_EPOCH));
    {
        const char *names[] = {"loss_step", "lr"};
        const double expected[] = {2.0, 0.1};
        EXPECT_VALUES(volt_metrics_take_step(metrics), 2, names, expected);
    }
    VOLT_EXPECT_OK(volt_metrics_log(metrics, "loss", 1.0, 12, VOLT_LOG_STEP | VOLT_LOG_EPOCH));
    VOLT_EXPECT_OK(volt_metrics_log(metrics, "acc", 0.75, 12, VOLT_LOG_EPOCH));
    {
        const char *names[] = {"loss_step"};
        const double expected[] = {1.0};
        EXPECT_VALUES(volt_metrics_take_step(metrics), 1, names, expected);
    }
    /* taken steps are cleared */
    VOLT_EXPECT_EQ_INT(volt_metrics_take_step(metrics).count, 0);
    {
        const char *names[] = {"acc", "loss_epoch"};
        const double expected[] = {(0.5 * 4 + 0.75 * 12) / 16, (2.0 * 4 + 1.0 * 12) / 16};
        EXPECT_VALUES(volt_metrics_take_epoch(metrics, ""), 2, names, expected);
    }
    /* latest values by produced name; the logged name itself was never produced */
    double value = -1;
    VOLT_EXPECT_EQ_INT(volt_metrics_latest(metrics, "loss_step", &value), 1);
    VOLT_EXPECT_NEAR(value, 1.0, 0);
    VOLT_EXPECT_EQ_INT(volt_metrics_latest(metrics, "loss_epoch", &value), 1);
    VOLT_EXPECT_NEAR(value, 1.25, 0);
    VOLT_EXPECT_EQ_INT(volt_metrics_latest(metrics, "loss", &value), 0);
    VOLT_EXPECT_EQ_INT(volt_metrics_latest(metrics, "never", &value), 0);
    volt_metrics_destroy(metrics);
}

/* Outputs are sorted by name whatever the logging order; a name logged twice in one step
 * keeps the last value. */
VOLT_TEST(step_values_sorted_and_last_wins) {
    volt_metrics *metrics = metrics_new();
    VOLT_EXPECT_OK(volt_metrics_log(metrics, "c", 3, 1, VOLT_LOG_STEP));
    VOLT_EXPECT_OK(volt_metrics_log(metrics, "a", 1, 1, VOLT_LOG_STEP));
    VOLT_EXPECT_OK(volt_metrics_log(metrics, "b", 2, 1, VOLT_LOG_STEP));
    VOLT_EXPECT_OK(volt_metrics_log(metrics, "a", 10, 1, VOLT_LOG_STEP));
    const char *names[] = {"a", "b", "c"};
    const double expected[] = {10, 2, 3};
    EXPECT_VALUES(volt_metrics_take_step(metrics), 3, names, expected);
    volt_metrics_destroy(metrics);
}

/* take_epoch("val/") aggregates and clears only the validation metrics; the training
 * accumulators keep going until their own take. */
VOLT_TEST(take_epoch_selects_by_prefix) {
    volt_metrics *metrics = metrics_new();
    VOLT_EXPECT_OK(volt_metrics_log(metrics, "train/loss", 1.0, 2, VOLT_LOG_EPOCH));
    VOLT_EXPECT_OK(volt_metrics_log(metrics, "val/loss", 5.0, 2, VOLT_LOG_EPOCH));
    VOLT_EXPECT_OK(volt_metrics_log(metrics, "val/acc", 0.5, 2, VOLT_LOG_EPOCH));
    VOLT_EXPECT_OK(volt_metrics_log(metrics, "val/loss", 3.0, 2, VOLT_LOG_EPOCH));
    {
        const char *names[] = {"val/acc", "val/loss"};
        const double expected[] = {0.5, 4.0};
        EXPECT_VALUES(volt_metrics_take_epoch(metrics, "val/"), 2, names, expected);
    }
    VOLT_EXPECT_EQ_INT(volt_metrics_take_epoch(metrics, "val/").count, 0);
    VOLT_EXPECT_OK(volt_metrics_log(metrics, "train/loss", 3.0, 6, VOLT_LOG_EPOCH));
    {
        const char *names[] = {"train/loss"};
        const double expected[] = {(1.0 * 2 + 3.0 * 6) / 8};
        EXPECT_VALUES(volt_metrics_take_epoch(metrics, "train/"), 1, names, expected);
    }
    VOLT_EXPECT_EQ_INT(volt_metrics_take_epoch(metrics, "").count, 0);
    volt_metrics_destroy(metrics);
}

/* The progress bar shows the PROG_BAR metrics' latest produced values, both the _step and
 * the _epoch one of a STEP|EPOCH metric; all_latest lists every produced name, sorted. */
VOLT_TEST(prog_bar_and_latest_values) {
    volt_metrics *metrics = metrics_new();
    const int both = VOLT_LOG_STEP | VOLT_LOG_EPOCH;
    VOLT_EXPECT_OK(volt_metrics_log(metrics, "train/loss", 0.8, 8, both | VOLT_LOG_PROG_BAR));
    VOLT_EXPECT_OK(volt_metrics_log(metrics, "train/lr", 0.01, 8, VOLT_LOG_STEP));
    VOLT_EXPECT_OK(volt_metrics_log(metrics, "acc", 0.25, 8, VOLT_LOG_STEP | VOLT_LOG_PROG_BAR));
    /* nothing is produced before a take */
    VOLT_EXPECT_EQ_INT(volt_metrics_prog_bar(metrics).count, 0);
    VOLT_EXPECT_EQ_INT(volt_metrics_all_latest(metrics).count, 0);
    (void)volt_metrics_take_step(metrics);
    VOLT_EXPECT_OK(volt_metrics_log(metrics, "train/loss", 0.4, 8, both | VOLT_LOG_PROG_BAR));
    (void)volt_metrics_take_step(metrics);
    {
        const char *names[] = {"acc", "train/loss_step"};
        const double expected[] = {0.25, 0.4};
        EXPECT_VALUES(volt_metrics_prog_bar(metrics), 2, names, expected);
    }
    (void)volt_metrics_take_epoch(metrics, "train/");
    {
        const char *names[] = {"acc", "train/loss_epoch", "train/loss_step"};
        const double expected[] = {0.25, 0.6, 0.4};
        EXPECT_VALUES(volt_metrics_prog_bar(metrics), 3, names, expected);
    }
    {
        const char *names[] = {"acc", "train/loss_epoch", "train/loss_step", "train/lr"};
        const double expected[] = {0.25, 0.6, 0.4, 0.01};
        EXPECT_VALUES(volt_metrics_all_latest(metrics), 4, names, expected);
    }
    volt_metrics_destroy(metrics);
}

/* Every bad input fails with VOLT_ERR_ARG naming the metric, and leaves the store as it
 * was: the epoch's mean below counts only the accepted value. */
VOLT_TEST(bad_metric_inputs_name_the_metric) {
    volt_metrics *metrics = metrics_new();
    VOLT_EXPECT_OK(volt_metrics_log(metrics, "loss", 2.0, 4, VOLT_LOG_EPOCH));

    VOLT_EXPECT_EQ_INT(volt_metrics_log(metrics, "", 1, 1, 0), VOLT_ERR_ARG);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "metric name is empty");
    volt_error_clear();
    VOLT_EXPECT_EQ_INT(volt_metrics_log(metrics, NULL, 1, 1, 0), VOLT_ERR_ARG);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "metric name is empty");
    volt_error_clear();

    VOLT_EXPECT_EQ_INT(volt_metrics_log(metrics, "loss", 1, 4, VOLT_LOG_STEP | VOLT_LOG_EPOCH),
                       VOLT_ERR_ARG);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(),
                             "metric 'loss' logged with flags STEP|EPOCH|MEAN, but earlier in "
                             "this epoch with EPOCH|MEAN");
    volt_error_clear();
    VOLT_EXPECT_EQ_INT(volt_metrics_log(metrics, "loss", 1, 4, VOLT_LOG_EPOCH | VOLT_LOG_SUM),
                       VOLT_ERR_ARG);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "with flags EPOCH|SUM, but earlier");
    volt_error_clear();

    VOLT_EXPECT_EQ_INT(
        volt_metrics_log(metrics, "acc", 1, 4, VOLT_LOG_EPOCH | VOLT_LOG_MIN | VOLT_LOG_MAX),
        VOLT_ERR_ARG);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "metric 'acc': two reductions (EPOCH|MIN|MAX)");
    volt_error_clear();
    VOLT_EXPECT_EQ_INT(volt_metrics_log(metrics, "acc", 1, 4, 1 << 9), VOLT_ERR_ARG);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "metric 'acc': unknown flags 0x200");
    volt_error_clear();

    const double bad_weights[] = {0.0, -32.0, NAN, INFINITY};
    const char *texts[] = {"weight 0 must", "weight -32 must", "weight nan must",
                           "weight inf must"};
    for (int i = 0; i < 4; i++) {
        VOLT_EXPECT_EQ_INT(volt_metrics_log(metrics, "loss", 1, bad_weights[i], VOLT_LOG_EPOCH),
                           VOLT_ERR_ARG);
        VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "metric 'loss': ");
        VOLT_EXPECT_STR_CONTAINS(volt_error_message(), texts[i]);
        VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "be finite and > 0");
        volt_error_clear();
    }

    /* one produced name from two metrics at once */
    VOLT_EXPECT_OK(volt_metrics_log(metrics, "acc_step", 1, 4, VOLT_LOG_STEP));
    VOLT_EXPECT_EQ_INT(volt_metrics_log(metrics, "acc", 1, 4, VOLT_LOG_STEP | VOLT_LOG_EPOCH),
                       VOLT_ERR_ARG);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(),
                             "metric 'acc' (STEP|EPOCH|MEAN) would produce 'acc_step', which "
                             "metric 'acc_step' (STEP) already produces");
    volt_error_clear();

    const char *names[] = {"loss"};
    const double expected[] = {2.0};
    EXPECT_VALUES(volt_metrics_take_epoch(metrics, ""), 1, names, expected);
    /* a new epoch may use other flags */
    VOLT_EXPECT_OK(volt_metrics_log(metrics, "loss", 1, 4, VOLT_LOG_STEP | VOLT_LOG_EPOCH));
    volt_metrics_destroy(metrics);
}

/* ---- metrics.csv ----------------------------------------------------------------------- */

static volt_metric_values row_of(int count, const char *const *names, const double *values) {
    return (volt_metric_values){count, names, values};
}

/* A validation metric that first appears at step 3 grows the header; the earlier rows get
 * empty cells for it. Names with a comma or a quote are quoted; %.9g values. */
VOLT_TEST(csv_file_grows_with_late_metric) {
    temp_dir dir = temp_dir_create();
    char path[128], tmp_path[160];
    snprintf(path, sizeof path, "%s/metrics.csv", dir.path);
    snprintf(tmp_path, sizeof tmp_path, "%s.tmp", path);
    volt_csv_logger *logger = NULL;
    VOLT_EXPECT_OK(volt_csv_logger_create(path, &logger));

    const char *train[] = {"train/loss"};
    const double step0[] = {0.5}, step1[] = {1.0 / 3};
    VOLT_EXPECT_OK(volt_csv_logger_add(logger, 0, 0, row_of(1, train, step0)));
    VOLT_EXPECT_OK(volt_csv_logger_add(logger, 1, 0, row_of(1, train, step1)));
    VOLT_EXPECT_OK(volt_csv_logger_add(logger, 2, 0, row_of(0, NULL, NULL))); /* no row */
    VOLT_EXPECT_EQ_INT(volt_csv_logger_rows(logger), 2);
    VOLT_EXPECT_OK(volt_csv_logger_save(logger));
    char *text = read_text(path);
    EXPECT_TEXT(text, "step,epoch,train/loss\n"
                      "0,0,0.5\n"
                      "1,0,0.333333333\n");
    free(text);
    VOLT_EXPECT(access(tmp_path, F_OK) != 0 && errno == ENOENT);

    /* unsorted input; a f32 value prints so that it reads back exactly */
    const char *val[] = {"val/loss", "a,b", "val/acc", "q\"x"};
    const double val_values[] = {0.25, 2, (double)0.1f, -1e-12};
    VOLT_EXPECT_OK(volt_csv_logger_add(logger, 3, 0, row_of(4, val, val_values)));
    const double step4[] = {0.125};
    VOLT_EXPECT_OK(volt_csv_logger_add(logger, 4, 1, row_of(1, train, step4)));
    VOLT_EXPECT_EQ_INT(volt_csv_logger_rows(logger), 4);
    VOLT_EXPECT_OK(volt_csv_logger_save(logger));
    text = read_text(path);
    EXPECT_TEXT(text, "step,epoch,\"a,b\",\"q\"\"x\",train/loss,val/acc,val/loss\n"
                      "0,0,,,0.5,,\n"
                      "1,0,,,0.333333333,,\n"
                      "3,0,2,-1e-12,,0.100000001,0.25\n"
                      "4,1,,,0.125,,\n");
    free(text);
    VOLT_EXPECT(access(tmp_path, F_OK) != 0 && errno == ENOENT);
    volt_csv_logger_destroy(logger);
    temp_dir_remove(&dir, "metrics.csv");
}

VOLT_TEST(csv_save_into_missing_directory_fails) {
    temp_dir dir = temp_dir_create();
    char path[128];
    snprintf(path, sizeof path, "%s/no-such-dir/metrics.csv", dir.path);
    volt_csv_logger *logger = NULL;
    VOLT_EXPECT_OK(volt_csv_logger_create(path, &logger));
    const char *names[] = {"loss"};
    const double values[] = {1};
    VOLT_EXPECT_OK(volt_csv_logger_add(logger, 0, 0, row_of(1, names, values)));
    VOLT_EXPECT_EQ_INT(volt_csv_logger_save(logger), VOLT_ERR_IO);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "cannot write metrics file ");
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), path);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "No such file or directory");
    volt_error_clear();
    volt_csv_logger_destroy(logger);
    temp_dir_remove(&dir, NULL);
}

/* A metric named like a fixed column, a name twice in a row, an empty name or path. */
VOLT_TEST(csv_bad_rows_rejected) {
    volt_csv_logger *logger = NULL;
    VOLT_EXPECT_EQ_INT(volt_csv_logger_create("", &logger), VOLT_ERR_ARG);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "metrics file path is empty");
    volt_error_clear();
    VOLT_EXPECT_OK(volt_csv_logger_create("/tmp/never-written.csv", &logger));
    const double values[] = {1, 2};
    const char *step[] = {"loss", "step"};
    VOLT_EXPECT_EQ_INT(volt_csv_logger_add(logger, 7, 0, row_of(2, step, values)), VOLT_ERR_ARG);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(),
                             "metric 'step' at step 7 would be a second 'step' column");
    volt_error_clear();
    const char *twice[] = {"loss", "loss"};
    VOLT_EXPECT_EQ_INT(volt_csv_logger_add(logger, 8, 0, row_of(2, twice, values)), VOLT_ERR_ARG);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(),
                             "metric 'loss' appears twice in the row at step 8");
    volt_error_clear();
    const char *empty[] = {"loss", ""};
    VOLT_EXPECT_EQ_INT(volt_csv_logger_add(logger, 9, 0, row_of(2, empty, values)), VOLT_ERR_ARG);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "metric 1 of the row at step 9 has no name");
    volt_error_clear();
    VOLT_EXPECT_EQ_INT(volt_csv_logger_rows(logger), 0);
    volt_csv_logger_destroy(logger);
}

/* ---- the progress bar ------------------------------------------------------------------ */

typedef struct capture {
    char *text;
    size_t size;
    FILE *file;
} capture;

/* open_memstream keeps the addresses of text and size: the capture must not move. */
static void capture_open(capture *c) {
    *c = (capture){NULL, 0, NULL};
    c->file = open_memstream(&c->text, &c->size);
    if (!c->file) volt_test_fail(__FILE__, __LINE__, "open_memstream failed");
}

/* The ETA or elapsed time after `label` in line: mm:ss (under an hour) or h:mm:ss. */
static void expect_duration_after(const char *file, int line, const char *text, const char *label,
                                  int with_hours) {
    const char *at = strstr(text, label);
    if (!at) {
        volt_test_fail(file, line, "no \"%s\" in \"%s\"", label, text);
        return;
    }
    at += strlen(label);
    int a = -1, b = -1, c = -1, consumed = 0;
    int ok;
    if (with_hours)
        ok = sscanf(at, "%d:%2d:%2d%n", &a, &b, &c, &consumed) == 3 && a >= 1 && b < 60 && c < 60 &&
             consumed >= 7;
    else
        ok = sscanf(at, "%2d:%2d%n", &a, &b, &consumed) == 2 && b < 60 && consumed == 5 &&
             (at[consumed] == ' ' || at[consumed] == '\n' || at[consumed] == '\0') && at[2] == ':';
    if (!ok)
        volt_test_fail(file, line, "\"%s\" is not followed by a %s duration in \"%s\"", label,
                       with_hours ? "h:mm:ss" : "mm:ss", text);
}
#define EXPECT_DURATION_AFTER(text, label, with_hours)                                             \
    expect_duration_after(__FILE__, __LINE__, (text), (label), (with_hours))

/* A batch job's log: a plain line at batches 4 and 8 of 10 and one at the end, with the
 * metrics at 4 significant digits and never a carriage return. */
VOLT_TEST(progress_plain_lines_every_n_batches) {
    capture out;
    capture_open(&out);
    volt_progress *progress = NULL;
    VOLT_EXPECT_OK(volt_progress_create(out.file, 0, 4, &progress));
    const char *names[] = {"train/loss", "train/lr"};
    double values[] = {0.41234567, 3e-4};
    volt_progress_start(progress, "Epoch 1", 10);
    for (long done = 1; done <= 10; done++) {
        values[0] = done == 8 ? 0.5 : 0.41234567;
        volt_progress_update(progress, done, (volt_metric_values){2, names, values});
    }
    const char *epoch_names[] = {"train/loss_epoch"};
    const double epoch_values[] = {123456.789};
    volt_progress_end(progress, (volt_metric_values){1, epoch_names, epoch_values});
    volt_progress_destroy(progress);
    fclose(out.file);

    VOLT_EXPECT_EQ_INT(count_char(out.text, '\r'), 0);
    VOLT_EXPECT_EQ_INT(count_char(out.text, '\n'), 3);
    char *lines[3] = {NULL, NULL, NULL};
    char *rest = out.text;
    for (int i = 0; i < 3 && rest; i++) {
        lines[i] = rest;
        char *end = strchr(rest, '\n');
        if (end) *end = '\0';
        rest = end ? end + 1 : NULL;
    }
    if (lines[2]) {
        EXPECT_PREFIX(lines[0], "Epoch 1: 4/10 (40%) ");
        VOLT_EXPECT_STR_CONTAINS(lines[0], " it/s ETA ");
        EXPECT_DURATION_AFTER(lines[0], " ETA ", 0);
        VOLT_EXPECT_STR_CONTAINS(lines[0], " train/loss=0.4123 train/lr=0.0003");
        EXPECT_PREFIX(lines[1], "Epoch 1: 8/10 (80%) ");
        VOLT_EXPECT_STR_CONTAINS(lines[1], " train/loss=0.5 train/lr=0.0003");
        EXPECT_PREFIX(lines[2], "Epoch 1: 10/10 (100%) ");
        EXPECT_DURATION_AFTER(lines[2], " elapsed ", 0);
        VOLT_EXPECT_STR_CONTAINS(lines[2], " train/loss_epoch=1.235e+05");
        VOLT_EXPECT(strstr(lines[2], "ETA") == NULL);
    }
    if (volt_error_depth()) volt_error_print(stderr);
    free(out.text);
}

/* On a terminal: each draw starts with '\r' and shows the bar; done == total is drawn
 * whatever the throttle says; the end adds the newline. */
VOLT_TEST(progress_terminal_redraws_one_line) {
    capture out;
    capture_open(&out);
    volt_progress *progress = NULL;
    VOLT_EXPECT_OK(volt_progress_create(out.file, 1, 1000, &progress));
    const char *names[] = {"loss"};
    const double values[] = {2.0 / 3};
    volt_progress_start(progress, "Validation", 3);
    for (long done = 1; done <= 3; done++)
        volt_progress_update(progress, done, (volt_metric_values){1, names, values});
    volt_progress_end(progress, (volt_metric_values){1, names, values});
    volt_progress_destroy(progress);
    fclose(out.file);

    /* 1/3: round(20 / 3) = 7 cells done, then the head */
    EXPECT_PREFIX(out.text, "\rValidation: 1/3 [=======>            ] ");
    VOLT_EXPECT_STR_CONTAINS(out.text, "\rValidation: 3/3 [====================] ");
    VOLT_EXPECT_STR_CONTAINS(out.text, " loss=0.6667");
    EXPECT_DURATION_AFTER(out.text, " ETA ", 0);
    EXPECT_DURATION_AFTER(out.text, " elapsed ", 0);
    VOLT_EXPECT_EQ_INT(count_char(out.text, '\n'), 1);
    VOLT_EXPECT(out.size > 0 && out.text[out.size - 1] == '\n');
    free(out.text);
}

/* Many fast updates draw at most 10 times a second (plus the first and the last), and a
 * shorter redraw pads with spaces over the longer line before it. */
VOLT_TEST(progress_terminal_throttles_to_10_hz) {
    capture out;
    capture_open(&out);
    volt_progress *progress = NULL;
    VOLT_EXPECT_OK(volt_progress_create(out.file, 1, 1, &progress));
    const long total = 20000;
    const char *names[] = {"a_rather_long_metric_name"};
    const double values[] = {1};
    double start = volt_clock_seconds();
    volt_progress_start(progress, "Epoch 0", total);
    for (long done = 1; done <= total; done++)
        volt_progress_update(progress, done,
                             (volt_metric_values){done == 1 ? 1 : 0, names, values});
    double elapsed = volt_clock_seconds() - start;
    volt_progress_destroy(progress);
    fclose(out.file);

    int draws = count_char(out.text, '\r');
    int allowed = 2 + (int)(elapsed * 10) + 1;
    if (draws > allowed || draws < 2)
        volt_test_fail(__FILE__, __LINE__, "%d draws in %.3f s, expected 2..%d", draws, elapsed,
                       allowed);
    VOLT_EXPECT_STR_CONTAINS(out.text, "\rEpoch 0: 20000/20000 [====================] ");
    /* the last draw, without the metric, ends in the spaces that wipe it */
    const char *last = strrchr(out.text, '\r');
    VOLT_EXPECT(last && strstr(last, "a_rather_long") == NULL);
    const char *first_end = strchr(out.text + 1, '\r');
    if (last && first_end) {
        size_t first_length = (size_t)(first_end - out.text), last_length = strlen(last);
        VOLT_EXPECT(last_length >= first_length);
        VOLT_EXPECT(last[last_length - 1] == ' ');
    }
    free(out.text);
}

/* A long phase's ETA reads h:mm:ss; an unknown total shows "n/?" and no ETA. */
VOLT_TEST(progress_long_eta_and_unknown_total) {
    capture out;
    capture_open(&out);
    volt_progress *progress = NULL;
    VOLT_EXPECT_OK(volt_progress_create(out.file, 0, 1, &progress));
    volt_progress_start(progress, "Epoch 0", 20000000L);
    /* about 1000 it/s: 2e7 batches take hours */
    double start = volt_clock_seconds();
    while (volt_clock_seconds() - start < 0.002) {
    }
    volt_progress_update(progress, 2, (volt_metric_values){0, NULL, NULL});
    volt_progress_start(progress, "Testing", 0);
    volt_progress_update(progress, 5, (volt_metric_values){0, NULL, NULL});
    volt_progress_end(progress, (volt_metric_values){0, NULL, NULL});
    volt_progress_destroy(progress);
    fclose(out.file);

    EXPECT_PREFIX(out.text, "Epoch 0: 2/20000000 (0%) ");
    EXPECT_DURATION_AFTER(out.text, " ETA ", 1);
    VOLT_EXPECT_STR_CONTAINS(out.text, "\nTesting: 5/? ");
    const char *testing = strstr(out.text, "\nTesting");
    VOLT_EXPECT(testing && strstr(testing, "ETA") == NULL);
    VOLT_EXPECT_EQ_INT(count_char(out.text, '\n'), 3);
    free(out.text);
}

VOLT_TEST(progress_bad_arguments) {
    volt_progress *progress = NULL;
    VOLT_EXPECT_EQ_INT(volt_progress_create(stdout, 0, 0, &progress), VOLT_ERR_ARG);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "every_n_batches is 0; expected >= 1");
    volt_error_clear();
    VOLT_EXPECT_EQ_INT(volt_progress_create(stdout, 2, 1, &progress), VOLT_ERR_ARG);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "terminal is 2");
    volt_error_clear();
    VOLT_EXPECT(progress == NULL);
    /* a NULL progress (ranks other than 0) does nothing */
    volt_progress_start(NULL, "Epoch 0", 1);
    volt_progress_update(NULL, 1, (volt_metric_values){0, NULL, NULL});
    volt_progress_end(NULL, (volt_metric_values){0, NULL, NULL});
    volt_progress_destroy(NULL);
}

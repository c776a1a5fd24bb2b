/* tests/unit/test_data.c — the data layer: the HDF5 layout reader (values, normalisation, byte
 * tokens, order and repeats, every bad input with its message), the epoch order, batching, the
 * prefetch thread (same batches as without it, clean shutdown mid-epoch, errors carried
 * to the caller), resuming an epoch at a batch, and the HDF5 data module end to end. The HDF5 files
 * are written here with the HDF5 C API into a fresh mkdtemp directory per test, removed at its end.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, opendir, alarm */
#include <dirent.h>
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "autograd/graph.h"
#include "core/config.h"
#include "core/rng.h"
#include "data/datamodule.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "volt_test.h"

/* ---- fixtures: a temporary directory ----------------------------------------------------- */

enum { PATH_BYTES = 256 };

typedef struct temp_dir {
    char path[64];
    int ok;
} temp_dir;

static temp_dir temp_dir_create(void) {
    temp_dir dir;
    dir.ok = volt_test_make_temp_dir(dir.path, sizeof dir.path, "data");
    return dir;
}

static void temp_dir_remove(const temp_dir *dir) {
    if (dir->ok) volt_test_remove_tree(dir->path);
}

static void path_in(const temp_dir *dir, const char *name, char *path) {
    snprintf(path, PATH_BYTES, "%s/%s", dir->path, name);
}

/* No HDF5 object (file, group, dataset, attribute, type, space) may stay open after a call
 * returns, failed calls included. */
static long open_hdf5_objects(void) { return (long)H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL); }

/* A call that must fail with this status and a message containing text; clears the
 * error stack after. */
#define VOLT_EXPECT_FAIL_MESSAGE(expr, status, text)                                               \
    do {                                                                                           \
        int s_ = (expr);                                                                           \
        if (s_ != (status))                                                                        \
            volt_test_fail(__FILE__, __LINE__, "%s returned %s, expected %s", #expr,               \
                           volt_status_name(s_), volt_status_name(status));                        \
        VOLT_EXPECT_STR_CONTAINS(volt_error_message(), (text));                                    \
        volt_error_clear();                                                                        \
    } while (0)

/* ---- fixtures: writing HDF5 with the C API ------------------------------------------------ */

#define H5_OK(call)                                                                                \
    do {                                                                                           \
        if ((call) < 0) volt_test_fail(__FILE__, __LINE__, "HDF5 call failed: %s", #call);         \
    } while (0)

static hid_t h5_create(const char *path) {
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0) volt_test_fail(__FILE__, __LINE__, "cannot create %s", path);
    return file;
}

/* Writes dataset `name` (intermediate groups made as needed) of file_type from data in
 * memory_type. */
static void h5_put(hid_t file, const char *name, hid_t file_type, hid_t memory_type, int ndims,
                   const hsize_t *dims, const void *data) {
    hid_t link_properties = H5Pcreate(H5P_LINK_CREATE);
    H5_OK(H5Pset_create_intermediate_group(link_properties, 1));
    hid_t space = H5Screate_simple(ndims, dims, NULL);
    hid_t dataset =
        H5Dcreate2(file, name, file_type, space, link_properties, H5P_DEFAULT, H5P_DEFAULT);
    if (dataset < 0) {
        volt_test_fail(__FILE__, __LINE__, "cannot create dataset %s", name);
    } else {
        H5_OK(H5Dwrite(dataset, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data));
        H5Dclose(dataset);
    }
    H5Sclose(space);
    H5Pclose(link_properties);
}

/* A scalar attribute `name` on the object at `object` ("/" for the root). */
static void h5_attribute(hid_t file, const char *object, const char *name, hid_t file_type,
                         hid_t memory_type, const void *value) {
    hid_t target = H5Oopen(file, object, H5P_DEFAULT);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attribute = H5Acreate2(target, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (attribute < 0) {
        volt_test_fail(__FILE__, __LINE__, "cannot create attribute %s on %s", name, object);
    } else {
        H5_OK(H5Awrite(attribute, memory_type, value));
        H5Aclose(attribute);
    }
    H5Sclose(space);
    H5Oclose(target);
}

static void h5_attribute_f64(hid_t file, const char *object, const char *name, double value) {
    h5_attribute(file, object, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}

static void h5_attribute_i64(hid_t file, const char *object, const char *name, int64_t value) {
    h5_attribute(file, object, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}

/* A string attribute on the root: fixed length, or variable length as h5py writes it. */
static void h5_attribute_string(hid_t file, const char *name, const char *value, int variable) {
    hid_t type = H5Tcopy(H5T_C_S1);
    if (variable) {
        H5_OK(H5Tset_size(type, H5T_VARIABLE));
        h5_attribute(file, "/", name, type, type, &value);
    } else {
        H5_OK(H5Tset_size(type, strlen(value)));
        h5_attribute(file, "/", name, type, type, value);
    }
    H5Tclose(type);
}

/* The data set most tests read ("good.h5"):
 *   format "volt-dataset-1" (variable-length string), num_classes 10
 *   /train x u8 [20, 2, 3] = (37 i + 11 k) mod 256, scale 1/255, mean 0.5, std 0.25;
 *          y u8 [20] = i mod 10
 *   /val   x f32 [7, 4] = i + k / 4 - 3 (no attributes); y i64 [7] = 3 i mod 10
 *   /test  x f32 [5, 4] = 100 + 4 i + k; no y */
enum { TRAIN_N = 20, TRAIN_FEATURES = 6, VAL_N = 7, TEST_N = 5, EVAL_FEATURES = 4 };
static const double TRAIN_SCALE = 1.0 / 255.0, TRAIN_MEAN = 0.5, TRAIN_STD = 0.25;

static uint8_t train_raw(long i, long k) { return (uint8_t)((37 * i + 11 * k) % 256); }
static double train_expected(long i, long k) {
    return ((double)train_raw(i, k) * TRAIN_SCALE - TRAIN_MEAN) / TRAIN_STD;
}
static float val_value(long i, long k) { return (float)i + (float)k / 4.0f - 3.0f; }
static int64_t val_label(long i) { return (3 * i) % 10; }

static void write_good_file(const char *path) {
    hid_t file = h5_create(path);
    h5_attribute_string(file, "format", "volt-dataset-1", 1);
    h5_attribute_i64(file, "/", "num_classes", 10);

    uint8_t train_x[TRAIN_N * TRAIN_FEATURES], train_y[TRAIN_N];
    for (long i = 0; i < TRAIN_N; i++) {
        for (long k = 0; k < TRAIN_FEATURES; k++) train_x[i * TRAIN_FEATURES + k] = train_raw(i, k);
        train_y[i] = (uint8_t)(i % 10);
    }
    const hsize_t train_dims[3] = {TRAIN_N, 2, 3}, train_n = TRAIN_N;
    h5_put(file, "train/x", H5T_STD_U8LE, H5T_NATIVE_UINT8, 3, train_dims, train_x);
    h5_put(file, "train/y", H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, &train_n, train_y);
    h5_attribute_f64(file, "train/x", "scale", TRAIN_SCALE);
    h5_attribute_f64(file, "train/x", "mean", TRAIN_MEAN);
    h5_attribute_f64(file, "train/x", "std", TRAIN_STD);

    float val_x[VAL_N * EVAL_FEATURES];
    int64_t val_y[VAL_N];
    for (long i = 0; i < VAL_N; i++) {
        for (long k = 0; k < EVAL_FEATURES; k++) val_x[i * EVAL_FEATURES + k] = val_value(i, k);
        val_y[i] = val_label(i);
    }
    const hsize_t val_dims[2] = {VAL_N, EVAL_FEATURES}, val_n = VAL_N;
    h5_put(file, "val/x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, val_dims, val_x);
    h5_put(file, "val/y", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &val_n, val_y);

    float test_x[TEST_N * EVAL_FEATURES];
    for (long i = 0; i < TEST_N * EVAL_FEATURES; i++) test_x[i] = 100.0f + (float)i;
    const hsize_t test_dims[2] = {TEST_N, EVAL_FEATURES};
    h5_put(file, "test/x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, test_dims, test_x);
    H5Fclose(file);
}

/* A file whose samples say who they are: /train x f32 [n, 3] = 10 i + k, y i64 = i mod 5,
 * num_classes 5; y[bad_row] = 5 (out of range) when bad_row >= 0. */
enum { ID_FEATURES = 3, ID_CLASSES = 5 };

static void write_id_file(const char *path, long n, long bad_row) {
    hid_t file = h5_create(path);
    h5_attribute_i64(file, "/", "num_classes", ID_CLASSES);
    float *x = malloc((size_t)n * ID_FEATURES * sizeof *x);
    int64_t *y = malloc((size_t)n * sizeof *y);
    for (long i = 0; i < n; i++) {
        for (long k = 0; k < ID_FEATURES; k++) x[i * ID_FEATURES + k] = (float)(10 * i + k);
        y[i] = i == bad_row ? ID_CLASSES : i % ID_CLASSES;
    }
    const hsize_t dims[2] = {(hsize_t)n, ID_FEATURES}, length = (hsize_t)n;
    h5_put(file, "train/x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dims, x);
    h5_put(file, "train/y", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &length, y);
    H5Fclose(file);
    free(x);
    free(y);
}

/* The sample id of a batch row of an id file, checking the row is consistent; -1 if not. */
static long batch_row_id(const volt_batch *batch, long row) {
    const float *x = (const float *)batch->x->data + row * ID_FEATURES;
    const long id = (long)(x[0] / 10.0f);
    int ok =
        x[0] == (float)(10 * id) && x[1] == (float)(10 * id + 1) && x[2] == (float)(10 * id + 2);
    if (batch->y) ok = ok && ((const int64_t *)batch->y->data)[row] == id % ID_CLASSES;
    if (!ok)
        volt_test_fail(__FILE__, __LINE__, "batch %ld row %ld is not a consistent sample (x0 %g)",
                       batch->index, row, (double)x[0]);
    return ok ? id : -1;
}

static volt_graph *new_graph(void) {
    volt_graph_options options = {0};
    volt_graph *graph = NULL;
    VOLT_EXPECT_OK(volt_graph_create(&options, &graph));
    return graph;
}

/* Tests that start prefetch threads arm this: a thread that never stops or a hand-off that
 * waits forever ends the binary (SIGALRM) instead of hanging until CTest's timeout. */
enum { WATCHDOG_SECONDS = 120 };
static void watchdog_arm(void) { alarm(WATCHDOG_SECONDS); }
static void watchdog_disarm(void) { alarm(0); }

/* ---- the dataset reader ------------------------------------------------------------------- */

/* u8 x comes back as ((x * scale) - mean) / std, f32 x without attributes as stored, labels
 * of u8 and i64 files as i64; the shape accessors describe the file. */
VOLT_TEST(dataset_reads_values_and_normalises) {
    temp_dir dir = temp_dir_create();
    char path[PATH_BYTES];
    path_in(&dir, "good.h5", path);
    write_good_file(path);

    volt_dataset *train = NULL;
    VOLT_EXPECT_OK(volt_dataset_open(path, VOLT_SPLIT_TRAIN, &train));
    if (train) {
        VOLT_EXPECT_EQ_INT(volt_dataset_length(train), TRAIN_N);
        VOLT_EXPECT_EQ_INT(volt_dataset_sample_ndim(train), 2);
        VOLT_EXPECT_EQ_INT(volt_dataset_sample_shape(train)[0], 2);
        VOLT_EXPECT_EQ_INT(volt_dataset_sample_shape(train)[1], 3);
        VOLT_EXPECT_EQ_INT(volt_dataset_features(train), TRAIN_FEATURES);
        VOLT_EXPECT(volt_dataset_has_labels(train));
        VOLT_EXPECT_EQ_INT(volt_dataset_num_classes(train), 10);
        VOLT_EXPECT(strcmp(volt_dataset_path(train), path) == 0);

        long indices[TRAIN_N];
        for (long i = 0; i < TRAIN_N; i++) indices[i] = i;
        float x[TRAIN_N * TRAIN_FEATURES];
        int64_t y[TRAIN_N];
        VOLT_EXPECT_OK(volt_dataset_read(train, indices, TRAIN_N, x, y));
        double worst = 0;
        for (long i = 0; i < TRAIN_N; i++) {
            for (long k = 0; k < TRAIN_FEATURES; k++) {
                double diff = fabs(x[i * TRAIN_FEATURES + k] - train_expected(i, k));
                if (diff > worst) worst = diff;
            }
            VOLT_EXPECT_EQ_INT(y[i], i % 10);
        }
        VOLT_EXPECT_NEAR(worst, 0.0, 1e-6);
        /* the extremes: raw 0 -> -2, raw 255 -> 2 */
        VOLT_EXPECT_NEAR(((0 * TRAIN_SCALE) - TRAIN_MEAN) / TRAIN_STD, -2.0, 1e-12);
        volt_dataset_close(train);
    }

    volt_dataset *val = NULL;
    VOLT_EXPECT_OK(volt_dataset_open(path, VOLT_SPLIT_VAL, &val));
    if (val) {
        VOLT_EXPECT_EQ_INT(volt_dataset_length(val), VAL_N);
        VOLT_EXPECT_EQ_INT(volt_dataset_sample_ndim(val), 1);
        VOLT_EXPECT_EQ_INT(volt_dataset_features(val), EVAL_FEATURES);
        long indices[VAL_N];
        for (long i = 0; i < VAL_N; i++) indices[i] = i;
        float x[VAL_N * EVAL_FEATURES];
        int64_t y[VAL_N];
        VOLT_EXPECT_OK(volt_dataset_read(val, indices, VAL_N, x, y));
        int exact = 1;
        for (long i = 0; i < VAL_N; i++) {
            for (long k = 0; k < EVAL_FEATURES; k++)
                exact = exact && x[i * EVAL_FEATURES + k] == val_value(i, k);
            VOLT_EXPECT_EQ_INT(y[i], val_label(i));
        }
        VOLT_EXPECT(exact);
        volt_dataset_close(val);
    }

    volt_dataset *test = NULL;
    VOLT_EXPECT_OK(volt_dataset_open(path, VOLT_SPLIT_TEST, &test));
    if (test) {
        VOLT_EXPECT(!volt_dataset_has_labels(test));
        VOLT_EXPECT_EQ_INT(volt_dataset_num_classes(test), 0);
        const long indices[2] = {4, 0};
        float x[2 * EVAL_FEATURES];
        int64_t y[2] = {-7, -7};
        VOLT_EXPECT_OK(volt_dataset_read(test, indices, 2, x, y));
        VOLT_EXPECT_EQ_INT(x[0], 116);
        VOLT_EXPECT_EQ_INT(x[EVAL_FEATURES], 100);
        VOLT_EXPECT_EQ_INT(y[0], -7); /* no labels: y_out untouched */
        volt_dataset_close(test);
    }

    int has = -1;
    VOLT_EXPECT_OK(volt_dataset_has_split(path, VOLT_SPLIT_VAL, &has));
    VOLT_EXPECT_EQ_INT(has, 1);
    VOLT_EXPECT_OK(volt_dataset_has_split(path, VOLT_SPLIT_PREDICT, &has));
    VOLT_EXPECT_EQ_INT(has, 0);
    VOLT_EXPECT_EQ_INT(open_hdf5_objects(), 0);
    temp_dir_remove(&dir);
}

/* A token file as volt-data text writes it (x u8 [N, T + 1] with scale 1, mean 0, std 1,
 * no y, no num_classes; tokenizer and vocab_size on the root) reads as the byte values
 * themselves: every value 0..255 comes back exactly as f32. Here T = 64 and window k holds
 * stream bytes 64 k .. 64 k + 64 of the stream b_i = i mod 256. */
VOLT_TEST(dataset_reads_byte_tokens_exactly) {
    enum { WINDOWS = 4, BLOCK = 64, WINDOW = BLOCK + 1 };
    temp_dir dir = temp_dir_create();
    char path[PATH_BYTES];
    path_in(&dir, "tokens.h5", path);
    hid_t file = h5_create(path);
    h5_attribute_string(file, "format", "volt-dataset-1", 0);
    h5_attribute_string(file, "tokenizer", "bytes", 0);
    h5_attribute_i64(file, "/", "vocab_size", 256);
    uint8_t tokens[WINDOWS * WINDOW];
    for (long k = 0; k < WINDOWS; k++)
        for (long j = 0; j < WINDOW; j++) tokens[k * WINDOW + j] = (uint8_t)((BLOCK * k + j) % 256);
    const hsize_t dims[2] = {WINDOWS, WINDOW};
    h5_put(file, "train/x", H5T_STD_U8LE, H5T_NATIVE_UINT8, 2, dims, tokens);
    h5_attribute_f64(file, "train/x", "scale", 1.0);
    h5_attribute_f64(file, "train/x", "mean", 0.0);
    h5_attribute_f64(file, "train/x", "std", 1.0);
    H5Fclose(file);

    volt_dataset *train = NULL;
    VOLT_EXPECT_OK(volt_dataset_open(path, VOLT_SPLIT_TRAIN, &train));
    if (train) {
        VOLT_EXPECT_EQ_INT(volt_dataset_length(train), WINDOWS);
        VOLT_EXPECT_EQ_INT(volt_dataset_features(train), WINDOW);
        VOLT_EXPECT(!volt_dataset_has_labels(train));
        VOLT_EXPECT_EQ_INT(volt_dataset_num_classes(train), 0);
        const long indices[WINDOWS] = {3, 1, 0, 2};
        float x[WINDOWS * WINDOW];
        VOLT_EXPECT_OK(volt_dataset_read(train, indices, WINDOWS, x, NULL));
        long mismatches = 0, first_bad = -1;
        for (long r = 0; r < WINDOWS; r++)
            for (long j = 0; j < WINDOW; j++)
                if (x[r * WINDOW + j] != (float)((BLOCK * indices[r] + j) % 256)) {
                    if (first_bad < 0) first_bad = r * WINDOW + j;
                    mismatches++;
                }
        if (mismatches)
            volt_test_fail(__FILE__, __LINE__, "%ld of %d token values differ; first at %ld: %g",
                           mismatches, WINDOWS * WINDOW, first_bad, (double)x[first_bad]);
        volt_dataset_close(train);
    }
    VOLT_EXPECT_EQ_INT(open_hdf5_objects(), 0);
    temp_dir_remove(&dir);
}

/* Indices in any order, with repeats, give each sample's row at its position. */
VOLT_TEST(dataset_reads_any_order_with_repeats) {
    temp_dir dir = temp_dir_create();
    char path[PATH_BYTES];
    path_in(&dir, "good.h5", path);
    write_good_file(path);
    volt_dataset *train = NULL;
    VOLT_EXPECT_OK(volt_dataset_open(path, VOLT_SPLIT_TRAIN, &train));
    if (train) {
        enum { COUNT = 11 };
        const long indices[COUNT] = {17, 3, 3, 0, 19, 4, 5, 6, 17, 12, 3};
        float x[COUNT * TRAIN_FEATURES];
        int64_t y[COUNT];
        VOLT_EXPECT_OK(volt_dataset_read(train, indices, COUNT, x, y));
        double worst = 0;
        for (long i = 0; i < COUNT; i++) {
            for (long k = 0; k < TRAIN_FEATURES; k++) {
                double diff = fabs(x[i * TRAIN_FEATURES + k] - train_expected(indices[i], k));
                if (diff > worst) worst = diff;
            }
            VOLT_EXPECT_EQ_INT(y[i], indices[i] % 10);
        }
        VOLT_EXPECT_NEAR(worst, 0.0, 1e-6);

        /* x only; an empty read */
        const long one = 9;
        float x9[TRAIN_FEATURES];
        VOLT_EXPECT_OK(volt_dataset_read(train, &one, 1, x9, NULL));
        VOLT_EXPECT_NEAR(x9[5], train_expected(9, 5), 1e-6);
        VOLT_EXPECT_OK(volt_dataset_read(train, NULL, 0, NULL, NULL));

        /* an index outside [0, N) */
        const long bad[2] = {1, 20};
        VOLT_EXPECT_FAIL_MESSAGE(volt_dataset_read(train, bad, 2, x, y), VOLT_ERR_ARG,
                                 "sample index 20 (position 1 of the read) is outside [0, 20)");
        volt_dataset_close(train);
    }
    temp_dir_remove(&dir);
}

/* The split read into memory gives the very numbers of the file's reads, in any order; a
 * bad label is found when loading. */
VOLT_TEST(dataset_in_memory_reads_what_the_file_reads) {
    temp_dir dir = temp_dir_create();
    char path[PATH_BYTES], bad_path[PATH_BYTES];
    path_in(&dir, "good.h5", path);
    write_good_file(path);
    volt_dataset *from_file = NULL, *loaded = NULL;
    VOLT_EXPECT_OK(volt_dataset_open(path, VOLT_SPLIT_TRAIN, &from_file));
    VOLT_EXPECT_OK(volt_dataset_open(path, VOLT_SPLIT_TRAIN, &loaded));
    if (from_file && loaded) {
        VOLT_EXPECT_EQ_INT((long)volt_dataset_loaded_bytes(loaded), 0);
        VOLT_EXPECT_OK(volt_dataset_load(loaded));
        VOLT_EXPECT_OK(volt_dataset_load(loaded)); /* idempotent */
        VOLT_EXPECT_EQ_INT((long)volt_dataset_loaded_bytes(loaded), 20 * (TRAIN_FEATURES * 4 + 8));
        enum { COUNT = 9 };
        const long indices[COUNT] = {19, 0, 7, 7, 3, 12, 0, 18, 5};
        float x1[COUNT * TRAIN_FEATURES], x2[COUNT * TRAIN_FEATURES];
        int64_t y1[COUNT], y2[COUNT];
        VOLT_EXPECT_OK(volt_dataset_read(from_file, indices, COUNT, x1, y1));
        VOLT_EXPECT_OK(volt_dataset_read(loaded, indices, COUNT, x2, y2));
        VOLT_EXPECT(memcmp(x1, x2, sizeof x1) == 0);
        VOLT_EXPECT(memcmp(y1, y2, sizeof y1) == 0);
        /* indices are still checked */
        const long outside = 20;
        VOLT_EXPECT_FAIL_MESSAGE(volt_dataset_read(loaded, &outside, 1, x2, y2), VOLT_ERR_ARG,
                                 "sample index 20");
    }
    volt_dataset_close(from_file);
    volt_dataset_close(loaded);

    path_in(&dir, "bad_label.h5", bad_path);
    write_id_file(bad_path, 30, 17);
    volt_dataset *bad = NULL;
    VOLT_EXPECT_OK(volt_dataset_open(bad_path, VOLT_SPLIT_TRAIN, &bad));
    if (bad) {
        VOLT_EXPECT_FAIL_MESSAGE(volt_dataset_load(bad), VOLT_ERR_ARG, "sample 17 has label");
        VOLT_EXPECT_EQ_INT((long)volt_dataset_loaded_bytes(bad), 0);
        volt_dataset_close(bad);
    }
    temp_dir_remove(&dir);
}

/* ---- every bad input, with the message a user sees ---------------------------------------- */

/* x of file_type (zeros) and, when y_type >= 0, y [y_length] of y_type with labels i mod 2
 * but label_3 at row 3 and label_4 at row 4; num_classes when > 0. */
typedef struct split_spec {
    hid_t x_type, x_memory_type;
    int x_ndims;
    hsize_t x_dims[5];
    hid_t y_type, y_memory_type; /* -1: no y */
    int y_ndims;
    hsize_t y_dims[2];
    int64_t label_3, label_4;
    int64_t num_classes; /* 0: no attribute */
} split_spec;

static void write_split_file(const char *path, const split_spec *spec) {
    hid_t file = h5_create(path);
    if (spec->num_classes > 0) h5_attribute_i64(file, "/", "num_classes", spec->num_classes);
    size_t x_count = 1, y_count = 1;
    for (int d = 0; d < spec->x_ndims; d++) x_count *= spec->x_dims[d];
    for (int d = 0; d < spec->y_ndims; d++) y_count *= spec->y_dims[d];
    double *zeros = calloc(x_count, sizeof *zeros); /* 8 bytes: enough for any x type */
    h5_put(file, "train/x", spec->x_type, spec->x_memory_type, spec->x_ndims, spec->x_dims, zeros);
    free(zeros);
    if (spec->y_type >= 0) {
        int64_t *labels = malloc(y_count * sizeof *labels);
        float *float_labels = malloc(y_count * sizeof *float_labels);
        for (size_t i = 0; i < y_count; i++) {
            labels[i] = i == 3 ? spec->label_3 : i == 4 ? spec->label_4 : (int64_t)(i % 2);
            float_labels[i] = (float)labels[i];
        }
        const void *data = spec->y_memory_type == H5T_NATIVE_FLOAT ? (const void *)float_labels
                                                                   : (const void *)labels;
        h5_put(file, "train/y", spec->y_type, spec->y_memory_type, spec->y_ndims, spec->y_dims,
               data);
        free(labels);
        free(float_labels);
    }
    H5Fclose(file);
}

static split_spec good_spec(void) {
    split_spec spec = {
        .x_type = H5T_IEEE_F32LE,
        .x_memory_type = H5T_NATIVE_FLOAT,
        .x_ndims = 2,
        .x_dims = {6, 2},
        .y_type = H5T_STD_I32LE,
        .y_memory_type = H5T_NATIVE_INT64,
        .y_ndims = 1,
        .y_dims = {6},
        .label_3 = 1,
        .label_4 = 0,
        .num_classes = 10,
    };
    return spec;
}

/* Opening split of path must fail with status and a message containing the text formatted
 * from fmt with the path. */
#define EXPECT_OPEN_FAILS(path, split, status, fmt)                                                \
    do {                                                                                           \
        char expected_[1024];                                                                      \
        snprintf(expected_, sizeof expected_, fmt, path);                                          \
        volt_dataset *opened_ = NULL;                                                              \
        VOLT_EXPECT_FAIL_MESSAGE(volt_dataset_open(path, split, &opened_), status, expected_);     \
        VOLT_EXPECT(opened_ == NULL);                                                              \
    } while (0)

VOLT_TEST(dataset_rejects_bad_input) {
    temp_dir dir = temp_dir_create();
    char path[PATH_BYTES];

    path_in(&dir, "missing.h5", path);
    EXPECT_OPEN_FAILS(path, VOLT_SPLIT_TRAIN, VOLT_ERR_IO,
                      "cannot open data file '%s' (split 'train'): No such file or directory");
    int has = -1;
    VOLT_EXPECT_FAIL_MESSAGE(volt_dataset_has_split(path, VOLT_SPLIT_TRAIN, &has), VOLT_ERR_IO,
                             "No such file or directory");

    path_in(&dir, "notes.txt", path);
    FILE *text = fopen(path, "w");
    if (text) {
        fputs("x,y\n1,2\n", text);
        fclose(text);
    }
    EXPECT_OPEN_FAILS(path, VOLT_SPLIT_TRAIN, VOLT_ERR_IO,
                      "data file '%s' (split 'train') is not an HDF5 file");
    VOLT_EXPECT_FAIL_MESSAGE(volt_dataset_has_split(path, VOLT_SPLIT_TRAIN, &has), VOLT_ERR_IO,
                             "is not an HDF5 file");

    path_in(&dir, "good.h5", path);
    write_good_file(path);
    EXPECT_OPEN_FAILS(path, VOLT_SPLIT_PREDICT, VOLT_ERR_IO,
                      "data file '%s' has no split 'predict' (no group /predict)");

    split_spec spec = good_spec();
    path_in(&dir, "good_spec.h5", path); /* the base of the variations below opens */
    write_split_file(path, &spec);
    volt_dataset *opened = NULL;
    VOLT_EXPECT_OK(volt_dataset_open(path, VOLT_SPLIT_TRAIN, &opened));
    volt_dataset_close(opened);

    path_in(&dir, "no_x.h5", path);
    hid_t file = h5_create(path);
    const hsize_t four = 4;
    const int64_t labels[4] = {0, 1, 0, 1};
    h5_put(file, "train/y", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &four, labels);
    H5Fclose(file);
    EXPECT_OPEN_FAILS(path, VOLT_SPLIT_TRAIN, VOLT_ERR_IO,
                      "data file '%s', split 'train': no dataset x (expected /train/x)");
    VOLT_EXPECT_OK(volt_dataset_has_split(path, VOLT_SPLIT_TRAIN, &has));
    VOLT_EXPECT_EQ_INT(has, 0);

    path_in(&dir, "train_not_group.h5", path);
    file = h5_create(path);
    h5_put(file, "train", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, &four, labels);
    H5Fclose(file);
    EXPECT_OPEN_FAILS(path, VOLT_SPLIT_TRAIN, VOLT_ERR_IO, "data file '%s': /train is not a group");

    spec = good_spec();
    spec.y_dims[0] = 5;
    path_in(&dir, "length_mismatch.h5", path);
    write_split_file(path, &spec);
    EXPECT_OPEN_FAILS(path, VOLT_SPLIT_TRAIN, VOLT_ERR_SHAPE,
                      "data file '%s', split 'train': x has 6 samples but y has 5");

    spec = good_spec();
    spec.x_type = H5T_IEEE_F64LE;
    spec.x_memory_type = H5T_NATIVE_DOUBLE;
    path_in(&dir, "f64_x.h5", path);
    write_split_file(path, &spec);
    EXPECT_OPEN_FAILS(path, VOLT_SPLIT_TRAIN, VOLT_ERR_UNSUPPORTED,
                      "data file '%s', split 'train': x has dtype f64; expected u8 or f32");

    spec = good_spec();
    spec.x_type = H5T_STD_I32LE;
    spec.x_memory_type = H5T_NATIVE_INT32;
    path_in(&dir, "i32_x.h5", path);
    write_split_file(path, &spec);
    EXPECT_OPEN_FAILS(path, VOLT_SPLIT_TRAIN, VOLT_ERR_UNSUPPORTED,
                      "data file '%s', split 'train': x has dtype i32; expected u8 or f32");

    spec = good_spec();
    spec.x_ndims = 5;
    const hsize_t five_d[5] = {6, 1, 2, 1, 2};
    memcpy(spec.x_dims, five_d, sizeof five_d);
    path_in(&dir, "x_5d.h5", path);
    write_split_file(path, &spec);
    EXPECT_OPEN_FAILS(path, VOLT_SPLIT_TRAIN, VOLT_ERR_UNSUPPORTED,
                      "data file '%s', split 'train': x has 5 dimensions; expected 2 to 4");

    spec = good_spec();
    spec.x_ndims = 1;
    path_in(&dir, "x_1d.h5", path);
    write_split_file(path, &spec);
    EXPECT_OPEN_FAILS(path, VOLT_SPLIT_TRAIN, VOLT_ERR_UNSUPPORTED,
                      "data file '%s', split 'train': x has 1 dimensions; expected 2 to 4");

    spec = good_spec();
    spec.y_type = H5T_IEEE_F32LE;
    spec.y_memory_type = H5T_NATIVE_FLOAT;
    path_in(&dir, "f32_y.h5", path);
    write_split_file(path, &spec);
    EXPECT_OPEN_FAILS(path, VOLT_SPLIT_TRAIN, VOLT_ERR_UNSUPPORTED,
                      "data file '%s', split 'train': y has dtype f32; expected an integer type");

    spec = good_spec();
    spec.y_ndims = 2;
    spec.y_dims[1] = 1;
    path_in(&dir, "y_2d.h5", path);
    write_split_file(path, &spec);
    EXPECT_OPEN_FAILS(path, VOLT_SPLIT_TRAIN, VOLT_ERR_SHAPE,
                      "data file '%s', split 'train': y has 2 dimensions; expected 1");

    spec = good_spec();
    spec.num_classes = 0;
    path_in(&dir, "no_num_classes.h5", path);
    write_split_file(path, &spec);
    EXPECT_OPEN_FAILS(path, VOLT_SPLIT_TRAIN, VOLT_ERR_IO,
                      "data file '%s', split 'train': y is present but the file has no "
                      "num_classes attribute");

    spec = good_spec();
    path_in(&dir, "other_format.h5", path);
    write_split_file(path, &spec);
    file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    h5_attribute_string(file, "format", "volt-dataset-0", 0); /* fixed-length this time */
    H5Fclose(file);
    EXPECT_OPEN_FAILS(path, VOLT_SPLIT_TRAIN, VOLT_ERR_UNSUPPORTED,
                      "data file '%s' has format 'volt-dataset-0'; this Volt reads "
                      "'volt-dataset-1'");

    spec = good_spec();
    path_in(&dir, "zero_std.h5", path);
    write_split_file(path, &spec);
    file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    h5_attribute_f64(file, "train/x", "std", 0.0);
    H5Fclose(file);
    EXPECT_OPEN_FAILS(path, VOLT_SPLIT_TRAIN, VOLT_ERR_NUMERIC,
                      "data file '%s', split 'train': attribute x.std = 0");

    /* labels are checked when read: the sample is named */
    spec = good_spec();
    spec.label_3 = 12;
    spec.label_4 = -1;
    path_in(&dir, "bad_labels.h5", path);
    write_split_file(path, &spec);
    opened = NULL;
    VOLT_EXPECT_OK(volt_dataset_open(path, VOLT_SPLIT_TRAIN, &opened));
    if (opened) {
        const long fine[3] = {5, 0, 2}, high[2] = {0, 3}, negative[2] = {4, 5};
        float x[3 * 2];
        int64_t y[3];
        VOLT_EXPECT_OK(volt_dataset_read(opened, fine, 3, x, y));
        char expected[1024];
        snprintf(expected, sizeof expected,
                 "data file '%s', split 'train': sample 3 has label 12, outside [0, 10)", path);
        VOLT_EXPECT_FAIL_MESSAGE(volt_dataset_read(opened, high, 2, x, y), VOLT_ERR_ARG, expected);
        VOLT_EXPECT_FAIL_MESSAGE(volt_dataset_read(opened, negative, 2, x, y), VOLT_ERR_ARG,
                                 "sample 4 has label -1, outside [0, 10)");
        VOLT_EXPECT_OK(volt_dataset_read(opened, high, 2, x, NULL)); /* no labels asked */
        volt_dataset_close(opened);
    }

    /* every failure above closed what it opened */
    VOLT_EXPECT_EQ_INT(open_hdf5_objects(), 0);
    temp_dir_remove(&dir);
}

/* ---- epoch order -------------------------------------------------------------------------- */

static int is_permutation(const long *order, long n) {
    char *seen = calloc((size_t)n + 1, 1);
    int ok = seen != NULL;
    for (long i = 0; ok && i < n; i++) {
        ok = order[i] >= 0 && order[i] < n && !seen[order[i]];
        if (ok) seen[order[i]] = 1;
    }
    free(seen);
    return ok;
}

/* A shuffled order is a permutation that depends only on (seed, epoch); epochs and seeds
 * differ; without shuffle it is the identity. The mapping is the one loader.c documents:
 * Fisher-Yates from the end, j = bits(seed, 2^62 + epoch, i) mod (i + 1). */
VOLT_TEST(epoch_order_is_a_reproducible_permutation) {
    enum { N = 1000 };
    static long first[N], again[N], next_epoch[N], other_seed[N], reference[N];
    volt_epoch_order(42, 3, N, 1, first);
    volt_epoch_order(42, 3, N, 1, again);
    volt_epoch_order(42, 4, N, 1, next_epoch);
    volt_epoch_order(43, 3, N, 1, other_seed);
    VOLT_EXPECT(is_permutation(first, N));
    VOLT_EXPECT(is_permutation(next_epoch, N));
    VOLT_EXPECT(memcmp(first, again, sizeof first) == 0);
    long same_epoch_places = 0, same_seed_places = 0, fixed_points = 0;
    for (long i = 0; i < N; i++) {
        same_epoch_places += first[i] == next_epoch[i];
        same_seed_places += first[i] == other_seed[i];
        fixed_points += first[i] == i;
    }
    /* independent permutations agree in about one place */
    VOLT_EXPECT(same_epoch_places < 10);
    VOLT_EXPECT(same_seed_places < 10);
    VOLT_EXPECT(fixed_points < 10);

    for (long i = 0; i < N; i++) reference[i] = i;
    for (long i = N - 1; i >= 1; i--) {
        long j =
            (long)(volt_rng_bits(42, ((uint64_t)1 << 62) + 3, (uint64_t)i) % (uint64_t)(i + 1));
        long held = reference[i];
        reference[i] = reference[j];
        reference[j] = held;
    }
    VOLT_EXPECT(memcmp(first, reference, sizeof first) == 0);

    volt_epoch_order(42, 3, N, 0, first);
    int identity = 1;
    for (long i = 0; i < N; i++) identity = identity && first[i] == i;
    VOLT_EXPECT(identity);

    long one = -1;
    volt_epoch_order(42, 0, 1, 1, &one);
    VOLT_EXPECT_EQ_INT(one, 0);
    volt_epoch_order(42, 0, 0, 1, NULL); /* nothing to write */
}

/* ---- loader ------------------------------------------------------------------------------- */

/* Runs one epoch, checking each batch's shapes and samples, counting each id in seen
 * (n entries), and putting the sizes in sizes. Returns the number of batches. */
static long run_epoch(volt_loader *loader, volt_graph *graph, long epoch, long *seen, long n,
                      long *sizes, long max_batches) {
    VOLT_EXPECT_OK(volt_loader_start_epoch(loader, epoch));
    long count = 0;
    for (;;) {
        volt_batch batch = {0};
        int done = 0;
        int status = volt_loader_next(loader, graph, &batch, &done);
        VOLT_EXPECT_OK(status);
        if (status != VOLT_OK || done) break;
        VOLT_EXPECT_EQ_INT(batch.index, count);
        VOLT_EXPECT_EQ_INT(batch.x->ndim, 2);
        VOLT_EXPECT_EQ_INT(batch.x->shape[0], batch.size);
        VOLT_EXPECT_EQ_INT(batch.x->shape[1], ID_FEATURES);
        VOLT_EXPECT_EQ_INT(batch.x->dtype, VOLT_F32);
        VOLT_EXPECT(batch.x->graph == graph);
        VOLT_EXPECT(batch.y != NULL);
        if (batch.y) {
            VOLT_EXPECT_EQ_INT(batch.y->ndim, 1);
            VOLT_EXPECT_EQ_INT(batch.y->shape[0], batch.size);
            VOLT_EXPECT_EQ_INT(batch.y->dtype, VOLT_I64);
        }
        for (long row = 0; row < batch.size; row++) {
            long id = batch_row_id(&batch, row);
            if (id >= 0 && id < n) seen[id]++;
        }
        if (count < max_batches) sizes[count] = batch.size;
        count++;
        volt_graph_reset(graph);
        if (count > n + 1) {
            volt_test_fail(__FILE__, __LINE__, "the epoch does not end");
            break;
        }
    }
    /* after the end, done again */
    volt_batch batch = {0};
    int done = 0;
    VOLT_EXPECT_OK(volt_loader_next(loader, graph, &batch, &done));
    VOLT_EXPECT_EQ_INT(done, 1);
    return count;
}

/* 23 samples in batches of 5: 5 batches (5, 5, 5, 5, 3) covering every sample once; with
 * drop_last 4 full batches of distinct samples. With and without prefetch, shuffled or not. */
VOLT_TEST(loader_batches_cover_every_sample_once) {
    watchdog_arm();
    enum { N = 23, B = 5 };
    temp_dir dir = temp_dir_create();
    char path[PATH_BYTES];
    path_in(&dir, "ids.h5", path);
    write_id_file(path, N, -1);
    volt_dataset *dataset = NULL;
    VOLT_EXPECT_OK(volt_dataset_open(path, VOLT_SPLIT_TRAIN, &dataset));
    volt_graph *graph = new_graph();
    for (int config = 0; dataset && graph && config < 8; config++) {
        const int shuffle = config & 1, prefetch = (config >> 1) & 1, drop_last = config >> 2;
        volt_loader_options options = {.batch_size = B,
                                       .shuffle = shuffle,
                                       .drop_last = drop_last,
                                       .prefetch = prefetch,
                                       .seed = 1234};
        volt_loader *loader = NULL;
        VOLT_EXPECT_OK(volt_loader_create(dataset, &options, &loader));
        if (!loader) continue;
        VOLT_EXPECT(volt_loader_dataset(loader) == dataset);
        VOLT_EXPECT_EQ_INT(volt_loader_options_of(loader)->batch_size, B);
        VOLT_EXPECT_EQ_INT(volt_loader_batches(loader), drop_last ? 4 : 5);
        for (long epoch = 0; epoch < 2; epoch++) {
            long seen[N] = {0}, sizes[8] = {0};
            long batches = run_epoch(loader, graph, epoch, seen, N, sizes, 8);
            VOLT_EXPECT_EQ_INT(batches, drop_last ? 4 : 5);
            for (long b = 0; b < 4; b++) VOLT_EXPECT_EQ_INT(sizes[b], B);
            if (!drop_last) VOLT_EXPECT_EQ_INT(sizes[4], 3);
            long once = 0, more = 0;
            for (long i = 0; i < N; i++) {
                once += seen[i] == 1;
                more += seen[i] > 1;
            }
            VOLT_EXPECT_EQ_INT(once, drop_last ? 20 : N);
            VOLT_EXPECT_EQ_INT(more, 0);
            if (!shuffle && drop_last) VOLT_EXPECT_EQ_INT(seen[N - 1], 0);
        }
        volt_loader_destroy(loader);
    }
    volt_graph_destroy(graph);
    volt_dataset_close(dataset);
    watchdog_disarm();
    temp_dir_remove(&dir);
}

/* The ids a loader gives in one epoch, batch after batch (ids[...], sizes[b] per batch). */
static long epoch_ids(volt_loader *loader, volt_graph *graph, long epoch, long *ids, long *sizes) {
    long count = 0, batches = 0;
    VOLT_EXPECT_OK(volt_loader_start_epoch(loader, epoch));
    for (;;) {
        volt_batch batch;
        int done = 0;
        VOLT_EXPECT_OK(volt_loader_next(loader, graph, &batch, &done));
        if (done) break;
        sizes[batches++] = batch.size;
        for (long row = 0; row < batch.size; row++) ids[count++] = batch_row_id(&batch, row);
        volt_graph_reset(graph);
    }
    return batches;
}

/* Ranks: rank r of P reads its part of each global batch of P * B; the parts in rank order
 * are the one-rank loader's batch of P * B (same order for any P), every rank has the same
 * batch count, and a tiny last batch may leave a rank an empty part. Evaluation
 * (contiguous) reads [N r / P, N (r+1) / P) in batches of B: each sample once. */
VOLT_TEST(loader_ranks_split_the_global_batch) {
    enum { N = 23, B = 2, P = 3 };
    temp_dir dir = temp_dir_create();
    char path[PATH_BYTES];
    path_in(&dir, "ids.h5", path);
    write_id_file(path, N, -1);
    volt_dataset *dataset = NULL;
    VOLT_EXPECT_OK(volt_dataset_open(path, VOLT_SPLIT_TRAIN, &dataset));
    volt_graph *graph = new_graph();
    for (int drop_last = 0; dataset && graph && drop_last < 2; drop_last++) {
        volt_loader_options whole = {
            .batch_size = B * P, .shuffle = 1, .drop_last = drop_last, .seed = 99};
        volt_loader *single = NULL;
        VOLT_EXPECT_OK(volt_loader_create(dataset, &whole, &single));
        long single_ids[N], single_sizes[8] = {0};
        long single_batches = single ? epoch_ids(single, graph, 1, single_ids, single_sizes) : 0;
        VOLT_EXPECT_EQ_INT(single_batches, drop_last ? 3 : 4);
        long parts[P][N], part_sizes[P][8], firsts[P][8] = {{0}};
        for (int r = 0; r < P; r++) {
            volt_loader_options options = whole;
            options.batch_size = B;
            options.rank = r;
            options.ranks = P;
            volt_loader *loader = NULL;
            VOLT_EXPECT_OK(volt_loader_create(dataset, &options, &loader));
            if (!loader) continue;
            VOLT_EXPECT_EQ_INT(volt_loader_batches(loader), single_batches);
            VOLT_EXPECT_EQ_INT(epoch_ids(loader, graph, 1, parts[r], part_sizes[r]),
                               single_batches);
            /* every rank knows the global batch's size without asking the others */
            VOLT_EXPECT_OK(volt_loader_start_epoch(loader, 1));
            for (long b = 0; b < single_batches; b++) {
                volt_batch batch = {0};
                int done = 0;
                VOLT_EXPECT_OK(volt_loader_next(loader, graph, &batch, &done));
                VOLT_EXPECT_EQ_INT(batch.global_size, single_sizes[b]);
                firsts[r][b] = batch.global_first;
                volt_graph_reset(graph);
            }
            volt_loader_destroy(loader);
        }
        /* batch b's parts, in rank order, are the one-rank batch b */
        long at[P] = {0}, position = 0;
        for (long b = 0; b < single_batches; b++) {
            long global = 0;
            for (int r = 0; r < P; r++) {
                /* where a rank's part starts in the global batch (dropout's rows) */
                VOLT_EXPECT_EQ_INT(firsts[r][b], global);
                for (long k = 0; k < part_sizes[r][b]; k++)
                    VOLT_EXPECT_EQ_INT(parts[r][at[r] + k], single_ids[position + global + k]);
                global += part_sizes[r][b];
                at[r] += part_sizes[r][b];
            }
            VOLT_EXPECT_EQ_INT(global, single_sizes[b]);
            position += global;
        }
        if (!drop_last) { /* the last global batch of 5: parts of 1, 2, 2 */
            VOLT_EXPECT_EQ_INT(part_sizes[0][3], 1);
            VOLT_EXPECT_EQ_INT(part_sizes[1][3], 2);
            VOLT_EXPECT_EQ_INT(part_sizes[2][3], 2);
        }
        volt_loader_destroy(single);
    }
    /* contiguous parts for evaluation: 7, 8 and 8 samples in batches of 5 */
    long seen[N] = {0};
    for (int r = 0; dataset && graph && r < P; r++) {
        volt_loader_options options = {.batch_size = 5, .rank = r, .ranks = P, .contiguous = 1};
        volt_loader *loader = NULL;
        VOLT_EXPECT_OK(volt_loader_create(dataset, &options, &loader));
        if (!loader) continue;
        long ids[N], sizes[8];
        long batches = epoch_ids(loader, graph, 0, ids, sizes);
        VOLT_EXPECT_EQ_INT(batches, 2);
        long count = sizes[0] + sizes[1];
        VOLT_EXPECT_EQ_INT(count, r == 0 ? 7 : 8);
        for (long i = 0; i < count; i++) {
            VOLT_EXPECT_EQ_INT(ids[i], (long)N * r / P + i);
            if (ids[i] >= 0 && ids[i] < N) seen[ids[i]]++;
        }
        volt_loader_destroy(loader);
    }
    for (long i = 0; i < N; i++) VOLT_EXPECT_EQ_INT(seen[i], 1);
    /* 23 = 20 + 3 at 4 ranks of 5: the last global batch of 3 leaves rank 0 nothing */
    for (int r = 0; dataset && graph && r < 4; r++) {
        volt_loader_options options = {.batch_size = 5, .rank = r, .ranks = 4};
        volt_loader *loader = NULL;
        VOLT_EXPECT_OK(volt_loader_create(dataset, &options, &loader));
        if (!loader) continue;
        long ids[N], sizes[8];
        VOLT_EXPECT_EQ_INT(epoch_ids(loader, graph, 0, ids, sizes), 2);
        VOLT_EXPECT_EQ_INT(sizes[0], 5);
        VOLT_EXPECT_EQ_INT(sizes[1], r == 0 ? 0 : 1);
        volt_loader_destroy(loader);
    }
    volt_graph_destroy(graph);
    volt_dataset_close(dataset);
    temp_dir_remove(&dir);
}

/* Bad options are VOLT_ERR_CONFIG naming the option and the data set's length; next before
 * an epoch is started is an error. */
VOLT_TEST(loader_rejects_bad_options) {
    temp_dir dir = temp_dir_create();
    char path[PATH_BYTES];
    path_in(&dir, "ids.h5", path);
    write_id_file(path, 23, -1);
    volt_dataset *dataset = NULL;
    VOLT_EXPECT_OK(volt_dataset_open(path, VOLT_SPLIT_TRAIN, &dataset));
    if (dataset) {
        volt_loader *loader = NULL;
        volt_loader_options options = {.batch_size = 0};
        VOLT_EXPECT_FAIL_MESSAGE(volt_loader_create(dataset, &options, &loader), VOLT_ERR_CONFIG,
                                 "batch_size = 0 must be at least 1");
        options.batch_size = 24;
        options.drop_last = 1;
        VOLT_EXPECT_FAIL_MESSAGE(volt_loader_create(dataset, &options, &loader), VOLT_ERR_CONFIG,
                                 "batch_size = 24 is larger than the 23 samples");
        VOLT_EXPECT(loader == NULL);
        /* without drop_last one smaller batch */
        options.drop_last = 0;
        VOLT_EXPECT_OK(volt_loader_create(dataset, &options, &loader));
        if (loader) {
            VOLT_EXPECT_EQ_INT(volt_loader_batches(loader), 1);
            volt_graph *graph = new_graph();
            volt_batch batch;
            int done = 0;
            VOLT_EXPECT_FAIL_MESSAGE(volt_loader_next(loader, graph, &batch, &done), VOLT_ERR_ARG,
                                     "before volt_loader_start_epoch");
            volt_graph_destroy(graph);
            volt_loader_destroy(loader);
        }
        volt_dataset_close(dataset);
    }
    temp_dir_remove(&dir);
}

/* Prefetch on and off give the same batches, value for value, over two shuffled epochs
 * (the two loaders share one dataset, so the prefetch thread and the caller's reads also
 * run at the same time). */
VOLT_TEST(loader_prefetch_gives_identical_batches) {
    watchdog_arm();
    enum { N = 23 };
    temp_dir dir = temp_dir_create();
    char path[PATH_BYTES];
    path_in(&dir, "ids.h5", path);
    write_id_file(path, N, -1);
    volt_dataset *dataset = NULL;
    VOLT_EXPECT_OK(volt_dataset_open(path, VOLT_SPLIT_TRAIN, &dataset));
    volt_graph *graph = new_graph();
    volt_loader *loaders[2] = {NULL, NULL};
    for (int prefetch = 0; dataset && prefetch < 2; prefetch++) {
        volt_loader_options options = {
            .batch_size = 4, .shuffle = 1, .prefetch = prefetch, .seed = 99};
        VOLT_EXPECT_OK(volt_loader_create(dataset, &options, &loaders[prefetch]));
    }
    long compared = 0, differing = 0;
    for (long epoch = 0; loaders[0] && loaders[1] && graph && epoch < 2; epoch++) {
        VOLT_EXPECT_OK(volt_loader_start_epoch(loaders[0], epoch));
        VOLT_EXPECT_OK(volt_loader_start_epoch(loaders[1], epoch));
        for (;;) {
            volt_batch plain = {0}, prefetched = {0};
            int done_plain = 0, done_prefetched = 0;
            VOLT_EXPECT_OK(volt_loader_next(loaders[0], graph, &plain, &done_plain));
            VOLT_EXPECT_OK(volt_loader_next(loaders[1], graph, &prefetched, &done_prefetched));
            VOLT_EXPECT_EQ_INT(done_plain, done_prefetched);
            if (done_plain || done_prefetched) break;
            VOLT_EXPECT_EQ_INT(plain.size, prefetched.size);
            if (plain.size != prefetched.size) break;
            differing += memcmp(plain.x->data, prefetched.x->data,
                                (size_t)plain.size * ID_FEATURES * sizeof(float)) != 0;
            differing += memcmp(plain.y->data, prefetched.y->data,
                                (size_t)plain.size * sizeof(int64_t)) != 0;
            compared++;
            volt_graph_reset(graph);
        }
    }
    VOLT_EXPECT_EQ_INT(compared, 2 * 6);
    VOLT_EXPECT_EQ_INT(differing, 0);
    volt_loader_destroy(loaders[0]);
    volt_loader_destroy(loaders[1]);
    volt_graph_destroy(graph);
    volt_dataset_close(dataset);
    watchdog_disarm();
    temp_dir_remove(&dir);
}

/* Destroying a prefetching loader at any point of an epoch joins its thread (no hang, no
 * leak under the sanitizers); restarting an epoch mid-way gives the full new epoch. */
VOLT_TEST(loader_prefetch_stops_cleanly_mid_epoch) {
    watchdog_arm();
    enum { N = 23 };
    temp_dir dir = temp_dir_create();
    char path[PATH_BYTES];
    path_in(&dir, "ids.h5", path);
    write_id_file(path, N, -1);
    volt_dataset *dataset = NULL;
    VOLT_EXPECT_OK(volt_dataset_open(path, VOLT_SPLIT_TRAIN, &dataset));
    volt_graph *graph = new_graph();
    volt_loader_options options = {.batch_size = 3, .shuffle = 1, .prefetch = 1, .seed = 5};
    for (int taken = -1; dataset && graph && taken < 4; taken++) {
        /* taken = -1: never started; 0: started, nothing taken; k: k batches taken */
        volt_loader *loader = NULL;
        VOLT_EXPECT_OK(volt_loader_create(dataset, &options, &loader));
        if (!loader) continue;
        if (taken >= 0) VOLT_EXPECT_OK(volt_loader_start_epoch(loader, 0));
        for (int b = 0; b < taken; b++) {
            volt_batch batch;
            int done = 0;
            VOLT_EXPECT_OK(volt_loader_next(loader, graph, &batch, &done));
            VOLT_EXPECT_EQ_INT(done, 0);
        }
        volt_loader_destroy(loader);
        volt_graph_reset(graph);
    }

    volt_loader *loader = NULL;
    if (dataset) VOLT_EXPECT_OK(volt_loader_create(dataset, &options, &loader));
    if (loader && graph) {
        VOLT_EXPECT_OK(volt_loader_start_epoch(loader, 0));
        volt_batch batch;
        int done = 0;
        VOLT_EXPECT_OK(volt_loader_next(loader, graph, &batch, &done));
        VOLT_EXPECT_OK(volt_loader_next(loader, graph, &batch, &done));
        long seen[N] = {0}, sizes[16];
        long batches = run_epoch(loader, graph, 1, seen, N, sizes, 16); /* restarts */
        VOLT_EXPECT_EQ_INT(batches, 8);
        long once = 0;
        for (long i = 0; i < N; i++) once += seen[i] == 1;
        VOLT_EXPECT_EQ_INT(once, N);
        /* the restarted epoch is epoch 1's order */
        long order[N];
        volt_epoch_order(5, 1, N, 1, order);
        VOLT_EXPECT_OK(volt_loader_start_epoch(loader, 1));
        VOLT_EXPECT_OK(volt_loader_next(loader, graph, &batch, &done));
        VOLT_EXPECT_EQ_INT(batch_row_id(&batch, 0), order[0]);
        VOLT_EXPECT_EQ_INT(batch_row_id(&batch, 2), order[2]);

        /* restarts while the thread is still reading the batch after the one handed out */
        long wrong = 0;
        for (long restart = 0; restart < 300; restart++) {
            const long epoch = restart % 3;
            volt_epoch_order(5, epoch, N, 1, order);
            VOLT_EXPECT_OK(volt_loader_start_epoch(loader, epoch));
            for (long b = 0; b < 2; b++) {
                VOLT_EXPECT_OK(volt_loader_next(loader, graph, &batch, &done));
                for (long row = 0; row < 3; row++)
                    wrong += batch_row_id(&batch, row) != order[3 * b + row];
            }
            volt_graph_reset(graph);
        }
        VOLT_EXPECT_EQ_INT(wrong, 0);
    }
    volt_loader_destroy(loader);
    volt_graph_destroy(graph);
    volt_dataset_close(dataset);
    watchdog_disarm();
    temp_dir_remove(&dir);
}

/* A batch stays valid until the next volt_loader_next or the graph's reset (loader.h):
 * starting the next epoch must not let the prefetch thread read its first batch into the
 * buffer of the batch the caller still holds (here the only batch of epoch 0). */
VOLT_TEST(loader_start_epoch_keeps_the_held_batch) {
    watchdog_arm();
    enum { N = 6 };
    temp_dir dir = temp_dir_create();
    char path[PATH_BYTES];
    path_in(&dir, "ids.h5", path);
    write_id_file(path, N, -1);
    volt_dataset *dataset = NULL;
    VOLT_EXPECT_OK(volt_dataset_open(path, VOLT_SPLIT_TRAIN, &dataset));
    volt_graph *graph = new_graph();
    volt_loader_options options = {.batch_size = N, .shuffle = 1, .prefetch = 1, .seed = 3};
    volt_loader *loader = NULL;
    if (dataset) VOLT_EXPECT_OK(volt_loader_create(dataset, &options, &loader));
    long order0[N], order1[N];
    volt_epoch_order(3, 0, N, 1, order0);
    volt_epoch_order(3, 1, N, 1, order1);
    VOLT_EXPECT(memcmp(order0, order1, sizeof order0) != 0); /* the test can tell them apart */
    if (loader && graph) {
        VOLT_EXPECT_OK(volt_loader_start_epoch(loader, 0));
        volt_batch held;
        int done = 0;
        VOLT_EXPECT_OK(volt_loader_next(loader, graph, &held, &done));
        VOLT_EXPECT_OK(volt_loader_start_epoch(loader, 1));
        /* time for the thread to read epoch 1's first batch */
        nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = 200 * 1000 * 1000}, NULL);
        long changed = 0;
        for (long row = 0; row < N; row++) changed += batch_row_id(&held, row) != order0[row];
        VOLT_EXPECT_EQ_INT(changed, 0);
        volt_batch next;
        VOLT_EXPECT_OK(volt_loader_next(loader, graph, &next, &done));
        VOLT_EXPECT_EQ_INT(batch_row_id(&next, 0), order1[0]);
        VOLT_EXPECT_EQ_INT(batch_row_id(&next, N - 1), order1[N - 1]);
    }
    volt_loader_destroy(loader);
    volt_graph_destroy(graph);
    volt_dataset_close(dataset);
    watchdog_disarm();
    temp_dir_remove(&dir);
}

/* A read error in the prefetch thread (a label out of range in batch 2) is returned by the
 * volt_loader_next that asks for that batch, with the dataset's message; the batches
 * before it are whole. Same without prefetch. */
VOLT_TEST(loader_reports_read_errors_from_the_thread) {
    watchdog_arm();
    enum { N = 12 };
    temp_dir dir = temp_dir_create();
    char path[PATH_BYTES];
    path_in(&dir, "bad_label.h5", path);
    write_id_file(path, N, 9);
    volt_dataset *dataset = NULL;
    VOLT_EXPECT_OK(volt_dataset_open(path, VOLT_SPLIT_TRAIN, &dataset));
    volt_graph *graph = new_graph();
    for (int prefetch = 0; dataset && graph && prefetch < 2; prefetch++) {
        volt_loader_options options = {.batch_size = 4, .prefetch = prefetch};
        volt_loader *loader = NULL;
        VOLT_EXPECT_OK(volt_loader_create(dataset, &options, &loader));
        if (!loader) continue;
        VOLT_EXPECT_OK(volt_loader_start_epoch(loader, 0));
        volt_batch batch;
        int done = 0;
        for (long b = 0; b < 2; b++) {
            VOLT_EXPECT_OK(volt_loader_next(loader, graph, &batch, &done));
            VOLT_EXPECT_EQ_INT(batch.index, b);
            VOLT_EXPECT_EQ_INT(batch_row_id(&batch, 3), 4 * b + 3);
        }
        for (int attempt = 0; attempt < 2; attempt++) /* the failed batch is read again */
            VOLT_EXPECT_FAIL_MESSAGE(volt_loader_next(loader, graph, &batch, &done), VOLT_ERR_ARG,
                                     "sample 9 has label 5, outside [0, 5)");
        volt_loader_destroy(loader);
        volt_graph_reset(graph);
    }
    volt_graph_destroy(graph);
    volt_dataset_close(dataset);
    watchdog_disarm();
    temp_dir_remove(&dir);
}

/* ---- resuming an epoch at a batch (volt_loader_start_epoch_at) ---------------------------- */

enum { COPY_ROWS = 8, COPY_BATCHES = 8 };

/* One batch as the loader gave it, copied out of the loader's buffer. */
typedef struct batch_copy {
    long index, size, global_size;
    float x[COPY_ROWS * ID_FEATURES];
    int64_t y[COPY_ROWS];
} batch_copy;

/* Takes batches until done (at most max, failing the test beyond), copying each into
 * out. Returns the number taken. */
static long take_rest_of_epoch(volt_loader *loader, volt_graph *graph, batch_copy *out, long max) {
    long count = 0;
    for (;;) {
        volt_batch batch = {0};
        int done = 0;
        int status = volt_loader_next(loader, graph, &batch, &done);
        VOLT_EXPECT_OK(status);
        if (status != VOLT_OK || done) break;
        if (count == max || batch.size > COPY_ROWS || !batch.y) {
            volt_test_fail(__FILE__, __LINE__, "batch %ld (size %ld) does not fit the copy",
                           batch.index, batch.size);
            break;
        }
        batch_copy *copy = &out[count++];
        memset(copy, 0, sizeof *copy);
        copy->index = batch.index;
        copy->size = batch.size;
        copy->global_size = batch.global_size;
        memcpy(copy->x, batch.x->data, (size_t)batch.size * ID_FEATURES * sizeof(float));
        memcpy(copy->y, batch.y->data, (size_t)batch.size * sizeof(int64_t));
        volt_graph_reset(graph);
    }
    return count;
}

/* Whether two batches hold the same samples (their index aside). */
static int same_content(const batch_copy *a, const batch_copy *b) {
    return a->size == b->size && a->global_size == b->global_size &&
           memcmp(a->x, b->x, sizeof a->x) == 0 && memcmp(a->y, b->y, sizeof a->y) == 0;
}

/* Checks got == want field by field and element by element, printing the first
 * difference with what (the loader's configuration). */
static void expect_same_batch(const batch_copy *got, const batch_copy *want, const char *what) {
    if (got->index != want->index || got->size != want->size ||
        got->global_size != want->global_size) {
        volt_test_fail(__FILE__, __LINE__,
                       "%s: got batch index %ld size %ld global_size %ld, expected index %ld "
                       "size %ld global_size %ld",
                       what, got->index, got->size, got->global_size, want->index, want->size,
                       want->global_size);
        return;
    }
    for (long i = 0; i < want->size * ID_FEATURES; i++)
        if (got->x[i] != want->x[i]) {
            volt_test_fail(__FILE__, __LINE__, "%s: batch %ld x[%ld] = %g, expected %g", what,
                           want->index, i, (double)got->x[i], (double)want->x[i]);
            return;
        }
    for (long i = 0; i < want->size; i++)
        if (got->y[i] != want->y[i]) {
            volt_test_fail(__FILE__, __LINE__, "%s: batch %ld y[%ld] = %lld, expected %lld", what,
                           want->index, i, (long long)got->y[i], (long long)want->y[i]);
            return;
        }
}

/* start_epoch_at(e, k) gives batches k .. of start_epoch(e), x, y, size, global_size and
 * index alike, for every k in [0, batches] (k = batches: done at once), with and without
 * shuffle, drop_last and prefetch, for one rank, for training ranks (global batches split,
 * an empty part on rank 0 of 4) and for evaluation ranks whose batch counts differ. Before
 * each resume the loader is in the middle of another epoch (a batch held, the next one
 * prefetched). Adjacent batches of the reference differ, so a resume one batch off fails. */
VOLT_TEST(loader_start_epoch_at_resumes_the_same_batches) {
    watchdog_arm();
    enum { N = 23 };
    static const struct {
        long batch_size;
        int rank, ranks, contiguous;
        long batches, batches_drop_last;
    } layouts[] = {
        {5, 0, 1, 0, 5, 4}, /* 5, 5, 5, 5, 3 */
        {2, 0, 3, 0, 4, 3}, /* global batches of 6, the last of 5: parts 1, 2, 2 */
        {2, 1, 3, 0, 4, 3}, {2, 2, 3, 0, 4, 3},
        {5, 0, 4, 0, 2, 1}, /* the last global batch of 3 leaves rank 0 an empty part */
        {2, 0, 5, 1, 2, 2}, /* evaluation: rank 0 of 5 reads 4 samples, rank 1 reads 5 */
        {2, 1, 5, 1, 3, 3},
    };
    temp_dir dir = temp_dir_create();
    char path[PATH_BYTES];
    path_in(&dir, "ids.h5", path);
    write_id_file(path, N, -1);
    volt_dataset *dataset = NULL;
    VOLT_EXPECT_OK(volt_dataset_open(path, VOLT_SPLIT_TRAIN, &dataset));
    volt_graph *graph = new_graph();
    const long layout_count = (long)(sizeof layouts / sizeof layouts[0]);
    long resumes = 0, compared = 0;
    for (long config = 0; dataset && graph && config < 8 * layout_count; config++) {
        const long l = config / 8;
        const int shuffle = config & 1, drop_last = (config >> 1) & 1, prefetch = (config >> 2) & 1;
        volt_loader_options options = {.batch_size = layouts[l].batch_size,
                                       .shuffle = shuffle,
                                       .drop_last = drop_last,
                                       .prefetch = prefetch,
                                       .seed = 77,
                                       .rank = layouts[l].rank,
                                       .ranks = layouts[l].ranks,
                                       .contiguous = layouts[l].contiguous};
        char what[160];
        snprintf(what, sizeof what,
                 "batch_size %ld rank %d of %d contiguous %d shuffle %d drop_last %d prefetch %d",
                 options.batch_size, options.rank, options.ranks, options.contiguous, shuffle,
                 drop_last, prefetch);
        volt_loader *loader = NULL;
        VOLT_EXPECT_OK(volt_loader_create(dataset, &options, &loader));
        if (!loader) continue;
        const long batches = volt_loader_batches(loader);
        VOLT_EXPECT_EQ_INT(batches, drop_last ? layouts[l].batches_drop_last : layouts[l].batches);

        batch_copy reference[COPY_BATCHES], resumed[COPY_BATCHES];
        VOLT_EXPECT_OK(volt_loader_start_epoch(loader, 1));
        const long reference_count = take_rest_of_epoch(loader, graph, reference, COPY_BATCHES);
        VOLT_EXPECT_EQ_INT(reference_count, batches);
        for (long b = 0; b < reference_count; b++) {
            VOLT_EXPECT_EQ_INT(reference[b].index, b);
            if (b + 1 < reference_count && same_content(&reference[b], &reference[b + 1]))
                volt_test_fail(__FILE__, __LINE__, "%s: batches %ld and %ld cannot be told apart",
                               what, b, b + 1);
        }

        for (long first = 0; first <= reference_count; first++) {
            /* mid-way through epoch 0: a batch held and, with prefetch, the next in hand */
            volt_batch held = {0};
            int done = 0;
            VOLT_EXPECT_OK(volt_loader_start_epoch(loader, 0));
            VOLT_EXPECT_OK(volt_loader_next(loader, graph, &held, &done));
            VOLT_EXPECT_EQ_INT(done, 0);

            VOLT_EXPECT_OK(volt_loader_start_epoch_at(loader, 1, first));
            const long count = take_rest_of_epoch(loader, graph, resumed, COPY_BATCHES);
            char where[200];
            snprintf(where, sizeof where, "%s, first_batch %ld", what, first);
            if (count != reference_count - first)
                volt_test_fail(__FILE__, __LINE__, "%s: %ld batches, expected %ld", where, count,
                               reference_count - first);
            for (long j = 0; j < count && first + j < reference_count; j++)
                expect_same_batch(&resumed[j], &reference[first + j], where);
            compared += count;
            resumes++;
            /* the epoch stays done */
            VOLT_EXPECT_OK(volt_loader_next(loader, graph, &held, &done));
            VOLT_EXPECT_EQ_INT(done, 1);
            volt_graph_reset(graph);
        }
        volt_loader_destroy(loader);
    }
    /* a loader of b batches resumes b + 1 times and compares b (b + 1) / 2 batches; 4
     * loaders (shuffle, prefetch) per layout, with and without drop_last */
    VOLT_EXPECT_EQ_INT(resumes, 4 * (6 + 5 + 3 * (5 + 4) + 3 + 2 + 3 + 3 + 4 + 4));
    VOLT_EXPECT_EQ_INT(compared, 4 * (15 + 10 + 3 * (10 + 6) + 3 + 1 + 3 + 3 + 6 + 6));
    volt_graph_destroy(graph);
    volt_dataset_close(dataset);
    watchdog_disarm();
    temp_dir_remove(&dir);
}

/* first_batch == the batch count is an epoch with nothing left: done at once. Outside [0,
 * batches] is VOLT_ERR_ARG naming the value and the count (this rank's, for an evaluation
 * rank), and leaves the loader where it was. */
VOLT_TEST(loader_start_epoch_at_checks_first_batch) {
    watchdog_arm();
    enum { N = 23 };
    temp_dir dir = temp_dir_create();
    char path[PATH_BYTES];
    path_in(&dir, "ids.h5", path);
    write_id_file(path, N, -1);
    volt_dataset *dataset = NULL;
    VOLT_EXPECT_OK(volt_dataset_open(path, VOLT_SPLIT_TRAIN, &dataset));
    volt_graph *graph = new_graph();
    for (int prefetch = 0; dataset && graph && prefetch < 2; prefetch++) {
        volt_loader_options options = {
            .batch_size = 5, .shuffle = 1, .prefetch = prefetch, .seed = 8};
        volt_loader *loader = NULL;
        VOLT_EXPECT_OK(volt_loader_create(dataset, &options, &loader));
        if (!loader) continue;
        VOLT_EXPECT_EQ_INT(volt_loader_batches(loader), 5);
        volt_batch batch = {0};
        int done = 0;
        VOLT_EXPECT_OK(volt_loader_start_epoch_at(loader, 2, 5));
        for (int call = 0; call < 2; call++) {
            done = 0;
            VOLT_EXPECT_OK(volt_loader_next(loader, graph, &batch, &done));
            VOLT_EXPECT_EQ_INT(done, 1);
        }

        /* a failed call leaves the epoch going: after batch 0 of epoch 0 comes batch 1 */
        long order[N];
        volt_epoch_order(8, 0, N, 1, order);
        VOLT_EXPECT_OK(volt_loader_start_epoch(loader, 0));
        VOLT_EXPECT_OK(volt_loader_next(loader, graph, &batch, &done));
        VOLT_EXPECT_FAIL_MESSAGE(volt_loader_start_epoch_at(loader, 1, -1), VOLT_ERR_ARG,
                                 "cannot start epoch 1 at batch -1: an epoch has 5 batches, so "
                                 "first_batch must be in [0, 5]");
        VOLT_EXPECT_FAIL_MESSAGE(volt_loader_start_epoch_at(loader, 1, 6), VOLT_ERR_ARG,
                                 "cannot start epoch 1 at batch 6: an epoch has 5 batches");
        done = 0;
        VOLT_EXPECT_OK(volt_loader_next(loader, graph, &batch, &done));
        VOLT_EXPECT_EQ_INT(done, 0);
        VOLT_EXPECT_EQ_INT(batch.index, 1);
        VOLT_EXPECT_EQ_INT(batch_row_id(&batch, 0), order[5]);
        VOLT_EXPECT_EQ_INT(batch_row_id(&batch, 4), order[9]);
        volt_graph_reset(graph);
        volt_loader_destroy(loader);
    }
    /* evaluation rank 0 of 5 has 2 batches (4 samples), rank 1 has 3 (5 samples) */
    for (int rank = 0; dataset && graph && rank < 2; rank++) {
        volt_loader_options options = {.batch_size = 2, .rank = rank, .ranks = 5, .contiguous = 1};
        volt_loader *loader = NULL;
        VOLT_EXPECT_OK(volt_loader_create(dataset, &options, &loader));
        if (!loader) continue;
        const long batches = rank == 0 ? 2 : 3;
        char expected[160];
        snprintf(expected, sizeof expected,
                 "cannot start epoch 0 at batch %ld: an epoch has %ld batches on this rank, so "
                 "first_batch must be in [0, %ld]",
                 batches + 1, batches, batches);
        VOLT_EXPECT_FAIL_MESSAGE(volt_loader_start_epoch_at(loader, 0, batches + 1), VOLT_ERR_ARG,
                                 expected);
        VOLT_EXPECT_OK(volt_loader_start_epoch_at(loader, 0, batches));
        volt_batch batch = {0};
        int done = 0;
        VOLT_EXPECT_OK(volt_loader_next(loader, graph, &batch, &done));
        VOLT_EXPECT_EQ_INT(done, 1);
        volt_loader_destroy(loader);
    }
    volt_graph_destroy(graph);
    volt_dataset_close(dataset);
    watchdog_disarm();
    temp_dir_remove(&dir);
}

/* Skipped batches are not read: sample 1 has a label out of range, so reading batch 0
 * fails (checked first: the file can tell), yet an epoch resumed at batch 1 reads to its
 * end without an error. With and without prefetch. */
VOLT_TEST(loader_start_epoch_at_skips_without_reading) {
    watchdog_arm();
    enum { N = 12 };
    temp_dir dir = temp_dir_create();
    char path[PATH_BYTES];
    path_in(&dir, "bad_label.h5", path);
    write_id_file(path, N, 1);
    volt_dataset *dataset = NULL;
    VOLT_EXPECT_OK(volt_dataset_open(path, VOLT_SPLIT_TRAIN, &dataset));
    volt_graph *graph = new_graph();
    for (int prefetch = 0; dataset && graph && prefetch < 2; prefetch++) {
        volt_loader_options options = {.batch_size = 4, .prefetch = prefetch};
        volt_loader *loader = NULL;
        VOLT_EXPECT_OK(volt_loader_create(dataset, &options, &loader));
        if (!loader) continue;
        volt_batch batch = {0};
        int done = 0;
        VOLT_EXPECT_OK(volt_loader_start_epoch(loader, 0));
        VOLT_EXPECT_FAIL_MESSAGE(volt_loader_next(loader, graph, &batch, &done), VOLT_ERR_ARG,
                                 "sample 1 has label 5, outside [0, 5)");
        VOLT_EXPECT_OK(volt_loader_start_epoch_at(loader, 0, 1));
        for (long b = 1; b < 3; b++) {
            done = 0;
            VOLT_EXPECT_OK(volt_loader_next(loader, graph, &batch, &done));
            VOLT_EXPECT_EQ_INT(done, 0);
            VOLT_EXPECT_EQ_INT(batch.index, b);
            VOLT_EXPECT_EQ_INT(batch_row_id(&batch, 0), 4 * b);
            VOLT_EXPECT_EQ_INT(batch_row_id(&batch, 3), 4 * b + 3);
        }
        VOLT_EXPECT_OK(volt_loader_next(loader, graph, &batch, &done));
        VOLT_EXPECT_EQ_INT(done, 1);
        volt_loader_destroy(loader);
        volt_graph_reset(graph);
    }
    volt_graph_destroy(graph);
    volt_dataset_close(dataset);
    watchdog_disarm();
    temp_dir_remove(&dir);
}

/* ---- data modules ------------------------------------------------------------------------- */

VOLT_TEST(names_of_splits_and_stages) {
    VOLT_EXPECT(strcmp(volt_split_name(VOLT_SPLIT_TRAIN), "train") == 0);
    VOLT_EXPECT(strcmp(volt_split_name(VOLT_SPLIT_VAL), "val") == 0);
    VOLT_EXPECT(strcmp(volt_split_name(VOLT_SPLIT_TEST), "test") == 0);
    VOLT_EXPECT(strcmp(volt_split_name(VOLT_SPLIT_PREDICT), "predict") == 0);
    VOLT_EXPECT(strcmp(volt_stage_name(VOLT_STAGE_FIT), "fit") == 0);
    VOLT_EXPECT(strcmp(volt_stage_name(VOLT_STAGE_VALIDATE), "validate") == 0);
    VOLT_EXPECT(strcmp(volt_stage_name(VOLT_STAGE_TEST), "test") == 0);
    VOLT_EXPECT(strcmp(volt_stage_name(VOLT_STAGE_PREDICT), "predict") == 0);
}

/* A user's data module: a zeroed state block of its size, teardown called by destroy. */
typedef struct counting_state {
    long value;
    int *teardowns;
} counting_state;

static int counting_setup(volt_datamodule *dm, volt_stage stage, const volt_config *config) {
    (void)config;
    ((counting_state *)volt_datamodule_state(dm))->value = 10 + stage;
    return VOLT_OK;
}
static int counting_loader(volt_datamodule *dm, volt_split split, volt_loader **out) {
    (void)dm, (void)split;
    *out = NULL;
    return VOLT_OK;
}
static void counting_teardown(volt_datamodule *dm) {
    (*((counting_state *)volt_datamodule_state(dm))->teardowns)++;
}

VOLT_TEST(datamodule_object_life_cycle) {
    const volt_datamodule_ops ops = {.name = "counting",
                                     .state_size = sizeof(counting_state),
                                     .setup = counting_setup,
                                     .loader = counting_loader,
                                     .teardown = counting_teardown};
    volt_datamodule *dm = NULL;
    VOLT_EXPECT_OK(volt_datamodule_create(&ops, &dm));
    int teardowns = 0;
    if (dm) {
        counting_state *state = volt_datamodule_state(dm);
        VOLT_EXPECT_EQ_INT(state->value, 0);
        VOLT_EXPECT(volt_datamodule_ops_of(dm) == &ops);
        state->teardowns = &teardowns;
        VOLT_EXPECT_OK(ops.setup(dm, VOLT_STAGE_TEST, NULL));
        VOLT_EXPECT_EQ_INT(state->value, 12);
        volt_datamodule_destroy(dm);
    }
    VOLT_EXPECT_EQ_INT(teardowns, 1);
    volt_datamodule_destroy(NULL);

    const volt_datamodule_ops no_setup = {.name = "broken", .loader = counting_loader};
    dm = NULL;
    VOLT_EXPECT_FAIL_MESSAGE(volt_datamodule_create(&no_setup, &dm), VOLT_ERR_ARG,
                             "data module 'broken' has no setup function");
    VOLT_EXPECT(dm == NULL);
}

/* A configuration with the HDF5 data module's keys (and trainer.seed, as the trainer
 * declares it), the given settings ("key=value" pairs, NULL-terminated), resolved. */
static volt_config *hdf5_config(const char *const *settings) {
    volt_config *config = NULL;
    VOLT_EXPECT_OK(volt_config_create(&config));
    if (!config) return NULL;
    VOLT_EXPECT_OK(volt_hdf5_datamodule_ops.declare(config));
    VOLT_EXPECT_OK(volt_config_declare(config, "trainer.seed", VOLT_CONFIG_INT, "42", "seed"));
    for (int i = 0; settings && settings[i]; i++) {
        char key[128];
        const char *equals = strchr(settings[i], '=');
        snprintf(key, sizeof key, "%.*s", (int)(equals - settings[i]), settings[i]);
        VOLT_EXPECT_OK(volt_config_set(config, key, equals + 1, "test"));
    }
    VOLT_EXPECT_OK(volt_config_resolve(config));
    return config;
}

/* Declare, set data.path, resolve, setup fit: train and val loaders with the configured
 * options, and their first batches hold the right samples. Then test and predict (which
 * falls back to test). */
VOLT_TEST(hdf5_datamodule_end_to_end) {
    watchdog_arm();
    temp_dir dir = temp_dir_create();
    char path[PATH_BYTES], path_setting[PATH_BYTES + 16];
    path_in(&dir, "good.h5", path);
    write_good_file(path);
    snprintf(path_setting, sizeof path_setting, "data.path=%s", path);
    const char *settings[] = {path_setting, "data.batch_size=4", "trainer.seed=7", NULL};
    volt_config *config = hdf5_config(settings);
    volt_datamodule *dm = NULL;
    VOLT_EXPECT_OK(volt_datamodule_create(&volt_hdf5_datamodule_ops, &dm));
    volt_graph *graph = new_graph();
    if (config && dm && graph) {
        VOLT_EXPECT(strcmp(volt_datamodule_ops_of(dm)->name, "hdf5") == 0);
        VOLT_EXPECT_OK(volt_hdf5_datamodule_ops.setup(dm, VOLT_STAGE_FIT, config));
        volt_loader *train = NULL, *val = NULL, *test = NULL;
        VOLT_EXPECT_OK(volt_hdf5_datamodule_ops.loader(dm, VOLT_SPLIT_TRAIN, &train));
        VOLT_EXPECT_OK(volt_hdf5_datamodule_ops.loader(dm, VOLT_SPLIT_VAL, &val));
        VOLT_EXPECT_OK(volt_hdf5_datamodule_ops.loader(dm, VOLT_SPLIT_TEST, &test));
        VOLT_EXPECT(train != NULL);
        VOLT_EXPECT(val != NULL);
        VOLT_EXPECT(test == NULL);
        if (train) {
            const volt_loader_options *options = volt_loader_options_of(train);
            VOLT_EXPECT_EQ_INT(options->batch_size, 4);
            VOLT_EXPECT_EQ_INT(options->shuffle, 1);
            VOLT_EXPECT_EQ_INT(options->drop_last, 0);
            VOLT_EXPECT_EQ_INT(options->prefetch, 1);
            VOLT_EXPECT_EQ_INT(options->seed, 7);
            VOLT_EXPECT_EQ_INT(volt_loader_batches(train), 5);
            VOLT_EXPECT_OK(volt_loader_start_epoch(train, 0));
            volt_batch batch = {0};
            int done = 1;
            VOLT_EXPECT_OK(volt_loader_next(train, graph, &batch, &done));
            VOLT_EXPECT_EQ_INT(done, 0);
            if (!done && batch.x) {
                VOLT_EXPECT_EQ_INT(batch.x->ndim, 3);
                VOLT_EXPECT_EQ_INT(batch.x->shape[0], 4);
                VOLT_EXPECT_EQ_INT(batch.x->shape[1], 2);
                VOLT_EXPECT_EQ_INT(batch.x->shape[2], 3);
                long order[TRAIN_N];
                volt_epoch_order(7, 0, TRAIN_N, 1, order);
                double worst = 0;
                for (long row = 0; row < 4; row++) {
                    VOLT_EXPECT_EQ_INT(((int64_t *)batch.y->data)[row], order[row] % 10);
                    for (long k = 0; k < TRAIN_FEATURES; k++) {
                        double value = ((float *)batch.x->data)[row * TRAIN_FEATURES + k];
                        double diff = fabs(value - train_expected(order[row], k));
                        if (diff > worst) worst = diff;
                    }
                }
                VOLT_EXPECT_NEAR(worst, 0.0, 1e-6);
            }
        }
        if (val) {
            const volt_loader_options *options = volt_loader_options_of(val);
            VOLT_EXPECT_EQ_INT(options->batch_size, 4); /* val_batch_size 0: batch_size */
            VOLT_EXPECT_EQ_INT(options->shuffle, 0);
            VOLT_EXPECT_EQ_INT(options->drop_last, 0);
            VOLT_EXPECT_EQ_INT(volt_loader_batches(val), 2);
            VOLT_EXPECT_OK(volt_loader_start_epoch(val, 0));
            volt_batch batch = {0};
            int done = 1;
            VOLT_EXPECT_OK(volt_loader_next(val, graph, &batch, &done));
            VOLT_EXPECT_OK(volt_loader_next(val, graph, &batch, &done));
            VOLT_EXPECT_EQ_INT(batch.size, 3);
            if (!done && batch.x) {
                VOLT_EXPECT_EQ_INT(((float *)batch.x->data)[1], val_value(4, 1));
                VOLT_EXPECT_EQ_INT(((int64_t *)batch.y->data)[2], val_label(6));
            }
        }
        volt_graph_reset(graph);

        VOLT_EXPECT_OK(volt_hdf5_datamodule_ops.setup(dm, VOLT_STAGE_TEST, config));
        VOLT_EXPECT_OK(volt_hdf5_datamodule_ops.loader(dm, VOLT_SPLIT_TEST, &test));
        VOLT_EXPECT(test != NULL);
        if (test) {
            VOLT_EXPECT_EQ_INT(volt_loader_batches(test), 2);
            VOLT_EXPECT_OK(volt_loader_start_epoch(test, 0));
            volt_batch batch = {0};
            int done = 1;
            VOLT_EXPECT_OK(volt_loader_next(test, graph, &batch, &done));
            VOLT_EXPECT(batch.y == NULL); /* the test split has no labels */
        }
        volt_loader *predict = NULL;
        VOLT_EXPECT_OK(volt_hdf5_datamodule_ops.setup(dm, VOLT_STAGE_PREDICT, config));
        VOLT_EXPECT_OK(volt_hdf5_datamodule_ops.loader(dm, VOLT_SPLIT_PREDICT, &predict));
        VOLT_EXPECT(predict != NULL);
        if (predict) VOLT_EXPECT_EQ_INT(volt_dataset_length(volt_loader_dataset(predict)), TEST_N);
        VOLT_EXPECT_FAIL(volt_hdf5_datamodule_ops.loader(dm, VOLT_SPLIT_COUNT, &predict),
                         VOLT_ERR_ARG);
        volt_graph_reset(graph);
    }
    volt_graph_destroy(graph);
    volt_datamodule_destroy(dm); /* teardown closes every loader and file */
    volt_config_destroy(config);
    VOLT_EXPECT_EQ_INT(open_hdf5_objects(), 0);
    watchdog_disarm();
    temp_dir_remove(&dir);
}

/* Runs setup(stage) on a fresh HDF5 data module with these settings; it must fail with
 * status and a message containing text. */
static void expect_setup_fails(const char *const *settings, volt_stage stage, int status,
                               const char *text, int line) {
    volt_config *config = hdf5_config(settings);
    volt_datamodule *dm = NULL;
    VOLT_EXPECT_OK(volt_datamodule_create(&volt_hdf5_datamodule_ops, &dm));
    if (config && dm) {
        int got = volt_hdf5_datamodule_ops.setup(dm, stage, config);
        if (got != status)
            volt_test_fail(__FILE__, line, "setup(%s) returned %s, expected %s",
                           volt_stage_name(stage), volt_status_name(got), volt_status_name(status));
        if (!strstr(volt_error_message(), text))
            volt_test_fail(__FILE__, line, "expected \"%s\" to contain \"%s\"",
                           volt_error_message(), text);
        volt_error_clear();
    }
    volt_datamodule_destroy(dm);
    volt_config_destroy(config);
}

/* A missing data.path, a missing required split, and batch sizes that cannot work fail
 * setup with messages naming the key, the file, the split and its length. */
VOLT_TEST(hdf5_datamodule_rejects_bad_setup) {
    temp_dir dir = temp_dir_create();
    char path[PATH_BYTES], path_setting[PATH_BYTES + 16], expected[1024];
    path_in(&dir, "ids.h5", path); /* train only: 23 samples */
    write_id_file(path, 23, -1);
    snprintf(path_setting, sizeof path_setting, "data.path=%s", path);

    const char *no_path[] = {NULL};
    expect_setup_fails(no_path, VOLT_STAGE_FIT, VOLT_ERR_CONFIG, "data.path is not set", __LINE__);

    const char *plain[] = {path_setting, NULL};
    snprintf(expected, sizeof expected, "data file '%s' has no split 'val'", path);
    expect_setup_fails(plain, VOLT_STAGE_VALIDATE, VOLT_ERR_IO, expected, __LINE__);
    snprintf(expected, sizeof expected, "data file '%s' has no split 'test'", path);
    expect_setup_fails(plain, VOLT_STAGE_TEST, VOLT_ERR_IO, expected, __LINE__);
    expect_setup_fails(plain, VOLT_STAGE_PREDICT, VOLT_ERR_IO, expected, __LINE__);

    const char *zero_batch[] = {path_setting, "data.batch_size=0", NULL};
    snprintf(expected, sizeof expected,
             "data.batch_size = 0 must be at least 1 (split 'train' of '%s' has 23 samples)", path);
    expect_setup_fails(zero_batch, VOLT_STAGE_FIT, VOLT_ERR_CONFIG, expected, __LINE__);

    const char *too_large[] = {path_setting, "data.batch_size=24", "data.drop_last=true", NULL};
    snprintf(expected, sizeof expected,
             "data.batch_size = 24 is larger than the 23 samples of split 'train' of '%s'", path);
    expect_setup_fails(too_large, VOLT_STAGE_FIT, VOLT_ERR_CONFIG, expected, __LINE__);

    const char *negative_val[] = {path_setting, "data.val_batch_size=-1", NULL};
    expect_setup_fails(negative_val, VOLT_STAGE_FIT, VOLT_ERR_CONFIG,
                       "data.val_batch_size = -1 must be at least 0", __LINE__);

    /* fit without a val split is fine: no val loader; drop_last with batch = length too */
    const char *fits[] = {path_setting,          "data.batch_size=23", "data.drop_last=true",
                          "data.prefetch=false", "data.shuffle=false", NULL};
    volt_config *config = hdf5_config(fits);
    volt_datamodule *dm = NULL;
    VOLT_EXPECT_OK(volt_datamodule_create(&volt_hdf5_datamodule_ops, &dm));
    if (config && dm) {
        VOLT_EXPECT_OK(volt_hdf5_datamodule_ops.setup(dm, VOLT_STAGE_FIT, config));
        volt_loader *train = NULL, *val = (volt_loader *)&val;
        VOLT_EXPECT_OK(volt_hdf5_datamodule_ops.loader(dm, VOLT_SPLIT_TRAIN, &train));
        VOLT_EXPECT_OK(volt_hdf5_datamodule_ops.loader(dm, VOLT_SPLIT_VAL, &val));
        VOLT_EXPECT(train != NULL);
        VOLT_EXPECT(val == NULL);
        if (train) {
            VOLT_EXPECT_EQ_INT(volt_loader_batches(train), 1);
            VOLT_EXPECT_EQ_INT(volt_loader_options_of(train)->prefetch, 0);
            VOLT_EXPECT_EQ_INT(volt_loader_options_of(train)->shuffle, 0);
            VOLT_EXPECT_EQ_INT(volt_loader_options_of(train)->seed, 42); /* trainer.seed */
        }
    }
    volt_datamodule_destroy(dm);
    volt_config_destroy(config);
    VOLT_EXPECT_EQ_INT(open_hdf5_objects(), 0);
    temp_dir_remove(&dir);
}

/* lib/data/dataset.c — reading Volt's HDF5 data layout (see dataset.h).
 *
 * A read gathers the sorted, distinct rows asked for, selects them in the file as one
 * union of hyperslabs (one per run of consecutive rows: SET for the first, OR for the
 * rest), and reads that selection in one H5Dread into a scratch buffer, HDF5 converting
 * u8 or f32 to f32 (and any integer label type to i64) on the way. The scratch rows are
 * normalised, f = x * (scale / std) - mean / std, checked (labels), and copied out in the
 * caller's order, a repeated index copying the same row again.
 *
 * HDF5 is not thread-safe in this build, so every HDF5 call here holds volt_hdf5_lock,
 * with HDF5's own error printing switched off for the time (its reason is put into our
 * message instead, and the previous handler is restored). The files are opened with the
 * default (serial) file access property list. */
#include "data/dataset.h"
#include "data/hdf5_util.h"

#include <errno.h>
#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define VOLT_DATASET_FORMAT "volt-dataset-1"

enum { SAMPLE_MAX_DIMS = 3 }; /* x is [N, d1 .. dk], k = 1..3 */

struct volt_dataset {
    char *path;
    volt_split split;
    hid_t file, x, y; /* y < 0: no labels */
    long length;
    int sample_ndim;
    long sample_shape[SAMPLE_MAX_DIMS];
    long features;
    long num_classes;
    double scale, mean, std;
    /* Scratch of volt_dataset_read, grown as needed; read_mutex makes one read at a time. */
    pthread_mutex_t read_mutex;
    long *rows;
    float *x_rows;
    int64_t *y_rows;
    size_t rows_capacity, x_rows_capacity, y_rows_capacity; /* elements */
    /* volt_dataset_load: the whole split, normalised; NULL until then */
    float *x_all;
    int64_t *y_all;
};

static const char *const split_names[VOLT_SPLIT_COUNT] = {"train", "val", "test", "predict"};

const char *volt_split_name(volt_split split) {
    return (int)split >= 0 && (int)split < VOLT_SPLIT_COUNT ? split_names[split]
                                                            : "(unknown split)";
}

/* ---- the HDF5 lock ------------------------------------------------------------------- */

static void close_object(hid_t *id) {
    if (*id >= 0) H5Oclose(*id);
    *id = -1;
}

static void close_type(hid_t *id) {
    if (*id >= 0) H5Tclose(*id);
    *id = -1;
}

static void close_space(hid_t *id) {
    if (*id >= 0) H5Sclose(*id);
    *id = -1;
}

static void close_attribute(hid_t *id) {
    if (*id >= 0) H5Aclose(*id);
    *id = -1;
}

static void close_file(hid_t *id) {
    if (*id >= 0) H5Fclose(*id);
    *id = -1;
}

/* "u8", "i64", "f64", or the class for anything else ("string", "compound", ...). */
static const char *type_description(hid_t type, char *buf, size_t size) {
    H5T_class_t type_class = H5Tget_class(type);
    size_t bits = H5Tget_size(type) * 8;
    if (type_class == H5T_INTEGER)
        snprintf(buf, size, "%s%zu", H5Tget_sign(type) == H5T_SGN_NONE ? "u" : "i", bits);
    else if (type_class == H5T_FLOAT)
        snprintf(buf, size, "f%zu", bits);
    else if (type_class == H5T_STRING)
        snprintf(buf, size, "string");
    else if (type_class == H5T_COMPOUND)
        snprintf(buf, size, "compound");
    else if (type_class == H5T_ENUM)
        snprintf(buf, size, "enum");
    else if (type_class == H5T_ARRAY)
        snprintf(buf, size, "array");
    else
        snprintf(buf, size, "a type of class %d", (int)type_class);
    return buf;
}

/* ---- opening ------------------------------------------------------------------------- */

/* Opens path read-only as HDF5 (to read split), with messages for a missing file and a
 * file that is not HDF5. Holds the lock (the caller's h5_enter). */
static int open_file(const char *path, const char *split, hid_t *out) {
    *out = -1;
    struct stat info;
    if (stat(path, &info) != 0)
        return VOLT_ERROR(VOLT_ERR_IO, "cannot open data file '%s' (split '%s'): %s", path, split,
                          strerror(errno));
    if (S_ISDIR(info.st_mode))
        return VOLT_ERROR(VOLT_ERR_IO, "cannot open data file '%s' (split '%s'): it is a directory",
                          path, split);
    htri_t is_hdf5 = H5Fis_hdf5(path);
    if (is_hdf5 <= 0) {
        volt_h5_reason_buffer reason = volt_h5_reason();
        return VOLT_ERROR(VOLT_ERR_IO, "data file '%s' (split '%s') is not an HDF5 file%s", path,
                          split, is_hdf5 < 0 ? reason.text : "");
    }
    /* No data sieving: a shuffled batch's rows lie all over the file, and HDF5's default
     * 64 KiB sieve buffer read 64 KiB around each of them (a 64-row batch of 28x28 bytes:
     * 1.1 ms with it, 0.2 ms without). */
    hid_t access = H5Pcreate(H5P_FILE_ACCESS);
    if (access >= 0) H5Pset_sieve_buf_size(access, 0);
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, access >= 0 ? access : H5P_DEFAULT);
    if (access >= 0) H5Pclose(access);
    if (file < 0) {
        volt_h5_reason_buffer reason = volt_h5_reason();
        return VOLT_ERROR(VOLT_ERR_HDF5, "cannot open data file '%s' (split '%s')%s", path, split,
                          reason.text);
    }
    *out = file;
    return VOLT_OK;
}

/* Whether group `name` of the root exists with a link x in it. */
static int split_present(hid_t file, const char *name, int *has) {
    *has = 0;
    htri_t group_exists = H5Lexists(file, name, H5P_DEFAULT);
    if (group_exists <= 0) return VOLT_OK;
    char x_path[32];
    snprintf(x_path, sizeof x_path, "%s/x", name);
    htri_t x_exists = H5Lexists(file, x_path, H5P_DEFAULT); /* fails if name is no group */
    *has = x_exists > 0;
    return VOLT_OK;
}

int volt_dataset_has_split(const char *path, volt_split split, int *has) {
    VOLT_CHECK_ARG(path && has);
    VOLT_CHECK_ARG((int)split >= 0 && (int)split < VOLT_SPLIT_COUNT);
    *has = 0;
    volt_h5_quiet quiet;
    volt_h5_enter(&quiet);
    hid_t file;
    int status = open_file(path, split_names[split], &file);
    if (status == VOLT_OK) {
        status = split_present(file, split_names[split], has);
        close_file(&file);
    }
    volt_h5_leave(&quiet);
    if (status != VOLT_OK)
        return volt_error_push(status, __FILE__, __LINE__, __func__, "called from here");
    return VOLT_OK;
}

/* Checks the root's "format" attribute when the file has one (files written by other
 * tools may lack it; a different format is refused). */
static int check_format(hid_t file, const char *path) {
    htri_t exists = H5Aexists(file, "format");
    if (exists == 0) return VOLT_OK;
    if (exists < 0)
        return VOLT_ERROR(VOLT_ERR_HDF5, "data file '%s': cannot look up attribute format%s", path,
                          volt_h5_reason().text);
    int status = VOLT_OK;
    hid_t attribute = H5Aopen(file, "format", H5P_DEFAULT);
    hid_t file_type = attribute >= 0 ? H5Aget_type(attribute) : -1;
    hid_t memory_type = -1;
    char text[64] = "";
    if (file_type < 0) {
        status = VOLT_ERROR(VOLT_ERR_HDF5, "data file '%s': cannot open attribute format%s", path,
                            volt_h5_reason().text);
        goto done;
    }
    if (H5Tget_class(file_type) != H5T_STRING) {
        char type_text[32];
        status = VOLT_ERROR(VOLT_ERR_UNSUPPORTED,
                            "data file '%s': attribute format is %s, expected the string '%s'",
                            path, type_description(file_type, type_text, sizeof type_text),
                            VOLT_DATASET_FORMAT);
        goto done;
    }
    memory_type = H5Tcopy(H5T_C_S1);
    if (H5Tis_variable_str(file_type) > 0) {
        char *value = NULL;
        H5Tset_size(memory_type, H5T_VARIABLE);
        if (H5Aread(attribute, memory_type, &value) < 0) {
            status = VOLT_ERROR(VOLT_ERR_HDF5, "data file '%s': cannot read attribute format%s",
                                path, volt_h5_reason().text);
            goto done;
        }
        snprintf(text, sizeof text, "%s", value ? value : "");
        H5free_memory(value);
    } else {
        size_t length = H5Tget_size(file_type);
        char *value = calloc(length + 1, 1);
        if (!value) {
            status = VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory reading attribute format");
            goto done;
        }
        H5Tset_size(memory_type, length + 1);
        H5Tset_strpad(memory_type, H5T_STR_NULLTERM);
        if (H5Aread(attribute, memory_type, value) < 0) {
            free(value);
            status = VOLT_ERROR(VOLT_ERR_HDF5, "data file '%s': cannot read attribute format%s",
                                path, volt_h5_reason().text);
            goto done;
        }
        snprintf(text, sizeof text, "%s", value);
        free(value);
    }
    if (strcmp(text, VOLT_DATASET_FORMAT) != 0)
        status =
            VOLT_ERROR(VOLT_ERR_UNSUPPORTED, "data file '%s' has format '%s'; this Volt reads '%s'",
                       path, text, VOLT_DATASET_FORMAT);
done:
    close_type(&memory_type);
    close_type(&file_type);
    close_attribute(&attribute);
    return status;
}

/* A numeric scalar attribute read as double; *value unchanged when it is absent. */
static int read_scalar_attribute(hid_t object, const char *name, hid_t memory_type, void *value,
                                 int *present, const char *where) {
    *present = 0;
    htri_t exists = H5Aexists(object, name);
    if (exists == 0) return VOLT_OK;
    if (exists < 0)
        return VOLT_ERROR(VOLT_ERR_HDF5, "%s: cannot look up attribute %s%s", where, name,
                          volt_h5_reason().text);
    int status = VOLT_OK;
    hid_t attribute = H5Aopen(object, name, H5P_DEFAULT);
    hid_t type = attribute >= 0 ? H5Aget_type(attribute) : -1;
    hid_t space = attribute >= 0 ? H5Aget_space(attribute) : -1;
    if (type < 0 || space < 0) {
        status = VOLT_ERROR(VOLT_ERR_HDF5, "%s: cannot open attribute %s%s", where, name,
                            volt_h5_reason().text);
        goto done;
    }
    H5T_class_t type_class = H5Tget_class(type);
    if ((type_class != H5T_INTEGER && type_class != H5T_FLOAT) ||
        H5Sget_simple_extent_npoints(space) != 1) {
        char type_text[32];
        status = VOLT_ERROR(VOLT_ERR_UNSUPPORTED,
                            "%s: attribute %s must be one number, not %s with %lld elements", where,
                            name, type_description(type, type_text, sizeof type_text),
                            (long long)H5Sget_simple_extent_npoints(space));
        goto done;
    }
    if (H5Aread(attribute, memory_type, value) < 0) {
        status = VOLT_ERROR(VOLT_ERR_HDF5, "%s: cannot read attribute %s%s", where, name,
                            volt_h5_reason().text);
        goto done;
    }
    *present = 1;
done:
    close_space(&space);
    close_type(&type);
    close_attribute(&attribute);
    return status;
}

/* x: u8 or f32, [N, d1 .. dk] with k = 1..3, and its scale/mean/std attributes. */
static int inspect_x(volt_dataset *ds, const char *where) {
    int status = VOLT_OK;
    hid_t type = H5Dget_type(ds->x);
    hid_t space = H5Dget_space(ds->x);
    if (type < 0 || space < 0) {
        status = VOLT_ERROR(VOLT_ERR_HDF5, "%s: cannot inspect x%s", where, volt_h5_reason().text);
        goto done;
    }
    H5T_class_t type_class = H5Tget_class(type);
    size_t type_size = H5Tget_size(type);
    int is_u8 = type_class == H5T_INTEGER && type_size == 1 && H5Tget_sign(type) == H5T_SGN_NONE;
    int is_f32 = type_class == H5T_FLOAT && type_size == 4;
    if (!is_u8 && !is_f32) {
        char type_text[32];
        status = VOLT_ERROR(VOLT_ERR_UNSUPPORTED, "%s: x has dtype %s; expected u8 or f32", where,
                            type_description(type, type_text, sizeof type_text));
        goto done;
    }
    int ndims = H5Sget_simple_extent_ndims(space);
    if (ndims < 2 || ndims > 1 + SAMPLE_MAX_DIMS) {
        status = VOLT_ERROR(VOLT_ERR_UNSUPPORTED,
                            "%s: x has %d dimensions; expected 2 to %d ([N, d1 .. dk], k = 1..%d)",
                            where, ndims, 1 + SAMPLE_MAX_DIMS, SAMPLE_MAX_DIMS);
        goto done;
    }
    hsize_t dims[1 + SAMPLE_MAX_DIMS];
    H5Sget_simple_extent_dims(space, dims, NULL);
    if (dims[0] > (hsize_t)LONG_MAX) {
        status = VOLT_ERROR(VOLT_ERR_UNSUPPORTED, "%s: x has too many samples", where);
        goto done;
    }
    ds->length = (long)dims[0];
    ds->sample_ndim = ndims - 1;
    ds->features = 1;
    for (int d = 0; d < ds->sample_ndim; d++) {
        hsize_t extent = dims[d + 1];
        if (extent == 0 || extent > (hsize_t)(LONG_MAX / ds->features)) {
            status = VOLT_ERROR(VOLT_ERR_SHAPE,
                                "%s: x's sample dimension %d has size %llu; expected 1 or more "
                                "(and a sample that fits in memory)",
                                where, d + 1, (unsigned long long)extent);
            goto done;
        }
        ds->sample_shape[d] = (long)extent;
        ds->features *= (long)extent;
    }

    const char *const names[3] = {"scale", "mean", "std"};
    double *const values[3] = {&ds->scale, &ds->mean, &ds->std};
    for (int a = 0; a < 3; a++) {
        int present;
        status =
            read_scalar_attribute(ds->x, names[a], H5T_NATIVE_DOUBLE, values[a], &present, where);
        if (status != VOLT_OK) goto done;
        if (!isfinite(*values[a]) || (a == 2 && *values[a] == 0.0)) {
            status = VOLT_ERROR(VOLT_ERR_NUMERIC,
                                "%s: attribute x.%s = %g; expected a finite%s "
                                "number",
                                where, names[a], *values[a], a == 2 ? " non-zero" : "");
            goto done;
        }
    }
done:
    close_space(&space);
    close_type(&type);
    return status;
}

/* y: an integer type, [N] with N as x's; and the root's num_classes. */
static int inspect_y(volt_dataset *ds, const char *where) {
    int status = VOLT_OK;
    hid_t type = H5Dget_type(ds->y);
    hid_t space = H5Dget_space(ds->y);
    if (type < 0 || space < 0) {
        status = VOLT_ERROR(VOLT_ERR_HDF5, "%s: cannot inspect y%s", where, volt_h5_reason().text);
        goto done;
    }
    if (H5Tget_class(type) != H5T_INTEGER) {
        char type_text[32];
        status = VOLT_ERROR(VOLT_ERR_UNSUPPORTED,
                            "%s: y has dtype %s; expected an integer type (u8, i32 or i64)", where,
                            type_description(type, type_text, sizeof type_text));
        goto done;
    }
    int ndims = H5Sget_simple_extent_ndims(space);
    if (ndims != 1) {
        status =
            VOLT_ERROR(VOLT_ERR_SHAPE, "%s: y has %d dimensions; expected 1 ([N])", where, ndims);
        goto done;
    }
    hsize_t length;
    H5Sget_simple_extent_dims(space, &length, NULL);
    if (length != (hsize_t)ds->length) {
        status = VOLT_ERROR(VOLT_ERR_SHAPE, "%s: x has %ld samples but y has %llu", where,
                            ds->length, (unsigned long long)length);
        goto done;
    }
    int64_t num_classes = 0;
    int present;
    char root_where[512];
    snprintf(root_where, sizeof root_where, "data file '%s'", ds->path);
    status = read_scalar_attribute(ds->file, "num_classes", H5T_NATIVE_INT64, &num_classes,
                                   &present, root_where);
    if (status != VOLT_OK) goto done;
    if (!present) {
        status = VOLT_ERROR(
            VOLT_ERR_IO, "%s: y is present but the file has no num_classes attribute on /", where);
        goto done;
    }
    if (num_classes <= 0 || num_classes > LONG_MAX) {
        status = VOLT_ERROR(VOLT_ERR_IO, "data file '%s': num_classes = %lld; expected >= 1",
                            ds->path, (long long)num_classes);
        goto done;
    }
    ds->num_classes = (long)num_classes;
done:
    close_space(&space);
    close_type(&type);
    return status;
}

/* Opens /<split>/x (and y when present). Holds the lock. */
static int open_split(volt_dataset *ds, const char *where) {
    const char *name = split_names[ds->split];
    int status = check_format(ds->file, ds->path);
    if (status != VOLT_OK) return status;

    htri_t group_exists = H5Lexists(ds->file, name, H5P_DEFAULT);
    if (group_exists <= 0)
        return VOLT_ERROR(VOLT_ERR_IO, "data file '%s' has no split '%s' (no group /%s)", ds->path,
                          name, name);
    hid_t group = H5Gopen2(ds->file, name, H5P_DEFAULT);
    if (group < 0)
        return VOLT_ERROR(VOLT_ERR_IO, "data file '%s': /%s is not a group%s", ds->path, name,
                          volt_h5_reason().text);
    if (H5Lexists(group, "x", H5P_DEFAULT) <= 0) {
        status = VOLT_ERROR(VOLT_ERR_IO, "%s: no dataset x (expected /%s/x)", where, name);
        goto done;
    }
    /* A file written elsewhere may be chunked and compressed: give x a chunk cache large
     * enough that shuffled reads do not inflate the same chunk again and again (HDF5's
     * default is 1 MiB). volt-data writes contiguous arrays, for which it is unused. */
    hid_t access = H5Pcreate(H5P_DATASET_ACCESS);
    if (access >= 0) H5Pset_chunk_cache(access, 12421, (size_t)256 << 20, 1.0);
    ds->x = H5Dopen2(group, "x", access >= 0 ? access : H5P_DEFAULT);
    if (access >= 0) H5Pclose(access);
    if (ds->x < 0) {
        status = VOLT_ERROR(VOLT_ERR_IO, "%s: cannot open x as a dataset%s", where,
                            volt_h5_reason().text);
        goto done;
    }
    status = inspect_x(ds, where);
    if (status != VOLT_OK) goto done;
    if (H5Lexists(group, "y", H5P_DEFAULT) > 0) {
        ds->y = H5Dopen2(group, "y", H5P_DEFAULT);
        if (ds->y < 0) {
            status = VOLT_ERROR(VOLT_ERR_IO, "%s: cannot open y as a dataset%s", where,
                                volt_h5_reason().text);
            goto done;
        }
        status = inspect_y(ds, where);
    }
done:
    H5Gclose(group);
    return status;
}

/* Closes the HDF5 handles; holds the lock. */
static void close_handles(volt_dataset *ds) {
    close_object(&ds->y);
    close_object(&ds->x);
    close_file(&ds->file);
}

static void dataset_free(volt_dataset *ds) {
    pthread_mutex_destroy(&ds->read_mutex);
    free(ds->rows);
    free(ds->x_rows);
    free(ds->y_rows);
    free(ds->x_all);
    free(ds->y_all);
    free(ds->path);
    free(ds);
}

int volt_dataset_open(const char *path, volt_split split, volt_dataset **out) {
    VOLT_CHECK_ARG(path && out);
    VOLT_CHECK_ARG((int)split >= 0 && (int)split < VOLT_SPLIT_COUNT);
    *out = NULL;
    volt_dataset *ds = calloc(1, sizeof *ds);
    VOLT_CHECK_ALLOC(ds, sizeof *ds);
    size_t path_bytes = strlen(path) + 1;
    ds->path = malloc(path_bytes);
    if (!ds->path) {
        free(ds);
        return VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory allocating %zu bytes for a path",
                          path_bytes);
    }
    memcpy(ds->path, path, path_bytes);
    pthread_mutex_init(&ds->read_mutex, NULL);
    ds->split = split;
    ds->file = ds->x = ds->y = -1;
    ds->scale = 1.0;
    ds->mean = 0.0;
    ds->std = 1.0;

    char where[512];
    snprintf(where, sizeof where, "data file '%s', split '%s'", path, split_names[split]);
    volt_h5_quiet quiet;
    volt_h5_enter(&quiet);
    int status = open_file(path, split_names[split], &ds->file);
    if (status == VOLT_OK) status = open_split(ds, where);
    if (status != VOLT_OK) close_handles(ds);
    volt_h5_leave(&quiet);
    if (status != VOLT_OK) {
        dataset_free(ds);
        return volt_error_push(status, __FILE__, __LINE__, __func__, "called from here");
    }
    *out = ds;
    return VOLT_OK;
}

void volt_dataset_close(volt_dataset *dataset) {
    if (!dataset) return;
    volt_h5_quiet quiet;
    volt_h5_enter(&quiet);
    close_handles(dataset);
    volt_h5_leave(&quiet);
    dataset_free(dataset);
}

long volt_dataset_length(const volt_dataset *dataset) { return dataset->length; }
int volt_dataset_sample_ndim(const volt_dataset *dataset) { return dataset->sample_ndim; }
const long *volt_dataset_sample_shape(const volt_dataset *dataset) { return dataset->sample_shape; }
long volt_dataset_features(const volt_dataset *dataset) { return dataset->features; }
int volt_dataset_has_labels(const volt_dataset *dataset) { return dataset->y >= 0; }
long volt_dataset_num_classes(const volt_dataset *dataset) { return dataset->num_classes; }
const char *volt_dataset_path(const volt_dataset *dataset) { return dataset->path; }

/* ---- reading ------------------------------------------------------------------------- */

static int compare_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* Grows *buffer to hold count elements of element_size bytes. */
static int reserve(void **buffer, size_t *capacity, size_t count, size_t element_size) {
    if (count <= *capacity) return VOLT_OK;
    if (count > SIZE_MAX / element_size)
        return VOLT_ERROR(VOLT_ERR_NOMEM, "read of %zu elements is too large", count);
    void *grown = realloc(*buffer, count * element_size);
    VOLT_CHECK_ALLOC(grown, count * element_size);
    *buffer = grown;
    *capacity = count;
    return VOLT_OK;
}

/* Selects rows rows[0 .. row_count) (sorted, distinct) of dataset `data` in the file, one
 * hyperslab per run of consecutive rows, and reads them into buffer as memory_type. Holds
 * the lock. */
static int read_rows(const volt_dataset *ds, hid_t data, const char *name, hid_t memory_type,
                     const long *rows, long row_count, long row_elements, void *buffer) {
    int status = VOLT_OK;
    hid_t file_space = H5Dget_space(data);
    hid_t memory_space = -1;
    if (file_space < 0) {
        status = VOLT_ERROR(VOLT_ERR_HDF5, "data file '%s', split '%s': cannot get %s's space%s",
                            ds->path, split_names[ds->split], name, volt_h5_reason().text);
        goto done;
    }
    hsize_t start[1 + SAMPLE_MAX_DIMS] = {0}, count[1 + SAMPLE_MAX_DIMS];
    H5Sget_simple_extent_dims(file_space, count, NULL);
    for (long first = 0; first < row_count;) {
        long last = first;
        while (last + 1 < row_count && rows[last + 1] == rows[last] + 1) last++;
        start[0] = (hsize_t)rows[first];
        count[0] = (hsize_t)(last - first + 1);
        if (H5Sselect_hyperslab(file_space, first == 0 ? H5S_SELECT_SET : H5S_SELECT_OR, start,
                                NULL, count, NULL) < 0) {
            status = VOLT_ERROR(VOLT_ERR_HDF5,
                                "data file '%s', split '%s': cannot select rows %ld..%ld of %s%s",
                                ds->path, split_names[ds->split], rows[first], rows[last], name,
                                volt_h5_reason().text);
            goto done;
        }
        first = last + 1;
    }
    hsize_t elements = (hsize_t)row_count * (hsize_t)row_elements;
    memory_space = H5Screate_simple(1, &elements, NULL);
    if (memory_space < 0 ||
        H5Dread(data, memory_type, memory_space, file_space, H5P_DEFAULT, buffer) < 0) {
        status =
            VOLT_ERROR(VOLT_ERR_HDF5, "data file '%s', split '%s': cannot read %ld rows of %s%s",
                       ds->path, split_names[ds->split], row_count, name, volt_h5_reason().text);
        goto done;
    }
done:
    close_space(&memory_space);
    close_space(&file_space);
    return status;
}

/* Position of row in the sorted distinct rows (it is there). */
static long row_position(const long *rows, long row_count, long row) {
    const long *found = bsearch(&row, rows, (size_t)row_count, sizeof *rows, compare_long);
    return found ? (long)(found - rows) : -1;
}

/* From the split in memory (volt_dataset_load): row copies. */
static void read_loaded(const volt_dataset *ds, const long *indices, long count, float *x_out,
                        int64_t *y_out) {
    const size_t features = (size_t)ds->features;
    for (long i = 0; i < count; i++) {
        if (x_out)
            memcpy(x_out + (size_t)i * features, ds->x_all + (size_t)indices[i] * features,
                   features * sizeof *x_out);
        if (y_out && ds->y_all) y_out[i] = ds->y_all[indices[i]];
    }
}

static int read_locked(volt_dataset *ds, const long *indices, long count, float *x_out,
                       int64_t *y_out) {
    if (ds->x_all) {
        read_loaded(ds, indices, count, x_out, y_out);
        return VOLT_OK;
    }
    VOLT_CHECK(reserve((void **)&ds->rows, &ds->rows_capacity, (size_t)count, sizeof *ds->rows));
    memcpy(ds->rows, indices, (size_t)count * sizeof *indices);
    qsort(ds->rows, (size_t)count, sizeof *ds->rows, compare_long);
    long row_count = 0;
    for (long i = 0; i < count; i++)
        if (row_count == 0 || ds->rows[i] != ds->rows[row_count - 1])
            ds->rows[row_count++] = ds->rows[i];

    const int want_x = x_out != NULL, want_y = y_out != NULL && ds->y >= 0;
    if (want_x) {
        if ((size_t)row_count > SIZE_MAX / (size_t)ds->features)
            return VOLT_ERROR(VOLT_ERR_NOMEM, "read of %ld samples is too large", row_count);
        VOLT_CHECK(reserve((void **)&ds->x_rows, &ds->x_rows_capacity,
                           (size_t)row_count * (size_t)ds->features, sizeof *ds->x_rows));
    }
    if (want_y)
        VOLT_CHECK(reserve((void **)&ds->y_rows, &ds->y_rows_capacity, (size_t)row_count,
                           sizeof *ds->y_rows));

    volt_h5_quiet quiet;
    volt_h5_enter(&quiet);
    int status = VOLT_OK;
    if (want_x)
        status = read_rows(ds, ds->x, "x", H5T_NATIVE_FLOAT, ds->rows, row_count, ds->features,
                           ds->x_rows);
    if (status == VOLT_OK && want_y)
        status = read_rows(ds, ds->y, "y", H5T_NATIVE_INT64, ds->rows, row_count, 1, ds->y_rows);
    volt_h5_leave(&quiet);
    VOLT_CHECK(status);

    if (want_y)
        for (long r = 0; r < row_count; r++)
            if (ds->y_rows[r] < 0 || ds->y_rows[r] >= ds->num_classes)
                return VOLT_ERROR(VOLT_ERR_ARG,
                                  "data file '%s', split '%s': sample %ld has label %lld, "
                                  "outside [0, %ld)",
                                  ds->path, split_names[ds->split], ds->rows[r],
                                  (long long)ds->y_rows[r], ds->num_classes);

    const size_t features = (size_t)ds->features;
    if (want_x && (ds->scale != 1.0 || ds->mean != 0.0 || ds->std != 1.0)) {
        const float gain = (float)(ds->scale / ds->std), shift = (float)(-ds->mean / ds->std);
        float *values = ds->x_rows;
        const size_t n = (size_t)row_count * features;
        for (size_t i = 0; i < n; i++) values[i] = values[i] * gain + shift;
    }
    for (long i = 0; i < count; i++) {
        long r = row_position(ds->rows, row_count, indices[i]);
        if (r < 0) return VOLT_ERROR(VOLT_ERR_INTERNAL, "row %ld lost while reading", indices[i]);
        if (want_x)
            memcpy(x_out + (size_t)i * features, ds->x_rows + (size_t)r * features,
                   features * sizeof *x_out);
        if (want_y) y_out[i] = ds->y_rows[r];
    }
    return VOLT_OK;
}

int volt_dataset_load(volt_dataset *dataset) {
    VOLT_CHECK_ARG(dataset);
    if (dataset->x_all || dataset->length == 0) return VOLT_OK;
    const size_t n = (size_t)dataset->length, features = (size_t)dataset->features;
    if (n > SIZE_MAX / sizeof(float) / features)
        return VOLT_ERROR(VOLT_ERR_NOMEM,
                          "data file '%s', split '%s': %zu samples of %zu "
                          "features do not fit in memory",
                          dataset->path, split_names[dataset->split], n, features);
    float *x = malloc(n * features * sizeof *x);
    int64_t *y = dataset->y >= 0 ? malloc(n * sizeof *y) : NULL;
    long *all = malloc(n * sizeof *all);
    if (!x || !all || (dataset->y >= 0 && !y)) {
        free(x), free(y), free(all);
        return VOLT_ERROR(VOLT_ERR_NOMEM,
                          "data file '%s', split '%s': out of memory loading %zu samples "
                          "(%.1f MB; data.in_memory needs 4 bytes per feature)",
                          dataset->path, split_names[dataset->split], n,
                          (double)(n * features * sizeof *x) / 1e6);
    }
    for (size_t i = 0; i < n; i++) all[i] = (long)i;
    /* in pieces, so that the scratch of one read stays small */
    int status = VOLT_OK;
    const long piece = 4096;
    for (long first = 0; first < (long)n && status == VOLT_OK; first += piece) {
        long count = (long)n - first < piece ? (long)n - first : piece;
        status = volt_dataset_read(dataset, all + first, count, x + (size_t)first * features,
                                   y ? y + first : NULL);
    }
    free(all);
    if (status != VOLT_OK) {
        free(x), free(y);
        return VOLT_ERROR(status, "loading split '%s' of '%s' into memory",
                          split_names[dataset->split], dataset->path);
    }
    pthread_mutex_lock(&dataset->read_mutex);
    dataset->x_all = x;
    dataset->y_all = y;
    pthread_mutex_unlock(&dataset->read_mutex);
    return VOLT_OK;
}

size_t volt_dataset_loaded_bytes(const volt_dataset *dataset) {
    if (!dataset || !dataset->x_all) return 0;
    return (size_t)dataset->length *
           ((size_t)dataset->features * sizeof(float) + (dataset->y_all ? sizeof(int64_t) : 0));
}

int volt_dataset_read(volt_dataset *dataset, const long *indices, long count, float *x_out,
                      int64_t *y_out) {
    VOLT_CHECK_ARG(dataset && count >= 0);
    VOLT_CHECK_ARG(indices || count == 0);
    for (long i = 0; i < count; i++)
        if (indices[i] < 0 || indices[i] >= dataset->length)
            return VOLT_ERROR(VOLT_ERR_ARG,
                              "data file '%s', split '%s': sample index %ld (position %ld of "
                              "the read) is outside [0, %ld)",
                              dataset->path, split_names[dataset->split], indices[i], i,
                              dataset->length);
    if (count == 0) return VOLT_OK;
    pthread_mutex_lock(&dataset->read_mutex);
    int status = read_locked(dataset, indices, count, x_out, y_out);
    pthread_mutex_unlock(&dataset->read_mutex);
    VOLT_CHECK(status);
    return VOLT_OK;
}

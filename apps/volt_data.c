/* apps/volt_data.c — volt-data: converts data sets into Volt's HDF5 layout (the contract
 * at the top of lib/data/dataset.h) and describes such files.
 *
 *     volt-data idx  --train-images F --train-labels F [--test-images F --test-labels F]
 *                    [--val-fraction 0.1 | --val-count N] [--seed S] [--num-classes K]
 *                    --output OUT.h5 [--force]
 *     volt-data csv  --train F.csv [--test F.csv] [--label-column NAME|INDEX]
 *                    [--header auto|yes|no] [...the same split options] --output OUT.h5
 *     volt-data text [--block-size 128] [...the same split options, without --num-classes]
 *                    --output OUT.h5 [--force] FILE [FILE ...]
 *     volt-data info FILE.h5
 *
 * text makes byte-level token windows for language models: the files' bytes joined in the
 * order given (a '\n' after each file but the last that does not end with one), cut into
 * windows of T + 1 bytes at stride T = --block-size (consecutive windows share one byte: a
 * model takes x[:, :T] as input and x[:, 1:] as targets, so every byte after the first is a
 * target exactly once; the tail shorter than a window is dropped). x is u8 [N, T + 1] with
 * scale 1, mean 0 and std 1, so the loader hands the model the byte values as f32; there is
 * no y and no num_classes; the root gets tokenizer = "bytes" and vocab_size = 256. A NUL
 * byte marks a binary file (fortune's .dat indexes): refused as not text.
 *
 * A conversion reads and checks everything in memory first, then writes OUT.h5.tmp and
 * renames it to OUT.h5 only when every write (and the final close, which flushes)
 * succeeded: a failed run leaves no file behind and never replaces a good one.
 *
 * The validation split is the last val-count positions of a Fisher-Yates permutation of
 * the training file drawn from Philox numbers (seed, stream VAL_SPLIT_STREAM), so train
 * and val are disjoint, together cover the file, and depend only on (seed, N,
 * val-count). Both keep the samples in file order (the loader shuffles). The attributes
 * mean and std are scalars (the layout's contract): for idx and csv, over every feature of
 * every sample of the training split after scaling, in f64; text writes 0 and 1.
 *
 * volt-data is a serial tool: it starts no MPI and opens files with HDF5's default
 * (POSIX) driver, which the parallel HDF5 library serves without MPI_Init. */
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <hdf5.h>
#include <zlib.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/rng.h"
#include "runtime/runtime.h"
#include "volt/version.h"

#define VOLT_DATASET_FORMAT "volt-dataset-1"
#define IDX_IMAGES_MAGIC 0x00000803u /* u8 (type 0x08), 3 dimensions */
#define IDX_LABELS_MAGIC 0x00000801u /* u8 (type 0x08), 1 dimension */

enum {
    MAX_OPTIONS = 16,
    MAX_SAMPLE_DIMS = 3,
    /* text: the largest --block-size; a window is one sample, read whole (GPT contexts
     * are thousands of tokens; a million is a mistyped number, not a model) */
    MAX_BLOCK_SIZE = 1 << 20,
    DEFAULT_BLOCK_SIZE = 128,
    BYTE_VOCAB_SIZE = 256,
    /* Philox stream of the validation permutation (the loader's epoch streams differ) */
    VAL_SPLIT_STREAM = 0x7661,
    /* gzread takes an unsigned int count: read in pieces well below that */
    READ_PIECE_BYTES = 1 << 28,
};

/* ===================================================================================== */
/* HDF5 errors                                                                           */
/* ===================================================================================== */

/* Keeps the innermost (most specific) frame of HDF5's error stack. */
static herr_t keep_innermost_h5_error(unsigned n, const H5E_error2_t *frame, void *detail) {
    if (n == 0) snprintf(detail, 256, "%s(): %s", frame->func_name, frame->desc);
    return 0;
}

/* Turns a failed HDF5 call into a Volt error carrying HDF5's own reason. Must run right
 * after the failure: the next HDF5 call clears HDF5's stack. */
static int h5_error(const char *call, const char *file, int line, const char *func) {
    char detail[256] = "no detail from HDF5";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, keep_innermost_h5_error, detail);
    return volt_error_push(VOLT_ERR_HDF5, file, line, func, "%s failed: %s", call, detail);
}

/* For functions that end in a `done:` label closing their handles, with `status`. */
#define H5_GO(expr)                                                                                \
    do {                                                                                           \
        if ((expr) < 0) {                                                                          \
            status = h5_error(#expr, __FILE__, __LINE__, __func__);                                \
            goto done;                                                                             \
        }                                                                                          \
    } while (0)

/* Closes any HDF5 handle; a negative id (never opened) is ignored. */
static void h5_close(hid_t id) {
    if (id < 0) return;
    switch (H5Iget_type(id)) {
    case H5I_FILE:
        H5Fclose(id);
        break;
    case H5I_GROUP:
        H5Gclose(id);
        break;
    case H5I_DATASET:
        H5Dclose(id);
        break;
    case H5I_DATASPACE:
        H5Sclose(id);
        break;
    case H5I_DATATYPE:
        H5Tclose(id);
        break;
    case H5I_ATTR:
        H5Aclose(id);
        break;
    case H5I_GENPROP_LST:
        H5Pclose(id);
        break;
    default:
        break;
    }
}

/* ===================================================================================== */
/* Command line                                                                          */
/* ===================================================================================== */

typedef struct option_spec {
    const char *name;    /* "--output" */
    const char *metavar; /* "OUT.h5"; NULL for a flag */
    const char *help;
} option_spec;

typedef struct parsed_args {
    const char *values[MAX_OPTIONS]; /* by option index; NULL: not given; "" for a flag */
    const char **positional;         /* room for every argument; parsed_args_free frees it */
    int positional_count;
    int help;
} parsed_args;

typedef struct command command;
struct command {
    const char *name;
    const char *synopsis;
    const char *description;
    const option_spec *options;
    int option_count;
    int positional_max; /* INT_MAX: any number (text's input files) */
    int (*run)(const command *cmd, const parsed_args *args);
};

/* Edit distance between two short option names, for "did you mean". */
static int edit_distance(const char *a, const char *b) {
    enum { MAX_NAME = 48 };
    size_t la = strlen(a), lb = strlen(b);
    if (la >= MAX_NAME || lb >= MAX_NAME) return MAX_NAME;
    int row[MAX_NAME], previous[MAX_NAME];
    for (size_t j = 0; j <= lb; j++) previous[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int substitute = previous[j - 1] + (a[i - 1] != b[j - 1]);
            int best = previous[j] + 1 < row[j - 1] + 1 ? previous[j] + 1 : row[j - 1] + 1;
            row[j] = substitute < best ? substitute : best;
        }
        memcpy(previous, row, sizeof row);
    }
    return previous[lb];
}

static int unknown_option_error(const command *cmd, const char *given) {
    const char *closest = NULL;
    int closest_distance = 3; /* suggest only near misses */
    for (int i = 0; i < cmd->option_count; i++) {
        int d = edit_distance(given, cmd->options[i].name);
        if (d < closest_distance) closest = cmd->options[i].name, closest_distance = d;
    }
    if (closest)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "unknown option %s for 'volt-data %s' (did you mean %s?)", given,
                          cmd->name, closest);
    return VOLT_ERROR(VOLT_ERR_CONFIG,
                      "unknown option %s for 'volt-data %s' (see 'volt-data %s --help')", given,
                      cmd->name, cmd->name);
}

static int find_option(const command *cmd, const char *name, size_t name_length) {
    for (int i = 0; i < cmd->option_count; i++)
        if (strlen(cmd->options[i].name) == name_length &&
            strncmp(cmd->options[i].name, name, name_length) == 0)
            return i;
    return -1;
}

/* Parses "--name value", "--name=value", flags and positional arguments. An option given
 * twice is an error rather than "last one wins": a script that says --seed twice has a
 * bug worth showing. */
static int parse_args(const command *cmd, int argc, char **argv, parsed_args *out) {
    memset(out, 0, sizeof *out);
    size_t positional_bytes = (size_t)(argc > 0 ? argc : 1) * sizeof *out->positional;
    out->positional = malloc(positional_bytes);
    VOLT_CHECK_ALLOC(out->positional, positional_bytes);
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            out->help = 1;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0) {
            if (out->positional_count >= cmd->positional_max)
                return VOLT_ERROR(VOLT_ERR_CONFIG,
                                  "unexpected argument '%s' for 'volt-data %s' "
                                  "(see 'volt-data %s --help')",
                                  arg, cmd->name, cmd->name);
            out->positional[out->positional_count++] = arg;
            continue;
        }
        const char *equals = strchr(arg, '=');
        size_t name_length = equals ? (size_t)(equals - arg) : strlen(arg);
        int k = find_option(cmd, arg, name_length);
        if (k < 0) {
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)(name_length < 63 ? name_length : 63), arg);
            return unknown_option_error(cmd, name);
        }
        const option_spec *spec = &cmd->options[k];
        if (out->values[k])
            return VOLT_ERROR(VOLT_ERR_CONFIG, "option %s is given twice", spec->name);
        if (!spec->metavar) {
            if (equals) return VOLT_ERROR(VOLT_ERR_CONFIG, "option %s takes no value", spec->name);
            out->values[k] = "";
        } else if (equals) {
            out->values[k] = equals + 1;
        } else if (i + 1 < argc) {
            out->values[k] = argv[++i];
        } else {
            return VOLT_ERROR(VOLT_ERR_CONFIG, "option %s needs a value (%s)", spec->name,
                              spec->metavar);
        }
    }
    return VOLT_OK;
}

static void parsed_args_free(parsed_args *args) {
    free(args->positional);
    args->positional = NULL;
}

/* The value of an option the command declares; NULL when it was not given. */
static const char *arg_value(const command *cmd, const parsed_args *args, const char *name) {
    int k = find_option(cmd, name, strlen(name));
    return k < 0 ? NULL : args->values[k];
}

static int require_arg(const command *cmd, const parsed_args *args, const char *name,
                       const char **value) {
    *value = arg_value(cmd, args, name);
    if (!*value || !**value)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "missing required option %s for 'volt-data %s' "
                          "(see 'volt-data %s --help')",
                          name, cmd->name, cmd->name);
    return VOLT_OK;
}

/* A whole-string integer in [min, max]. */
static int parse_long_arg(const char *name, const char *text, long min, long max, long *out) {
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || end == text || *end || value < min || value > max)
        return VOLT_ERROR(VOLT_ERR_CONFIG, "%s '%s': expected an integer in [%ld, %ld]", name, text,
                          min, max);
    *out = value;
    return VOLT_OK;
}

/* ===================================================================================== */
/* Samples in memory                                                                     */
/* ===================================================================================== */

typedef enum x_dtype { X_U8, X_F32 } x_dtype;

/* One split: count samples of `features` values each (sample_shape's product), and one
 * label per sample (int32 here; the file stores u8 or i32). */
typedef struct split_data {
    long count;
    int sample_ndim;
    long sample_shape[MAX_SAMPLE_DIMS];
    long features;
    x_dtype dtype;
    void *x;
    int32_t *y;
} split_data;

static size_t x_dtype_bytes(x_dtype dtype) { return dtype == X_U8 ? 1 : sizeof(float); }
static const char *x_dtype_name(x_dtype dtype) { return dtype == X_U8 ? "u8" : "f32"; }
static size_t sample_bytes(const split_data *s) {
    return (size_t)s->features * x_dtype_bytes(s->dtype);
}

static void split_data_free(split_data *s) {
    free(s->x);
    free(s->y);
    memset(s, 0, sizeof *s);
}

/* "[28, 28]" */
static void format_shape(char *out, size_t size, int ndim, const long *shape) {
    size_t used = (size_t)snprintf(out, size, "[");
    for (int d = 0; d < ndim && used < size; d++)
        used += (size_t)snprintf(out + used, size - used, "%s%ld", d ? ", " : "", shape[d]);
    if (used < size) snprintf(out + used, size - used, "]");
}

/* The buffer grown to hold at least `needed` elements of element_bytes (the capacity
 * doubles), or NULL after pushing VOLT_ERR_NOMEM; the old buffer then stays valid. */
static void *grow_buffer(void *buffer, size_t *capacity, size_t needed, size_t element_bytes) {
    if (needed <= *capacity) return buffer;
    size_t new_capacity = *capacity ? *capacity : 1024;
    while (new_capacity < needed) new_capacity *= 2;
    void *grown = realloc(buffer, new_capacity * element_bytes);
    if (!grown) {
        VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory growing a buffer to %zu bytes",
                   new_capacity * element_bytes);
        return NULL;
    }
    *capacity = new_capacity;
    return grown;
}

/* ===================================================================================== */
/* Reading files, plain or gzip                                                          */
/* ===================================================================================== */

/* zlib's gzopen recognises the gzip magic (1f 8b) and decompresses; any other file is
 * read as it is, so one reader serves both. */
static int open_input(const char *path, gzFile *out) {
    struct stat info;
    if (stat(path, &info) != 0)
        return VOLT_ERROR(VOLT_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    if (!S_ISREG(info.st_mode)) return VOLT_ERROR(VOLT_ERR_IO, "%s is not a regular file", path);
    *out = gzopen(path, "rb");
    if (!*out) return VOLT_ERROR(VOLT_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    gzbuffer(*out, 1 << 20);
    return VOLT_OK;
}

/* Reads up to `bytes` into buf; *got says how many came. Stopping short at the end of
 * the data is not an error here (the caller says what was expected); a read or
 * decompression error is. A gzip stream cut short is reported through *cut_short. */
static int read_up_to(gzFile gz, const char *path, void *buf, size_t bytes, size_t *got,
                      int *cut_short) {
    *got = 0;
    *cut_short = 0;
    while (*got < bytes) {
        size_t piece = bytes - *got < READ_PIECE_BYTES ? bytes - *got : READ_PIECE_BYTES;
        int n = gzread(gz, (unsigned char *)buf + *got, (unsigned)piece);
        if (n < 0) {
            int code;
            const char *message = gzerror(gz, &code);
            return VOLT_ERROR(VOLT_ERR_IO, "cannot read %s: %s", path,
                              code == Z_ERRNO ? strerror(errno) : message);
        }
        if (n == 0) break;
        *got += (size_t)n;
    }
    if (*got < bytes) {
        int code;
        gzerror(gz, &code);
        *cut_short = code == Z_BUF_ERROR; /* zlib: "the input ended inside a gzip stream" */
    }
    return VOLT_OK;
}

/* Reads a whole file (for CSV), NUL-terminated. */
static int read_whole_file(const char *path, char **text, size_t *length) {
    gzFile gz;
    VOLT_CHECK(open_input(path, &gz));
    char *buffer = NULL;
    size_t capacity = 0, used = 0;
    int status = VOLT_OK;
    for (;;) {
        char *grown = grow_buffer(buffer, &capacity, used + (1 << 20) + 1, 1);
        if (!grown) {
            status = VOLT_ERR_NOMEM;
            break;
        }
        buffer = grown;
        size_t got;
        int cut_short;
        status = read_up_to(gz, path, buffer + used, capacity - used - 1, &got, &cut_short);
        if (status) break;
        used += got;
        if (cut_short)
            status = VOLT_ERROR(VOLT_ERR_IO,
                                "%s is truncated: its gzip stream ends early "
                                "after %zu bytes of text",
                                path, used);
        if (status || used < capacity - 1) break;
    }
    gzclose(gz);
    if (status) {
        free(buffer);
        return status;
    }
    buffer[used] = '\0';
    *text = buffer;
    *length = used;
    return VOLT_OK;
}

/* ===================================================================================== */
/* IDX (MNIST) files                                                                     */
/* ===================================================================================== */

static uint32_t big_endian_u32(const unsigned char b[4]) {
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static const char *idx_magic_meaning(uint32_t magic) {
    switch (magic) {
    case IDX_IMAGES_MAGIC:
        return "u8 images [N, rows, cols]";
    case IDX_LABELS_MAGIC:
        return "u8 labels [N]";
    default:
        return (magic >> 16) == 0 ? "another IDX type or rank" : "not an IDX file";
    }
}

/* Reads the magic number and the ndim big-endian dimensions that follow it. */
static int idx_read_header(gzFile gz, const char *path, uint32_t expected_magic, int ndim,
                           uint32_t *dims) {
    unsigned char header[4 * (1 + MAX_SAMPLE_DIMS)];
    size_t header_bytes = 4 * (size_t)(1 + ndim), got;
    int cut_short;
    VOLT_CHECK(read_up_to(gz, path, header, header_bytes, &got, &cut_short));
    const char *gzip_note = cut_short ? "; the gzip stream ends early" : "";
    if (got < 4)
        return VOLT_ERROR(VOLT_ERR_IO,
                          "%s is truncated: %zu bytes, too short for an IDX "
                          "magic number (4 bytes)%s",
                          path, got, gzip_note);
    uint32_t magic = big_endian_u32(header);
    if (magic != expected_magic)
        return VOLT_ERROR(VOLT_ERR_IO, "%s: wrong magic number 0x%08x (%s), expected 0x%08x (%s)%s",
                          path, magic, idx_magic_meaning(magic), expected_magic,
                          idx_magic_meaning(expected_magic),
                          magic == IDX_LABELS_MAGIC || magic == IDX_IMAGES_MAGIC
                              ? ": are the image and label files swapped?"
                              : "");
    if (got < header_bytes)
        return VOLT_ERROR(VOLT_ERR_IO,
                          "%s is truncated: its IDX header needs %zu bytes, found "
                          "%zu%s",
                          path, header_bytes, got, gzip_note);
    for (int d = 0; d < ndim; d++) {
        dims[d] = big_endian_u32(header + 4 * (d + 1));
        if (dims[d] == 0)
            return VOLT_ERROR(VOLT_ERR_IO, "%s: dimension %d of the IDX header is 0", path, d);
    }
    return VOLT_OK;
}

/* Reads the `items` items of item_bytes each that follow the header, and checks that
 * nothing follows them. The buffer grows as data arrives, so a corrupt header that
 * announces terabytes fails as "truncated", not as a giant allocation. */
static int idx_read_items(gzFile gz, const char *path, long items, size_t item_bytes,
                          const char *noun, unsigned char **out) {
    if ((size_t)items > SIZE_MAX / item_bytes)
        return VOLT_ERROR(VOLT_ERR_IO, "%s: the header announces %ld %s, too many", path, items,
                          noun);
    size_t expected = (size_t)items * item_bytes, used = 0, capacity = 0;
    unsigned char *buffer = NULL;
    int status = VOLT_OK, cut_short = 0;
    while (status == VOLT_OK && used < expected) {
        size_t want = used + (64 << 20) < expected ? used + (64 << 20) : expected;
        unsigned char *grown = grow_buffer(buffer, &capacity, want, 1);
        if (!grown) {
            status = VOLT_ERR_NOMEM;
            break;
        }
        buffer = grown;
        size_t got = 0;
        status = read_up_to(gz, path, buffer + used, want - used, &got, &cut_short);
        used += got;
        if (status == VOLT_OK && used < want)
            status = VOLT_ERROR(
                VOLT_ERR_IO,
                "%s is truncated: the header announces %ld %s "
                "(%zu bytes after the header), found %zu bytes, enough for %zu of them%s",
                path, items, noun, expected, used, used / item_bytes,
                cut_short ? "; the gzip stream ends early" : "");
    }
    unsigned char extra;
    size_t extra_got = 0;
    if (status == VOLT_OK) status = read_up_to(gz, path, &extra, 1, &extra_got, &cut_short);
    if (status == VOLT_OK && extra_got)
        status = VOLT_ERROR(VOLT_ERR_IO,
                            "%s: more data follows the %ld %s its header announces "
                            "(a wrong header, or files joined together?)",
                            path, items, noun);
    if (status) {
        free(buffer);
        return status;
    }
    *out = buffer;
    return VOLT_OK;
}

static int idx_read_images(const char *path, split_data *out) {
    gzFile gz;
    VOLT_CHECK(open_input(path, &gz));
    uint32_t dims[3];
    unsigned char *pixels = NULL;
    int status = idx_read_header(gz, path, IDX_IMAGES_MAGIC, 3, dims);
    if (status == VOLT_OK)
        status =
            idx_read_items(gz, path, (long)dims[0], (size_t)dims[1] * dims[2], "images", &pixels);
    gzclose(gz);
    VOLT_CHECK(status);
    out->count = (long)dims[0];
    out->sample_ndim = 2;
    out->sample_shape[0] = (long)dims[1];
    out->sample_shape[1] = (long)dims[2];
    out->features = (long)dims[1] * (long)dims[2];
    out->dtype = X_U8;
    out->x = pixels;
    return VOLT_OK;
}

static int idx_read_labels(const char *path, long *count, int32_t **labels) {
    gzFile gz;
    VOLT_CHECK(open_input(path, &gz));
    uint32_t n;
    unsigned char *bytes = NULL;
    int status = idx_read_header(gz, path, IDX_LABELS_MAGIC, 1, &n);
    if (status == VOLT_OK) status = idx_read_items(gz, path, (long)n, 1, "labels", &bytes);
    gzclose(gz);
    VOLT_CHECK(status);
    int32_t *widened = malloc((size_t)n * sizeof *widened);
    if (!widened) free(bytes);
    VOLT_CHECK_ALLOC(widened, (size_t)n * sizeof *widened);
    for (uint32_t i = 0; i < n; i++) widened[i] = bytes[i];
    free(bytes);
    *count = (long)n;
    *labels = widened;
    return VOLT_OK;
}

/* Images and labels of one split; their counts must agree. */
static int idx_read_split(const char *images_path, const char *labels_path, split_data *out) {
    VOLT_CHECK(idx_read_images(images_path, out));
    long label_count = 0;
    VOLT_CHECK(idx_read_labels(labels_path, &label_count, &out->y));
    if (label_count != out->count)
        return VOLT_ERROR(VOLT_ERR_SHAPE,
                          "%s holds %ld images but %s holds %ld labels: "
                          "they must be the same samples",
                          images_path, out->count, labels_path, label_count);
    return VOLT_OK;
}

/* ===================================================================================== */
/* CSV files                                                                             */
/* ===================================================================================== */

typedef enum header_mode { HEADER_AUTO, HEADER_YES, HEADER_NO } header_mode;

typedef struct csv_settings {
    const char *label_column; /* NAME or INDEX; NULL: the first column */
    header_mode header;
} csv_settings;

/* Walks a CSV text line by line, cutting lines and cells in place. */
typedef struct csv_reader {
    const char *path;
    char *next_line;  /* start of the next unread line; NULL at the end */
    long line_number; /* of the row last returned, from 1 */
    char **cells;     /* of the row last returned, trimmed */
    size_t cell_count;
    size_t cell_capacity;
} csv_reader;

/* Strips blanks around a cell, and one pair of double quotes (a quoted header name or
 * number); commas inside quotes are not supported. */
static char *trim_cell(char *cell) {
    while (isspace((unsigned char)*cell)) cell++;
    char *end = cell + strlen(cell);
    while (end > cell && isspace((unsigned char)end[-1])) *--end = '\0';
    if (end - cell >= 2 && cell[0] == '"' && end[-1] == '"') {
        end[-1] = '\0';
        cell++;
    }
    return cell;
}

static int is_blank(const char *line) {
    while (isspace((unsigned char)*line)) line++;
    return *line == '\0';
}

/* The next non-blank line split at commas; *done = 1 after the last. */
static int csv_next_row(csv_reader *r, int *done) {
    char *line = NULL;
    while (r->next_line) {
        line = r->next_line;
        char *newline = strchr(line, '\n');
        r->next_line = newline ? newline + 1 : NULL;
        if (newline) *newline = '\0';
        r->line_number++;
        if (!is_blank(line)) break;
        line = NULL;
    }
    *done = line == NULL;
    if (*done) return VOLT_OK;
    r->cell_count = 0;
    for (char *cell = line;;) {
        char *comma = strchr(cell, ',');
        if (comma) *comma = '\0';
        char **cells = grow_buffer(r->cells, &r->cell_capacity, r->cell_count + 1, sizeof *cells);
        VOLT_CHECK_PTR(cells);
        r->cells = cells;
        r->cells[r->cell_count++] = trim_cell(cell);
        if (!comma) break;
        cell = comma + 1;
    }
    return VOLT_OK;
}

/* A whole cell as a finite number (C locale: '.' is the decimal point). */
static int parse_number(const char *cell, double *value) {
    if (!*cell) return 0;
    char *end;
    errno = 0;
    *value = strtod(cell, &end);
    return *end == '\0' && errno != ERANGE && isfinite(*value);
}

static int row_is_numeric(const csv_reader *r) {
    double ignored;
    for (size_t c = 0; c < r->cell_count; c++)
        if (!parse_number(r->cells[c], &ignored)) return 0;
    return 1;
}

/* "column 3 ('petal_width')" or "column 3"; columns count from 1, as editors do. */
static void describe_column(char *out, size_t size, size_t column, char *const *names) {
    if (names)
        snprintf(out, size, "column %zu ('%.40s')", column + 1, names[column]);
    else
        snprintf(out, size, "column %zu", column + 1);
}

/* The error for cell c of the row last read: "F line 3, column 2 ('a'): 'oops' is not a
 * number". */
static int cell_error(const csv_reader *r, size_t c, char *const *names, const char *problem) {
    char where[96];
    describe_column(where, sizeof where, c, names);
    return VOLT_ERROR(VOLT_ERR_IO, "%s line %ld, %s: '%.40s' is %s", r->path, r->line_number, where,
                      r->cells[c], problem);
}

/* Names the columns there are (the first few), so that a typo shows. */
static int no_such_column_error(const char *spec, const char *path, char *const *names,
                                size_t columns) {
    char list[256] = "";
    size_t used = 0;
    for (size_t c = 0; c < columns && used < sizeof list - 1; c++)
        used +=
            (size_t)snprintf(list + used, sizeof list - used, "%s'%.32s'", c ? ", " : "", names[c]);
    return VOLT_ERROR(VOLT_ERR_CONFIG,
                      "--label-column '%s': %s has no column of that name "
                      "(its columns: %s)",
                      spec, path, list);
}

/* --label-column: a header name, else an index counted from 0 (negative from the end). */
static int resolve_label_column(const char *spec, const char *path, char *const *names,
                                size_t columns, size_t *label_column) {
    if (!spec) {
        *label_column = 0;
        return VOLT_OK;
    }
    for (size_t c = 0; names && c < columns; c++)
        if (strcmp(names[c], spec) == 0) {
            *label_column = c;
            return VOLT_OK;
        }
    char *end;
    long index = strtol(spec, &end, 10);
    if (end == spec || *end) {
        if (!names)
            return VOLT_ERROR(VOLT_ERR_CONFIG,
                              "--label-column '%s' is a name, but %s has no "
                              "header line (give an index, or --header yes)",
                              spec, path);
        return no_such_column_error(spec, path, names, columns);
    }
    if (index < -(long)columns || index >= (long)columns)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "--label-column %ld is out of range: %s has %zu columns "
                          "(indices 0..%zu, or -1 for the last)",
                          index, path, columns, columns - 1);
    *label_column = (size_t)(index < 0 ? index + (long)columns : index);
    return VOLT_OK;
}

/* Growing arrays of one CSV file's samples. */
typedef struct csv_samples {
    float *x;
    size_t x_capacity;
    int32_t *y;
    size_t y_capacity;
    long count;
} csv_samples;

/* One data row: the label (a non-negative integer) and the other cells as features. */
static int csv_parse_row(const csv_reader *r, size_t columns, size_t label_column,
                         char *const *names, csv_samples *samples) {
    if (r->cell_count != columns)
        return VOLT_ERROR(VOLT_ERR_IO,
                          "%s line %ld: %zu columns, expected %zu as on the first "
                          "line (a ragged row)",
                          r->path, r->line_number, r->cell_count, columns);
    size_t features = columns - 1, first = (size_t)samples->count * features;
    float *x = grow_buffer(samples->x, &samples->x_capacity, first + features, sizeof *x);
    VOLT_CHECK_PTR(x);
    samples->x = x;
    int32_t *y =
        grow_buffer(samples->y, &samples->y_capacity, (size_t)samples->count + 1, sizeof *y);
    VOLT_CHECK_PTR(y);
    samples->y = y;
    for (size_t c = 0, f = 0; c < columns; c++) {
        double value;
        int numeric = parse_number(r->cells[c], &value);
        if (c == label_column) {
            if (!numeric || value < 0 || value > INT32_MAX || value != floor(value))
                return cell_error(r, c, names, "not a class label (an integer >= 0)");
            samples->y[samples->count] = (int32_t)value;
            continue;
        }
        if (!numeric) return cell_error(r, c, names, "not a number");
        if (fabs(value) > FLT_MAX) return cell_error(r, c, names, "too large for f32");
        samples->x[first + f++] = (float)value;
    }
    samples->count++;
    return VOLT_OK;
}

/* Parses the rows of an opened reader into out (the header, if any, already read). */
static int csv_parse_rows(csv_reader *r, int first_row_pending, size_t columns, size_t label_column,
                          char *const *names, split_data *out) {
    csv_samples samples = {0};
    int status = VOLT_OK, done = 0;
    if (first_row_pending) status = csv_parse_row(r, columns, label_column, names, &samples);
    while (status == VOLT_OK) {
        status = csv_next_row(r, &done);
        if (status || done) break;
        status = csv_parse_row(r, columns, label_column, names, &samples);
    }
    if (status == VOLT_OK && samples.count == 0)
        status = VOLT_ERROR(VOLT_ERR_IO, "%s has a header line but no data rows", r->path);
    if (status) {
        free(samples.x);
        free(samples.y);
        return status;
    }
    out->count = samples.count;
    out->sample_ndim = 1;
    out->sample_shape[0] = (long)(columns - 1);
    out->features = (long)(columns - 1);
    out->dtype = X_F32;
    out->x = samples.x;
    out->y = samples.y;
    return VOLT_OK;
}

/* Reads the header decision, the label column and every row of an opened reader. */
static int csv_parse_table(csv_reader *r, const csv_settings *settings, split_data *out) {
    int done;
    VOLT_CHECK(csv_next_row(r, &done));
    if (done) return VOLT_ERROR(VOLT_ERR_IO, "%s is empty: no rows", r->path);
    size_t columns = r->cell_count;
    if (columns < 2)
        return VOLT_ERROR(VOLT_ERR_IO,
                          "%s line %ld: one column; a CSV needs a label column and "
                          "at least one feature column, separated by commas",
                          r->path, r->line_number);
    int has_header =
        settings->header == HEADER_YES || (settings->header == HEADER_AUTO && !row_is_numeric(r));
    char **names = NULL;
    if (has_header) { /* keep the names: the cell array is reused by the next row */
        names = malloc(columns * sizeof *names);
        VOLT_CHECK_ALLOC(names, columns * sizeof *names);
        memcpy(names, r->cells, columns * sizeof *names);
    }
    size_t label_column = 0;
    int status =
        resolve_label_column(settings->label_column, r->path, names, columns, &label_column);
    if (status == VOLT_OK)
        status = csv_parse_rows(r, !has_header, columns, label_column, names, out);
    free(names);
    VOLT_CHECK(status);
    return VOLT_OK;
}

static int csv_read_split(const char *path, const csv_settings *settings, split_data *out) {
    char *text = NULL;
    size_t length = 0;
    VOLT_CHECK(read_whole_file(path, &text, &length));
    if (length == 0) {
        free(text);
        return VOLT_ERROR(VOLT_ERR_IO, "%s is empty: no rows", path);
    }
    if (memchr(text, '\0', length)) {
        size_t at = (size_t)((char *)memchr(text, '\0', length) - text);
        free(text);
        return VOLT_ERROR(VOLT_ERR_IO, "%s is not text: a NUL byte at offset %zu", path, at);
    }
    csv_reader reader = {.path = path, .next_line = text};
    /* Windows line ends: a '\r' before '\n' is a blank that trim_cell removes. */
    int status = csv_parse_table(&reader, settings, out);
    free(reader.cells);
    free(text);
    VOLT_CHECK(status);
    return VOLT_OK;
}

/* ===================================================================================== */
/* Splitting and statistics                                                              */
/* ===================================================================================== */

/* mask[i] = 1 for the samples of the validation split: the last val_count positions of a
 * Fisher-Yates permutation of [0, n) on Philox numbers (64 bits per draw, so the modulo
 * bias is below 2^-32 for any n a file can hold). */
static int validation_mask(long n, long val_count, uint64_t seed, unsigned char **mask) {
    long *order = malloc((size_t)n * sizeof *order);
    VOLT_CHECK_ALLOC(order, (size_t)n * sizeof *order);
    *mask = calloc((size_t)n, 1);
    if (!*mask) free(order);
    VOLT_CHECK_ALLOC(*mask, (size_t)n);
    for (long i = 0; i < n; i++) order[i] = i;
    for (long i = n - 1; i > 0; i--) {
        uint64_t bits = (uint64_t)volt_rng_bits(seed, VAL_SPLIT_STREAM, 2 * (uint64_t)i) << 32 |
                        volt_rng_bits(seed, VAL_SPLIT_STREAM, 2 * (uint64_t)i + 1);
        long j = (long)(bits % (uint64_t)(i + 1));
        long swap = order[i];
        order[i] = order[j];
        order[j] = swap;
    }
    for (long k = n - val_count; k < n; k++) (*mask)[order[k]] = 1;
    free(order);
    return VOLT_OK;
}

/* Copies the samples of `from` whose mask equals `keep` into `to`, in file order; their
 * labels too when `from` has any (text has none). */
static int copy_masked(const split_data *from, const unsigned char *mask, unsigned char keep,
                       long count, split_data *to) {
    *to = *from;
    to->count = count;
    to->x = NULL;
    to->y = NULL;
    if (count == 0) return VOLT_OK; /* no /val: nothing to allocate (malloc(0) may be NULL) */
    size_t row = sample_bytes(from);
    to->x = malloc((size_t)count * row);
    if (from->y) to->y = malloc((size_t)count * sizeof *to->y);
    if (!to->x || (from->y && !to->y)) {
        split_data_free(to);
        return VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory copying %ld samples", count);
    }
    long k = 0;
    for (long i = 0; i < from->count; i++) {
        if (mask[i] != keep) continue;
        memcpy((unsigned char *)to->x + (size_t)k * row, (unsigned char *)from->x + (size_t)i * row,
               row);
        if (from->y) to->y[k] = from->y[i];
        k++;
    }
    return VOLT_OK;
}

static int split_validation(const split_data *all, long val_count, uint64_t seed, split_data *train,
                            split_data *val) {
    unsigned char *mask;
    VOLT_CHECK(validation_mask(all->count, val_count, seed, &mask));
    int status = copy_masked(all, mask, 0, all->count - val_count, train);
    if (status == VOLT_OK) status = copy_masked(all, mask, 1, val_count, val);
    free(mask);
    VOLT_CHECK(status);
    return VOLT_OK;
}

typedef struct x_stats {
    double scale, mean, std;
    int std_was_zero;
} x_stats;

/* u8: a histogram gives the exact sums whatever the order. */
static void u8_mean_std(const uint8_t *x, size_t n, double scale, double *mean, double *std) {
    uint64_t histogram[256] = {0};
    for (size_t i = 0; i < n; i++) histogram[x[i]]++;
    double sum = 0, squares = 0;
    for (int v = 0; v < 256; v++) sum += (double)histogram[v] * v * scale;
    *mean = sum / (double)n;
    for (int v = 0; v < 256; v++)
        squares += (double)histogram[v] * (v * scale - *mean) * (v * scale - *mean);
    *std = sqrt(squares / (double)n);
}

/* f32: two passes in f64 (the one-pass formula loses digits when mean >> std). */
static void f32_mean_std(const float *x, size_t n, double *mean, double *std) {
    double sum = 0, squares = 0;
    for (size_t i = 0; i < n; i++) sum += x[i];
    *mean = sum / (double)n;
    for (size_t i = 0; i < n; i++) squares += (x[i] - *mean) * (x[i] - *mean);
    *std = sqrt(squares / (double)n);
}

/* Population mean and std over every feature of the training split, after scaling. A
 * constant feature set gets std 1 (the reader divides by it). */
static x_stats training_stats(const split_data *train, double scale) {
    x_stats stats = {.scale = scale};
    size_t n = (size_t)train->count * (size_t)train->features;
    if (train->dtype == X_U8)
        u8_mean_std(train->x, n, scale, &stats.mean, &stats.std);
    else
        f32_mean_std(train->x, n, &stats.mean, &stats.std);
    if (stats.std == 0) {
        stats.std = 1;
        stats.std_was_zero = 1;
    }
    return stats;
}

/* Every label of a split below num_classes. */
static int check_labels(const split_data *s, const char *source, long num_classes) {
    for (long i = 0; i < s->count; i++)
        if (s->y[i] >= num_classes)
            return VOLT_ERROR(VOLT_ERR_ARG,
                              "%s: label %d of sample %ld (counting from 0) is not "
                              "below --num-classes %ld",
                              source, (int)s->y[i], i, num_classes);
    return VOLT_OK;
}

static long max_label(const split_data *s) {
    long max = -1;
    for (long i = 0; i < s->count; i++)
        if (s->y[i] > max) max = s->y[i];
    return max;
}

/* ===================================================================================== */
/* Writing the HDF5 file                                                                 */
/* ===================================================================================== */

static int write_attribute(hid_t loc, const char *object, const char *name, hid_t file_type,
                           hid_t memory_type, const void *value) {
    int status = VOLT_OK;
    hid_t space = H5I_INVALID_HID, attribute = H5I_INVALID_HID;
    H5_GO(space = H5Screate(H5S_SCALAR));
    H5_GO(attribute = H5Acreate_by_name(loc, object, name, file_type, space, H5P_DEFAULT,
                                        H5P_DEFAULT, H5P_DEFAULT));
    H5_GO(H5Awrite(attribute, memory_type, value));
done:
    h5_close(attribute);
    h5_close(space);
    return status;
}

static int write_f64_attribute(hid_t loc, const char *object, const char *name, double value) {
    return write_attribute(loc, object, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}

static int write_i64_attribute(hid_t loc, const char *object, const char *name, int64_t value) {
    return write_attribute(loc, object, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}

/* A fixed-length, NUL-terminated ASCII string (what H5LTset_attribute_string writes). */
static int write_string_attribute(hid_t loc, const char *object, const char *name,
                                  const char *text) {
    int status = VOLT_OK;
    hid_t type = H5I_INVALID_HID;
    H5_GO(type = H5Tcopy(H5T_C_S1));
    H5_GO(H5Tset_size(type, strlen(text) + 1));
    H5_GO(H5Tset_strpad(type, H5T_STR_NULLTERM));
    status = write_attribute(loc, object, name, type, type, text);
done:
    h5_close(type);
    return status;
}

/* Arrays are contiguous and uncompressed (HDF5's default layout): the loader reads rows
 * in random order, and a compressed chunk must be inflated whole to give one row (a
 * shuffled Fashion-MNIST epoch took 12x longer with 64 KiB deflated chunks); contiguous
 * rows are also what MPI-IO reads best when each rank reads its part of a batch. */
static int write_array(hid_t group, const char *name, hid_t file_type, hid_t memory_type, int rank,
                       const hsize_t *dims, const void *data) {
    int status = VOLT_OK;
    hid_t space = H5I_INVALID_HID, dataset = H5I_INVALID_HID;
    H5_GO(space = H5Screate_simple(rank, dims, NULL));
    H5_GO(dataset =
              H5Dcreate2(group, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    H5_GO(H5Dwrite(dataset, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data));
done:
    h5_close(dataset);
    h5_close(space);
    return status;
}

/* What a conversion writes. */
typedef struct output_data {
    const split_data *splits[3]; /* train, val, test; NULL: absent */
    x_stats stats;
    long num_classes;      /* 0: no labels, no num_classes attribute */
    const char *tokenizer; /* text: "bytes", with vocab_size; NULL: neither attribute */
    long vocab_size;
} output_data;

static const char *const SPLIT_NAMES[] = {"train", "val", "test", "predict"};

/* /name/x with its scale, mean and std, and /name/y when the samples have labels. */
static int write_split(hid_t file, const char *name, const split_data *s, const x_stats *stats,
                       long num_classes) {
    hid_t group = H5Gcreate2(file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (group < 0) return h5_error("H5Gcreate2", __FILE__, __LINE__, __func__);
    hsize_t x_dims[1 + MAX_SAMPLE_DIMS] = {(hsize_t)s->count};
    for (int d = 0; d < s->sample_ndim; d++) x_dims[d + 1] = (hsize_t)s->sample_shape[d];
    hsize_t y_dims[1] = {(hsize_t)s->count};
    int status = write_array(group, "x", s->dtype == X_U8 ? H5T_STD_U8LE : H5T_IEEE_F32LE,
                             s->dtype == X_U8 ? H5T_NATIVE_UINT8 : H5T_NATIVE_FLOAT,
                             1 + s->sample_ndim, x_dims, s->x);
    if (status == VOLT_OK) status = write_f64_attribute(group, "x", "scale", stats->scale);
    if (status == VOLT_OK) status = write_f64_attribute(group, "x", "mean", stats->mean);
    if (status == VOLT_OK) status = write_f64_attribute(group, "x", "std", stats->std);
    /* labels as u8 when every class fits (the smallest type the reader takes), else i32 */
    if (status == VOLT_OK && s->y)
        status = write_array(group, "y", num_classes <= 256 ? H5T_STD_U8LE : H5T_STD_I32LE,
                             H5T_NATIVE_INT32, 1, y_dims, s->y);
    h5_close(group);
    if (status)
        return volt_error_push(status, __FILE__, __LINE__, __func__, "while writing /%s", name);
    return VOLT_OK;
}

static int write_dataset_file(const char *path, const output_data *d) {
    int status = VOLT_OK;
    hid_t access = H5I_INVALID_HID, file = H5I_INVALID_HID;
    H5_GO(access = H5Pcreate(H5P_FILE_ACCESS));
    /* closing the file closes whatever an error path left open in it */
    H5_GO(H5Pset_fclose_degree(access, H5F_CLOSE_STRONG));
    H5_GO(file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, access));
    status = write_string_attribute(file, ".", "format", VOLT_DATASET_FORMAT);
    if (status == VOLT_OK && d->num_classes > 0)
        status = write_i64_attribute(file, ".", "num_classes", d->num_classes);
    if (status == VOLT_OK && d->tokenizer)
        status = write_string_attribute(file, ".", "tokenizer", d->tokenizer);
    if (status == VOLT_OK && d->tokenizer)
        status = write_i64_attribute(file, ".", "vocab_size", d->vocab_size);
    for (int k = 0; k < 3 && status == VOLT_OK; k++)
        if (d->splits[k])
            status = write_split(file, SPLIT_NAMES[k], d->splits[k], &d->stats, d->num_classes);
    if (status) goto done;
    /* the close flushes: a full disk shows up here, and must fail the conversion */
    herr_t closed = H5Fclose(file);
    file = H5I_INVALID_HID;
    H5_GO(closed);
done:
    h5_close(file);
    h5_close(access);
    return status;
}

static int path_exists(const char *path) {
    struct stat info;
    return stat(path, &info) == 0;
}

/* The directory the output goes to must exist (found now, not after the conversion). */
static int check_output_directory(const char *output) {
    const char *slash = strrchr(output, '/');
    if (!slash) return VOLT_OK;
    size_t length = slash == output ? 1 : (size_t)(slash - output);
    char *directory = malloc(length + 1);
    VOLT_CHECK_ALLOC(directory, length + 1);
    memcpy(directory, output, length);
    directory[length] = '\0';
    struct stat info;
    int status = VOLT_OK;
    if (stat(directory, &info) != 0 || !S_ISDIR(info.st_mode))
        status =
            VOLT_ERROR(VOLT_ERR_IO, "cannot write %s: %s is not a directory", output, directory);
    free(directory);
    return status;
}

/* Refuses an existing output without --force, and a directory even with it; checked
 * before any work so that a long conversion does not fail at the end. */
static int check_output(const char *output, int force) {
    VOLT_CHECK(check_output_directory(output));
    struct stat info;
    if (stat(output, &info) != 0) return VOLT_OK;
    if (S_ISDIR(info.st_mode)) return VOLT_ERROR(VOLT_ERR_IO, "output %s is a directory", output);
    if (!force)
        return VOLT_ERROR(VOLT_ERR_IO, "output %s exists; pass --force to replace it", output);
    return VOLT_OK;
}

/* Writes OUT.tmp, then renames it to OUT; on any failure removes OUT.tmp and leaves OUT
 * as it was. */
static int write_output(const char *output, int force, const output_data *d) {
    size_t length = strlen(output) + sizeof ".tmp";
    char *temporary = malloc(length);
    VOLT_CHECK_ALLOC(temporary, length);
    snprintf(temporary, length, "%s.tmp", output);
    int status = write_dataset_file(temporary, d);
    if (status)
        volt_error_push(status, __FILE__, __LINE__, __func__, "while writing %s", temporary);
    if (status == VOLT_OK && !force && path_exists(output)) /* appeared while we worked */
        status = VOLT_ERROR(VOLT_ERR_IO, "output %s exists; pass --force to replace it", output);
    if (status == VOLT_OK && rename(temporary, output) != 0)
        status = VOLT_ERROR(VOLT_ERR_IO, "cannot rename %s to %s: %s", temporary, output,
                            strerror(errno));
    if (status) remove(temporary);
    free(temporary);
    VOLT_CHECK(status);
    return VOLT_OK;
}

/* ===================================================================================== */
/* Conversion, common to idx and csv                                                     */
/* ===================================================================================== */

typedef struct convert_options {
    const char *output;
    int force;
    double val_fraction;
    long val_count; /* -1: from val_fraction */
    uint64_t seed;
    long num_classes; /* 0: max label + 1 */
} convert_options;

/* The options the conversions share, spliced into their tables: idx and csv take
 * SPLIT_OPTIONS, text takes VAL_OPTIONS and OUTPUT_OPTIONS (it has no classes). */
/* clang-format off */
#define VAL_OPTIONS                                                                                \
    {"--val-fraction", "F", "fraction of the training samples held out as /val, in [0, 1) "        \
                            "(default 0.1; 0: no /val)"},                                          \
    {"--val-count", "N", "number of training samples held out as /val (instead of a fraction)"},   \
    {"--seed", "S", "seed of the validation permutation (default 0)"}
#define OUTPUT_OPTIONS                                                                             \
    {"--output", "OUT.h5", "the HDF5 file to write (required)"},                                   \
    {"--force", NULL, "replace OUT.h5 if it exists (only once the new file is complete)"},         \
    {"--help", NULL, "this help"}
#define SPLIT_OPTIONS                                                                              \
    VAL_OPTIONS,                                                                                   \
    {"--num-classes", "K", "number of classes (default: largest label + 1); a larger label is "    \
                           "an error"},                                                            \
    OUTPUT_OPTIONS
/* clang-format on */

static int read_convert_options(const command *cmd, const parsed_args *args, convert_options *o) {
    *o = (convert_options){.val_fraction = 0.1, .val_count = -1};
    VOLT_CHECK(require_arg(cmd, args, "--output", &o->output));
    o->force = arg_value(cmd, args, "--force") != NULL;
    const char *fraction = arg_value(cmd, args, "--val-fraction");
    const char *count = arg_value(cmd, args, "--val-count");
    const char *seed = arg_value(cmd, args, "--seed");
    const char *classes = arg_value(cmd, args, "--num-classes");
    if (fraction && count)
        return VOLT_ERROR(VOLT_ERR_CONFIG, "give --val-fraction or --val-count, not both");
    if (fraction) {
        char *end;
        o->val_fraction = strtod(fraction, &end);
        if (end == fraction || *end || !(o->val_fraction >= 0 && o->val_fraction < 1))
            return VOLT_ERROR(VOLT_ERR_CONFIG, "--val-fraction '%s': expected a number in [0, 1)",
                              fraction);
    }
    if (count) VOLT_CHECK(parse_long_arg("--val-count", count, 0, LONG_MAX, &o->val_count));
    long seed_value = 0;
    if (seed) VOLT_CHECK(parse_long_arg("--seed", seed, 0, LONG_MAX, &seed_value));
    o->seed = (uint64_t)seed_value;
    if (classes)
        VOLT_CHECK(parse_long_arg("--num-classes", classes, 1, INT32_MAX, &o->num_classes));
    return VOLT_OK;
}

static int resolve_val_count(const convert_options *o, long n, long *val_count) {
    *val_count = o->val_count >= 0 ? o->val_count : (long)floor(o->val_fraction * (double)n + 0.5);
    if (*val_count >= n)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "a validation split of %ld samples leaves none of the "
                          "%ld training samples for /train",
                          *val_count, n);
    return VOLT_OK;
}

/* num_classes from the option, or from the largest label of either file. */
static int resolve_num_classes(const convert_options *o, const split_data *train,
                               const char *train_source, const split_data *test,
                               const char *test_source, long *num_classes) {
    if (o->num_classes > 0) {
        VOLT_CHECK(check_labels(train, train_source, o->num_classes));
        if (test) VOLT_CHECK(check_labels(test, test_source, o->num_classes));
        *num_classes = o->num_classes;
        return VOLT_OK;
    }
    long max = max_label(train);
    if (test && max_label(test) > max) max = max_label(test);
    *num_classes = max + 1;
    return VOLT_OK;
}

static void print_summary(const char *output, const output_data *d, double seconds) {
    struct stat info;
    double megabytes = stat(output, &info) == 0 ? (double)info.st_size / 1e6 : 0;
    printf("volt-data: wrote %s (%.1f MB) in %.2f s\n", output, megabytes, seconds);
    for (int k = 0; k < 3; k++) {
        const split_data *s = d->splits[k];
        if (!s) continue;
        char shape[64];
        format_shape(shape, sizeof shape, s->sample_ndim, s->sample_shape);
        printf("  %-5s %7ld samples  x %s %s", SPLIT_NAMES[k], s->count, x_dtype_name(s->dtype),
               shape);
        if (s->y) printf("  y [%ld]", s->count);
        printf("\n");
    }
    if (d->num_classes > 0)
        printf("  classes %ld; x scale %.9g, mean %.6f, std %.6f (over the training split, after "
               "scaling)%s\n",
               d->num_classes, d->stats.scale, d->stats.mean, d->stats.std,
               d->stats.std_was_zero ? "; every feature is equal, so std is written as 1" : "");
}

/* Splits off /val, computes the statistics and writes the file. */
static int convert_and_write(const convert_options *o, const split_data *all,
                             const char *train_source, const split_data *test,
                             const char *test_source, double scale, double start_seconds) {
    output_data d = {.splits = {NULL, NULL, test}};
    long val_count;
    VOLT_CHECK(resolve_val_count(o, all->count, &val_count));
    VOLT_CHECK(resolve_num_classes(o, all, train_source, test, test_source, &d.num_classes));
    split_data train = {0}, val = {0};
    VOLT_CHECK(split_validation(all, val_count, o->seed, &train, &val));
    d.splits[0] = &train;
    d.splits[1] = val_count > 0 ? &val : NULL;
    d.stats = training_stats(&train, scale);
    int status = write_output(o->output, o->force, &d);
    if (status == VOLT_OK) print_summary(o->output, &d, volt_clock_seconds() - start_seconds);
    split_data_free(&train);
    split_data_free(&val);
    VOLT_CHECK(status);
    return VOLT_OK;
}

static int check_same_sample_shape(const split_data *train, const char *train_source,
                                   const split_data *test, const char *test_source) {
    char a[64], b[64];
    format_shape(a, sizeof a, train->sample_ndim, train->sample_shape);
    format_shape(b, sizeof b, test->sample_ndim, test->sample_shape);
    if (strcmp(a, b) != 0)
        return VOLT_ERROR(VOLT_ERR_SHAPE, "samples of %s are %s but samples of %s are %s",
                          train_source, a, test_source, b);
    return VOLT_OK;
}

/* ===================================================================================== */
/* volt-data idx                                                                         */
/* ===================================================================================== */

static int run_idx(const command *cmd, const parsed_args *args) {
    convert_options o;
    const char *train_images, *train_labels;
    VOLT_CHECK(require_arg(cmd, args, "--train-images", &train_images));
    VOLT_CHECK(require_arg(cmd, args, "--train-labels", &train_labels));
    VOLT_CHECK(read_convert_options(cmd, args, &o));
    const char *test_images = arg_value(cmd, args, "--test-images");
    const char *test_labels = arg_value(cmd, args, "--test-labels");
    if (!test_images != !test_labels)
        return VOLT_ERROR(VOLT_ERR_CONFIG, "--test-images and --test-labels go together");
    VOLT_CHECK(check_output(o.output, o.force));

    double start = volt_clock_seconds();
    split_data train = {0}, test = {0};
    int status = idx_read_split(train_images, train_labels, &train);
    if (status == VOLT_OK && test_images) {
        status = idx_read_split(test_images, test_labels, &test);
        if (status == VOLT_OK)
            status = check_same_sample_shape(&train, train_images, &test, test_images);
    }
    if (status == VOLT_OK)
        status = convert_and_write(&o, &train, train_labels, test_images ? &test : NULL,
                                   test_labels, 1.0 / 255.0, start);
    split_data_free(&train);
    split_data_free(&test);
    VOLT_CHECK(status);
    return VOLT_OK;
}

static const option_spec IDX_OPTIONS[] = {
    {"--train-images", "FILE", "IDX images of the training set, u8 [N, rows, cols] (required)"},
    {"--train-labels", "FILE", "IDX labels of the training set, u8 [N] (required)"},
    {"--test-images", "FILE", "IDX images of the test set (with --test-labels)"},
    {"--test-labels", "FILE", "IDX labels of the test set"},
    SPLIT_OPTIONS,
};

/* ===================================================================================== */
/* volt-data csv                                                                         */
/* ===================================================================================== */

static int read_csv_settings(const command *cmd, const parsed_args *args, csv_settings *s) {
    s->label_column = arg_value(cmd, args, "--label-column");
    const char *header = arg_value(cmd, args, "--header");
    s->header = HEADER_AUTO;
    if (!header || strcmp(header, "auto") == 0) return VOLT_OK;
    if (strcmp(header, "yes") == 0)
        s->header = HEADER_YES;
    else if (strcmp(header, "no") == 0)
        s->header = HEADER_NO;
    else
        return VOLT_ERROR(VOLT_ERR_CONFIG, "--header '%s': expected auto, yes or no", header);
    return VOLT_OK;
}

static int run_csv(const command *cmd, const parsed_args *args) {
    convert_options o;
    csv_settings settings;
    const char *train_path;
    VOLT_CHECK(require_arg(cmd, args, "--train", &train_path));
    VOLT_CHECK(read_convert_options(cmd, args, &o));
    VOLT_CHECK(read_csv_settings(cmd, args, &settings));
    const char *test_path = arg_value(cmd, args, "--test");
    VOLT_CHECK(check_output(o.output, o.force));

    double start = volt_clock_seconds();
    split_data train = {0}, test = {0};
    int status = csv_read_split(train_path, &settings, &train);
    if (status == VOLT_OK && test_path) {
        status = csv_read_split(test_path, &settings, &test);
        if (status == VOLT_OK)
            status = check_same_sample_shape(&train, train_path, &test, test_path);
    }
    if (status == VOLT_OK)
        status = convert_and_write(&o, &train, train_path, test_path ? &test : NULL, test_path, 1.0,
                                   start);
    split_data_free(&train);
    split_data_free(&test);
    VOLT_CHECK(status);
    return VOLT_OK;
}

static const option_spec CSV_OPTIONS[] = {
    {"--train", "FILE.csv", "training samples, one per row (required; may be gzip-compressed)"},
    {"--test", "FILE.csv", "test samples, with the same columns"},
    {"--label-column", "NAME|INDEX",
     "the column of integer class labels: a name from the header "
     "line, or an index counted from 0 (-1: the last column) "
     "(default: the first column)"},
    {"--header", "auto|yes|no",
     "whether the first line names the columns (auto: when one of its "
     "cells is not a number)"},
    SPLIT_OPTIONS,
};

/* ===================================================================================== */
/* volt-data text                                                                        */
/* ===================================================================================== */

/* The input files' bytes, joined in the order given. */
typedef struct text_corpus {
    unsigned char *bytes;
    size_t length;
    int files;
    int newlines_added; /* between files, after a file that did not end with one */
} text_corpus;

/* Appends one file's bytes, and a '\n' when `newline_if_missing` and it does not end with
 * one. The first non-empty file's buffer becomes the corpus (no copy of a lone file). */
static int text_append(text_corpus *corpus, size_t *capacity, char *text, size_t length,
                       int newline_if_missing) {
    int add_newline = newline_if_missing && length > 0 && text[length - 1] != '\n';
    if (!corpus->bytes && length > 0) {
        corpus->bytes = (unsigned char *)text; /* read_whole_file left room for its NUL */
        *capacity = length + 1;
    } else if (length + (size_t)add_newline > 0) {
        unsigned char *grown =
            grow_buffer(corpus->bytes, capacity, corpus->length + length + (size_t)add_newline, 1);
        if (!grown) {
            free(text);
            return VOLT_ERR_NOMEM;
        }
        corpus->bytes = grown;
        memcpy(corpus->bytes + corpus->length, text, length);
        free(text);
    } else {
        free(text);
    }
    corpus->length += length;
    if (add_newline) {
        corpus->bytes[corpus->length++] = '\n';
        corpus->newlines_added++;
    }
    return VOLT_OK;
}

/* Reads the files (plain or gzip) into one byte stream, with a '\n' after every file but
 * the last that does not end with one, so that the last line of a file and the first of
 * the next stay two lines. A NUL byte marks a binary file: refused as not text. */
static int text_read_corpus(const char *const *paths, int count, text_corpus *out) {
    *out = (text_corpus){.files = count};
    size_t capacity = 0;
    int status = VOLT_OK;
    for (int i = 0; i < count && status == VOLT_OK; i++) {
        char *text = NULL;
        size_t length = 0;
        status = read_whole_file(paths[i], &text, &length);
        if (status) break;
        const char *nul = memchr(text, '\0', length);
        if (nul) {
            status = VOLT_ERROR(VOLT_ERR_IO,
                                "%s is not text: a NUL byte at offset %zu (a binary file, such "
                                "as the .dat index beside a fortune file?)",
                                paths[i], (size_t)(nul - text));
            free(text);
            break;
        }
        status = text_append(out, &capacity, text, length, i + 1 < count);
    }
    if (status) {
        free(out->bytes);
        out->bytes = NULL;
        return status;
    }
    return VOLT_OK;
}

/* The corpus must hold one window (block_size + 1 bytes) at least. */
static int text_check_length(const text_corpus *corpus, const char *const *paths, long block_size) {
    if (corpus->length == 0 && corpus->files == 1)
        return VOLT_ERROR(VOLT_ERR_IO, "the corpus is empty: %s holds no bytes", paths[0]);
    if (corpus->length == 0)
        return VOLT_ERROR(VOLT_ERR_IO, "the corpus is empty: the %d input files hold no bytes",
                          corpus->files);
    if (corpus->length < (size_t)block_size + 1 && corpus->files == 1)
        return VOLT_ERROR(VOLT_ERR_IO,
                          "the corpus (%s) is %zu bytes, shorter than one window: --block-size "
                          "%ld needs at least %ld bytes (block size + 1)",
                          paths[0], corpus->length, block_size, block_size + 1);
    if (corpus->length < (size_t)block_size + 1)
        return VOLT_ERROR(VOLT_ERR_IO,
                          "the corpus (%d files) is %zu bytes, shorter than one window: "
                          "--block-size %ld needs at least %ld bytes (block size + 1)",
                          corpus->files, corpus->length, block_size, block_size + 1);
    return VOLT_OK;
}

/* Window k is bytes [k * block_size, (k + 1) * block_size] of the corpus: block_size + 1
 * bytes at stride block_size, so consecutive windows share one byte and every byte after
 * the first is a target (x[1:]) exactly once. The tail shorter than a window is left out. */
static int text_make_windows(const text_corpus *corpus, long block_size, split_data *out) {
    size_t stride = (size_t)block_size, window = stride + 1;
    long count = (long)((corpus->length - 1) / stride);
    unsigned char *x = malloc((size_t)count * window);
    VOLT_CHECK_ALLOC(x, (size_t)count * window);
    for (long k = 0; k < count; k++)
        memcpy(x + (size_t)k * window, corpus->bytes + (size_t)k * stride, window);
    *out = (split_data){.count = count,
                        .sample_ndim = 1,
                        .sample_shape = {(long)window},
                        .features = (long)window,
                        .dtype = X_U8,
                        .x = x};
    return VOLT_OK;
}

static void print_text_summary(const char *output, const output_data *d, const text_corpus *corpus,
                               long windows, long block_size, double seconds) {
    print_summary(output, d, seconds);
    size_t dropped = corpus->length - ((size_t)windows * (size_t)block_size + 1);
    printf("  corpus %zu bytes from %d file%s (%d newline%s added between files): %ld windows "
           "of %ld bytes at stride %ld; the last %zu byte%s dropped (shorter than a window)\n",
           corpus->length, corpus->files, corpus->files == 1 ? "" : "s", corpus->newlines_added,
           corpus->newlines_added == 1 ? "" : "s", windows, block_size + 1, block_size, dropped,
           dropped == 1 ? "" : "s");
    printf("  tokenizer %s, vocab_size %ld; x scale 1, mean 0, std 1: the model reads the byte "
           "values as they are\n",
           d->tokenizer, d->vocab_size);
}

static int run_text(const command *cmd, const parsed_args *args) {
    convert_options o;
    VOLT_CHECK(read_convert_options(cmd, args, &o));
    long block_size = DEFAULT_BLOCK_SIZE;
    const char *block = arg_value(cmd, args, "--block-size");
    if (block) VOLT_CHECK(parse_long_arg("--block-size", block, 1, MAX_BLOCK_SIZE, &block_size));
    if (args->positional_count == 0)
        return VOLT_ERROR(VOLT_ERR_CONFIG, "'volt-data text' needs at least one input FILE "
                                           "(see 'volt-data text --help')");
    VOLT_CHECK(check_output(o.output, o.force));

    double start = volt_clock_seconds();
    text_corpus corpus;
    VOLT_CHECK(text_read_corpus(args->positional, args->positional_count, &corpus));
    split_data all = {0}, train = {0}, val = {0};
    long val_count = 0;
    int status = text_check_length(&corpus, args->positional, block_size);
    if (status == VOLT_OK) status = text_make_windows(&corpus, block_size, &all);
    free(corpus.bytes); /* the windows hold every byte used */
    corpus.bytes = NULL;
    if (status == VOLT_OK) status = resolve_val_count(&o, all.count, &val_count);
    if (status == VOLT_OK) status = split_validation(&all, val_count, o.seed, &train, &val);
    long windows = all.count;
    split_data_free(&all);
    output_data d = {.splits = {&train, val_count > 0 ? &val : NULL, NULL},
                     .stats = {.scale = 1, .mean = 0, .std = 1},
                     .tokenizer = "bytes",
                     .vocab_size = BYTE_VOCAB_SIZE};
    if (status == VOLT_OK) status = write_output(o.output, o.force, &d);
    if (status == VOLT_OK)
        print_text_summary(o.output, &d, &corpus, windows, block_size,
                           volt_clock_seconds() - start);
    split_data_free(&train);
    split_data_free(&val);
    VOLT_CHECK(status);
    return VOLT_OK;
}

static const option_spec TEXT_OPTIONS[] = {
    {"--block-size", "T",
     "tokens the model reads at once: a sample holds T + 1 bytes, its input x[:, :T] and its "
     "targets x[:, 1:] (default 128, at most 1048576)"},
    VAL_OPTIONS,
    OUTPUT_OPTIONS,
};
_Static_assert(sizeof CSV_OPTIONS / sizeof CSV_OPTIONS[0] <= MAX_OPTIONS &&
                   sizeof IDX_OPTIONS / sizeof IDX_OPTIONS[0] <= MAX_OPTIONS &&
                   sizeof TEXT_OPTIONS / sizeof TEXT_OPTIONS[0] <= MAX_OPTIONS,
               "parsed_args holds MAX_OPTIONS values");

/* ===================================================================================== */
/* volt-data info                                                                        */
/* ===================================================================================== */

/* "u8", "i64", "f32", or the class for anything else. */
static void describe_type(hid_t type, char *out, size_t size) {
    size_t bytes = H5Tget_size(type);
    switch (H5Tget_class(type)) {
    case H5T_INTEGER:
        snprintf(out, size, "%c%zu", H5Tget_sign(type) == H5T_SGN_NONE ? 'u' : 'i', 8 * bytes);
        break;
    case H5T_FLOAT:
        snprintf(out, size, "f%zu", 8 * bytes);
        break;
    case H5T_STRING:
        snprintf(out, size, "string");
        break;
    default:
        snprintf(out, size, "other");
        break;
    }
}

/* Prints a string attribute, fixed-length (volt-data, h5dump) or variable (h5py). */
static int print_string_attribute(hid_t attribute, hid_t type) {
    int status = VOLT_OK;
    hid_t memory = H5I_INVALID_HID;
    char *text = NULL;
    if (H5Tis_variable_str(type) > 0) {
        H5_GO(memory = H5Tget_native_type(type, H5T_DIR_DEFAULT));
        H5_GO(H5Aread(attribute, memory, &text));
        printf("%s", text);
        H5free_memory(text);
        text = NULL;
    } else {
        size_t size = H5Tget_size(type);
        text = calloc(size + 1, 1);
        if (!text) return VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory reading an attribute");
        H5_GO(H5Aread(attribute, type, text));
        printf("%s", text);
    }
done:
    free(text);
    h5_close(memory);
    return status;
}

/* "name=value" for scalars, "name=<dtype array>" for arrays; two spaces before the first
 * (*printed counts them), one between. */
static herr_t print_attribute(hid_t object, const char *name, const H5A_info_t *info,
                              void *printed) {
    (void)info;
    int status = VOLT_OK;
    hid_t attribute = H5I_INVALID_HID, type = H5I_INVALID_HID, space = H5I_INVALID_HID;
    H5_GO(attribute = H5Aopen(object, name, H5P_DEFAULT));
    H5_GO(type = H5Aget_type(attribute));
    H5_GO(space = H5Aget_space(attribute));
    char type_name[16];
    describe_type(type, type_name, sizeof type_name);
    printf("%s%s=", (*(int *)printed)++ ? " " : "  ", name);
    H5T_class_t type_class = H5Tget_class(type);
    if (H5Sget_simple_extent_npoints(space) != 1) {
        printf("<%s array>", type_name);
    } else if (type_class == H5T_STRING) {
        status = print_string_attribute(attribute, type);
    } else if (type_class == H5T_INTEGER) {
        long long value;
        H5_GO(H5Aread(attribute, H5T_NATIVE_LLONG, &value));
        printf("%lld", value);
    } else if (type_class == H5T_FLOAT) {
        double value;
        H5_GO(H5Aread(attribute, H5T_NATIVE_DOUBLE, &value));
        printf("%.9g", value);
    } else {
        printf("<%s>", type_name);
    }
done:
    h5_close(space);
    h5_close(type);
    h5_close(attribute);
    return status ? -1 : 0;
}

static int print_attributes(hid_t object) {
    int printed = 0;
    if (H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_INC, NULL, print_attribute, &printed) < 0)
        return VOLT_ERROR(VOLT_ERR_HDF5, "cannot read the attributes");
    return VOLT_OK;
}

/* "chunks [83, 28, 28] deflate" or "contiguous". */
static int print_storage(hid_t dataset) {
    int status = VOLT_OK;
    hid_t plist = H5I_INVALID_HID;
    H5_GO(plist = H5Dget_create_plist(dataset));
    if (H5Pget_layout(plist) != H5D_CHUNKED) {
        printf("  contiguous");
        goto done;
    }
    hsize_t chunk[H5S_MAX_RANK];
    int rank;
    H5_GO(rank = H5Pget_chunk(plist, H5S_MAX_RANK, chunk));
    long chunk_long[H5S_MAX_RANK];
    for (int d = 0; d < rank; d++) chunk_long[d] = (long)chunk[d];
    char shape[96];
    format_shape(shape, sizeof shape, rank, chunk_long);
    printf("  chunks %s", shape);
    int filters = H5Pget_nfilters(plist);
    for (int f = 0; f < filters; f++) {
        unsigned flags, config;
        size_t values = 0;
        char filter_name[32];
        H5Pget_filter2(plist, (unsigned)f, &flags, &values, NULL, sizeof filter_name, filter_name,
                       &config);
        printf(" %s", filter_name);
    }
done:
    h5_close(plist);
    return status;
}

/* "  x  u8 [54000, 28, 28]  chunks [...] deflate  mean=... scale=... std=..." */
static int describe_array(hid_t group, const char *name, long *length) {
    int status = VOLT_OK;
    hid_t dataset = H5I_INVALID_HID, type = H5I_INVALID_HID, space = H5I_INVALID_HID;
    H5_GO(dataset = H5Dopen2(group, name, H5P_DEFAULT));
    H5_GO(type = H5Dget_type(dataset));
    H5_GO(space = H5Dget_space(dataset));
    hsize_t dims[H5S_MAX_RANK];
    int rank;
    H5_GO(rank = H5Sget_simple_extent_dims(space, dims, NULL));
    long dims_long[H5S_MAX_RANK] = {0};
    for (int d = 0; d < rank; d++) dims_long[d] = (long)dims[d];
    char type_name[16], shape[128];
    describe_type(type, type_name, sizeof type_name);
    format_shape(shape, sizeof shape, rank, dims_long);
    printf("  %s  %s %s", name, type_name, shape);
    *length = rank > 0 ? dims_long[0] : 0;
    status = print_storage(dataset);
    if (status == VOLT_OK) status = print_attributes(dataset);
    printf("\n");
done:
    h5_close(space);
    h5_close(type);
    h5_close(dataset);
    return status;
}

/* Reads y whole (as i64) and counts each class; labels outside [0, num_classes) are
 * counted apart (num_classes <= 0: up to the largest label). */
static int print_label_counts(hid_t group, long length, long num_classes) {
    int status = VOLT_OK;
    hid_t dataset = H5I_INVALID_HID;
    int64_t *labels = malloc((size_t)(length > 0 ? length : 1) * sizeof *labels);
    long *counts = NULL;
    if (!labels) return VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory reading %ld labels", length);
    H5_GO(dataset = H5Dopen2(group, "y", H5P_DEFAULT));
    H5_GO(H5Dread(dataset, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels));
    long classes = num_classes;
    if (classes <= 0)
        for (long i = 0; i < length; i++)
            if (labels[i] >= classes && labels[i] < 1000000) classes = (long)labels[i] + 1;
    counts = calloc((size_t)(classes > 0 ? classes : 1), sizeof *counts);
    if (!counts) {
        status = VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory counting %ld classes", classes);
        goto done;
    }
    long outside = 0;
    for (long i = 0; i < length; i++) {
        if (labels[i] >= 0 && labels[i] < classes)
            counts[labels[i]]++;
        else
            outside++;
    }
    printf("     label counts:");
    for (long k = 0; k < classes; k++)
        printf("%s %ld:%ld", k && k % 10 == 0 ? "\n                  " : "", k, counts[k]);
    if (outside) printf("\n     %ld labels outside [0, %ld)", outside, classes);
    printf("\n");
done:
    free(counts);
    free(labels);
    h5_close(dataset);
    return status;
}

/* The first dimension of group/name; 0 when it cannot be read (describe_array says why). */
static long dataset_length(hid_t group, const char *name) {
    hid_t dataset = H5Dopen2(group, name, H5P_DEFAULT);
    hid_t space = dataset >= 0 ? H5Dget_space(dataset) : H5I_INVALID_HID;
    hsize_t dims[H5S_MAX_RANK] = {0};
    if (space < 0 || H5Sget_simple_extent_dims(space, dims, NULL) < 1) dims[0] = 0;
    h5_close(space);
    h5_close(dataset);
    return (long)dims[0];
}

static int describe_split(hid_t file, const char *name, long num_classes, long *samples) {
    int status = VOLT_OK;
    hid_t group = H5I_INVALID_HID;
    H5_GO(group = H5Gopen2(file, name, H5P_DEFAULT));
    *samples = 0;
    if (H5Lexists(group, "x", H5P_DEFAULT) <= 0) {
        printf("%-6s has no x: not a valid split\n", name);
        goto done;
    }
    /* the count first, so that "train   54000 samples" reads as a heading */
    printf("%-6s %7ld samples\n", name, dataset_length(group, "x"));
    status = describe_array(group, "x", samples);
    long labels = 0;
    if (status == VOLT_OK && H5Lexists(group, "y", H5P_DEFAULT) > 0) {
        status = describe_array(group, "y", &labels);
        if (status == VOLT_OK && labels != *samples)
            printf("     y has %ld labels but x has %ld samples\n", labels, *samples);
        if (status == VOLT_OK) status = print_label_counts(group, labels, num_classes);
    }
done:
    h5_close(group);
    return status;
}

/* num_classes of the root group, 0 when absent. */
static long read_num_classes(hid_t file) {
    long long value = 0;
    if (H5Aexists(file, "num_classes") <= 0) return 0;
    hid_t attribute = H5Aopen(file, "num_classes", H5P_DEFAULT);
    if (attribute < 0 || H5Aread(attribute, H5T_NATIVE_LLONG, &value) < 0) value = 0;
    h5_close(attribute);
    return (long)value;
}

static int describe_file(hid_t file, const char *path) {
    printf("%s:", path);
    VOLT_CHECK(print_attributes(file));
    printf("\n");
    if (H5Aexists(file, "format") <= 0)
        printf("  (no format attribute: not written by volt-data?)\n");
    long num_classes = read_num_classes(file), total = 0;
    int splits = 0;
    for (int k = 0; k < 4; k++) {
        if (H5Lexists(file, SPLIT_NAMES[k], H5P_DEFAULT) <= 0) continue;
        long samples = 0;
        VOLT_CHECK(describe_split(file, SPLIT_NAMES[k], num_classes, &samples));
        total += samples;
        splits++;
    }
    printf("total  %7ld samples in %d split%s\n", total, splits, splits == 1 ? "" : "s");
    return VOLT_OK;
}

static int run_info(const command *cmd, const parsed_args *args) {
    if (args->positional_count != 1)
        return VOLT_ERROR(VOLT_ERR_CONFIG, "'volt-data %s' takes one FILE.h5", cmd->name);
    const char *path = args->positional[0];
    struct stat info;
    if (stat(path, &info) != 0)
        return VOLT_ERROR(VOLT_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    if (H5Fis_hdf5(path) <= 0) return VOLT_ERROR(VOLT_ERR_IO, "%s is not an HDF5 file", path);
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) return h5_error("H5Fopen", __FILE__, __LINE__, __func__);
    int status = describe_file(file, path);
    h5_close(file);
    VOLT_CHECK(status);
    return VOLT_OK;
}

static const option_spec INFO_OPTIONS[] = {
    {"--help", NULL, "this help"},
};

/* ===================================================================================== */
/* Help and main                                                                         */
/* ===================================================================================== */

#define COUNT_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const command COMMANDS[] = {
    {"idx",
     "volt-data idx --train-images F --train-labels F [--test-images F --test-labels F]\n"
     "              [--val-fraction 0.1 | --val-count N] [--seed S] [--num-classes K]\n"
     "              --output OUT.h5 [--force]",
     "Converts MNIST-format IDX files (plain or gzip-compressed), as MNIST and Fashion-MNIST\n"
     "ship them. Writes x u8 [N, rows, cols] with scale = 1/255 and y u8 [N].",
     IDX_OPTIONS, COUNT_OF(IDX_OPTIONS), 0, run_idx},
    {"csv",
     "volt-data csv --train F.csv [--test F.csv] [--label-column NAME|INDEX]\n"
     "              [--header auto|yes|no] [--val-fraction 0.1 | --val-count N] [--seed S]\n"
     "              [--num-classes K] --output OUT.h5 [--force]",
     "Converts numeric CSV (plain or gzip-compressed): one sample a row, cells separated by\n"
     "commas (blank lines skipped; no quoted commas), one column of integer class labels,\n"
     "every other column a feature. Writes x f32 [N, features] with scale = 1 and y [N].\n"
     "Error messages count lines and columns from 1, as editors do.",
     CSV_OPTIONS, COUNT_OF(CSV_OPTIONS), 0, run_csv},
    {"text",
     "volt-data text [--block-size 128] [--val-fraction 0.1 | --val-count N] [--seed S]\n"
     "               --output OUT.h5 [--force] FILE [FILE ...]",
     "Makes byte-level token windows for language models from text files (plain or\n"
     "gzip-compressed), joined in the order given, with a newline after each file but the last\n"
     "that does not end with one. The byte stream is cut into windows of T + 1 bytes at stride\n"
     "T (--block-size): consecutive windows share one byte, so a model taking x[:, :T] as input\n"
     "and x[:, 1:] as targets predicts every byte after the first exactly once. The tail\n"
     "shorter than a window is dropped (the summary says how many bytes). Writes\n"
     "x u8 [N, T + 1] with scale 1, mean 0, std 1 (the byte values as they are) and no y; the\n"
     "root gets tokenizer = \"bytes\" and vocab_size = 256 instead of num_classes. A file with\n"
     "a NUL byte is refused as not text.",
     TEXT_OPTIONS, COUNT_OF(TEXT_OPTIONS), INT_MAX, run_text},
    {"info", "volt-data info FILE.h5",
     "Prints the splits of a file in Volt's layout: shapes, dtypes, storage, attributes, and\n"
     "the number of samples of each class.",
     INFO_OPTIONS, COUNT_OF(INFO_OPTIONS), 1, run_info},
};

/* Prints text word by word from column `indent` (where the cursor is) up to `width`,
 * continuing on lines indented as much. */
static void print_wrapped(FILE *out, const char *text, int indent, int width) {
    int column = indent;
    while (*text) {
        int word = (int)strcspn(text, " ");
        if (column > indent && column + 1 + word > width) {
            fprintf(out, "\n%*s", indent, "");
            column = indent;
        }
        fprintf(out, " %.*s", word, text);
        column += 1 + word;
        text += word;
        while (*text == ' ') text++;
    }
    fprintf(out, "\n");
}

static void print_command_help(FILE *out, const command *cmd) {
    fprintf(out, "%s\n\n%s\n", cmd->synopsis, cmd->description);
    if (cmd->option_count) fprintf(out, "\n");
    for (int i = 0; i < cmd->option_count; i++) {
        const option_spec *o = &cmd->options[i];
        char left[48];
        snprintf(left, sizeof left, "%s%s%s", o->name, o->metavar ? " " : "",
                 o->metavar ? o->metavar : "");
        fprintf(out, "  %-26s", left);
        print_wrapped(out, o->help, 28, 92);
    }
}

static void print_help(FILE *out) {
    fprintf(out,
            "volt-data " VOLT_VERSION_STRING " — converts data sets into Volt's HDF5 layout.\n\n"
            "The file holds groups /train, /val and /test, each with x [N, ...] (u8 or f32,\n"
            "with f64 attributes scale, mean and std: a sample is read as\n"
            "(x * scale - mean) / std) and y [N] (class labels; text has none); the root has the\n"
            "attribute format = \"" VOLT_DATASET_FORMAT "\", and num_classes (idx, csv) or\n"
            "tokenizer and vocab_size (text). See lib/data/dataset.h.\n\n"
            "/val is held out of the training samples: the last val-count samples of a\n"
            "permutation drawn from --seed, so /train and /val are disjoint and cover them. idx\n"
            "and csv compute mean and std over every feature of /train, after scaling. Input\n"
            "files may be gzip-compressed (detected by the gzip magic). The output is written\n"
            "to OUT.h5.tmp and renamed to OUT.h5 only on success: a failed run leaves no file\n"
            "behind and leaves an existing OUT.h5 untouched.\n");
    for (int i = 0; i < COUNT_OF(COMMANDS); i++) {
        fprintf(out, "\n");
        print_command_help(out, &COMMANDS[i]);
    }
    fprintf(out,
            "\nExample (Fashion-MNIST from Debian's dataset-fashion-mnist):\n"
            "  d=/usr/share/datasets/fashion-mnist\n"
            "  volt-data idx --train-images $d/train-images-idx3-ubyte.gz \\\n"
            "      --train-labels $d/train-labels-idx1-ubyte.gz \\\n"
            "      --test-images $d/t10k-images-idx3-ubyte.gz \\\n"
            "      --test-labels $d/t10k-labels-idx1-ubyte.gz --output fashion.h5\n"
            "  volt-data info fashion.h5\n\n"
            "Example (a GPT's corpus from Debian's fortunes, leaving out the .dat indexes\n"
            "and the .u8 links):\n"
            "  volt-data text --block-size 128 --output fortunes.h5 \\\n"
            "      $(find /usr/share/games/fortunes -maxdepth 1 -type f ! -name '*.dat' | sort)\n\n"
            "Exit status: 0 on success, 1 on any error (printed on stderr).\n");
}

static int run_main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: volt-data idx|csv|text|info ... (volt-data --help explains)\n");
        return VOLT_ERROR(VOLT_ERR_CONFIG, "missing command: idx, csv, text or info");
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        print_help(stdout);
        return VOLT_OK;
    }
    if (strcmp(name, "--version") == 0) {
        volt_print_version(stdout, "volt-data");
        return VOLT_OK;
    }
    for (int i = 0; i < COUNT_OF(COMMANDS); i++) {
        const command *cmd = &COMMANDS[i];
        if (strcmp(name, cmd->name) != 0) continue;
        parsed_args args;
        int status = parse_args(cmd, argc - 2, argv + 2, &args);
        if (status == VOLT_OK && args.help)
            print_command_help(stdout, cmd);
        else if (status == VOLT_OK)
            status = cmd->run(cmd, &args);
        parsed_args_free(&args);
        VOLT_CHECK(status);
        return VOLT_OK;
    }
    return VOLT_ERROR(VOLT_ERR_CONFIG,
                      "unknown command '%s': expected idx, csv, text or info "
                      "(see volt-data --help)",
                      name);
}

int main(int argc, char **argv) {
    /* HDF5 would print its own stack for every failed call, including the probes whose
     * failure is an answer; errors reach the user once, through Volt's stack. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (run_main(argc, argv) != VOLT_OK) {
        volt_error_print(stderr);
        return 1;
    }
    return 0;
}

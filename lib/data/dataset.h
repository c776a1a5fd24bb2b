/* lib/data/dataset.h — Volt's HDF5 data layout, and reading samples from it.
 *
 * One HDF5 file holds the splits of a data set as groups /train, /val, /test and
 * /predict (any may be missing; a split needs only x). In each group:
 *   x  [N, d1 .. dk] (k = 1..3), u8 or f32: the samples' features;
 *   y  [N], an integer type (u8, i32 or i64): class labels in [0, num_classes).
 * Attributes of x (optional, f64 scalars): "scale" (default 1), "mean" (default 0) and
 * "std" (default 1): a sample's features are read as f32 ((x * scale) - mean) / std.
 * Attributes of the root group: "format" = "volt-dataset-1" (string), "num_classes"
 * (i64; required when any split has y, absent when none has). Token data sets for
 * language models (volt-data text) have no y and add "tokenizer" (string; "bytes": each
 * token is one byte of the text) and "vocab_size" (i64; token ids are in [0, vocab_size),
 * 256 for bytes); x is u8 [N, T + 1], windows of T + 1 consecutive tokens with scale 1,
 * mean 0, std 1, so a sample reads as its token ids in f32: a model takes x[:, :T] as
 * input and x[:, 1:] as targets. The reader does not look at these two attributes.
 * volt-data writes this layout; h5py and h5dump read it.
 *
 * Samples are read by index with one HDF5 read of the union of their rows (hyperslabs),
 * so a rank can read only its part of a batch. Errors name the file, the split and
 * what is wrong: missing file, not HDF5, missing group or x, x and y lengths that
 * differ, an unsupported dtype or rank, a label out of range (found when read). */
#ifndef VOLT_DATA_DATASET_H
#define VOLT_DATA_DATASET_H

#include <stdint.h>

#include "core/error.h"

typedef struct volt_dataset volt_dataset;

typedef enum volt_split {
    VOLT_SPLIT_TRAIN = 0,
    VOLT_SPLIT_VAL,
    VOLT_SPLIT_TEST,
    VOLT_SPLIT_PREDICT,
    VOLT_SPLIT_COUNT
} volt_split;

/* "train", "val", "test", "predict" */
const char *volt_split_name(volt_split split);

/* Whether the file has the split's group (with an x); fails only if the file cannot be
 * opened as HDF5. */
VOLT_NODISCARD int volt_dataset_has_split(const char *path, volt_split split, int *has);
VOLT_NODISCARD int volt_dataset_open(const char *path, volt_split split, volt_dataset **out);
void volt_dataset_close(volt_dataset *dataset);

long volt_dataset_length(const volt_dataset *dataset);
/* Dimensions of one sample (x's shape without N) and their product. */
int volt_dataset_sample_ndim(const volt_dataset *dataset);
const long *volt_dataset_sample_shape(const volt_dataset *dataset);
long volt_dataset_features(const volt_dataset *dataset);
int volt_dataset_has_labels(const volt_dataset *dataset);
long volt_dataset_num_classes(const volt_dataset *dataset); /* 0 without labels */
const char *volt_dataset_path(const volt_dataset *dataset);

/* Reads samples indices[0 .. count) (any order, repeats allowed) into x_out (count x
 * features f32, normalised) and, when the split has labels and y_out is not NULL, y_out
 * (count i64). A label outside [0, num_classes) is VOLT_ERR_ARG naming the sample. */
VOLT_NODISCARD int volt_dataset_read(volt_dataset *dataset, const long *indices, long count,
                                     float *x_out, int64_t *y_out);

/* Reads the whole split into memory once (x normalised in f32: 4 bytes per feature, and
 * the labels, checked), so that later reads copy rows instead of selecting them in the
 * file: for data sets that fit in memory, read at random every epoch. Labels outside
 * [0, num_classes) fail here, naming the sample. Idempotent. */
VOLT_NODISCARD int volt_dataset_load(volt_dataset *dataset);
/* Bytes volt_dataset_load holds (0 before it). */
size_t volt_dataset_loaded_bytes(const volt_dataset *dataset);


#endif

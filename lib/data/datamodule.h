/* lib/data/datamodule.h — what a run reads, as Lightning's LightningDataModule.
 *
 * A data module is a table of functions and a state block. The trainer calls, in order:
 * declare (its configuration keys, before the configuration is resolved), prepare_data
 * (once per node, before any rank calls setup: download, convert, unpack), setup(stage)
 * (on every rank: open files, build loaders), then loader(split) as the loop needs them,
 * and teardown at the end. Every function but setup and loader may be NULL.
 *
 * The built-in HDF5 data module reads the layout of data/dataset.h. Its keys:
 *   data.path            the HDF5 file (required)
 *   data.batch_size      samples per training batch (default 64)
 *   data.val_batch_size  for val/test/predict (default 0: same as batch_size)
 *   data.shuffle         shuffle the training split each epoch (default true)
 *   data.drop_last       drop the training split's last, smaller batch (default false)
 *   data.prefetch        read the next batch in a thread (default true)
 *   data.in_memory       read each split the run uses into memory once, normalised in
 *                        f32 (default false): every rank then holds the whole split
 *                        (4 bytes per feature and sample), and batches are row copies,
 *                        not reads of rows scattered through the file
 * The shuffle seed is trainer.seed. Validation, test and predict are never shuffled and
 * never drop samples. Under data parallelism data.batch_size is per rank (the global
 * batch is data.batch_size * dp); evaluation splits are read in contiguous parts, one
 * per rank. */
#ifndef VOLT_DATA_DATAMODULE_H
#define VOLT_DATA_DATAMODULE_H

#include <stddef.h>

#include "core/config.h"
#include "data/loader.h"

typedef enum volt_stage {
    VOLT_STAGE_FIT = 0,
    VOLT_STAGE_VALIDATE,
    VOLT_STAGE_TEST,
    VOLT_STAGE_PREDICT
} volt_stage;

const char *volt_stage_name(volt_stage stage); /* "fit", "validate", "test", "predict" */

typedef struct volt_datamodule volt_datamodule;

typedef struct volt_datamodule_ops {
    const char *name;
    size_t state_size; /* bytes of the zeroed state block volt_datamodule_state returns */
    int (*declare)(volt_config *config);
    int (*prepare_data)(volt_datamodule *dm, const volt_config *config);
    int (*setup)(volt_datamodule *dm, volt_stage stage, const volt_config *config);
    /* The loader of a split, owned by the data module; *out = NULL when there is none. */
    int (*loader)(volt_datamodule *dm, volt_split split, volt_loader **out);
    void (*teardown)(volt_datamodule *dm);
} volt_datamodule_ops;

VOLT_NODISCARD int volt_datamodule_create(const volt_datamodule_ops *ops, volt_datamodule **out);
/* Calls teardown (if set), then frees the state. */
void volt_datamodule_destroy(volt_datamodule *dm);
void *volt_datamodule_state(volt_datamodule *dm);
const volt_datamodule_ops *volt_datamodule_ops_of(const volt_datamodule *dm);

/* The part of the data this process reads: data-parallel rank `rank` of `ranks` (default
 * 0 of 1). The trainer sets it before setup; a data module's setup passes it to its
 * loaders (volt_loader_options.rank / .ranks; see loader.h). */
void volt_datamodule_set_partition(volt_datamodule *dm, int rank, int ranks);
void volt_datamodule_partition(const volt_datamodule *dm, int *rank, int *ranks);

extern const volt_datamodule_ops volt_hdf5_datamodule_ops;

#endif

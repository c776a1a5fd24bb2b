/* lib/ckpt/checkpoint.h — checkpoints: one HDF5 file, written collectively through
 * MPI-IO by every rank of a group, read back under any rank layout.
 *
 * The format is docs/checkpoint-format.md. In short: every tensor at its global shape,
 * row-major, under PyTorch's names (/model/fc1.weight is [out, in]); optimizer state at
 * the same shapes under /optim/<param>/<state>; scalars and strings as attributes of
 * groups under /meta. Because shapes are global, a file written by dp=2 with ZeRO-1
 * loads at dp=1 or dp=4, DDP or ZeRO-1, and one written at tp=2 loads at tp=1 or tp=4:
 * each rank reads only what it keeps.
 *
 * Tensor parallelism. A split parameter (volt_param_slice) is stored as the whole global
 * tensor, never as parts: each rank writes its part into the global tensor (a union of
 * hyperslabs: the part's rows, column blocks, or one run per q, k, v block) and reads its
 * part back out of it, whatever the layout that wrote the file.
 *
 * Writing. volt_ckpt_create opens <dir>/.<name>.tmp next to the final path; the
 * writes go there; volt_ckpt_commit closes it on every rank, agrees that every rank
 * succeeded, then rank 0 fsyncs the file, renames it to the final path and fsyncs the
 * folder. A failure anywhere, or a crash at any moment, leaves any earlier file under the
 * final path untouched and no partial file under a final name (a stale temporary file
 * may remain; its name starts with a dot). Every function of a writer is collective over
 * the group and must be called by every rank in the same order with the same names and
 * attribute values; data arguments differ per rank (each writes the range it owns).
 *
 * Reading. volt_ckpt_open validates the file (an HDF5 file, a format version this
 * build reads) and agrees on the outcome, so every rank fails with the same message;
 * the readers check names, shapes and dtypes and name what is wrong. Reads of data are
 * independent (each rank reads what it needs), attribute reads are local.
 *
 * comm may be NULL: a single process, no MPI-IO (the sec2 driver). */
#ifndef VOLT_CKPT_CHECKPOINT_H
#define VOLT_CKPT_CHECKPOINT_H

#include <stddef.h>

#include "autograd/params.h"
#include "comm/comm.h"
#include "optim/optim.h"

/* The format version this build writes, and the only one it reads. */
enum { VOLT_CKPT_FORMAT_VERSION = 1 };

typedef struct volt_ckpt volt_ckpt;

/* ---- writing ---------------------------------------------------------------------------- */

/* Creates the temporary file for a checkpoint to be committed under path (its folder
 * must exist). Collective; agreed (every rank returns the same status). */
VOLT_NODISCARD int volt_ckpt_create(volt_comm *comm, const char *path, volt_ckpt **out);

/* The group that writes is tp_size-way tensor parallel (lib/dist/layout.h): rank r has
 * tp index r % tp_size and dp index r / tp_size, and holds part r % tp_size of tp_size of
 * every split parameter. Ranks of the same tp index hold the same parameters (the same
 * flat buffer layout); whole (unsplit) parameters are the same on every rank. Call it
 * after volt_ckpt_create, on every rank with the same value, before writing tensors;
 * without it tp_size is 1. VOLT_ERR_ARG when tp_size does not divide the group. */
VOLT_NODISCARD int volt_ckpt_set_tensor_parallel(volt_ckpt *ckpt, int tp_size);

/* Writes every parameter of the store as /model/<name> at its global shape. The
 * parameters must be the same on every rank of a dp group (data parallel; see above for
 * tp); the rank of dp index d of D writes, of each split parameter and (at tp index 0
 * only) each whole one, what lies in the d-th of D equal ranges of its flat buffer. A
 * split parameter that is not this rank's part of tp_size fails (VOLT_ERR_ARG, also
 * kept for commit) while the rank still takes part in every collective call. */
VOLT_NODISCARD int volt_ckpt_write_model(volt_ckpt *ckpt, volt_params *params);

/* Writes the optimizer's state as /optim/<param>/<state> at each parameter's global
 * shape, and /optim's attributes kind and steps. The optimizer covers the flat range
 * [offset, offset + length) of the store's buffers. replicated = 1: every rank of a dp
 * group holds the same state for the same range (DDP, one rank), written as the model
 * is; replicated = 0: the ranges of the ranks of one tp index are disjoint and together
 * cover every parameter (ZeRO-1 shards over the dp group), and each writes its own range
 * (of whole parameters, at tp index 0 only). kind is the optimizer's name ("adamw"). */
VOLT_NODISCARD int volt_ckpt_write_optimizer(volt_ckpt *ckpt, volt_params *params,
                                             volt_optimizer *optimizer, size_t offset,
                                             size_t length, int replicated, const char *kind);

/* Attributes of the group at group_path ("meta", "meta/callbacks/ModelCheckpoint"),
 * created with its parents when missing. Values must be the same on every rank. */
VOLT_NODISCARD int volt_ckpt_put_long(volt_ckpt *ckpt, const char *group_path, const char *name,
                                      long value);
VOLT_NODISCARD int volt_ckpt_put_double(volt_ckpt *ckpt, const char *group_path, const char *name,
                                        double value);
VOLT_NODISCARD int volt_ckpt_put_string(volt_ckpt *ckpt, const char *group_path, const char *name,
                                        const char *value);

/* Closes the file and, when every rank succeeded (local_status VOLT_OK everywhere and
 * the close too), puts it in place atomically (see above). Otherwise the temporary file
 * is removed and every rank returns the same error. Frees ckpt in every case. */
VOLT_NODISCARD int volt_ckpt_commit(volt_ckpt *ckpt, int local_status);

/* ---- reading ---------------------------------------------------------------------------- */

/* Opens and validates a checkpoint. Collective; agreed. */
VOLT_NODISCARD int volt_ckpt_open(volt_comm *comm, const char *path, volt_ckpt **out);
void volt_ckpt_close(volt_ckpt *ckpt);
const char *volt_ckpt_path(const volt_ckpt *ckpt);

/* Reads /model into the store: every parameter must be in the file at its global shape
 * and dtype; with strict, the file must hold no other tensor either. Every rank reads
 * every tensor: the whole of a whole parameter, its own part of a split one. Not agreed:
 * call volt_comm_agree on the result. */
VOLT_NODISCARD int volt_ckpt_read_model(volt_ckpt *ckpt, volt_params *params, int strict);

/* Whether the file holds optimizer state (a file saved with weights only does not). */
int volt_ckpt_has_optimizer(const volt_ckpt *ckpt);

/* Reads the state of this rank's range [offset, offset + length) of the flat buffers
 * into the optimizer (whose range it must be), and its step count: of a split parameter,
 * the elements of its part that lie in the range. The file's optimizer kind must be
 * kind. Not agreed. */
VOLT_NODISCARD int volt_ckpt_read_optimizer(volt_ckpt *ckpt, volt_params *params,
                                            volt_optimizer *optimizer, size_t offset, size_t length,
                                            const char *kind);

/* Attributes: a missing one is VOLT_ERR_IO naming it (and the file). get_string
 * returns a malloc'd copy. */
VOLT_NODISCARD int volt_ckpt_get_long(volt_ckpt *ckpt, const char *group_path, const char *name,
                                      long *out);
VOLT_NODISCARD int volt_ckpt_get_double(volt_ckpt *ckpt, const char *group_path, const char *name,
                                        double *out);
VOLT_NODISCARD int volt_ckpt_get_string(volt_ckpt *ckpt, const char *group_path, const char *name,
                                        char **out);
/* Whether group_path exists and, when name is not NULL, has that attribute. */
int volt_ckpt_has(volt_ckpt *ckpt, const char *group_path, const char *name);

#endif

/* lib/log/tensorboard.h — TensorBoard event files, in plain C (no TensorFlow, no protobuf).
 *
 * A writer owns one new file in a folder (made, with its parents, when missing):
 *     <dir>/events.out.tfevents.<unix seconds, 10 digits>.<hostname>.<pid>.<n>
 * n counts the writers this process created before it, from 0 (the name TensorFlow
 * gives an event file; the next n is taken if that name exists). TensorBoard shows each
 * folder under its --logdir as one run, reading the folder's event files in name order:
 * one writer at a time per folder (once TensorBoard has moved on to a newer file, it no
 * longer reads an older one that still grows), so in a multi-rank job one rank writes.
 * A writer is not thread safe.
 *
 * The file is a sequence of TFRecords (uint64 payload length, little endian; uint32
 * masked CRC-32C of those 8 bytes; the payload; uint32 masked CRC-32C of the payload),
 * each payload a serialized tensorflow.Event (tensorflow/core/util/event.proto):
 *   - first {wall_time, file_version "brain.Event:2"}: with version 2, TensorBoard keeps
 *     points whose step goes back, where it would drop them as left over from a crash;
 *   - per scalar, {wall_time, step, summary {value {tag, simple_value}}};
 *   - per volt_tb_add_hparams, the HParams plugin's summaries (below).
 * wall_time is seconds since the Unix epoch (finite, >= 0; 0 means now).
 *
 * Scalars are stored as float32 (simple_value), as TensorBoard plots them, rounded to
 * nearest: 0.1 reads back as 0.100000001, and finite values of magnitude 2^128 - 2^103
 * (3.40282357e38) or more become +-Inf. NaN and +-Inf are kept and read back as such.
 * Any step is kept, negative or beyond 2^31 (int64). A tag is non-empty UTF-8; "/" groups
 * tags in TensorBoard ("train/loss" and "val/loss" under "train" and "val").
 *
 * Hyperparameters (the HParams plugin, tensorboard/plugins/hparams/plugin_data.proto):
 * an Event at step 0 whose summary value is tag "_hparams_/session_start_info", metadata
 * plugin_data {plugin_name "hparams", content HParamsPluginData {session_start_info
 * {hparams: name -> google.protobuf.Value, start_time_secs}}}. With metric tags, it is
 * preceded by "_hparams_/experiment" (HParamsPluginData {experiment {time_created_secs,
 * hparam_infos {name, type}, metric_infos {name {tag}}}}): the table's columns are then
 * exactly these hyperparameters and metrics (a metric is the latest value of that
 * scalar tag in the run). TensorBoard uses one such experiment for the whole --logdir (an
 * arbitrary run's): runs compared together should log the same names. Without metric
 * tags no experiment is written, and TensorBoard makes the columns from every run's
 * hyperparameters and scalar tags. No session end is written (its status shows as
 * unknown). Once per writer; names unique and non-empty, numbers finite.
 *
 * Records go through a 64 KiB buffer: TensorBoard sees them after volt_tb_flush (which
 * also fsyncs the file), when the buffer fills, and after volt_tb_writer_destroy. A file
 * that cannot be created or written (no such folder, permission, disk full, quota) is
 * VOLT_ERR_IO naming the file and strerror. After a failed write every later call fails
 * the same way; the file then ends at most with a partial record, which TensorBoard
 * ignores. Bad arguments are VOLT_ERR_ARG and write nothing. */
#ifndef VOLT_LOG_TENSORBOARD_H
#define VOLT_LOG_TENSORBOARD_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct volt_tb_writer volt_tb_writer;

typedef enum volt_tb_hparam_kind {
    VOLT_TB_HPARAM_NUMBER, /* number_value, DATA_TYPE_FLOAT64 */
    VOLT_TB_HPARAM_STRING, /* string_value, DATA_TYPE_STRING */
    VOLT_TB_HPARAM_BOOL,   /* bool_value, DATA_TYPE_BOOL */
} volt_tb_hparam_kind;

/* One hyperparameter; the fields other than the kind's are ignored. */
typedef struct volt_tb_hparam {
    const char *name;
    volt_tb_hparam_kind kind;
    double number;      /* finite */
    const char *string; /* UTF-8, may be "" */
    int boolean;        /* 0 false, other true */
} volt_tb_hparam;

#define VOLT_TB_NUMBER(name_, value_)                                                              \
    ((volt_tb_hparam){.name = (name_), .kind = VOLT_TB_HPARAM_NUMBER, .number = (value_)})
#define VOLT_TB_STRING(name_, value_)                                                              \
    ((volt_tb_hparam){.name = (name_), .kind = VOLT_TB_HPARAM_STRING, .string = (value_)})
#define VOLT_TB_BOOL(name_, value_)                                                                \
    ((volt_tb_hparam){.name = (name_), .kind = VOLT_TB_HPARAM_BOOL, .boolean = (value_)})

/* Creates dir if needed and a new event file in it, holding the file_version event. */
VOLT_NODISCARD int volt_tb_writer_create(const char *dir, volt_tb_writer **out);
/* Flushes and closes the file and frees the writer (NULL: nothing). Returns VOLT_ERR_IO
 * when records could not be written (now, or in an earlier call that reported it); the
 * writer is freed either way. */
int volt_tb_writer_destroy(volt_tb_writer *writer);
/* The event file's path. */
const char *volt_tb_writer_path(const volt_tb_writer *writer);

VOLT_NODISCARD int volt_tb_add_scalar(volt_tb_writer *writer, const char *tag, double value,
                                      long step, double wall_time);
/* hparam_count >= 1; metric_tags may be NULL when metric_count == 0 (see above). */
VOLT_NODISCARD int volt_tb_add_hparams(volt_tb_writer *writer, const volt_tb_hparam *hparams,
                                       int hparam_count, const char *const *metric_tags,
                                       int metric_count, double wall_time);
/* Writes the buffered records out and fsyncs the file. */
VOLT_NODISCARD int volt_tb_flush(volt_tb_writer *writer);

/* The format's checksums, for tests and other readers: CRC-32C (Castagnoli, reflected
 * polynomial 0x82F63B78; "123456789" -> 0xE3069283) and TFRecord's masked form of it,
 * ((crc >> 15) | (crc << 17)) + 0xa282ead8 (mod 2^32). */
uint32_t volt_tb_crc32c(const void *data, size_t size);
uint32_t volt_tb_masked_crc32c(const void *data, size_t size);

#endif

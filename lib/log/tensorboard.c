/* lib/log/tensorboard.c — TensorBoard event files: a protobuf encoder for the few messages
 * written, TFRecord framing, CRC-32C.
 *
 * Protobuf wire format: a field is a key, varint(field_number << 3 | wire_type), then its
 * value: wire type 0 a varint (7 bits a byte, low first, high bit set on all but the last;
 * an int64 as its two's complement, so a negative is 10 bytes), 1 eight bytes little
 * endian (double), 5 four bytes (float), 2 a varint length then that many bytes (strings,
 * bytes, nested messages). proto3 leaves out a field holding its default (0, ""), but a
 * oneof member is written whenever it is set: a simple_value of 0 must be written, or
 * TensorBoard reads a value with no scalar in it. Fields go in field-number order.
 *
 * An event is encoded into one reused buffer. A nested message is encoded in place: its
 * content is appended, then moved up to make room for its key and length, known only at
 * its end (the messages are small; the moves cost less than a sizing pass).
 *
 * CRC-32C is table-driven, one byte at a time (events are tens of bytes): the table holds
 * the CRC of each byte value, the register shifted right with the reflected polynomial
 * 0x82F63B78, starting from and finished with all ones. */
#define _POSIX_C_SOURCE 200809L /* fsync, fileno, gethostname, O_CLOEXEC, clock_gettime */
#include "log/tensorboard.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/fs.h"

/* Field numbers, from tensorflow/core/util/event.proto, tensorflow/core/framework/
 * summary.proto, tensorboard/plugins/hparams/{plugin_data,api}.proto and
 * google/protobuf/struct.proto. */
enum {
    EVENT_WALL_TIME = 1,    /* double */
    EVENT_STEP = 2,         /* int64 */
    EVENT_FILE_VERSION = 3, /* string, oneof what */
    EVENT_SUMMARY = 5,      /* Summary, oneof what */
    SUMMARY_VALUE = 1,      /* repeated Summary.Value */
    VALUE_TAG = 1,          /* string */
    VALUE_SIMPLE_VALUE = 2, /* float, oneof value */
    VALUE_METADATA = 9,     /* SummaryMetadata */
    METADATA_PLUGIN_DATA = 1,
    PLUGIN_DATA_PLUGIN_NAME = 1, /* string */
    PLUGIN_DATA_CONTENT = 2,     /* bytes: here a serialized HParamsPluginData */
    /* HParamsPluginData {int32 version = 1 (0, left out); oneof data} */
    HPARAMS_EXPERIMENT = 2,
    HPARAMS_SESSION_START_INFO = 3,
    EXPERIMENT_TIME_CREATED_SECS = 3, /* double */
    EXPERIMENT_HPARAM_INFOS = 4,      /* repeated HParamInfo */
    EXPERIMENT_METRIC_INFOS = 5,      /* repeated MetricInfo */
    HPARAM_INFO_NAME = 1,             /* string */
    HPARAM_INFO_TYPE = 4,             /* enum DataType */
    METRIC_INFO_NAME = 1,             /* MetricName */
    METRIC_NAME_TAG = 2,              /* string (group = 1 left empty: this run) */
    SESSION_START_HPARAMS = 1,        /* map<string, google.protobuf.Value> */
    SESSION_START_TIME_SECS = 5,      /* double */
    MAP_ENTRY_KEY = 1,                /* a map is a repeated message {key = 1, value = 2} */
    MAP_ENTRY_VALUE = 2,
    STRUCT_VALUE_NUMBER = 2, /* google.protobuf.Value: double, oneof kind */
    STRUCT_VALUE_STRING = 3, /* string, oneof kind */
    STRUCT_VALUE_BOOL = 4,   /* bool, oneof kind */
};
enum { DATA_TYPE_STRING = 1, DATA_TYPE_BOOL = 2, DATA_TYPE_FLOAT64 = 3 };
enum { WIRE_VARINT = 0, WIRE_FIXED64 = 1, WIRE_LENGTH = 2, WIRE_FIXED32 = 5 };

#define TB_FILE_BUFFER_BYTES ((size_t)64 * 1024)

/* ---- CRC-32C ------------------------------------------------------------------------------ */

static uint32_t crc32c_table[256];
static pthread_once_t crc32c_table_once = PTHREAD_ONCE_INIT;

static void crc32c_table_init(void) {
    for (uint32_t byte = 0; byte < 256; byte++) {
        uint32_t crc = byte;
        for (int bit = 0; bit < 8; bit++) crc = (crc >> 1) ^ ((crc & 1u) ? 0x82F63B78u : 0u);
        crc32c_table[byte] = crc;
    }
}

uint32_t volt_tb_crc32c(const void *data, size_t size) {
    pthread_once(&crc32c_table_once, crc32c_table_init);
    const unsigned char *bytes = data;
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < size; i++) crc = crc32c_table[(crc ^ bytes[i]) & 0xFFu] ^ (crc >> 8);
    return crc ^ 0xFFFFFFFFu;
}

uint32_t volt_tb_masked_crc32c(const void *data, size_t size) {
    uint32_t crc = volt_tb_crc32c(data, size);
    return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

/* ---- protobuf encoding ---------------------------------------------------------------------- */

typedef struct tb_buffer {
    unsigned char *bytes;
    size_t size, capacity;
    int out_of_memory; /* a growth failed: the content is incomplete */
} tb_buffer;

static int reserve(tb_buffer *buffer, size_t more) {
    if (buffer->out_of_memory) return 0;
    if (buffer->capacity - buffer->size >= more) return 1;
    size_t capacity = buffer->capacity ? buffer->capacity : 256;
    while (capacity - buffer->size < more) capacity *= 2;
    unsigned char *bytes = realloc(buffer->bytes, capacity);
    if (!bytes) {
        buffer->out_of_memory = 1;
        return 0;
    }
    buffer->bytes = bytes;
    buffer->capacity = capacity;
    return 1;
}

static void put_bytes(tb_buffer *buffer, const void *data, size_t size) {
    if (!reserve(buffer, size)) return;
    if (size) memcpy(buffer->bytes + buffer->size, data, size);
    buffer->size += size;
}

/* Writes value as a varint into out (room for 10 bytes); returns its length. */
static size_t encode_varint(unsigned char *out, uint64_t value) {
    size_t length = 0;
    do {
        unsigned char byte = (unsigned char)(value & 0x7Fu);
        value >>= 7;
        out[length++] = value ? (unsigned char)(byte | 0x80u) : byte;
    } while (value);
    return length;
}

static void put_varint(tb_buffer *buffer, uint64_t value) {
    unsigned char bytes[10];
    put_bytes(buffer, bytes, encode_varint(bytes, value));
}

static void put_key(tb_buffer *buffer, unsigned field, unsigned wire_type) {
    put_varint(buffer, (uint64_t)field << 3 | wire_type);
}

static void put_little_endian(tb_buffer *buffer, uint64_t value, size_t size) {
    unsigned char bytes[8];
    for (size_t i = 0; i < size; i++) bytes[i] = (unsigned char)(value >> (8 * i));
    put_bytes(buffer, bytes, size);
}

static void put_varint_field(tb_buffer *buffer, unsigned field, uint64_t value) {
    put_key(buffer, field, WIRE_VARINT);
    put_varint(buffer, value);
}

static void put_double_field(tb_buffer *buffer, unsigned field, double value) {
    uint64_t bits;
    memcpy(&bits, &value, sizeof bits);
    put_key(buffer, field, WIRE_FIXED64);
    put_little_endian(buffer, bits, 8);
}

static void put_float_field(tb_buffer *buffer, unsigned field, float value) {
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    put_key(buffer, field, WIRE_FIXED32);
    put_little_endian(buffer, bits, 4);
}

static void put_string_field(tb_buffer *buffer, unsigned field, const char *text) {
    size_t length = strlen(text);
    put_key(buffer, field, WIRE_LENGTH);
    put_varint(buffer, length);
    put_bytes(buffer, text, length);
}

/* A nested message: begin_message, its fields, end_message with its field number. */
static size_t begin_message(const tb_buffer *buffer) { return buffer->size; }

static void end_message(tb_buffer *buffer, unsigned field, size_t start) {
    size_t content = buffer->size - start;
    unsigned char header[20];
    size_t header_size = encode_varint(header, (uint64_t)field << 3 | WIRE_LENGTH);
    header_size += encode_varint(header + header_size, content);
    if (!reserve(buffer, header_size)) return;
    memmove(buffer->bytes + start + header_size, buffer->bytes + start, content);
    memcpy(buffer->bytes + start, header, header_size);
    buffer->size += header_size;
}

/* Starts an Event {wall_time, step} (step 0, the default, left out). */
static void begin_event(tb_buffer *buffer, double wall_time, long step) {
    buffer->size = 0;
    buffer->out_of_memory = 0;
    put_double_field(buffer, EVENT_WALL_TIME, wall_time);
    if (step != 0) put_varint_field(buffer, EVENT_STEP, (uint64_t)(int64_t)step);
}

/* double -> float rounded as IEEE 754 does it, beyond float's range included (where C
 * leaves the conversion undefined): from FLT_MAX plus half its last unit (2^103) on, the
 * value rounds to infinity; below that, to FLT_MAX. */
static float to_float(double value) {
    const double overflow = (double)FLT_MAX + 0x1p103;
    if (value >= overflow) return INFINITY;
    if (value <= -overflow) return -INFINITY;
    if (value > FLT_MAX) return FLT_MAX;
    if (value < -FLT_MAX) return -FLT_MAX;
    return (float)value;
}

/* Well-formed UTF-8 (RFC 3629: shortest form, no surrogates, at most U+10FFFF), as
 * protobuf requires of a string field: TensorBoard's parser rejects the event otherwise. */
static int is_utf8(const char *text) {
    const unsigned char *c = (const unsigned char *)text;
    while (*c) {
        if (*c < 0x80) {
            c++;
            continue;
        }
        int more;
        uint32_t code, minimum;
        if ((*c & 0xE0u) == 0xC0u) {
            more = 1, code = *c & 0x1Fu, minimum = 0x80;
        } else if ((*c & 0xF0u) == 0xE0u) {
            more = 2, code = *c & 0x0Fu, minimum = 0x800;
        } else if ((*c & 0xF8u) == 0xF0u) {
            more = 3, code = *c & 0x07u, minimum = 0x10000;
        } else {
            return 0;
        }
        c++;
        for (int i = 0; i < more; i++, c++) {
            if ((*c & 0xC0u) != 0x80u) return 0;
            code = code << 6 | (*c & 0x3Fu);
        }
        if (code < minimum || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return 0;
    }
    return 1;
}

/* ---- the writer ------------------------------------------------------------------------------ */

struct volt_tb_writer {
    char *path;
    FILE *file;
    char *file_buffer; /* the stdio buffer, TB_FILE_BUFFER_BYTES */
    tb_buffer event;   /* the event being encoded */
    int write_errno;   /* errno of the first failed write, 0 while none failed */
    int has_hparams;
};

static atomic_long writers_created;

static double unix_time_now(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
}

static int write_failed(const volt_tb_writer *writer) {
    return VOLT_ERROR(VOLT_ERR_IO, "cannot write TensorBoard event file %s: %s", writer->path,
                      strerror(writer->write_errno));
}

static void note_write_error(volt_tb_writer *writer) {
    if (!writer->write_errno) writer->write_errno = errno ? errno : EIO;
}

/* Frames writer->event as one TFRecord and hands it to stdio. */
static int write_event(volt_tb_writer *writer) {
    const tb_buffer *event = &writer->event;
    if (event->out_of_memory)
        return VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory encoding an event for %s", writer->path);
    unsigned char header[12], footer[4];
    for (int i = 0; i < 8; i++) header[i] = (unsigned char)((uint64_t)event->size >> (8 * i));
    uint32_t header_crc = volt_tb_masked_crc32c(header, 8);
    uint32_t payload_crc = volt_tb_masked_crc32c(event->bytes, event->size);
    for (int i = 0; i < 4; i++) {
        header[8 + i] = (unsigned char)(header_crc >> (8 * i));
        footer[i] = (unsigned char)(payload_crc >> (8 * i));
    }
    errno = 0;
    if (fwrite(header, 1, sizeof header, writer->file) != sizeof header ||
        fwrite(event->bytes, 1, event->size, writer->file) != event->size ||
        fwrite(footer, 1, sizeof footer, writer->file) != sizeof footer) {
        note_write_error(writer);
        return write_failed(writer);
    }
    return VOLT_OK;
}

/* Creates a new event file in dir, named as TensorFlow names them; sets writer->path. */
static int create_file(volt_tb_writer *writer, const char *dir) {
    char host[256];
    if (gethostname(host, sizeof host) != 0 || !host[0]) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    for (char *c = host; *c; c++)
        if (*c == '/') *c = '_';
    size_t dir_length = strlen(dir);
    while (dir_length > 1 && dir[dir_length - 1] == '/') dir_length--;
    size_t path_size = dir_length + strlen(host) + 96;
    writer->path = malloc(path_size);
    VOLT_CHECK_ALLOC(writer->path, path_size);
    long long seconds = (long long)time(NULL);
    /* O_EXCL: never append to another writer's file; a name taken (a restarted container
     * with the same host name and pid in the same second) moves on to the next n. */
    for (int attempt = 0;; attempt++) {
        long n = atomic_fetch_add(&writers_created, 1);
        snprintf(writer->path, path_size, "%.*s/events.out.tfevents.%010lld.%s.%ld.%ld",
                 (int)dir_length, dir, seconds, host, (long)getpid(), n);
        int fd = open(writer->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0) {
            writer->file = fdopen(fd, "wb");
            if (!writer->file) {
                int saved_errno = errno;
                close(fd);
                unlink(writer->path);
                return VOLT_ERROR(VOLT_ERR_IO, "cannot open TensorBoard event file %s: %s",
                                  writer->path, strerror(saved_errno));
            }
            break;
        }
        if (errno != EEXIST || attempt == 100)
            return VOLT_ERROR(VOLT_ERR_IO, "cannot create TensorBoard event file %s: %s",
                              writer->path, strerror(errno));
    }
    writer->file_buffer = malloc(TB_FILE_BUFFER_BYTES);
    if (writer->file_buffer)
        setvbuf(writer->file, writer->file_buffer, _IOFBF, TB_FILE_BUFFER_BYTES);
    return VOLT_OK;
}

/* Closes (errors ignored) and frees. */
static void free_writer(volt_tb_writer *writer) {
    if (writer->file) fclose(writer->file);
    free(writer->file_buffer);
    free(writer->event.bytes);
    free(writer->path);
    free(writer);
}

int volt_tb_writer_create(const char *dir, volt_tb_writer **out) {
    VOLT_CHECK_ARG(out);
    *out = NULL;
    if (!dir || !dir[0]) return VOLT_ERROR(VOLT_ERR_ARG, "TensorBoard folder path is empty");
    if (volt_make_folders(dir) != VOLT_OK)
        return VOLT_ERROR(VOLT_ERR_IO, "cannot create TensorBoard folder %s", dir);
    volt_tb_writer *writer = calloc(1, sizeof *writer);
    VOLT_CHECK_ALLOC(writer, sizeof *writer);
    int status = create_file(writer, dir);
    if (status == VOLT_OK) {
        begin_event(&writer->event, unix_time_now(), 0);
        put_string_field(&writer->event, EVENT_FILE_VERSION, "brain.Event:2");
        status = write_event(writer);
    }
    /* whole and visible at once, as TensorFlow's writer leaves a new file */
    if (status == VOLT_OK && fflush(writer->file) != 0) {
        note_write_error(writer);
        status = write_failed(writer);
    }
    if (status != VOLT_OK) {
        if (writer->file) unlink(writer->path);
        free_writer(writer);
        return status;
    }
    *out = writer;
    return VOLT_OK;
}

const char *volt_tb_writer_path(const volt_tb_writer *writer) {
    return writer ? writer->path : NULL;
}

/* fflush, then fsync (EINVAL: a file that cannot be synced, such as a pipe, is fine). */
static int flush_file(volt_tb_writer *writer) {
    if (writer->write_errno) return write_failed(writer);
    errno = 0;
    if (fflush(writer->file) != 0 || (fsync(fileno(writer->file)) != 0 && errno != EINVAL)) {
        note_write_error(writer);
        return write_failed(writer);
    }
    return VOLT_OK;
}

int volt_tb_flush(volt_tb_writer *writer) {
    VOLT_CHECK_ARG(writer);
    return flush_file(writer);
}

int volt_tb_writer_destroy(volt_tb_writer *writer) {
    if (!writer) return VOLT_OK;
    int status = flush_file(writer);
    FILE *file = writer->file;
    writer->file = NULL;
    if (fclose(file) != 0 && status == VOLT_OK) {
        note_write_error(writer);
        status = write_failed(writer);
    }
    free_writer(writer);
    return status;
}

static int check_text(const volt_tb_writer *writer, const char *what, const char *text) {
    if (!is_utf8(text))
        return VOLT_ERROR(VOLT_ERR_ARG, "%s for %s is not valid UTF-8", what, writer->path);
    return VOLT_OK;
}

static int check_wall_time(const volt_tb_writer *writer, const char *what, double wall_time) {
    if (!isfinite(wall_time) || wall_time < 0)
        return VOLT_ERROR(VOLT_ERR_ARG,
                          "%s for %s: wall_time %g is not seconds since 1970 (0 for now)", what,
                          writer->path, wall_time);
    return VOLT_OK;
}

int volt_tb_add_scalar(volt_tb_writer *writer, const char *tag, double value, long step,
                       double wall_time) {
    VOLT_CHECK_ARG(writer);
    if (!tag || !tag[0])
        return VOLT_ERROR(VOLT_ERR_ARG, "scalar at step %ld for %s has no tag", step, writer->path);
    char what[128];
    snprintf(what, sizeof what, "scalar '%.64s' at step %ld", tag, step);
    VOLT_CHECK(check_text(writer, "the tag of a scalar", tag));
    VOLT_CHECK(check_wall_time(writer, what, wall_time));
    if (writer->write_errno) return write_failed(writer);

    tb_buffer *event = &writer->event;
    begin_event(event, wall_time ? wall_time : unix_time_now(), step);
    size_t summary = begin_message(event);
    size_t summary_value = begin_message(event);
    put_string_field(event, VALUE_TAG, tag);
    put_float_field(event, VALUE_SIMPLE_VALUE, to_float(value));
    end_message(event, SUMMARY_VALUE, summary_value);
    end_message(event, EVENT_SUMMARY, summary);
    VOLT_CHECK(write_event(writer));
    return VOLT_OK;
}

/* Event {wall_time, summary {value {tag, metadata {plugin_data {plugin_name "hparams",
 * content HParamsPluginData {...}}}}}}: open_hparams_event writes it up to the content's
 * first field, close_hparams_event closes the five messages. */
typedef struct hparams_event {
    size_t summary, value, metadata, plugin_data, content;
} hparams_event;

static hparams_event open_hparams_event(tb_buffer *event, double wall_time, const char *tag) {
    hparams_event open;
    begin_event(event, wall_time, 0);
    open.summary = begin_message(event);
    open.value = begin_message(event);
    put_string_field(event, VALUE_TAG, tag);
    open.metadata = begin_message(event);
    open.plugin_data = begin_message(event);
    put_string_field(event, PLUGIN_DATA_PLUGIN_NAME, "hparams");
    open.content = begin_message(event);
    /* HParamsPluginData.version: 0, the plugin's PLUGIN_DATA_VERSION, is the default */
    return open;
}

static void close_hparams_event(tb_buffer *event, hparams_event open) {
    end_message(event, PLUGIN_DATA_CONTENT, open.content);
    end_message(event, METADATA_PLUGIN_DATA, open.plugin_data);
    end_message(event, VALUE_METADATA, open.metadata);
    end_message(event, SUMMARY_VALUE, open.value);
    end_message(event, EVENT_SUMMARY, open.summary);
}

static int check_hparams(const volt_tb_writer *writer, const volt_tb_hparam *hparams,
                         int hparam_count, const char *const *metric_tags, int metric_count) {
    if (hparam_count < 1 || !hparams)
        return VOLT_ERROR(VOLT_ERR_ARG, "no hyperparameters given for %s", writer->path);
    if (metric_count < 0 || (metric_count > 0 && !metric_tags))
        return VOLT_ERROR(VOLT_ERR_ARG, "%d metric tags given for %s without their names",
                          metric_count, writer->path);
    for (int i = 0; i < hparam_count; i++) {
        const volt_tb_hparam *hparam = &hparams[i];
        if (!hparam->name || !hparam->name[0])
            return VOLT_ERROR(VOLT_ERR_ARG, "hyperparameter %d for %s has no name", i,
                              writer->path);
        VOLT_CHECK(check_text(writer, "a hyperparameter's name", hparam->name));
        for (int j = 0; j < i; j++)
            if (strcmp(hparams[j].name, hparam->name) == 0)
                return VOLT_ERROR(VOLT_ERR_ARG, "hyperparameter '%s' given twice for %s",
                                  hparam->name, writer->path);
        switch (hparam->kind) {
        case VOLT_TB_HPARAM_NUMBER:
            if (!isfinite(hparam->number))
                return VOLT_ERROR(VOLT_ERR_ARG,
                                  "hyperparameter '%s' for %s is %g: TensorBoard takes finite "
                                  "numbers (give it as a string)",
                                  hparam->name, writer->path, hparam->number);
            break;
        case VOLT_TB_HPARAM_STRING:
            if (!hparam->string)
                return VOLT_ERROR(VOLT_ERR_ARG, "string hyperparameter '%s' for %s is NULL",
                                  hparam->name, writer->path);
            VOLT_CHECK(check_text(writer, "a hyperparameter's value", hparam->string));
            break;
        case VOLT_TB_HPARAM_BOOL:
            break;
        default:
            return VOLT_ERROR(VOLT_ERR_ARG, "hyperparameter '%s' for %s has an unknown kind %d",
                              hparam->name, writer->path, (int)hparam->kind);
        }
    }
    for (int i = 0; i < metric_count; i++) {
        if (!metric_tags[i] || !metric_tags[i][0])
            return VOLT_ERROR(VOLT_ERR_ARG, "metric tag %d for %s is empty", i, writer->path);
        VOLT_CHECK(check_text(writer, "a metric tag", metric_tags[i]));
        for (int j = 0; j < i; j++)
            if (strcmp(metric_tags[j], metric_tags[i]) == 0)
                return VOLT_ERROR(VOLT_ERR_ARG, "metric tag '%s' given twice for %s",
                                  metric_tags[i], writer->path);
    }
    return VOLT_OK;
}

int volt_tb_add_hparams(volt_tb_writer *writer, const volt_tb_hparam *hparams, int hparam_count,
                        const char *const *metric_tags, int metric_count, double wall_time) {
    VOLT_CHECK_ARG(writer);
    if (writer->has_hparams)
        return VOLT_ERROR(VOLT_ERR_ARG, "hyperparameters already written to %s (once per run)",
                          writer->path);
    VOLT_CHECK(check_hparams(writer, hparams, hparam_count, metric_tags, metric_count));
    VOLT_CHECK(check_wall_time(writer, "hyperparameters", wall_time));
    if (writer->write_errno) return write_failed(writer);
    if (wall_time == 0) wall_time = unix_time_now();
    tb_buffer *event = &writer->event;

    if (metric_count > 0) {
        hparams_event open = open_hparams_event(event, wall_time, "_hparams_/experiment");
        size_t experiment = begin_message(event);
        put_double_field(event, EXPERIMENT_TIME_CREATED_SECS, wall_time);
        for (int i = 0; i < hparam_count; i++) {
            static const unsigned data_types[] = {[VOLT_TB_HPARAM_NUMBER] = DATA_TYPE_FLOAT64,
                                                  [VOLT_TB_HPARAM_STRING] = DATA_TYPE_STRING,
                                                  [VOLT_TB_HPARAM_BOOL] = DATA_TYPE_BOOL};
            size_t info = begin_message(event);
            put_string_field(event, HPARAM_INFO_NAME, hparams[i].name);
            put_varint_field(event, HPARAM_INFO_TYPE, data_types[hparams[i].kind]);
            end_message(event, EXPERIMENT_HPARAM_INFOS, info);
        }
        for (int i = 0; i < metric_count; i++) {
            size_t info = begin_message(event);
            size_t name = begin_message(event);
            put_string_field(event, METRIC_NAME_TAG, metric_tags[i]);
            end_message(event, METRIC_INFO_NAME, name);
            end_message(event, EXPERIMENT_METRIC_INFOS, info);
        }
        end_message(event, HPARAMS_EXPERIMENT, experiment);
        close_hparams_event(event, open);
        VOLT_CHECK(write_event(writer));
    }

    hparams_event open = open_hparams_event(event, wall_time, "_hparams_/session_start_info");
    size_t start_info = begin_message(event);
    for (int i = 0; i < hparam_count; i++) {
        const volt_tb_hparam *hparam = &hparams[i];
        size_t entry = begin_message(event);
        put_string_field(event, MAP_ENTRY_KEY, hparam->name);
        size_t value = begin_message(event);
        if (hparam->kind == VOLT_TB_HPARAM_NUMBER)
            put_double_field(event, STRUCT_VALUE_NUMBER, hparam->number);
        else if (hparam->kind == VOLT_TB_HPARAM_STRING)
            put_string_field(event, STRUCT_VALUE_STRING, hparam->string);
        else
            put_varint_field(event, STRUCT_VALUE_BOOL, hparam->boolean ? 1 : 0);
        end_message(event, MAP_ENTRY_VALUE, value);
        end_message(event, SESSION_START_HPARAMS, entry);
    }
    put_double_field(event, SESSION_START_TIME_SECS, wall_time);
    end_message(event, HPARAMS_SESSION_START_INFO, start_info);
    close_hparams_event(event, open);
    VOLT_CHECK(write_event(writer));
    writer->has_hparams = 1;
    return VOLT_OK;
}

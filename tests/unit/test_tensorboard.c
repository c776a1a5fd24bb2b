/* tests/unit/test_tensorboard.c — TensorBoard event files (lib/log/tensorboard.h): CRC-32C
 * against published vectors and a bit-at-a-time reference; scalar and hyperparameter
 * events byte for byte against encodings derived by hand below from the .proto field
 * numbers; every record of a written file re-read (lengths, both CRCs, nothing left
 * over); float rounding; the file name; bad arguments (VOLT_ERR_ARG, nothing written);
 * folders that cannot be written and a write that fails (VOLT_ERR_IO naming the file and
 * the reason). TensorBoard itself reads the files in tests/tensorboard.cmake.
 *
 * Protobuf encoding used in the derivations: a key byte is field_number << 3 | wire_type
 * (0 varint, 1 fixed64, 2 length-delimited, 5 fixed32); so for Event, wall_time (1,
 * double) is 0x09, step (2, varint) 0x10, file_version (3, string) 0x1A, summary (5)
 * 0x2A; in Summary, value (1) 0x0A; in Summary.Value, tag (1) 0x0A, simple_value (2,
 * float) 0x15, metadata (9) 0x4A. Doubles and floats are IEEE 754, little endian. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, setrlimit, geteuid */
#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log/tensorboard.h"
#include "volt_test.h"

/* ---- fixtures -------------------------------------------------------------------------- */

/* The whole file, malloc'd (NULL after failing the test). */
static unsigned char *read_bytes(const char *path, size_t *size) {
    *size = 0;
    FILE *file = fopen(path, "rb");
    if (!file) {
        volt_test_fail(__FILE__, __LINE__, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t capacity = 4096, length = 0;
    unsigned char *bytes = malloc(capacity);
    size_t got;
    while (bytes && (got = fread(bytes + length, 1, capacity - length, file)) > 0) {
        length += got;
        if (length == capacity) {
            unsigned char *grown = realloc(bytes, capacity *= 2);
            if (!grown) free(bytes);
            bytes = grown;
        }
    }
    fclose(file);
    *size = length;
    return bytes;
}

typedef struct record {
    const unsigned char *payload;
    size_t size;
} record;

static uint64_t read_le(const unsigned char *bytes, int count) {
    uint64_t value = 0;
    for (int i = count - 1; i >= 0; i--) value = value << 8 | bytes[i];
    return value;
}

/* Splits a file into its TFRecords, checking each: 8-byte length, masked CRC-32C of those
 * 8 bytes, payload, masked CRC-32C of the payload, and no bytes after the last. Returns
 * the number of records (at most max), -1 after failing the test. */
static int split_records(const unsigned char *bytes, size_t size, record *records, int max) {
    size_t offset = 0;
    int count = 0;
    while (offset < size) {
        if (size - offset < 12) {
            volt_test_fail(__FILE__, __LINE__, "%zu stray bytes at offset %zu", size - offset,
                           offset);
            return -1;
        }
        uint64_t length = read_le(bytes + offset, 8);
        uint32_t length_crc = (uint32_t)read_le(bytes + offset + 8, 4);
        if (length_crc != volt_tb_masked_crc32c(bytes + offset, 8)) {
            volt_test_fail(__FILE__, __LINE__,
                           "record %d at %zu: length CRC 0x%08x, expected 0x%08x", count, offset,
                           length_crc, volt_tb_masked_crc32c(bytes + offset, 8));
            return -1;
        }
        if (length > size - offset - 12 || size - offset - 12 - length < 4) {
            volt_test_fail(__FILE__, __LINE__, "record %d at %zu: length %llu runs past the end",
                           count, offset, (unsigned long long)length);
            return -1;
        }
        const unsigned char *payload = bytes + offset + 12;
        uint32_t payload_crc = (uint32_t)read_le(payload + length, 4);
        if (payload_crc != volt_tb_masked_crc32c(payload, (size_t)length)) {
            volt_test_fail(__FILE__, __LINE__,
                           "record %d at %zu: payload CRC 0x%08x, expected 0x%08x", count, offset,
                           payload_crc, volt_tb_masked_crc32c(payload, (size_t)length));
            return -1;
        }
        if (count == max) {
            volt_test_fail(__FILE__, __LINE__, "more than %d records", max);
            return -1;
        }
        records[count++] = (record){payload, (size_t)length};
        offset += 12 + (size_t)length + 4;
    }
    return count;
}

static void expect_bytes(const char *file, int line, const char *what, const unsigned char *got,
                         size_t got_size, const unsigned char *expected, size_t expected_size) {
    size_t common = got_size < expected_size ? got_size : expected_size;
    size_t first = 0;
    while (first < common && got[first] == expected[first]) first++;
    if (first == common && got_size == expected_size) return;
    volt_test_fail(file, line, "%s: %zu bytes, expected %zu; first difference at byte %zu", what,
                   got_size, expected_size, first);
    fprintf(stderr, "    got     ");
    for (size_t i = 0; i < got_size; i++) fprintf(stderr, "%02X ", got[i]);
    fprintf(stderr, "\n    expected");
    for (size_t i = 0; i < expected_size; i++) fprintf(stderr, " %02X", expected[i]);
    fprintf(stderr, "\n");
}
#define EXPECT_BYTES(what, got, got_size, expected)                                                \
    expect_bytes(__FILE__, __LINE__, (what), (got), (got_size), (expected), sizeof(expected))

/* A writer in a fresh temporary folder. */
typedef struct fixture {
    char dir[256];
    volt_tb_writer *writer;
    int ok;
} fixture;

static fixture fixture_create(void) {
    fixture f = {.ok = 0};
    if (!volt_test_make_temp_dir(f.dir, sizeof f.dir, "tb")) return f;
    int status = volt_tb_writer_create(f.dir, &f.writer);
    if (status != VOLT_OK) {
        volt_test_fail(__FILE__, __LINE__, "volt_tb_writer_create(%s) returned %s", f.dir,
                       volt_status_name(status));
        volt_error_print(stderr);
        volt_error_clear();
        return f;
    }
    f.ok = 1;
    return f;
}

/* Flushes, reads the file and splits it into records (count, or -1). */
static int fixture_records(fixture *f, unsigned char **bytes, record *records, int max) {
    size_t size;
    VOLT_EXPECT_OK(volt_tb_flush(f->writer));
    *bytes = read_bytes(volt_tb_writer_path(f->writer), &size);
    return *bytes ? split_records(*bytes, size, records, max) : -1;
}

static void fixture_destroy(fixture *f) {
    if (f->writer) VOLT_EXPECT_OK(volt_tb_writer_destroy(f->writer));
    f->writer = NULL;
    if (f->dir[0]) volt_test_remove_tree(f->dir);
}

/* Whether needle occurs in bytes. */
static int contains(const unsigned char *bytes, size_t size, const void *needle, size_t length) {
    for (size_t i = 0; i + length <= size; i++)
        if (memcmp(bytes + i, needle, length) == 0) return 1;
    return 0;
}

/* ---- CRC-32C ------------------------------------------------------------------------------ */

/* CRC-32C one bit at a time, no table: the definition the table is built from. */
static uint32_t crc32c_bitwise(const unsigned char *bytes, size_t size) {
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < size; i++) {
        crc ^= bytes[i];
        for (int bit = 0; bit < 8; bit++) crc = (crc & 1u) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
    }
    return ~crc;
}

/* The check value of the CRC catalogue ("123456789") and the iSCSI vectors of RFC 3720,
 * appendix B.4 (32 bytes of zeros, of ones, ascending 0..31, descending 31..0). */
VOLT_TEST(crc32c_known_vectors) {
    VOLT_EXPECT_EQ_INT(volt_tb_crc32c("123456789", 9), 0xE3069283u);
    VOLT_EXPECT_EQ_INT(volt_tb_crc32c("", 0), 0);
    unsigned char zeros[32], ones[32], ascending[32], descending[32];
    for (int i = 0; i < 32; i++) {
        zeros[i] = 0;
        ones[i] = 0xFF;
        ascending[i] = (unsigned char)i;
        descending[i] = (unsigned char)(31 - i);
    }
    VOLT_EXPECT_EQ_INT(volt_tb_crc32c(zeros, 32), 0x8A9136AAu);
    VOLT_EXPECT_EQ_INT(volt_tb_crc32c(ones, 32), 0x62A8AB43u);
    VOLT_EXPECT_EQ_INT(volt_tb_crc32c(ascending, 32), 0x46DD794Eu);
    VOLT_EXPECT_EQ_INT(volt_tb_crc32c(descending, 32), 0x113FDB5Cu);
}

VOLT_TEST(crc32c_table_matches_bitwise_definition) {
    unsigned char bytes[1000];
    uint32_t state = 12345;
    for (size_t i = 0; i < sizeof bytes; i++) {
        state = state * 1664525u + 1013904223u;
        bytes[i] = (unsigned char)(state >> 24);
    }
    for (size_t size = 0; size <= sizeof bytes; size += 37)
        if (volt_tb_crc32c(bytes, size) != crc32c_bitwise(bytes, size))
            volt_test_fail(__FILE__, __LINE__, "%zu bytes: table 0x%08x, bitwise 0x%08x", size,
                           volt_tb_crc32c(bytes, size), crc32c_bitwise(bytes, size));
}

/* mask(0xE3069283): 0xE3069283 >> 15 = 0x0001C60D; its low 15 bits 0x1283 << 17 =
 * 0x25060000; or'ed, 0x2507C60D; + 0xA282EAD8 = 0xC78AB0E5. mask(0) = 0xA282EAD8. */
VOLT_TEST(masked_crc32c) {
    VOLT_EXPECT_EQ_INT(volt_tb_masked_crc32c("123456789", 9), 0xC78AB0E5u);
    VOLT_EXPECT_EQ_INT(volt_tb_masked_crc32c("", 0), 0xA282EAD8u);
}

/* ---- events, byte for byte ------------------------------------------------------------------ */

/* The first record, Event {wall_time = the creation time, file_version "brain.Event:2"}:
 * 09 <8 bytes> 1A 0D "brain.Event:2" (13 characters), 24 bytes. */
static void expect_file_version_event(const record *first, double before, double after) {
    /* clang-format off */
    static const unsigned char tail[] = {0x1A, 0x0D, 'b', 'r', 'a', 'i', 'n', '.', 'E',
                                         'v',  'e',  'n', 't', ':', '2'};
    /* clang-format on */
    VOLT_EXPECT_EQ_INT(first->size, 24);
    if (first->size != 24) return;
    VOLT_EXPECT_EQ_INT(first->payload[0], 0x09);
    EXPECT_BYTES("file_version", first->payload + 9, 15, tail);
    uint64_t bits = read_le(first->payload + 1, 8);
    double wall_time;
    memcpy(&wall_time, &bits, sizeof wall_time);
    if (!(wall_time >= before - 1e-3 && wall_time <= after + 1e-3))
        volt_test_fail(__FILE__, __LINE__, "file_version event at %.6f, not in [%.6f, %.6f]",
                       wall_time, before, after);
}

static double now_seconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
}

/* Scalar "loss" = 0.5 at step 3, wall_time 1.5:
 *   Value   = 0A 04 "loss" | 15 <0.5f = 0x3F000000: 00 00 00 3F>          11 bytes
 *   Summary = 0A 0B <Value>                                                  13 bytes
 *   Event   = 09 <1.5 = 0x3FF8000000000000: 00 00 00 00 00 00 F8 3F> | 10 03
 *             | 2A 0D <Summary>                                              26 bytes
 * Scalar "t" = -2 at step 5000000000, wall_time 1e9:
 *   1e9 = 0x3B9ACA00 = 2^29 * 1.86...: exponent 1023 + 29 = 0x41C, fraction 0x3B9ACA00
 *   less its leading bit, shifted to 52 bits: 0x1B9ACA00 << 23 = 0xDCD6500000000; so
 *   0x41CDCD6500000000, bytes 00 00 00 00 65 CD CD 41.
 *   5000000000 in 7-bit groups, low first: 5000000000 = 39062500 * 128 + 0;
 *   39062500 = 305175 * 128 + 100 (0x64); 305175 = 2384 * 128 + 23 (0x17);
 *   2384 = 18 * 128 + 80 (0x50); 18 (0x12): varint 80 E4 97 D0 12.
 *   -2.0f = 0xC0000000.
 *   Value   = 0A 01 "t" | 15 00 00 00 C0                                    8 bytes
 *   Summary = 0A 08 <Value>                                                 10 bytes
 *   Event   = 09 <1e9> | 10 80 E4 97 D0 12 | 2A 0A <Summary>                 27 bytes
 * Scalar "z" = 0 at step 0, wall_time 1.5: step 0 is proto3's default and left out, but
 * simple_value is a oneof member, written even when 0:
 *   Event   = 09 <1.5> | 2A 0A 0A 08 0A 01 "z" 15 00 00 00 00               21 bytes
 * Scalar "n" at step -1: an int64 varint of its two's complement, 2^64 - 1, ten bytes
 *   FF FF FF FF FF FF FF FF FF 01. */
VOLT_TEST(scalar_events_match_hand_encoding) {
    /* clang-format off */
    static const unsigned char loss[] = {
        0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF8, 0x3F, /* wall_time 1.5 */
        0x10, 0x03,                                           /* step 3 */
        0x2A, 0x0D,                                           /* summary, 13 bytes */
        0x0A, 0x0B,                                           /* value, 11 bytes */
        0x0A, 0x04, 'l',  'o',  's',  's',                    /* tag */
        0x15, 0x00, 0x00, 0x00, 0x3F};                        /* simple_value 0.5 */
    static const unsigned char t[] = {
        0x09, 0x00, 0x00, 0x00, 0x00, 0x65, 0xCD, 0xCD, 0x41, /* wall_time 1e9 */
        0x10, 0x80, 0xE4, 0x97, 0xD0, 0x12,                   /* step 5000000000 */
        0x2A, 0x0A, 0x0A, 0x08, 0x0A, 0x01, 't',              /* summary, value, tag */
        0x15, 0x00, 0x00, 0x00, 0xC0};                        /* simple_value -2 */
    static const unsigned char z[] = {0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF8, 0x3F,
                                      0x2A, 0x0A, 0x0A, 0x08, 0x0A, 0x01, 'z',
                                      0x15, 0x00, 0x00, 0x00, 0x00};
    static const unsigned char n[] = {0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF8, 0x3F,
                                      0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                      0xFF, 0x01, 0x2A, 0x0A, 0x0A, 0x08, 0x0A, 0x01, 'n',
                                      0x15, 0x00, 0x00, 0x80, 0x3F};
    /* clang-format on */
    double before = now_seconds();
    fixture f = fixture_create();
    double after = now_seconds();
    if (!f.ok) return;
    VOLT_EXPECT_OK(volt_tb_add_scalar(f.writer, "loss", 0.5, 3, 1.5));
    VOLT_EXPECT_OK(volt_tb_add_scalar(f.writer, "t", -2.0, 5000000000L, 1e9));
    VOLT_EXPECT_OK(volt_tb_add_scalar(f.writer, "z", 0.0, 0, 1.5));
    VOLT_EXPECT_OK(volt_tb_add_scalar(f.writer, "n", 1.0, -1, 1.5));
    unsigned char *bytes = NULL;
    record records[8];
    int count = fixture_records(&f, &bytes, records, 8);
    VOLT_EXPECT_EQ_INT(count, 5);
    if (count == 5) {
        expect_file_version_event(&records[0], before, after);
        EXPECT_BYTES("loss event", records[1].payload, records[1].size, loss);
        EXPECT_BYTES("t event", records[2].payload, records[2].size, t);
        EXPECT_BYTES("z event", records[3].payload, records[3].size, z);
        EXPECT_BYTES("n event", records[4].payload, records[4].size, n);
    }
    free(bytes);
    fixture_destroy(&f);
}

/* Hyperparameters lr = 0.5 and opt = "sgd", no metric tags (so no experiment), wall_time
 * 1.5: one Event at step 0.
 *   google.protobuf.Value number 0.5:  11 <0.5 = 00 00 00 00 00 00 E0 3F>     9 bytes
 *   google.protobuf.Value string "sgd": 1A 03 "sgd"                           5 bytes
 *   map entry lr:  0A 02 "lr" | 12 09 <Value>                                15 bytes
 *   map entry opt: 0A 03 "opt" | 12 05 <Value>                               12 bytes
 *   SessionStartInfo = 0A 0F <lr> | 0A 0C <opt> | 29 <1.5> (start_time_secs, field 5,
 *                      double)                                         17 + 14 + 9 = 40
 *   HParamsPluginData = 1A 28 <SessionStartInfo> (field 3; version 0 left out)  42
 *   PluginData = 0A 07 "hparams" | 12 2A <HParamsPluginData>           9 + 44 = 53
 *   SummaryMetadata = 0A 35 <PluginData>                                         55
 *   Value = 0A 1C "_hparams_/session_start_info" (28) | 4A 37 <SummaryMetadata>
 *                                                                     30 + 57 = 87
 *   Summary = 0A 57 <Value>                                                      89
 *   Event = 09 <1.5> | 2A 59 <Summary>                                 9 + 91 = 100 */
VOLT_TEST(hparams_event_matches_hand_encoding) {
    /* clang-format off */
    static const unsigned char expected[] = {
        0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF8, 0x3F, /* Event.wall_time 1.5 */
        0x2A, 0x59,                                           /* Event.summary */
        0x0A, 0x57,                                           /* Summary.value */
        0x0A, 0x1C, '_',  'h',  'p',  'a',  'r',  'a',  'm',  's',  '_',  '/',  's',  'e',
        's',  's',  'i',  'o',  'n',  '_',  's',  't',  'a',  'r',  't',  '_',  'i',  'n',
        'f',  'o',                                            /* Value.tag */
        0x4A, 0x37,                                           /* Value.metadata */
        0x0A, 0x35,                                           /* SummaryMetadata.plugin_data */
        0x0A, 0x07, 'h',  'p',  'a',  'r',  'a',  'm',  's',  /* PluginData.plugin_name */
        0x12, 0x2A,                                           /* PluginData.content */
        0x1A, 0x28,                               /* HParamsPluginData.session_start_info */
        0x0A, 0x0F, 0x0A, 0x02, 'l',  'r',        /* hparams entry, key "lr" */
        0x12, 0x09, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xE0, 0x3F, /* number 0.5 */
        0x0A, 0x0C, 0x0A, 0x03, 'o',  'p',  't',  /* hparams entry, key "opt" */
        0x12, 0x05, 0x1A, 0x03, 's',  'g',  'd',  /* string "sgd" */
        0x29, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF8, 0x3F}; /* start_time_secs 1.5 */
    fixture f = fixture_create();
    if (!f.ok) return;
    volt_tb_hparam hparams[] = {VOLT_TB_NUMBER("lr", 0.5), VOLT_TB_STRING("opt", "sgd")};
    /* clang-format on */
    VOLT_EXPECT_OK(volt_tb_add_hparams(f.writer, hparams, 2, NULL, 0, 1.5));
    unsigned char *bytes = NULL;
    record records[4];
    int count = fixture_records(&f, &bytes, records, 4);
    VOLT_EXPECT_EQ_INT(count, 2);
    if (count == 2)
        EXPECT_BYTES("session_start_info event", records[1].payload, records[1].size, expected);
    free(bytes);
    fixture_destroy(&f);
}

/* With metric tags, an experiment event comes first. Its content, for lr (number), opt
 * (string), bn (bool) and metric "val/loss", wall_time 1.5:
 *   Experiment = 19 <1.5> (time_created_secs, 3, double)
 *              | 22 06 0A 02 "lr" 20 03    (hparam_infos, 4: name, type FLOAT64 = 3)
 *              | 22 07 0A 03 "opt" 20 01   (type STRING = 1)
 *              | 22 06 0A 02 "bn" 20 02    (type BOOL = 2)
 *              | 2A 0C 0A 0A 12 08 "val/loss" (metric_infos, 5: name {tag, 2})
 *                                                           9 + 8 + 9 + 8 + 14 = 48
 *   HParamsPluginData = 12 30 <Experiment> (field 2)                                50
 * and bool true in the session start is Value {bool_value (4) = 1}: 20 01. */
VOLT_TEST(hparams_experiment_lists_hparams_and_metrics) {
    /* clang-format off */
    static const unsigned char experiment[] = {
        0x12, 0x30, 0x19, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF8, 0x3F,
        0x22, 0x06, 0x0A, 0x02, 'l',  'r',  0x20, 0x03,
        0x22, 0x07, 0x0A, 0x03, 'o',  'p',  't',  0x20, 0x01,
        0x22, 0x06, 0x0A, 0x02, 'b',  'n',  0x20, 0x02,
        0x2A, 0x0C, 0x0A, 0x0A, 0x12, 0x08, 'v',  'a',  'l',  '/',  'l',  'o',  's',  's'};
    static const unsigned char bn_true[] = {0x0A, 0x02, 'b', 'n', 0x12, 0x02, 0x20, 0x01};
    /* clang-format on */
    fixture f = fixture_create();
    if (!f.ok) return;
    volt_tb_hparam hparams[] = {VOLT_TB_NUMBER("lr", 0.5), VOLT_TB_STRING("opt", "sgd"),
                                VOLT_TB_BOOL("bn", 1)};
    const char *metrics[] = {"val/loss"};
    VOLT_EXPECT_OK(volt_tb_add_hparams(f.writer, hparams, 3, metrics, 1, 1.5));
    unsigned char *bytes = NULL;
    record records[4];
    int count = fixture_records(&f, &bytes, records, 4);
    VOLT_EXPECT_EQ_INT(count, 3);
    if (count == 3) {
        /* the content is the end of the event: the enclosing messages end with it */
        const record *event = &records[1];
        size_t size = sizeof experiment;
        if (event->size < size)
            volt_test_fail(__FILE__, __LINE__, "experiment event of %zu bytes", event->size);
        else
            EXPECT_BYTES("experiment content", event->payload + event->size - size, size,
                         experiment);
        VOLT_EXPECT(contains(event->payload, event->size, "_hparams_/experiment", 20));
        const record *start = &records[2];
        VOLT_EXPECT(contains(start->payload, start->size, bn_true, sizeof bn_true));
    }
    free(bytes);
    fixture_destroy(&f);
}

/* A scalar's float is the last 4 bytes of its event (simple_value ends Value, Summary and
 * Event). Rounding to nearest, NaN kept; FLT_MAX = 0x1.fffffep+127, and from there on
 * half its last unit, 2^103, more (0x1.ffffffp+127) rounds to infinity, the double just
 * below that to FLT_MAX. */
VOLT_TEST(scalar_values_round_to_float32) {
    const double values[] = {0.1,   1e-50, -0.0,     0x1.ffffffp+127, 0x1.fffffefffffffp+127,
                             -1e39, NAN,   INFINITY, (double)FLT_MAX};
    const float expected[] = {0.1f,      0.0f, -0.0f,    INFINITY, FLT_MAX,
                              -INFINITY, NAN,  INFINITY, FLT_MAX};
    int value_count = (int)(sizeof values / sizeof values[0]);
    fixture f = fixture_create();
    if (!f.ok) return;
    for (int i = 0; i < value_count; i++)
        VOLT_EXPECT_OK(volt_tb_add_scalar(f.writer, "v", values[i], i, 1.5));
    unsigned char *bytes = NULL;
    record records[16];
    int count = fixture_records(&f, &bytes, records, 16);
    VOLT_EXPECT_EQ_INT(count, 1 + value_count);
    for (int i = 0; i < value_count && count == 1 + value_count; i++) {
        const record *event = &records[1 + i];
        uint32_t got_bits = (uint32_t)read_le(event->payload + event->size - 4, 4), want_bits;
        memcpy(&want_bits, &expected[i], sizeof want_bits);
        if (isnan(expected[i]) ? (got_bits & 0x7F800000u) != 0x7F800000u || !(got_bits & 0x7FFFFFu)
                               : got_bits != want_bits)
            volt_test_fail(__FILE__, __LINE__, "%.17g stored as 0x%08x, expected 0x%08x (%.9g)",
                           values[i], got_bits, want_bits, (double)expected[i]);
    }
    free(bytes);
    fixture_destroy(&f);
}

/* ---- files ---------------------------------------------------------------------------------- */

/* events.out.tfevents.<10 digits>.<hostname>.<pid>.<n>, in dir. Returns n, or -1 after
 * failing the test. */
static long check_file_name(const char *path, const char *dir, double before, double after) {
    char host[256], prefix[600];
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    snprintf(prefix, sizeof prefix, "%s/events.out.tfevents.", dir);
    size_t prefix_length = strlen(prefix);
    if (strncmp(path, prefix, prefix_length) != 0) {
        volt_test_fail(__FILE__, __LINE__, "%s does not start with %s", path, prefix);
        return -1;
    }
    const char *rest = path + prefix_length;
    for (int i = 0; i < 10; i++)
        if (rest[i] < '0' || rest[i] > '9') {
            volt_test_fail(__FILE__, __LINE__, "%s: no 10-digit time", path);
            return -1;
        }
    long long seconds = strtoll(rest, NULL, 10);
    if (seconds < (long long)before || seconds > (long long)after + 1)
        volt_test_fail(__FILE__, __LINE__, "%s: time %lld not in [%.0f, %.0f]", path, seconds,
                       before, after);
    char tail[400];
    snprintf(tail, sizeof tail, ".%s.%ld.", host, (long)getpid());
    if (strncmp(rest + 10, tail, strlen(tail)) != 0) {
        volt_test_fail(__FILE__, __LINE__, "%s: expected %s after the time", path, tail);
        return -1;
    }
    char *end;
    long n = strtol(rest + 10 + strlen(tail), &end, 10);
    if (*end) volt_test_fail(__FILE__, __LINE__, "%s: junk after n", path);
    return n;
}

/* 2000 scalars over 250 tags (one of 300 characters: a 2-byte length), read back from the
 * file after volt_tb_flush, before the writer is closed: every record whole, in order. A
 * second writer in the same folder takes the next n. */
VOLT_TEST(file_holds_every_record_framed) {
    double before = now_seconds();
    fixture f = fixture_create();
    if (!f.ok) return;
    char long_tag[301];
    memset(long_tag, 'x', 300);
    long_tag[300] = '\0';
    enum { SCALARS = 2000 };
    for (int i = 0; i < SCALARS; i++) {
        char tag[64];
        snprintf(tag, sizeof tag, "group_%d/tag_%d", i % 5, i % 249);
        VOLT_EXPECT_OK(volt_tb_add_scalar(f.writer, i % 100 == 7 ? long_tag : tag, i * 0.25,
                                          (long)i * 1000003L, 1.7e9 + i));
    }
    unsigned char *bytes = NULL;
    record *records = malloc((SCALARS + 2) * sizeof *records);
    int count = records ? fixture_records(&f, &bytes, records, SCALARS + 2) : -1;
    VOLT_EXPECT_EQ_INT(count, 1 + SCALARS);
    for (int i = 0; i < SCALARS && count == 1 + SCALARS; i++) {
        const record *event = &records[1 + i];
        float value;
        uint32_t bits = (uint32_t)read_le(event->payload + event->size - 4, 4);
        memcpy(&value, &bits, sizeof value);
        if (value != (float)(i * 0.25)) {
            volt_test_fail(__FILE__, __LINE__, "record %d holds %g, expected %g", 1 + i,
                           (double)value, i * 0.25);
            break;
        }
    }
    if (count == 1 + SCALARS) {
        /* record 8 is the long tag's: its Value is 0A AC 02 (300 = 2 * 128 + 44) <300
         * bytes> 15 <4 bytes>, 308 = 2 * 128 + 52 bytes: Summary {0A B4 02 <Value>} */
        const unsigned char long_value[] = {0x0A, 0xB4, 0x02, 0x0A, 0xAC, 0x02, 'x'};
        VOLT_EXPECT(contains(records[8].payload, records[8].size, long_value, sizeof long_value));
    }
    free(records);
    free(bytes);
    double after = now_seconds();
    long n_first = check_file_name(volt_tb_writer_path(f.writer), f.dir, before, after);
    volt_tb_writer *second = NULL;
    VOLT_EXPECT_OK(volt_tb_writer_create(f.dir, &second));
    if (second) {
        long n_second = check_file_name(volt_tb_writer_path(second), f.dir, before, now_seconds());
        if (n_first >= 0 && n_second <= n_first)
            volt_test_fail(__FILE__, __LINE__, "second writer's n %ld not after the first's %ld",
                           n_second, n_first);
        VOLT_EXPECT_OK(volt_tb_writer_destroy(second));
    }
    fixture_destroy(&f);
}

/* Missing folders are made, parents first; wall_time 0 is now. */
VOLT_TEST(writer_makes_folders_and_wall_time_zero_is_now) {
    char dir[256], nested[400];
    if (!volt_test_make_temp_dir(dir, sizeof dir, "tb")) return;
    snprintf(nested, sizeof nested, "%s/runs/a/version_0/", dir);
    volt_tb_writer *writer = NULL;
    VOLT_EXPECT_OK(volt_tb_writer_create(nested, &writer));
    if (writer) {
        double before = now_seconds();
        VOLT_EXPECT_OK(volt_tb_add_scalar(writer, "x", 1, 1, 0));
        double after = now_seconds();
        VOLT_EXPECT_OK(volt_tb_flush(writer));
        size_t size;
        unsigned char *bytes = read_bytes(volt_tb_writer_path(writer), &size);
        record records[4];
        int count = bytes ? split_records(bytes, size, records, 4) : -1;
        VOLT_EXPECT_EQ_INT(count, 2);
        if (count == 2) {
            double wall_time;
            uint64_t bits = read_le(records[1].payload + 1, 8);
            memcpy(&wall_time, &bits, sizeof wall_time);
            if (!(wall_time >= before - 1e-3 && wall_time <= after + 1e-3))
                volt_test_fail(__FILE__, __LINE__,
                               "wall_time 0 written as %.6f, not in [%.6f, %.6f]", wall_time,
                               before, after);
        }
        free(bytes);
        VOLT_EXPECT_OK(volt_tb_writer_destroy(writer));
    }
    volt_test_remove_tree(dir);
}

/* ---- errors --------------------------------------------------------------------------------- */

/* Every bad argument is VOLT_ERR_ARG and writes nothing: the file keeps its one record. */
VOLT_TEST(bad_arguments_write_nothing) {
    fixture f = fixture_create();
    if (!f.ok) return;
    char errors[1024];
    VOLT_EXPECT_FAIL(volt_tb_add_scalar(f.writer, "", 1, 0, 1), VOLT_ERR_ARG);
    VOLT_EXPECT_FAIL(volt_tb_add_scalar(f.writer, NULL, 1, 0, 1), VOLT_ERR_ARG);
    VOLT_EXPECT_FAIL(volt_tb_add_scalar(f.writer, "x", 1, 0, NAN), VOLT_ERR_ARG);
    VOLT_EXPECT_FAIL(volt_tb_add_scalar(f.writer, "x", 1, 0, -1), VOLT_ERR_ARG);
    const char *bad_utf8[] = {"a\xff", "\xc0\x80" /* overlong NUL */,
                              "\xed\xa0\x80" /* surrogate */,
                              "\xf4\x90\x80\x80" /* beyond U+10FFFF */, "\xe2\x82" /* cut */};
    for (int i = 0; i < 5; i++) {
        VOLT_EXPECT_EQ_INT(volt_tb_add_scalar(f.writer, bad_utf8[i], 1, 0, 1), VOLT_ERR_ARG);
        volt_test_take_errors(errors, sizeof errors);
        VOLT_EXPECT_STR_CONTAINS(errors, "not valid UTF-8");
    }
    VOLT_EXPECT_OK(volt_tb_add_scalar(f.writer, "\u00e9t\u00e9 \U0001F4C8", 1, 0, 1));

    volt_tb_hparam twice[] = {VOLT_TB_NUMBER("lr", 1), VOLT_TB_NUMBER("lr", 2)};
    VOLT_EXPECT_EQ_INT(volt_tb_add_hparams(f.writer, twice, 2, NULL, 0, 1), VOLT_ERR_ARG);
    volt_test_take_errors(errors, sizeof errors);
    VOLT_EXPECT_STR_CONTAINS(errors, "hyperparameter 'lr' given twice");
    volt_tb_hparam not_finite[] = {VOLT_TB_NUMBER("clip", INFINITY)};
    VOLT_EXPECT_EQ_INT(volt_tb_add_hparams(f.writer, not_finite, 1, NULL, 0, 1), VOLT_ERR_ARG);
    volt_test_take_errors(errors, sizeof errors);
    VOLT_EXPECT_STR_CONTAINS(errors, "hyperparameter 'clip'");
    volt_tb_hparam null_string[] = {VOLT_TB_STRING("opt", NULL)};
    VOLT_EXPECT_FAIL(volt_tb_add_hparams(f.writer, null_string, 1, NULL, 0, 1), VOLT_ERR_ARG);
    volt_tb_hparam good[] = {VOLT_TB_NUMBER("lr", 1)};
    VOLT_EXPECT_FAIL(volt_tb_add_hparams(f.writer, good, 0, NULL, 0, 1), VOLT_ERR_ARG);
    VOLT_EXPECT_FAIL(volt_tb_add_hparams(f.writer, good, 1, NULL, 1, 1), VOLT_ERR_ARG);
    const char *metrics_twice[] = {"loss", "loss"};
    VOLT_EXPECT_FAIL(volt_tb_add_hparams(f.writer, good, 1, metrics_twice, 2, 1), VOLT_ERR_ARG);
    VOLT_EXPECT_OK(volt_tb_add_hparams(f.writer, good, 1, NULL, 0, 1));
    VOLT_EXPECT_EQ_INT(volt_tb_add_hparams(f.writer, good, 1, NULL, 0, 1), VOLT_ERR_ARG);
    volt_test_take_errors(errors, sizeof errors);
    VOLT_EXPECT_STR_CONTAINS(errors, "already written");

    unsigned char *bytes = NULL;
    record records[8];
    int count = fixture_records(&f, &bytes, records, 8);
    VOLT_EXPECT_EQ_INT(count, 3); /* file_version, the UTF-8 scalar, one hparams event */
    free(bytes);
    fixture_destroy(&f);
}

/* A folder that cannot hold the file: one below a regular file (root included), and,
 * when not root (root writes anywhere), a folder without write permission. */
VOLT_TEST(unwritable_folder_is_io_error_naming_it) {
    char dir[256], file_path[300], below_file[400];
    if (!volt_test_make_temp_dir(dir, sizeof dir, "tb")) return;
    snprintf(file_path, sizeof file_path, "%s/plain_file", dir);
    FILE *plain = fopen(file_path, "w");
    VOLT_EXPECT(plain != NULL);
    if (plain) fclose(plain);
    char errors[2048];
    volt_tb_writer *writer = (volt_tb_writer *)1;

    VOLT_EXPECT_EQ_INT(volt_tb_writer_create(file_path, &writer), VOLT_ERR_IO);
    VOLT_EXPECT(writer == NULL);
    volt_test_take_errors(errors, sizeof errors);
    VOLT_EXPECT_STR_CONTAINS(errors, "cannot create TensorBoard event file");
    VOLT_EXPECT_STR_CONTAINS(errors, file_path);
    VOLT_EXPECT_STR_CONTAINS(errors, strerror(ENOTDIR));

    snprintf(below_file, sizeof below_file, "%s/sub/run", file_path);
    VOLT_EXPECT_EQ_INT(volt_tb_writer_create(below_file, &writer), VOLT_ERR_IO);
    volt_test_take_errors(errors, sizeof errors);
    VOLT_EXPECT_STR_CONTAINS(errors, "cannot create TensorBoard folder");
    VOLT_EXPECT_STR_CONTAINS(errors, file_path);
    VOLT_EXPECT_STR_CONTAINS(errors, strerror(ENOTDIR));

    if (geteuid() != 0) {
        char locked[300];
        snprintf(locked, sizeof locked, "%s/locked", dir);
        VOLT_EXPECT(mkdir(locked, 0500) == 0);
        VOLT_EXPECT_EQ_INT(volt_tb_writer_create(locked, &writer), VOLT_ERR_IO);
        volt_test_take_errors(errors, sizeof errors);
        VOLT_EXPECT_STR_CONTAINS(errors, locked);
        VOLT_EXPECT_STR_CONTAINS(errors, strerror(EACCES));
        chmod(locked, 0700);
    } else {
        printf("  (root: the permission case is not checked)\n");
    }
    VOLT_EXPECT_FAIL(volt_tb_writer_create("", &writer), VOLT_ERR_ARG);
    volt_test_remove_tree(dir);
}

/* A write the system refuses (here the file-size limit, EFBIG, as a full disk gives ENOSPC)
 * is VOLT_ERR_IO naming the file and the reason, at the flush that hits it; every later
 * call fails the same way, destroy too, and the writer is freed. */
VOLT_TEST(failed_write_is_io_error_and_sticks) {
    fixture f = fixture_create();
    if (!f.ok) return;
    struct rlimit saved_limit, limit;
    VOLT_EXPECT(getrlimit(RLIMIT_FSIZE, &saved_limit) == 0);
    void (*saved_handler)(int) = signal(SIGXFSZ, SIG_IGN); /* else the write kills us */
    limit = saved_limit;
    limit.rlim_cur = 1024;
    VOLT_EXPECT(setrlimit(RLIMIT_FSIZE, &limit) == 0);

    for (int i = 0; i < 200; i++) VOLT_EXPECT_OK(volt_tb_add_scalar(f.writer, "loss", i, i, 1));
    char errors[2048];
    VOLT_EXPECT_EQ_INT(volt_tb_flush(f.writer), VOLT_ERR_IO);
    volt_test_take_errors(errors, sizeof errors);
    VOLT_EXPECT_STR_CONTAINS(errors, "cannot write TensorBoard event file");
    VOLT_EXPECT_STR_CONTAINS(errors, volt_tb_writer_path(f.writer));
    VOLT_EXPECT_STR_CONTAINS(errors, strerror(EFBIG));
    VOLT_EXPECT_EQ_INT(volt_tb_add_scalar(f.writer, "loss", 1, 1, 1), VOLT_ERR_IO);
    volt_test_take_errors(errors, sizeof errors);
    VOLT_EXPECT_STR_CONTAINS(errors, strerror(EFBIG));
    volt_tb_hparam hparams[] = {VOLT_TB_BOOL("b", 0)};
    VOLT_EXPECT_FAIL(volt_tb_add_hparams(f.writer, hparams, 1, NULL, 0, 1), VOLT_ERR_IO);
    VOLT_EXPECT_FAIL(volt_tb_flush(f.writer), VOLT_ERR_IO);
    VOLT_EXPECT_FAIL(volt_tb_writer_destroy(f.writer), VOLT_ERR_IO);
    f.writer = NULL;

    VOLT_EXPECT(setrlimit(RLIMIT_FSIZE, &saved_limit) == 0);
    signal(SIGXFSZ, saved_handler);
    fixture_destroy(&f);
}

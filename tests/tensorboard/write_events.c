/* tests/tensorboard/write_events.c DIR — writes a TensorBoard run for read_events.py to
 * read back: DIR/events.out.tfevents.* from two writers in turn (TensorBoard reads a
 * folder's files in name order as one run), and DIR/expected.json, the answer key: every
 * scalar as [step, value, wall_time] per tag in the order written, the hyperparameters
 * and the metric tags. Values are the doubles passed in; the reader rounds them to
 * float32 as the writer must.
 *
 * Writer 1: hyperparameters of each kind (numbers, among them 0 and an integer; strings,
 * among them "" and UTF-8; both booleans) with metric tags "train/loss" and "val/acc";
 * train/loss at steps 0..2999. Writer 2: train/loss at 3000..3999; val/acc; "special"
 * (NaN, +-Inf, +-0, float's smallest subnormal, a value rounding to 0, values rounding
 * to +-Inf and to FLT_MAX, 0.1), at steps that go back (10, 5, 7: version 2 files keep
 * them); "big_steps" at 2^31 - 1, 2^31, 2^32 + 1, 5e9, 2^53 + 1, LONG_MAX, -1 and
 * LONG_MIN; 300 tags "many/tag_NNN"; a UTF-8 tag, one with spaces and dots, one of 500
 * characters. Exits 1 with the error stack if a Volt call fails. */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log/tensorboard.h"

typedef struct answer_key {
    FILE *json;
    char open_tag[1024]; /* the tag whose list is open, "" before the first */
    int tag_count, point_count;
} answer_key;

static void write_json_string(FILE *json, const char *text) {
    fputc('"', json);
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        if (*c == '"' || *c == '\\')
            fprintf(json, "\\%c", *c);
        else if (*c < 0x20)
            fprintf(json, "\\u%04x", *c);
        else
            fputc(*c, json); /* UTF-8 as is */
    }
    fputc('"', json);
}

/* A double as Python's json module reads it back exactly: NaN, Infinity and -0.0 too. */
static void write_json_number(FILE *json, double value) {
    if (isnan(value))
        fputs("NaN", json);
    else if (isinf(value))
        fputs(value > 0 ? "Infinity" : "-Infinity", json);
    else if (value == 0)
        fputs(signbit(value) ? "-0.0" : "0.0", json);
    else
        fprintf(json, "%.17g", value);
}

static int fail(void) {
    volt_error_print(stderr);
    volt_error_clear();
    return 1;
}

/* One scalar, written and recorded; a tag's points must be added together. */
static int add(volt_tb_writer *writer, answer_key *key, const char *tag, double value, long step,
               double wall_time) {
    if (volt_tb_add_scalar(writer, tag, value, step, wall_time) != VOLT_OK) return 1;
    if (strcmp(key->open_tag, tag) != 0) {
        fputs(key->open_tag[0] ? "],\n  " : "\n  ", key->json);
        write_json_string(key->json, tag);
        fputs(": [", key->json);
        snprintf(key->open_tag, sizeof key->open_tag, "%s", tag);
        key->tag_count++;
    } else {
        fputc(',', key->json);
    }
    fprintf(key->json, "[%ld, ", step);
    write_json_number(key->json, value);
    fputs(", ", key->json);
    write_json_number(key->json, wall_time);
    fputc(']', key->json);
    key->point_count++;
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    volt_tb_writer *writer = NULL;
    if (volt_tb_writer_create(dir, &writer) != VOLT_OK) return fail();
    char json_path[4096];
    snprintf(json_path, sizeof json_path, "%s/expected.json", dir);
    answer_key key = {.json = fopen(json_path, "w")};
    if (!key.json) {
        perror(json_path);
        return 1;
    }
    const double t0 = 1.7e9; /* wall times: t0 + step / 8, exact in binary */

    const volt_tb_hparam hparams[] = {
        VOLT_TB_NUMBER("lr", 0.001),
        VOLT_TB_NUMBER("batch_size", 64),
        VOLT_TB_NUMBER("weight_decay", 0),
        VOLT_TB_STRING("optimizer", "adamw"),
        VOLT_TB_STRING("schedule", "cosine d\u00e9croissant"),
        VOLT_TB_STRING("note", ""),
        VOLT_TB_BOOL("deterministic", 1),
        VOLT_TB_BOOL("compile", 0),
    };
    const int hparam_count = (int)(sizeof hparams / sizeof hparams[0]);
    const char *metrics[] = {"train/loss", "val/acc"};
    const double hparams_time = t0 - 0.5;
    if (volt_tb_add_hparams(writer, hparams, hparam_count, metrics, 2, hparams_time) != VOLT_OK)
        return fail();

    fputs("{\"scalars\": {", key.json);
    for (long step = 0; step < 3000; step++)
        if (add(writer, &key, "train/loss",
                2.5 * exp(-(double)step / 1000) + 0.01 * sin((double)step), step,
                t0 + (double)step / 8))
            return fail();
    if (volt_tb_writer_destroy(writer) != VOLT_OK) return fail();

    if (volt_tb_writer_create(dir, &writer) != VOLT_OK) return fail();
    for (long step = 3000; step < 4000; step++)
        if (add(writer, &key, "train/loss",
                2.5 * exp(-(double)step / 1000) + 0.01 * sin((double)step), step,
                t0 + (double)step / 8))
            return fail();
    for (long step = 1000; step <= 4000; step += 1000)
        if (add(writer, &key, "val/acc", 0.5 + (double)step / 10000, step, t0 + (double)step / 8))
            return fail();

    const double special[] = {NAN,  INFINITY, -INFINITY, 0.0,  -0.0, 0x1p-149,       1e-50,
                              1e39, -1e39,    FLT_MAX,   -3.5, 0.1,  0x1.ffffffp+127};
    const long special_steps[] = {10, 5, 7, 8, 9, 11, 12, 13, 14, 15, 1, 2, 3};
    for (int i = 0; i < (int)(sizeof special / sizeof special[0]); i++)
        if (add(writer, &key, "special", special[i], special_steps[i], t0 + i)) return fail();

    const long big_steps[] = {2147483647L,       2147483648L, 4294967297L, 5000000000L,
                              9007199254740993L, LONG_MAX,    -1,          LONG_MIN};
    for (int i = 0; i < (int)(sizeof big_steps / sizeof big_steps[0]); i++)
        if (add(writer, &key, "big_steps", -(double)i, big_steps[i], t0 + i)) return fail();

    for (int i = 0; i < 300; i++) {
        char tag[32];
        snprintf(tag, sizeof tag, "many/tag_%03d", i);
        if (add(writer, &key, tag, i * 1.5 - 100, i, t0 + i)) return fail();
    }
    char long_tag[501];
    memset(long_tag, 'L', 500);
    long_tag[500] = '\0';
    const char *odd_tags[] = {"m\u00e9trique/\u00fcn\u00efc\u00f6d\u00e9 \U0001F4C8",
                              "with spaces/and.dots", long_tag};
    for (int i = 0; i < 3; i++)
        if (add(writer, &key, odd_tags[i], 42 + i, 1, t0)) return fail();
    if (volt_tb_flush(writer) != VOLT_OK || volt_tb_writer_destroy(writer) != VOLT_OK)
        return fail();

    fputs("]},\n \"hparams\": {", key.json);
    for (int i = 0; i < hparam_count; i++) {
        fputs(i ? ", " : "", key.json);
        write_json_string(key.json, hparams[i].name);
        fputs(": ", key.json);
        if (hparams[i].kind == VOLT_TB_HPARAM_NUMBER)
            write_json_number(key.json, hparams[i].number);
        else if (hparams[i].kind == VOLT_TB_HPARAM_STRING)
            write_json_string(key.json, hparams[i].string);
        else
            fputs(hparams[i].boolean ? "true" : "false", key.json);
    }
    fputs("},\n \"metrics\": [\"train/loss\", \"val/acc\"],\n \"hparams_wall_time\": ", key.json);
    write_json_number(key.json, hparams_time);
    fputs(",\n \"files\": 2}\n", key.json);
    if (fclose(key.json) != 0) {
        perror(json_path);
        return 1;
    }
    printf("wrote %d scalars in %d tags, %d hyperparameters, 2 metric tags, 2 files to %s\n",
           key.point_count, key.tag_count, hparam_count, dir);
    return 0;
}

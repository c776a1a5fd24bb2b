/* tests/unit/test_config.c — the options database: precedence, types, every bad input
 * with the message a user sees, wildcards and sequences, and the YAML write/load round
 * trip. Files live in a fresh mkdtemp directory per test, removed at its end. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, opendir */
#include "core/config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "volt_test.h"

/* ---- fixtures -------------------------------------------------------------------------- */

typedef struct temp_dir {
    char path[64];
    int ok;
} temp_dir;

static temp_dir temp_dir_create(void) {
    temp_dir dir;
    dir.ok = volt_test_make_temp_dir(dir.path, sizeof dir.path, "config");
    return dir;
}

static void temp_dir_remove(const temp_dir *dir) {
    if (dir->ok) volt_test_remove_tree(dir->path);
}

/* Writes text to dir/name and puts that path in path (PATH_BYTES bytes). */
enum { PATH_BYTES = 256 };
static void write_file(const temp_dir *dir, const char *name, const char *text, char *path) {
    snprintf(path, PATH_BYTES, "%s/%s", dir->path, name);
    FILE *file = fopen(path, "w");
    if (!file) {
        volt_test_fail(__FILE__, __LINE__, "cannot create %s", path);
        return;
    }
    fputs(text, file);
    fclose(file);
}

static int file_exists(const char *path) { return access(path, F_OK) == 0; }

/* The declarations most tests share: one key of each type, a key without default, and
 * wildcard keys for a sequence of callbacks. */
static volt_config *trainer_config(void) {
    volt_config *config = NULL;
    VOLT_EXPECT_OK(volt_config_create(&config));
    if (!config) return NULL;
    VOLT_EXPECT_OK(volt_config_declare(config, "trainer.max_epochs", VOLT_CONFIG_INT, "10",
                                       "passes over the training set"));
    VOLT_EXPECT_OK(volt_config_declare(config, "trainer.lr", VOLT_CONFIG_FLOAT, "0.001",
                                       "learning rate"));
    VOLT_EXPECT_OK(volt_config_declare(config, "trainer.shuffle", VOLT_CONFIG_BOOL, "true",
                                       "shuffle every epoch"));
    VOLT_EXPECT_OK(
        volt_config_declare(config, "model.name", VOLT_CONFIG_STRING, "mlp", "architecture"));
    VOLT_EXPECT_OK(
        volt_config_declare(config, "model.hidden", VOLT_CONFIG_INT, "64", "hidden width"));
    VOLT_EXPECT_OK(volt_config_declare(config, "data.path", VOLT_CONFIG_STRING, NULL,
                                       "training data (required)"));
    VOLT_EXPECT_OK(volt_config_declare(config, "callbacks.*.monitor", VOLT_CONFIG_STRING,
                                       "val_loss", "metric to watch"));
    VOLT_EXPECT_OK(volt_config_declare(config, "callbacks.*.patience", VOLT_CONFIG_INT, "3",
                                       "epochs without improvement"));
    return config;
}

static long get_long(const volt_config *config, const char *key) {
    long value = -12345;
    VOLT_EXPECT_OK(volt_config_get_int(config, key, &value));
    return value;
}

static const char *get_text(const volt_config *config, const char *key) {
    const char *value = NULL;
    VOLT_EXPECT_OK(volt_config_get_string(config, key, &value));
    return value ? value : "(no value)";
}

/* ---- precedence ------------------------------------------------------------------------ */

/* defaults < files < command line < environment, whatever order the loads run in: here
 * the environment is read first and the file last. */
VOLT_TEST(precedence_file_then_command_line_then_environment) {
    temp_dir dir = temp_dir_create();
    char path[PATH_BYTES];
    write_file(&dir, "run.yaml",
               "trainer:\n  max_epochs: 5\n  lr: 0.5\nmodel:\n  hidden: 128\n  name: cnn\n",
               path);
    volt_config *config = trainer_config();
    char *const envp[] = {"HOME=/root", "VOLT_TRAINER__MAX_EPOCHS=9", NULL};
    VOLT_EXPECT_OK(volt_config_load_env(config, envp));
    char *argv[] = {"train", "--trainer.max_epochs=7", "--model.hidden", "256", NULL};
    int argc = 4;
    VOLT_EXPECT_OK(volt_config_parse_args(config, &argc, argv));
    VOLT_EXPECT_OK(volt_config_load_file(config, path));
    VOLT_EXPECT_OK(volt_config_resolve(config));

    VOLT_EXPECT_EQ_INT(get_long(config, "trainer.max_epochs"), 9);   /* environment */
    VOLT_EXPECT_EQ_INT(get_long(config, "model.hidden"), 256);       /* command line */
    VOLT_EXPECT_STR_CONTAINS(get_text(config, "model.name"), "cnn"); /* file */
    VOLT_EXPECT_NEAR(volt_config_float(config, "trainer.lr", -1), 0.5, 0);
    VOLT_EXPECT_EQ_INT(volt_config_bool(config, "trainer.shuffle", -1), 1); /* default */
    VOLT_EXPECT(volt_config_is_set(config, "trainer.lr"));
    VOLT_EXPECT(!volt_config_is_set(config, "trainer.shuffle"));
    volt_config_destroy(config);
    temp_dir_remove(&dir);
}

VOLT_TEST(command_line_beats_file_loaded_after_it) {
    temp_dir dir = temp_dir_create();
    char path[PATH_BYTES];
    write_file(&dir, "run.yaml", "trainer:\n  max_epochs: 5\n", path);
    volt_config *config = trainer_config();
    VOLT_EXPECT_OK(volt_config_set(config, "trainer.max_epochs", "6", "test"));
    VOLT_EXPECT_OK(volt_config_load_file(config, path));
    VOLT_EXPECT_OK(volt_config_resolve(config));
    VOLT_EXPECT_EQ_INT(get_long(config, "trainer.max_epochs"), 6);
    /* a later value of the same level wins */
    VOLT_EXPECT_OK(volt_config_set(config, "trainer.max_epochs", "8", "test"));
    VOLT_EXPECT_EQ_INT(get_long(config, "trainer.max_epochs"), 8);
    volt_config_destroy(config);
    temp_dir_remove(&dir);
}

VOLT_TEST(files_apply_in_order) {
    temp_dir dir = temp_dir_create();
    char base[PATH_BYTES], site[PATH_BYTES], run[PATH_BYTES];
    write_file(&dir, "base.yaml", "trainer: {max_epochs: 1, lr: 0.1}\nmodel: {hidden: 8}\n",
               base);
    write_file(&dir, "site.yaml", "trainer:\n  max_epochs: 2\n", site);
    write_file(&dir, "run.yaml", "model:\n  hidden: 32\n", run);

    volt_config *config = trainer_config();
    VOLT_EXPECT_OK(volt_config_load_file(config, base));
    VOLT_EXPECT_OK(volt_config_load_file(config, site));
    VOLT_EXPECT_OK(volt_config_load_file(config, run));
    VOLT_EXPECT_OK(volt_config_resolve(config));
    VOLT_EXPECT_EQ_INT(get_long(config, "trainer.max_epochs"), 2);
    VOLT_EXPECT_EQ_INT(get_long(config, "model.hidden"), 32);
    VOLT_EXPECT_NEAR(volt_config_float(config, "trainer.lr", -1), 0.1, 0);
    volt_config_destroy(config);

    /* the same through --config, both spellings, in command-line order */
    config = trainer_config();
    char config_equals[PATH_BYTES + 16];
    snprintf(config_equals, sizeof config_equals, "--config=%s", site);
    char *argv[] = {"train", "--config", base, config_equals, "--config", run, NULL};
    int argc = 6;
    VOLT_EXPECT_OK(volt_config_parse_args(config, &argc, argv));
    VOLT_EXPECT_EQ_INT(argc, 1);
    VOLT_EXPECT_OK(volt_config_resolve(config));
    VOLT_EXPECT_EQ_INT(get_long(config, "trainer.max_epochs"), 2);
    VOLT_EXPECT_EQ_INT(get_long(config, "model.hidden"), 32);
    volt_config_destroy(config);
    temp_dir_remove(&dir);
}

/* ---- types and defaults ---------------------------------------------------------------- */

VOLT_TEST(defaults_and_typed_getters) {
    volt_config *config = trainer_config();
    VOLT_EXPECT_OK(volt_config_resolve(config));
    long epochs = 0;
    double lr = 0;
    int shuffle = 0;
    const char *name = NULL;
    VOLT_EXPECT_OK(volt_config_get_int(config, "trainer.max_epochs", &epochs));
    VOLT_EXPECT_OK(volt_config_get_float(config, "trainer.lr", &lr));
    VOLT_EXPECT_OK(volt_config_get_bool(config, "trainer.shuffle", &shuffle));
    VOLT_EXPECT_OK(volt_config_get_string(config, "model.name", &name));
    VOLT_EXPECT_EQ_INT(epochs, 10);
    VOLT_EXPECT_NEAR(lr, 0.001, 0);
    VOLT_EXPECT_EQ_INT(shuffle, 1);
    VOLT_EXPECT_STR_CONTAINS(name, "mlp");
    /* a wildcard declaration's default serves every concrete key */
    VOLT_EXPECT_EQ_INT(get_long(config, "callbacks.4.patience"), 3);
    /* a string read works for any type: values are text */
    VOLT_EXPECT_STR_CONTAINS(get_text(config, "trainer.lr"), "0.001");

    /* the fallbacks: undeclared, no value, read as the wrong type */
    VOLT_EXPECT_EQ_INT(volt_config_int(config, "trainer.nope", 77), 77);
    VOLT_EXPECT_STR_CONTAINS(volt_config_string(config, "data.path", "fallback"), "fallback");
    VOLT_EXPECT_EQ_INT(volt_config_int(config, "trainer.lr", 5), 5);
    VOLT_EXPECT_NEAR(volt_config_float(config, "trainer.nope", 2.5), 2.5, 0);
    VOLT_EXPECT_EQ_INT(volt_config_bool(config, "model.name", -1), -1);
    VOLT_EXPECT_EQ_INT(volt_error_depth(), 0); /* the fallback getters push nothing */
    volt_config_destroy(config);
}

VOLT_TEST(getter_errors_say_why) {
    volt_config *config = trainer_config();
    long value;
    const char *text;
    VOLT_EXPECT(volt_config_get_int(config, "trainer.nope", &value) == VOLT_ERR_CONFIG);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "'trainer.nope' is not declared");
    volt_error_clear();

    VOLT_EXPECT(volt_config_get_string(config, "data.path", &text) == VOLT_ERR_CONFIG);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "'data.path' has no value");
    volt_error_clear();

    VOLT_EXPECT_FAIL(volt_config_get_int(config, "trainer.lr", &value), VOLT_ERR_ARG);

    /* set after resolve: the getter is the first to parse it */
    VOLT_EXPECT_OK(volt_config_resolve(config));
    VOLT_EXPECT_OK(volt_config_set(config, "trainer.max_epochs", "ten", "test"));
    VOLT_EXPECT(volt_config_get_int(config, "trainer.max_epochs", &value) == VOLT_ERR_CONFIG);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "'trainer.max_epochs' expects an integer, "
                                                   "got 'ten' (from test)");
    volt_error_clear();
    VOLT_EXPECT_EQ_INT(volt_config_int(config, "trainer.max_epochs", 42), 42);
    volt_config_destroy(config);
}

VOLT_TEST(value_syntax_of_each_type) {
    volt_config *config = NULL;
    VOLT_EXPECT_OK(volt_config_create(&config));
    VOLT_EXPECT_OK(volt_config_declare(config, "t.i", VOLT_CONFIG_INT, "0", NULL));
    VOLT_EXPECT_OK(volt_config_declare(config, "t.f", VOLT_CONFIG_FLOAT, "0", NULL));
    VOLT_EXPECT_OK(volt_config_declare(config, "t.b", VOLT_CONFIG_BOOL, "no", NULL));

    static const struct {
        const char *text;
        long value;
    } ints[] = {
        {"42", 42}, {"-7", -7}, {"+3", 3}, {"9223372036854775807", 9223372036854775807L}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        VOLT_EXPECT_OK(volt_config_set(config, "t.i", ints[i].text, "test"));
        VOLT_EXPECT_OK(volt_config_resolve(config));
        VOLT_EXPECT_EQ_INT(get_long(config, "t.i"), ints[i].value);
    }
    static const char *const bad_ints[] = {
        "", "abc", "1.5", "12abc", " 5", "0x10", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad_ints / sizeof bad_ints[0]; i++) {
        VOLT_EXPECT_OK(volt_config_set(config, "t.i", bad_ints[i], "test"));
        int status = volt_config_resolve(config);
        if (status != VOLT_ERR_CONFIG)
            volt_test_fail(__FILE__, __LINE__, "int '%s' accepted", bad_ints[i]);
        volt_error_clear();
    }
    VOLT_EXPECT_OK(volt_config_set(config, "t.i", "1", "test"));

    static const struct {
        const char *text;
        double value;
    } floats[] = {{"0.5", 0.5}, {"1e-3", 1e-3}, {"-2.5E2", -250}, {"3", 3}, {".25", 0.25}};
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++) {
        VOLT_EXPECT_OK(volt_config_set(config, "t.f", floats[i].text, "test"));
        VOLT_EXPECT_OK(volt_config_resolve(config));
        VOLT_EXPECT_NEAR(volt_config_float(config, "t.f", -1), floats[i].value, 0);
    }
    static const char *const bad_floats[] = {"",      "inf",   "-inf",  "nan",
                                             "1e999", "0x1p3", "1.5.2", "one"};
    for (size_t i = 0; i < sizeof bad_floats / sizeof bad_floats[0]; i++) {
        VOLT_EXPECT_OK(volt_config_set(config, "t.f", bad_floats[i], "test"));
        int status = volt_config_resolve(config);
        if (status != VOLT_ERR_CONFIG)
            volt_test_fail(__FILE__, __LINE__, "float '%s' accepted", bad_floats[i]);
        volt_error_clear();
    }
    VOLT_EXPECT_OK(volt_config_set(config, "t.f", "1", "test"));

    static const struct {
        const char *text;
        int value;
    } bools[] = {{"true", 1},  {"True", 1}, {"YES", 1}, {"on", 1}, {"1", 1},
                 {"false", 0}, {"No", 0},   {"OFF", 0}, {"0", 0}};
    for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++) {
        VOLT_EXPECT_OK(volt_config_set(config, "t.b", bools[i].text, "test"));
        VOLT_EXPECT_OK(volt_config_resolve(config));
        int value = -1;
        VOLT_EXPECT_OK(volt_config_get_bool(config, "t.b", &value));
        if (value != bools[i].value)
            volt_test_fail(__FILE__, __LINE__, "bool '%s' read as %d", bools[i].text, value);
    }
    static const char *const bad_bools[] = {"", "maybe", "2", "y", "truee"};
    for (size_t i = 0; i < sizeof bad_bools / sizeof bad_bools[0]; i++) {
        VOLT_EXPECT_OK(volt_config_set(config, "t.b", bad_bools[i], "test"));
        int status = volt_config_resolve(config);
        if (status != VOLT_ERR_CONFIG)
            volt_test_fail(__FILE__, __LINE__, "bool '%s' accepted", bad_bools[i]);
        volt_error_clear();
    }
    volt_config_destroy(config);
}

/* YAML null (~, null, nothing) reads as "" for a string and fails for other types; a
 * quoted "null" is the text null. */
VOLT_TEST(yaml_null_values) {
    temp_dir dir = temp_dir_create();
    char path[PATH_BYTES], bad[PATH_BYTES];
    write_file(&dir, "null.yaml",
               "model:\n  name: ~\ndata:\n  path:\ncallbacks:\n  - monitor: \"null\"\n", path);
    write_file(&dir, "bad.yaml", "trainer:\n  max_epochs: null\n", bad);
    volt_config *config = trainer_config();
    VOLT_EXPECT_OK(volt_config_load_file(config, path));
    VOLT_EXPECT_OK(volt_config_resolve(config));
    VOLT_EXPECT_EQ_INT(strlen(get_text(config, "model.name")), 0);
    VOLT_EXPECT_EQ_INT(strlen(get_text(config, "data.path")), 0);
    VOLT_EXPECT_STR_CONTAINS(get_text(config, "callbacks.0.monitor"), "null");

    VOLT_EXPECT_OK(volt_config_load_file(config, bad));
    VOLT_EXPECT(volt_config_resolve(config) == VOLT_ERR_CONFIG);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "'trainer.max_epochs' expects an integer");
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "bad.yaml:2");
    volt_error_clear();
    volt_config_destroy(config);
    temp_dir_remove(&dir);
}

/* ---- bad input: each names what and where ---------------------------------------------- */

VOLT_TEST(unknown_key_names_the_closest_declared_key) {
    temp_dir dir = temp_dir_create();
    char path[PATH_BYTES];
    write_file(&dir, "x.yaml", "# a typo on line 3\ntrainer:\n  max_epoch: 5\n", path);
    volt_config *config = trainer_config();
    VOLT_EXPECT_OK(volt_config_load_file(config, path));
    VOLT_EXPECT(volt_config_resolve(config) == VOLT_ERR_CONFIG);
    char expected[PATH_BYTES + 128];
    snprintf(expected, sizeof expected,
             "unknown key 'trainer.max_epoch' (from file %s:3); did you mean "
             "'trainer.max_epochs'?",
             path);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), expected);
    volt_error_clear();
    volt_config_destroy(config);

    /* from the command line and the environment, with their origins */
    config = trainer_config();
    char *argv[] = {"train", "--model.hiden=3", NULL};
    int argc = 2;
    VOLT_EXPECT_OK(volt_config_parse_args(config, &argc, argv));
    VOLT_EXPECT(volt_config_resolve(config) == VOLT_ERR_CONFIG);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(),
                             "unknown key 'model.hiden' (from command line); did you mean "
                             "'model.hidden'?");
    volt_error_clear();
    volt_config_destroy(config);

    config = trainer_config();
    char *const envp[] = {"VOLT_TRAINER__LR_MAX=1", NULL};
    VOLT_EXPECT_OK(volt_config_load_env(config, envp));
    VOLT_EXPECT(volt_config_resolve(config) == VOLT_ERR_CONFIG);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(),
                             "unknown key 'trainer.lr_max' (from environment variable "
                             "VOLT_TRAINER__LR_MAX); did you mean 'trainer.lr'?");
    volt_error_clear();
    volt_config_destroy(config);
    temp_dir_remove(&dir);
}

VOLT_TEST(wrong_type_names_key_value_and_origin) {
    temp_dir dir = temp_dir_create();
    char path[PATH_BYTES];
    write_file(&dir, "x.yaml", "trainer:\n  lr: 0.1\n  max_epochs: many\n", path);
    volt_config *config = trainer_config();
    VOLT_EXPECT_OK(volt_config_load_file(config, path));
    VOLT_EXPECT(volt_config_resolve(config) == VOLT_ERR_CONFIG);
    char expected[PATH_BYTES + 128];
    snprintf(expected, sizeof expected,
             "key 'trainer.max_epochs' expects an integer, got 'many' (from file %s:3)", path);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), expected);
    volt_error_clear();
    volt_config_destroy(config);

    config = trainer_config();
    char *argv[] = {"train", "--trainer.shuffle", "sometimes", NULL};
    int argc = 3;
    VOLT_EXPECT_OK(volt_config_parse_args(config, &argc, argv));
    VOLT_EXPECT(volt_config_resolve(config) == VOLT_ERR_CONFIG);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "key 'trainer.shuffle' expects a boolean");
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "got 'sometimes' (from command line)");
    volt_error_clear();
    volt_config_destroy(config);

    config = trainer_config();
    char *const envp[] = {"VOLT_TRAINER__MAX_EPOCHS=1.5", NULL};
    VOLT_EXPECT_OK(volt_config_load_env(config, envp));
    VOLT_EXPECT(volt_config_resolve(config) == VOLT_ERR_CONFIG);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(),
                             "key 'trainer.max_epochs' expects an integer, got '1.5' (from "
                             "environment variable VOLT_TRAINER__MAX_EPOCHS)");
    volt_error_clear();
    volt_config_destroy(config);
    temp_dir_remove(&dir);
}

VOLT_TEST(malformed_yaml_names_file_and_line) {
    temp_dir dir = temp_dir_create();
    char path[PATH_BYTES], unclosed[PATH_BYTES];
    /* the bad indentation of line 3 */
    write_file(&dir, "bad.yaml", "trainer:\n  max_epochs: 3\n lr: 0.1\n", path);
    write_file(&dir, "unclosed.yaml", "trainer:\n  lr: 0.1\nmodel: [1, 2\n", unclosed);
    volt_config *config = trainer_config();
    VOLT_EXPECT(volt_config_load_file(config, path) == VOLT_ERR_CONFIG);
    char expected[PATH_BYTES + 32];
    snprintf(expected, sizeof expected, "malformed YAML in %s:3:", path);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), expected);
    volt_error_clear();

    VOLT_EXPECT(volt_config_load_file(config, unclosed) == VOLT_ERR_CONFIG);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "malformed YAML in ");
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "unclosed.yaml:4:");
    volt_error_clear();
    VOLT_EXPECT(!volt_config_is_set(config, "trainer.lr")); /* a bad file adds nothing */
    volt_config_destroy(config);
    temp_dir_remove(&dir);
}

VOLT_TEST(top_level_must_be_one_mapping) {
    temp_dir dir = temp_dir_create();
    char list[PATH_BYTES], two[PATH_BYTES], empty[PATH_BYTES], key[PATH_BYTES];
    write_file(&dir, "list.yaml", "- 1\n- 2\n", list);
    write_file(&dir, "two.yaml", "trainer:\n  lr: 0.1\n---\ntrainer:\n  lr: 0.2\n", two);
    write_file(&dir, "empty.yaml", "# nothing yet\n", empty);
    write_file(&dir, "key.yaml", "trainer:\n  [a, b]: 1\n", key);
    volt_config *config = trainer_config();
    VOLT_EXPECT(volt_config_load_file(config, list) == VOLT_ERR_CONFIG);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "list.yaml:1: the top level must be a "
                                                   "mapping, not a sequence");
    volt_error_clear();
    VOLT_EXPECT(volt_config_load_file(config, two) == VOLT_ERR_CONFIG);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "two.yaml:4: a second YAML document");
    volt_error_clear();
    VOLT_EXPECT(volt_config_load_file(config, key) == VOLT_ERR_CONFIG);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "key.yaml:2: a key must be a scalar");
    volt_error_clear();
    VOLT_EXPECT_OK(volt_config_load_file(config, empty));
    VOLT_EXPECT_OK(volt_config_resolve(config));
    volt_config_destroy(config);
    temp_dir_remove(&dir);
}

VOLT_TEST(missing_file_names_the_path) {
    volt_config *config = trainer_config();
    VOLT_EXPECT(volt_config_load_file(config, "/tmp/volt_config_no_such_dir/run.yaml") ==
                VOLT_ERR_IO);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "/tmp/volt_config_no_such_dir/run.yaml");
    volt_error_clear();
    char *argv[] = {"train", "--config", "/tmp/volt_config_no_such_dir/run.yaml", NULL};
    int argc = 3;
    VOLT_EXPECT_FAIL(volt_config_parse_args(config, &argc, argv), VOLT_ERR_IO);
    VOLT_EXPECT_EQ_INT(argc, 3); /* argv is left alone when parsing fails */
    volt_config_destroy(config);
}

VOLT_TEST(duplicate_key_in_one_file) {
    temp_dir dir = temp_dir_create();
    char nested[PATH_BYTES], dotted[PATH_BYTES];
    write_file(&dir, "nested.yaml", "trainer:\n  lr: 0.1\n  max_epochs: 3\n  lr: 0.2\n",
               nested);
    write_file(&dir, "dotted.yaml", "trainer.lr: 0.1\ntrainer:\n  lr: 0.2\n", dotted);
    volt_config *config = trainer_config();
    VOLT_EXPECT(volt_config_load_file(config, nested) == VOLT_ERR_CONFIG);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "duplicate key 'trainer.lr' in ");
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "nested.yaml:4 (first given at line 2)");
    volt_error_clear();
    /* a dotted key and a nested one are the same key */
    VOLT_EXPECT(volt_config_load_file(config, dotted) == VOLT_ERR_CONFIG);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "dotted.yaml:3 (first given at line 1)");
    volt_error_clear();
    VOLT_EXPECT(!volt_config_is_set(config, "trainer.lr")); /* neither file was taken */
    volt_config_destroy(config);
    temp_dir_remove(&dir);
}

VOLT_TEST(bare_option_without_value_is_an_error) {
    volt_config *config = trainer_config();
    char *argv[] = {"train", "--trainer.lr", NULL};
    int argc = 2;
    VOLT_EXPECT(volt_config_parse_args(config, &argc, argv) == VOLT_ERR_CONFIG);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "option --trainer.lr has no value");
    volt_error_clear();
    VOLT_EXPECT_EQ_INT(argc, 2);

    /* the token after is another option, so it is not the value */
    char *argv2[] = {"train", "--trainer.lr", "--trainer.max_epochs=3", NULL};
    argc = 3;
    VOLT_EXPECT(volt_config_parse_args(config, &argc, argv2) == VOLT_ERR_CONFIG);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "option --trainer.lr has no value");
    volt_error_clear();

    char *argv3[] = {"train", "--config", NULL};
    argc = 2;
    VOLT_EXPECT_FAIL(volt_config_parse_args(config, &argc, argv3), VOLT_ERR_CONFIG);

    char *argv4[] = {"train", "--trainer..lr=1", NULL};
    argc = 2;
    VOLT_EXPECT(volt_config_parse_args(config, &argc, argv4) == VOLT_ERR_CONFIG);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(),
                             "invalid key 'trainer..lr' (from command line)");
    volt_error_clear();
    volt_config_destroy(config);
}

VOLT_TEST(parse_args_removes_only_what_it_consumed) {
    temp_dir dir = temp_dir_create();
    char path[PATH_BYTES];
    write_file(&dir, "run.yaml", "model:\n  name: resnet\n", path);
    volt_config *config = trainer_config();
    char *argv[] = {"train",                  /* kept: argv[0] */
                    "input.txt",              /* kept */
                    "--trainer.max_epochs=3", /* consumed */
                    "--verbose",              /* kept: not a configuration key */
                    "--model.hidden", "-5",   /* consumed: "-5" is not an option */
                    "-n",                     /* kept */
                    "--config", path,         /* consumed, file loaded */
                    "--trainer.lr=",          /* consumed: the empty value */
                    "out",                    /* kept */
                    "--", "--model.name=x",   /* kept: "--" ends the options */
                    NULL};
    int argc = 13;
    VOLT_EXPECT_OK(volt_config_parse_args(config, &argc, argv));
    const char *expected[] = {"train", "input.txt", "--verbose",     "-n",
                              "out",   "--",        "--model.name=x"};
    VOLT_EXPECT_EQ_INT(argc, 7);
    for (int i = 0; i < argc && i < 7; i++)
        if (strcmp(argv[i], expected[i]) != 0)
            volt_test_fail(__FILE__, __LINE__, "argv[%d] = '%s', expected '%s'", i, argv[i],
                           expected[i]);
    VOLT_EXPECT(argv[argc] == NULL);
    VOLT_EXPECT_EQ_INT(volt_config_int(config, "trainer.max_epochs", 0), 3);
    VOLT_EXPECT_EQ_INT(volt_config_int(config, "model.hidden", 0), -5); /* "-5" is a value */
    VOLT_EXPECT_STR_CONTAINS(volt_config_string(config, "model.name", ""), "resnet");
    /* --trainer.lr= gives the empty text, which is no float */
    VOLT_EXPECT(volt_config_resolve(config) == VOLT_ERR_CONFIG);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(),
                             "'trainer.lr' expects a finite number, got ''");
    volt_error_clear();
    volt_config_destroy(config);
    temp_dir_remove(&dir);
}

VOLT_TEST(environment_takes_only_double_underscore_names) {
    volt_config *config = trainer_config();
    VOLT_EXPECT_OK(volt_config_declare(config, "model.hiddenDim", VOLT_CONFIG_INT, "1", NULL));
    char *const envp[] = {"VOLT_LOG_LEVEL=debug", /* not a configuration key */
                          "PATH=/usr/bin",
                          "VOLT_Model__Name=transformer", /* names are case-insensitive */
                          "VOLT_MODEL__HIDDENDIM=7",      /* and take the declared spelling */
                          "VOLT_CALLBACKS__1__PATIENCE=12",
                          "VOLT_DATA__PATH=/scratch/a=b", /* the value keeps its '=' */
                          NULL};
    VOLT_EXPECT_OK(volt_config_load_env(config, envp));
    VOLT_EXPECT_OK(volt_config_resolve(config));
    VOLT_EXPECT_STR_CONTAINS(get_text(config, "model.name"), "transformer");
    VOLT_EXPECT_EQ_INT(get_long(config, "model.hiddenDim"), 7);
    VOLT_EXPECT_EQ_INT(get_long(config, "callbacks.1.patience"), 12);
    VOLT_EXPECT_STR_CONTAINS(get_text(config, "data.path"), "/scratch/a=b");
    VOLT_EXPECT(!volt_config_is_set(config, "log_level"));

    /* volt_config_set is a command-line override: the environment still wins over it */
    VOLT_EXPECT_OK(volt_config_set(config, "model.name", "rnn", "test"));
    VOLT_EXPECT_STR_CONTAINS(get_text(config, "model.name"), "transformer");
    volt_config_destroy(config);
}

/* ---- declarations ---------------------------------------------------------------------- */

VOLT_TEST(declare_rejects_conflicts) {
    volt_config *config = trainer_config();
    /* the same type again: updates the default */
    VOLT_EXPECT_OK(
        volt_config_declare(config, "trainer.max_epochs", VOLT_CONFIG_INT, "20", "updated"));
    VOLT_EXPECT_EQ_INT(get_long(config, "trainer.max_epochs"), 20);
    VOLT_EXPECT(volt_config_declare(config, "trainer.max_epochs", VOLT_CONFIG_FLOAT, "1",
                                    NULL) == VOLT_ERR_ARG);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "declared as int and again as float");
    volt_error_clear();
    VOLT_EXPECT(volt_config_declare(config, "trainer.warmup", VOLT_CONFIG_INT, "soon", NULL) ==
                VOLT_ERR_ARG);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "default 'soon' is not an integer");
    volt_error_clear();
    VOLT_EXPECT_FAIL(volt_config_declare(config, "trainer..x", VOLT_CONFIG_INT, "1", NULL),
                     VOLT_ERR_ARG);
    VOLT_EXPECT_FAIL(volt_config_declare(config, "trainer.x*", VOLT_CONFIG_INT, "1", NULL),
                     VOLT_ERR_ARG);
    /* one key cannot be a value and a section: YAML could not write both */
    VOLT_EXPECT(volt_config_declare(config, "trainer.lr.warmup", VOLT_CONFIG_INT, "1", NULL) ==
                VOLT_ERR_ARG);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "overlaps 'trainer.lr'");
    volt_error_clear();
    VOLT_EXPECT_FAIL(volt_config_declare(config, "callbacks.*", VOLT_CONFIG_STRING, "", NULL),
                     VOLT_ERR_ARG);
    volt_config_destroy(config);
}

/* ---- wildcards and sequences ----------------------------------------------------------- */

VOLT_TEST(sequences_get_index_segments) {
    temp_dir dir = temp_dir_create();
    char path[PATH_BYTES];
    write_file(&dir, "run.yaml",
               "callbacks:\n"
               "  - monitor: val_acc\n"
               "    patience: 5\n"
               "  - monitor: train_loss\n"
               "layers: [64, 32, 16]\n",
               path);
    volt_config *config = trainer_config();
    VOLT_EXPECT_OK(volt_config_declare(config, "layers.*", VOLT_CONFIG_INT, NULL, NULL));
    VOLT_EXPECT_OK(volt_config_load_file(config, path));
    VOLT_EXPECT_OK(volt_config_resolve(config));
    VOLT_EXPECT_STR_CONTAINS(get_text(config, "callbacks.0.monitor"), "val_acc");
    VOLT_EXPECT_STR_CONTAINS(get_text(config, "callbacks.1.monitor"), "train_loss");
    VOLT_EXPECT_EQ_INT(get_long(config, "callbacks.0.patience"), 5);
    VOLT_EXPECT_EQ_INT(get_long(config, "callbacks.1.patience"), 3); /* default */
    VOLT_EXPECT(volt_config_is_set(config, "callbacks.1.monitor"));
    VOLT_EXPECT(!volt_config_is_set(config, "callbacks.1.patience"));
    VOLT_EXPECT_EQ_INT(get_long(config, "layers.0"), 64);
    VOLT_EXPECT_EQ_INT(get_long(config, "layers.2"), 16);
    VOLT_EXPECT(!volt_config_is_set(config, "layers.3"));
    volt_config_destroy(config);
    temp_dir_remove(&dir);
}

/* A later file's sequence replaces an earlier one whole, not item by item: [a, b, c] then
 * [x] is one item, and the items it keeps carry none of the earlier list's values. */
VOLT_TEST(later_sequence_replaces_earlier_sequence) {
    temp_dir dir = temp_dir_create();
    char base[PATH_BYTES], run[PATH_BYTES], none[PATH_BYTES];
    write_file(&dir, "base.yaml",
               "tags: [a, b, c]\n"
               "callbacks:\n"
               "  - {monitor: val_acc, patience: 5}\n"
               "  - {monitor: train_loss, patience: 6}\n"
               "  - {monitor: lr, patience: 7}\n"
               "model: {hidden: 8, name: cnn}\n",
               base);
    write_file(&dir, "run.yaml",
               "tags: [x]\n"
               "callbacks:\n"
               "  - monitor: val_f1\n"
               "model: {hidden: 16}\n",
               run);
    write_file(&dir, "none.yaml", "tags: []\n", none);

    volt_config *config = trainer_config();
    VOLT_EXPECT_OK(volt_config_declare(config, "tags.*", VOLT_CONFIG_STRING, NULL, NULL));
    VOLT_EXPECT_OK(volt_config_load_file(config, base));
    VOLT_EXPECT_OK(volt_config_load_file(config, run));
    VOLT_EXPECT_OK(volt_config_resolve(config));
    VOLT_EXPECT_STR_CONTAINS(get_text(config, "tags.0"), "x");
    VOLT_EXPECT(!volt_config_is_set(config, "tags.1"));
    VOLT_EXPECT(!volt_config_is_set(config, "tags.2"));
    VOLT_EXPECT_STR_CONTAINS(get_text(config, "callbacks.0.monitor"), "val_f1");
    VOLT_EXPECT(!volt_config_is_set(config, "callbacks.0.patience")); /* not base's 5 */
    VOLT_EXPECT_EQ_INT(get_long(config, "callbacks.0.patience"), 3);  /* default */
    VOLT_EXPECT(!volt_config_is_set(config, "callbacks.1.monitor"));
    VOLT_EXPECT(!volt_config_is_set(config, "callbacks.2.patience"));
    /* mappings still merge key by key */
    VOLT_EXPECT_EQ_INT(get_long(config, "model.hidden"), 16);
    VOLT_EXPECT_STR_CONTAINS(get_text(config, "model.name"), "cnn");

    /* the saved configuration holds the one item */
    char saved[PATH_BYTES];
    snprintf(saved, sizeof saved, "%s/saved.yaml", dir.path);
    VOLT_EXPECT_OK(volt_config_save(config, saved));
    volt_config *reloaded = trainer_config();
    VOLT_EXPECT_OK(volt_config_declare(reloaded, "tags.*", VOLT_CONFIG_STRING, NULL, NULL));
    VOLT_EXPECT_OK(volt_config_load_file(reloaded, saved));
    VOLT_EXPECT_STR_CONTAINS(get_text(reloaded, "tags.0"), "x");
    VOLT_EXPECT(!volt_config_is_set(reloaded, "tags.1"));
    VOLT_EXPECT(!volt_config_is_set(reloaded, "callbacks.1.monitor"));
    volt_config_destroy(reloaded);

    /* an empty sequence replaces too: no items left */
    VOLT_EXPECT_OK(volt_config_load_file(config, none));
    VOLT_EXPECT(!volt_config_is_set(config, "tags.0"));
    VOLT_EXPECT_STR_CONTAINS(get_text(config, "callbacks.0.monitor"), "val_f1");
    volt_config_destroy(config);
    temp_dir_remove(&dir);
}

/* --callbacks.N.key=value overrides one item of a file's list and keeps the others,
 * before or after the file, and survives a later file's list (the command line is the
 * higher level). A dotted single key in a file is no sequence either. */
VOLT_TEST(command_line_item_override_keeps_other_items) {
    temp_dir dir = temp_dir_create();
    char base[PATH_BYTES], run[PATH_BYTES], tweak[PATH_BYTES];
    write_file(&dir, "base.yaml",
               "callbacks:\n"
               "  - {monitor: val_acc, patience: 5}\n"
               "  - {monitor: train_loss, patience: 6}\n"
               "  - {monitor: lr, patience: 7}\n",
               base);
    write_file(&dir, "run.yaml",
               "callbacks:\n"
               "  - {monitor: val_f1}\n"
               "  - {monitor: val_loss, patience: 2}\n",
               run);
    write_file(&dir, "tweak.yaml", "callbacks.2.monitor: grad_norm\n", tweak);

    volt_config *config = trainer_config();
    char *argv[] = {"train", "--config", base, "--callbacks.1.patience=9", NULL};
    int argc = 4;
    VOLT_EXPECT_OK(volt_config_parse_args(config, &argc, argv));
    VOLT_EXPECT_EQ_INT(argc, 1);
    VOLT_EXPECT_OK(volt_config_resolve(config));
    VOLT_EXPECT_STR_CONTAINS(get_text(config, "callbacks.0.monitor"), "val_acc");
    VOLT_EXPECT_EQ_INT(get_long(config, "callbacks.0.patience"), 5);
    VOLT_EXPECT_STR_CONTAINS(get_text(config, "callbacks.1.monitor"), "train_loss");
    VOLT_EXPECT_EQ_INT(get_long(config, "callbacks.1.patience"), 9);
    VOLT_EXPECT_STR_CONTAINS(get_text(config, "callbacks.2.monitor"), "lr");
    VOLT_EXPECT_EQ_INT(get_long(config, "callbacks.2.patience"), 7);

    /* a file of single keys changes one item and keeps the rest */
    VOLT_EXPECT_OK(volt_config_load_file(config, tweak));
    VOLT_EXPECT_STR_CONTAINS(get_text(config, "callbacks.2.monitor"), "grad_norm");
    VOLT_EXPECT_EQ_INT(get_long(config, "callbacks.2.patience"), 7);
    VOLT_EXPECT_STR_CONTAINS(get_text(config, "callbacks.0.monitor"), "val_acc");
    volt_config_destroy(config);

    /* override first, file list after: the same items, and a later list keeps it */
    config = trainer_config();
    char *argv2[] = {"train", "--callbacks.1.patience", "9", "--config", base,
                     "--config", run, NULL};
    argc = 7;
    VOLT_EXPECT_OK(volt_config_parse_args(config, &argc, argv2));
    VOLT_EXPECT_OK(volt_config_resolve(config));
    VOLT_EXPECT_STR_CONTAINS(get_text(config, "callbacks.0.monitor"), "val_f1");
    VOLT_EXPECT_EQ_INT(get_long(config, "callbacks.0.patience"), 3); /* default */
    VOLT_EXPECT_STR_CONTAINS(get_text(config, "callbacks.1.monitor"), "val_loss");
    VOLT_EXPECT_EQ_INT(get_long(config, "callbacks.1.patience"), 9); /* command line */
    VOLT_EXPECT(!volt_config_is_set(config, "callbacks.2.monitor"));
    VOLT_EXPECT(!volt_config_is_set(config, "callbacks.2.patience"));
    volt_config_destroy(config);
    temp_dir_remove(&dir);
}

/* An environment override of one item survives a file list loaded after it, and after a
 * second file replaced the first file's list. */
VOLT_TEST(environment_item_override_survives_later_file_list) {
    temp_dir dir = temp_dir_create();
    char base[PATH_BYTES], run[PATH_BYTES];
    write_file(&dir, "base.yaml",
               "callbacks:\n"
               "  - {monitor: val_acc, patience: 5}\n"
               "  - {monitor: train_loss, patience: 6}\n"
               "  - {monitor: lr, patience: 7}\n",
               base);
    write_file(&dir, "run.yaml", "callbacks:\n  - {monitor: val_f1, patience: 2}\n", run);

    volt_config *config = trainer_config();
    char *const envp[] = {"VOLT_CALLBACKS__0__MONITOR=from_env", NULL};
    VOLT_EXPECT_OK(volt_config_load_env(config, envp));
    VOLT_EXPECT_OK(volt_config_load_file(config, base));
    VOLT_EXPECT_OK(volt_config_resolve(config));
    VOLT_EXPECT_STR_CONTAINS(get_text(config, "callbacks.0.monitor"), "from_env");
    VOLT_EXPECT_EQ_INT(get_long(config, "callbacks.0.patience"), 5);
    VOLT_EXPECT_STR_CONTAINS(get_text(config, "callbacks.2.monitor"), "lr");

    VOLT_EXPECT_OK(volt_config_load_file(config, run));
    VOLT_EXPECT_OK(volt_config_resolve(config));
    VOLT_EXPECT_STR_CONTAINS(get_text(config, "callbacks.0.monitor"), "from_env");
    VOLT_EXPECT_EQ_INT(get_long(config, "callbacks.0.patience"), 2);
    VOLT_EXPECT(!volt_config_is_set(config, "callbacks.1.monitor"));
    VOLT_EXPECT(!volt_config_is_set(config, "callbacks.2.monitor"));
    volt_config_destroy(config);
    temp_dir_remove(&dir);
}

VOLT_TEST(wildcard_matches_exactly_one_segment) {
    temp_dir dir = temp_dir_create();
    char path[PATH_BYTES];
    write_file(&dir, "run.yaml", "callbacks:\n  - monitr: val_acc\n", path);
    volt_config *config = trainer_config();
    /* any one segment, named or numbered */
    VOLT_EXPECT_OK(volt_config_set(config, "callbacks.early_stop.monitor", "val_acc", "test"));
    VOLT_EXPECT_OK(volt_config_resolve(config));
    VOLT_EXPECT_STR_CONTAINS(get_text(config, "callbacks.early_stop.monitor"), "val_acc");
    /* not two segments, not none */
    VOLT_EXPECT_OK(volt_config_set(config, "callbacks.a.b.monitor", "x", "test"));
    VOLT_EXPECT_FAIL(volt_config_resolve(config), VOLT_ERR_CONFIG);
    volt_config_destroy(config);

    /* the suggestion spells the wildcard with the segment the user gave */
    config = trainer_config();
    VOLT_EXPECT_OK(volt_config_load_file(config, path));
    VOLT_EXPECT(volt_config_resolve(config) == VOLT_ERR_CONFIG);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(),
                             "unknown key 'callbacks.0.monitr' (from file ");
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "did you mean 'callbacks.0.monitor'?");
    volt_error_clear();
    volt_config_destroy(config);
    temp_dir_remove(&dir);
}

/* ---- writing -----------------------------------------------------------------------------
 */

/* Reads a whole small file into buffer (BUFFER_BYTES bytes). */
enum { BUFFER_BYTES = 4096 };
static void read_file(const char *path, char *buffer) {
    buffer[0] = '\0';
    FILE *file = fopen(path, "r");
    if (!file) {
        volt_test_fail(__FILE__, __LINE__, "cannot open %s", path);
        return;
    }
    size_t length = fread(buffer, 1, BUFFER_BYTES - 1, file);
    buffer[length] = '\0';
    fclose(file);
}

VOLT_TEST(write_yaml_is_nested_sorted_and_quoted) {
    temp_dir dir = temp_dir_create();
    char path[PATH_BYTES], text[BUFFER_BYTES];
    snprintf(path, sizeof path, "%s/out.yaml", dir.path);
    volt_config *config = NULL;
    VOLT_EXPECT_OK(volt_config_create(&config));
    VOLT_EXPECT_OK(
        volt_config_declare(config, "trainer.max_epochs", VOLT_CONFIG_INT, "10", NULL));
    VOLT_EXPECT_OK(volt_config_declare(config, "model.name", VOLT_CONFIG_STRING, "yes", NULL));
    VOLT_EXPECT_OK(volt_config_declare(config, "model.hidden", VOLT_CONFIG_INT, "64", NULL));
    VOLT_EXPECT_OK(volt_config_declare(config, "trainer.lr", VOLT_CONFIG_FLOAT, "0.1", NULL));
    VOLT_EXPECT_OK(volt_config_declare(config, "data.path", VOLT_CONFIG_STRING, NULL, NULL));
    VOLT_EXPECT_OK(volt_config_declare(config, "layers.*", VOLT_CONFIG_INT, "0", NULL));
    for (int i = 0; i < 11; i++) { /* 2 sorts before 10 */
        char key[32], value[32];
        snprintf(key, sizeof key, "layers.%d", i);
        snprintf(value, sizeof value, "%d", 100 + i);
        VOLT_EXPECT_OK(volt_config_set(config, key, value, "test"));
    }
    VOLT_EXPECT_OK(volt_config_resolve(config));
    VOLT_EXPECT_OK(volt_config_save(config, path));
    read_file(path, text);
    /* data.path has no value and is left out; the layers are a sequence again */
    const char *expected = "layers:\n"
                           "- 100\n- 101\n- 102\n- 103\n- 104\n- 105\n- 106\n- 107\n- 108\n"
                           "- 109\n- 110\n"
                           "model:\n"
                           "  hidden: 64\n"
                           "  name: \"yes\"\n"
                           "trainer:\n"
                           "  lr: 0.1\n"
                           "  max_epochs: 10\n";
    if (strcmp(text, expected) != 0)
        volt_test_fail(__FILE__, __LINE__, "wrote:\n%s\nexpected:\n%s", text, expected);
    volt_config_destroy(config);
    temp_dir_remove(&dir);
}

/* Strings that a plain YAML scalar would read back as something else. */
static const char *const tricky_strings[] = {"yes",
                                             "3",
                                             "",
                                             "a: b",
                                             "# x",
                                             "null",
                                             "~",
                                             "true",
                                             "Off",
                                             "1e5",
                                             "-1",
                                             ".inf",
                                             " leading",
                                             "trailing ",
                                             "-",
                                             "- item",
                                             "[list]",
                                             "{map}",
                                             "*star",
                                             "&anchor",
                                             "!tag",
                                             "%percent",
                                             "@at",
                                             "`tick",
                                             "'single'",
                                             "\"double\"",
                                             "back\\slash",
                                             "line\nbreak",
                                             "tab\there",
                                             "colon:",
                                             "a #b",
                                             "http://host:80/x",
                                             "ünïcödé",
                                             "plain text",
                                             "? question",
                                             "| pipe",
                                             "> fold",
                                             "2024-01-01",
                                             "0x10",
                                             "1_000",
                                             "<<"};
enum { TRICKY_COUNT = sizeof tricky_strings / sizeof tricky_strings[0] };

static volt_config *round_trip_config(void) {
    volt_config *config = trainer_config();
    VOLT_EXPECT_OK(volt_config_declare(config, "strings.*", VOLT_CONFIG_STRING, NULL, NULL));
    VOLT_EXPECT_OK(volt_config_declare(config, "layers.*", VOLT_CONFIG_INT, NULL, NULL));
    return config;
}

VOLT_TEST(write_then_load_gives_the_same_values) {
    temp_dir dir = temp_dir_create();
    char path[PATH_BYTES];
    snprintf(path, sizeof path, "%s/resolved.yaml", dir.path);
    volt_config *written = round_trip_config();
    for (int i = 0; i < TRICKY_COUNT; i++) {
        char key[32];
        snprintf(key, sizeof key, "strings.s%02d", i);
        VOLT_EXPECT_OK(volt_config_set(written, key, tricky_strings[i], "test"));
    }
    VOLT_EXPECT_OK(volt_config_set(written, "model.name", "a: b", "test"));
    VOLT_EXPECT_OK(volt_config_set(written, "data.path", "", "test"));
    VOLT_EXPECT_OK(volt_config_set(written, "trainer.lr", "1e-4", "test"));
    VOLT_EXPECT_OK(volt_config_set(written, "trainer.shuffle", "off", "test"));
    VOLT_EXPECT_OK(volt_config_set(written, "callbacks.0.monitor", "yes", "test"));
    VOLT_EXPECT_OK(volt_config_set(written, "callbacks.1.patience", "7", "test"));
    VOLT_EXPECT_OK(volt_config_set(written, "layers.0", "8", "test"));
    VOLT_EXPECT_OK(volt_config_set(written, "layers.1", "4", "test"));
    VOLT_EXPECT_OK(volt_config_resolve(written));
    VOLT_EXPECT_OK(volt_config_save(written, path));

    volt_config *read = round_trip_config();
    VOLT_EXPECT_OK(volt_config_load_file(read, path));
    VOLT_EXPECT_OK(volt_config_resolve(read));
    for (int i = 0; i < TRICKY_COUNT; i++) {
        char key[32];
        snprintf(key, sizeof key, "strings.s%02d", i);
        const char *value = volt_config_string(read, key, "(missing)");
        if (strcmp(value, tricky_strings[i]) != 0)
            volt_test_fail(__FILE__, __LINE__, "%s: wrote '%s', read back '%s'", key,
                           tricky_strings[i], value);
    }
    static const char *const keys[] = {
        "model.name",           "data.path",          "trainer.lr",
        "trainer.shuffle",      "trainer.max_epochs", "callbacks.0.monitor",
        "callbacks.1.patience", "layers.0",           "layers.1"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *before = volt_config_string(written, keys[i], "(missing)");
        const char *after = volt_config_string(read, keys[i], "(missing)");
        if (strcmp(before, after) != 0)
            volt_test_fail(__FILE__, __LINE__, "%s: wrote '%s', read back '%s'", keys[i],
                           before, after);
    }
    /* only supplied concrete keys of a wildcard are written, not its default */
    VOLT_EXPECT(!volt_config_is_set(read, "callbacks.0.patience"));
    VOLT_EXPECT(!volt_config_is_set(read, "callbacks.2.monitor"));

    /* writing what was read gives the same text again */
    char path2[PATH_BYTES], text[BUFFER_BYTES], text2[BUFFER_BYTES];
    snprintf(path2, sizeof path2, "%s/again.yaml", dir.path);
    VOLT_EXPECT_OK(volt_config_save(read, path2));
    read_file(path, text);
    read_file(path2, text2);
    VOLT_EXPECT(strcmp(text, text2) == 0);
    VOLT_EXPECT_STR_CONTAINS(text, "s00: \"yes\"\n");
    VOLT_EXPECT_STR_CONTAINS(text, "s01: \"3\"\n");
    VOLT_EXPECT_STR_CONTAINS(text, "s02: \"\"\n");
    VOLT_EXPECT_STR_CONTAINS(text, "s27: \"line\\nbreak\"\n");
    volt_config_destroy(written);
    volt_config_destroy(read);
    temp_dir_remove(&dir);
}

VOLT_TEST(save_writes_a_temporary_then_renames) {
    temp_dir dir = temp_dir_create();
    char path[PATH_BYTES], tmp_path[PATH_BYTES + 8], text[BUFFER_BYTES];
    write_file(&dir, "run.yaml", "old contents that must go\n", path);
    snprintf(tmp_path, sizeof tmp_path, "%s.tmp", path);
    volt_config *config = trainer_config();
    VOLT_EXPECT_OK(volt_config_set(config, "data.path", "/scratch/train.h5", "test"));
    VOLT_EXPECT_OK(volt_config_save(config, path));
    VOLT_EXPECT(!file_exists(tmp_path));
    read_file(path, text);
    VOLT_EXPECT_STR_CONTAINS(text, "path: /scratch/train.h5\n");
    VOLT_EXPECT(strstr(text, "old contents") == NULL);

    /* a leftover .tmp from a crashed save is simply replaced */
    write_file(&dir, "run.yaml.tmp", "half a file", tmp_path);
    VOLT_EXPECT_OK(volt_config_save(config, path));
    VOLT_EXPECT(!file_exists(tmp_path));

    /* a directory that does not exist: IO error naming the path, nothing left behind */
    char missing[PATH_BYTES + 16];
    snprintf(missing, sizeof missing, "%s/no/such.yaml", dir.path);
    VOLT_EXPECT(volt_config_save(config, missing) == VOLT_ERR_IO);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "no/such.yaml.tmp");
    volt_error_clear();
    volt_config_destroy(config);
    temp_dir_remove(&dir);
}

VOLT_TEST(edit_distance) {
    VOLT_EXPECT_EQ_INT(volt_edit_distance("", ""), 0);
    VOLT_EXPECT_EQ_INT(volt_edit_distance("abc", ""), 3);
    VOLT_EXPECT_EQ_INT(volt_edit_distance("", "ab"), 2);
    VOLT_EXPECT_EQ_INT(volt_edit_distance("kitten", "sitting"), 3);
    VOLT_EXPECT_EQ_INT(volt_edit_distance("trainer.max_epoch", "trainer.max_epochs"), 1);
    VOLT_EXPECT_EQ_INT(volt_edit_distance("flaw", "lawn"), 2);
    VOLT_EXPECT_EQ_INT(volt_edit_distance("same", "same"), 0);
}

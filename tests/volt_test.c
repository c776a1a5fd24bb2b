/* tests/volt_test.c — the harness behind volt_test.h. */
#include "volt_test.h"

#include <dirent.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

enum { MAX_TESTS = 512 };

static struct {
    const char *name;
    volt_test_fn fn;
} tests[MAX_TESTS];
static int test_count;
static int current_failed;

void volt_test_register(const char *name, volt_test_fn fn) {
    if (test_count == MAX_TESTS) {
        fprintf(stderr, "volt_test: more than %d tests in one binary\n", MAX_TESTS);
        abort();
    }
    tests[test_count].name = name;
    tests[test_count].fn = fn;
    test_count++;
}

void volt_test_fail(const char *file, int line, const char *fmt, ...) {
    const char *slash = strrchr(file, '/');
    fprintf(stderr, "  FAIL %s:%d: ", slash ? slash + 1 : file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    current_failed = 1;
}

void volt_test_take_errors(char *text, size_t size) {
    char *printed = NULL;
    size_t length = 0;
    FILE *stream = open_memstream(&printed, &length);
    text[0] = '\0';
    if (stream) {
        volt_error_print(stream);
        fclose(stream);
        snprintf(text, size, "%s", printed ? printed : "");
        free(printed);
    }
    volt_error_clear();
}

int volt_test_make_temp_dir(char *path, size_t size, const char *tag) {
    snprintf(path, size, "/tmp/volt_%s_XXXXXX", tag);
    if (mkdtemp(path)) return 1;
    volt_test_fail(__FILE__, __LINE__, "mkdtemp %s failed", path);
    return 0;
}

static void remove_below(const char *path) {
    struct stat info;
    if (lstat(path, &info) != 0) return;
    if (S_ISDIR(info.st_mode)) {
        DIR *listing = opendir(path);
        if (listing) {
            struct dirent *entry;
            while ((entry = readdir(listing))) {
                if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
                char child[1024];
                snprintf(child, sizeof child, "%s/%s", path, entry->d_name);
                remove_below(child);
            }
            closedir(listing);
        }
        rmdir(path);
    } else {
        remove(path);
    }
}

void volt_test_remove_tree(const char *path) {
    remove_below(path);
    if (access(path, F_OK) == 0) volt_test_fail(__FILE__, __LINE__, "cannot remove %s", path);
}

double volt_test_rel_diff(double a, double b, double floor) {
    double scale = fmax(fmax(fabs(a), fabs(b)), floor);
    return fabs(a - b) / scale;
}

int volt_test_run_all(int argc, char **argv) {
    const char *filter = argc > 1 ? argv[1] : NULL;
    int passed = 0, failed = 0;
    for (int i = 0; i < test_count; i++) {
        if (filter && !strstr(tests[i].name, filter)) continue;
        current_failed = 0;
        tests[i].fn();
        if (volt_error_depth() > 0) {
            fprintf(stderr, "  FAIL %s left errors on the stack:\n", tests[i].name);
            volt_error_print(stderr);
            volt_error_clear();
            current_failed = 1;
        }
        printf("%s %s\n", current_failed ? "FAIL" : "ok  ", tests[i].name);
        if (current_failed) failed++;
        else passed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

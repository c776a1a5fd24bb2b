/* lib/core/error.c — the per-thread error stack. Frames are fixed-size so that pushing
 * never allocates (it may be reporting an allocation failure). When the stack is full
 * the outermost frames are dropped and counted, the innermost one (the cause) is kept. */
#include "core/error.h"

#include <stdarg.h>
#include <string.h>

enum { VOLT_ERROR_MAX_FRAMES = 32, VOLT_ERROR_MESSAGE_BYTES = 512 };

typedef struct {
    int status;
    int line;
    const char *file;
    const char *func;
    char message[VOLT_ERROR_MESSAGE_BYTES];
} error_frame;

typedef struct {
    int depth;
    int dropped;
    error_frame frames[VOLT_ERROR_MAX_FRAMES];
} error_stack;

static _Thread_local error_stack thread_errors;

/* Set once by volt_init before any other thread exists; read-only afterwards. */
static int core_rank = -1;
static int core_world_size = 0;

static const char *const status_names[VOLT_STATUS_COUNT] = {
    [VOLT_OK] = "VOLT_OK",
    [VOLT_ERR_ARG] = "VOLT_ERR_ARG",
    [VOLT_ERR_NOMEM] = "VOLT_ERR_NOMEM",
    [VOLT_ERR_IO] = "VOLT_ERR_IO",
    [VOLT_ERR_CONFIG] = "VOLT_ERR_CONFIG",
    [VOLT_ERR_SHAPE] = "VOLT_ERR_SHAPE",
    [VOLT_ERR_NUMERIC] = "VOLT_ERR_NUMERIC",
    [VOLT_ERR_UNSUPPORTED] = "VOLT_ERR_UNSUPPORTED",
    [VOLT_ERR_MPI] = "VOLT_ERR_MPI",
    [VOLT_ERR_HDF5] = "VOLT_ERR_HDF5",
    [VOLT_ERR_BLAS] = "VOLT_ERR_BLAS",
    [VOLT_ERR_CUDA] = "VOLT_ERR_CUDA",
    [VOLT_ERR_INTERNAL] = "VOLT_ERR_INTERNAL",
};

const char *volt_status_name(int status) {
    if (status < 0 || status >= VOLT_STATUS_COUNT) return "VOLT_ERR_UNKNOWN";
    return status_names[status];
}

int volt_error_push(int status, const char *file, int line, const char *func,
                    const char *fmt, ...) {
    if (status == VOLT_OK) status = VOLT_ERR_INTERNAL;
    error_stack *s = &thread_errors;
    if (s->depth == VOLT_ERROR_MAX_FRAMES) {
        s->dropped++;
        return status;
    }
    error_frame *f = &s->frames[s->depth++];
    f->status = status;
    f->file = file;
    f->line = line;
    f->func = func;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->message, sizeof f->message, fmt, ap);
    va_end(ap);
    return status;
}

int volt_error_status(void) {
    return thread_errors.depth ? thread_errors.frames[0].status : VOLT_OK;
}

const char *volt_error_message(void) {
    return thread_errors.depth ? thread_errors.frames[0].message : "";
}

int volt_error_depth(void) { return thread_errors.depth; }

/* The file name without the directories of the build machine. */
static const char *short_path(const char *path) {
    const char *lib = strstr(path, "/lib/");
    if (lib) return lib + 1;
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

void volt_error_print(FILE *out) {
    const error_stack *s = &thread_errors;
    char prefix[32] = "";
    if (core_rank >= 0) snprintf(prefix, sizeof prefix, "[rank %d] ", core_rank);
    for (int i = 0; i < s->depth; i++) {
        const error_frame *f = &s->frames[i];
        if (i == 0)
            fprintf(out, "%serror: %s (%s)\n%s  at %s() %s:%d\n", prefix, f->message,
                    volt_status_name(f->status), prefix, f->func, short_path(f->file),
                    f->line);
        else
            fprintf(out, "%s  from %s() %s:%d%s%s\n", prefix, f->func, short_path(f->file),
                    f->line, strcmp(f->message, "called from here") ? ": " : "",
                    strcmp(f->message, "called from here") ? f->message : "");
    }
    if (s->dropped) fprintf(out, "%s  (%d outer frames not shown)\n", prefix, s->dropped);
    fflush(out);
}

void volt_error_clear(void) {
    thread_errors.depth = 0;
    thread_errors.dropped = 0;
}

void volt_core_set_rank(int rank, int world_size) {
    core_rank = rank;
    core_world_size = world_size;
}

int volt_core_rank(void) { return core_rank; }
int volt_core_world_size(void) { return core_world_size; }

/* lib/core/error.h — status codes and the error stack.
 *
 * Every fallible Volt function returns int: VOLT_OK, or one of the volt_status codes
 * below after pushing a frame (file, line, function, message) on this thread's error
 * stack. Callers propagate with VOLT_CHECK(expr), which adds a "called from" frame and
 * returns the same code, as PETSc's PetscCall does. The top of the program prints the
 * stack once with volt_error_print() and clears it. Nothing in the library calls exit().
 *
 * Functions that return a pointer (ops, constructors) return NULL on failure after
 * pushing a frame; VOLT_CHECK_PTR turns that into a status. */
#ifndef VOLT_CORE_ERROR_H
#define VOLT_CORE_ERROR_H

#include <stdio.h>

#if defined(__GNUC__)
#define VOLT_NODISCARD __attribute__((warn_unused_result))
#define VOLT_PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#else
#define VOLT_NODISCARD
#define VOLT_PRINTF(fmt_index, first_arg)
#endif

typedef enum volt_status {
    VOLT_OK = 0,
    VOLT_ERR_ARG,         /* a caller passed an invalid argument */
    VOLT_ERR_NOMEM,       /* an allocation failed */
    VOLT_ERR_IO,          /* a file could not be opened, read or written */
    VOLT_ERR_CONFIG,      /* malformed configuration, unknown key, wrong type */
    VOLT_ERR_SHAPE,       /* tensor shapes, dtypes or devices do not agree */
    VOLT_ERR_NUMERIC,     /* NaN or Inf where a finite number is required */
    VOLT_ERR_UNSUPPORTED, /* a valid request this build cannot serve (no CUDA, say) */
    VOLT_ERR_MPI,         /* an MPI call failed */
    VOLT_ERR_HDF5,        /* an HDF5 call failed */
    VOLT_ERR_BLAS,        /* the BLAS library misbehaved */
    VOLT_ERR_CUDA,        /* a CUDA, cuBLAS or NCCL call failed */
    VOLT_ERR_INTERNAL,    /* a broken invariant inside Volt: a bug */
    VOLT_STATUS_COUNT
} volt_status;

/* Short name of a status code ("VOLT_ERR_SHAPE"). */
const char *volt_status_name(int status);

/* Pushes a frame and returns status (so that `return volt_error_push(...)` reads well).
 * A status of VOLT_OK is turned into VOLT_ERR_INTERNAL. */
int volt_error_push(int status, const char *file, int line, const char *func,
                    const char *fmt, ...) VOLT_PRINTF(5, 6);

/* Status of the innermost (first pushed) frame, or VOLT_OK when the stack is empty. */
int volt_error_status(void);
/* Message of the innermost frame, "" when the stack is empty. */
const char *volt_error_message(void);
/* Number of frames on this thread's stack. */
int volt_error_depth(void);
/* Writes the stack, innermost frame first, each line prefixed with "[rank N]". */
void volt_error_print(FILE *out);
/* Empties this thread's stack. */
void volt_error_clear(void);

/* The rank that prefixes error and log lines; set once by volt_init. -1: unknown. */
void volt_core_set_rank(int rank, int world_size);
int volt_core_rank(void);
int volt_core_world_size(void);

#define VOLT_ERROR(status, ...) \
    volt_error_push((status), __FILE__, __LINE__, __func__, __VA_ARGS__)

/* Propagates a failed Volt call, adding where it was called from. */
#define VOLT_CHECK(expr)                                                               \
    do {                                                                               \
        int volt_check_status_ = (expr);                                               \
        if (volt_check_status_ != VOLT_OK)                                             \
            return volt_error_push(volt_check_status_, __FILE__, __LINE__, __func__,   \
                                   "called from here");                                \
    } while (0)

/* Checks a caller's argument: VOLT_CHECK_ARG(n > 0) fails with the expression's text. */
#define VOLT_CHECK_ARG(cond)                                                           \
    do {                                                                               \
        if (!(cond))                                                                   \
            return VOLT_ERROR(VOLT_ERR_ARG, "invalid argument: %s", #cond);            \
    } while (0)

/* A pointer-returning call failed when it gave NULL (it pushed the reason). */
#define VOLT_CHECK_PTR(ptr)                                                            \
    do {                                                                               \
        if ((ptr) == NULL)                                                             \
            return volt_error_push(volt_error_status() ? volt_error_status()           \
                                                       : VOLT_ERR_INTERNAL,            \
                                   __FILE__, __LINE__, __func__, "%s failed", #ptr);   \
    } while (0)

/* An allocation that must succeed, else VOLT_ERR_NOMEM naming what and how much. */
#define VOLT_CHECK_ALLOC(ptr, bytes)                                                   \
    do {                                                                               \
        if ((ptr) == NULL)                                                             \
            return VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory allocating %zu bytes for %s", \
                              (size_t)(bytes), #ptr);                                  \
    } while (0)

#endif

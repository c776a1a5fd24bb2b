/* lib/core/arena.c — a list of chunks, bump pointer in the newest one. */
#include "core/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct arena_chunk {
    struct arena_chunk *previous;
    size_t capacity; /* usable bytes after the header */
    size_t used;
    unsigned char *base; /* aligned start of the usable bytes */
} arena_chunk;

struct volt_arena {
    arena_chunk *current;
    size_t cycle_bytes;  /* bytes handed out since the last reset */
    size_t peak_bytes;
    size_t system_allocations;
};

static size_t align_up(size_t n) {
    return (n + VOLT_ARENA_ALIGN - 1) & ~(size_t)(VOLT_ARENA_ALIGN - 1);
}

static arena_chunk *chunk_new(volt_arena *arena, size_t capacity, arena_chunk *previous) {
    size_t header = align_up(sizeof(arena_chunk));
    unsigned char *raw = aligned_alloc(VOLT_ARENA_ALIGN, header + align_up(capacity));
    if (!raw) return NULL;
    arena_chunk *c = (arena_chunk *)raw;
    c->previous = previous;
    c->capacity = align_up(capacity);
    c->used = 0;
    c->base = raw + header;
    arena->system_allocations++;
    return c;
}

static void chunks_free(arena_chunk *c) {
    while (c) {
        arena_chunk *previous = c->previous;
        free(c);
        c = previous;
    }
}

int volt_arena_create(size_t initial_bytes, volt_arena **out) {
    VOLT_CHECK_ARG(out);
    volt_arena *arena = calloc(1, sizeof *arena);
    VOLT_CHECK_ALLOC(arena, sizeof *arena);
    arena->current = chunk_new(arena, initial_bytes ? initial_bytes : (size_t)1 << 20, NULL);
    if (!arena->current) {
        free(arena);
        return VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory creating an arena of %zu bytes",
                          initial_bytes);
    }
    *out = arena;
    return VOLT_OK;
}

void volt_arena_destroy(volt_arena *arena) {
    if (!arena) return;
    chunks_free(arena->current);
    free(arena);
}

void *volt_arena_alloc(volt_arena *arena, size_t bytes) {
    /* past this, rounding up (or a chunk's header) would wrap around to a small size */
    if (bytes > SIZE_MAX / 2) {
        VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory: %zu bytes from an arena", bytes);
        return NULL;
    }
    size_t need = align_up(bytes ? bytes : 1);
    arena_chunk *c = arena->current;
    if (c->capacity - c->used < need) {
        size_t capacity = c->capacity < SIZE_MAX / 4 && c->capacity * 2 > need ? c->capacity * 2
                                                                                : need;
        arena_chunk *fresh = chunk_new(arena, capacity, c);
        if (!fresh) {
            VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory: arena chunk of %zu bytes", capacity);
            return NULL;
        }
        arena->current = c = fresh;
    }
    void *p = c->base + c->used;
    c->used += need;
    arena->cycle_bytes += need;
    if (arena->cycle_bytes > arena->peak_bytes) arena->peak_bytes = arena->cycle_bytes;
    return p;
}

void *volt_arena_calloc(volt_arena *arena, size_t bytes) {
    void *p = volt_arena_alloc(arena, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void volt_arena_reset(volt_arena *arena) {
    arena_chunk *c = arena->current;
    if (c->previous) {
        /* The cycle spilled over several chunks: replace them by one that holds it all. */
        size_t total = 0;
        for (arena_chunk *k = c; k; k = k->previous) total += k->capacity;
        arena_chunk *merged = chunk_new(arena, total, NULL);
        if (merged) {
            chunks_free(c);
            c = arena->current = merged;
        } else {
            chunks_free(c->previous); /* keep the newest, largest chunk */
            c->previous = NULL;
        }
    }
    c->used = 0;
    arena->cycle_bytes = 0;
}

size_t volt_arena_used(const volt_arena *arena) { return arena->cycle_bytes; }
size_t volt_arena_peak(const volt_arena *arena) { return arena->peak_bytes; }
size_t volt_arena_system_allocations(const volt_arena *arena) {
    return arena->system_allocations;
}

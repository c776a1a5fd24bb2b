/* lib/core/arena.h — bump allocation for memory that dies together (one training step).
 *
 * volt_arena_alloc() hands out 64-byte-aligned blocks from a chunk; when a chunk is full
 * a new one is allocated. volt_arena_reset() frees every block at once; if the last cycle
 * needed more than one chunk, they are replaced by a single chunk of the total size,
 * so from the second identical cycle on (the steady state of training) nothing is
 * allocated from the system. Memory is not zeroed unless volt_arena_calloc is used. */
#ifndef VOLT_CORE_ARENA_H
#define VOLT_CORE_ARENA_H

#include <stddef.h>

#include "core/error.h"

typedef struct volt_arena volt_arena;

enum { VOLT_ARENA_ALIGN = 64 };

/* initial_bytes: size of the first chunk (0: 1 MiB). */
VOLT_NODISCARD int volt_arena_create(size_t initial_bytes, volt_arena **out);
void volt_arena_destroy(volt_arena *arena);

/* NULL (with an error pushed) when the system is out of memory. */
void *volt_arena_alloc(volt_arena *arena, size_t bytes);
void *volt_arena_calloc(volt_arena *arena, size_t bytes);
/* Frees everything handed out since creation or the last reset. */
void volt_arena_reset(volt_arena *arena);

/* Bytes handed out since the last reset; high-water mark over all cycles; number of
 * system allocations made so far (tests use it to prove the steady state allocates none). */
size_t volt_arena_used(const volt_arena *arena);
size_t volt_arena_peak(const volt_arena *arena);
size_t volt_arena_system_allocations(const volt_arena *arena);

#endif

/* lib/core/rng.h — counter-based random numbers (Philox-4x32-10, Salmon et al., SC'11).
 *
 * A random number is a pure function of (seed, stream, index): no hidden state moves
 * forward, so element i of a stream is the same whichever rank or thread draws it and
 * in whatever order. Streams separate uses (parameter k's initialisation, a dropout
 * call, a shuffle); index runs over the elements within a use.
 *
 * Mapping: key = seed (2 x 32 bits), counter = (index / 4 as 64 bits, stream as 64
 * bits); uniform element i is word i % 4 of that block. */
#ifndef VOLT_CORE_RNG_H
#define VOLT_CORE_RNG_H

#include <stddef.h>
#include <stdint.h>

/* One Philox-4x32 block with 10 rounds. */
void volt_philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]);

/* The four words of block `block_index`: elements 4 block_index .. 4 block_index + 3 of
 * the stream, for loops that consume the bits four at a time. */
void volt_rng_block(uint64_t seed, uint64_t stream, uint64_t block_index, uint32_t out[4]);

/* The 32 random bits of element `index` of stream `stream`. */
uint32_t volt_rng_bits(uint64_t seed, uint64_t stream, uint64_t index);

/* out[i] = uniform in [low, high) for element (first + i), i < n. */
void volt_rng_uniform_f32(uint64_t seed, uint64_t stream, uint64_t first, float *out,
                          size_t n, float low, float high);
void volt_rng_uniform_f64(uint64_t seed, uint64_t stream, uint64_t first, double *out,
                          size_t n, double low, double high);
/* out[i] = normal(mean, std) for element (first + i), by Box-Muller on block (first+i)/2. */
void volt_rng_normal_f32(uint64_t seed, uint64_t stream, uint64_t first, float *out,
                         size_t n, float mean, float std);
void volt_rng_normal_f64(uint64_t seed, uint64_t stream, uint64_t first, double *out,
                         size_t n, double mean, double std);

#endif

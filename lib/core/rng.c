/* lib/core/rng.c — Philox-4x32-10.
 * Round: (L0, R0, L1, R1) -> (hi(M1*L1) ^ R0 ^ k0, lo(M1*L1), hi(M0*L0) ^ R1 ^ k1, lo(M0*L0))
 * with the key bumped by the Weyl constants (W0, W1) between rounds. */
#include "core/rng.h"

#include <math.h>

enum { PHILOX_ROUNDS = 10 };
static const uint32_t PHILOX_M0 = 0xD2511F53u, PHILOX_M1 = 0xCD9E8D57u;
static const uint32_t PHILOX_W0 = 0x9E3779B9u, PHILOX_W1 = 0xBB67AE85u;

void volt_philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < PHILOX_ROUNDS; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        uint32_t n3 = (uint32_t)p0;
        c0 = n0, c1 = n1, c2 = n2, c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

void volt_rng_block(uint64_t seed, uint64_t stream, uint64_t block_index, uint32_t out[4]) {
    const uint32_t counter[4] = {(uint32_t)block_index, (uint32_t)(block_index >> 32),
                                 (uint32_t)stream, (uint32_t)(stream >> 32)};
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    volt_philox4x32_10(counter, key, out);
}

uint32_t volt_rng_bits(uint64_t seed, uint64_t stream, uint64_t index) {
    uint32_t words[4];
    volt_rng_block(seed, stream, index / 4, words);
    return words[index % 4];
}

/* [0, 1) with 24 (float) or 32 (double) random bits; (0, 1] variants for logarithms. */
static float unit_f32(uint32_t bits) { return (float)(bits >> 8) * 0x1p-24f; }
static double unit_f64(uint32_t bits) { return (double)bits * 0x1p-32; }
static double open_unit_f64(uint32_t bits) { return ((double)bits + 1.0) * 0x1p-32; }

void volt_rng_uniform_f32(uint64_t seed, uint64_t stream, uint64_t first, float *out,
                          size_t n, float low, float high) {
    uint32_t words[4];
    uint64_t cached = UINT64_MAX;
    for (size_t i = 0; i < n; i++) {
        uint64_t index = first + i;
        if (index / 4 != cached) volt_rng_block(seed, stream, cached = index / 4, words);
        float value = low + (high - low) * unit_f32(words[index % 4]);
        /* rounding can reach high itself; keep the interval half-open */
        out[i] = value < high ? value : nextafterf(high, low);
    }
}

void volt_rng_uniform_f64(uint64_t seed, uint64_t stream, uint64_t first, double *out,
                          size_t n, double low, double high) {
    uint32_t words[4];
    uint64_t cached = UINT64_MAX;
    for (size_t i = 0; i < n; i++) {
        uint64_t index = first + i;
        if (index / 4 != cached) volt_rng_block(seed, stream, cached = index / 4, words);
        double value = low + (high - low) * unit_f64(words[index % 4]);
        out[i] = value < high ? value : nextafter(high, low);
    }
}

/* Box-Muller: z = sqrt(-2 ln u1) cos(2 pi u2), u1 in (0, 1]. Element i uses words
 * 2(i%2), 2(i%2)+1 of block i/2. */
static double normal_at(uint64_t seed, uint64_t stream, uint64_t index) {
    uint32_t words[4];
    volt_rng_block(seed, stream, index / 2, words);
    const uint32_t *pair = &words[2 * (index % 2)];
    double radius = sqrt(-2.0 * log(open_unit_f64(pair[0])));
    return radius * cos(6.283185307179586 * unit_f64(pair[1]));
}

void volt_rng_normal_f32(uint64_t seed, uint64_t stream, uint64_t first, float *out,
                         size_t n, float mean, float std) {
    for (size_t i = 0; i < n; i++)
        out[i] = mean + std * (float)normal_at(seed, stream, first + i);
}

void volt_rng_normal_f64(uint64_t seed, uint64_t stream, uint64_t first, double *out,
                         size_t n, double mean, double std) {
    for (size_t i = 0; i < n; i++) out[i] = mean + std * normal_at(seed, stream, first + i);
}

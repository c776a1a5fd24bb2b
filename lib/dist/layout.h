/* lib/dist/layout.h — the rank layout: how the world's ranks split into process groups.
 *
 * Written "dp=8,tp=4": data-parallel and tensor-parallel degrees (tensor parallelism:
 * lib/dist/tensor_parallel.h). An empty layout means dp = world size. The product of the
 * degrees must equal the world size; every rank parses the same text, so a wrong layout
 * fails on every rank with the same message before any
 * work. Rank r has tp index r % tp and dp index r / tp (tensor-parallel groups are
 * contiguous ranks, so they share a node first). */
#ifndef VOLT_DIST_LAYOUT_H
#define VOLT_DIST_LAYOUT_H

#include "comm/comm.h"

typedef struct volt_layout {
    int dp, tp;
} volt_layout;

/* Parses text for a world of world_size ranks. Errors (VOLT_ERR_CONFIG) name the text:
 * unknown dimension, a degree < 1, a repeated dimension, a product != world size. */
VOLT_NODISCARD int volt_layout_parse(const char *text, int world_size, volt_layout *out);

/* The process groups of this rank. */
typedef struct volt_groups {
    volt_comm *world;
    volt_comm *dp; /* ranks with the same tp index */
    volt_comm *tp; /* ranks with the same dp index */
    int dp_rank, tp_rank;
} volt_groups;

/* Collective over world. */
VOLT_NODISCARD int volt_groups_create(volt_comm *world, const volt_layout *layout,
                                      volt_groups *out);
void volt_groups_destroy(volt_groups *groups); /* frees dp and tp, not world */

#endif

/* lib/dist/hierarchical.h — all-reduce in two levels, as Horovod and NCCL do across nodes.
 *
 * With L ranks on each of N nodes, a flat all-reduce sends every byte of the buffer over
 * the network from every rank. The hierarchical one:
 *   1. reduce-scatter inside each node (shared memory): local rank l holds the node's
 *      reduction of part l of the buffer (1/L of it);
 *   2. all-reduce of part l across the nodes, among the N ranks of local rank l;
 *   3. all-gather inside the node: every rank has the whole result.
 * So each rank sends 1/L of the buffer across nodes, and the N x L ranks' parts travel
 * in parallel. Counts that L does not divide are padded (with the operation's identity,
 * never read back). Average is a sum divided by the group size at the end.
 *
 * It needs more than one node and more than one rank on every node, the same number on
 * each; otherwise it is inactive and volt_hier_allreduce is the flat all-reduce. With a
 * fixed reduction order in each level the result equals the flat one exactly for values
 * whose sums are exact (integers in floating point); otherwise up to summation order.
 * Every function is collective over comm. */
#ifndef VOLT_DIST_HIERARCHICAL_H
#define VOLT_DIST_HIERARCHICAL_H

#include "comm/comm.h"

typedef struct volt_hier volt_hier;

/* node: the ranks of comm on this rank's node (a split of comm; NULL: found with
 * volt_comm_split_node, that is by shared memory). The object keeps comm (which must
 * outlive it) and its own splits, not node. Whether it is active depends on comm's ranks
 * only: several groups (one per tp index) may decide differently, so a caller with
 * several agrees over all of them (volt_hier_disable). */
VOLT_NODISCARD int volt_hier_create(volt_comm *comm, volt_comm *node, volt_hier **out);
void volt_hier_destroy(volt_hier *hier);

/* 1 when the two levels are used; the layout found (nodes, ranks per node: 0 when they
 * differ between nodes). */
int volt_hier_active(const volt_hier *hier);
void volt_hier_layout(const volt_hier *hier, int *nodes, int *ranks_per_node);

/* Turns the two levels off (the flat all-reduce from now on): for callers whose groups
 * did not all find them possible. */
void volt_hier_disable(volt_hier *hier);

/* In place, blocking: buf (count elements) becomes the reduction over comm. */
VOLT_NODISCARD int volt_hier_allreduce(volt_hier *hier, void *buf, size_t count, volt_dtype dtype,
                                       volt_reduce op);

#endif

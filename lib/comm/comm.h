/* lib/comm/comm.h — collectives over MPI (host memory) or NCCL (device memory).
 *
 * A volt_comm is one process group (the whole world, or one dimension of the rank
 * layout). Every call is collective over that group: all its ranks call it, in the
 * same order, with the same count and dtype. Counts are elements, never bytes; counts
 * above INT_MAX are sent in pieces. Non-blocking calls return a request; nothing in
 * the buffers may be touched until volt_comm_wait() on that request returns.
 *
 * Back ends: MPI for host buffers, always; NCCL for device buffers when the build has
 * it and volt_comm_enable_nccl() was called (the ncclUniqueId is broadcast over MPI).
 * A call routes by where its buffer lives. Reductions: sum, average (sum, then divided
 * by the group's size), max, min, on f32, f64, i32 and i64 (bf16/f16 through NCCL only).
 *
 * A volt_comm owns a private MPI communicator (MPI_Comm_dup of its parent), so Volt's
 * traffic never matches a message of the user's program (PETSc's practice).
 *
 * Agreement: before a collective that follows fallible local work (opening a file,
 * parsing a configuration), ranks call volt_comm_agree with their local status: all
 * ranks then fail together, each with the same message — the failing rank's own
 * message, prefixed with its rank — instead of some ranks waiting forever.
 *
 * Timeouts: every operation is numbered in its group and every wait (a blocking call,
 * volt_comm_wait) is watched by the watchdog (comm/watchdog.h), which ends the job with
 * a message naming the operation and the ranks that did not arrive when a wait lasts
 * longer than comm.timeout_s. Groups carry a name for those messages. */
#ifndef VOLT_COMM_COMM_H
#define VOLT_COMM_COMM_H

#include <mpi.h>
#include <stddef.h>

#include "core/error.h"
#include "tensor/tensor.h"

typedef struct volt_comm volt_comm;
typedef struct volt_request volt_request;

typedef enum volt_reduce {
    VOLT_REDUCE_SUM = 0,
    VOLT_REDUCE_AVG,
    VOLT_REDUCE_MAX,
    VOLT_REDUCE_MIN,
} volt_reduce;

/* A group of all ranks of parent (duplicated). */
VOLT_NODISCARD int volt_comm_create(MPI_Comm parent, volt_comm **out);
/* Ranks with the same color form a group, ordered by key (MPI_Comm_split). Collective. */
VOLT_NODISCARD int volt_comm_split(volt_comm *parent, int color, int key, volt_comm **out);
/* Ranks sharing a node (MPI_Comm_split_type with MPI_COMM_TYPE_SHARED). Collective. */
VOLT_NODISCARD int volt_comm_split_node(volt_comm *parent, volt_comm **out);
void volt_comm_destroy(volt_comm *comm);

int volt_comm_rank(const volt_comm *comm);
int volt_comm_size(const volt_comm *comm);
MPI_Comm volt_comm_mpi(const volt_comm *comm);
/* The name in the watchdog's messages: "world" (a group of MPI_COMM_WORLD's ranks),
 * "comm" (of another communicator's), "split", "node", or what the owner set. */
void volt_comm_set_name(volt_comm *comm, const char *name);
const char *volt_comm_name(const volt_comm *comm);

/* In place: buf (count elements) becomes the reduction over the group. */
VOLT_NODISCARD int volt_comm_allreduce(volt_comm *comm, void *buf, size_t count, volt_dtype dtype,
                                       volt_reduce op, volt_request **request /* NULL: blocking */);
/* send holds size * count elements; rank r receives the reduction of block r (count
 * elements) into recv. send and recv must not overlap. */
VOLT_NODISCARD int volt_comm_reduce_scatter(volt_comm *comm, const void *send, void *recv,
                                            size_t count, volt_dtype dtype, volt_reduce op,
                                            volt_request **request);
/* send holds count elements; recv receives size * count, rank r's block at r * count.
 * send may be recv + rank * count (in place). */
VOLT_NODISCARD int volt_comm_allgather(volt_comm *comm, const void *send, void *recv,
                                       size_t count, volt_dtype dtype, volt_request **request);
VOLT_NODISCARD int volt_comm_broadcast(volt_comm *comm, void *buf, size_t count, volt_dtype dtype,
                                       int root, volt_request **request);
VOLT_NODISCARD int volt_comm_barrier(volt_comm *comm, volt_request **request);

/* For a collective made outside these calls (MPI directly on volt_comm_mpi(comm)):
 * numbers it in comm's group and lets the watchdog time it, from begin to end. Every
 * rank of the group brackets the same calls in the same order. The calling thread only. */
void volt_comm_watch_begin(volt_comm *comm, const char *what);
void volt_comm_watch_end(void);

/* Waits for a request and frees it; a NULL request is done. Every request is waited for
 * before its communicator is destroyed. */
VOLT_NODISCARD int volt_comm_wait(volt_request *request);
/* Lets MPI progress a request without blocking; *done = 1 when it has completed (it
 * still has to be waited for, which then returns at once). */
VOLT_NODISCARD int volt_comm_test(volt_request *request, int *done);

/* Agreement, see above. local_status is this rank's outcome; on failure this rank's
 * error stack holds the reason. Returns VOLT_OK on every rank when all succeeded; else,
 * on every rank, the status of the lowest failing rank with a message "rank R: <its
 * message>" (that rank keeps its own stack too). */
VOLT_NODISCARD int volt_comm_agree(volt_comm *comm, int local_status);

/* NCCL for device buffers on this rank's device (cuda:device). VOLT_ERR_UNSUPPORTED in a
 * build without NCCL. Collective. */
VOLT_NODISCARD int volt_comm_enable_nccl(volt_comm *comm, int device);

/* MPI errors, for every layer that calls MPI itself (comm, runtime and above): turns a
 * failed MPI call into VOLT_ERR_MPI carrying MPI's own message. Volt's communicators
 * return MPI errors (MPI_ERRORS_RETURN) instead of aborting, so that they reach the
 * error stack; the top of the program decides to abort. */
int volt_mpi_error(int mpi_code, const char *call, const char *file, int line,
                   const char *func);
#define VOLT_CHECK_MPI(call)                                                           \
    do {                                                                               \
        int volt_mpi_code_ = (call);                                                   \
        if (volt_mpi_code_ != MPI_SUCCESS)                                             \
            return volt_mpi_error(volt_mpi_code_, #call, __FILE__, __LINE__, __func__); \
    } while (0)

#endif

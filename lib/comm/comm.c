/* lib/comm/comm.c — volt_comm over MPI; device buffers go to comm_nccl.c.
 *
 * Every operation validates its arguments first (all ranks pass the same ones, so all
 * fail alike and none waits), then routes: a device buffer of a communicator with NCCL
 * enabled goes to NCCL, anything else to MPI. Blocking calls use MPI's blocking
 * collectives; non-blocking ones the MPI_I* variants, one MPI request per piece, held
 * by a volt_request that volt_comm_wait frees.
 *
 * Types: f32 -> MPI_FLOAT, f64 -> MPI_DOUBLE, i32 -> MPI_INT32_T, i64 -> MPI_INT64_T.
 * bf16 and f16 have no MPI type: reducing them on host buffers is VOLT_ERR_UNSUPPORTED;
 * broadcast and all-gather only move bits, so they carry them as MPI_UINT16_T.
 *
 * Average is a sum, then a division by the group's size in the caller's dtype (a
 * division, not a multiplication by the reciprocal, so that n equal values average to
 * exactly that value); a non-blocking average divides in volt_comm_wait. The average of
 * integers is VOLT_ERR_ARG: there is no rounding that suits every caller.
 *
 * Large counts: MPI counts are int, and implementations compute size * count in int
 * inside reduce-scatter and all-gather, so no MPI call carries more than piece_elements
 * elements in all (INT_MAX / 2 by default); larger operations go in pieces:
 *   - all-reduce, broadcast: consecutive pieces of the buffer;
 *   - all-gather: piece [o, o + n) of every rank's block at once (size * n elements),
 *     received through a derived type (n contiguous elements resized to the extent of
 *     a whole block), so that block r's piece lands at r * count + o;
 *   - reduce-scatter: one MPI_Reduce per piece and per rank (rank r is the root of
 *     block r's pieces). A derived type would save calls, but MPI defines its
 *     predefined reductions only on predefined types, and packing into a temporary
 *     would copy the whole send buffer; a pipelined reduce per root moves about as many
 *     bytes per rank as a ring reduce-scatter. Only operations of over a billion
 *     elements in all take this path.
 * The environment variable VOLT_COMM_PIECE_ELEMENTS, read when a communicator is
 * created (splits inherit it), lowers the piece size: the tests use it to run every
 * piece path at small counts.
 *
 * Errors: Volt's communicators return MPI errors (MPI_ERRORS_RETURN) to the error
 * stack instead of aborting from inside MPI. */
#include "comm/comm.h"
#include "prof/prof.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "comm/nccl_backend.h"
#include "comm/watchdog.h"

/* ---- state ------------------------------------------------------------------------------ */

enum { COMM_AGREE_MESSAGE_BYTES = 512 };
#define COMM_DEFAULT_PIECE_ELEMENTS ((size_t)(INT_MAX / 2))

struct volt_comm {
    MPI_Comm mpi;          /* private: a dup or a split, freed by volt_comm_destroy */
    int rank, size;
    size_t piece_elements; /* the most elements one MPI call carries */
    volt_nccl *nccl;       /* NULL unless volt_comm_enable_nccl succeeded */
    volt_watch_group *watch; /* numbers this group's operations for the watchdog */
    struct watch_ticket *ticket; /* the operation being called, until it returns */
    void *scratch;               /* the ring reduce-scatter's two blocks, grown on demand */
    size_t scratch_bytes;
};

struct volt_request {
    void *nccl_event;   /* NCCL: completion of the collective; NULL for MPI */
    void *avg_buf;      /* AVG over MPI: divide avg_count elements by avg_divisor at wait */
    size_t avg_count;
    volt_dtype avg_dtype;
    int avg_divisor;    /* > 1 when a division is pending */
    volt_watch_group *watch; /* the operation, for the watchdog's bracket at wait */
    const char *watch_op, *watch_type;
    uint64_t watch_seq;
    size_t watch_count;
    int mpi_count;      /* MPI requests posted so far */
    MPI_Request mpi[];  /* one per piece */
};

int volt_mpi_error(int mpi_code, const char *call, const char *file, int line,
                   const char *func) {
    char message[MPI_MAX_ERROR_STRING] = "";
    int length = 0;
    MPI_Error_string(mpi_code, message, &length);
    return volt_error_push(VOLT_ERR_MPI, file, line, func, "%s failed: %s", call, message);
}

/* ---- groups ----------------------------------------------------------------------------- */

static int read_piece_elements(size_t *out) {
    *out = COMM_DEFAULT_PIECE_ELEMENTS;
    const char *text = getenv("VOLT_COMM_PIECE_ELEMENTS");
    if (!text || !*text) return VOLT_OK;
    char *end = NULL;
    unsigned long long value = strtoull(text, &end, 10);
    if (*end != '\0' || text[0] == '-' || value < 1 || value > COMM_DEFAULT_PIECE_ELEMENTS)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "VOLT_COMM_PIECE_ELEMENTS=%s: expected an integer from 1 to %zu",
                          text, COMM_DEFAULT_PIECE_ELEMENTS);
    *out = (size_t)value;
    return VOLT_OK;
}

/* Wraps an MPI communicator this module made (it takes ownership, also on failure).
 * Collective over mpi: the members agree on the watchdog's number of the group. */
static int comm_wrap(MPI_Comm mpi, size_t piece_elements, const char *name, volt_comm **out) {
    int code = MPI_Comm_set_errhandler(mpi, MPI_ERRORS_RETURN);
    volt_comm *comm = code == MPI_SUCCESS ? calloc(1, sizeof *comm) : NULL;
    if (code == MPI_SUCCESS && comm) {
        comm->mpi = mpi;
        comm->piece_elements = piece_elements;
        code = MPI_Comm_rank(mpi, &comm->rank);
        if (code == MPI_SUCCESS) code = MPI_Comm_size(mpi, &comm->size);
        if (code == MPI_SUCCESS) {
            int status = volt_watch_group_create(mpi, name, &comm->watch);
            if (status == VOLT_OK) {
                *out = comm;
                return VOLT_OK;
            }
            free(comm);
            MPI_Comm_free(&mpi);
            return volt_error_push(status, __FILE__, __LINE__, __func__, "called from here");
        }
    }
    free(comm);
    MPI_Comm_free(&mpi);
    if (code != MPI_SUCCESS)
        return volt_mpi_error(code, "MPI_Comm_set_errhandler/rank/size", __FILE__, __LINE__,
                              __func__);
    return VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory allocating a volt_comm");
}

static int mpi_ready(void) {
    int initialized = 0, finalized = 0;
    VOLT_CHECK_MPI(MPI_Initialized(&initialized));
    VOLT_CHECK_MPI(MPI_Finalized(&finalized));
    if (!initialized || finalized)
        return VOLT_ERROR(VOLT_ERR_ARG, "MPI is %s: call volt_init first",
                          finalized ? "finalized" : "not initialized");
    return VOLT_OK;
}

int volt_comm_create(MPI_Comm parent, volt_comm **out) {
    VOLT_CHECK_ARG(out);
    *out = NULL;
    VOLT_CHECK(mpi_ready());
    VOLT_CHECK_ARG(parent != MPI_COMM_NULL);
    size_t piece_elements;
    VOLT_CHECK(read_piece_elements(&piece_elements));
    int same = MPI_UNEQUAL;
    VOLT_CHECK_MPI(MPI_Comm_compare(parent, MPI_COMM_WORLD, &same));
    MPI_Comm mpi;
    VOLT_CHECK_MPI(MPI_Comm_dup(parent, &mpi));
    VOLT_CHECK(comm_wrap(mpi, piece_elements,
                         same == MPI_IDENT || same == MPI_CONGRUENT ? "world" : "comm", out));
    return VOLT_OK;
}

/* color MPI_UNDEFINED: this rank joins no group and *out is NULL. */
int volt_comm_split(volt_comm *parent, int color, int key, volt_comm **out) {
    VOLT_CHECK_ARG(out);
    *out = NULL;
    VOLT_CHECK_ARG(parent);
    if (color < 0 && color != MPI_UNDEFINED)
        return VOLT_ERROR(VOLT_ERR_ARG, "split color %d: must be >= 0 (or MPI_UNDEFINED)",
                          color);
    MPI_Comm mpi;
    VOLT_CHECK_MPI(MPI_Comm_split(parent->mpi, color, key, &mpi));
    if (mpi == MPI_COMM_NULL) return VOLT_OK;
    VOLT_CHECK(comm_wrap(mpi, parent->piece_elements, "split", out));
    return VOLT_OK;
}

int volt_comm_split_node(volt_comm *parent, volt_comm **out) {
    VOLT_CHECK_ARG(out);
    *out = NULL;
    VOLT_CHECK_ARG(parent);
    MPI_Comm mpi;
    VOLT_CHECK_MPI(MPI_Comm_split_type(parent->mpi, MPI_COMM_TYPE_SHARED, parent->rank,
                                       MPI_INFO_NULL, &mpi));
    VOLT_CHECK(comm_wrap(mpi, parent->piece_elements, "node", out));
    return VOLT_OK;
}

void volt_comm_destroy(volt_comm *comm) {
    if (!comm) return;
    volt_nccl_destroy(comm->nccl);
    volt_watch_group_destroy(comm->watch);
    free(comm->scratch);
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&comm->mpi);
    free(comm);
}

int volt_comm_rank(const volt_comm *comm) { return comm->rank; }
int volt_comm_size(const volt_comm *comm) { return comm->size; }
MPI_Comm volt_comm_mpi(const volt_comm *comm) { return comm->mpi; }
void volt_comm_set_name(volt_comm *comm, const char *name) {
    volt_watch_group_set_name(comm->watch, name);
}
const char *volt_comm_name(const volt_comm *comm) { return volt_watch_group_name(comm->watch); }

int volt_comm_enable_nccl(volt_comm *comm, int device) {
    VOLT_CHECK_ARG(comm);
    VOLT_CHECK_ARG(device >= 0);
    if (comm->nccl) {
        if (volt_nccl_device(comm->nccl) == device) return VOLT_OK;
        return VOLT_ERROR(VOLT_ERR_ARG, "NCCL is already enabled on cuda:%d, not cuda:%d",
                          volt_nccl_device(comm->nccl), device);
    }
    VOLT_CHECK(volt_nccl_create(comm, device, &comm->nccl));
    return VOLT_OK;
}

/* ---- argument checks and types ---------------------------------------------------------- */

static int check_dtype(volt_dtype dtype) {
    if ((int)dtype < 0 || dtype >= VOLT_DTYPE_COUNT)
        return VOLT_ERROR(VOLT_ERR_ARG, "unknown dtype %d", (int)dtype);
    return VOLT_OK;
}

static int check_reduction(volt_dtype dtype, volt_reduce op) {
    VOLT_CHECK(check_dtype(dtype));
    if ((int)op < VOLT_REDUCE_SUM || op > VOLT_REDUCE_MIN)
        return VOLT_ERROR(VOLT_ERR_ARG, "unknown reduction %d", (int)op);
    if (op == VOLT_REDUCE_AVG && !volt_dtype_is_float(dtype))
        return VOLT_ERROR(VOLT_ERR_ARG,
                          "average of %s values is not defined (integer division would "
                          "round); reduce with VOLT_REDUCE_SUM and divide as you need",
                          volt_dtype_name(dtype));
    return VOLT_OK;
}

/* The MPI type of dtype; reducing: the type must support MPI's arithmetic. */
static int mpi_type(volt_dtype dtype, int reducing, MPI_Datatype *out) {
    switch (dtype) {
    case VOLT_F32: *out = MPI_FLOAT; return VOLT_OK;
    case VOLT_F64: *out = MPI_DOUBLE; return VOLT_OK;
    case VOLT_I32: *out = MPI_INT32_T; return VOLT_OK;
    case VOLT_I64: *out = MPI_INT64_T; return VOLT_OK;
    case VOLT_BF16:
    case VOLT_F16:
        if (reducing)
            return VOLT_ERROR(VOLT_ERR_UNSUPPORTED,
                              "%s reductions on host buffers are not supported: MPI has no "
                              "%s arithmetic (reduce in f32, or use a device buffer on a "
                              "communicator with NCCL enabled)",
                              volt_dtype_name(dtype), volt_dtype_name(dtype));
        *out = MPI_UINT16_T; /* moved, never computed on */
        return VOLT_OK;
    default: break;
    }
    return VOLT_ERROR(VOLT_ERR_ARG, "unknown dtype %d", (int)dtype);
}

static MPI_Op mpi_op(volt_reduce op) {
    switch (op) {
    case VOLT_REDUCE_MAX: return MPI_MAX;
    case VOLT_REDUCE_MIN: return MPI_MIN;
    default: return MPI_SUM; /* SUM, and AVG before its division */
    }
}

/* Bytes of blocks * count elements, or VOLT_ERR_ARG when that overflows size_t. */
static int byte_size(size_t count, size_t blocks, volt_dtype dtype, size_t *out) {
    size_t element = volt_dtype_size(dtype);
    if (blocks && count > SIZE_MAX / element / blocks)
        return VOLT_ERROR(VOLT_ERR_ARG, "%zu x %zu %s elements overflow the address space",
                          blocks, count, volt_dtype_name(dtype));
    *out = count * blocks * element;
    return VOLT_OK;
}

static int ranges_overlap(const void *a, size_t a_bytes, const void *b, size_t b_bytes) {
    uintptr_t a0 = (uintptr_t)a, b0 = (uintptr_t)b;
    return a_bytes && b_bytes && a0 < b0 + b_bytes && b0 < a0 + a_bytes;
}

static size_t piece_count(size_t count, size_t piece_elements) {
    return count / piece_elements + (count % piece_elements != 0);
}

/* Whether buf goes to NCCL: only with NCCL enabled and only for device memory. */
static int on_device(const volt_comm *comm, const void *buf, size_t count, int *device) {
    *device = 0;
    if (comm->nccl && count > 0) VOLT_CHECK(volt_nccl_is_device_buffer(comm->nccl, buf, device));
    return VOLT_OK;
}

/* Both buffers of a two-buffer operation live on the same side. */
static int route_pair(const volt_comm *comm, const void *send, const void *recv, size_t count,
                      int *device) {
    int send_device = 0, recv_device = 0;
    VOLT_CHECK(on_device(comm, send, count, &send_device));
    VOLT_CHECK(on_device(comm, recv, count, &recv_device));
    if (send_device != recv_device)
        return VOLT_ERROR(VOLT_ERR_ARG, "send is %s memory but recv is %s memory",
                          send_device ? "device" : "host", recv_device ? "device" : "host");
    *device = send_device;
    return VOLT_OK;
}

/* ---- the watchdog's numbering ---------------------------------------------------------- */

/* Every operation is numbered in its group when its first MPI or NCCL call is made (all
 * ranks make them in the same order; an operation that fails its local checks first is
 * not numbered, nor one with nothing to move); a blocking one is bracketed from there
 * until it returns, a non-blocking one while it is waited for. */
typedef struct watch_ticket {
    const char *op, *type_name;
    size_t count;
    int blocking, posted;
    uint64_t seq;
} watch_ticket;

/* Before the first MPI or NCCL call of the operation comm is in. */
static void ticket_post(volt_comm *comm) {
    watch_ticket *t = comm->ticket;
    if (!t || t->posted) return;
    t->posted = 1;
    t->seq = volt_watch_post(comm->watch);
    if (t->blocking) volt_watch_begin(comm->watch, t->op, t->seq, t->count, t->type_name);
}

/* ---- requests --------------------------------------------------------------------------- */

/* A request for mpi_slots pieces, or NULL in *out for a blocking call (request == NULL). */
static int request_new(volt_request **request, size_t mpi_slots, volt_request **out) {
    *out = NULL;
    if (!request) return VOLT_OK;
    if (mpi_slots > (size_t)INT_MAX)
        return VOLT_ERROR(VOLT_ERR_ARG, "%zu pieces in one request", mpi_slots);
    size_t bytes = sizeof(volt_request) + mpi_slots * sizeof(MPI_Request);
    volt_request *req = calloc(1, bytes);
    VOLT_CHECK_ALLOC(req, bytes);
    *out = req;
    return VOLT_OK;
}

/* The slot for the next piece's MPI request; NULL for a blocking call. COMM_POST
 * counts it once the piece is posted. */
static MPI_Request *next_slot(volt_request *req) {
    return req ? &req->mpi[req->mpi_count] : NULL;
}

/* An MPI call failed while an operation was being posted: the pieces already posted
 * must still complete (an active non-blocking collective may not be freed), then the
 * request goes. */
static int request_abandon(volt_request *req, int mpi_code, const char *call, int line,
                           const char *func) {
    if (req) {
        if (req->mpi_count > 0) MPI_Waitall(req->mpi_count, req->mpi, MPI_STATUSES_IGNORE);
        free(req);
    }
    return volt_mpi_error(mpi_code, call, __FILE__, line, func);
}

/* An MPI call of an operation being posted must succeed, else the operation fails. */
#define COMM_CHECK(code, req, call)                                                    \
    do {                                                                               \
        int comm_code_ = (code);                                                       \
        if (comm_code_ != MPI_SUCCESS)                                                 \
            return request_abandon((req), comm_code_, (call), __LINE__, __func__);     \
    } while (0)

/* A piece was posted (blocking: it is done; non-blocking: its slot is now in use). The
 * operation is numbered before the call (ticket_post on the enclosing function's comm). */
#define COMM_POST(code, req, call)                                                                 \
    do {                                                                                           \
        ticket_post(comm);                                                                         \
        COMM_CHECK((code), (req), (call));                                                         \
        if (req) (req)->mpi_count++;                                                               \
    } while (0)

static void divide(void *buf, size_t count, volt_dtype dtype, int divisor) {
    if (dtype == VOLT_F32) {
        float *x = buf;
        const float d = (float)divisor;
        for (size_t i = 0; i < count; i++) x[i] /= d;
    } else if (dtype == VOLT_F64) {
        double *x = buf;
        const double d = (double)divisor;
        for (size_t i = 0; i < count; i++) x[i] /= d;
    }
}

/* Ends an MPI operation: the average's division now (blocking) or at wait. */
static int finish_mpi(volt_comm *comm, volt_reduce op, void *buf, size_t count,
                      volt_dtype dtype, volt_request *req, volt_request **request) {
    if (op == VOLT_REDUCE_AVG && comm->size > 1) {
        if (!req) {
            divide(buf, count, dtype, comm->size);
        } else {
            req->avg_buf = buf;
            req->avg_count = count;
            req->avg_dtype = dtype;
            req->avg_divisor = comm->size;
        }
    }
    if (request) *request = req;
    return VOLT_OK;
}

/* Hands an NCCL collective its event slot, or NULL when blocking. */
static void **nccl_event_slot(volt_request *req) { return req ? &req->nccl_event : NULL; }

static int finish_nccl(int status, volt_request *req, volt_request **request) {
    if (status != VOLT_OK) {
        free(req);
        return volt_error_push(status, __FILE__, __LINE__, __func__, "called from here");
    }
    if (request) *request = req;
    return VOLT_OK;
}

/* ---- collectives ------------------------------------------------------------------------ */

static int allreduce_post(volt_comm *comm, void *buf, size_t count, volt_dtype dtype,
                          volt_reduce op, volt_request **request) {
    if (request) *request = NULL;
    VOLT_CHECK_ARG(comm);
    VOLT_CHECK_ARG(buf || count == 0);
    VOLT_CHECK(check_reduction(dtype, op));
    size_t bytes = 0;
    VOLT_CHECK(byte_size(count, 1, dtype, &bytes));
    volt_prof_charge_bytes((double)bytes); /* the buffer's size, whatever the algorithm */
    int device;
    VOLT_CHECK(on_device(comm, buf, count, &device));
    volt_request *req;
    if (device) {
        VOLT_CHECK(request_new(request, 0, &req));
        ticket_post(comm);
        return finish_nccl(volt_nccl_allreduce(comm->nccl, buf, count, dtype, op,
                                               nccl_event_slot(req)),
                           req, request);
    }
    MPI_Datatype type = MPI_DATATYPE_NULL;
    VOLT_CHECK(mpi_type(dtype, 1, &type));
    const size_t piece = comm->piece_elements, element = volt_dtype_size(dtype);
    VOLT_CHECK(request_new(request, piece_count(count, piece), &req));
    for (size_t offset = 0; offset < count; offset += piece) {
        int n = (int)(count - offset < piece ? count - offset : piece);
        char *at = (char *)buf + offset * element;
        MPI_Request *slot = next_slot(req);
        if (slot)
            COMM_POST(MPI_Iallreduce(MPI_IN_PLACE, at, n, type, mpi_op(op), comm->mpi, slot),
                      req, "MPI_Iallreduce");
        else
            COMM_POST(MPI_Allreduce(MPI_IN_PLACE, at, n, type, mpi_op(op), comm->mpi), req,
                      "MPI_Allreduce");
    }
    return finish_mpi(comm, op, buf, count, dtype, req, request);
}

/* dst[i] = dst[i] op src[i] (AVG: a sum; the division comes at the end). */
#define REDUCE_LOOP(T)                                                                             \
    do {                                                                                           \
        T *restrict d = dst;                                                                       \
        const T *restrict x = src;                                                                 \
        if (op == VOLT_REDUCE_MAX)                                                                 \
            for (size_t i = 0; i < n; i++) d[i] = x[i] > d[i] ? x[i] : d[i];                       \
        else if (op == VOLT_REDUCE_MIN)                                                            \
            for (size_t i = 0; i < n; i++) d[i] = x[i] < d[i] ? x[i] : d[i];                       \
        else                                                                                       \
            for (size_t i = 0; i < n; i++) d[i] += x[i];                                           \
    } while (0)
static void reduce_into(void *dst, const void *src, size_t n, volt_dtype dtype, volt_reduce op) {
    switch (dtype) {
    case VOLT_F32:
        REDUCE_LOOP(float);
        break;
    case VOLT_F64:
        REDUCE_LOOP(double);
        break;
    case VOLT_I32:
        REDUCE_LOOP(int32_t);
        break;
    case VOLT_I64:
        REDUCE_LOOP(int64_t);
        break;
    default:
        break; /* 16-bit types never reach a host reduction (mpi_type refuses them) */
    }
}

/* Blocking reduce-scatter of a host buffer as a ring: in step s (0 .. size - 2) rank r
 * sends its running reduction of block (r - s - 1) mod size to rank r + 1, receives that
 * of block (r - s - 2) mod size from rank r - 1 and adds its own part of it; after the last
 * step it holds block r reduced over every rank. Each rank sends and receives
 * (size - 1) / size of the buffer, as MPI_Reduce_scatter_block should; Open MPI 4.1's
 * picks a slower algorithm for small groups (0.8 MB over 2 ranks: about 100-200 us, the
 * ring 70 us, a whole all-reduce 67 us), which made ZeRO-1's step slower than DDP's. */
static int ring_reduce_scatter(volt_comm *comm, const void *send, void *recv, size_t count,
                               volt_dtype dtype, MPI_Datatype type, volt_reduce op) {
    const size_t element = volt_dtype_size(dtype), bytes = count * element;
    if (comm->scratch_bytes < 2 * bytes) {
        void *grown = realloc(comm->scratch, 2 * bytes);
        VOLT_CHECK_ALLOC(grown, 2 * bytes);
        comm->scratch = grown;
        comm->scratch_bytes = 2 * bytes;
    }
    char *running = comm->scratch, *incoming = running + bytes;
    const int p = comm->size, r = comm->rank, right = (r + 1) % p, left = (r + p - 1) % p;
    const char *blocks = send;
    memcpy(running, blocks + (size_t)((r + p - 1) % p) * bytes, bytes);
    ticket_post(comm);
    for (int step = 0; step < p - 1; step++) {
        int block = ((r - step - 2) % p + 2 * p) % p;
        int code = MPI_Sendrecv(running, (int)count, type, right, 0, incoming, (int)count, type,
                                left, 0, comm->mpi, MPI_STATUS_IGNORE);
        if (code != MPI_SUCCESS)
            return volt_mpi_error(code, "MPI_Sendrecv (ring reduce-scatter)", __FILE__, __LINE__,
                                  __func__);
        /* the received partial, then this rank's part: the same order on every block */
        reduce_into(incoming, blocks + (size_t)block * bytes, count, dtype, op);
        char *swap = running;
        running = incoming;
        incoming = swap;
    }
    memcpy(recv, running, bytes);
    return VOLT_OK;
}

static int reduce_scatter_post(volt_comm *comm, const void *send, void *recv, size_t count,
                               volt_dtype dtype, volt_reduce op, volt_request **request) {
    if (request) *request = NULL;
    VOLT_CHECK_ARG(comm);
    VOLT_CHECK_ARG((send && recv) || count == 0);
    VOLT_CHECK(check_reduction(dtype, op));
    size_t send_bytes = 0, recv_bytes = 0;
    VOLT_CHECK(byte_size(count, (size_t)comm->size, dtype, &send_bytes));
    VOLT_CHECK(byte_size(count, 1, dtype, &recv_bytes));
    volt_prof_charge_bytes((double)send_bytes);
    if (ranges_overlap(send, send_bytes, recv, recv_bytes))
        return VOLT_ERROR(VOLT_ERR_ARG, "reduce-scatter: send and recv overlap");
    int device;
    VOLT_CHECK(route_pair(comm, send, recv, count, &device));
    volt_request *req;
    if (device) {
        VOLT_CHECK(request_new(request, 0, &req));
        ticket_post(comm);
        return finish_nccl(volt_nccl_reduce_scatter(comm->nccl, send, recv, count, dtype, op,
                                                    nccl_event_slot(req)),
                           req, request);
    }
    MPI_Datatype type = MPI_DATATYPE_NULL;
    VOLT_CHECK(mpi_type(dtype, 1, &type));
    const size_t piece = comm->piece_elements, element = volt_dtype_size(dtype);
    if (!request && comm->size > 1 && count > 0 && count <= piece) {
        VOLT_CHECK(ring_reduce_scatter(comm, send, recv, count, dtype, type, op));
        return finish_mpi(comm, op, recv, count, dtype, NULL, NULL);
    }
    if (count * (size_t)comm->size <= piece) { /* no overflow: send_bytes did not */
        VOLT_CHECK(request_new(request, count > 0, &req));
        if (count > 0) {
            MPI_Request *slot = next_slot(req);
            if (slot)
                COMM_POST(MPI_Ireduce_scatter_block(send, recv, (int)count, type,
                                                    mpi_op(op), comm->mpi, slot),
                          req, "MPI_Ireduce_scatter_block");
            else
                COMM_POST(MPI_Reduce_scatter_block(send, recv, (int)count, type,
                                                   mpi_op(op), comm->mpi),
                          req, "MPI_Reduce_scatter_block");
        }
        return finish_mpi(comm, op, recv, count, dtype, req, request);
    }
    /* In pieces: rank r is the root of the reductions of block r's pieces. */
    const size_t pieces = piece_count(count, piece);
    if (pieces > SIZE_MAX / (size_t)comm->size)
        return VOLT_ERROR(VOLT_ERR_ARG, "reduce-scatter of %zu elements: too many pieces",
                          count);
    VOLT_CHECK(request_new(request, pieces * (size_t)comm->size, &req));
    for (int root = 0; root < comm->size; root++) {
        for (size_t offset = 0; offset < count; offset += piece) {
            int n = (int)(count - offset < piece ? count - offset : piece);
            const void *from = (const char *)send + ((size_t)root * count + offset) * element;
            void *to = root == comm->rank ? (char *)recv + offset * element : NULL;
            MPI_Request *slot = next_slot(req);
            if (slot)
                COMM_POST(MPI_Ireduce(from, to, n, type, mpi_op(op), root, comm->mpi, slot),
                          req, "MPI_Ireduce");
            else
                COMM_POST(MPI_Reduce(from, to, n, type, mpi_op(op), root, comm->mpi), req,
                          "MPI_Reduce");
        }
    }
    return finish_mpi(comm, op, recv, count, dtype, req, request);
}

static int allgather_post(volt_comm *comm, const void *send, void *recv, size_t count,
                          volt_dtype dtype, volt_request **request) {
    if (request) *request = NULL;
    VOLT_CHECK_ARG(comm);
    VOLT_CHECK_ARG((send && recv) || count == 0);
    VOLT_CHECK(check_dtype(dtype));
    size_t send_bytes = 0, recv_bytes = 0;
    VOLT_CHECK(byte_size(count, 1, dtype, &send_bytes));
    VOLT_CHECK(byte_size(count, (size_t)comm->size, dtype, &recv_bytes));
    volt_prof_charge_bytes((double)recv_bytes);
    const size_t element = volt_dtype_size(dtype);
    const int in_place =
        count > 0 && send == (const char *)recv + (size_t)comm->rank * count * element;
    if (!in_place && ranges_overlap(send, send_bytes, recv, recv_bytes))
        return VOLT_ERROR(VOLT_ERR_ARG, "all-gather: send overlaps recv other than as "
                                        "recv + rank * count (in place)");
    int device;
    VOLT_CHECK(route_pair(comm, send, recv, count, &device));
    volt_request *req;
    if (device) {
        VOLT_CHECK(request_new(request, 0, &req));
        ticket_post(comm);
        return finish_nccl(volt_nccl_allgather(comm->nccl, send, recv, count, dtype,
                                               nccl_event_slot(req)),
                           req, request);
    }
    MPI_Datatype type = MPI_DATATYPE_NULL;
    VOLT_CHECK(mpi_type(dtype, 0, &type));
    /* elements of each block per call: size * piece of them in all */
    const size_t piece = comm->piece_elements / (size_t)comm->size
                             ? comm->piece_elements / (size_t)comm->size
                             : 1;
    VOLT_CHECK(request_new(request, piece_count(count, piece), &req));
    if (count > 0 && count <= piece) {
        MPI_Request *slot = next_slot(req);
        const void *send_buf = in_place ? MPI_IN_PLACE : send;
        if (slot)
            COMM_POST(MPI_Iallgather(send_buf, (int)count, type, recv, (int)count, type,
                                     comm->mpi, slot),
                      req, "MPI_Iallgather");
        else
            COMM_POST(MPI_Allgather(send_buf, (int)count, type, recv, (int)count, type,
                                    comm->mpi),
                      req, "MPI_Allgather");
    } else if (count > piece) {
        /* Piece [o, o + n) of every block at once: the receive type is n elements with
         * the extent of a whole block, so block r's piece lands at r * count + o. A
         * datatype may be freed while operations using it are pending. */
        for (size_t offset = 0; offset < count; offset += piece) {
            int n = (int)(count - offset < piece ? count - offset : piece);
            MPI_Datatype run, block;
            COMM_CHECK(MPI_Type_contiguous(n, type, &run), req, "MPI_Type_contiguous");
            int code = MPI_Type_create_resized(run, 0, (MPI_Aint)(count * element), &block);
            MPI_Type_free(&run);
            COMM_CHECK(code, req, "MPI_Type_create_resized");
            code = MPI_Type_commit(&block);
            if (code != MPI_SUCCESS) MPI_Type_free(&block);
            COMM_CHECK(code, req, "MPI_Type_commit");
            const void *send_buf = in_place ? MPI_IN_PLACE : (const char *)send + offset * element;
            char *at = (char *)recv + offset * element;
            MPI_Request *slot = next_slot(req);
            ticket_post(comm);
            code = slot ? MPI_Iallgather(send_buf, n, type, at, 1, block, comm->mpi, slot)
                        : MPI_Allgather(send_buf, n, type, at, 1, block, comm->mpi);
            MPI_Type_free(&block);
            COMM_POST(code, req, slot ? "MPI_Iallgather" : "MPI_Allgather");
        }
    }
    if (request) *request = req;
    return VOLT_OK;
}

static int broadcast_post(volt_comm *comm, void *buf, size_t count, volt_dtype dtype, int root,
                          volt_request **request) {
    if (request) *request = NULL;
    VOLT_CHECK_ARG(comm);
    VOLT_CHECK_ARG(buf || count == 0);
    VOLT_CHECK(check_dtype(dtype));
    if (root < 0 || root >= comm->size)
        return VOLT_ERROR(VOLT_ERR_ARG, "broadcast root %d outside the group of %d ranks",
                          root, comm->size);
    volt_prof_charge_bytes((double)count * (double)volt_dtype_size(dtype));
    size_t bytes;
    VOLT_CHECK(byte_size(count, 1, dtype, &bytes));
    int device;
    VOLT_CHECK(on_device(comm, buf, count, &device));
    volt_request *req;
    if (device) {
        VOLT_CHECK(request_new(request, 0, &req));
        ticket_post(comm);
        return finish_nccl(volt_nccl_broadcast(comm->nccl, buf, count, dtype, root,
                                               nccl_event_slot(req)),
                           req, request);
    }
    MPI_Datatype type = MPI_DATATYPE_NULL;
    VOLT_CHECK(mpi_type(dtype, 0, &type));
    const size_t piece = comm->piece_elements, element = volt_dtype_size(dtype);
    VOLT_CHECK(request_new(request, piece_count(count, piece), &req));
    for (size_t offset = 0; offset < count; offset += piece) {
        int n = (int)(count - offset < piece ? count - offset : piece);
        char *at = (char *)buf + offset * element;
        MPI_Request *slot = next_slot(req);
        if (slot)
            COMM_POST(MPI_Ibcast(at, n, type, root, comm->mpi, slot), req, "MPI_Ibcast");
        else
            COMM_POST(MPI_Bcast(at, n, type, root, comm->mpi), req, "MPI_Bcast");
    }
    if (request) *request = req;
    return VOLT_OK;
}

static int barrier_post(volt_comm *comm, volt_request **request) {
    if (request) *request = NULL;
    VOLT_CHECK_ARG(comm);
    volt_request *req;
    VOLT_CHECK(request_new(request, 1, &req));
    MPI_Request *slot = next_slot(req);
    if (slot)
        COMM_POST(MPI_Ibarrier(comm->mpi, slot), req, "MPI_Ibarrier");
    else
        COMM_POST(MPI_Barrier(comm->mpi), req, "MPI_Barrier");
    if (request) *request = req;
    return VOLT_OK;
}

/* ---- the calls: numbered and bracketed for the watchdog -------------------------------- */

static void watch_open(volt_comm *comm, watch_ticket *t, const char *op, size_t count,
                       volt_dtype dtype, volt_request **request) {
    *t = (watch_ticket){
        .op = op,
        .type_name = count && (unsigned)dtype < VOLT_DTYPE_COUNT ? volt_dtype_name(dtype) : NULL,
        .count = count,
        .blocking = request == NULL};
    comm->ticket = t;
}

static int watch_close(volt_comm *comm, volt_request **request, int status) {
    const watch_ticket *t = comm->ticket;
    comm->ticket = NULL;
    if (!t->posted) return status;
    if (t->blocking) {
        volt_watch_end();
    } else if (status == VOLT_OK && *request) {
        (*request)->watch = comm->watch;
        (*request)->watch_op = t->op;
        (*request)->watch_type = t->type_name;
        (*request)->watch_seq = t->seq;
        (*request)->watch_count = t->count;
    }
    return status;
}

int volt_comm_allreduce(volt_comm *comm, void *buf, size_t count, volt_dtype dtype, volt_reduce op,
                        volt_request **request) {
    if (request) *request = NULL;
    VOLT_CHECK_ARG(comm);
    watch_ticket t;
    watch_open(comm, &t, "all-reduce", count, dtype, request);
    return watch_close(comm, request, allreduce_post(comm, buf, count, dtype, op, request));
}

int volt_comm_reduce_scatter(volt_comm *comm, const void *send, void *recv, size_t count,
                             volt_dtype dtype, volt_reduce op, volt_request **request) {
    if (request) *request = NULL;
    VOLT_CHECK_ARG(comm);
    watch_ticket t;
    watch_open(comm, &t, "reduce-scatter", count, dtype, request);
    return watch_close(comm, request,
                       reduce_scatter_post(comm, send, recv, count, dtype, op, request));
}

int volt_comm_allgather(volt_comm *comm, const void *send, void *recv, size_t count,
                        volt_dtype dtype, volt_request **request) {
    if (request) *request = NULL;
    VOLT_CHECK_ARG(comm);
    watch_ticket t;
    watch_open(comm, &t, "all-gather", count, dtype, request);
    return watch_close(comm, request, allgather_post(comm, send, recv, count, dtype, request));
}

int volt_comm_broadcast(volt_comm *comm, void *buf, size_t count, volt_dtype dtype, int root,
                        volt_request **request) {
    if (request) *request = NULL;
    VOLT_CHECK_ARG(comm);
    watch_ticket t;
    watch_open(comm, &t, "broadcast", count, dtype, request);
    return watch_close(comm, request, broadcast_post(comm, buf, count, dtype, root, request));
}

int volt_comm_barrier(volt_comm *comm, volt_request **request) {
    if (request) *request = NULL;
    VOLT_CHECK_ARG(comm);
    watch_ticket t;
    watch_open(comm, &t, "barrier", 0, VOLT_F32, request);
    return watch_close(comm, request, barrier_post(comm, request));
}

void volt_comm_watch_begin(volt_comm *comm, const char *what) {
    volt_watch_begin(comm->watch, what, volt_watch_post(comm->watch), 0, NULL);
}

void volt_comm_watch_end(void) { volt_watch_end(); }

/* ---- completion ------------------------------------------------------------------------- */

int volt_comm_wait(volt_request *request) {
    if (!request) return VOLT_OK;
    int status = VOLT_OK;
    if (request->watch_op)
        volt_watch_begin(request->watch, request->watch_op, request->watch_seq,
                         request->watch_count, request->watch_type);
    if (request->nccl_event) {
        status = volt_nccl_event_wait(request->nccl_event);
        if (status != VOLT_OK)
            status = volt_error_push(status, __FILE__, __LINE__, __func__, "called from here");
    } else if (request->mpi_count > 0) {
        int code = MPI_Waitall(request->mpi_count, request->mpi, MPI_STATUSES_IGNORE);
        if (code != MPI_SUCCESS)
            status = volt_mpi_error(code, "MPI_Waitall", __FILE__, __LINE__, __func__);
    }
    if (request->watch_op) volt_watch_end();
    if (status == VOLT_OK && request->avg_divisor > 1)
        divide(request->avg_buf, request->avg_count, request->avg_dtype, request->avg_divisor);
    free(request);
    return status;
}

int volt_comm_test(volt_request *request, int *done) {
    VOLT_CHECK_ARG(done);
    *done = 1;
    if (!request) return VOLT_OK;
    if (request->nccl_event) {
        VOLT_CHECK(volt_nccl_event_query(request->nccl_event, done));
    } else if (request->mpi_count > 0) {
        /* Testall frees the MPI requests only once all completed; a later Waitall on the
         * MPI_REQUEST_NULLs left then returns at once. */
        int flag = 0;
        VOLT_CHECK_MPI(MPI_Testall(request->mpi_count, request->mpi, &flag,
                                   MPI_STATUSES_IGNORE));
        *done = flag;
    }
    return VOLT_OK;
}

/* ---- agreement -------------------------------------------------------------------------- */

static int agree_body(volt_comm *comm, int local_status) {
    VOLT_CHECK_ARG(comm);
    /* The lowest failing rank, or size when every rank succeeded. */
    int lowest = local_status != VOLT_OK ? comm->rank : comm->size;
    ticket_post(comm);
    VOLT_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, &lowest, 1, MPI_INT, MPI_MIN, comm->mpi));
    if (lowest == comm->size) return VOLT_OK;
    struct {
        int status;
        char message[COMM_AGREE_MESSAGE_BYTES];
    } verdict;
    memset(&verdict, 0, sizeof verdict);
    if (comm->rank == lowest) {
        verdict.status = local_status;
        const char *message = volt_error_message();
        if (message[0])
            snprintf(verdict.message, sizeof verdict.message, "%s", message);
        else
            snprintf(verdict.message, sizeof verdict.message, "failed with %s (no message)",
                     volt_status_name(local_status));
    }
    VOLT_CHECK_MPI(MPI_Bcast(&verdict, (int)sizeof verdict, MPI_BYTE, lowest, comm->mpi));
    verdict.message[sizeof verdict.message - 1] = '\0';
    return volt_error_push(verdict.status, __FILE__, __LINE__, __func__, "rank %d: %s",
                           lowest, verdict.message);
}

int volt_comm_agree(volt_comm *comm, int local_status) {
    VOLT_CHECK_ARG(comm);
    watch_ticket t;
    watch_open(comm, &t, "agreement", 0, VOLT_F32, NULL);
    return watch_close(comm, NULL, agree_body(comm, local_status));
}

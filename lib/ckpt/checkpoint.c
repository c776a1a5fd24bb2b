/* lib/ckpt/checkpoint.c — checkpoint files (see checkpoint.h and
 * docs/checkpoint-format.md).
 *
 * A rank's part of a parameter is a range [a, b) of the parameter's own row-major
 * elements. In the file that range is selected as a union of hyperslabs of the global
 * tensor (select_part): the range is cut into boxes of the parameter's own shape (at
 * most about 2 ndim of them: a partial row, whole rows, whole planes, ... and back down),
 * and a box of a split parameter (tensor parallelism: volt_param_slice) is moved to its
 * place in the global tensor, cut where it crosses from one block to the next. In memory
 * the range is contiguous; the map keeps row-major order, so HDF5 pairs the elements
 * right. Writes are collective (H5FD_MPIO_COLLECTIVE, every rank calls H5Dwrite for
 * every tensor, with an empty selection when it owns nothing); metadata operations are
 * collective too (H5Pset_all_coll_metadata_ops, H5Pset_coll_metadata_write). Reads are
 * independent: each rank reads what it keeps. */
#include "ckpt/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "comm/watchdog.h"
#include "data/hdf5_util.h"
#include "volt/version.h"

struct volt_ckpt {
    volt_comm *comm; /* NULL: one process */
    int rank, size;
    int tp_size; /* writing: rank r holds part r % tp_size of each split parameter */
    int writing;
    hid_t file;
    hid_t xfer;      /* data transfer properties: collective when writing with MPI */
    char *path;      /* the final path */
    char *temp_path; /* writing: where the data goes until commit */
    int status;      /* writing: the first failure of this rank (reported by commit) */
};

/* ---- small helpers ---------------------------------------------------------------------- */

/* Every block of HDF5 calls: quiet (volt_h5_enter), and, on a parallel file, timed by the
 * watchdog as one wait, so that a rank stuck in MPI-IO (a dead link, a file system that
 * stopped) ends the job after comm.timeout_s instead of hanging. Not numbered in a group:
 * some blocks run on one rank only; which ranks did not arrive is told by the waits in
 * lib/comm. A file of one process (no comm) is not timed: nobody waits for it. */
static void ckpt_io_enter(const volt_ckpt *ckpt, volt_h5_quiet *quiet) {
    volt_h5_enter(quiet);
    if (ckpt->comm) volt_watch_begin(NULL, "checkpoint I/O (HDF5)", 0, 0, NULL);
}

static void ckpt_io_leave(const volt_ckpt *ckpt, volt_h5_quiet *quiet) {
    if (ckpt->comm) volt_watch_end();
    volt_h5_leave(quiet);
}

static char *copy_string(const char *text) {
    size_t n = strlen(text) + 1;
    char *copy = malloc(n);
    if (copy) memcpy(copy, text, n);
    return copy;
}

/* <dir>/.<base>.tmp for <dir>/<base>. */
static char *temp_path_for(const char *path) {
    const char *slash = strrchr(path, '/');
    size_t dir_length = slash ? (size_t)(slash - path) + 1 : 0;
    const char *base = path + dir_length;
    size_t n = strlen(path) + 8;
    char *temp = malloc(n);
    if (temp) snprintf(temp, n, "%.*s.%s.tmp", (int)dir_length, path, base);
    return temp;
}

static hid_t h5_type(volt_dtype dtype) {
    return dtype == VOLT_F64 ? H5T_NATIVE_DOUBLE : H5T_NATIVE_FLOAT;
}

static int agree(volt_ckpt *ckpt, int status) {
    return ckpt->comm ? volt_comm_agree(ckpt->comm, status) : status;
}

/* Adds to the selection of space (the parameter's global tensor) the box start, count
 * given in the parameter's own coordinates. A split parameter holds, along slice.dim,
 * the `piece` indices from part x piece of each of the `blocks` blocks: its index l lies
 * in block l / piece, at global index (l / piece) block + part piece + l % piece. A box
 * that crosses from one block to the next becomes one box per block. */
static int select_box(hid_t space, const volt_param *param, const hsize_t *start,
                      const hsize_t *count) {
    const volt_param_slice *s = &param->slice;
    if (s->parts == 1)
        return H5Sselect_hyperslab(space, H5S_SELECT_OR, start, NULL, count, NULL) < 0 ? -1 : 0;
    int ndim = param->tensor->ndim, dim = s->dim;
    hsize_t block = (hsize_t)s->global_shape[dim] / (hsize_t)s->blocks;
    hsize_t piece = block / (hsize_t)s->parts;
    hsize_t global_start[H5S_MAX_RANK], global_count[H5S_MAX_RANK];
    for (int d = 0; d < ndim; d++) {
        global_start[d] = start[d];
        global_count[d] = count[d];
    }
    hsize_t l = start[dim], end = start[dim] + count[dim];
    while (l < end) {
        hsize_t b = l / piece;
        hsize_t upto = (b + 1) * piece < end ? (b + 1) * piece : end;
        global_start[dim] = b * block + (hsize_t)s->part * piece + (l - b * piece);
        global_count[dim] = upto - l;
        if (H5Sselect_hyperslab(space, H5S_SELECT_OR, global_start, NULL, global_count, NULL) < 0)
            return -1;
        l = upto;
    }
    return 0;
}

/* Selects, in space (the parameter's global tensor), the elements [a, b) of the
 * parameter's own row-major numbering (none when a == b). */
static int select_part(hid_t space, const volt_param *param, hsize_t a, hsize_t b) {
    if (H5Sselect_none(space) < 0) return -1;
    if (a >= b) return 0;
    const volt_tensor *t = param->tensor;
    int ndim = t->ndim;
    if (ndim == 0) return H5Sselect_all(space) < 0 ? -1 : 0;
    hsize_t dims[H5S_MAX_RANK];   /* the parameter's own shape */
    hsize_t stride[H5S_MAX_RANK]; /* elements per step of each dimension */
    for (int d = 0; d < ndim; d++) dims[d] = (hsize_t)t->shape[d];
    stride[ndim - 1] = 1;
    for (int k = ndim - 2; k >= 0; k--) stride[k] = stride[k + 1] * dims[k + 1];
    while (a < b) {
        /* the outermost dimension k along which whole steps fit from a */
        int k = 0;
        while (k < ndim - 1 && (a % stride[k] != 0 || a + stride[k] > b)) k++;
        hsize_t start[H5S_MAX_RANK], count[H5S_MAX_RANK];
        hsize_t rest = a;
        for (int d = 0; d < ndim; d++) {
            start[d] = rest / stride[d];
            rest %= stride[d];
            count[d] = d < k ? 1 : dims[d];
        }
        hsize_t steps = (b - a) / stride[k];
        if (steps > dims[k] - start[k]) steps = dims[k] - start[k];
        count[k] = steps;
        for (int d = k + 1; d < ndim; d++) start[d] = 0;
        if (select_box(space, param, start, count) < 0) return -1;
        a += steps * stride[k];
    }
    return 0;
}

/* The shape of the parameter's global tensor (its own unless it is split). */
static int global_dims(const volt_param *param, hsize_t *dims) {
    int ndim = param->tensor->ndim;
    for (int d = 0; d < ndim; d++) dims[d] = (hsize_t)param->slice.global_shape[d];
    return ndim;
}

/* Makes (collectively) the group at path and its parents. */
static hid_t open_or_create_group(hid_t file, const char *path) {
    if (H5Lexists(file, path, H5P_DEFAULT) > 0) return H5Gopen2(file, path, H5P_DEFAULT);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t group = H5Gcreate2(file, path, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(lcpl);
    return group;
}

/* Whether every link on the way to path exists (H5Lexists fails on a missing parent). */
static int path_exists(hid_t file, const char *path) {
    char partial[512];
    size_t n = strlen(path);
    if (n >= sizeof partial) return 0;
    for (size_t i = 1; i <= n; i++) {
        if (i < n && path[i] != '/') continue;
        memcpy(partial, path, i);
        partial[i] = '\0';
        if (H5Lexists(file, partial, H5P_DEFAULT) <= 0) return 0;
    }
    return 1;
}

/* Writes the elements [a, b) of the parameter (its own numbering) from data (holding
 * exactly them) into the dataset of its global tensor, collectively. */
static int write_range(volt_ckpt *ckpt, hid_t dataset, hid_t type, const volt_param *param,
                       hsize_t a, hsize_t b, const void *data) {
    hid_t file_space = H5Dget_space(dataset);
    hsize_t n = b > a ? b - a : 1;
    hid_t memory_space = H5Screate_simple(1, &n, NULL);
    int failed = file_space < 0 || memory_space < 0 || select_part(file_space, param, a, b) < 0;
    if (!failed && b <= a) failed = H5Sselect_none(memory_space) < 0;
    if (!failed) failed = H5Dwrite(dataset, type, memory_space, file_space, ckpt->xfer, data) < 0;
    if (memory_space >= 0) H5Sclose(memory_space);
    if (file_space >= 0) H5Sclose(file_space);
    return failed ? -1 : 0;
}

/* Reads the elements [a, b) of the parameter (its own numbering) from the dataset of its
 * global tensor into data. */
static int read_range(volt_ckpt *ckpt, hid_t dataset, hid_t type, const volt_param *param,
                      hsize_t a, hsize_t b, void *data) {
    if (b <= a) return 0;
    hid_t file_space = H5Dget_space(dataset);
    hsize_t n = b - a;
    hid_t memory_space = H5Screate_simple(1, &n, NULL);
    int failed = file_space < 0 || memory_space < 0 || select_part(file_space, param, a, b) < 0 ||
                 H5Dread(dataset, type, memory_space, file_space, ckpt->xfer, data) < 0;
    if (memory_space >= 0) H5Sclose(memory_space);
    if (file_space >= 0) H5Sclose(file_space);
    return failed ? -1 : 0;
}

static hid_t create_dataset(hid_t file, const char *path, hid_t type, int ndim,
                            const hsize_t *dims) {
    hid_t space = ndim == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(ndim, dims, NULL);
    if (space < 0) return -1;
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    /* every element is written: no fill values first (parallel HDF5 would write them) */
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
    hid_t dataset = H5Dcreate2(file, path, type, space, lcpl, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Pclose(lcpl);
    H5Sclose(space);
    return dataset;
}

static int fail_write(volt_ckpt *ckpt, int status, const char *what, const char *name) {
    volt_h5_reason_buffer reason = volt_h5_reason();
    status = VOLT_ERROR(status, "checkpoint %s: cannot write %s%s%s", ckpt->path, what,
                        name ? name : "", reason.text);
    if (ckpt->status == VOLT_OK) ckpt->status = status;
    return status;
}

/* ---- writing ---------------------------------------------------------------------------- */

static void ckpt_free(volt_ckpt *ckpt) {
    if (!ckpt) return;
    free(ckpt->path);
    free(ckpt->temp_path);
    free(ckpt);
}

static int new_ckpt(volt_comm *comm, const char *path, int writing, volt_ckpt **out) {
    volt_ckpt *ckpt = calloc(1, sizeof *ckpt);
    VOLT_CHECK_ALLOC(ckpt, sizeof *ckpt);
    ckpt->comm = comm;
    ckpt->rank = comm ? volt_comm_rank(comm) : 0;
    ckpt->size = comm ? volt_comm_size(comm) : 1;
    ckpt->tp_size = 1;
    ckpt->writing = writing;
    ckpt->file = -1;
    ckpt->xfer = -1;
    ckpt->path = copy_string(path);
    ckpt->temp_path = writing ? temp_path_for(path) : NULL;
    if (!ckpt->path || (writing && !ckpt->temp_path)) {
        ckpt_free(ckpt);
        return VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory for a checkpoint's paths");
    }
    *out = ckpt;
    return VOLT_OK;
}

/* new_ckpt on every rank of comm, agreed: all have one, or none (and the same error). */
static int agreed_new_ckpt(volt_comm *comm, const char *path, int writing, volt_ckpt **out) {
    volt_ckpt *ckpt = NULL;
    int status = new_ckpt(comm, path, writing, &ckpt);
    if (comm) status = volt_comm_agree(comm, status);
    if (status != VOLT_OK) {
        if (ckpt) ckpt_free(ckpt); /* made here, not on another rank */
        return status;
    }
    *out = ckpt;
    return VOLT_OK;
}

/* MPI-IO with a group; collective metadata only when writing (readers open different
 * objects: each its own range). */
static hid_t file_access(volt_ckpt *ckpt) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return -1;
    /* the 1.8 format at least: attributes over 64 KiB (a long configuration) go to dense
     * storage instead of failing */
    if (ckpt->writing) H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST);
    if (ckpt->comm) {
        H5Pset_fapl_mpio(fapl, volt_comm_mpi(ckpt->comm), MPI_INFO_NULL);
        if (ckpt->writing) {
            H5Pset_all_coll_metadata_ops(fapl, 1);
            H5Pset_coll_metadata_write(fapl, 1);
        }
    }
    return fapl;
}

/* The part of a parameter (its element numbering) in flat range [lo, hi): [*a, *b). */
static void param_part(const volt_param *param, size_t lo, size_t hi, hsize_t *a, hsize_t *b) {
    size_t from = lo > param->offset ? lo : param->offset;
    size_t to = hi < param->offset + param->numel ? hi : param->offset + param->numel;
    if (to < from) to = from;
    *a = from - param->offset;
    *b = to - param->offset;
}

/* Replicated data (the model; DDP's optimizer state), held whole by every rank of a dp
 * group, is written as if sharded: the rank of dp index d of D (rank r: d = r / tp_size,
 * D = P / tp_size) writes what lies in the d-th of D equal ranges of its flat buffer, so
 * that (as with ZeRO-1 shards) a tensor mostly has one writer. (Every rank writing 1/P
 * of every tensor makes the ranks contend for the same regions of the file: twice as
 * slow on one node.) The ranks of one tp index have the same buffer layout. */
static void replicated_range(const volt_ckpt *ckpt, size_t flat_size, size_t *lo, size_t *hi) {
    size_t replicas = (size_t)(ckpt->size / ckpt->tp_size);
    size_t replica = (size_t)(ckpt->rank / ckpt->tp_size);
    *lo = flat_size * replica / replicas;
    *hi = flat_size * (replica + 1) / replicas;
}

/* Whether this rank writes (its share of) the parameter: the part of a split parameter
 * is written by the ranks of its tp index, a whole parameter (every rank holds the
 * same) by those of tp index 0 only. */
static int writes_param(const volt_ckpt *ckpt, const volt_param *param) {
    return volt_param_is_split(param) || ckpt->rank % ckpt->tp_size == 0;
}

/* Every split parameter must be this rank's part of tp_size (volt_ckpt_set_tensor_parallel):
 * otherwise its parts would be written over each other, or not at all. A failure is kept
 * in ckpt->status, so that this rank writes nothing but still makes every call. */
static int check_slices(volt_ckpt *ckpt, volt_params *params) {
    int tp_rank = ckpt->rank % ckpt->tp_size;
    for (int i = 0; i < volt_params_count(params); i++) {
        const volt_param *param = volt_params_get(params, i);
        if (!volt_param_is_split(param) ||
            (param->slice.parts == ckpt->tp_size && param->slice.part == tp_rank))
            continue;
        int status = VOLT_ERROR(VOLT_ERR_ARG,
                                "checkpoint %s: %s holds part %d of %d of its tensor, but rank %d "
                                "has tensor-parallel index %d of %d "
                                "(volt_ckpt_set_tensor_parallel)",
                                ckpt->path, param->name, param->slice.part, param->slice.parts,
                                ckpt->rank, tp_rank, ckpt->tp_size);
        if (ckpt->status == VOLT_OK) ckpt->status = status;
        return status;
    }
    return VOLT_OK;
}

int volt_ckpt_set_tensor_parallel(volt_ckpt *ckpt, int tp_size) {
    VOLT_CHECK_ARG(ckpt && ckpt->writing);
    if (tp_size < 1 || ckpt->size % tp_size != 0)
        return VOLT_ERROR(VOLT_ERR_ARG,
                          "checkpoint %s: a tensor-parallel degree of %d does not divide the %d "
                          "ranks writing it",
                          ckpt->path, tp_size, ckpt->size);
    ckpt->tp_size = tp_size;
    return VOLT_OK;
}

int volt_ckpt_create(volt_comm *comm, const char *path, volt_ckpt **out) {
    VOLT_CHECK_ARG(path && *path && out);
    *out = NULL;
    volt_ckpt *ckpt;
    VOLT_CHECK(agreed_new_ckpt(comm, path, 1, &ckpt));
    int status = VOLT_OK;
    volt_h5_quiet quiet;
    ckpt_io_enter(ckpt, &quiet);
    hid_t fapl = file_access(ckpt);
    ckpt->file = fapl < 0 ? -1 : H5Fcreate(ckpt->temp_path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (fapl >= 0) H5Pclose(fapl);
    if (ckpt->file < 0) {
        volt_h5_reason_buffer reason = volt_h5_reason();
        status = VOLT_ERROR(VOLT_ERR_IO, "cannot create the checkpoint file %s%s", ckpt->temp_path,
                            reason.text);
    } else {
        ckpt->xfer = H5Pcreate(H5P_DATASET_XFER);
        if (comm) H5Pset_dxpl_mpio(ckpt->xfer, H5FD_MPIO_COLLECTIVE);
    }
    ckpt_io_leave(ckpt, &quiet);
    status = agree(ckpt, status);
    if (status != VOLT_OK) {
        ckpt_io_enter(ckpt, &quiet);
        if (ckpt->xfer >= 0) H5Pclose(ckpt->xfer);
        if (ckpt->file >= 0) H5Fclose(ckpt->file);
        ckpt_io_leave(ckpt, &quiet);
        if (ckpt->rank == 0) unlink(ckpt->temp_path);
        ckpt_free(ckpt);
        return status;
    }
    status = volt_ckpt_put_long(ckpt, "meta", "format_version", VOLT_CKPT_FORMAT_VERSION);
    if (status == VOLT_OK)
        status = volt_ckpt_put_string(ckpt, "meta", "volt_version", VOLT_VERSION_STRING);
    *out = ckpt;
    return VOLT_OK; /* a failure above is kept in ckpt->status for commit */
}

int volt_ckpt_write_model(volt_ckpt *ckpt, volt_params *params) {
    VOLT_CHECK_ARG(ckpt && ckpt->writing && params);
    volt_h5_quiet quiet;
    ckpt_io_enter(ckpt, &quiet);
    int status = VOLT_OK;
    hid_t group = open_or_create_group(ckpt->file, "/model");
    if (group < 0) status = fail_write(ckpt, VOLT_ERR_IO, "the group ", "/model");
    if (group >= 0) H5Gclose(group);
    volt_dtype dtype = volt_params_dtype(params);
    size_t element = volt_dtype_size(dtype);
    const char *data = volt_params_data(params);
    size_t lo, hi;
    replicated_range(ckpt, volt_params_flat_size(params), &lo, &hi);
    int checked = check_slices(ckpt, params);
    if (checked != VOLT_OK) status = checked;
    for (int i = 0; i < volt_params_count(params); i++) {
        volt_param *param = volt_params_get(params, i);
        hsize_t dims[H5S_MAX_RANK];
        int ndim = global_dims(param, dims);
        char path[512];
        snprintf(path, sizeof path, "/model/%s", param->name);
        hid_t dataset = create_dataset(ckpt->file, path, h5_type(dtype), ndim, dims);
        if (dataset < 0) {
            status = fail_write(ckpt, VOLT_ERR_IO, "", path);
            continue;
        }
        hsize_t a, b;
        param_part(param, lo, hi, &a, &b);
        /* failed already, or another rank's: still in every collective */
        if (ckpt->status != VOLT_OK || !writes_param(ckpt, param)) b = a;
        if (write_range(ckpt, dataset, h5_type(dtype), param, a, b,
                        data + (param->offset + a) * element) < 0)
            status = fail_write(ckpt, VOLT_ERR_IO, "", path);
        H5Dclose(dataset);
    }
    ckpt_io_leave(ckpt, &quiet);
    return status;
}

int volt_ckpt_write_optimizer(volt_ckpt *ckpt, volt_params *params, volt_optimizer *optimizer,
                              size_t offset, size_t length, int replicated, const char *kind) {
    VOLT_CHECK_ARG(ckpt && ckpt->writing && params && optimizer && kind);
    VOLT_CHECK(volt_ckpt_put_string(ckpt, "optim", "kind", kind));
    VOLT_CHECK(volt_ckpt_put_long(ckpt, "optim", "steps", volt_optimizer_steps(optimizer)));
    volt_h5_quiet quiet;
    ckpt_io_enter(ckpt, &quiet);
    int status = VOLT_OK;
    volt_dtype dtype = volt_params_dtype(params);
    size_t element = volt_dtype_size(dtype);
    int checked = check_slices(ckpt, params);
    if (checked != VOLT_OK) status = checked;
    /* after a failure this rank goes on making every collective call, writing nothing */
    for (int s = 0; s < volt_optimizer_state_count(optimizer); s++) {
        const char *state_name;
        void *state;
        if (volt_optimizer_state(optimizer, s, &state_name, &state) != VOLT_OK) {
            /* the same optimizer kind on every rank: this cannot differ between ranks */
            status = fail_write(ckpt, VOLT_ERR_INTERNAL, "optimizer state ", "");
            break;
        }
        for (int i = 0; i < volt_params_count(params); i++) {
            volt_param *param = volt_params_get(params, i);
            hsize_t dims[H5S_MAX_RANK];
            int ndim = global_dims(param, dims);
            char path[600];
            snprintf(path, sizeof path, "/optim/%s/%s", param->name, state_name);
            hid_t dataset = create_dataset(ckpt->file, path, h5_type(dtype), ndim, dims);
            if (dataset < 0) {
                status = fail_write(ckpt, VOLT_ERR_IO, "", path);
                continue;
            }
            /* what this rank writes of the parameter, in its own element numbering */
            size_t lo = offset, hi = offset + length; /* what it holds */
            if (replicated) {
                size_t share_lo, share_hi;
                replicated_range(ckpt, volt_params_flat_size(params), &share_lo, &share_hi);
                if (share_lo > lo) lo = share_lo;
                if (share_hi < hi) hi = share_hi;
            }
            hsize_t a, b;
            param_part(param, lo, hi > lo ? hi : lo, &a, &b);
            if (ckpt->status != VOLT_OK || !writes_param(ckpt, param)) b = a;
            const char *from = b > a ? (const char *)state + (param->offset + a - offset) * element
                                     : (const char *)state; /* nothing is read from it */
            if (write_range(ckpt, dataset, h5_type(dtype), param, a, b, from) < 0)
                status = fail_write(ckpt, VOLT_ERR_IO, "", path);
            H5Dclose(dataset);
        }
    }
    ckpt_io_leave(ckpt, &quiet);
    if (status != VOLT_OK && ckpt->status == VOLT_OK) ckpt->status = status;
    return status;
}

/* Writes one attribute (replacing one of the same name). */
static int put_attribute(volt_ckpt *ckpt, const char *group_path, const char *name, hid_t type,
                         const void *value) {
    VOLT_CHECK_ARG(ckpt && ckpt->writing && group_path && name);
    volt_h5_quiet quiet;
    ckpt_io_enter(ckpt, &quiet);
    char path[512];
    snprintf(path, sizeof path, "/%s", group_path);
    hid_t group = open_or_create_group(ckpt->file, path);
    int status = VOLT_OK;
    if (group < 0) {
        status = fail_write(ckpt, VOLT_ERR_IO, "the group ", path);
    } else {
        if (H5Aexists(group, name) > 0) H5Adelete(group, name);
        hid_t space = H5Screate(H5S_SCALAR);
        hid_t attribute = H5Acreate2(group, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
        if (attribute < 0 || H5Awrite(attribute, type, value) < 0)
            status = fail_write(ckpt, VOLT_ERR_IO, "the attribute ", name);
        if (attribute >= 0) H5Aclose(attribute);
        H5Sclose(space);
        H5Gclose(group);
    }
    ckpt_io_leave(ckpt, &quiet);
    return status;
}

int volt_ckpt_put_long(volt_ckpt *ckpt, const char *group_path, const char *name, long value) {
    int64_t v = value;
    return put_attribute(ckpt, group_path, name, H5T_NATIVE_INT64, &v);
}

int volt_ckpt_put_double(volt_ckpt *ckpt, const char *group_path, const char *name, double value) {
    return put_attribute(ckpt, group_path, name, H5T_NATIVE_DOUBLE, &value);
}

int volt_ckpt_put_string(volt_ckpt *ckpt, const char *group_path, const char *name,
                         const char *value) {
    VOLT_CHECK_ARG(value);
    volt_h5_quiet quiet;
    ckpt_io_enter(ckpt, &quiet);
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, strlen(value) + 1);
    H5Tset_strpad(type, H5T_STR_NULLTERM);
    H5Tset_cset(type, H5T_CSET_UTF8);
    int status = put_attribute(ckpt, group_path, name, type, value);
    H5Tclose(type);
    ckpt_io_leave(ckpt, &quiet);
    return status;
}

/* Rank 0 after a successful close: fsync the file, rename it, fsync the folder. */
static int put_in_place(const volt_ckpt *ckpt) {
    int fd = open(ckpt->temp_path, O_RDONLY);
    if (fd < 0 || fsync(fd) != 0) {
        int error = errno;
        if (fd >= 0) close(fd);
        return VOLT_ERROR(VOLT_ERR_IO, "checkpoint %s: cannot sync %s: %s", ckpt->path,
                          ckpt->temp_path, strerror(error));
    }
    close(fd);
    if (rename(ckpt->temp_path, ckpt->path) != 0)
        return VOLT_ERROR(VOLT_ERR_IO, "checkpoint %s: cannot rename %s into place: %s", ckpt->path,
                          ckpt->temp_path, strerror(errno));
    const char *slash = strrchr(ckpt->path, '/');
    char dir[4096];
    if (slash)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - ckpt->path + (slash == ckpt->path)),
                 ckpt->path);
    else
        snprintf(dir, sizeof dir, ".");
    int dir_fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dir_fd < 0 || fsync(dir_fd) != 0) {
        int error = errno;
        if (dir_fd >= 0) close(dir_fd);
        return VOLT_ERROR(VOLT_ERR_IO, "checkpoint %s: cannot sync the folder %s: %s", ckpt->path,
                          dir, strerror(error));
    }
    close(dir_fd);
    return VOLT_OK;
}

int volt_ckpt_commit(volt_ckpt *ckpt, int local_status) {
    VOLT_CHECK_ARG(ckpt && ckpt->writing);
    int status = local_status != VOLT_OK ? local_status : ckpt->status;
    volt_h5_quiet quiet;
    ckpt_io_enter(ckpt, &quiet);
    H5Pclose(ckpt->xfer);
    if (H5Fclose(ckpt->file) < 0 && status == VOLT_OK) {
        volt_h5_reason_buffer reason = volt_h5_reason();
        status = VOLT_ERROR(VOLT_ERR_IO, "checkpoint %s: closing %s failed%s", ckpt->path,
                            ckpt->temp_path, reason.text);
    }
    ckpt_io_leave(ckpt, &quiet);
    status = agree(ckpt, status);
    if (status == VOLT_OK && ckpt->rank == 0) status = put_in_place(ckpt);
    if (ckpt->comm) status = volt_comm_agree(ckpt->comm, status);
    if (status != VOLT_OK && ckpt->rank == 0) unlink(ckpt->temp_path);
    ckpt_free(ckpt);
    return status;
}

/* ---- reading ---------------------------------------------------------------------------- */

static int read_attribute(volt_ckpt *ckpt, const char *group_path, const char *name, hid_t type,
                          void *value) {
    char path[512];
    snprintf(path, sizeof path, "/%s", group_path);
    int status = VOLT_OK;
    if (!path_exists(ckpt->file, path) ||
        H5Aexists_by_name(ckpt->file, path, name, H5P_DEFAULT) <= 0)
        return VOLT_ERROR(VOLT_ERR_IO, "checkpoint %s has no attribute %s of %s", ckpt->path, name,
                          path);
    hid_t attribute = H5Aopen_by_name(ckpt->file, path, name, H5P_DEFAULT, H5P_DEFAULT);
    if (attribute < 0 || H5Aread(attribute, type, value) < 0) {
        volt_h5_reason_buffer reason = volt_h5_reason();
        status = VOLT_ERROR(VOLT_ERR_IO, "checkpoint %s: cannot read the attribute %s of %s%s",
                            ckpt->path, name, path, reason.text);
    }
    if (attribute >= 0) H5Aclose(attribute);
    return status;
}

int volt_ckpt_open(volt_comm *comm, const char *path, volt_ckpt **out) {
    VOLT_CHECK_ARG(path && out);
    *out = NULL;
    volt_ckpt *ckpt;
    VOLT_CHECK(agreed_new_ckpt(comm, path, 0, &ckpt));
    int status = VOLT_OK;
    volt_h5_quiet quiet;
    ckpt_io_enter(ckpt, &quiet);
    if (access(path, R_OK) != 0)
        status =
            VOLT_ERROR(VOLT_ERR_IO, "cannot read the checkpoint %s: %s", path, strerror(errno));
    else if (H5Fis_hdf5(path) <= 0)
        status = VOLT_ERROR(VOLT_ERR_IO,
                            "the checkpoint %s is not an HDF5 file (truncated or corrupt?)", path);
    ckpt_io_leave(ckpt, &quiet);
    /* every rank sees the file alike before the collective open (MPI_File_open) */
    status = agree(ckpt, status);
    if (status != VOLT_OK) {
        volt_ckpt_close(ckpt);
        return status;
    }
    ckpt_io_enter(ckpt, &quiet);
    {
        hid_t fapl = file_access(ckpt);
        ckpt->file = fapl < 0 ? -1 : H5Fopen(path, H5F_ACC_RDONLY, fapl);
        if (fapl >= 0) H5Pclose(fapl);
        if (ckpt->file < 0) {
            volt_h5_reason_buffer reason = volt_h5_reason();
            status =
                VOLT_ERROR(VOLT_ERR_IO, "cannot open the checkpoint %s (truncated or corrupt?)%s",
                           path, reason.text);
        }
    }
    if (status == VOLT_OK) {
        int64_t version = 0;
        ckpt->xfer = H5Pcreate(H5P_DATASET_XFER);
        if (!path_exists(ckpt->file, "/meta") ||
            H5Aexists_by_name(ckpt->file, "/meta", "format_version", H5P_DEFAULT) <= 0)
            status = VOLT_ERROR(VOLT_ERR_IO,
                                "%s is an HDF5 file but not a Volt checkpoint (no "
                                "/meta/format_version)",
                                path);
        else if ((status = read_attribute(ckpt, "meta", "format_version", H5T_NATIVE_INT64,
                                          &version)) == VOLT_OK &&
                 version != VOLT_CKPT_FORMAT_VERSION)
            status = VOLT_ERROR(VOLT_ERR_IO,
                                "the checkpoint %s has format version %lld; this Volt reads "
                                "version %d",
                                path, (long long)version, VOLT_CKPT_FORMAT_VERSION);
    }
    ckpt_io_leave(ckpt, &quiet);
    status = agree(ckpt, status);
    if (status != VOLT_OK) {
        volt_ckpt_close(ckpt);
        return status;
    }
    *out = ckpt;
    return VOLT_OK;
}

void volt_ckpt_close(volt_ckpt *ckpt) {
    if (!ckpt) return;
    volt_h5_quiet quiet;
    ckpt_io_enter(ckpt, &quiet);
    if (ckpt->xfer >= 0) H5Pclose(ckpt->xfer);
    if (ckpt->file >= 0) H5Fclose(ckpt->file);
    ckpt_io_leave(ckpt, &quiet);
    ckpt_free(ckpt);
}

const char *volt_ckpt_path(const volt_ckpt *ckpt) { return ckpt ? ckpt->path : NULL; }

/* Opens path as a float dataset of the parameter's global shape (its own, unless it is
 * split), or fails naming what differs. */
static int open_tensor(volt_ckpt *ckpt, const char *path, const volt_param *param, volt_dtype dtype,
                       hid_t *out) {
    *out = -1;
    if (!path_exists(ckpt->file, path))
        return VOLT_ERROR(VOLT_ERR_IO, "checkpoint %s has no tensor %s (the model has %s)",
                          ckpt->path, path, param->name);
    hid_t dataset = H5Dopen2(ckpt->file, path, H5P_DEFAULT);
    if (dataset < 0)
        return VOLT_ERROR(VOLT_ERR_IO, "checkpoint %s: %s is not a tensor", ckpt->path, path);
    hid_t space = H5Dget_space(dataset);
    hid_t type = H5Dget_type(dataset);
    hsize_t dims[H5S_MAX_RANK];
    int ndim = space >= 0 ? H5Sget_simple_extent_dims(space, dims, NULL) : -1;
    int status = VOLT_OK;
    const volt_tensor *t = param->tensor;
    const long *shape = param->slice.global_shape;
    int same_shape = ndim == t->ndim;
    for (int d = 0; same_shape && d < ndim; d++) same_shape = dims[d] == (hsize_t)shape[d];
    if (!same_shape) {
        char file_shape[128] = "[", model_shape[128] = "[";
        for (int d = 0; d < ndim; d++)
            snprintf(file_shape + strlen(file_shape), sizeof file_shape - strlen(file_shape),
                     "%s%llu", d ? ", " : "", (unsigned long long)dims[d]);
        for (int d = 0; d < t->ndim; d++)
            snprintf(model_shape + strlen(model_shape), sizeof model_shape - strlen(model_shape),
                     "%s%ld", d ? ", " : "", shape[d]);
        strcat(file_shape, "]");
        strcat(model_shape, "]");
        char split[96] = "";
        if (volt_param_is_split(param))
            snprintf(split, sizeof split, " (split %d ways along dimension %d)", param->slice.parts,
                     param->slice.dim);
        status =
            VOLT_ERROR(VOLT_ERR_SHAPE, "checkpoint %s: %s has shape %s, the model's %s has %s%s",
                       ckpt->path, path, file_shape, param->name, model_shape, split);
    } else if (H5Tget_class(type) != H5T_FLOAT || H5Tget_size(type) != volt_dtype_size(dtype)) {
        status = VOLT_ERROR(VOLT_ERR_SHAPE, "checkpoint %s: %s is not %s (the model's dtype)",
                            ckpt->path, path, dtype == VOLT_F64 ? "f64" : "f32");
    }
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    if (status != VOLT_OK) {
        H5Dclose(dataset);
        return status;
    }
    *out = dataset;
    return VOLT_OK;
}

typedef struct unexpected_names {
    const volt_params *params;
    char list[400];
    int count;
} unexpected_names;

static herr_t note_unexpected(hid_t group, const char *name, const H5L_info_t *info, void *data) {
    (void)group;
    (void)info;
    unexpected_names *u = data;
    if (volt_params_find(u->params, name)) return 0;
    if (u->count++ < 8)
        snprintf(u->list + strlen(u->list), sizeof u->list - strlen(u->list), "%s%s",
                 u->count > 1 ? ", " : "", name);
    return 0;
}

int volt_ckpt_read_model(volt_ckpt *ckpt, volt_params *params, int strict) {
    VOLT_CHECK_ARG(ckpt && !ckpt->writing && params);
    volt_h5_quiet quiet;
    ckpt_io_enter(ckpt, &quiet);
    int status = VOLT_OK;
    volt_dtype dtype = volt_params_dtype(params);
    size_t element = volt_dtype_size(dtype);
    char *data = volt_params_data(params);
    if (!path_exists(ckpt->file, "/model"))
        status = VOLT_ERROR(VOLT_ERR_IO, "checkpoint %s has no /model group", ckpt->path);
    if (status == VOLT_OK && strict) {
        unexpected_names u = {.params = params};
        H5Literate_by_name(ckpt->file, "/model", H5_INDEX_NAME, H5_ITER_NATIVE, NULL,
                           note_unexpected, &u, H5P_DEFAULT);
        if (u.count > 0)
            status = VOLT_ERROR(VOLT_ERR_IO,
                                "checkpoint %s holds %d tensor%s the model does not have: "
                                "%s%s (load with strict off to ignore them)",
                                ckpt->path, u.count, u.count == 1 ? "" : "s", u.list,
                                u.count > 8 ? ", ..." : "");
    }
    for (int i = 0; i < volt_params_count(params) && status == VOLT_OK; i++) {
        volt_param *param = volt_params_get(params, i);
        char path[512];
        snprintf(path, sizeof path, "/model/%s", param->name);
        hid_t dataset;
        status = open_tensor(ckpt, path, param, dtype, &dataset);
        if (status != VOLT_OK) break;
        if (read_range(ckpt, dataset, h5_type(dtype), param, 0, param->numel,
                       data + param->offset * element) < 0) {
            volt_h5_reason_buffer reason = volt_h5_reason();
            status = VOLT_ERROR(VOLT_ERR_IO, "checkpoint %s: cannot read %s (truncated?)%s",
                                ckpt->path, path, reason.text);
        }
        H5Dclose(dataset);
    }
    ckpt_io_leave(ckpt, &quiet);
    return status;
}

int volt_ckpt_has_optimizer(const volt_ckpt *ckpt) {
    if (!ckpt || ckpt->file < 0) return 0;
    volt_h5_quiet quiet;
    ckpt_io_enter(ckpt, &quiet);
    int has = path_exists(ckpt->file, "/optim");
    ckpt_io_leave(ckpt, &quiet);
    return has;
}

int volt_ckpt_read_optimizer(volt_ckpt *ckpt, volt_params *params, volt_optimizer *optimizer,
                             size_t offset, size_t length, const char *kind) {
    VOLT_CHECK_ARG(ckpt && !ckpt->writing && params && optimizer && kind);
    if (!volt_ckpt_has_optimizer(ckpt))
        return VOLT_ERROR(VOLT_ERR_IO,
                          "checkpoint %s holds no optimizer state (saved with weights only?)",
                          ckpt->path);
    char *file_kind = NULL;
    VOLT_CHECK(volt_ckpt_get_string(ckpt, "optim", "kind", &file_kind));
    int same = strcmp(file_kind, kind) == 0;
    if (!same) {
        int status = VOLT_ERROR(VOLT_ERR_CONFIG,
                                "checkpoint %s holds %s optimizer state; this run's optimizer is "
                                "%s",
                                ckpt->path, file_kind, kind);
        free(file_kind);
        return status;
    }
    free(file_kind);
    long steps;
    VOLT_CHECK(volt_ckpt_get_long(ckpt, "optim", "steps", &steps));
    volt_h5_quiet quiet;
    ckpt_io_enter(ckpt, &quiet);
    int status = VOLT_OK;
    volt_dtype dtype = volt_params_dtype(params);
    size_t element = volt_dtype_size(dtype);
    for (int s = 0; s < volt_optimizer_state_count(optimizer) && status == VOLT_OK; s++) {
        const char *state_name;
        void *state;
        status = volt_optimizer_state(optimizer, s, &state_name, &state);
        if (status != VOLT_OK) break;
        for (int i = 0; i < volt_params_count(params) && status == VOLT_OK; i++) {
            volt_param *param = volt_params_get(params, i);
            if (param->offset >= offset + length || param->offset + param->numel <= offset)
                continue; /* none of it is ours */
            hsize_t a = offset > param->offset ? offset - param->offset : 0;
            hsize_t b = offset + length < param->offset + param->numel
                            ? offset + length - param->offset
                            : param->numel;
            char path[600];
            snprintf(path, sizeof path, "/optim/%s/%s", param->name, state_name);
            hid_t dataset;
            status = open_tensor(ckpt, path, param, dtype, &dataset);
            if (status != VOLT_OK) break;
            char *to = (char *)state + (param->offset + a - offset) * element;
            if (read_range(ckpt, dataset, h5_type(dtype), param, a, b, to) < 0) {
                volt_h5_reason_buffer reason = volt_h5_reason();
                status = VOLT_ERROR(VOLT_ERR_IO, "checkpoint %s: cannot read %s (truncated?)%s",
                                    ckpt->path, path, reason.text);
            }
            H5Dclose(dataset);
        }
    }
    ckpt_io_leave(ckpt, &quiet);
    if (status == VOLT_OK) volt_optimizer_set_steps(optimizer, steps);
    return status;
}

int volt_ckpt_get_long(volt_ckpt *ckpt, const char *group_path, const char *name, long *out) {
    VOLT_CHECK_ARG(ckpt && group_path && name && out);
    volt_h5_quiet quiet;
    ckpt_io_enter(ckpt, &quiet);
    int64_t value = 0;
    int status = read_attribute(ckpt, group_path, name, H5T_NATIVE_INT64, &value);
    ckpt_io_leave(ckpt, &quiet);
    *out = (long)value;
    return status;
}

int volt_ckpt_get_double(volt_ckpt *ckpt, const char *group_path, const char *name, double *out) {
    VOLT_CHECK_ARG(ckpt && group_path && name && out);
    volt_h5_quiet quiet;
    ckpt_io_enter(ckpt, &quiet);
    int status = read_attribute(ckpt, group_path, name, H5T_NATIVE_DOUBLE, out);
    ckpt_io_leave(ckpt, &quiet);
    return status;
}

int volt_ckpt_get_string(volt_ckpt *ckpt, const char *group_path, const char *name, char **out) {
    VOLT_CHECK_ARG(ckpt && group_path && name && out);
    *out = NULL;
    volt_h5_quiet quiet;
    ckpt_io_enter(ckpt, &quiet);
    char path[512];
    snprintf(path, sizeof path, "/%s", group_path);
    int status = VOLT_OK;
    if (!path_exists(ckpt->file, path) ||
        H5Aexists_by_name(ckpt->file, path, name, H5P_DEFAULT) <= 0) {
        status = VOLT_ERROR(VOLT_ERR_IO, "checkpoint %s has no attribute %s of %s", ckpt->path,
                            name, path);
    } else {
        hid_t attribute = H5Aopen_by_name(ckpt->file, path, name, H5P_DEFAULT, H5P_DEFAULT);
        hid_t type = attribute >= 0 ? H5Aget_type(attribute) : -1;
        if (type < 0 || H5Tget_class(type) != H5T_STRING || H5Tis_variable_str(type) > 0) {
            status = VOLT_ERROR(VOLT_ERR_IO,
                                "checkpoint %s: the attribute %s of %s is not a "
                                "fixed-length string",
                                ckpt->path, name, path);
        } else {
            size_t size = H5Tget_size(type);
            char *text = calloc(size + 1, 1);
            if (!text)
                status = VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory reading %s", name);
            else if (H5Aread(attribute, type, text) < 0)
                status = VOLT_ERROR(VOLT_ERR_IO, "checkpoint %s: cannot read the attribute %s",
                                    ckpt->path, name);
            if (status == VOLT_OK)
                *out = text;
            else
                free(text);
        }
        if (type >= 0) H5Tclose(type);
        if (attribute >= 0) H5Aclose(attribute);
    }
    ckpt_io_leave(ckpt, &quiet);
    return status;
}

int volt_ckpt_has(volt_ckpt *ckpt, const char *group_path, const char *name) {
    if (!ckpt || !group_path) return 0;
    volt_h5_quiet quiet;
    ckpt_io_enter(ckpt, &quiet);
    char path[512];
    snprintf(path, sizeof path, "/%s", group_path);
    int has = path_exists(ckpt->file, path) &&
              (!name || H5Aexists_by_name(ckpt->file, path, name, H5P_DEFAULT) > 0);
    ckpt_io_leave(ckpt, &quiet);
    return has;
}

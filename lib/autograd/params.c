/* lib/autograd/params.c — the flat parameter and gradient buffers. */
#include "autograd/params.h"

#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/rng.h"

struct volt_params {
    volt_dtype dtype;
    uint64_t seed;
    volt_param **list;
    int count, capacity;
    void *data, *grad;               /* flat buffers, 64-byte aligned */
    size_t flat_size, flat_capacity; /* elements */
    size_t numel;
    volt_arena *arena; /* names, tensors, param records, layer structs */
};

int volt_params_create(volt_dtype dtype, uint64_t seed, volt_params **out) {
    VOLT_CHECK_ARG(out);
    if (dtype != VOLT_F32 && dtype != VOLT_F64)
        return VOLT_ERROR(VOLT_ERR_ARG, "parameters are f32 or f64, not %s",
                          volt_dtype_name(dtype));
    volt_params *p = calloc(1, sizeof *p);
    VOLT_CHECK_ALLOC(p, sizeof *p);
    int status = volt_arena_create(64 << 10, &p->arena);
    if (status != VOLT_OK) {
        free(p);
        return status;
    }
    p->dtype = dtype;
    p->seed = seed;
    *out = p;
    return VOLT_OK;
}

void volt_params_destroy(volt_params *params) {
    if (!params) return;
    free(params->list);
    free(params->data);
    free(params->grad);
    volt_arena_destroy(params->arena);
    free(params);
}

void *volt_params_alloc(volt_params *params, size_t bytes) {
    return volt_arena_calloc(params->arena, bytes);
}

/* Moves the flat buffers to a larger capacity, zero-filled past the old size, and
 * re-points every parameter's tensor and gradient. */
static int grow_flat(volt_params *p, size_t needed) {
    size_t capacity = p->flat_capacity ? p->flat_capacity : 4096;
    while (capacity < needed) capacity *= 2;
    size_t element = volt_dtype_size(p->dtype);
    size_t bytes = capacity * element;
    void *data = aligned_alloc(64, bytes), *grad = aligned_alloc(64, bytes);
    if (!data || !grad) {
        free(data);
        free(grad);
        return VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory: parameter buffers of %zu bytes each",
                          bytes);
    }
    memset(data, 0, bytes);
    memset(grad, 0, bytes);
    if (p->flat_size) {
        memcpy(data, p->data, p->flat_size * element);
        memcpy(grad, p->grad, p->flat_size * element);
    }
    free(p->data);
    free(p->grad);
    p->data = data;
    p->grad = grad;
    p->flat_capacity = capacity;
    for (int i = 0; i < p->count; i++) {
        volt_param *param = p->list[i];
        param->tensor->data = (char *)data + param->offset * element;
        param->tensor->grad->data = (char *)grad + param->offset * element;
    }
    return VOLT_OK;
}

int volt_params_add(volt_params *params, const char *name, int ndim, const long *shape,
                    volt_param **out) {
    VOLT_CHECK_ARG(params && name && *name && (shape || ndim == 0));
    if (volt_params_find(params, name))
        return VOLT_ERROR(VOLT_ERR_ARG, "a parameter named '%s' already exists", name);
    volt_tensor header;
    VOLT_CHECK(volt_tensor_wrap(&header, NULL, params->dtype, ndim, shape));
    if (params->count == params->capacity) {
        int capacity = params->capacity ? params->capacity * 2 : 32;
        volt_param **list = realloc(params->list, (size_t)capacity * sizeof *list);
        VOLT_CHECK_ALLOC(list, (size_t)capacity * sizeof *list);
        params->list = list;
        params->capacity = capacity;
    }
    size_t numel = volt_tensor_numel(&header);
    size_t offset =
        (params->flat_size + VOLT_PARAM_ALIGN - 1) / VOLT_PARAM_ALIGN * VOLT_PARAM_ALIGN;
    if (offset + numel > params->flat_capacity) VOLT_CHECK(grow_flat(params, offset + numel));

    volt_param *param = volt_arena_calloc(params->arena, sizeof *param);
    volt_tensor *tensor = volt_arena_calloc(params->arena, sizeof *tensor);
    volt_tensor *grad = volt_arena_calloc(params->arena, sizeof *grad);
    char *name_copy = volt_arena_alloc(params->arena, strlen(name) + 1);
    VOLT_CHECK_PTR(param && tensor && grad && name_copy ? param : NULL);
    strcpy(name_copy, name);

    size_t element = volt_dtype_size(params->dtype);
    *tensor = header;
    tensor->data = (char *)params->data + offset * element;
    tensor->requires_grad = 1;
    tensor->param = param;
    *grad = header;
    grad->data = (char *)params->grad + offset * element;
    tensor->grad = grad;

    param->index = params->count;
    param->name = name_copy;
    param->offset = offset;
    param->numel = numel;
    param->tensor = tensor;
    param->slice.dim = 0;
    param->slice.blocks = 1;
    param->slice.parts = 1;
    param->slice.part = 0;
    for (int d = 0; d < ndim; d++) param->slice.global_shape[d] = shape[d];
    params->list[params->count++] = param;
    params->flat_size = offset + numel;
    params->numel += numel;
    if (out) *out = param;
    return VOLT_OK;
}

int volt_params_add_slice(volt_params *params, const char *name, int ndim, const long *global_shape,
                          int dim, int blocks, int parts, int part, volt_param **out) {
    VOLT_CHECK_ARG(params && name && global_shape && ndim >= 1 && ndim <= VOLT_MAX_DIMS);
    if (dim < 0 || dim >= ndim || blocks < 1 || parts < 1 || part < 0 || part >= parts)
        return VOLT_ERROR(VOLT_ERR_ARG,
                          "parameter '%s': cannot take part %d of %d of dimension %d (of %d) in "
                          "%d blocks",
                          name, part, parts, dim, ndim, blocks);
    if (global_shape[dim] % ((long)blocks * parts) != 0)
        return VOLT_ERROR(VOLT_ERR_ARG,
                          "parameter '%s': dimension %d of size %ld does not split into %d "
                          "block%s of %d equal parts",
                          name, dim, global_shape[dim], blocks, blocks == 1 ? "" : "s", parts);
    long shape[VOLT_MAX_DIMS];
    for (int d = 0; d < ndim; d++) shape[d] = global_shape[d];
    shape[dim] /= parts;
    volt_param *param;
    VOLT_CHECK(volt_params_add(params, name, ndim, shape, &param));
    param->slice.dim = dim;
    param->slice.blocks = blocks;
    param->slice.parts = parts;
    param->slice.part = part;
    for (int d = 0; d < ndim; d++) param->slice.global_shape[d] = global_shape[d];
    if (out) *out = param;
    return VOLT_OK;
}

int volt_param_is_split(const volt_param *param) { return param->slice.parts > 1; }

/* Calls run(local first, global first, count) for the runs of elements that are
 * contiguous both in the parameter and in the global tensor. */
typedef void (*slice_run_fn)(volt_params *params, volt_param *param, size_t local, uint64_t global,
                             size_t count, const double *args);

static void for_each_run(volt_params *params, volt_param *param, slice_run_fn run,
                         const double *args) {
    const volt_param_slice *s = &param->slice;
    if (s->parts == 1) {
        run(params, param, 0, 0, param->numel, args);
        return;
    }
    const volt_tensor *t = param->tensor;
    size_t outer = 1, inner = 1;
    for (int d = 0; d < s->dim; d++) outer *= (size_t)t->shape[d];
    for (int d = s->dim + 1; d < t->ndim; d++) inner *= (size_t)t->shape[d];
    size_t global_dim = (size_t)s->global_shape[s->dim];
    size_t block = global_dim / (size_t)s->blocks; /* global rows of one block */
    size_t piece = block / (size_t)s->parts;       /* this rank's rows of it */
    size_t local_dim = piece * (size_t)s->blocks;
    for (size_t o = 0; o < outer; o++)
        for (int b = 0; b < s->blocks; b++)
            run(params, param, (o * local_dim + (size_t)b * piece) * inner,
                (uint64_t)((o * global_dim + (size_t)b * block + (size_t)s->part * piece) * inner),
                piece * inner, args);
}

/* A run of random numbers: args = {kind (0 uniform, 1 normal), low or mean, high or std}. */
static void random_run(volt_params *params, volt_param *param, size_t local, uint64_t global,
                       size_t count, const double *args) {
    const uint64_t seed = params->seed, stream = (uint64_t)param->index;
    const int normal = args[0] != 0;
    if (params->dtype == VOLT_F64) {
        double *out = (double *)param->tensor->data + local;
        if (normal)
            volt_rng_normal_f64(seed, stream, global, out, count, args[1], args[2]);
        else
            volt_rng_uniform_f64(seed, stream, global, out, count, args[1], args[2]);
    } else {
        float *out = (float *)param->tensor->data + local;
        if (normal)
            volt_rng_normal_f32(seed, stream, global, out, count, (float)args[1], (float)args[2]);
        else
            volt_rng_uniform_f32(seed, stream, global, out, count, (float)args[1], (float)args[2]);
    }
}

int volt_params_pad_to(volt_params *params, size_t flat_size) {
    VOLT_CHECK_ARG(params);
    if (flat_size < params->flat_size)
        return VOLT_ERROR(VOLT_ERR_ARG, "cannot pad %zu parameter elements down to %zu",
                          params->flat_size, flat_size);
    if (flat_size > params->flat_capacity) VOLT_CHECK(grow_flat(params, flat_size));
    params->flat_size = flat_size; /* grow_flat zeroed everything past the old size */
    return VOLT_OK;
}

int volt_params_count(const volt_params *params) { return params->count; }
volt_param *volt_params_get(const volt_params *params, int index) {
    return index >= 0 && index < params->count ? params->list[index] : NULL;
}

volt_param *volt_params_find(const volt_params *params, const char *name) {
    for (int i = 0; i < params->count; i++)
        if (strcmp(params->list[i]->name, name) == 0) return params->list[i];
    return NULL;
}

volt_dtype volt_params_dtype(const volt_params *params) { return params->dtype; }
uint64_t volt_params_seed(const volt_params *params) { return params->seed; }
size_t volt_params_flat_size(const volt_params *params) { return params->flat_size; }
size_t volt_params_numel(const volt_params *params) { return params->numel; }
void *volt_params_data(volt_params *params) { return params->data; }
void *volt_params_grad(volt_params *params) { return params->grad; }

void volt_params_zero_grad(volt_params *params) {
    if (params->grad) memset(params->grad, 0, params->flat_size * volt_dtype_size(params->dtype));
}

void volt_param_init_uniform(volt_params *params, volt_param *param, double low, double high) {
    const double args[] = {0, low, high};
    for_each_run(params, param, random_run, args);
}

void volt_param_init_normal(volt_params *params, volt_param *param, double mean, double std) {
    const double args[] = {1, mean, std};
    for_each_run(params, param, random_run, args);
}

void volt_param_init_constant(volt_params *params, volt_param *param, double value) {
    for (size_t i = 0; i < param->numel; i++) {
        if (params->dtype == VOLT_F64)
            ((double *)param->tensor->data)[i] = value;
        else
            ((float *)param->tensor->data)[i] = (float)value;
    }
}

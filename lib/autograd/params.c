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
    void *data, *grad;             /* flat buffers, 64-byte aligned */
    size_t flat_size, flat_capacity; /* elements */
    size_t numel;
    volt_arena *arena;             /* names, tensors, param records, layer structs */
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
    size_t offset = (params->flat_size + VOLT_PARAM_ALIGN - 1) / VOLT_PARAM_ALIGN * VOLT_PARAM_ALIGN;
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
    params->list[params->count++] = param;
    params->flat_size = offset + numel;
    params->numel += numel;
    if (out) *out = param;
    return VOLT_OK;
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
    if (params->dtype == VOLT_F64)
        volt_rng_uniform_f64(params->seed, (uint64_t)param->index, 0, param->tensor->data,
                             param->numel, low, high);
    else
        volt_rng_uniform_f32(params->seed, (uint64_t)param->index, 0, param->tensor->data,
                             param->numel, (float)low, (float)high);
}

void volt_param_init_normal(volt_params *params, volt_param *param, double mean, double std) {
    if (params->dtype == VOLT_F64)
        volt_rng_normal_f64(params->seed, (uint64_t)param->index, 0, param->tensor->data,
                            param->numel, mean, std);
    else
        volt_rng_normal_f32(params->seed, (uint64_t)param->index, 0, param->tensor->data,
                            param->numel, (float)mean, (float)std);
}

void volt_param_init_constant(volt_params *params, volt_param *param, double value) {
    for (size_t i = 0; i < param->numel; i++) {
        if (params->dtype == VOLT_F64) ((double *)param->tensor->data)[i] = value;
        else ((float *)param->tensor->data)[i] = (float)value;
    }
}

/* bench/mlp_step.c — one training step of an MLP through Volt's autograd versus the same
 * math written by hand with CBLAS, in one binary, on the same data and weights.
 *
 * Model 784-1024-1024-10 with ReLU, batch 256, f32, softmax cross-entropy, AdamW. The
 * hand-written step is what an expert would write: three sgemm forward, five backward
 * (no gradient for the input), fused bias/ReLU loops, one AdamW loop over the flat
 * buffer. Both start from the same weights; the losses of the two are compared step by
 * step (they must agree: the same math), then the two step in turn, each step timed,
 * and the medians reported. Output: a table on stdout and bench/results/mlp_step.csv.
 *
 *     mlp_step [steps, default 20] [rounds, default 5] [results dir]   (steps x rounds
 *     timed steps of each) */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/params.h"
#include "core/clock.h"
#include "core/rng.h"
#include "nn/nn.h"
#include "ops/blas_info.h"
#include "optim/optim.h"

enum { BATCH = 256, IN = 784, HIDDEN = 1024, OUT = 10 };

/* --- the data: a fixed batch ------------------------------------------------------------- */

typedef struct batch {
    float *x;      /* [BATCH, IN] */
    int32_t *y;    /* [BATCH] */
} batch;

static batch make_batch(void) {
    batch b = {aligned_alloc(64, sizeof(float) * BATCH * IN), malloc(sizeof(int32_t) * BATCH)};
    volt_rng_uniform_f32(5, 0, 0, b.x, (size_t)BATCH * IN, 0.0f, 1.0f);
    for (int i = 0; i < BATCH; i++) b.y[i] = (int32_t)(volt_rng_bits(5, 1, (uint64_t)i) % OUT);
    return b;
}

/* --- Volt -------------------------------------------------------------------------------- */

typedef struct volt_mlp {
    volt_params *params;
    volt_linear_layer *fc1, *fc2, *fc3;
    volt_graph *graph;
    volt_optimizer *optimizer;
} volt_mlp;

static void check(int status) {
    if (status != VOLT_OK) {
        volt_error_print(stderr);
        exit(1);
    }
}

static volt_mlp volt_mlp_new(void) {
    volt_mlp m;
    check(volt_params_create(VOLT_F32, 42, &m.params));
    m.fc1 = volt_linear_new(m.params, "fc1", IN, HIDDEN, 1);
    m.fc2 = volt_linear_new(m.params, "fc2", HIDDEN, HIDDEN, 1);
    m.fc3 = volt_linear_new(m.params, "fc3", HIDDEN, OUT, 1);
    if (!m.fc1 || !m.fc2 || !m.fc3) check(volt_error_status());
    check(volt_graph_create(NULL, &m.graph));
    volt_optimizer_options adamw = volt_optimizer_defaults(VOLT_OPTIM_ADAMW);
    check(volt_optimizer_create(&adamw, VOLT_F32, 0, volt_params_flat_size(m.params),
                                &m.optimizer));
    return m;
}

static float volt_mlp_step(volt_mlp *m, const batch *b, double lr) {
    const long x_shape[] = {BATCH, IN}, y_shape[] = {BATCH};
    volt_tensor *x = volt_graph_tensor(m->graph, VOLT_F32, 2, x_shape);
    volt_tensor *y = volt_graph_tensor(m->graph, VOLT_I32, 1, y_shape);
    memcpy(x->data, b->x, sizeof(float) * BATCH * IN);
    memcpy(y->data, b->y, sizeof(int32_t) * BATCH);
    volt_tensor *h = volt_relu(volt_linear(m->fc1, x));
    h = volt_relu(volt_linear(m->fc2, h));
    volt_tensor *loss = volt_cross_entropy(volt_linear(m->fc3, h), y);
    if (!loss) check(volt_error_status());
    volt_params_zero_grad(m->params);
    check(volt_backward(loss));
    check(volt_optimizer_step(m->optimizer, volt_params_data(m->params),
                              volt_params_grad(m->params), lr));
    float value = *(float *)loss->data;
    volt_graph_reset(m->graph);
    return value;
}

/* --- by hand ----------------------------------------------------------------------------- */

typedef struct hand_mlp {
    float *params, *grads, *exp_avg, *exp_avg_sq; /* flat, same layout as Volt's */
    size_t flat;
    float *w1, *b1, *w2, *b2, *w3, *b3;          /* views into params */
    float *dw1, *db1, *dw2, *db2, *dw3, *db3;    /* views into grads */
    float *h1, *h2, *logits, *dlogits, *dh2, *dh1;
    long steps;
} hand_mlp;

static float *aligned_floats(size_t n) {
    float *p = aligned_alloc(64, ((n * sizeof(float) + 63) / 64) * 64);
    memset(p, 0, n * sizeof(float));
    return p;
}

static hand_mlp hand_mlp_from(volt_mlp *m) {
    hand_mlp h = {0};
    h.flat = volt_params_flat_size(m->params);
    h.params = aligned_floats(h.flat);
    h.grads = aligned_floats(h.flat);
    h.exp_avg = aligned_floats(h.flat);
    h.exp_avg_sq = aligned_floats(h.flat);
    memcpy(h.params, volt_params_data(m->params), h.flat * sizeof(float));
    float **views[] = {&h.w1, &h.b1, &h.w2, &h.b2, &h.w3, &h.b3};
    float **grad_views[] = {&h.dw1, &h.db1, &h.dw2, &h.db2, &h.dw3, &h.db3};
    for (int i = 0; i < 6; i++) {
        size_t offset = volt_params_get(m->params, i)->offset;
        *views[i] = h.params + offset;
        *grad_views[i] = h.grads + offset;
    }
    h.h1 = aligned_floats((size_t)BATCH * HIDDEN);
    h.h2 = aligned_floats((size_t)BATCH * HIDDEN);
    h.dh1 = aligned_floats((size_t)BATCH * HIDDEN);
    h.dh2 = aligned_floats((size_t)BATCH * HIDDEN);
    h.logits = aligned_floats((size_t)BATCH * OUT);
    h.dlogits = aligned_floats((size_t)BATCH * OUT);
    return h;
}

/* out[B, N] = relu?(in[B, K] W[N, K]^T + b[N]) */
static void dense_forward(const float *in, const float *w, const float *b, float *out, int n,
                          int k, int relu) {
    for (int i = 0; i < BATCH; i++) memcpy(out + (size_t)i * n, b, sizeof(float) * (size_t)n);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, BATCH, n, k, 1.0f, in, k, w, k, 1.0f,
                out, n);
    if (relu)
        for (size_t i = 0; i < (size_t)BATCH * (size_t)n; i++) out[i] = out[i] > 0 ? out[i] : 0;
}

/* dW[N, K] = dout^T in, db = column sums of dout, din = dout W (if din) */
static void dense_backward(const float *in, const float *w, const float *dout, float *dw,
                           float *db, float *din, int n, int k) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, k, BATCH, 1.0f, dout, n, in, k,
                0.0f, dw, k);
    memset(db, 0, sizeof(float) * (size_t)n);
    for (int i = 0; i < BATCH; i++)
        for (int j = 0; j < n; j++) db[j] += dout[(size_t)i * n + j];
    if (din)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, BATCH, k, n, 1.0f, dout, n, w, k,
                    0.0f, din, k);
}

static float hand_mlp_step(hand_mlp *h, const batch *b, double lr) {
    dense_forward(b->x, h->w1, h->b1, h->h1, HIDDEN, IN, 1);
    dense_forward(h->h1, h->w2, h->b2, h->h2, HIDDEN, HIDDEN, 1);
    dense_forward(h->h2, h->w3, h->b3, h->logits, OUT, HIDDEN, 0);
    /* softmax cross-entropy, mean over the batch; dlogits = (softmax - onehot) / B */
    double loss = 0;
    for (int i = 0; i < BATCH; i++) {
        const float *row = h->logits + i * OUT;
        float *drow = h->dlogits + i * OUT;
        float max = row[0];
        for (int j = 1; j < OUT; j++) max = row[j] > max ? row[j] : max;
        double sum = 0;
        for (int j = 0; j < OUT; j++) sum += exp((double)(row[j] - max));
        loss += log(sum) + max - row[b->y[i]];
        for (int j = 0; j < OUT; j++)
            drow[j] = (float)(exp((double)(row[j] - max)) / sum / BATCH);
        drow[b->y[i]] -= 1.0f / BATCH;
    }
    memset(h->grads, 0, h->flat * sizeof(float));
    dense_backward(h->h2, h->w3, h->dlogits, h->dw3, h->db3, h->dh2, OUT, HIDDEN);
    for (size_t i = 0; i < (size_t)BATCH * HIDDEN; i++) h->dh2[i] = h->h2[i] > 0 ? h->dh2[i] : 0;
    dense_backward(h->h1, h->w2, h->dh2, h->dw2, h->db2, h->dh1, HIDDEN, HIDDEN);
    for (size_t i = 0; i < (size_t)BATCH * HIDDEN; i++) h->dh1[i] = h->h1[i] > 0 ? h->dh1[i] : 0;
    dense_backward(b->x, h->w1, h->dh1, h->dw1, h->db1, NULL, HIDDEN, IN);
    /* AdamW, torch defaults: betas (0.9, 0.999), eps 1e-8, weight decay 1e-2 */
    h->steps++;
    const float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
    const float decay = (float)(1.0 - lr * 1e-2);
    const float step_size = (float)(lr / (1.0 - pow(0.9, (double)h->steps)));
    const float root_correction2 = (float)sqrt(1.0 - pow(0.999, (double)h->steps));
    float *restrict p = h->params, *restrict m = h->exp_avg, *restrict v = h->exp_avg_sq;
    const float *restrict g = h->grads;
    for (size_t i = 0; i < h->flat; i++) {
        p[i] *= decay;
        m[i] = beta1 * m[i] + (1 - beta1) * g[i];
        v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
        p[i] -= step_size * m[i] / (sqrtf(v[i]) / root_correction2 + eps);
    }
    return (float)(loss / BATCH);
}

/* --- timing ------------------------------------------------------------------------------ */

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int steps = argc > 1 ? atoi(argv[1]) : 20;
    int runs = argc > 2 ? atoi(argv[2]) : 5;
    const char *results = argc > 3 ? argv[3] : "bench/results";
    if (steps <= 0 || runs <= 0) {
        fprintf(stderr, "usage: mlp_step [steps per run > 0] [runs > 0] [results dir]\n");
        return 2;
    }
    volt_blas_info blas;
    volt_blas_query(&blas);
    char line[512], advice[512];
    volt_blas_describe(&blas, line, sizeof line, advice, sizeof advice);
    printf("%s\n%s%s", line, advice, advice[0] ? "\n" : "");

    batch b = make_batch();
    volt_mlp volt = volt_mlp_new();
    hand_mlp hand = hand_mlp_from(&volt);
    const double lr = 1e-3;

    /* the same math: losses agree step by step (f32, different summation orders) */
    double worst = 0;
    for (int s = 0; s < 5; s++) {
        float a = volt_mlp_step(&volt, &b, lr), c = hand_mlp_step(&hand, &b, lr);
        double rel = fabs(a - c) / fmax(fabs(c), 1e-6);
        worst = rel > worst ? rel : worst;
        printf("check step %d: loss volt %.6f  hand %.6f\n", s, a, c);
    }
    if (worst > 1e-3) {
        fprintf(stderr, "mlp_step: Volt and the hand-written loop disagree (rel %.3g)\n", worst);
        return 1;
    }

    /* one step of each in turn, so that machine noise hits both alike; medians of the
     * per-step times are robust to the steps a neighbour's burst slowed down */
    int samples = steps * runs;
    double *volt_times = malloc(sizeof(double) * (size_t)samples);
    double *hand_times = malloc(sizeof(double) * (size_t)samples);
    for (int i = 0; i < samples; i++) {
        double t0 = volt_clock_seconds();
        volt_mlp_step(&volt, &b, lr);
        double t1 = volt_clock_seconds();
        hand_mlp_step(&hand, &b, lr);
        double t2 = volt_clock_seconds();
        volt_times[i] = t1 - t0;
        hand_times[i] = t2 - t1;
    }
    qsort(volt_times, (size_t)samples, sizeof(double), compare_doubles);
    qsort(hand_times, (size_t)samples, sizeof(double), compare_doubles);
    double volt_median = BATCH / volt_times[samples / 2];
    double hand_median = BATCH / hand_times[samples / 2];
    double ratio = volt_median / hand_median;
    double flops_per_sample = 6.0 * (IN * HIDDEN + HIDDEN * HIDDEN + HIDDEN * OUT) -
                              2.0 * IN * HIDDEN; /* no input gradient */
    printf("\nMLP 784-1024-1024-10, batch %d, f32, forward + backward + AdamW, median of %d "
           "alternating steps\n",
           BATCH, samples);
    printf("%-26s %14s %10s\n", "", "samples/s", "GFLOP/s");
    printf("%-26s %14.0f %10.1f\n", "volt (autograd)", volt_median,
           volt_median * flops_per_sample * 1e-9);
    printf("%-26s %14.0f %10.1f\n", "hand-written CBLAS", hand_median,
           hand_median * flops_per_sample * 1e-9);
    printf("ratio volt / hand = %.3f  (goal >= 0.95)\n", ratio);

    char path[1024];
    snprintf(path, sizeof path, "%s/mlp_step.csv", results);
    FILE *csv = fopen(path, "w");
    if (csv) {
        fprintf(csv, "implementation,samples_per_s,gflops,blas_kernel,blas_threads\n");
        fprintf(csv, "volt,%.1f,%.2f,%s,%d\n", volt_median, volt_median * flops_per_sample * 1e-9,
                blas.kernel, blas.threads);
        fprintf(csv, "hand_cblas,%.1f,%.2f,%s,%d\n", hand_median,
                hand_median * flops_per_sample * 1e-9, blas.kernel, blas.threads);
        fclose(csv);
        printf("wrote %s\n", path);
    } else {
        fprintf(stderr, "mlp_step: cannot write %s (results not saved)\n", path);
    }
    return 0;
}

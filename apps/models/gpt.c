/* apps/models/gpt.c — the built-in GPT: a decoder-only transformer language model.
 *
 *   h      = drop(wte[tokens] + wpe[0 .. T))               [B, T, C]
 *   h      = block_L(... block_1(h) ...)                   GPT-2 pre-LN blocks (lib/nn)
 *   logits = ln_f(h) wte^T                                  [B, T, V], output tied to wte
 *
 * Data: each sample holds block_size + 1 tokens (volt-data text writes byte tokens);
 * x[:, :T] is the input and x[:, 1:] the targets, and the loss is the mean next-token
 * cross-entropy over the B x T positions. Token values arrive as f32 (the loader's type)
 * and must be whole numbers in [0, vocab_size): anything else is an error naming the
 * sample and position (a data set of features, not tokens).
 *
 * Under tensor parallelism (trainer.layout tp=T; the module built with
 * volt_module_create_tp) the blocks split as Megatron-LM does (lib/nn/nn.h), wte splits
 * its rows (the vocabulary), the output logits stay split along the vocabulary and the
 * loss is the vocabulary-parallel cross-entropy: T must divide n_head and vocab_size.
 * Each rank initialises its part of the tp=1 model's tensors, so T changes nothing but
 * speed and memory per rank.
 *
 * Parameter names follow GPT-2's state dict: transformer.wte.weight [V, C],
 * transformer.wpe.weight [block_size, C], transformer.h.<i>.{ln_1, attn.c_attn,
 * attn.c_proj, ln_2, mlp.c_fc, mlp.c_proj}.{weight, bias} (nn.Linear's [out, in]
 * shapes), transformer.ln_f.{weight, bias}; the output layer is wte itself. The
 * embeddings start as GPT-2's, N(0, 0.02); the blocks as lib/nn initialises them.
 * Logged: train/loss (each step), val/loss, val/acc (next-token accuracy), val/bpt
 * (bits per token, loss / ln 2) each epoch; the test split the same. predict: the logits of the
 * token that follows each sample's first block_size tokens, [B, V]. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "models.h"
#include "nn/nn.h"

enum { GPT_MAX_LAYERS = 64 };

typedef struct gpt_state {
    volt_embedding_layer *wte, *wpe;
    volt_transformer_block *blocks[GPT_MAX_LAYERS];
    volt_layer_norm_layer *ln_f;
    int n_layer;
    long vocab_size, block_size;
    double dropout;
} gpt_state;

static int gpt_declare(volt_config *config) {
    VOLT_CHECK(volt_config_declare(config, "model.vocab_size", VOLT_CONFIG_INT, "256",
                                   "token values are in [0, vocab_size) (256: bytes)"));
    VOLT_CHECK(volt_config_declare(config, "model.block_size", VOLT_CONFIG_INT, "0",
                                   "context length T (0: the data set's samples minus one)"));
    VOLT_CHECK(
        volt_config_declare(config, "model.n_layer", VOLT_CONFIG_INT, "4", "transformer blocks"));
    VOLT_CHECK(volt_config_declare(config, "model.n_head", VOLT_CONFIG_INT, "4",
                                   "attention heads (must divide n_embd)"));
    VOLT_CHECK(volt_config_declare(config, "model.n_embd", VOLT_CONFIG_INT, "128",
                                   "width of the residual stream C"));
    VOLT_CHECK(volt_config_declare(config, "model.dropout", VOLT_CONFIG_FLOAT, "0.0",
                                   "dropout after the embeddings, attention and MLP"));
    VOLT_CHECK(volt_config_declare(config, "model.input_size", VOLT_CONFIG_INT, "0",
                                   "tokens per sample, block_size + 1 (0: from the data set)"));
    return VOLT_OK;
}

/* Multiplies every element of a parameter by s (GPT-2's embedding scale). */
static void scale_tensor(volt_tensor *t, double s) {
    size_t n = volt_tensor_numel(t);
    for (size_t i = 0; i < n; i++) volt_tensor_set_flat(t, i, s * volt_tensor_get_flat(t, i));
}

static int gpt_init(volt_module *m, const volt_config *config) {
    gpt_state *s = volt_module_state(m);
    long input_size = volt_config_int(config, "model.input_size", 0);
    long block_size = volt_config_int(config, "model.block_size", 0);
    long vocab_size = volt_config_int(config, "model.vocab_size", 256);
    long n_layer = volt_config_int(config, "model.n_layer", 4);
    long n_head = volt_config_int(config, "model.n_head", 4);
    long n_embd = volt_config_int(config, "model.n_embd", 128);
    s->dropout = volt_config_float(config, "model.dropout", 0.0);
    if (block_size == 0 && input_size > 1) block_size = input_size - 1;
    if (block_size <= 0)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "gpt: model.block_size=%ld and model.input_size=%ld: give block_size, "
                          "or data whose samples hold block_size + 1 tokens (volt-data text)",
                          block_size, input_size);
    if (input_size != 0 && input_size != block_size + 1)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "gpt: samples of %ld tokens, but model.block_size=%ld needs %ld "
                          "(block_size inputs and the next token)",
                          input_size, block_size, block_size + 1);
    if (vocab_size < 2 || vocab_size > (1L << 24))
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "gpt: model.vocab_size=%ld: expected 2 .. 2^24 "
                          "(token values travel as f32)",
                          vocab_size);
    if (n_layer < 1 || n_layer > GPT_MAX_LAYERS)
        return VOLT_ERROR(VOLT_ERR_CONFIG, "gpt: model.n_layer=%ld: expected 1 .. %d", n_layer,
                          GPT_MAX_LAYERS);
    if (n_head < 1 || n_embd < 1 || n_embd % n_head != 0)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "gpt: model.n_embd=%ld must be a positive multiple of "
                          "model.n_head=%ld",
                          n_embd, n_head);
    if (!(s->dropout >= 0.0 && s->dropout < 1.0))
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "gpt: model.dropout=%g: expected a probability in [0, 1)", s->dropout);
    s->vocab_size = vocab_size;
    s->block_size = block_size;
    s->n_layer = (int)n_layer;

    volt_params *params = volt_module_params(m);
    const volt_tp *tp = volt_module_tp(m);
    if (vocab_size % tp->size != 0)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "gpt: model.vocab_size=%ld does not split over tp=%d ranks (tp must "
                          "divide vocab_size, n_head and 4 n_embd)",
                          vocab_size, tp->size);
    if (n_head % tp->size != 0)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "gpt: model.n_head=%ld heads do not split over tp=%d ranks (tp must "
                          "divide n_head)",
                          n_head, tp->size);
    VOLT_CHECK_PTR(
        s->wte = volt_embedding_parallel_new(params, "transformer.wte", vocab_size, n_embd, tp));
    scale_tensor(s->wte->weight, 0.02);
    VOLT_CHECK_PTR(s->wpe = volt_embedding_new(params, "transformer.wpe", block_size, n_embd));
    scale_tensor(s->wpe->weight, 0.02);
    for (int i = 0; i < s->n_layer; i++) {
        char name[32];
        snprintf(name, sizeof name, "transformer.h.%d", i);
        VOLT_CHECK_PTR(s->blocks[i] = volt_transformer_block_parallel_new(
                           params, name, n_embd, (int)n_head, s->dropout, tp));
    }
    VOLT_CHECK_PTR(s->ln_f = volt_layer_norm_new(params, "transformer.ln_f", n_embd, 1e-5));
    return VOLT_OK;
}

/* Columns [first, first + count) of the token samples x [B, S] as i64 token ids [B, count],
 * checked; NULL (error pushed) when a value is not a token. */
static volt_tensor *tokens(const gpt_state *s, volt_tensor *x, long first, long count) {
    if (!x || x->ndim != 2 || first + count > x->shape[1]) {
        VOLT_ERROR(VOLT_ERR_SHAPE, "gpt: expected token samples [B, >= %ld], got %d dimensions",
                   first + count, x ? x->ndim : 0);
        return NULL;
    }
    long batch = x->shape[0], width = x->shape[1];
    const long shape[] = {batch, count};
    volt_tensor *out = volt_graph_tensor(x->graph, VOLT_I64, 2, shape);
    if (!out) return NULL;
    int64_t *ids = out->data;
    for (long b = 0; b < batch; b++) {
        for (long t = 0; t < count; t++) {
            double v = volt_tensor_get_flat(x, (size_t)(b * width + first + t));
            if (!(v >= 0 && v < (double)s->vocab_size && v == floor(v))) {
                VOLT_ERROR(VOLT_ERR_ARG,
                           "gpt: batch row %ld, position %ld holds %g, not a token id in "
                           "[0, %ld) (the data must be token samples, as volt-data text "
                           "writes)",
                           b, first + t, v, s->vocab_size);
                return NULL;
            }
            ids[b * count + t] = (int64_t)v;
        }
    }
    return out;
}

/* Logits [B, T, V / tp] of token ids [B, T] (T <= block_size): this rank's vocabulary
 * columns, from wte->first on. */
static volt_tensor *gpt_logits(volt_module *m, volt_tensor *ids) {
    gpt_state *s = volt_module_state(m);
    if (!ids) return NULL;
    long t = ids->shape[1];
    if (t > s->block_size) {
        VOLT_ERROR(VOLT_ERR_SHAPE, "gpt: %ld tokens, more than model.block_size=%ld", t,
                   s->block_size);
        return NULL;
    }
    volt_tensor *positions = volt_graph_tensor(ids->graph, VOLT_I64, 1, &t);
    if (!positions) return NULL;
    for (long i = 0; i < t; i++) ((int64_t *)positions->data)[i] = i;
    volt_tensor *h = volt_add(volt_embedding(s->wte, ids), volt_embedding(s->wpe, positions));
    h = volt_dropout_fn(h, s->dropout);
    for (int i = 0; i < s->n_layer && h; i++) h = volt_transformer_block_forward(s->blocks[i], h);
    /* the output layer is wte itself (split by vocabulary under tensor parallelism) */
    const volt_tp *tp = volt_module_tp(m);
    return volt_linear_fn(volt_tp_copy(tp, volt_layer_norm(s->ln_f, h)), s->wte->weight, NULL);
}

/* Logits [..., V / tp] of every rank of the group side by side: [..., V]. Without
 * gradient (for forward and predict). */
static volt_tensor *gather_vocabulary(volt_module *m, volt_tensor *logits) {
    const volt_tp *tp = volt_module_tp(m);
    if (tp->size == 1 || !logits) return logits;
    logits = volt_contiguous(logits);
    if (!logits) return NULL;
    long cols = logits->shape[logits->ndim - 1];
    size_t n = volt_tensor_numel(logits), rows = n / (size_t)cols;
    float *all = volt_graph_alloc(logits->graph, n * (size_t)tp->size * sizeof(float));
    long shape[VOLT_MAX_DIMS];
    for (int d = 0; d < logits->ndim; d++) shape[d] = logits->shape[d];
    shape[logits->ndim - 1] = cols * tp->size;
    volt_tensor *out = volt_graph_tensor(logits->graph, VOLT_F32, logits->ndim, shape);
    if (!all || !out) {
        VOLT_ERROR(VOLT_ERR_NOMEM, "gpt: out of memory gathering %zu logits", n * tp->size);
        return NULL;
    }
    if (volt_comm_allgather(tp->comm, logits->data, all, n, VOLT_F32, NULL) != VOLT_OK) return NULL;
    float *dst = out->data;
    for (int r = 0; r < tp->size; r++) /* rank r's [rows, cols] block into columns r cols.. */
        for (size_t i = 0; i < rows; i++)
            memcpy(dst + i * (size_t)cols * tp->size + (size_t)r * cols,
                   all + (size_t)r * n + i * (size_t)cols, (size_t)cols * sizeof(float));
    return out;
}

/* forward: token samples x [B, S] (S <= block_size) -> logits [B, S, V] (under tensor
 * parallelism gathered from the group, without gradient). */
static volt_tensor *gpt_forward(volt_module *m, volt_tensor *x) {
    gpt_state *s = volt_module_state(m);
    return gather_vocabulary(m,
                             gpt_logits(m, tokens(s, x, 0, x && x->ndim == 2 ? x->shape[1] : 0)));
}

/* Next-token loss of a batch of block_size + 1 token samples; logs <prefix>/loss and, when
 * acc_flags, <prefix>/acc and <prefix>/bpt. */
static volt_tensor *evaluate(volt_module *m, const volt_batch *batch, const char *prefix,
                             int loss_flags, int acc_flags) {
    gpt_state *s = volt_module_state(m);
    volt_tensor *x = batch->x;
    if (!x || x->ndim != 2 || x->shape[1] != s->block_size + 1) {
        char shape[64] = "none";
        if (x) volt_shape_string(x, shape, sizeof shape);
        VOLT_ERROR(VOLT_ERR_SHAPE,
                   "gpt: %s samples have shape %s; block_size %ld needs [B, %ld] token samples",
                   prefix, shape, s->block_size, s->block_size + 1);
        return NULL;
    }
    volt_tensor *inputs = tokens(s, x, 0, s->block_size);
    volt_tensor *targets = tokens(s, x, 1, s->block_size);
    if (!inputs || !targets) return NULL;
    const volt_tp *tp = volt_module_tp(m);
    volt_tensor *logits = gpt_logits(m, inputs);
    volt_tensor *loss = volt_tp_cross_entropy(tp, logits, targets, s->wte->first);
    if (!loss) return NULL;
    char name[32];
    snprintf(name, sizeof name, "%s/loss", prefix);
    if (volt_log(m, name, loss, loss_flags) != VOLT_OK) return NULL;
    if (acc_flags) {
        snprintf(name, sizeof name, "%s/acc", prefix);
        if (volt_log_value(m, name, volt_tp_accuracy(tp, logits, targets, s->wte->first),
                           acc_flags) != VOLT_OK)
            return NULL;
        snprintf(name, sizeof name, "%s/bpt", prefix);
        double bits = volt_tensor_get_flat(loss, 0) / log(2.0);
        if (volt_log_value(m, name, bits, acc_flags) != VOLT_OK) return NULL;
    }
    return loss;
}

static volt_tensor *gpt_training_step(volt_module *m, const volt_batch *batch, long batch_idx) {
    (void)batch_idx;
    return evaluate(m, batch, "train", VOLT_LOG_STEP | VOLT_LOG_PROG_BAR, 0);
}

static int gpt_validation_step(volt_module *m, const volt_batch *batch, long batch_idx) {
    (void)batch_idx;
    const int flags = VOLT_LOG_EPOCH | VOLT_LOG_PROG_BAR;
    VOLT_CHECK_PTR(evaluate(m, batch, "val", flags, flags));
    return VOLT_OK;
}

static int gpt_test_step(volt_module *m, const volt_batch *batch, long batch_idx) {
    (void)batch_idx;
    VOLT_CHECK_PTR(evaluate(m, batch, "test", VOLT_LOG_EPOCH, VOLT_LOG_EPOCH));
    return VOLT_OK;
}

/* The logits of the token after the first block_size tokens of each sample: [B, V]. */
static volt_tensor *gpt_predict_step(volt_module *m, const volt_batch *batch, long batch_idx) {
    (void)batch_idx;
    gpt_state *s = volt_module_state(m);
    volt_tensor *x = batch->x;
    long t = x && x->ndim == 2 && x->shape[1] < s->block_size ? x->shape[1] : s->block_size;
    volt_tensor *logits = gpt_logits(m, tokens(s, x, 0, t));
    if (!logits) return NULL;
    /* row t - 1 of each sample, picked from [B * t, V / tp] as an embedding lookup does */
    long samples = logits->shape[0];
    const long rows[] = {samples * t, logits->shape[2]};
    volt_tensor *picks = volt_graph_tensor(logits->graph, VOLT_I64, 1, &samples);
    if (!picks) return NULL;
    for (long b = 0; b < samples; b++) ((int64_t *)picks->data)[b] = b * t + t - 1;
    return gather_vocabulary(m, volt_embedding_fn(volt_reshape(logits, 2, rows), picks));
}

const volt_module_ops volt_gpt_ops = {
    .name = "gpt",
    .state_size = sizeof(gpt_state),
    .declare = gpt_declare,
    .init = gpt_init,
    .forward = gpt_forward,
    .training_step = gpt_training_step,
    .validation_step = gpt_validation_step,
    .test_step = gpt_test_step,
    .predict_step = gpt_predict_step,
};

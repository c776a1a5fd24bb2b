/* apps/models/models.h — the modules volt-train builds by name (model.name).
 *
 * Each built-in model is a volt_module_ops table. Its declare() declares the model.*
 * keys it reads; volt-train calls it after reading model.name and before resolving the
 * configuration, so `--model.hidden=512` is checked like any other key.
 *
 * Sizes that come from the data (the built-in models are classifiers):
 *   model.input_size   features of one sample (0, the default: from the data set)
 *   model.num_classes  classes (0, the default: from the data set)
 * volt-train opens the data set before creating the module and sets both with
 * volt_config_set when they are 0, or checks that a value given agrees with the data
 * (a config.yaml written by a run holds the values and repeats the run). A program
 * that creates a model itself sets them the same way before volt_module_create.
 *
 * Built in:
 *   mlp   Linear layers fc1, fc2, ... (PyTorch's names) with an activation and
 *         dropout between them. Keys: model.hidden ("256": comma-separated widths of
 *         the hidden layers, "" for none), model.activation ("relu"|"gelu"|"tanh"),
 *         model.dropout (0.0, the probability of zeroing a hidden unit). Logs
 *         train/loss (each step, progress bar) and train/acc (each epoch); val/loss and
 *         val/acc (each epoch, progress bar); test/loss and test/acc. Samples of any
 *         shape are flattened.
 *   gpt   a GPT-2 style decoder-only transformer over token samples of block_size + 1
 *         tokens (volt-data text); keys model.vocab_size, block_size, n_layer, n_head,
 *         n_embd, dropout; logs train/loss, val/loss, val/acc, val/bpt (gpt.c). */
#ifndef VOLT_APPS_MODELS_H
#define VOLT_APPS_MODELS_H

#include <stddef.h>

#include "trainer/module.h"

extern const volt_module_ops volt_mlp_ops;
extern const volt_module_ops volt_gpt_ops;

/* The model called name, or NULL after pushing VOLT_ERR_CONFIG that names the known
 * models. */
const volt_module_ops *volt_model_find(const char *name);

/* Writes the known models' names, comma-separated ("mlp"), into out (for help and
 * errors); returns out. */
const char *volt_model_names(char *out, size_t size);

#endif

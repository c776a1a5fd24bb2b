#!/usr/bin/python3
"""tools/volt_to_torch.py — a Volt checkpoint of a built-in model as a PyTorch model.

    volt_to_torch.py CHECKPOINT [--data FILE.h5 [--split val]] [--save model.pt]

Reads CHECKPOINT (docs/checkpoint-format.md) with h5py, refuses a format version other
than 1, rebuilds the torch module that computes what the built-in model computes, and
loads /model into it with load_state_dict(strict=True). For mlp (apps/models/mlp.c), a
torch.nn.Sequential:

    flatten -> fc1 -> act -> [dropout] -> fc2 -> act -> [dropout] -> ... -> fcN

fc<i> is nn.Linear (Volt stores PyTorch's names and shapes: weight [out, in]); act is
nn.ReLU, nn.GELU(approximate="tanh") (Volt's GELU is the tanh form) or nn.Tanh; dropout
is nn.Dropout(model.dropout) after each hidden activation, present only when
model.dropout > 0. The widths of the hidden layers and the activation come from the
resolved configuration in /meta/config (model.hidden, model.activation, model.dropout);
the input size and the class count from the shapes of fc1.weight and fcN.weight. In
evaluation mode the model gives Volt's logits up to f32 rounding; in training mode
torch draws its own dropout masks (Volt's are counter-based Philox streams).

For gpt (apps/models/gpt.c), GPT-2's decoder with the same parameter names
(transformer.wte, transformer.wpe, transformer.h.<i>.{ln_1, attn.c_attn, attn.c_proj,
ln_2, mlp.c_fc, mlp.c_proj}, transformer.ln_f; nn.Linear layers, the output layer tied
to wte), causal attention with q, k, v side by side in c_attn's output and GELU's tanh
form; n_head comes from /meta/config, the other sizes from the weights. Its data are
token samples of block_size + 1 tokens without labels (volt-data text): accuracy is
next-token accuracy and loss the mean next-token cross-entropy over every position.

--data evaluates the model on a split of a file in Volt's data layout
(lib/data/dataset.h), normalised exactly as Volt's reader does (f32:
x * f32(scale / std) + f32(-mean / std)), and prints one line

    accuracy=<float> loss=<float> samples=<n>

with loss the mean cross-entropy over the split. --save writes the state dict with
torch.save (keys fc1.weight, fc1.bias, ...).

A one-line summary of the model goes to stderr. Errors (missing or unreadable file, not
a Volt checkpoint, another format version, a module other than mlp, a data file that
does not fit the model) print one message on stderr and exit with status 2.

Run it with an interpreter that has torch, h5py and numpy (Debian's /usr/bin/python3
with python3-torch and python3-h5py). The YAML of /meta/config is read with PyYAML when
it is installed and otherwise with a small reader of the block YAML Volt writes.
"""
import argparse
import math
import os
import sys
from collections import OrderedDict

FORMAT_VERSION = 1  # the only checkpoint format version this tool reads
DATASET_FORMAT = "volt-dataset-1"
EXIT_ERROR = 2
EVAL_BATCH = 1000


class VoltError(Exception):
    """A problem with the user's files, reported as one line and exit status 2."""


try:
    import h5py
    import numpy as np
    import torch
    from torch import nn
except ImportError as missing:  # reported in main(), where the user sees it
    IMPORT_ERROR = missing
else:
    IMPORT_ERROR = None


# ---- the resolved configuration (YAML) ------------------------------------------------

def _unquote_double(text):
    """The value of a double-quoted YAML scalar given without its quotes."""
    simple = {"0": "\0", "a": "\a", "b": "\b", "t": "\t", "\t": "\t", "n": "\n",
              "v": "\v", "f": "\f", "r": "\r", "e": "\x1b", " ": " ", '"': '"',
              "/": "/", "\\": "\\", "N": "\x85", "_": "\xa0", "L": "\u2028",
              "P": "\u2029"}
    hex_digits = {"x": 2, "u": 4, "U": 8}
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        escape = text[i + 1:i + 2]
        if escape in simple:
            out.append(simple[escape])
            i += 2
        elif escape in hex_digits:
            n = hex_digits[escape]
            out.append(chr(int(text[i + 2:i + 2 + n], 16)))
            i += 2 + n
        else:
            raise VoltError("unsupported escape \\%s in the configuration's YAML" % escape)
    return "".join(out)


def _split_quoted(text, quote):
    """(the quoted scalar at the start of text, the rest after its closing quote)."""
    i = 1
    while i < len(text):
        if quote == "'" and text[i] == "'":
            if text[i + 1:i + 2] == "'":
                i += 2
                continue
            return text[1:i].replace("''", "'"), text[i + 1:]
        if quote == '"' and text[i] == "\\":
            i += 2
            continue
        if quote == '"' and text[i] == '"':
            return _unquote_double(text[1:i]), text[i + 1:]
        i += 1
    raise VoltError("unterminated quoted string in the configuration's YAML: %s" % text)


def _scalar(text):
    """A scalar's value: quoted ones as their text, plain ones as text (None for null)."""
    text = text.strip()
    if text[:1] in ("'", '"'):
        value, rest = _split_quoted(text, text[0])
        rest = rest.strip()
        if rest and not rest.startswith("#"):
            raise VoltError("unexpected text after a quoted string in the configuration's "
                            "YAML: %s" % text)
        return value
    comment = text.find(" #")
    if comment >= 0:
        text = text[:comment].rstrip()
    if text.startswith("#"):
        text = ""
    if text in ("", "~", "null", "Null", "NULL"):
        return None
    if text == "[]":
        return []
    if text == "{}":
        return {}
    return text


def _split_key(text):
    """(key, value text) of a mapping entry 'key: value' or 'key:', else None."""
    if text[:1] in ("'", '"'):
        key, rest = _split_quoted(text, text[0])
        rest = rest.lstrip()
        if rest == ":" or rest.startswith(": "):
            return key, rest[1:]
        return None
    for i, c in enumerate(text):
        if c == ":" and (i + 1 == len(text) or text[i + 1] in " \t"):
            return text[:i].strip(), text[i + 1:]
        if c == "#" and i > 0 and text[i - 1] == " ":
            return None
    return None


def _parse_block(lines, i, indent):
    """The node whose lines start at lines[i] (indented exactly indent); (value, next i)."""
    if lines[i][1] == "-" or lines[i][1].startswith("- "):
        items = []
        while i < len(lines) and lines[i][0] == indent and (
                lines[i][1] == "-" or lines[i][1].startswith("- ")):
            rest = lines[i][1][1:]
            content = rest.lstrip()
            if not content:  # "-" alone: the item is the block below
                if i + 1 < len(lines) and lines[i + 1][0] > indent:
                    value, i = _parse_block(lines, i + 1, lines[i + 1][0])
                else:
                    value, i = None, i + 1
            elif _split_key(content) is not None or content.startswith("- "):
                # "- key: value": a mapping (or sequence) indented where its text starts
                lines[i] = (indent + 1 + len(rest) - len(content), content)
                value, i = _parse_block(lines, i, lines[i][0])
            else:
                value, i = _scalar(content), i + 1
            items.append(value)
        return items, i
    mapping = {}
    while i < len(lines) and lines[i][0] == indent and not (
            lines[i][1] == "-" or lines[i][1].startswith("- ")):
        entry = _split_key(lines[i][1])
        if entry is None:
            raise VoltError("the configuration's YAML has a line that is not 'key: value': "
                            "%s" % lines[i][1])
        key, value_text = entry
        if _scalar(value_text) is None and i + 1 < len(lines) and (
                lines[i + 1][0] > indent or (lines[i + 1][0] == indent and (
                    lines[i + 1][1] == "-" or lines[i + 1][1].startswith("- ")))):
            value, i = _parse_block(lines, i + 1, lines[i + 1][0])
        else:
            value, i = _scalar(value_text), i + 1
        mapping[key] = value
    return mapping, i


def parse_yaml(text):
    """The block YAML that Volt writes (nested mappings and sequences of scalars, plain
    or quoted) as nested dicts and lists of strings. Not a general YAML reader."""
    lines = []
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#") or stripped in ("---", "..."):
            continue
        if "\t" in raw[:len(raw) - len(raw.lstrip())]:
            raise VoltError("the configuration's YAML indents with a tab")
        lines.append((len(raw) - len(raw.lstrip(" ")), raw.strip()))
    if not lines:
        return {}
    value, end = _parse_block(lines, 0, lines[0][0])
    if end != len(lines):
        raise VoltError("the configuration's YAML is not one block (line: %s)" % lines[end][1])
    return value


def load_yaml(text):
    try:
        import yaml
    except ImportError:
        return parse_yaml(text)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise VoltError("the configuration in /meta/config is not valid YAML: %s" % error)


# ---- the checkpoint ------------------------------------------------------------------

def _attribute_text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.shape == ():
        return _attribute_text(value[()])
    return str(value)


def read_meta(h5file, path):
    """/meta's attributes as a dict (strings decoded, numbers as int or float)."""
    if "meta" not in h5file or not isinstance(h5file["meta"], h5py.Group) or \
            "format_version" not in h5file["meta"].attrs:
        raise VoltError("%s is an HDF5 file but not a Volt checkpoint (no /meta/format_version)"
                        % path)
    meta = {}
    for name, value in h5file["meta"].attrs.items():
        if isinstance(value, (bytes, str)) or (isinstance(value, np.ndarray) and
                                               value.dtype.kind in "SUO"):
            meta[name] = _attribute_text(value)
        elif isinstance(value, (np.integer, int)):
            meta[name] = int(value)
        elif isinstance(value, (np.floating, float)):
            meta[name] = float(value)
        else:
            meta[name] = value
    return meta


def _hidden_widths(text):
    """model.hidden ("512,256", "256", "": none) as a list of ints, as apps/models/mlp.c."""
    text = "" if text is None else str(text)
    if not text.strip():
        return []
    widths = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) <= 0:
            raise VoltError("model.hidden='%s' in /meta/config: expected positive integers "
                            "separated by commas" % text)
        widths.append(int(part))
    return widths


class _TanhGelu(nn.Module if IMPORT_ERROR is None else object):
    """GELU, tanh form, for a torch without nn.GELU(approximate=...)."""

    def forward(self, x):
        k = math.sqrt(2.0 / math.pi)
        return 0.5 * x * (1.0 + torch.tanh(k * (x + 0.044715 * x * x * x)))


def _activation(name):
    if name == "relu":
        return nn.ReLU()
    if name == "tanh":
        return nn.Tanh()
    if name == "gelu":
        try:
            return nn.GELU(approximate="tanh")
        except TypeError:  # torch < 1.12
            return _TanhGelu()
    raise VoltError("model.activation='%s' in /meta/config: expected relu, gelu or tanh" % name)


def build_mlp(model_config, state):
    """The Sequential for apps/models/mlp.c: model_config is the config's model section,
    state the tensors of /model (for the input size and the class count)."""
    widths = _hidden_widths(model_config.get("hidden", "256"))
    activation = str(model_config.get("activation", "relu"))
    dropout = float(model_config.get("dropout", 0.0) or 0.0)
    last = "fc%d.weight" % (len(widths) + 1)
    for name in ("fc1.weight", last):
        if name not in state:
            raise VoltError("the checkpoint has no /model/%s, which model.hidden='%s' implies "
                            "(its tensors: %s)" % (name, model_config.get("hidden"),
                                                   ", ".join(sorted(state))))
        if state[name].ndim != 2:
            raise VoltError("/model/%s has shape %s; expected [out, in]" %
                            (name, list(state[name].shape)))
    input_size = state["fc1.weight"].shape[1]
    num_classes = state[last].shape[0]
    for key, found in (("input_size", input_size), ("num_classes", num_classes)):
        declared = int(model_config.get(key, 0) or 0)
        if declared and declared != found:
            raise VoltError("model.%s=%d in /meta/config but the weights say %d" %
                            (key, declared, found))
    sizes = [input_size] + widths + [num_classes]
    for i in range(len(sizes) - 1):  # a clearer message than load_state_dict's
        for name, shape in (("fc%d.weight" % (i + 1), [sizes[i + 1], sizes[i]]),
                            ("fc%d.bias" % (i + 1), [sizes[i + 1]])):
            if name in state and list(state[name].shape) != shape:
                raise VoltError("/model/%s has shape %s; model.hidden='%s' in /meta/config "
                                "makes it %s" % (name, list(state[name].shape),
                                                 model_config.get("hidden"), shape))
    layers = [("flatten", nn.Flatten())]
    for i in range(len(sizes) - 1):
        layers.append(("fc%d" % (i + 1), nn.Linear(sizes[i], sizes[i + 1])))
        if i < len(widths):
            layers.append(("act%d" % (i + 1), _activation(activation)))
            if dropout > 0:
                layers.append(("drop%d" % (i + 1), nn.Dropout(dropout)))
    model = nn.Sequential(OrderedDict(layers))
    description = "mlp " + "-".join(str(size) for size in sizes)
    if widths:
        description += " (%s%s)" % (activation, ", dropout %g" % dropout if dropout > 0 else "")
    return model, description


class _GptAttention(nn.Module if IMPORT_ERROR is None else object):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.n_head = n_head
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)

    def forward(self, x):
        batch, steps, width = x.shape
        d = width // self.n_head
        q, k, v = self.c_attn(x).split(width, dim=2)
        q, k, v = (t.view(batch, steps, self.n_head, d).transpose(1, 2) for t in (q, k, v))
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(d)
        mask = torch.ones(steps, steps, dtype=torch.bool, device=x.device).tril()
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
        out = (weights @ v).transpose(1, 2).reshape(batch, steps, width)
        return self.c_proj(out)


class _GptMlp(nn.Module if IMPORT_ERROR is None else object):
    def __init__(self, n_embd):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd)
        self.act = _activation("gelu")
        self.c_proj = nn.Linear(4 * n_embd, n_embd)

    def forward(self, x):
        return self.c_proj(self.act(self.c_fc(x)))


class _GptBlock(nn.Module if IMPORT_ERROR is None else object):
    def __init__(self, n_embd, n_head, dropout):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd, eps=1e-5)
        self.attn = _GptAttention(n_embd, n_head)
        self.ln_2 = nn.LayerNorm(n_embd, eps=1e-5)
        self.mlp = _GptMlp(n_embd)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        x = x + self.drop(self.attn(self.ln_1(x)))
        return x + self.drop(self.mlp(self.ln_2(x)))


class Gpt(nn.Module if IMPORT_ERROR is None else object):
    """apps/models/gpt.c in torch: token ids [B, T] -> logits [B, T, vocab]."""

    def __init__(self, vocab_size, block_size, n_layer, n_head, n_embd, dropout):
        super().__init__()
        self.block_size = block_size
        self.transformer = nn.ModuleDict(OrderedDict([
            ("wte", nn.Embedding(vocab_size, n_embd)),
            ("wpe", nn.Embedding(block_size, n_embd)),
            ("drop", nn.Dropout(dropout)),
            ("h", nn.ModuleList([_GptBlock(n_embd, n_head, dropout)
                                 for _ in range(n_layer)])),
            ("ln_f", nn.LayerNorm(n_embd, eps=1e-5))]))

    def forward(self, ids):
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.transformer.drop(self.transformer.wte(ids) + self.transformer.wpe(positions))
        for block in self.transformer.h:
            x = block(x)
        return self.transformer.ln_f(x) @ self.transformer.wte.weight.t()


def build_gpt(model_config, state):
    """The Gpt for apps/models/gpt.c: sizes from the weights, n_head from the config."""
    for name in ("transformer.wte.weight", "transformer.wpe.weight"):
        if name not in state or state[name].ndim != 2:
            raise VoltError("the checkpoint has no 2-dimensional /model/%s (its tensors: %s)" %
                            (name, ", ".join(sorted(state)[:8])))
    vocab_size, n_embd = state["transformer.wte.weight"].shape
    block_size = state["transformer.wpe.weight"].shape[0]
    n_layer = len({name.split(".")[2] for name in state if name.startswith("transformer.h.")})
    n_head = int(model_config.get("n_head", 4) or 4)
    dropout = float(model_config.get("dropout", 0.0) or 0.0)
    if n_head <= 0 or n_embd % n_head:
        raise VoltError("model.n_head=%d in /meta/config does not divide n_embd %d" %
                        (n_head, n_embd))
    model = Gpt(vocab_size, block_size, n_layer, n_head, n_embd, dropout)
    description = "gpt: %d layers, %d heads, n_embd %d, block_size %d, vocab %d" % (
        n_layer, n_head, n_embd, block_size, vocab_size)
    return model, description


BUILDERS = {"mlp": build_mlp, "gpt": build_gpt}


def load_checkpoint(path):
    """(model in eval mode, /meta as a dict, a one-line description) for a checkpoint."""
    if not os.path.exists(path):
        raise VoltError("cannot read the checkpoint %s: no such file" % path)
    if os.path.isdir(path):
        raise VoltError("cannot read the checkpoint %s: it is a directory" % path)
    if not h5py.is_hdf5(path):
        raise VoltError("the checkpoint %s is not an HDF5 file (truncated or corrupt?)" % path)
    try:
        h5file = h5py.File(path, "r")
    except OSError as error:
        raise VoltError("cannot open the checkpoint %s (truncated or corrupt?): %s" %
                        (path, error))
    with h5file:
        meta = read_meta(h5file, path)
        version = meta["format_version"]
        if version != FORMAT_VERSION:
            raise VoltError("the checkpoint %s has format version %s; this tool reads version "
                            "%d" % (path, version, FORMAT_VERSION))
        module = meta.get("module")
        if module is None:
            raise VoltError("the checkpoint %s has no attribute module of /meta" % path)
        if module not in BUILDERS:
            raise VoltError("the checkpoint %s holds the module '%s'; this tool rebuilds only "
                            "the built-in %s" % (path, module, " and ".join(sorted(BUILDERS))))
        if "config" not in meta:
            raise VoltError("the checkpoint %s has no attribute config of /meta" % path)
        config = load_yaml(meta["config"])
        model_config = config.get("model") if isinstance(config, dict) else None
        if not isinstance(model_config, dict):
            raise VoltError("the configuration in %s:/meta/config has no model section" % path)
        if "model" not in h5file or not isinstance(h5file["model"], h5py.Group):
            raise VoltError("the checkpoint %s has no /model group" % path)
        state = OrderedDict()
        try:
            for name, item in h5file["model"].items():
                if not isinstance(item, h5py.Dataset) or item.dtype.kind != "f":
                    raise VoltError("%s:/model/%s is not a float tensor" % (path, name))
                state[name] = torch.from_numpy(np.ascontiguousarray(item[()]))
        except OSError as error:
            raise VoltError("cannot read %s:/model (truncated or corrupt?): %s" % (path, error))
    model, description = BUILDERS[module](model_config, state)
    dtypes = {t.dtype for t in state.values()}
    if len(dtypes) == 1:
        model.to(next(iter(dtypes)))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise VoltError("the tensors of %s do not fit the %s its configuration describes: %s"
                        % (path, module, " ".join(str(error).split())))
    model.eval()
    return model, meta, description


# ---- data ----------------------------------------------------------------------------

def _number_attribute(attrs, name, default, where):
    if name not in attrs:
        return default
    value = np.asarray(attrs[name])
    if value.size != 1 or value.dtype.kind not in "iuf":
        raise VoltError("%s: attribute %s must be one number" % (where, name))
    return value.reshape(()).item()


class VoltSplit:
    """One split of a file in Volt's data layout, read in batches, normalised as
    lib/data/dataset.c does (in f32: x * f32(scale / std) + f32(-mean / std))."""

    def __init__(self, path, split):
        where = "data file '%s', split '%s'" % (path, split)
        if not os.path.isfile(path):
            raise VoltError("cannot open data file '%s': no such file" % path)
        if not h5py.is_hdf5(path):
            raise VoltError("data file '%s' is not an HDF5 file" % path)
        try:
            self.file = h5py.File(path, "r")
        except OSError as error:
            raise VoltError("cannot open data file '%s': %s" % (path, error))
        if "format" in self.file.attrs:
            found = _attribute_text(self.file.attrs["format"])
            if found != DATASET_FORMAT:
                raise VoltError("data file '%s' has format '%s'; this tool reads '%s'" %
                                (path, found, DATASET_FORMAT))
        if split not in self.file or not isinstance(self.file[split], h5py.Group):
            raise VoltError("data file '%s' has no split '%s' (no group /%s)" %
                            (path, split, split))
        group = self.file[split]
        if "x" not in group:
            raise VoltError("%s: no dataset x (expected /%s/x)" % (where, split))
        self.x = group["x"]
        self.y = group["y"] if "y" in group else None
        if not (self.x.dtype == np.uint8 or self.x.dtype == np.float32):
            raise VoltError("%s: x has dtype %s; expected u8 or f32" % (where, self.x.dtype))
        if not 2 <= self.x.ndim <= 4:
            raise VoltError("%s: x has %d dimensions; expected 2 to 4" % (where, self.x.ndim))
        if self.y is not None and (self.y.dtype.kind not in "iu" or self.y.ndim != 1 or
                                   self.y.shape[0] != self.x.shape[0]):
            raise VoltError("%s: y must be integer labels [N] with N = %d" %
                            (where, self.x.shape[0]))
        scale = float(_number_attribute(self.x.attrs, "scale", 1.0, where))
        mean = float(_number_attribute(self.x.attrs, "mean", 0.0, where))
        std = float(_number_attribute(self.x.attrs, "std", 1.0, where))
        if std == 0.0:
            raise VoltError("%s: attribute x.std = 0" % where)
        self.normalise = (scale, mean, std) != (1.0, 0.0, 1.0)
        self.gain = np.float32(scale / std)
        self.shift = np.float32(-mean / std)
        self.num_classes = int(_number_attribute(self.file.attrs, "num_classes", 0, where))
        if self.y is not None and self.num_classes <= 0:
            raise VoltError("data file '%s': y is present but the root has no positive "
                            "num_classes attribute" % path)
        self.where = where
        self.length = self.x.shape[0]
        self.features = int(np.prod(self.x.shape[1:]))

    def batch(self, first, count):
        """(x f32 [count, ...] normalised, y i64 [count] or None without labels) for samples
        first .. first+count."""
        x = self.x[first:first + count].astype(np.float32)
        if self.normalise:
            x = x * self.gain + self.shift  # f32 throughout, one rounding per operation
        if self.y is None:
            return x, None
        y = self.y[first:first + count].astype(np.int64)
        bad = np.nonzero((y < 0) | (y >= self.num_classes))[0]
        if bad.size:
            raise VoltError("%s: sample %d has label %d, outside [0, %d)" %
                            (self.where, first + bad[0], y[bad[0]], self.num_classes))
        return x, y

    def close(self):
        self.file.close()


def evaluate_gpt(model, split):
    """(next-token accuracy, mean next-token cross-entropy, samples) over token samples."""
    if split.x.ndim != 2 or split.x.shape[1] != model.block_size + 1:
        raise VoltError("%s: samples of shape %s; the model needs [N, %d] token samples "
                        "(block_size + 1)" % (split.where, list(split.x.shape[1:]),
                                              model.block_size + 1))
    dtype = model.transformer.wte.weight.dtype
    vocab_size = model.transformer.wte.weight.shape[0]
    correct, loss_sum, positions = 0, 0.0, 0
    with torch.no_grad():
        for first in range(0, split.length, EVAL_BATCH):
            x, _ = split.batch(first, min(EVAL_BATCH, split.length - first))
            if x.size and (x.min() < 0 or x.max() >= vocab_size or (x != np.floor(x)).any()):
                raise VoltError("%s: samples %d.. hold values that are not token ids in "
                                "[0, %d)" % (split.where, first, vocab_size))
            ids = torch.from_numpy(x.astype(np.int64))
            logits = model(ids[:, :-1]).to(dtype)
            target = ids[:, 1:]
            loss_sum += nn.functional.cross_entropy(
                logits.double().reshape(-1, vocab_size), target.reshape(-1),
                reduction="sum").item()
            correct += (logits.argmax(dim=2) == target).sum().item()
            positions += target.numel()
    n = split.length
    return (correct / positions if n else 0.0), (loss_sum / positions if n else 0.0), n


def evaluate(model, split):
    """(accuracy, mean cross-entropy, samples) of model over the split."""
    if isinstance(model, Gpt):
        return evaluate_gpt(model, split)
    if split.y is None:
        raise VoltError("%s: no labels (y), so no accuracy or loss" % split.where)
    fc_layers = [m for m in model if isinstance(m, nn.Linear)]
    input_size, num_classes = fc_layers[0].in_features, fc_layers[-1].out_features
    if split.features != input_size:
        raise VoltError("%s: a sample has %d features; the model takes %d" %
                        (split.where, split.features, input_size))
    if split.num_classes != num_classes:
        raise VoltError("%s: the file has %d classes; the model predicts %d" %
                        (split.where, split.num_classes, num_classes))
    dtype = fc_layers[0].weight.dtype
    correct, loss_sum = 0, 0.0
    with torch.no_grad():
        for first in range(0, split.length, EVAL_BATCH):
            x, y = split.batch(first, min(EVAL_BATCH, split.length - first))
            logits = model(torch.from_numpy(x).to(dtype))
            target = torch.from_numpy(y)
            loss_sum += nn.functional.cross_entropy(logits.double(), target,
                                                    reduction="sum").item()
            correct += (logits.argmax(dim=1) == target).sum().item()
    n = split.length
    return (correct / n if n else 0.0), (loss_sum / n if n else 0.0), n


# ---- command line --------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="volt_to_torch.py",
        description="Rebuilds a Volt checkpoint of a built-in model (mlp, gpt) as a torch model, "
                    "optionally evaluates it on a split of a Volt data file and saves its "
                    "state dict.")
    parser.add_argument("checkpoint", help="a Volt checkpoint (.h5)")
    parser.add_argument("--data", metavar="FILE.h5",
                        help="evaluate on a split of this file (Volt's data layout); prints "
                             "accuracy=<float> loss=<float> samples=<n>")
    parser.add_argument("--split", default="val",
                        help="the split --data evaluates: train, val, test (default: val)")
    parser.add_argument("--save", metavar="MODEL.pt",
                        help="write the state dict with torch.save")
    args = parser.parse_args(argv)
    if IMPORT_ERROR is not None:
        print("volt_to_torch: this tool needs torch, h5py and numpy (%s); run it with an "
              "interpreter that has them, such as Debian's /usr/bin/python3" % IMPORT_ERROR,
              file=sys.stderr)
        return EXIT_ERROR
    try:
        model, meta, description = load_checkpoint(args.checkpoint)
        print("volt_to_torch: %s: %s, global_step %s" % (args.checkpoint, description,
                                                         meta.get("global_step", "?")),
              file=sys.stderr)
        if args.data:
            split = VoltSplit(args.data, args.split)
            try:
                accuracy, loss, samples = evaluate(model, split)
            finally:
                split.close()
            print("accuracy=%.6f loss=%.6f samples=%d" % (accuracy, loss, samples))
        if args.save:
            try:
                torch.save(model.state_dict(), args.save)
            except (OSError, RuntimeError) as error:  # torch reports a bad folder as either
                raise VoltError("cannot write %s: %s" % (args.save, error))
    except VoltError as error:
        print("volt_to_torch: %s" % error, file=sys.stderr)
        return EXIT_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())

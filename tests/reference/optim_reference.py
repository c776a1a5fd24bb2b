#!/usr/bin/python3
"""tests/reference/optim_reference.py — reference numbers for tests/unit/test_optim.c.

Runs torch.optim (SGD, Adam, AdamW, single-tensor code paths), torch.optim.lr_scheduler
and torch.nn.utils.clip_grad_norm_ on small deterministic inputs and prints the results
as C initialisers, to be pasted into the test. Run with the interpreter that has Debian's
python3-torch:

    apt-get install -y python3-torch python3-numpy
    /usr/bin/python3 tests/reference/optim_reference.py > /tmp/optim_reference.inc

Inputs: 7 parameters, gradients that change every step by a formula (one element is
tiny, so that eps matters), and a learning rate that changes every step (AdamW's decay
uses the step's rate). f64 results are printed with repr (exact round trip); the f32
runs start from the same numbers rounded to f32.
"""
import math

import torch

N = 7
STEPS = 4
LR_FACTORS = [1.0, 0.5, 0.8, 0.25]  # the step's lr is the case's lr times this


def initial_params():
    return [math.sin(i + 1.0) * (i + 1.0) / 3.0 for i in range(N)]


def gradient(step):
    scale = [1.0, 0.5, 2.0, 1e-6, 1.5, 0.25, 3.0]
    return [scale[i] * math.cos(0.7 * (i + 1.0) + 0.9 * step) for i in range(N)]


# name, torch class, its keyword arguments, volt options (C initialiser), state names
CASES = [
    ("sgd_plain", torch.optim.SGD, dict(lr=0.1),
     "{.kind = VOLT_OPTIM_SGD, .lr = 0.1}", []),
    ("sgd_momentum_dampening", torch.optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.3),
     "{.kind = VOLT_OPTIM_SGD, .lr = 0.1, .momentum = 0.9, .dampening = 0.3}",
     ["momentum_buffer"]),
    ("sgd_nesterov_weight_decay", torch.optim.SGD,
     dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01),
     "{.kind = VOLT_OPTIM_SGD, .lr = 0.05, .momentum = 0.8, .nesterov = 1, "
     ".weight_decay = 0.01}", ["momentum_buffer"]),
    ("adam_weight_decay", torch.optim.Adam, dict(lr=0.1, weight_decay=0.02),
     "{.kind = VOLT_OPTIM_ADAM, .lr = 0.1, .weight_decay = 0.02, .beta1 = 0.9, "
     ".beta2 = 0.999, .eps = 1e-8}", ["exp_avg", "exp_avg_sq"]),
    ("adamw", torch.optim.AdamW, dict(lr=0.1, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
     "{.kind = VOLT_OPTIM_ADAMW, .lr = 0.1, .weight_decay = 0.1, .beta1 = 0.8, "
     ".beta2 = 0.99, .eps = 1e-6}", ["exp_avg", "exp_avg_sq"]),
]


def run_case(cls, kwargs, state_names, dtype):
    p = torch.tensor(initial_params(), dtype=torch.float64).to(dtype).requires_grad_(True)
    opt = cls([p], foreach=False, **kwargs)
    params_after = []
    for step in range(STEPS):
        opt.param_groups[0]["lr"] = kwargs["lr"] * LR_FACTORS[step]
        p.grad = torch.tensor(gradient(step), dtype=torch.float64).to(dtype)
        opt.step()
        params_after.append([float(x) for x in p.detach().to(torch.float64)])
    state = [[float(x) for x in opt.state[p][name].to(torch.float64)] for name in state_names]
    return params_after, state


def c_list(values):
    return "{" + ", ".join(repr(float(v)) for v in values) + "}"


def c_rows(rows, indent):
    pad = " " * indent
    return "{\n" + ",\n".join(pad + "    " + c_list(r) for r in rows) + "\n" + pad + "}"


def print_optimizers():
    print(f"/* REF_N = {N}, REF_STEPS = {STEPS} */")
    print(f"static const double ref_initial_params[REF_N] = {c_list(initial_params())};")
    print("static const double ref_grads[REF_STEPS][REF_N] = "
          + c_rows([gradient(s) for s in range(STEPS)], 0) + ";")
    print(f"static const double ref_lr_factors[REF_STEPS] = {c_list(LR_FACTORS)};")
    print("static const optim_reference ref_optimizers[] = {")
    for name, cls, kwargs, options, state_names in CASES:
        p64, s64 = run_case(cls, kwargs, state_names, torch.float64)
        p32, s32 = run_case(cls, kwargs, state_names, torch.float32)
        while len(s64) < 2:
            s64.append([0.0] * N)
            s32.append([0.0] * N)
        print("    {")
        print(f'        .name = "{name}",')
        print(f"        .options = {options},")
        print(f"        .params_f64 = {c_rows(p64, 8)},")
        print(f"        .params_f32 = {c_rows(p32, 8)},")
        print(f"        .state_f64 = {c_rows(s64, 8)},")
        print(f"        .state_f32 = {c_rows(s32, 8)},")
        print("    },")
    print("};")


def scheduler_lrs(make, base_lr, steps):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=base_lr)
    sched = make(opt)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def cosine_lrs(base_lr, min_lr, warmup, total, steps):
    """Warm-up from LinearLR, the decay from CosineAnnealingLR; min_lr after total_steps
    (where CosineAnnealingLR would rise again)."""
    lrs = []
    if warmup > 0:
        lrs += scheduler_lrs(lambda o: torch.optim.lr_scheduler.LinearLR(
            o, start_factor=1.0 / warmup, end_factor=1.0, total_iters=warmup - 1),
            base_lr, warmup)
    lrs += scheduler_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(
        o, T_max=total - warmup, eta_min=min_lr), base_lr, total - warmup + 1)
    lrs += [min_lr] * (steps - len(lrs))
    return lrs[:steps]


def print_schedules():
    print("static const schedule_reference ref_schedules[] = {")
    rows = [
        ("{.kind = VOLT_LR_CONSTANT, .base_lr = 0.1}",
         [0.1] * 6),
        ("{.kind = VOLT_LR_STEP, .base_lr = 0.1, .step_size = 3, .gamma = 0.5}",
         scheduler_lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5),
                       0.1, 12)),
        ("{.kind = VOLT_LR_LINEAR_WARMUP, .base_lr = 0.1, .warmup_steps = 4}",
         scheduler_lrs(lambda o: torch.optim.lr_scheduler.LinearLR(
             o, start_factor=0.25, end_factor=1.0, total_iters=3), 0.1, 8)),
        ("{.kind = VOLT_LR_COSINE, .base_lr = 0.1, .warmup_steps = 3, .total_steps = 11, "
         ".min_lr = 0.001}", cosine_lrs(0.1, 0.001, 3, 11, 15)),
        ("{.kind = VOLT_LR_COSINE, .base_lr = 0.3, .warmup_steps = 0, .total_steps = 5, "
         ".min_lr = 0.0}", cosine_lrs(0.3, 0.0, 0, 5, 7)),
    ]
    for schedule, lrs in rows:
        print(f"    {{{schedule}, {len(lrs)}, {c_list(lrs)}}},")
    print("};")


CLIPS = [  # gradients, max_norm
    ([0.3, -1.2, 2.5, 0.0, -0.7, 1e-3, 4.0], 1.0),       # clipped
    ([0.3, -1.2, 2.5, 0.0, -0.7, 1e-3, 4.0], 100.0),     # below max_norm: untouched
    ([3.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0], 5.0),          # norm == max_norm: still scaled
]


def print_clips():
    print("static const clip_reference ref_clips[] = {")
    for grads, max_norm in CLIPS:
        out = {}
        for dtype in (torch.float64, torch.float32):
            g = torch.tensor(grads, dtype=torch.float64).to(dtype)
            p = torch.zeros(N, dtype=dtype, requires_grad=True)
            p.grad = g
            norm = torch.nn.utils.clip_grad_norm_([p], max_norm, error_if_nonfinite=True)
            out[dtype] = (float(norm), [float(x) for x in p.grad.to(torch.float64)])
        print(f"    {{{c_list(grads)}, {max_norm!r},")
        print(f"     {out[torch.float64][0]!r}, {c_list(out[torch.float64][1])},")
        print(f"     {out[torch.float32][0]!r}, {c_list(out[torch.float32][1])}}},")
    print("};")


if __name__ == "__main__":
    torch.set_default_dtype(torch.float64)
    print(f"/* generated by tests/reference/optim_reference.py with torch {torch.__version__} */")
    print_optimizers()
    print_schedules()
    print_clips()

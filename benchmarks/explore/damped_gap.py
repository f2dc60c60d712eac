"""Exploration: the real network's departure along the predicted path, fed in as a source the dynamics damp.

Along the default updated prediction's path (kernel updates at T/15, T/6, T/3, 2T/3, the weights moved every
auto stride along J^T of the linearized run's coefficients), the real network at the path's weights departs
from the linearized outputs: e_s = f(w_s) - f_lin(s), measured at each stride's end by one forward pass. Fed
back as restarts (real_residual_path.py), that departure drove the path itself and turned unstable. Here the
path stays the default one, and the departure enters only a second function-space run as a source term:

    f~_{t+1} = f~_t - (lr_t / N) Theta_k dl/df(f~_t) + (e_b - e_a) / (b - a)     for t in the stride [a, b)

with Theta_k the kernel the path used there. Where the departure points along the loss's descent, the
dynamics pull f~ back toward the fit, as real GD corrects its own outputs step by step (first-order
perturbation theory of the real run around the linearized one: e_{t+1} = (I - lr/N Theta H) e_t + delta_t);
where it does not, it stays, as in the real network at the path's weights. Nothing is fitted; the cost over
the default prediction is one forward pass per stride.

``--local``: the source is instead each stride's own nonlinear increment, f(w_b) - f(w_a) - J(w_a)(w_b - w_a) (one
more JVP per stride), leaving out the kernel's drift since the last update that e_b - e_a also holds.
``--one-step``: the source is instead, per kernel segment, one trial GD step's departure from the path's weights
where the kernel was computed (w0 and each update: the real network's output change over J's), applied at every
step of the segment scaled by the square of the step's function-space size over the trial step's (second order).
``--stride S``: move the weights (and measure the departure) every S steps instead of the auto stride T/30.

Printed per cached full-batch cross-entropy GD case without momentum: the cached default's scores, the re-made
default path (``carried``, a check that it matches), the damped-source run (``damped``), the real network at the
path's weights at the strides' ends (``at path``), the curves at a few steps, and a JSON line of the relative
T_eps errors; ``--pool LOG ...`` pools those lines per suite. Log in benchmarks/results/explore/damped_gap.txt.

    python benchmarks/explore/damped_gap.py CASE.json ... [--local | --one-step] [--stride S]
    python benchmarks/explore/damped_gap.py --pool LOG ...
"""

import itertools
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fidelity_default import (
    cached_updated_cases,
    comparison_scores,
    curve_scores,
    eps_errors,
    linearize_cached,
    real_outputs,
    score_line,
)

from trainless._losses import loss_grad, loss_value
from trainless.bench import UPDATED, scored_eps_errors
from trainless.dynamics import KernelOperator
from trainless.finetune import learning_rates
from trainless.kernel import compute_kernel
from trainless.predict import auto_kernel_updates, auto_path_stride, preserved
from trainless.predict._endpoint import WeightPath
from trainless.predict._trust import largest_edge_ratio

torch.set_num_threads(2)
AT = (5, 10, 25, 50, 100, 150)
LOCAL = "--local" in sys.argv
ONE_STEP = "--one-step" in sys.argv
NAME = "local" if LOCAL else ("one-step" if ONE_STEP else "damped")
STRIDE = int(sys.argv[sys.argv.index("--stride") + 1]) if "--stride" in sys.argv else None


def pool(logs: list[str]) -> None:
    """Per suite, and pooled over the suites other than paper: the relative T_eps errors (median / p95 over
    (case, eps) pairs), the largest error per case (median, max) and the loss-at-T error of each curve, and of
    the rule fixed before the paper suite was looked at: ``damped`` unless the default prediction raised the
    edge flag (largest lr-over-edge ratio along its kernel path above 1), the default there."""
    by: dict[str, list[dict]] = {}
    for line in itertools.chain.from_iterable(Path(p).read_text().splitlines() for p in logs):
        if line.startswith("   errors "):
            rec = json.loads(line[len("   errors ") :])
            d = json.loads(next(Path(f"bench/results/{rec['suite']}/cases").glob(rec["case"] + "*.json")).read_text())
            pred = d["predictions"][UPDATED]
            edge = largest_edge_ratio(pred.get("edge_ratio"), pred.get("kernel_path") or ())
            pick = "default" if edge is not None and edge > 1 else NAME
            rec["eps"]["rule"], rec["final"]["rule"] = rec["eps"][pick], rec["final"][pick]
            by.setdefault(rec["suite"], []).append(rec)
    groups = {**by, "unseen*": [r for s, rs in by.items() if s != "paper" for r in rs]}
    for suite, recs in groups.items():
        for k in recs[0]["eps"]:
            v = [e for r in recs for e in r["eps"][k]]
            top = [max(r["eps"][k]) for r in recs]
            print(
                f"# {suite:8s} {k:8s} {len(recs):2d} cases: T_eps median {np.median(v):.0%} p95 "
                f"{np.percentile(v, 95):.0%}, largest per case median {np.median(top):.0%} max {max(top):.0%}, "
                f"loss at T median {statistics.median(r['final'][k] for r in recs):.0%}"
            )


def run(paths: list[str]) -> None:
    for p, d, cached in cached_updated_cases(paths):
        if d["case"]["batch_size"] or d["case"]["loss"] != "ce":
            continue  # MSE past the edge trains the linearized model at scaled lrs (AboveEdge), not re-made here
        t0 = time.perf_counter()
        case, config, kconf, model, data, lin = linearize_cached(d)
        lrs, n, y, T = learning_rates(config), data.n, lin.y, config.steps
        updates = set(auto_kernel_updates(T))
        stride = STRIDE or auto_path_stride(T, 0.0)
        bounds = sorted({0, *range(stride, T, stride), *updates, T})
        carried, damped, at_path = np.zeros(T + 1), np.zeros(T + 1), {}
        f = lin.kernel.f0.double()
        alpha = torch.zeros_like(f)
        f_start = f.clone()  # the real network's outputs at the stride's start (w0: f0)
        gap = torch.zeros_like(f)  # e_a: the real network at the path's weights minus f_lin, at the stride's start
        segments = []
        with preserved(model.module):
            if lin.head_state is not None:
                model.head_module().load_state_dict(lin.head_state)
            path = WeightPath(model, data, case.trainable)
            op = lin.operator
            probes = {}  # kernel segment start -> (one step's departure, that step's function-space size)
            for a, b in itertools.pairwise(bounds):
                if a in updates:
                    op = KernelOperator(compute_kernel(model.module, path.x, kconf).k_train_train)
                if ONE_STEP and (a == 0 or a in updates):
                    # One trial GD step from the path's weights (the real network's outputs before and after it)
                    # against the linearized step under the kernel just computed; the path is put back.
                    g = loss_grad(case.loss, f, y)
                    df = -(lrs[a] / n) * op.matvec(g)
                    before, f_here = path.snapshot(), real_outputs(path)
                    trial = path.vjp(-(lrs[a] / n) * g)
                    with torch.no_grad():
                        for w, step in zip(path.params, trial, strict=True):
                            w.add_(step)
                    probes[a] = ((real_outputs(path) - f_here) - df, float(df.norm()))
                    path.load(before)
                for t in range(a, b):
                    carried[t] = float(loss_value(case.loss, f, y))
                    g = loss_grad(case.loss, f, y)
                    alpha = alpha - (lrs[t] / n) * g
                    f = f - (lrs[t] / n) * op.matvec(g)
                carried[b] = float(loss_value(case.loss, f, y))
                before = path.snapshot()
                path.move_to(alpha)
                f_real = real_outputs(path)
                if LOCAL:  # the stride's own nonlinear increment f(w_b) - f(w_a) - J(w_a) (w_b - w_a)
                    after = path.snapshot()
                    path.load(before)
                    linear_step = path.jvp([w - v for w, v in zip(after, before, strict=True)])
                    path.load(after)
                    source = f_real - f_start - linear_step
                else:
                    source = (f_real - f) - gap
                at_path[b] = float(loss_value(case.loss, f_real, y))
                segments.append((a, b, op, source))
                gap, f_start = f_real - f, f_real
        fd = lin.kernel.f0.double()
        probe = None
        for a, b, op, source in segments:
            probe = probes.get(a, probe)
            for t in range(a, b):
                damped[t] = float(loss_value(case.loss, fd, y))
                step = -(lrs[t] / n) * op.matvec(loss_grad(case.loss, fd, y))
                if ONE_STEP:  # second order in the step: the probe's departure scaled by (|step| / |probe's step|)^2
                    fd = fd + step + probe[0] * (float(step.norm()) / probe[1]) ** 2
                else:
                    fd = fd + step + source / (b - a)
        damped[T] = float(loss_value(case.loss, fd, y))
        real = np.asarray(d["record"]["loss"])
        at = [s for s in AT if s <= T]
        print(
            f"{p.parent.parent.name:8s} {p.stem[:8]} {case.tag:10s} N={n:3d} lr={config.lr:.2g} "
            f"{len(bounds) - 1} strides ({time.perf_counter() - t0:.0f} s)\n"
            f"   default  {score_line(comparison_scores(cached))}\n"
            f"   carried  {curve_scores(carried, real)}\n"
            f"   {NAME:8s} {curve_scores(damped, real)}\n"
            f"   loss at {at}: real {' '.join(f'{real[s]:.3f}' for s in at)} | carried "
            f"{' '.join(f'{carried[s]:.3f}' for s in at)} | {NAME} {' '.join(f'{damped[s]:.3f}' for s in at)} | "
            f"at path {' '.join(f'{at_path[s]:.3f}' if s in at_path else '-' for s in at)}",
            flush=True,
        )
        record = {
            "suite": p.parent.parent.name,
            "case": p.stem[:8],
            "eps": {
                "default": scored_eps_errors(cached),
                "carried": eps_errors(carried, real),
                NAME: eps_errors(damped, real),
            },
            "final": {k: abs(c[-1] - real[-1]) / real[-1] for k, c in (("carried", carried), (NAME, damped))}
            | {"default": comparison_scores(cached)["final_loss_error"]},
        }
        print("   errors " + json.dumps(record), flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--pool"]:
        pool(sys.argv[2:])
    else:
        args = sys.argv[1:]
        if "--stride" in args:
            del args[args.index("--stride") : args.index("--stride") + 2]
        run([a for a in args if a not in ("--local", "--one-step")])

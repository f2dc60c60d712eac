"""predict(): Algorithm 1 end to end on real (small) models, against real fine-tuning where it must be exact."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from trainless import FinetuneConfig, finetune, from_module, load_model
from trainless.errors import ConfigError, TrainlessError
from trainless.finetune import learning_rates
from trainless.kernel import KernelConfig
from trainless.predict import PredictConfig, Prediction, load_prediction, predict

# The paper's Algorithm 1, Theta frozen at w0: these tests check the linearization itself. The default kernel
# updates along the path ("auto") are tested here where they must change nothing, and in test_trust.py.
FAST = PredictConfig(timing_steps=1, batch_orders=4, kernel_updates=())


@pytest.mark.parametrize(
    "config",
    [
        FinetuneConfig(lr=0.02, steps=30, loss="ce"),
        FinetuneConfig(lr=0.01, steps=30, batch_size=16, momentum=0.9, nesterov=True, weight_decay=0.01),
        FinetuneConfig(lr=0.002, steps=30, loss="mse", schedule="cosine", warmup_steps=5, batch_size=20),
    ],
    ids=["gd-ce", "sgd-nesterov-wd", "mse-cosine-warmup"],
)
def test_linear_model_is_predicted_exactly(digits16, config):
    # f(x) = W x + b is its own linearization: the paired prediction must be the real run.
    pred = predict(load_model("factories:linear16", 5, seed=0), digits16, config, FAST)
    real = finetune(load_model("factories:linear16", 5, seed=0), digits16, config)
    torch.testing.assert_close(torch.tensor(pred.paired_loss), torch.tensor(real.loss), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(
        torch.tensor(pred.paired_weight_distance),
        torch.tensor(real.weight_distance)[list(pred.distance_steps)],
        rtol=2e-4,
        atol=1e-6,
    )
    assert pred.lr == real.lr
    assert real.loss[-1] < 0.9 * real.loss[0]
    # The default kernel updates re-evaluate a kernel that never changes: the same run, even past the MSE stability
    # edge, where a nonlinear network's grown kernel would be capped (its lr there is 1.25x the edge at w0).
    auto = predict(load_model("factories:linear16", 5, seed=0), digits16, config, PredictConfig(timing_steps=0))
    scheduled = () if config.weight_decay > 0 else (1, 2, 5, 10, 20)  # updates do not support weight decay
    assert auto.options.kernel_updates == scheduled and len(auto.kernel_path) == len(scheduled)
    torch.testing.assert_close(torch.tensor(auto.paired_loss), torch.tensor(real.loss), rtol=1e-4, atol=1e-6)


def test_own_module_is_predicted_exactly(digits16):
    # A network built in the user's session (from_module), not named by a factory: the same exact reduction,
    # and predict leaves the weights as they were for the real run that follows on the same module.
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 5))
    model = from_module(module, seed=3)
    w0 = {k: v.clone() for k, v in module.state_dict().items()}
    config = FinetuneConfig(lr=0.02, steps=20, loss="ce")
    pred = predict(model, digits16, config, FAST)
    assert all(torch.equal(w0[k], v) for k, v in module.state_dict().items())
    real = finetune(model, digits16, config)
    assert pred.model == real.model == "Sequential"
    torch.testing.assert_close(torch.tensor(pred.paired_loss), torch.tensor(real.loss), rtol=1e-4, atol=1e-6)
    assert real.loss[-1] < 0.9 * real.loss[0]


def test_learning_rates_are_the_real_schedulers():
    cfg = FinetuneConfig(lr=0.1, steps=12, schedule="step", step_size=4, gamma=0.5, warmup_steps=3)
    lrs = learning_rates(cfg)
    assert len(lrs) == 12 and lrs[0] == pytest.approx(0.01) and lrs[-1] < lrs[4]


def test_prediction_on_a_cnn_fields_and_weights_untouched(digits16, tiny, tmp_path):
    before = {k: v.clone() for k, v in tiny.module.state_dict().items()}
    flags = [p.requires_grad for p in tiny.module.parameters()]
    cfg = FinetuneConfig(lr=0.05, steps=20, batch_size=16)
    pred = predict(tiny, digits16, cfg, dataclasses.replace(FAST, eps=(0.1, 0.4)), trainable="head")
    for k, v in tiny.module.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert [p.requires_grad for p in tiny.module.parameters()] == flags
    t = cfg.steps
    for name in ("loss", "loss_low", "loss_high", "error", "error_low", "error_high", "paired_loss", "paired_error"):
        assert len(getattr(pred, name)) == t + 1, name
    assert all(lo <= m <= hi for lo, m, hi in zip(pred.loss_low, pred.loss, pred.loss_high, strict=True))
    assert pred.loss_low != pred.loss_high  # minibatch orders differ
    assert len(pred.eps_times) == 4 and {e.basis for e in pred.eps_times} == {"loss", "error"}
    assert pred.eps_time(0.4).steps <= pred.eps_time(0.1).steps
    m = pred.n * pred.classes
    assert len(pred.eigenvalues) == m and list(pred.eigenvalues) == sorted(pred.eigenvalues, reverse=True)
    # sum_k (v_k . r)^2 = ||r||^2 (orthonormal eigenvectors)
    assert sum(pred.projections_initial) > sum(pred.projections_final) > 0
    assert pred.num_trainable == sum(p.numel() for p in tiny.head_module().parameters())
    assert pred.step_seconds is not None and pred.estimated_run_seconds == pytest.approx(pred.step_seconds * t)
    assert pred.status.value == "completed" and pred.seconds >= pred.kernel_seconds > 0
    json_path, csv_path = pred.save(tmp_path)
    back = load_prediction(json_path)
    assert isinstance(back, Prediction) and back.loss == pred.loss and back.eps_times == pred.eps_times
    assert back.options == pred.options and back.config == pred.config
    assert csv_path.read_text().count("\n") == t + 2
    nested = tmp_path / "runs" / "mine"  # created if missing
    assert pred.save(nested) == (nested / "prediction.json", nested / "prediction.csv")


def test_engines_agree_on_a_small_lr_full_batch(digits16, tiny):
    # The continuous engines differ from the exact discrete one at first order in lr (0.6% of the total
    # decrease here); the full-batch SDE has no noise and is the discrete engine.
    cfg = FinetuneConfig(lr=0.002, steps=20, loss="mse")
    curves = {}
    for engine in ("discrete", "ode", "sde", "closed-form"):
        opts = dataclasses.replace(FAST, engine=engine, sde_paths=2)
        curves[engine] = torch.tensor(predict(tiny, digits16, cfg, opts).loss)
    ref = curves["discrete"]
    for engine, c in curves.items():
        assert float((c - ref).abs().max() / (ref[0] - ref[-1])) < 0.01, engine
    torch.testing.assert_close(curves["sde"], ref)
    torch.testing.assert_close(curves["ode"], curves["closed-form"], rtol=1e-5, atol=1e-7)


def test_projected_kernel_prediction_is_close_to_exact(digits16, tiny):
    cfg = FinetuneConfig(lr=0.05, steps=20)
    exact = torch.tensor(predict(tiny, digits16, cfg, FAST).loss)
    opts = dataclasses.replace(FAST, kernel=KernelConfig(method="countsketch", dim=4096, factor=False))
    approx = torch.tensor(predict(tiny, digits16, cfg, opts).loss)
    assert float((approx - exact).abs().max()) < 0.05 * float(exact[0] - exact[-1]) + 1e-3


def test_bad_input_is_rejected_before_any_work(digits16, tiny):
    with pytest.raises(TrainlessError, match="optimizer 'adamw' has no function-space dynamics"):
        predict(tiny, digits16, FinetuneConfig(optimizer="adamw", steps=3), FAST)
    with pytest.raises(TrainlessError, match="engine 'closed-form' does not support loss 'ce'; use 'discrete'"):
        predict(tiny, digits16, FinetuneConfig(steps=3), dataclasses.replace(FAST, engine="closed-form"))
    with pytest.raises(ConfigError, match="eps"):
        PredictConfig(eps=(0.1, 1.5))
    with pytest.raises(ConfigError, match="eps"):
        PredictConfig(eps=())
    with pytest.raises(ConfigError, match="steps"):
        FinetuneConfig(steps=0)
    with pytest.raises(ConfigError, match="engine"):
        PredictConfig(engine="euler")
    with pytest.raises(TrainlessError, match="max_memory_mib.*use"):
        predict(tiny, digits16, FinetuneConfig(steps=3), PredictConfig(kernel=KernelConfig(max_memory_mib=0.01)))
    with pytest.raises(TrainlessError, match="batch_size must be in"):
        predict(tiny, digits16, FinetuneConfig(steps=3, batch_size=1000), FAST)


@pytest.mark.parametrize("updates", [(), "auto"])
def test_large_predicted_distance_warns(digits16, tiny, updates):
    opts = dataclasses.replace(FAST, distance_warning=1e-6, kernel_updates=updates)
    pred = predict(tiny, digits16, FinetuneConfig(lr=0.5, steps=10), opts)
    assert len(pred.kernel_path) == (4 if updates else 0)  # "auto" at T = 10: steps 1, 2, 3, 7
    # with updates the engine's distance stops at the first one; the moved weights give it at T
    assert sum("||w_T - w0||" in w for w in pred.warnings) == 1
    assert math.isfinite(pred.weight_distance[-1]) and pred.weight_distance[-1] > 0


def test_momentum_with_the_frozen_kernel_warns_the_late_curve_is_an_upper_bound(digits16, tiny):
    # Below the edge, cross-entropy, momentum, no kernel updates: the benchmark's real runs ended lower (86 of 92);
    # at most FLOW_EDGE_RATIO, where epochs end in a short batch (60 at batch 28: 4 left; without one "auto" takes the
    # flow), the note says why the flow is not taken here and names it.
    cfg = FinetuneConfig(lr=0.001, steps=6, batch_size=28, momentum=0.9)
    note = "read the late curve and the loss at T as an upper bound"
    pred = predict(tiny, digits16, cfg, FAST)
    assert pred.edge_ratio is not None and pred.edge_ratio <= 1.0
    assert any(note in w and "momentum 0.9" in w for w in pred.warnings)
    assert pred.edge_ratio <= 0.5 and any(note in w and "--update-path flow" in w for w in pred.warnings)
    assert any("this run's epochs end in one" in w and "--drop-last" in w for w in pred.warnings)
    near = predict(tiny, digits16, dataclasses.replace(cfg, lr=1.5), FAST)  # the tiny CNN's ratio: 0.53 per unit lr
    assert 0.5 < near.edge_ratio <= 1.0
    assert any(note in w for w in near.warnings) and not any("--update-path flow" in w for w in near.warnings)
    for other in (dataclasses.replace(cfg, momentum=0.0), dataclasses.replace(cfg, loss="mse")):
        assert not any(note in w for w in predict(tiny, digits16, other, FAST).warnings)
    updated = predict(tiny, digits16, cfg, dataclasses.replace(FAST, kernel_updates=(3,)))
    assert not any(note in w for w in updated.warnings)


def test_short_batch_warning_reads_the_steps_that_close_an_epoch():
    from trainless.predict._predict import _short_batch_warning

    # n = 9 at batch 4: batches of 4, 4, 1 per epoch; the loss rises 50% at each batch of 1, falls 10% otherwise.
    orders = ((torch.arange(4), torch.arange(4), torch.arange(1)) * 2,)
    loss = [1.0]
    for size in (4, 4, 1) * 2:
        loss.append(loss[-1] * (1.5 if size == 1 else 0.9))
    text = _short_batch_warning(orders, loss, 9, 4)
    assert text is not None
    assert "a batch of 1 of 4 samples" in text and "+50%" in text and "-10%" in text and "(3 steps)" in text
    # A rise smaller than what a full step gains is no sawtooth; nor is a run without short batches, or full batch.
    gentle = [1.0]
    for size in (4, 4, 1) * 2:
        gentle.append(gentle[-1] * (1.05 if size == 1 else 0.9))
    assert _short_batch_warning(orders, gentle, 9, 4) is None
    assert _short_batch_warning(((torch.arange(4),) * 6,), loss, 8, 4) is None
    assert _short_batch_warning(None, loss, 9, None) is None
    # Under momentum the batch's size decides (the linearized curve shows no kick): 1 of 4 is short, 3 of 4 is not.
    under = _short_batch_warning(orders, gentle, 9, 4, momentum=0.9)
    assert under is not None and "a batch of 1 of 4 samples" in under and "4x larger per sample" in under
    three = ((torch.arange(4), torch.arange(4), torch.arange(3)) * 2,)
    assert _short_batch_warning(three, loss, 11, 4, momentum=0.9) is None


def test_short_last_batch_warns_on_a_real_prediction(digits16, tiny):
    # 60 samples at batch 7: eight batches of 7 and one of 4 per epoch; at this lr the batch of 4 kicks the loss up.
    cfg = FinetuneConfig(lr=3.0, steps=27, batch_size=7)
    pred = predict(tiny, digits16, cfg, FAST)
    assert any("each epoch ends in a batch of 4 of 7 samples" in w and "(9 steps)" in w for w in pred.warnings)
    for quiet in (dataclasses.replace(cfg, drop_last=True), dataclasses.replace(cfg, batch_size=6)):
        assert not any("each epoch ends" in w for w in predict(tiny, digits16, quiet, FAST).warnings)
    # Under momentum its size decides: 4 of 8 (a step twice as large per sample) warns, 4 of 7 does not.
    heavy = FinetuneConfig(lr=0.01, steps=16, batch_size=8, momentum=0.9)
    assert any("a batch of 4 of 8 samples" in w for w in predict(tiny, digits16, heavy, FAST).warnings)
    seven = dataclasses.replace(heavy, batch_size=7)
    assert not any("each epoch ends" in w for w in predict(tiny, digits16, seven, FAST).warnings)


def test_efficientnet_prediction_is_first_order_exact():
    """The real pretrained network at 32 px on real digits (fast tier): f0 is the real run's, and the
    linearization's error on the first GD step is second order in lr (its share of the step's loss drop
    shrinks with lr), while ||w_1 - w0|| is first order and matches."""
    from trainless import load_dataset

    data = load_dataset("mnist5k", classes=3, per_class=4, seed=0, resolution=32)
    rel = []
    for lr in (4e-3, 1e-3):
        config = FinetuneConfig(lr=lr, steps=1)
        model = load_model("efficientnet-lite0", 3, resolution=32, seed=0)
        pred = predict(model, data, config, dataclasses.replace(FAST, timing_steps=0, kernel=KernelConfig(tile=4)))
        real = finetune(model, data, config)
        assert pred.num_trainable > 3.3e6
        assert pred.loss[0] == pytest.approx(real.loss[0], rel=1e-5)
        assert pred.weight_distance[1] == pytest.approx(real.weight_distance[1], rel=1e-3)
        drop = real.loss[0] - real.loss[1]
        assert drop > 0
        rel.append(abs((pred.loss[0] - pred.loss[1]) - drop) / drop)
    assert rel[1] < rel[0] / 2, rel  # 4x smaller lr: about 4x smaller relative error


def test_one_linearization_serves_several_engines_and_learning_rates(digits16, tiny):
    from trainless.predict import linearize, predict_from

    cfg = FinetuneConfig(lr=0.05, steps=10)
    lin = linearize(tiny, digits16, cfg, FAST)
    direct = predict(tiny, digits16, cfg, dataclasses.replace(FAST, engine="ode"))
    reused = predict_from(lin, cfg, dataclasses.replace(FAST, engine="ode"))
    torch.testing.assert_close(torch.tensor(reused.loss), torch.tensor(direct.loss), rtol=1e-6, atol=1e-8)
    slower = predict_from(lin, dataclasses.replace(cfg, lr=0.01), FAST)
    assert slower.loss[-1] > reused.loss[-1] and slower.estimated_run_seconds == pytest.approx(10 * lin.step_seconds)
    other_batch = predict_from(lin, dataclasses.replace(cfg, batch_size=8), FAST)
    assert other_batch.estimated_run_seconds is None and any("another batch size" in w for w in other_batch.warnings)
    # A minibatch run's band is the linearized spread over batch orders, measured too narrow for real runs: said.
    band = "the 5-95% band is the linearized run's spread over 4 batch orders"
    assert any(band in w for w in other_batch.warnings) and not any(band in w for w in slower.warnings)
    assert any(
        "over 16 paths" in w
        for w in predict_from(lin, other_batch.config, dataclasses.replace(FAST, engine="sde")).warnings
    )
    with pytest.raises(TrainlessError, match="weight decay needs J w0"):
        predict_from(lin, dataclasses.replace(cfg, weight_decay=0.1), FAST)
    with pytest.raises(TrainlessError, match="start_step must be in"):
        predict_from(lin, cfg, FAST, start_step=cfg.steps)


def test_learning_rate_above_the_linearized_edge_warns(digits16, tiny):
    from trainless.predict import linearize, predict_from

    cfg = FinetuneConfig(lr=0.01, steps=30, loss="mse")
    lin = linearize(tiny, digits16, cfg, FAST)
    lam = max(predict_from(lin, cfg, FAST).eigenvalues)
    edge = 2 * digits16.n / lam
    below = predict_from(lin, dataclasses.replace(cfg, lr=0.5 * edge), FAST)
    as_is = dataclasses.replace(FAST, above_edge="diverge")
    above = predict_from(lin, dataclasses.replace(cfg, lr=1.5 * edge), as_is)
    assert not any("stability edge" in w for w in below.warnings)
    assert any("stability edge" in w and "diverges" in w for w in above.warnings)
    assert above.loss[-1] > above.loss[0] and any("does not train" in w for w in above.warnings)
    at_edge = predict_from(lin, dataclasses.replace(cfg, lr=1.5 * edge), FAST)
    assert any("stability edge" in w and "trains it at the edge" in w for w in at_edge.warnings)
    assert at_edge.loss[-1] < at_edge.loss[0] and not any("does not train" in w for w in at_edge.warnings)


def test_closed_loop_splices_real_steps_and_predicts_the_rest(digits16):
    from trainless.predict import predict_closed_loop

    cfg = FinetuneConfig(lr=0.02, steps=20, batch_size=16, schedule="cosine")
    model = load_model("factories:linear16", 5, seed=0)
    pred, observed = predict_closed_loop(model, digits16, cfg, 8, FAST)
    real = finetune(load_model("factories:linear16", 5, seed=0), digits16, cfg)
    # A linear model is its own linearization: the spliced paired curve is the real run.
    assert pred.observed_steps == 8 and observed.steps_run == 8 and len(pred.loss) == 21
    assert pred.loss[:8] == tuple(observed.loss[:8])
    assert pred.loss[8] == pytest.approx(observed.loss[8], rel=1e-6)  # f at w_8, from the kernel's forward
    torch.testing.assert_close(torch.tensor(pred.paired_loss), torch.tensor(real.loss), rtol=1e-4, atol=1e-6)
    assert pred.lr == real.lr
    assert all(math.isnan(d) for d in pred.weight_distance[9:])
    # Asked to keep the kernel frozen at w_k: this plain SGD run quotes the frozen closed loop's own measurement of
    # its regime, and on which side of the real loss at T it ended (the fallback to the default closed loop's band,
    # where a regime's frozen mode was not measured, is tested on made-up bands in tests/test_trust.py).
    assert "; closed loop, the kernel frozen at w_k, 8 of 20 steps observed: on 42 sgd-ce runs" in pred.trust["text"]
    assert "not this prediction's frozen kernel" not in pred.trust["text"]
    assert any(w.startswith("closed loop, the kernel frozen at w_k: on the benchmark's sgd-ce") for w in pred.warnings)
    full = dataclasses.replace(cfg, batch_size=digits16.n)
    gd, _ = predict_closed_loop(load_model("factories:linear16", 5, seed=0), digits16, full, 8, FAST)
    assert "; closed loop, the kernel frozen at w_k, 8 of 20 steps observed: on " in gd.trust["text"]
    assert any(w.startswith("closed loop, the kernel frozen at w_k: on the benchmark's gd-ce") for w in gd.warnings)
    # Kernel updates are steps of the whole run, those after k used (from w_k); a linear model's kernel is
    # constant, so the curve stays the real run's, and the endpoint check is made from w_k.
    model = load_model("factories:linear16", 5, seed=0)
    opts = dataclasses.replace(FAST, kernel_updates=(4, 12), endpoint_check=True)
    upd, _ = predict_closed_loop(model, digits16, cfg, 8, opts)
    assert [row["step"] for row in upd.kernel_path] == [12]
    assert upd.kernel_path[0]["trace_ratio"] == pytest.approx(1.0, rel=1e-6)
    torch.testing.assert_close(torch.tensor(upd.paired_loss), torch.tensor(real.loss), rtol=1e-4, atol=1e-6)
    assert upd.endpoint is not None and upd.endpoint["loss_real"] == pytest.approx(real.loss[-1], rel=1e-4)
    # "auto" schedules its updates over the T - k = 12 steps left (1, 2, 4, 8 from w_8), reported as run steps.
    model = load_model("factories:linear16", 5, seed=0)
    auto, _ = predict_closed_loop(model, digits16, cfg, 8, dataclasses.replace(FAST, kernel_updates="auto"))
    assert auto.options.kernel_updates == (9, 10, 12, 16)
    assert [row["step"] for row in auto.kernel_path] == [9, 10, 12, 16]
    torch.testing.assert_close(torch.tensor(auto.paired_loss), torch.tensor(real.loss), rtol=1e-4, atol=1e-6)
    assert "closed loop, 8 of 20 steps observed" in auto.trust["text"] and "frozen at w_k" not in auto.trust["text"]
    # Averaged over two weight paths, each path's curve is spliced too, so the saved curves have T + 1 rows.
    model = load_model("factories:linear16", 5, seed=0)
    paths = dataclasses.replace(FAST, kernel_updates=(12,), path_stride=2, path_samples=2)
    two, _ = predict_closed_loop(model, digits16, cfg, 8, paths)
    assert len(two.path_losses) == 2 and all(path[:8] == tuple(observed.loss[:8]) for path in two.path_losses)
    assert [len(path) for path in two.path_losses] == [21, 21]
    assert len(two.curves_csv().splitlines()) == 22
    with pytest.raises(TrainlessError, match="observed_steps must be an integer in"):
        predict_closed_loop(model, digits16, cfg, 20, FAST)
    with pytest.raises(TrainlessError, match="stop_after must be"):
        finetune(model, digits16, cfg, stop_after=0)


@pytest.mark.parametrize("nesterov", [False, True])
def test_closed_loop_continues_the_momentum_buffer(digits16, nesterov):
    from trainless.predict import predict_closed_loop

    cfg = FinetuneConfig(lr=0.02, steps=20, batch_size=16, momentum=0.9, nesterov=nesterov, weight_decay=0.01)
    real = finetune(load_model("factories:linear16", 5, seed=0), digits16, cfg)
    opts = dataclasses.replace(FAST, endpoint_check=True)
    pred, observed = predict_closed_loop(load_model("factories:linear16", 5, seed=0), digits16, cfg, 8, opts)
    # A linear model is its own linearization: continued with torch's buffer, the paired curve is the real run,
    # and the weights it ends at (J^T alpha plus the buffer's pull) are the real run's.
    assert observed.steps_run == 8
    torch.testing.assert_close(torch.tensor(pred.paired_loss), torch.tensor(real.loss), rtol=1e-4, atol=1e-6)
    assert pred.endpoint is not None and pred.endpoint["loss_real"] == pytest.approx(real.loss[-1], rel=1e-4)
    # The trust sentence quotes the closed loop's measured band, not the open loop's.
    assert "closed loop, 8 of 20 steps observed" in pred.trust["text"] and "of 150 steps observed" in pred.trust["text"]
    # and its warnings give the closed loop's side of the real loss at T, not the open loop's upper bound
    assert any(w.startswith("closed loop: on the benchmark's sgd-momentum-ce runs") for w in pred.warnings)
    assert not any("as an upper bound" in w for w in pred.warnings)
    # Without the buffer (as if the optimizer restarted at w_8) the continued run is another one.
    restarted = predict_from_restart(digits16, cfg, 8)
    assert max(abs(a - b) for a, b in zip(restarted, real.loss[8:], strict=True)) > 1e-3
    bad = dataclasses.replace(FAST, kernel_updates=(12,), update_path="own")
    with pytest.raises(TrainlessError, match="only along the gradient flow"):
        predict_closed_loop(load_model("factories:linear16", 5, seed=0), digits16, cfg, 8, bad)
    with pytest.raises(TrainlessError, match="needs the discrete engine"):
        predict_closed_loop(
            load_model("factories:linear16", 5, seed=0), digits16, cfg, 8, dataclasses.replace(FAST, engine="ode")
        )


def predict_from_restart(data, cfg, k):
    """The paired loss from step k of a run whose optimizer starts afresh at w_k (no momentum buffer)."""
    from trainless.predict import linearize, predict_from

    model = load_model("factories:linear16", 5, seed=0)
    finetune(model, data, cfg, stop_after=k)
    lin = linearize(model, data, cfg, FAST)
    return predict_from(lin, cfg, FAST, start_step=k).paired_loss


@pytest.mark.parametrize(
    "config",
    [
        FinetuneConfig(lr=0.02, steps=25),
        FinetuneConfig(lr=0.01, steps=25, batch_size=16, momentum=0.9, weight_decay=0.01),
    ],
    ids=["gd", "sgd-momentum-wd"],
)
def test_test_curves_of_a_linear_model_are_the_real_runs(digits16, config):
    """Lee et al. eq. (10) on held-out points: for a linear model the predicted test curves are exact."""
    from trainless import load_test_split

    test = load_test_split(digits16, 6, seed=0)
    assert not set(test.source_indices) & set(digits16.source_indices)
    assert test.class_labels == digits16.class_labels and test.n == 30
    # One batch order: the paired one (config.seed), so the mean curve is the real run's prediction.
    options = dataclasses.replace(FAST, batch_orders=1)
    pred = predict(load_model("factories:linear16", 5, seed=0), digits16, config, options, test_data=test)
    real = finetune(load_model("factories:linear16", 5, seed=0), digits16, config, test_data=test)
    assert pred.test_n == real.test_n == 30 and len(real.test_loss) == len(real.loss)
    torch.testing.assert_close(torch.tensor(pred.test_loss), torch.tensor(real.test_loss), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(torch.tensor(pred.test_error), torch.tensor(real.test_error))
    assert real.test_loss[-1] < 0.8 * real.test_loss[0]
    assert "test_loss" in pred.curves_csv().splitlines()[0] and "test_loss" in real.curves_csv().splitlines()[0]


def test_test_data_is_checked_before_any_work(digits16, tiny):
    from trainless import from_tensors, load_test_split

    cfg = FinetuneConfig(lr=0.02, steps=3)
    wrong = from_tensors(torch.zeros(4, 3, 8, 8), torch.zeros(4, dtype=torch.int64))
    with pytest.raises(TrainlessError, match=r"sample shape and dtype \(3, 16, 16\)"):
        predict(tiny, digits16, cfg, FAST, test_data=wrong)
    other = from_tensors(torch.zeros(4, 3, 16, 16), torch.tensor([0, 2, 2, 7]))
    with pytest.raises(TrainlessError, match=r"classes \[7\] that the training set \(0, 2, 3, 6, 8\)"):
        finetune(tiny, digits16, cfg, test_data=other)
    # A test set holding some of the classes is renumbered into the training set's numbering.
    some = from_tensors(torch.zeros(4, 3, 16, 16), torch.tensor([2, 2, 8, 8]))
    assert some.y.tolist() == [0, 0, 1, 1]
    from trainless.finetune import check_test_data

    aligned = check_test_data(tiny, digits16, some)
    assert aligned.y.tolist() == [1, 1, 4, 4]
    # The real run scores the renumbered labels: the same curve as with the aligned set itself.
    short = dataclasses.replace(cfg, steps=1)
    run = finetune(load_model("tiny-cnn", 5, seed=3), digits16, short, test_data=some)
    ref = finetune(load_model("tiny-cnn", 5, seed=3), digits16, short, test_data=aligned)
    assert run.test_n == 4 and run.test_loss == ref.test_loss
    test = load_test_split(digits16, 2)
    with pytest.raises(TrainlessError, match="'discrete' or 'closed-form' engine"):
        predict(tiny, digits16, cfg, dataclasses.replace(FAST, engine="ode"), test_data=test)
    with pytest.raises(TrainlessError, match="has only"):
        load_test_split(digits16, 10_000)


def test_sample_diagnosis_is_gradient_flow_and_stays_finite_past_the_squared_loss_edge():
    # Theta = lam I (every mode mu = lam / N): each sample keeps exp(-2 mu tau_t) of its squared residual, tau_t the
    # elapsed lr / (1 - m). Past lr mu = 2(1 + m) the discrete squared-loss recursion grows without bound: it called
    # every sample of the quick start unfitted (residual left 1e213; inf at T = 600).
    import warnings

    from trainless.dynamics import KernelOperator
    from trainless.predict._diagnosis import SAMPLE_EPS, diagnose_spectrum

    n, c, lam, momentum = 6, 3, 12.0, 0.5
    k = torch.zeros(n, n, c, c, dtype=torch.float64)
    for i in range(n):
        k[i, i] = lam * torch.eye(c, dtype=torch.float64)
    op = KernelOperator(k)
    f0 = torch.randn(n, c, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = torch.arange(n) % c
    lr = 4.0 * n / lam  # lr mu = 4, past the squared loss's edge 2 (1 + m) = 3
    lrs = [lr] * 600
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow
        d = diagnose_spectrum(op, op.spectrum_for(c), f0, y, lrs, momentum)
    mu = lam / n
    tau_t = 600 * lr / (1 - momentum)
    assert d.sample_left == pytest.approx([math.exp(-2 * mu * tau_t)] * n, rel=1e-9)
    # the first grid step with exp(-2 mu tau_t) <= 0.1, for every sample alike
    first = next(t for t in d.grid if math.exp(-2 * mu * t * lr / (1 - momentum)) <= SAMPLE_EPS)
    assert d.sample_steps == (first,) * n and first == 1

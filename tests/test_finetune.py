"""The real fine-tuning harness against an independent torch.optim loop, step for step."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from trainless import FinetuneConfig, HeadStart, RunStatus, TrainlessError, finetune, load_model, load_record


def reference_run(module, x, y, config: FinetuneConfig):
    """What a user writes: torch.optim.SGD/AdamW over a shuffled DataLoader, BN frozen via eval()."""
    module = copy.deepcopy(module)
    module.eval()
    params = [p for p in module.parameters() if p.requires_grad]
    if config.optimizer == "adamw":
        opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    else:
        opt = torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov, weight_decay=config.weight_decay
        )
    sched = torch.optim.lr_scheduler.StepLR(opt, config.step_size, config.gamma) if config.schedule == "step" else None
    n = x.shape[0]

    def loss_fn(logits, yb):
        if config.loss == "ce":
            return F.cross_entropy(logits, yb)
        return 0.5 * ((logits - F.one_hot(yb, logits.shape[1]).float()) ** 2).sum(1).mean()

    if config.batch_size is None:
        batches = iter(lambda: (x, y), None)
    else:
        loader = DataLoader(
            TensorDataset(x, y),
            batch_size=config.batch_size,
            shuffle=True,
            drop_last=config.drop_last,
            generator=torch.Generator().manual_seed(config.seed),
        )

        def gen():
            while True:
                yield from loader

        batches = gen()
    losses = []
    for _ in range(config.steps):
        with torch.no_grad():
            losses.append(float(loss_fn(module(x), y)))
        xb, yb = next(batches)
        opt.zero_grad()
        loss_fn(module(xb), yb).backward()
        opt.step()
        if sched is not None:
            sched.step()
    with torch.no_grad():
        losses.append(float(loss_fn(module(x), y)))
    assert n == x.shape[0]
    return losses, module


CASES = {
    "gd": FinetuneConfig(lr=0.05, steps=12),
    "sgd": FinetuneConfig(lr=0.05, steps=12, batch_size=16, seed=4),
    "sgd-drop-last-momentum": FinetuneConfig(lr=0.05, steps=12, batch_size=16, drop_last=True, momentum=0.9),
    "nesterov-wd": FinetuneConfig(lr=0.05, steps=12, batch_size=20, momentum=0.8, nesterov=True, weight_decay=1e-3),
    "mse-step-schedule": FinetuneConfig(lr=0.05, steps=12, loss="mse", schedule="step", step_size=4, gamma=0.5),
    "adamw": FinetuneConfig(lr=1e-3, steps=8, optimizer="adamw", weight_decay=1e-2, batch_size=30),
}


@pytest.mark.parametrize("case", list(CASES))
def test_matches_torch_optim_step_for_step(case, tiny, digits16):
    config = CASES[case]
    ref_losses, ref_module = reference_run(tiny.module, digits16.x, digits16.y, config)
    rec = finetune(tiny, digits16, config)
    assert rec.status is RunStatus.COMPLETED
    assert rec.eval_steps == tuple(range(config.steps + 1))
    torch.testing.assert_close(torch.tensor(rec.loss), torch.tensor(ref_losses), rtol=1e-5, atol=1e-6)
    for (name, p), q in zip(tiny.module.named_parameters(), ref_module.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)
    assert rec.loss[-1] < rec.loss[0]


def test_batches_and_lr_are_recorded(tiny, digits16):
    config = FinetuneConfig(lr=0.1, steps=10, batch_size=25, schedule="cosine", warmup_steps=3)
    rec = finetune(tiny, digits16, config)
    # 60 samples, batch 25, no drop_last: epochs are 25 + 25 + 10.
    assert [len(b) for b in rec.batches[:6]] == [25, 25, 10, 25, 25, 10]
    assert sorted(i for b in rec.batches[:3] for i in b) == list(range(60))
    # The lr of step t as torch's LinearLR -> CosineAnnealingLR chain gives it.
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    warm = torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=3)
    cos = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=7)
    seq = torch.optim.lr_scheduler.SequentialLR(opt, [warm, cos], milestones=[3])
    expected = []
    for _ in range(10):
        expected.append(opt.param_groups[0]["lr"])
        opt.step()
        seq.step()
    assert rec.lr == pytest.approx(expected)
    assert len(rec.step_seconds) == 10 and all(s > 0 for s in rec.step_seconds)


def test_batchnorm_statistics_do_not_move(tiny, digits16):
    buffers = {k: v.clone() for k, v in tiny.module.named_buffers()}
    assert any("running_mean" in k for k in buffers)
    tiny.module.train()  # even if the user left it in train mode, fine-tuning freezes BN
    rec = finetune(tiny, digits16, FinetuneConfig(lr=0.1, steps=5, batch_size=10))
    assert rec.status is RunStatus.COMPLETED
    for k, v in tiny.module.named_buffers():
        assert torch.equal(v, buffers[k]), k
    assert rec.weight_distance[-1] > 0


def test_same_seed_same_curve(digits16):
    config = FinetuneConfig(lr=0.05, steps=8, batch_size=12, momentum=0.9, seed=2)
    a = finetune(load_model("tiny-cnn", 5, seed=1), digits16, config)
    b = finetune(load_model("tiny-cnn", 5, seed=1), digits16, config)
    c = finetune(
        load_model("tiny-cnn", 5, seed=1),
        digits16,
        FinetuneConfig(lr=0.05, steps=8, batch_size=12, momentum=0.9, seed=3),
    )
    assert a.loss == b.loss and a.batches == b.batches
    assert a.batches != c.batches and a.loss != c.loss


def test_eval_stride(tiny, digits16):
    rec = finetune(tiny, digits16, FinetuneConfig(lr=0.05, steps=10, eval_stride=4, batch_size=30))
    assert rec.eval_steps == (0, 4, 8, 10)
    assert len(rec.loss) == len(rec.error) == len(rec.weight_distance) == 4


def test_trainable_head_only_leaves_body(tiny, digits16):
    body = {k: v.clone() for k, v in tiny.module.state_dict().items() if not k.startswith("head.")}
    rec = finetune(tiny, digits16, FinetuneConfig(lr=0.1, steps=5), trainable="head")
    assert rec.num_trainable == 16 * 5 + 5
    for k, v in tiny.module.state_dict().items():
        if k in body:
            assert torch.equal(v, body[k]), k


def test_linear_probe_head_start(tiny, digits16):
    rec = finetune(
        tiny, digits16, FinetuneConfig(lr=0.05, steps=3), head_start=HeadStart(kind="linear-probe", probe_steps=20)
    )
    probe = rec.head_start["probe"]
    assert probe["steps"] == 20 and rec.loss[0] == pytest.approx(probe["loss_after"], rel=1e-5)


def test_divergence_is_reported(tiny, digits16):
    rec = finetune(tiny, digits16, FinetuneConfig(lr=1e6, steps=50, loss="mse"))
    assert rec.status is RunStatus.DIVERGED
    assert "lower the learning rate" in rec.message
    assert rec.steps_run < 50 and not math.isfinite(rec.loss[-1])


def test_bad_inputs_fail_before_training(tiny, digits16):
    with pytest.raises(TrainlessError, match=r"batch_size must be in \[1, 60\].*got 61"):
        finetune(tiny, digits16, FinetuneConfig(batch_size=61))
    bad = type(digits16)(digits16.x.clone(), digits16.y, "bad", digits16.class_labels, digits16.source_indices)
    bad.x[0, 0, 0, 0] = float("nan")
    with pytest.raises(TrainlessError, match="dataset 'bad' contains NaN or inf"):
        finetune(tiny, bad, FinetuneConfig())
    three = load_model("tiny-cnn", 3)
    with pytest.raises(TrainlessError, match=r"labels must lie in \[0, 2\] for a 3-way head"):
        finetune(three, digits16, FinetuneConfig())
    with torch.no_grad():
        tiny.head_module().weight[0, 0] = float("inf")
    with pytest.raises(TrainlessError, match="parameter 'head.weight' contains NaN or inf"):
        finetune(tiny, digits16, FinetuneConfig())


def test_record_round_trip(tmp_path, tiny, digits16):
    rec = finetune(tiny, digits16, FinetuneConfig(lr=0.05, steps=4, batch_size=20))
    json_path, csv_path = rec.save(tmp_path)
    assert load_record(json_path) == rec
    lines = csv_path.read_text().splitlines()
    assert lines[0] == "step,loss,error,weight_distance" and len(lines) == 6
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    # A directory that does not exist yet is created, as the README's rec.save("runs/mine") implies.
    nested = tmp_path / "runs" / "mine"
    assert rec.save(nested) == (nested / "run.json", nested / "curves.csv")
    assert load_record(nested / "run.json") == rec
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(TrainlessError, match="output directory .*a-file.* cannot be written"):
        rec.save(blocker / "sub")


def test_efficientnet_few_steps_at_small_resolution():
    """The real pretrained network, fine-tuned for a few steps on real digits at 32 px (fast tier)."""
    from trainless import load_dataset

    data = load_dataset("mnist5k", classes=3, per_class=4, seed=0, resolution=32)
    model = load_model("efficientnet-lite0", 3, resolution=32, seed=0)
    buffers = {k: v.clone() for k, v in model.module.named_buffers()}
    config = FinetuneConfig(lr=5e-3, steps=3)
    ref_losses, _ = reference_run(model.module, data.x, data.y, config)
    rec = finetune(model, data, config)
    assert rec.status is RunStatus.COMPLETED
    assert rec.num_trainable > 3.3e6
    torch.testing.assert_close(torch.tensor(rec.loss), torch.tensor(ref_losses), rtol=1e-4, atol=1e-5)
    assert rec.loss[-1] < rec.loss[0]
    assert all(torch.equal(v, buffers[k]) for k, v in model.module.named_buffers())


@pytest.mark.parametrize("batch_size", [None, 16])
def test_weight_distance_is_recorded_before_each_step(digits16, tiny, batch_size):
    # Every recorded quantity at step t is at w_t (before step t's update); ||w_0 - w_0|| = 0.
    cfg = FinetuneConfig(lr=0.1, steps=3, batch_size=batch_size)
    rec = finetune(tiny, digits16, cfg)
    assert rec.weight_distance[0] == 0.0
    assert 0 < rec.weight_distance[1] < rec.weight_distance[3]


class _Pair(torch.nn.Module):
    """Returns (logits, features), as many user networks do."""

    def __init__(self, width: int = 3) -> None:
        super().__init__()
        self.body = torch.nn.Linear(3 * 16 * 16, 8)
        self.fc = torch.nn.Linear(8, width)

    def forward(self, x):
        h = torch.relu(self.body(x.flatten(1)))
        return self.fc(h), h


class _Logits(_Pair):
    def forward(self, x):
        return super().forward(x)[0].unsqueeze(1)  # (N, 1, C): one dimension too many


@pytest.mark.parametrize(
    ("module", "message"),
    [
        (_Pair(), "must return a tensor of .N, C. logits, got tuple"),
        (_Logits(), r"must return \(N, 3\) logits for its 3-way head, got shape \(1, 1, 3\)"),
        (torch.nn.Sequential(torch.nn.Linear(7, 3)), "failed on one sample of shape .3, 16, 16. from dataset"),
    ],
)
def test_a_model_whose_output_is_not_the_logits_is_refused_before_training(digits16, module, message):
    from trainless import from_module, from_tensors, predict

    model = from_module(module, 3)
    data = from_tensors(digits16.x, digits16.y % 3)
    config = FinetuneConfig(lr=0.01, steps=3)
    for run in (finetune, predict):
        with pytest.raises(TrainlessError, match=message):
            run(model, data, config)

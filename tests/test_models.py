from __future__ import annotations

import pytest
import torch
from torch import nn

from trainless import HeadStart, TrainlessError, from_module, load_model, select_trainable
from trainless.models import penultimate_features, warm_head


@pytest.mark.parametrize(
    "name, blocks, params",
    [
        ("efficientnet-lite0", 16, (3.3e6, 3.5e6)),
        ("efficientnet-lite1", 21, (4.0e6, 4.2e6)),
        ("efficientnet-lite2", 21, (4.7e6, 4.9e6)),
    ],
)
def test_efficientnet_loads_imagenet_weights_offline(name, blocks, params):
    from trainless.models._efficientnet import _weights_file

    m = load_model(name, 5, resolution=32, seed=0)
    state = torch.load(_weights_file(name), map_location="cpu")
    own = m.module.state_dict()
    body = [k for k in state if not k.startswith("_fc.")]
    assert len(body) > 250
    assert all(torch.equal(own[k], state[k]) for k in body)
    assert m.module.get_submodule("_fc").weight.shape == (5, 1280)
    # stem, the MBConv blocks, top
    assert m.head == "_fc" and len(m.blocks) == blocks + 2
    assert not m.module.training and all(not mod.training for mod in m.module.modules())
    n_params = sum(p.numel() for p in m.module.parameters())
    assert params[0] < n_params < params[1]
    out = m.module(torch.zeros(2, 3, 32, 32))
    assert out.shape == (2, 5)


def test_lite_variants_are_different_networks():
    # Lite1 and Lite2 must not silently fall back to another variant's weights: their shared first conv differs.
    a, b, c = (load_model(f"efficientnet-lite{k}", 3, resolution=32, seed=0).module for k in range(3))
    assert a._conv_stem.weight.shape == b._conv_stem.weight.shape == c._conv_stem.weight.shape
    assert not torch.equal(a._conv_stem.weight, b._conv_stem.weight)
    assert not torch.equal(b._conv_stem.weight, c._conv_stem.weight)


def test_head_init_is_seeded_and_torch_default():
    a = load_model("tiny-cnn", 4, seed=5).head_module()
    b = load_model("tiny-cnn", 4, seed=5).head_module()
    c = load_model("tiny-cnn", 4, seed=6).head_module()
    assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
    assert not torch.equal(a.weight, c.weight)
    # torch's default Linear init: kaiming_uniform(a=sqrt(5)) -> U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    bound = 1 / a.in_features**0.5
    top = float(a.weight.detach().abs().max())
    assert 0.5 * bound < top <= bound


def test_select_trainable(tiny):
    assert set(select_trainable(tiny, "head")) == {"head.weight", "head.bias"}
    assert all(not p.requires_grad for n, p in tiny.module.named_parameters() if not n.startswith("head."))
    last1 = select_trainable(tiny, "last-1")
    assert set(last1) == {"head.weight", "head.bias", "block2.0.weight", "block2.1.weight", "block2.1.bias"}
    everything = select_trainable(tiny, "all")
    assert len(everything) == len(list(tiny.module.parameters()))
    with pytest.raises(TrainlessError, match="has only 2 body blocks"):
        select_trainable(tiny, "last-3")
    with pytest.raises(TrainlessError, match="trainable must be 'all', 'head' or 'last-K'"):
        select_trainable(tiny, "body")


def test_user_factory_model_and_its_head():
    m = load_model("factories:mlp", 3, seed=0)
    assert m.head == "3" and m.resolution is None
    assert m.blocks == (("1.",),)
    assert set(select_trainable(m, "last-1")) == {"1.weight", "1.bias", "3.weight", "3.bias"}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("resnet-9000", "unknown model 'resnet-9000'"),
        ("nope_module_xyz:f", "module 'nope_module_xyz' does not import"),
        ("factories:not_a_module", "must return a torch.nn.Module, got str"),
        ("factories:raises", "raised RuntimeError: factory failed on purpose"),
    ],
)
def test_model_errors(name, message):
    with pytest.raises(TrainlessError, match=message):
        load_model(name, 3)


def test_no_trainable_parameters():
    m = load_model("factories:frozen_mlp", 3)
    with pytest.raises(TrainlessError, match="has no trainable parameters for trainable='all'"):
        select_trainable(m, "all")


def test_head_not_found(monkeypatch):
    import factories

    monkeypatch.setattr(factories, "headless", lambda num_classes: nn.Sequential(nn.Linear(3, 4)), raising=False)
    with pytest.raises(TrainlessError, match="no nn.Linear with out_features=7"):
        load_model("factories:headless", 7)


def test_nan_weights_rejected(monkeypatch):
    import factories

    def poisoned(num_classes):
        m = factories.mlp(num_classes)
        with torch.no_grad():
            m[1].weight[0, 0] = float("nan")
        return m

    monkeypatch.setattr(factories, "poisoned", poisoned, raising=False)
    with pytest.raises(TrainlessError, match="parameter '1.weight' contains NaN or inf"):
        load_model("factories:poisoned", 3)


def test_linear_probe_warms_only_the_head(tiny, digits16):
    before = {k: v.clone() for k, v in tiny.module.state_dict().items()}
    feats = penultimate_features(tiny, digits16.x)
    assert feats.shape == (digits16.n, 16)
    res = warm_head(tiny, digits16.x, digits16.y, "ce", HeadStart(kind="linear-probe", probe_steps=50))
    assert res is not None and res.steps == 50 and res.loss_after < res.loss_before
    after = tiny.module.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"head.weight", "head.bias"}
    # With a target loss the probe stops at the first step at or below it.
    other = load_model("tiny-cnn", digits16.num_classes, seed=3)
    res2 = warm_head(
        other,
        digits16.x,
        digits16.y,
        "ce",
        HeadStart(kind="linear-probe", probe_steps=500, probe_target_loss=res.loss_after),
    )
    assert res2 is not None and res2.steps <= 50 and res2.loss_after <= res.loss_after


def test_fresh_head_start_changes_nothing(tiny, digits16):
    assert warm_head(tiny, digits16.x, digits16.y, "ce", HeadStart()) is None


def _seeded_mlp(num_classes: int, seed: int = 0) -> nn.Module:
    import factories

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return factories.mlp(num_classes)


def test_from_module_is_the_factory_model():
    # The same network built in the session or named as a factory: the same head, blocks and weights.
    named = load_model("factories:mlp", 3, seed=4)
    mine = from_module(_seeded_mlp(3, seed=4), seed=4)
    assert (mine.head, mine.blocks, mine.num_classes, mine.resolution) == (named.head, named.blocks, 3, None)
    assert mine.name == "Sequential" and not mine.module.training
    for (n, a), (m, b) in zip(named.module.state_dict().items(), mine.module.state_dict().items(), strict=True):
        assert n == m and torch.equal(a, b), n


def test_from_module_head_choice_and_reset():
    module = _seeded_mlp(3)
    before = module[3].weight.detach().clone()
    kept = from_module(module, reset_head=False, name="mine")
    assert kept.name == "mine" and kept.head == "3" and kept.num_classes == 3
    assert kept.module is module and torch.equal(module[3].weight, before)
    a = from_module(_seeded_mlp(3), 3, head="3", seed=1).module[3].weight
    b = from_module(_seeded_mlp(3), seed=1).module[3].weight
    c = from_module(_seeded_mlp(3), seed=2).module[3].weight
    assert torch.equal(a, b) and not torch.equal(a, c) and not torch.equal(a, before)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"module": "resnet"}, "module must be a torch.nn.Module, got str"),
        ({"head": "9"}, "has no submodule '9' to serve as its head"),
        ({"head": "2"}, "head '2' of 'Sequential' must be an nn.Linear, got Tanh"),
        ({"num_classes": 4}, "no nn.Linear with out_features=4"),
        ({"num_classes": 4, "head": "3"}, "head '3' of 'Sequential' is not an nn.Linear with 4 outputs"),
        ({"num_classes": 1}, "num_classes must be an integer >= 2, got 1"),
        ({"module": nn.Sequential(nn.Flatten(), nn.Linear(4, 1))}, "head '1' of 'Sequential' has 1 output"),
        ({"module": nn.Sequential(nn.Flatten())}, "'Sequential' has no nn.Linear to serve as its head"),
        ({"resolution": 4}, "resolution must be an integer >= 8"),
        ({"name": ""}, "name must be a non-empty string"),
        ({"seed": 1.5}, "seed must be an integer, got 1.5"),
        ({"reset_head": "yes"}, "reset_head must be True or False, got 'yes'"),
    ],
)
def test_from_module_errors(kwargs, message):
    kwargs = {"module": _seeded_mlp(3), **kwargs}
    with pytest.raises(TrainlessError, match=message):
        from_module(**kwargs)


def test_from_module_rejects_nan_before_any_work():
    module = _seeded_mlp(3)
    with torch.no_grad():
        module[1].bias[2] = float("inf")
    with pytest.raises(TrainlessError, match="model 'Sequential': parameter '1.bias' contains NaN or inf"):
        from_module(module)

"""No protocol moves, casts, re-flags or edits the backbone it is handed: `linear` (through the frozen
forward), `frozen`, `finetune` and every other registered protocol, each over two or more settings,
work on their own copies."""
import copy

import pytest
import torch
from helpers import write_celeba

from farl_bench.backbones import Backbone, Features, Preprocess, build
from farl_bench.engine.runner import RunOptions, run_cells
from farl_bench.engine.trainer import TaskModel
from farl_bench.plan import expand
from farl_bench.registry import PROTOCOLS

#: Every nn.Module method that moves, casts or re-flags a module in place.
MUTATORS = ("to", "cuda", "cpu", "half", "float", "double", "bfloat16", "type", "_apply", "train", "eval",
            "requires_grad_", "load_state_dict", "zero_grad", "share_memory")
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU"))]
# Two settings for frozen and finetune (the linear grid has 2 x 4); one short epoch each.
OVERRIDES = {"input_size": 32, **{f"protocols.{p}.{k}": v for p in ("frozen", "finetune", "lora") for k, v in
                                  (("lrs", [1e-3, 1e-2]), ("epochs", 1), ("batch_size", 16))},
             "protocols.linear.epochs": 2}


def spy_on(backbone: torch.nn.Module) -> list[str]:
    """Names of the mutating methods later called on `backbone` itself (not on its copies, which
    share the spying class)."""
    calls: list[str] = []
    cls = type(backbone)

    def spy(name: str):
        method = getattr(cls, name)

        def wrapper(self, *args, **kwargs):
            if self is backbone:
                calls.append(name)
            return method(self, *args, **kwargs)
        return wrapper

    backbone.__class__ = type(f"Spied{cls.__name__}", (cls,), {name: spy(name) for name in MUTATORS})
    return calls


def snapshot(module: torch.nn.Module) -> dict:
    """Everything a protocol could change in place: tensors bitwise (and where they live), dtypes,
    devices, requires_grad, and the training flag of every submodule."""
    tensors = {**dict(module.named_parameters()), **dict(module.named_buffers())}
    return {
        "tensors": {n: (t.detach().cpu().clone(), t.dtype, t.device, t.requires_grad, t.data_ptr())
                    for n, t in tensors.items()},
        "training": {n: m.training for n, m in module.named_modules()},
    }


def assert_same(before: dict, after: dict) -> None:
    assert after["training"] == before["training"]
    assert after["tensors"].keys() == before["tensors"].keys()
    for name, (value, *facts) in before["tensors"].items():
        got, *got_facts = after["tensors"][name]
        assert got_facts == facts, name
        assert torch.equal(got, value), name


class TinyNet(Backbone):
    """Batch norm and dropout (whose flags matter) over one convolution (a ViT's patch embedding: the
    frozen forward keeps NCHW) or two (a CNN: channels_last)."""

    def __init__(self, convs: int):
        super().__init__()
        layers = [torch.nn.Conv2d(3, 8, 4, stride=4)] + [torch.nn.Conv2d(8, 8, 3, padding=1)] * (convs - 1)
        self.body = torch.nn.Sequential(*layers, torch.nn.BatchNorm2d(8), torch.nn.Dropout(0.5))
        self.preprocess = Preprocess((0.5,) * 3, (0.5,) * 3, 32)
        self.fingerprint, self.spec = f"tiny-{convs}", f"tiny{convs}"

    def _forward(self, x: torch.Tensor, levels: bool) -> Features:
        y = self.body(x)
        return Features([y] if levels else [], y.mean(dim=(2, 3)))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("convs", [1, 2])
def test_no_protocol_moves_casts_reflags_or_edits_the_backbone(convs, device, tmp_path, monkeypatch):
    write_celeba(tmp_path / "data", n=(16, 8, 8))
    backbone = TinyNet(convs)
    # an unusual state a protocol's own choices would overwrite: training mode, half the weights frozen
    backbone.train()
    for p in list(backbone.parameters())[::2]:
        p.requires_grad_(False)
    before = snapshot(backbone)
    calls = spy_on(backbone)
    monkeypatch.setattr("farl_bench.engine.runner.build", lambda *args, **kwargs: backbone)
    options = RunOptions(tmp_path / "data", tmp_path / "results", OVERRIDES, device=device, precision="fp32",
                         bootstrap=0)
    # linear, frozen, finetune and any other registered, but those that need a text tower (TinyNet has none)
    protocols = sorted(p for p in PROTOCOLS.names() if not getattr(PROTOCOLS.get(p), "needs_text_tower", False))

    records = run_cells(expand(["pixels"], ["celeba"], protocols, [1.0]), options, lambda d, n: (lambda k: None))

    assert [r.protocol for r in records] == protocols and {"linear", "frozen", "finetune"} <= set(protocols)
    assert all(len(r.selection_scores) >= 2 for r in records)  # settings (one epoch each): two or more
    assert calls == []
    assert_same(before, snapshot(backbone))


def test_the_frozen_task_model_keeps_its_backbone_in_eval_mode_while_the_head_trains():
    head = torch.nn.Sequential(torch.nn.Dropout(), torch.nn.Linear(2, 2))
    frozen, tuned = TaskModel(TinyNet(2), head, train_backbone=False).train(), TaskModel(TinyNet(2), head)
    assert not any(m.training for m in frozen.backbone.modules())
    assert all(m.training for m in frozen.head.modules())
    assert all(m.training for m in tuned.train().modules())


class Recorder(Backbone):
    """A convolution with batch norm that records the dtype and device of every input it sees."""

    def __init__(self):
        super().__init__()
        self.conv, self.norm = torch.nn.Conv2d(3, 4, 3, stride=2, padding=1), torch.nn.BatchNorm2d(4)
        self.preprocess = Preprocess((0.5,) * 3, (0.5,) * 3, 16)
        self.seen: list[tuple[torch.dtype, str]] = []

    def _forward(self, x: torch.Tensor, levels: bool) -> Features:
        self.seen.append((x.dtype, x.device.type))
        y = self.norm(self.conv(x))
        return Features([y] if levels else [], y.mean(dim=(2, 3)))


def test_feature_spec_is_measured_once_on_the_modules_own_dtype():
    backbone = Recorder().to(torch.bfloat16).eval()  # a CPU float32 zero image would not run through bf16 weights
    spec = backbone.feature_spec
    assert (spec.channels, spec.strides, spec.pooled_dim) == ((4,), (2,), 4)
    assert backbone.feature_spec is spec and backbone.seen == [(torch.bfloat16, "cpu")]  # once


def test_feature_spec_of_a_module_in_training_mode_neither_flips_its_flags_nor_learns_from_the_zero_image():
    backbone = Recorder().train()
    stats = backbone.norm.running_mean.clone()
    calls = spy_on(backbone)
    assert backbone.feature_spec.channels == (4,)
    assert calls == [] and backbone.seen == []  # measured on an eval-mode copy
    assert all(m.training for m in backbone.modules()) and torch.equal(backbone.norm.running_mean, stats)


def test_a_built_backbone_has_measured_its_feature_spec_and_copies_keep_it():
    backbone = build("pixels?grid=4", 32)
    assert "_feature_spec" in backbone.__dict__  # at build
    assert backbone.feature_spec.pooled_dim == 3 * 4 * 4 and backbone.feature_spec.strides == (4,)
    assert copy.deepcopy(backbone).__dict__["_feature_spec"] == backbone.feature_spec  # no new forward

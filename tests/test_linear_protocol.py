import numpy as np
import torch

from farl_bench.backbones import build
from farl_bench.data.readers.celeba import CelebAReader
from farl_bench.engine.evaluate import score_split
from farl_bench.engine.cache import FeatureStore
from farl_bench.engine.features import FeatureCache
from farl_bench.engine.linear import LinearHparams, LinearProtocol, train_grid
from farl_bench.engine.precision import FrozenForward
from farl_bench.engine.protocol import ProtocolJob
from farl_bench.families import get
from farl_bench.tasks import load_task


def job_for(root, hparams, seed=0):
    data = CelebAReader().read(root / "CelebA")
    backbone = build("pixels?grid=4", input_size=32)
    family, spec = get("attributes"), load_task("celeba")
    cache = FeatureCache(FeatureStore(root / "cache"), FrozenForward(backbone, "cpu", "fp32"), data, spec.crop,
                         family, {"family": "attributes"}, label="celeba")
    return ProtocolJob(backbone, family, spec, data, data.split("train"), data.split("val"), "val", hparams, seed,
                       features=cache)


def test_linear_probe_beats_the_majority_baseline(celeba_root):
    job = job_for(celeba_root, LinearHparams(epochs=60))
    result = LinearProtocol().run(job)
    test = job.samples(job.data.split("test"))
    ours = score_split(job.family, result.predict(test, "test"), test, job.data)["acc_mean"].value
    train_rate = np.mean([r.attributes for r in job.train], axis=0) > 0.5
    targets = [r.attributes for r in test.records]
    floor = job.family.score([train_rate] * len(targets), targets, job.data.meta)["acc_mean"].value
    assert ours > floor + 15


def test_the_chosen_setting_is_the_best_on_val(celeba_root):
    job = job_for(celeba_root, LinearHparams(lrs=[1e-4, 1e-2], weight_decays=[0.0, 10.0], epochs=20))
    result = LinearProtocol().run(job)
    assert result.selection_split == "val" and len(result.selection_scores) == 4
    best = max(s["acc_mean"] for s in result.selection_scores)
    chosen = [s for s in result.selection_scores
              if (s["lr"], s["weight_decay"]) == (result.selected["lr"], result.selected["weight_decay"])]
    assert chosen[0]["acc_mean"] == best


def test_same_seed_same_predictions(celeba_root):
    outs = []
    for _ in range(2):
        job = job_for(celeba_root, LinearHparams(epochs=10))
        test = job.samples(job.data.split("test"))
        outs.append(torch.cat([o for _, o in LinearProtocol().run(job).predict(test, "test")]))
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)


def test_grid_heads_train_independently_of_each_other():
    """A setting trained inside a grid equals the same setting trained alone."""
    x, y = torch.randn(64, 5), torch.rand(64, 3) < 0.5
    hp = LinearHparams(epochs=3, batch_size=16)
    family = get("attributes")
    settings = [{"lr": 1e-2, "weight_decay": 0.0}, {"lr": 1e-3, "weight_decay": 0.1}]
    grid = train_grid(family, x, y, settings, hp, 3, seed=0)
    alone = train_grid(family, x, y, settings[1:], hp, 3, seed=0)
    torch.testing.assert_close(grid.weight[1], alone.weight[0])
    torch.testing.assert_close(grid.bias[1], alone.bias[0])


def test_dense_grid_is_a_1x1_convolution_per_setting():
    from farl_bench.engine.linear import HeadGrid

    heads = HeadGrid(2, 4, 3)
    torch.nn.init.normal_(heads.weight)
    torch.nn.init.normal_(heads.bias)
    x = torch.randn(2, 4, 5, 5)
    out = heads(x)
    conv = torch.nn.functional.conv2d(x, heads.weight[1].T[:, :, None, None], heads.bias[1])
    torch.testing.assert_close(out[1], conv)
    torch.testing.assert_close(heads(x, setting=1)[0], conv)


def test_a_grid_of_one_setting_trains_as_torch_adam_with_an_l2_penalty():
    x, y = torch.randn(64, 5), torch.rand(64, 3) < 0.5
    family = get("attributes")
    grid = train_grid(family, x, y, [{"lr": 1e-2, "weight_decay": 0.1}], LinearHparams(epochs=3, batch_size=16),
                      3, seed=0)
    w, b = torch.zeros(5, 3, requires_grad=True), torch.zeros(3, requires_grad=True)
    optimizer = torch.optim.Adam([w, b], lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        for idx in torch.randperm(64, generator=generator).split(16):
            loss = family.loss(x[idx] @ w + b, y[idx]) + 0.1 * w.square().sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    torch.testing.assert_close(grid.weight[0], w.detach())
    torch.testing.assert_close(grid.bias[0], b.detach())


def test_standardiser_of_fp16_maps_matches_float64_statistics():
    from farl_bench.engine.linear import _standardiser

    x = (torch.randn(50, 3, 4, 4, dtype=torch.float64) * torch.tensor([1.0, 5.0, 0.1]).view(1, 3, 1, 1) + 3)
    mean, std = _standardiser(x.half())
    exact = x.half().double()
    torch.testing.assert_close(mean, exact.mean((0, 2, 3)).float().view(1, 3, 1, 1))
    torch.testing.assert_close(std, exact.std((0, 2, 3)).float().view(1, 3, 1, 1) + 1e-6)


def test_a_dense_batch_trained_in_parts_takes_the_same_steps_as_whole(monkeypatch):
    """Parts weighted by their pixels inside the crop: the mean over the batch's kept pixels, exactly."""
    from farl_bench.engine import linear
    from farl_bench.families.parsing import IGNORE

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(12, 4, 3, 3, generator=generator)
    y = torch.randint(0, 3, (12, 12, 12), generator=generator)
    y[:, :, :4] = IGNORE
    y[2] = IGNORE  # a face wholly outside its crop: a part of it alone has nothing to learn from
    family = get("parsing")
    settings = [{"lr": 1e-2, "weight_decay": 0.0}, {"lr": 1e-3, "weight_decay": 1e-3}]
    hp = LinearHparams(epochs=2, batch_size=6)
    whole = train_grid(family, x, y, settings, hp, 3, seed=0)
    monkeypatch.setattr(linear, "_rows_per_part", lambda heads, xb, yb: 1)
    parts = train_grid(family, x, y, settings, hp, 3, seed=0)
    torch.testing.assert_close(parts.weight, whole.weight, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(parts.bias, whole.bias, rtol=1e-5, atol=1e-6)
    assert linear._rows_per_part(whole, torch.zeros(256, 512, 28, 28), torch.zeros(256, 448, 448)) == 1

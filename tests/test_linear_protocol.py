import numpy as np
import torch

from farl_bench.backbones import build
from farl_bench.data.readers.celeba import CelebAReader
from farl_bench.engine.evaluate import score_split
from farl_bench.engine.features import FeatureCache
from farl_bench.engine.linear import LinearHparams, LinearProtocol, train_grid
from farl_bench.engine.protocol import ProtocolJob
from farl_bench.families import get
from farl_bench.data.samples import FaceSamples
from farl_bench.tasks import load_task


def job_for(root, hparams, seed=0):
    data = CelebAReader().read(root / "CelebA")
    backbone = build("pixels?grid=4", input_size=32)
    family, spec = get("attributes"), load_task("celeba")
    cache = FeatureCache(lambda recs: FaceSamples(recs, data, spec.crop, backbone.preprocess, family), backbone,
                         False, data.splits, 64, 0, "cpu", lambda d, n: (lambda k: None), "celeba")
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
    torch.testing.assert_close(grid.weights[1], alone.weights[0])


def test_dense_grid_is_a_1x1_convolution_per_setting():
    from farl_bench.engine.linear import HeadGrid

    heads = HeadGrid(2, 4, 3)
    for w in heads.weights:
        torch.nn.init.normal_(w)
    x = torch.randn(2, 4, 5, 5)
    out = heads(x)
    conv = torch.nn.functional.conv2d(x, heads.weights[1].T[:, :, None, None], heads.biases[1])
    torch.testing.assert_close(out[1], conv)

import numpy as np
import torch

from farl_bench.backbones import build
from farl_bench.data.readers.celeba import CelebAReader
from farl_bench.engine.linear import LinearHparams, LinearProtocol
from farl_bench.engine.protocol import ProtocolJob
from farl_bench.families import get
from farl_bench.tasks import load_task


def job_for(root, hparams, seed=0):
    data = CelebAReader().read(root / "CelebA")
    backbone = build("pixels?grid=4", input_size=32)
    cache = {}

    def features(split, records):
        if split not in cache:
            from farl_bench.engine.features import extract_pooled

            cache[split] = extract_pooled(backbone, records, "resize")
        return cache[split]

    return ProtocolJob(backbone, get("attributes"), load_task("celeba"), data.meta, data.split("train"),
                       data.split("val"), data.split("test"), hparams, seed, features), data


def test_linear_probe_beats_the_majority_baseline(celeba_root):
    job, data = job_for(celeba_root, LinearHparams(epochs=60))
    result = LinearProtocol().run(job)
    target = job.family.targets(data.split("test"), data.meta)
    majority = np.broadcast_to(job.family.targets(data.split("train"), data.meta).mean(0) > 0.5, target.shape)
    ours = job.family.score(result.test_predictions, target, data.meta)["acc_mean"].value
    floor = job.family.score(majority, target, data.meta)["acc_mean"].value
    assert ours > floor + 15


def test_the_chosen_setting_is_the_best_on_val(celeba_root):
    job, _ = job_for(celeba_root, LinearHparams(lrs=[1e-4, 1e-2], weight_decays=[0.0, 10.0], epochs=20))
    result = LinearProtocol().run(job)
    assert result.selection_split == "val" and len(result.selection_scores) == 4
    best = max(s["acc_mean"] for s in result.selection_scores)
    chosen = [s for s in result.selection_scores
              if (s["lr"], s["weight_decay"]) == (result.selected["lr"], result.selected["weight_decay"])]
    assert chosen[0]["acc_mean"] == best


def test_same_seed_same_predictions(celeba_root):
    hp = LinearHparams(epochs=10)
    a = LinearProtocol().run(job_for(celeba_root, hp)[0]).test_predictions
    b = LinearProtocol().run(job_for(celeba_root, hp)[0]).test_predictions
    np.testing.assert_array_equal(a, b)


def test_grid_heads_train_independently_of_each_other():
    """A setting trained inside a grid equals the same setting trained alone."""
    from farl_bench.engine.linear import train_grid

    x, y = torch.randn(64, 5), torch.rand(64, 3) < 0.5
    hp = LinearHparams(epochs=3, batch_size=16)
    family = get("attributes")
    settings = [{"lr": 1e-2, "weight_decay": 0.0}, {"lr": 1e-3, "weight_decay": 0.1}]
    grid = train_grid(family, x, y, settings, hp, 3, seed=0)
    alone = train_grid(family, x, y, settings[1:], hp, 3, seed=0)
    torch.testing.assert_close(grid.weights[1], alone.weights[0])

"""Issue 15: with a TRAINED backbone every protocol that applies beats the `pixels` floor.

A tiny CNN is "pretrained" here, supervised on the 40 attributes of a separate synthetic CelebA (the
medium scale's 3,000 training faces, generator seed 1: none of them is in the benchmarked small set),
saved as safetensors and loaded as a `py:` backbone with `?weights=`. (Trained on the small set's 480
faces alone it learned too little: its own head reached about 62 bacc_mean on the test faces, and
the protocols on it were at most 3.5 points above `pixels`.) The comparison metric was chosen
before looking at any number: `bacc_mean` (mean balanced accuracy over the attributes), because
most synthetic attributes are rare, so `acc_mean` sits near the majority answer for any features
(README, kNN: 81.25 for `pixels`, 81.10 for the training majority) and would squash every margin;
balanced accuracy is 50 for any constant answer and only rises when the rare attribute is found.
`lora` cannot run on `pixels` (nothing to adapt), so its floor is `frozen` on `pixels`: the same
family head on the raw image.

The real faces of ../shared/realdata carry landmarks only, so their check is alignment
(test_trained_backbone_beats_floor_on_real_faces.py); zero-shot's is test_trained_clip_zeroshot.py.
RAF-DB (transfer from attributes to expression) is not asserted: on the small synthetic set at
32 px every protocol, trained or `pixels`, stays at chance (mean_class_acc 14-16 for 7 classes).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from farl_bench.data.dataset import read_dataset
from farl_bench.tasks import load_task
from helpers import TINY_CNN, factory_module, metric_by_backbone_kind

SIZE = 32
TRAIN_EPOCHS = 10
PROTOCOL_SETTINGS = {
    f"input_size={SIZE}", "protocols.frozen.epochs=10",
    "protocols.finetune.epochs=4", "protocols.lora.epochs=4", "protocols.lora.ranks=[4]",
    "protocols.lora.lrs=[0.003]",
}


def faces(records) -> torch.Tensor:
    """Whole images resized to SIZE, normalised as the module's preprocess says (the task's crop is `resize`)."""
    arrays = [np.asarray(Image.open(r.image).convert("RGB").resize((SIZE, SIZE), Image.BILINEAR)) for r in records]
    return (torch.as_tensor(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255 - 0.5) / 0.5


@pytest.fixture(scope="session")
def trained_backbone(tmp_path_factory, pretraining_celeba) -> str:
    """`py:` spec of the tiny CNN trained on a separate synthetic CelebA (seeded: deterministic)."""
    folder = tmp_path_factory.mktemp("trained_net")
    name = f"tiny_face_net_{folder.name.replace('-', '_')}"
    with factory_module(folder, name, TINY_CNN) as module:
        data, _ = read_dataset(load_task("celeba", {"input_size": SIZE}), pretraining_celeba)
        train = data.split("train")
        x, y = faces(train), torch.as_tensor(np.stack([r.attributes for r in train])).float()
        torch.manual_seed(0)
        net = module.build()
        classifier = torch.nn.Linear(128, y.shape[1])
        params = [*net.parameters(), *classifier.parameters()]
        optimizer = torch.optim.AdamW(params, lr=3e-3, weight_decay=1e-4)
        # rare attributes weigh as much as common ones, as bacc_mean counts them
        pos_weight = ((len(y) - y.sum(0)) / y.sum(0).clamp(min=1)).clamp(max=20)
        loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
        generator = torch.Generator().manual_seed(0)
        for _ in range(TRAIN_EPOCHS):
            for idx in torch.randperm(len(x), generator=generator).split(32):
                flip = torch.rand(len(idx), generator=generator) < 0.5
                batch = torch.where(flip[:, None, None, None], x[idx].flip(3), x[idx])
                loss = loss_fn(classifier(net.forward_features(batch)[-1].mean(dim=(2, 3))), y[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        weights = folder / "tiny_face_net.safetensors"
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, weights)
        yield f"py:{name}:build?weights={weights}"


def scores(cli, backbone: str, root: Path, task: str, metric: str, results: Path) -> dict[tuple[str, str], float]:
    """Test `metric` of every protocol on `backbone` and on `pixels` (lora: on `backbone` only)."""
    # fp32: the same numbers on CPUs with and without native bf16
    common = ["-t", task, "--data-root", root, "--results", results, "--bootstrap", "0", "--precision", "fp32"]
    for s in sorted(PROTOCOL_SETTINGS):
        common += ["--set", s]
    code, _, err = cli("run", "-b", backbone, "-b", "pixels", "-p", "linear,knn,frozen,finetune", *common)
    assert code == 0, err
    code, _, err = cli("run", "-b", backbone, "-p", "lora", *common)
    assert code == 0, err
    return metric_by_backbone_kind(results, metric)


FLOORS = {"linear": "linear", "knn": "knn", "frozen": "frozen", "finetune": "finetune", "lora": "frozen"}


def test_every_protocol_on_the_trained_backbone_beats_pixels_on_celeba(cli, synthetic_root, trained_backbone,
                                                                         tmp_path):
    score = scores(cli, trained_backbone, synthetic_root, "celeba", "bacc_mean", tmp_path / "results")
    # measured in fp32: linear 60.5 vs 54.3, knn 56.3 vs 51.9, frozen 61.0 vs 53.7, finetune 59.1 vs 53.2,
    # lora 60.4 vs frozen's 53.7 (bf16 gave knn 58.4). A margin of 3 bacc points: beyond what one face of 120
    # moves, not tuned to the last decimal
    for protocol, floor in FLOORS.items():
        assert score["trained", protocol] > score["pixels", floor] + 3, (protocol, score)


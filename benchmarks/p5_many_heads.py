"""P5: the linear grid's 8 settings (2 lrs x 4 weight decays) x 40 attributes trained in one pass
over cached fp16 features, in wall time / one head trained the plain way (nn.Linear + torch Adam)
over the same minibatches. Goal: <= 1.5."""
from __future__ import annotations

import itertools

import torch

from _common import bracketed, report, seconds
from farl_bench.engine.linear import LinearHparams, _standardiser, train_grid
from farl_bench.families import get

N, DIM, ATTRIBUTES, EPOCHS = 20_000, 768, 40, 3


def main() -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(N, DIM, generator=generator).half()  # as the cache stores ViT-B pooled features
    y = torch.rand(N, ATTRIBUTES, generator=generator) < 0.3
    hp = LinearHparams(epochs=EPOCHS)
    settings = [{"lr": lr, "weight_decay": wd} for lr, wd in itertools.product(hp.lrs, hp.weight_decays)]
    family = get("attributes")
    mean, std = _standardiser(x)

    def ours() -> None:
        train_grid(family, x, y, settings, hp, ATTRIBUTES, seed=0, standardise=(mean, std))

    def one_head() -> None:
        torch.manual_seed(0)
        head = torch.nn.Linear(DIM, ATTRIBUTES)
        optimizer = torch.optim.Adam(head.parameters(), lr=1e-3)
        batches = torch.Generator().manual_seed(0)
        for _ in range(EPOCHS):
            for idx in torch.randperm(N, generator=batches).split(hp.batch_size):
                loss = family.loss(head((x[idx].float() - mean) / std), y[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()

    def products_alone() -> None:
        """The grid's matrix products alone (forward and weight gradient of 8 heads): its floor."""
        outputs = len(settings) * ATTRIBUTES
        weights, grads = torch.randn(DIM, outputs), torch.randn(hp.batch_size, outputs)
        for idx in torch.randperm(N).split(hp.batch_size) * EPOCHS:
            xb = x[idx].float()
            xb @ weights
            xb.T @ grads[:len(idx)]

    ours_s, base_s = bracketed(ours, one_head, rounds=3)
    floor_s = min(seconds(products_alone) for _ in range(2))
    report("P5", ours_s / base_s, 1.5, False, f"{len(settings)} settings x {ATTRIBUTES} attributes over {N} x {DIM} "
           f"fp16 features, {EPOCHS} epochs, 1 thread: grid {ours_s:.2f} s, one head {base_s:.2f} s; the grid's "
           f"matrix products alone {floor_s:.2f} s = {floor_s / base_s:.1f} x one head")


if __name__ == "__main__":
    torch.set_num_threads(1)  # as the linear protocol trains pooled heads (engine.linear._threads); fastest
    main()                    # for the plain head too on this 2-core machine

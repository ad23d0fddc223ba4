"""P5: the linear grid's 8 settings (2 lrs x 4 weight decays) x 40 attributes trained in one pass
over cached fp16 features, in wall time / one head trained the plain way (nn.Linear + torch Adam)
over the same minibatches. Goal: <= 1.5.

Ours runs as the linear protocol runs it, under autocast to the default precision (bf16 on a CPU
with native bf16); the one head is timed in fp32 and under that same autocast, and the faster of the
two is the baseline."""
from __future__ import annotations

import itertools

import torch

from _common import bracketed, report, seconds
from farl_bench.engine.linear import LinearHparams, _standardiser, train_grid
from farl_bench.engine.precision import autocast, default_precision
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

    precision = default_precision("cpu")

    def ours() -> None:
        with autocast("cpu", precision):
            train_grid(family, x, y, settings, hp, ATTRIBUTES, seed=0, standardise=(mean, std))

    def one_head_fp32() -> None:
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

    def one_head_autocast() -> None:
        with autocast("cpu", precision):
            one_head_fp32()

    def products_alone() -> None:
        """The grid's matrix products alone (forward and weight gradient of 8 heads): its floor."""
        outputs = len(settings) * ATTRIBUTES
        weights, grads = torch.randn(DIM, outputs), torch.randn(hp.batch_size, outputs)
        with autocast("cpu", precision):
            for idx in torch.randperm(N).split(hp.batch_size) * EPOCHS:
                xb = x[idx].float()
                xb @ weights
                xb.T @ grads[:len(idx)]

    fp32_s = min(seconds(one_head_fp32) for _ in range(2))
    same_s = min(seconds(one_head_autocast) for _ in range(2))
    one_head = one_head_fp32 if fp32_s <= same_s else one_head_autocast
    ours_s, base_s = bracketed(ours, one_head, rounds=3)
    floor_s = min(seconds(products_alone) for _ in range(2))
    report("P5", ours_s / base_s, 1.5, False, f"{len(settings)} settings x {ATTRIBUTES} attributes over {N} x {DIM} "
           f"fp16 features, {EPOCHS} epochs, 1 thread, {precision}: grid {ours_s:.2f} s, one head {base_s:.2f} s "
           f"(fp32 {fp32_s:.2f} s, {precision} autocast {same_s:.2f} s, the faster); the grid's matrix products "
           f"alone {floor_s:.2f} s = {floor_s / base_s:.1f} x one head")


if __name__ == "__main__":
    torch.set_num_threads(1)  # as the linear protocol trains pooled heads (engine.linear._threads); fastest
    main()                    # for the plain head too on this 2-core machine

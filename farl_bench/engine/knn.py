"""`knn`: weighted k-nearest neighbours on L2-normalised pooled features from the feature cache, no
training (DINO's rule: each of the k nearest training faces votes with weight exp(cosine / T)).
Classes by weighted vote, attributes by a weighted vote per attribute, age by the weighted mean; k
and T chosen on the selection split. One matrix product per batch of queries against the train bank
and one top-k at the largest k, from which every (k, T) of the grid is read (DINOv2's way)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F
from pydantic import Field, PositiveFloat, PositiveInt

from farl_bench.data.samples import FaceSamples
from farl_bench.engine import distributed
from farl_bench.engine.evaluate import score_split
from farl_bench.engine.linear import _threads
from farl_bench.engine.precision import DTYPES
from farl_bench.engine.protocol import Hparams, Protocol, ProtocolJob, ProtocolResult, pooled_rule
from farl_bench.families import Family
from farl_bench.families.age import AGE_SCALE
from farl_bench.registry import PROTOCOLS

#: Vote shares are clipped to [EPS, 1 - EPS] before their logs, so every output is finite.
EPS = 1e-6
#: The log-probability of an age bin given no weight: exp(-1e4) is 0 in every float dtype, so the
#: softmax of the age head's outputs is exactly the two-bin distribution they encode.
NO_WEIGHT = -1e4


class KnnHparams(Hparams):
    ks: list[PositiveInt] = Field([10, 20, 50, 100, 200], min_length=1,
                                  description="neighbours; a k beyond the training set counts as all of it")
    temperatures: list[PositiveFloat] = Field([0.03, 0.07, 0.2], min_length=1,
                                              description="T of the weights exp(cosine / T)")
    batch_size: PositiveInt = Field(512, description="queries per matrix product against the bank")


def unit_rows(x: torch.Tensor, dtype: torch.dtype, device: str | torch.device, block: int = 16384) -> torch.Tensor:
    """Rows of `x` (N x D, any float dtype, may be memory-mapped) scaled to unit L2 norm in float32,
    block by block, then stored as `dtype` on `device` (a new tensor; `x` is left as it was)."""
    out = torch.empty(x.shape, dtype=dtype, device=device)
    for start in range(0, len(x), block):
        rows = x[start:start + block].to(device=device, dtype=torch.float32)
        out[start:start + block] = F.normalize(rows, dim=1)
    return out


def nearest(bank: torch.Tensor, queries: torch.Tensor, k: int, out: torch.Tensor | None = None
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """(B x k cosine similarities in float32, nearest first, equal ones in bank order; B x k row
    indices into `bank`) of unit `queries` (B x D) against the unit rows of `bank` (N x D, same
    dtype): one matrix product into `out` (B x N, reused across batches when given), one top-k."""
    sims = torch.mm(queries, bank.T, out=out)
    # an unsorted top-k, then the k sorted here, ties by bank index: no slower than topk's own sort (P10)
    top = sims.topk(k, dim=1, sorted=False)
    with _threads(1):  # B x k: too small to share out (see _threads)
        by_index = top.indices.sort(dim=1).indices
        values, indices = top.values.gather(1, by_index), top.indices.gather(1, by_index)
        order = values.sort(dim=1, descending=True, stable=True).indices
        return values.gather(1, order).float(), indices.gather(1, order)


def weighted_mean(sims: torch.Tensor, values: torch.Tensor, temperature: float) -> torch.Tensor:
    """B x V: the neighbours' `values` (B x k x V, nearest first) averaged with weights exp(sim / T),
    `sims` B x k. The weights are taken relative to each row's nearest (exp((sim - sim_0) / T)): the
    common factor cancels in the mean, and a small T cannot overflow."""
    weights = torch.exp((sims - sims[:, :1]) / temperature)
    return torch.einsum("bk,bkv->bv", weights, values) / weights.sum(dim=1, keepdim=True)


@dataclass(frozen=True)
class VoteRule:
    """How a pooled family's training targets become values to average (N x V float32), and the
    weighted means become what the family's head would output, for its own decoder and scorer."""

    values: Callable[[torch.Tensor, Family, dict[str, Any]], torch.Tensor]
    outputs: Callable[[torch.Tensor, Family], torch.Tensor]


def _class_logits(shares: torch.Tensor, family: Family) -> torch.Tensor:
    """Log vote shares: the decoder's argmax is the weighted vote's winner (the first class on a tie)."""
    return shares.clamp_min(EPS).log()


def _attribute_logits(shares: torch.Tensor, family: Family) -> torch.Tensor:
    """log(p / (1 - p)) of each attribute's weighted vote for "present": positive exactly when the
    vote is above one half (a tie decodes as absent)."""
    return torch.logit(shares, eps=EPS)


def _age_outputs(means: torch.Tensor, family: Family) -> torch.Tensor:
    """The age head's outputs whose decoded age is the weighted mean (to float32 rounding).
    Regression: the mean in AGE_SCALE units. Label distribution: log-probabilities of the two bins
    around the mean (clipped to the bins), whose expectation is the mean."""
    age = means[:, 0]
    if family.head == "regression":
        return (age / AGE_SCALE).unsqueeze(1)
    age = age.clamp(0, family.max_age)
    low = age.floor().clamp_max(family.max_age - 1).long()  # the top bin is reached with weight 1 on it
    high_share = age - low
    probs = torch.zeros(len(age), family.max_age + 1, device=age.device)
    probs.scatter_(1, low.unsqueeze(1), (1 - high_share).unsqueeze(1))
    probs.scatter_(1, (low + 1).unsqueeze(1), high_share.unsqueeze(1))
    return probs.log().clamp_min(NO_WEIGHT)


def _head_votes(y: torch.Tensor, family: Family, meta: dict[str, Any]) -> torch.Tensor:
    """Multi-head classes (demographics): each head's one-hot side by side; a face without a label
    for a head gives that head no vote."""
    sizes = [len(names) for names in family.classes(meta).values()]
    return torch.cat([F.one_hot(y[:, h].long().clamp_min(0), size).float() * (y[:, h:h + 1] >= 0)
                      for h, size in enumerate(sizes)], dim=1)


RULES: dict[str, VoteRule] = {
    "expression": VoteRule(lambda y, family, meta: F.one_hot(y.long(), family.num_outputs(meta)).float(),
                           _class_logits),
    "attributes": VoteRule(lambda y, family, meta: y.float(), _attribute_logits),
    "age": VoteRule(lambda y, family, meta: y[:, :1].float(), _age_outputs),  # targets: (age, age_std)
    "demographics": VoteRule(_head_votes, _class_logits),  # each head's argmax is its weighted vote's winner
}


@PROTOCOLS.register("knn")
class KnnProtocol(Protocol):
    """Weighted k-NN on cached pooled features, no training; k and T chosen on validation."""

    name = "knn"
    Hparams = KnnHparams
    pooled_only = True  # attributes, age, expression and demographics; refuses dense families

    def run(self, job: ProtocolJob) -> ProtocolResult:
        hp: KnnHparams = job.hparams
        family, rule = job.family, pooled_rule(job, RULES, "knn", "a family knn has no vote rule for")
        x_train, y_train = job.features.get("train", job.train, targets=True)
        # The bank in the run's precision: float32 under fp32, bfloat16 under bf16 (the default on
        # CPUs and GPUs that run it natively: the product is several times faster), fp16 under fp16.
        dtype = DTYPES[job.precision]
        bank = unit_rows(x_train, dtype, job.device)
        values = rule.values(y_train, family, job.data.meta).to(job.device)
        ks = sorted({min(k, len(bank)) for k in hp.ks})
        settings = [{"k": k, "temperature": t} for k in ks for t in hp.temperatures]

        def means(samples: FaceSamples, split: str, chosen: list[dict[str, Any]]
                  ) -> Iterator[tuple[list[int], list[torch.Tensor]]]:
            """Per batch of this process's rows: (rows, [B x V weighted means, one per chosen setting])."""
            x, _ = job.features.get(split, samples.records)
            k_max = max(s["k"] for s in chosen)
            shards = torch.as_tensor(distributed.shard_rows(len(x)))
            products = torch.empty(min(hp.batch_size, len(shards)), len(bank), dtype=dtype, device=job.device)
            for rows in shards.split(hp.batch_size):
                yield rows.tolist(), _batch_means(bank, values, x[rows], chosen, k_max, products[:len(rows)])

        def outputs(batches: Iterator[tuple[list[int], list[torch.Tensor]]], g: int
                    ) -> Iterator[tuple[list[int], torch.Tensor]]:
            for rows, batch in batches:
                with _threads(1):
                    out = rule.outputs(batch[g], family).cpu()  # closed before the yield
                yield rows, out

        select = job.samples(job.select)
        batches = list(means(select, job.selection_split, settings))  # neighbours found once for the grid
        key = family.selection_key(job.data.meta)
        scored = []
        for g, s in enumerate(settings):
            metric = score_split(family, outputs(iter(batches), g), select, job.data)[key]
            scored.append({**s, key: metric.value})
        sign = 1 if metric.higher_is_better else -1
        best = max(range(len(settings)), key=lambda g: sign * scored[g][key])  # the first of equals
        return ProtocolResult(lambda samples, split: outputs(means(samples, split, [settings[best]]), 0),
                              settings[best], job.selection_split, scored)


@torch.no_grad()  # not inference_mode: the means are still converted to outputs outside
def _batch_means(bank: torch.Tensor, values: torch.Tensor, x: torch.Tensor, chosen: list[dict[str, Any]],
                 k_max: int, products: torch.Tensor) -> list[torch.Tensor]:
    """The weighted means of one batch of query features `x` under every chosen (k, T), from one top-k.
    The product and top-k use every thread; the small per-setting ops after them one (see _threads)."""
    sims, idx = nearest(bank, unit_rows(x, bank.dtype, bank.device), k_max, products)
    with _threads(1):
        neighbour_values = values[idx]  # B x k_max x V
        return [weighted_mean(sims[:, :s["k"]], neighbour_values[:, :s["k"]], s["temperature"]) for s in chosen]

"""`zeroshot`: CLIP's zero-shot classifier from prompts, no training and nothing selected. Each class
(an expression, an attribute present or absent, an age n) is the mean of the unit text embeddings of
its prompts (every template x phrase), renormalised; a face's logits are the model's logit scale x
the cosine of its unit image embedding (pooled features from the feature cache, projected into the
joint space) with each class. Prompts live in the task's `protocols.zeroshot` section."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Annotated, Any, Callable

import torch
from pydantic import AfterValidator, Field, NonNegativeInt, PositiveInt, field_validator, model_validator

from farl_bench.engine import distributed
from farl_bench.engine.knn import RULES as VOTE_RULES
from farl_bench.engine.protocol import Hparams, Protocol, ProtocolJob, ProtocolResult, pooled_rule
from farl_bench.errors import UserError
from farl_bench.families import Family
from farl_bench.registry import PROTOCOLS
from farl_bench.tasks import find_task_file

#: Backbone kinds whose models have a text tower (backbones.text), as the refusal names them.
TEXT_KINDS = "openclip:<model>[/<tag>], clip:<full CLIP file> or farl:<full FaRL checkpoint>"


def _one_slot(template: str) -> str:
    if template.count("{}") != 1 or "{" in template.replace("{}", "") or "}" in template.replace("{}", ""):
        raise ValueError(f"template {template!r} must hold {{}} exactly once and no other brace")
    return template


#: A prompt with one {} for a class's phrase (or an age).
Template = Annotated[str, AfterValidator(_one_slot)]


class HeadPrompts(Hparams):
    """One head of a multi-head classification (FairFace's race, gender, age group): its own templates."""

    templates: list[Template] = Field(min_length=1, description="prompts with one {} for a class's phrase")
    classes: dict[str, list[str]] = Field(min_length=1, description="each class of the head -> its phrases")


class ZeroshotHparams(Hparams):
    templates: list[Template] = Field([], description="prompts with one {} for a class's phrase (or an age)")
    classes: dict[str, list[str]] = Field({}, description="expression: each label of the dataset -> its phrases")
    attributes: dict[str, tuple[str, str]] = Field({}, description="each attribute -> (phrase present, absent)")
    min_age: NonNegativeInt = Field(1, description="age: the prompts' first age in years")
    max_age: PositiveInt = Field(100, description="age: the prompts' last age in years")
    heads: dict[str, HeadPrompts] = Field({}, description="demographics: each head -> its templates and classes")
    batch_size: PositiveInt = Field(256, description="prompts or faces per forward")

    @field_validator("classes")
    @classmethod
    def _some_phrase(cls, classes: dict[str, list[str]]) -> dict[str, list[str]]:
        if empty := [name for name, phrases in classes.items() if not phrases]:
            raise ValueError(f"class {empty[0]!r} has no phrase")
        return classes

    @model_validator(mode="after")
    def _ages_in_order(self) -> ZeroshotHparams:
        if self.min_age >= self.max_age:
            raise ValueError(f"min_age {self.min_age} must be below max_age {self.max_age}")
        return self


@dataclass(frozen=True)
class PromptRule:
    """A family's prompts (one group of prompts per class, averaged into one text embedding) and how
    the N x K logits over those classes become what the family's head would output."""

    groups: Callable[[ZeroshotHparams, Family, dict[str, Any], Callable[[str, str], UserError]], list[list[str]]]
    outputs: Callable[[torch.Tensor, ZeroshotHparams, Family], torch.Tensor]


def _fill(templates: list[str], phrases: list[str]) -> list[str]:
    return [template.format(phrase) for phrase in phrases for template in templates]


def _labelled(given: dict[str, Any], names: list[str], key: str, error: Callable[[str, str], UserError]) -> None:
    """Every label of the dataset has prompts, and no prompt names a label it lacks."""
    missing, unknown = [n for n in names if n not in given], [n for n in given if n not in names]
    if missing or unknown:
        raise error(key, f"the dataset's labels are {', '.join(names)}; "
                         + (f"no prompt for {', '.join(missing)}" if missing else f"unknown {', '.join(unknown)}"))


def _expression_groups(hp: ZeroshotHparams, family: Family, meta: dict[str, Any], error) -> list[list[str]]:
    _labelled(hp.classes, meta["expression_names"], "classes", error)
    return [_fill(hp.templates, hp.classes[name]) for name in meta["expression_names"]]


def _attribute_groups(hp: ZeroshotHparams, family: Family, meta: dict[str, Any], error) -> list[list[str]]:
    """Two groups per attribute, present then absent."""
    _labelled(hp.attributes, meta["attribute_names"], "attributes", error)
    return [_fill(hp.templates, [phrase]) for name in meta["attribute_names"] for phrase in hp.attributes[name]]


def _demographic_groups(hp: ZeroshotHparams, family: Family, meta: dict[str, Any], error) -> list[list[str]]:
    """Per head in the family's order, one group per class, from that head's own templates."""
    heads = family.classes(meta)  # prompts for a head the task leaves out (family_options.heads) stay unused
    if missing := [head for head in heads if head not in hp.heads]:
        raise error("heads", f"no prompts for head {', '.join(missing)} (the task's heads: {', '.join(heads)})")
    groups = []
    for head, names in heads.items():
        _labelled(hp.heads[head].classes, names, f"heads.{head}.classes", error)
        groups += [_fill(hp.heads[head].templates, hp.heads[head].classes[name]) for name in names]
    return groups


def _ages(hp: ZeroshotHparams) -> torch.Tensor:
    return torch.arange(hp.min_age, hp.max_age + 1, dtype=torch.float32)


def _expected_age(logits: torch.Tensor, hp: ZeroshotHparams, family: Family) -> torch.Tensor:
    """The age head's outputs whose decoded age is the softmax-expected age over the prompts' ages."""
    expected = logits.float().softmax(dim=1) @ _ages(hp).to(logits.device)
    return VOTE_RULES["age"].outputs(expected.unsqueeze(1), family)  # knn's encoding of a mean age


RULES: dict[str, PromptRule] = {
    "expression": PromptRule(_expression_groups, lambda logits, hp, family: logits),
    # log(p / (1 - p)) of the softmax over (present, absent): the difference of the two logits
    "attributes": PromptRule(_attribute_groups, lambda logits, hp, family: logits[:, 0::2] - logits[:, 1::2]),
    "age": PromptRule(lambda hp, family, meta, error: [_fill(hp.templates, [str(int(n))]) for n in _ages(hp)],
                      _expected_age),
    # one softmax per head, the heads' logits side by side as the family's head outputs them
    "demographics": PromptRule(_demographic_groups, lambda logits, hp, family: logits),
}


@dataclass(frozen=True)
class Classifier:
    """weights: K x E unit class embeddings; projection: D x E (None: pooled features are in the joint
    space already); scale: the model's exp(logit_scale)."""

    weights: torch.Tensor
    projection: torch.Tensor | None
    scale: float

    def logits(self, pooled: torch.Tensor) -> torch.Tensor:
        """N x K: scale x cosine of each face's projected pooled features (N x D, any float dtype) with each class."""
        x = pooled.float()
        if self.projection is not None:
            x = x @ self.projection.to(x.device)
        return self.scale * torch.nn.functional.normalize(x, dim=-1) @ self.weights.to(x.device).T


def class_embeddings(unit: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """K x E: the mean of each consecutive group of `sizes[k]` unit rows of `unit`, renormalised (CLIP's way)."""
    means = torch.stack([part.mean(dim=0) for part in unit.split(sizes)])
    return torch.nn.functional.normalize(means, dim=-1)


def build_classifier(tower: Any, groups: list[list[str]], batch_size: int = 256) -> Classifier:
    """The zero-shot classifier of `groups` (prompts per class) from a backbones.text.TextTower."""
    unit = tower.embed_text([prompt for group in groups for prompt in group], batch_size)
    projection = tower.projection
    return Classifier(class_embeddings(unit, [len(group) for group in groups]).cpu(),
                      None if projection is None else projection.cpu(), tower.scale)


#: Classifiers made in this process: text embeddings once per (backbone, prompts), for every cell.
_CLASSIFIERS: dict[str, Classifier] = {}


def _classifier(job: ProtocolJob, groups: list[list[str]], batch_size: int) -> Classifier:
    key = hashlib.sha256(json.dumps([job.backbone.fingerprint, job.backbone.spec, groups]).encode()).hexdigest()
    if key not in _CLASSIFIERS:
        tower = job.backbone.text_tower().to(job.device)  # a new tower, ours to move
        _CLASSIFIERS[key] = build_classifier(tower, groups, batch_size)
    return _CLASSIFIERS[key]


@PROTOCOLS.register("zeroshot")
class ZeroshotProtocol(Protocol):
    """CLIP zero-shot from the task's prompts through the backbone's text tower, no training; one cell."""

    name = "zeroshot"
    Hparams = ZeroshotHparams
    pooled_only = True  # attributes, age, expression and demographics; refuses dense families
    trains = False  # one cell per backbone x task (plan.UNTRAINED)
    needs_text_tower = True

    def run(self, job: ProtocolJob) -> ProtocolResult:
        hp: ZeroshotHparams = job.hparams
        rule = pooled_rule(job, RULES, "zeroshot", "a family without prompts")
        if getattr(job.backbone, "text_tower", None) is None:
            raise UserError(f"protocol zeroshot needs a backbone with a text tower, and {job.backbone.spec} has none: "
                            f"use {TEXT_KINDS}")

        def error(key: str, what: str) -> UserError:
            return UserError(f"{find_task_file(job.task.name)} (with --set overrides): key "
                             f"'protocols.zeroshot.{key}': {what}")

        if not hp.templates and job.family.name != "demographics":  # whose heads carry their own
            raise error("templates", "none given; add prompt templates such as 'a photo of a {} face.'")
        classifier = _classifier(job, rule.groups(hp, job.family, job.data.meta, error), hp.batch_size)

        @torch.no_grad()
        def predict(samples, split):
            x, _ = job.features.get(split, samples.records)
            for rows in torch.as_tensor(distributed.shard_rows(len(x))).split(hp.batch_size):
                yield rows.tolist(), rule.outputs(classifier.logits(x[rows].to(job.device)), hp, job.family).cpu()

        return ProtocolResult(predict, {}, "none", [])

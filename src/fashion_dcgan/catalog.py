"""The parts a model is made of, each declared once: network families, conditionings and GAN objectives,
with the Adam settings each is meant to be trained with.

Free of TensorFlow. The schema (``config``) takes its allowed values and its Adam defaults from here;
``gan`` builds the parts from the import paths here. Adding a network family is one entry in
:data:`FAMILIES` plus its two layer functions (docs/extending.md); adding an objective is one entry in
:data:`OBJECTIVES`, its module and its settings class in the schema.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Adam:
    """The Adam settings a part is meant to be trained with: what a null ``train.learning_rate_*`` or
    ``train.beta_*`` resolves to."""

    learning_rate: float
    beta_1: float
    beta_2: float = 0.999


@dataclass(frozen=True)
class Family:
    """A network family (``model.variant``): ``generator`` and ``discriminator`` are the import paths
    (``module:function``) of two functions of the width that return the network's layers in order."""

    generator: str
    discriminator: str
    generator_halvings: int
    """How often the generator halves ``model.generator_width`` on the way to the image."""
    adam: Adam
    """Adam's settings for an objective that declares none."""


@dataclass(frozen=True)
class ObjectivePart:
    """A GAN objective (``model.objective.name``): ``implementation`` is the import path
    (``module:Class``) of its :class:`fashion_dcgan.gan.objective.Objective`."""

    implementation: str
    adam: Adam | None
    """Adam's settings it is meant to be trained with; None: the network family's."""


_NETWORKS = "fashion_dcgan.gan.networks"
FAMILIES: dict[str, Family] = {
    # The tutorial keeps Keras' Adam defaults; the paper and deep families use the DCGAN paper's.
    "tutorial": Family(f"{_NETWORKS}:tutorial_generator", f"{_NETWORKS}:tutorial_discriminator", 1, Adam(1e-3, 0.9)),
    "paper": Family(f"{_NETWORKS}:paper_generator", f"{_NETWORKS}:paper_discriminator", 1, Adam(2e-4, 0.5)),
    "deep": Family(f"{_NETWORKS}:deep_generator", f"{_NETWORKS}:deep_discriminator", 2, Adam(2e-4, 0.5)),
}

# How a conditional generator uses the label (model.conditioning), the first is the default.
CONDITIONINGS = ("embedding", "batch_norm")

OBJECTIVES: dict[str, ObjectivePart] = {
    "bce": ObjectivePart("fashion_dcgan.gan.bce:NonSaturatingBCE", None),
    "hinge": ObjectivePart("fashion_dcgan.gan.hinge:Hinge", Adam(2e-4, 0.5)),
    "r1": ObjectivePart("fashion_dcgan.gan.r1:NonSaturatingR1", Adam(2e-4, 0.5)),
    "wgan_gp": ObjectivePart("fashion_dcgan.gan.wgan_gp:WassersteinGP", Adam(1e-4, 0.0, 0.9)),
}


def family(name: str) -> Family:
    if name not in FAMILIES:
        raise ValueError(f"unknown network family {name!r}; known: {', '.join(FAMILIES)}")
    return FAMILIES[name]


def objective(name: str) -> ObjectivePart:
    if name not in OBJECTIVES:
        raise KeyError(f"unknown GAN objective {name!r}; registered: {', '.join(OBJECTIVES)}")
    return OBJECTIVES[name]


def adam(objective_name: str, family_name: str) -> Adam:
    """The Adam settings that null rates and betas take: the objective's, else the family's."""
    return objective(objective_name).adam or family(family_name).adam


def load(path: str) -> Any:
    """The object at ``module:attribute``."""
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)

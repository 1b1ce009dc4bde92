"""The one typed schema for params.yaml.

Every stage reads its section through :func:`load_params`, so a misspelt key
or an out-of-range value is reported once, naming the key, before any data is
read or any model is built.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fashion_dcgan.errors import ParamsError

DEFAULT_SOURCES = [
    "/usr/share/datasets/fashion-mnist",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com",
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class DataParams(_Section):
    sources: list[str] = Field(default_factory=lambda: list(DEFAULT_SOURCES), min_length=1)
    """Local mirror directories and HTTP base URLs, tried in this order."""
    timeout_s: float = Field(30.0, gt=0, le=600)
    retries: int = Field(3, ge=1, le=10)
    train_limit: int | None = Field(None, ge=10, le=60_000)
    """Class-stratified subset of the training set (None = all 60,000)."""
    test_limit: int | None = Field(None, ge=10, le=10_000)
    class_balance_tolerance: float = Field(0.02, ge=0, le=1)
    """Largest allowed deviation of any class's share from 1/10."""


class ModelParams(_Section):
    variant: Literal["tutorial", "paper"] = "tutorial"
    latent_dim: int = Field(100, ge=1, le=4096)
    generator_width: int = Field(128, ge=1, le=2048)
    """Channels of the generator's 7x7 projection; the next layer has half."""
    discriminator_width: int = Field(64, ge=1, le=2048)
    """Channels of the discriminator's first conv; the second has twice."""


class TrainParams(_Section):
    seed: int = Field(42, ge=0, le=2**31 - 1)
    epochs: int = Field(10, ge=1, le=10_000)
    batch_size: int = Field(32, ge=1, le=65_536)
    optimizer: Literal["adam"] = "adam"
    learning_rate_d: float | None = Field(None, gt=0, allow_inf_nan=False)
    learning_rate_g: float | None = Field(None, gt=0, allow_inf_nan=False)
    beta_1: float | None = Field(None, ge=0, lt=1)
    beta_2: float = Field(0.999, ge=0, lt=1)
    label_smoothing: float = Field(0.0, ge=0, lt=0.5)
    """One-sided: real labels become 1 - label_smoothing."""
    precision: Literal["auto", "float32", "mixed_float16"] = "auto"
    strategy: Literal["auto", "default", "mirrored", "multi_worker"] = "auto"
    """tf.distribute strategy; auto = mirrored over all GPUs when there are several, else default."""
    jit_compile: Literal["auto"] | bool = "auto"
    log_every_steps: int = Field(50, ge=1)
    steps_per_execution: int = Field(10, ge=1, le=10_000)
    """Training steps per compiled call (at most; a divisor of the steps per epoch is used).

    Fewer Python round trips per step; callbacks and the progress bar see every Nth step.
    """
    fixed_noise_size: int = Field(25, ge=1, le=400)
    monitor_samples: int = Field(1000, ge=0, le=100_000)
    """Samples drawn after each epoch for the mode-collapse alarm (0 turns it off)."""


class SampleParams(_Section):
    seed: int = Field(0, ge=0, le=2**31 - 1)
    n_samples: int = Field(10_000, ge=1, le=1_000_000)
    """Generated images written to samples.npy for evaluation."""
    batch_size: int = Field(500, ge=1, le=65_536)
    walk_rows: int = Field(6, ge=1, le=32)
    walk_steps: int = Field(10, ge=2, le=64)


class ClassifierParams(_Section):
    seed: int = Field(0, ge=0, le=2**31 - 1)
    epochs: int = Field(5, ge=1, le=1000)
    batch_size: int = Field(128, ge=1, le=65_536)


class EvaluateParams(_Section):
    seed: int = Field(0, ge=0, le=2**31 - 1)
    kid_subsets: int = Field(100, ge=2, le=10_000)
    kid_subset_size: int = Field(1000, ge=2, le=100_000)
    is_splits: int = Field(10, ge=1, le=100)
    coverage_threshold: float = Field(0.05, gt=0, le=0.1)
    """A class counts as covered when at least this share of samples is predicted as it."""
    min_classes_covered: int = Field(8, ge=1, le=10)
    """Fewer covered classes than this raises the mode-collapse alarm."""
    probe_train_size: int = Field(10_000, ge=10, le=60_000)
    probe_c: float = Field(0.01, gt=0, le=1e4)


class ReportParams(_Section):
    gif_frame_seconds: float = Field(0.5, gt=0, le=60)


class Params(_Section):
    data: DataParams = Field(default_factory=DataParams)
    model: ModelParams = Field(default_factory=ModelParams)
    train: TrainParams = Field(default_factory=TrainParams)
    sample: SampleParams = Field(default_factory=SampleParams)
    classifier: ClassifierParams = Field(default_factory=ClassifierParams)
    evaluate: EvaluateParams = Field(default_factory=EvaluateParams)
    report: ReportParams = Field(default_factory=ReportParams)

    @model_validator(mode="after")
    def _batch_fits_data(self) -> Params:
        n_train = self.data.train_limit or 60_000
        if self.train.batch_size > n_train:
            raise ValueError(
                f"train.batch_size ({self.train.batch_size}) is larger than the training set "
                f"({n_train} images, data.train_limit)"
            )
        return self

    # Values resolved per variant: the tutorial keeps Keras' Adam defaults,
    # the paper variant uses the DCGAN paper's lr 2e-4 and beta1 0.5.
    @property
    def learning_rate_d(self) -> float:
        return self.train.learning_rate_d or _VARIANT_ADAM[self.model.variant][0]

    @property
    def learning_rate_g(self) -> float:
        return self.train.learning_rate_g or _VARIANT_ADAM[self.model.variant][0]

    @property
    def beta_1(self) -> float:
        if self.train.beta_1 is not None:
            return self.train.beta_1
        return _VARIANT_ADAM[self.model.variant][1]

    def training_hash(self) -> str:
        """Hash of everything that shapes training; a checkpoint is only resumed when it matches.

        ``train.epochs`` and logging cadence are left out so that a run can be
        extended (resume with more epochs) without starting over.
        """
        shaping = {
            "data": self.data.model_dump(include={"train_limit"}),
            "model": self.model.model_dump(),
            "train": self.train.model_dump(
                exclude={"epochs", "log_every_steps", "steps_per_execution", "monitor_samples", "strategy"}
            ),
        }
        blob = json.dumps(shaping, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def flat(self) -> dict[str, Any]:
        """All params as ``section.key`` -> value, for experiment trackers."""
        out: dict[str, Any] = {}
        for section, values in self.model_dump().items():
            for key, value in values.items():
                out[f"{section}.{key}"] = value
        return out


_VARIANT_ADAM = {"tutorial": (1e-3, 0.9), "paper": (2e-4, 0.5)}


def _describe(error: ValidationError) -> str:
    messages: dict[str, list[str]] = {}
    for item in error.errors():
        # Depth two is section.key; deeper parts name union branches or list items.
        key = ".".join(str(p) for p in item["loc"][:2])
        if not key:
            text = item["msg"].removeprefix("Value error, ")
        elif item["type"] == "extra_forbidden":
            text = "unknown key (check its spelling against the documented params.yaml)"
        else:
            got = item.get("input")
            text = item["msg"] + ("" if isinstance(got, dict) else f" (got {got!r})")
        messages.setdefault(key, []).append(text)
    return "; ".join(f"{key}: {' or '.join(texts)}" if key else " ".join(texts) for key, texts in messages.items())


def parse_params(raw: Any, source: str = "params.yaml") -> Params:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as error:
        raise ParamsError(f"{source}: {_describe(error)}") from None


def load_params(path: str | Path = "params.yaml") -> Params:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ParamsError(f"{path}: cannot read ({error.strerror})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ParamsError(f"{path}: not valid YAML ({error})") from None
    return parse_params(raw, str(path))

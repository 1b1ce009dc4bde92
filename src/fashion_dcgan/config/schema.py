"""The one typed schema for params.yaml: every section and key, with its default, bounds and meaning
(each written once here), and the rules that follow from them (``Params.adam``, ``training_hash``,
``train.lr_schedule.decays``)."""

from __future__ import annotations

import hashlib
import json
import types
import typing
from collections.abc import Iterator
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from fashion_dcgan import catalog
from fashion_dcgan.data.fashion_mnist import MIRROR, SPLIT_SIZES, UPSTREAM

DEFAULT_SOURCES = [MIRROR, *UPSTREAM]


class _Section(BaseModel):
    # Each field's docstring is its description: the generated parameter reference shows it, and a
    # test fails when a field has none.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, use_attribute_docstrings=True)


class DataParams(_Section):
    """Where Fashion-MNIST comes from, and how much of it is used."""

    sources: list[str] = Field(default_factory=lambda: list(DEFAULT_SOURCES), min_length=1)
    """Local mirror directories and HTTP base URLs, tried in this order; the first that has all four files wins."""
    timeout_s: float = Field(30.0, gt=0, le=600)
    """Seconds to wait for an HTTP source before trying again (or the next source)."""
    retries: int = Field(3, ge=1, le=10)
    """Attempts per HTTP source before moving on to the next one."""
    train_limit: int | None = Field(None, ge=10, le=SPLIT_SIZES["train"])
    """Training images to use, a class-stratified subset; null uses all 60,000. Small values make quick trials."""
    test_limit: int | None = Field(None, ge=10, le=SPLIT_SIZES["test"])
    """Test images to use, a class-stratified subset; null uses all 10,000."""
    class_balance_tolerance: float = Field(0.02, ge=0, le=1)
    """Largest allowed deviation of any class's share from 1/10 (the validation stops the pipeline beyond it)."""


# Each GAN objective's settings, selected by ``name`` (its key in catalog.OBJECTIVES; a test checks
# the two agree). Adding an objective adds its class here and to ObjectiveParams.
class BceObjective(_Section):
    """The tutorial's binary cross-entropy, non-saturating for the generator."""

    name: Literal["bce"] = "bce"
    """Selects this objective."""
    label_smoothing: float = Field(0.0, ge=0, lt=0.5)
    """One-sided label smoothing: real targets become 1 - label_smoothing."""


class HingeObjective(_Section):
    """Hinge loss: the discriminator is a margin classifier."""

    name: Literal["hinge"] = "hinge"
    """Selects this objective."""


class R1Objective(_Section):
    """Non-saturating loss plus an R1 penalty gamma/2 ||grad_x D(x)||^2 on real images."""

    name: Literal["r1"] = "r1"
    """Selects this objective."""
    gamma: float = Field(1.0, gt=0, le=1e4, allow_inf_nan=False)
    """Weight of the R1 penalty on the discriminator's gradient at real images."""
    every: int = Field(16, ge=1, le=1000)
    """Lazy regularization: the penalty on every k-th step only, weighted gamma * k (StyleGAN2)."""


class WganGpObjective(_Section):
    """Wasserstein critic with a gradient penalty weight * (||grad D(x_hat)|| - 1)^2 on interpolates."""

    name: Literal["wgan_gp"] = "wgan_gp"
    """Selects this objective."""
    weight: float = Field(10.0, gt=0, le=1e4, allow_inf_nan=False)
    """Weight of the gradient penalty."""


ObjectiveParams = Annotated[BceObjective | HingeObjective | R1Objective | WganGpObjective, Field(discriminator="name")]


# The allowed values of the network parts come from the catalog of parts.
Variant = Literal[tuple(catalog.FAMILIES)]  # type: ignore[valid-type]
Conditioning = Literal[catalog.CONDITIONINGS]  # type: ignore[valid-type]


class ModelParams(_Section):
    """The networks and the GAN objective."""

    variant: Variant = "deep"
    """Network family: the Keras tutorial's (selu, dropout), the DCGAN paper's (ReLU, no dropout), or deep
    (a third batch-normalized generator layer at full resolution and a stride-1 output conv; a third
    discriminator conv, no dropout). Parameter counts and FLOPs: docs/results.md."""
    latent_dim: int = Field(100, ge=1, le=4096)
    """Length of the generator's input noise vector."""
    generator_width: int = Field(128, ge=1, le=2048)
    """Channels of the generator's 7x7 projection; each next layer has half."""
    discriminator_width: int = Field(32, ge=1, le=2048)
    """Channels of the discriminator's first conv; each next conv has twice. The default's 32 is half the
    generator's 7x7 projection: the discriminator runs three times a step and the generator once, so a
    narrow one halves the step (the tutorial's networks use 64)."""
    objective: ObjectiveParams = Field(default_factory=R1Objective)
    """The GAN objective and its own settings: {name: r1, gamma: 1.0, every: 16}; a bare name means its defaults."""
    conditional: bool = False
    """Class-conditional: the generator takes a class label, the discriminator has a projection head."""
    conditioning: Conditioning = catalog.CONDITIONINGS[0]
    """How a conditional generator uses the label: embedding joins a learned label embedding to the latent;
    batch_norm gives every batch norm a class-dependent gain and bias (SNGAN, BigGAN). Unused unless
    conditional is true."""
    spectral_norm: bool = False
    """Spectral normalization of the discriminator's conv and dense layers (Miyato et al., 2018)."""

    @model_validator(mode="after")
    def _generator_layers_have_channels(self) -> ModelParams:
        halvings = catalog.family(self.variant).generator_halvings
        if self.generator_width < 2**halvings:
            raise ValueError(
                f"generator_width is {self.generator_width}, but the {self.variant} generator halves it "
                f"{halvings} time(s); use at least {2**halvings}"
            )
        return self

    @model_validator(mode="before")
    @classmethod
    def _objective_by_name(cls, raw: Any) -> Any:
        # `objective: bce` (or `dvc exp run -S model.objective=bce`) selects that objective's defaults.
        if isinstance(raw, dict) and isinstance(raw.get("objective"), str):
            raw = {**raw, "objective": {"name": raw["objective"]}}
        return raw


class EmaParams(_Section):
    """The moving average of the generator's weights."""

    decay: float = Field(0.999, ge=0, lt=1)
    """Per-step decay of the moving average; 0 turns it off (then the raw generator is sampled)."""


class LrScheduleParams(_Section):
    """Both learning rates over the run: constant, then an optional decay to zero at the end."""

    decay: Literal["none", "linear", "cosine"] = "none"
    """How both rates fall to zero over the last part of the run; none keeps them constant. With a decay the
    schedule depends on train.epochs, so raising epochs retrains instead of resuming."""
    start: float = Field(0.6, ge=0, lt=1, allow_inf_nan=False)
    """Fraction of the run's steps (train.epochs) after which the decay begins."""

    @property
    def decays(self) -> bool:
        """Whether the rates fall over the run: then its schedule depends on train.epochs."""
        return self.decay != "none"


class TrainParams(_Section):
    """The training recipe: everything here shapes the trained model (``epochs`` only extends it, unless
    the learning rates decay)."""

    seed: int = Field(42, ge=0, le=2**31 - 1)
    """Seed of the weights' initialization, the data order and the noise: the same seed gives the same run."""
    epochs: int = Field(9, ge=1, le=10_000)
    """Passes over the training set: the main knob of quality against time (`fashion-dcgan doctor` measures
    an epoch's time on this machine). Raising it resumes from the last checkpoint, or retrains when
    lr_schedule decays (the decay is planned for the run's length)."""
    batch_size: int = Field(64, ge=1, le=8192)
    """Images per training step, real and generated each. At most 8,192: a step holds about 1.1 MiB per
    image (measured in float32 on 2 CPU cores: 2.0 GB at 1,024, 5.6 GB at 4,096), and on a CPU images per
    second stop improving beyond about 256."""
    learning_rate_d: float | None = Field(1e-3, gt=0, allow_inf_nan=False)
    """Adam's learning rate for the discriminator; null takes the objective's, else the network family's
    (the table of Adam settings below, from fashion_dcgan.catalog)."""
    learning_rate_g: float | None = Field(1e-3, gt=0, allow_inf_nan=False)
    """Adam's learning rate for the generator; null as for learning_rate_d."""
    beta_1: float | None = Field(None, ge=0, lt=1)
    """Adam's first-moment decay; null as for learning_rate_d."""
    beta_2: float | None = Field(0.99, ge=0, lt=1)
    """Adam's second-moment decay; null as for learning_rate_d."""
    lr_schedule: LrScheduleParams = Field(default_factory=LrScheduleParams)
    """Both optimizers' learning rates over the run (a function of the step, so resuming is exact)."""
    ema: EmaParams = Field(default_factory=EmaParams)
    """The moving average of the generator's weights, which is what gets sampled, evaluated and served."""
    augment: list[Literal["translation", "cutout"]] = Field(default_factory=list)
    """Differentiable augmentation of every image the discriminator sees (DiffAugment)."""
    reuse_fakes: bool = True
    """The generator's update scores the fakes the discriminator's update drew, against the updated
    discriminator (PyTorch's DCGAN example): one generator pass per step instead of two. False:
    fresh latents for each update, as the tutorial."""
    keep: Literal["last", "best_fid"] = "last"
    """Which sampled generator the stage writes: the last epoch's, or the one from the epoch with the
    lowest monitored FID (needs runtime.monitor_samples > 0). Not part of the recipe: changing it
    resumes from the checkpoints, which hold both."""


class RuntimeParams(_Section):
    """Where and how training runs, and what it records: nothing here changes the trained model
    beyond floating-point rounding, so changing it resumes from the checkpoints."""

    precision: Literal["auto", "float32", "mixed_float16", "mixed_bfloat16"] = "auto"
    """auto: mixed_float16 on a GPU, mixed_bfloat16 on a CPU with AMX-BF16 or AVX512-BF16, else float32."""
    strategy: Literal["auto", "default", "mirrored", "multi_worker"] = "auto"
    """tf.distribute strategy; auto = mirrored over all GPUs when there are several, else default."""
    jit_compile: Literal["auto"] | bool = "auto"
    """XLA compilation of the training step; auto turns it on on a GPU only (on a CPU it gains nothing)."""
    steps_per_execution: int = Field(10, ge=1, le=10_000)
    """Training steps per compiled call (at most an epoch's); an epoch's last call runs the steps that are
    left, so any value works with any data size (937 steps at 10: 93 calls of 10, then one of 7).

    Fewer Python round trips per step; callbacks and the progress bar see every Nth step.
    """
    log_every_steps: int = Field(50, ge=1)
    """Per-step metrics: the mean over each window of this many steps (at least steps_per_execution)."""
    fixed_noise_size: int = Field(25, ge=1, le=400)
    """Images in the per-epoch grid drawn from one fixed noise batch (25 makes the tutorial's 5x5 grid).
    At most 400: a 20x20 grid, logged to MLflow and kept for the GIF after every epoch."""
    monitor_samples: int = Field(1000, ge=0, le=10_000)
    """Samples drawn after each epoch for the mode-collapse alarm (0 turns it off). At most 10,000: each
    is generated and classified after every epoch, about 0.8 ms apiece on 2 cores (8 s at 10,000, a
    tenth of a default epoch)."""


class SampleParams(_Section):
    """What the sample stage draws from the trained generator."""

    seed: int = Field(0, ge=0, le=2**31 - 1)
    """Seed of the sampling noise: the same seed draws the same images."""
    n_samples: int = Field(10_000, ge=10, le=100_000)
    """Generated images per generator for evaluation (samples.npy). At most 100,000: the recall and
    coverage neighbours compare every sample with every other, so their time grows with its square
    (measured on 2 cores: 4.1 s at 10,000, 20.8 s at 40,000, 152 s at 100,000 per generator, in under
    0.5 GB), and each generator's samples take 3.1 KB apiece on disk and in memory (314 MB at 100,000)."""
    batch_size: int = Field(500, ge=1, le=4096)
    """Images generated per forward pass: memory, not results. At most 4,096, about 0.2 MiB of
    activations per image (1.8 GB peak at 4,096, measured); beyond that a pass gets little faster."""
    walk_rows: int = Field(6, ge=1, le=32)
    """Rows of the latent-space walk figure, one walk each. At most 32: with 64 steps, a figure of about
    6,000 pixels a side."""
    walk_steps: int = Field(10, ge=2, le=64)
    """Images per walk, from one latent point to another. At most 64, as walk_rows."""


class ClassifierParams(_Section):
    """The Fashion-MNIST classifier whose features FID, KID and the Inception Score are computed in."""

    weights: Literal["pinned", "train"] = "pinned"
    """pinned: the checked-in, checksummed weights (evaluation/pinned.py), so that FIDs compare across
    machines; train: train the classifier here with the recipe below."""
    seed: int = Field(0, ge=0, le=2**31 - 1)
    """Seed of the classifier's training (with weights: train)."""
    epochs: int = Field(5, ge=1, le=1000)
    """Passes over the training set for the classifier (with weights: train)."""
    batch_size: int = Field(128, ge=1, le=65_536)
    """Images per classifier training step (with weights: train)."""
    # The defaults are the recipe the pinned weights were trained with (tests check the card agrees).

    @model_validator(mode="after")
    def _recipe_of_pinned(self) -> ClassifierParams:
        if self.weights == "pinned":
            for key, field in type(self).model_fields.items():
                if key != "weights" and getattr(self, key) != field.default:
                    raise ValueError(
                        f"{key} is {getattr(self, key)}, but the pinned weights were trained with "
                        f"{field.default}; set classifier.weights: train to train with your recipe"
                    )
        return self


class EvaluateParams(_Section):
    """How the generated images and the discriminator are scored."""

    seed: int = Field(0, ge=0, le=2**31 - 1)
    """Seed of the evaluation's random subsets (KID, the probe's training images)."""
    kid_subsets: int = Field(100, ge=2, le=2000)
    """Random subsets KID is averaged over; its standard error comes from their spread. At most 2,000:
    a subset of 1,000 takes about 0.05 s on 2 cores (100 s at 2,000), per generator."""
    kid_subset_size: int = Field(1000, ge=2, le=SPLIT_SIZES["test"])
    """Images per KID subset, real and generated each. At most 10,000: the test set's size; each subset
    holds three kernel matrices of its size squared (2.4 GB at 10,000)."""
    is_splits: int = Field(10, ge=1, le=100)
    """Splits the Inception Score is computed over (mean and standard deviation)."""
    coverage_threshold: float = Field(0.05, gt=0, le=0.1)
    """A class counts as covered when at least this share of samples is predicted as it."""
    min_classes_covered: int = Field(8, ge=1, le=10)
    """Fewer covered classes than this raises the mode-collapse alarm."""
    precision_recall_k: int = Field(3, ge=1, le=100)
    """Neighbours that set each point's ball for improved precision and recall (Kynkäänniemi et al.: 3)."""
    density_coverage_k: int = Field(5, ge=1, le=100)
    """Neighbours for density and coverage (Naeem et al.: 5)."""
    probe_train_size: int = Field(10_000, ge=10, le=SPLIT_SIZES["train"])
    """Training images for the linear probe on the discriminator's max-pooled features (the DCGAN paper's
    test). At most 60,000: the training set's size."""
    probe_c: float = Field(0.01, gt=0, le=1e4)
    """Inverse L2 regularization strength of the probe's linear SVM."""


class ReportParams(_Section):
    """The report and its training GIF."""

    gif_frame_seconds: float = Field(0.5, gt=0, le=60)
    """Seconds each epoch's grid is shown in the training GIF."""


class Params(_Section):
    """Everything params.yaml holds, one section per concern."""

    data: DataParams = Field(default_factory=DataParams)
    """Where Fashion-MNIST comes from, and how much of it is used."""
    model: ModelParams = Field(default_factory=ModelParams)
    """The networks and the GAN objective."""
    train: TrainParams = Field(default_factory=TrainParams)
    """The training recipe."""
    runtime: RuntimeParams = Field(default_factory=RuntimeParams)
    """Where and how training runs; changing it resumes rather than retrains."""
    sample: SampleParams = Field(default_factory=SampleParams)
    """What the sample stage draws."""
    classifier: ClassifierParams = Field(default_factory=ClassifierParams)
    """The feature space of FID, KID and the Inception Score."""
    evaluate: EvaluateParams = Field(default_factory=EvaluateParams)
    """How samples and the discriminator are scored."""
    report: ReportParams = Field(default_factory=ReportParams)
    """The report's settings."""

    @model_validator(mode="after")
    def _batch_fits_data(self) -> Params:
        n_train = self.data.train_limit or SPLIT_SIZES["train"]
        if self.train.batch_size > n_train:
            raise ValueError(
                f"train.batch_size ({self.train.batch_size}) is larger than the training set "
                f"({n_train} images, data.train_limit)"
            )
        return self

    @model_validator(mode="after")
    def _keep_needs_the_monitor(self) -> Params:
        if self.train.keep == "best_fid" and not self.runtime.monitor_samples:
            raise ValueError(
                "train.keep: best_fid picks the epoch by the per-epoch monitor's FID, but runtime.monitor_samples "
                "is 0; set it above 0 (default 1000) or use train.keep: last"
            )
        return self

    def adam(self) -> tuple[float, float, float, float]:
        """(learning_rate_d, learning_rate_g, beta_1, beta_2): what params.yaml sets, else the objective's
        Adam settings, else the network family's (:func:`fashion_dcgan.catalog.adam`)."""
        default = catalog.adam(self.model.objective.name, self.model.variant)
        train = self.train
        beta_1 = train.beta_1 if train.beta_1 is not None else default.beta_1
        beta_2 = train.beta_2 if train.beta_2 is not None else default.beta_2
        rate_d, rate_g = train.learning_rate_d or default.learning_rate, train.learning_rate_g or default.learning_rate
        return rate_d, rate_g, beta_1, beta_2

    def training_hash(self) -> str:
        """Hash of the recipe (what shapes training); a checkpoint is only resumed when it matches.

        ``runtime`` is not part of it by construction; ``train.epochs`` is left out so that a run can
        be extended (resume with more epochs) without starting over, unless a learning-rate decay
        makes the schedule depend on it, and ``train.keep`` because it only chooses which of the
        checkpoint's generators is written.
        """
        extendable = not self.train.lr_schedule.decays
        shaping = {
            "data": self.data.model_dump(include={"train_limit"}),
            "model": self.model.model_dump(),
            "train": self.train.model_dump(exclude={"epochs", "keep"} if extendable else {"keep"}),
        }
        blob = json.dumps(shaping, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def flat(self) -> dict[str, Any]:
        """All params as ``section.key`` (or ``section.group.key``) -> value, for experiment trackers."""
        return flatten(self.model_dump())


def flatten(nested: dict[str, Any], prefix: str = "", keep_selected: bool = False) -> dict[str, Any]:
    """Nested mappings as dotted keys: {"train": {"ema": {"decay": 0.9}}} -> {"train.ema.decay": 0.9}.
    With ``keep_selected``, a mapping that selects a member by ``name`` (``model.objective``) stays whole."""
    out: dict[str, Any] = {}
    for key, value in nested.items():
        if isinstance(value, dict) and not (keep_selected and "name" in value):
            out |= flatten(value, f"{prefix}{key}.", keep_selected)
        else:
            out[f"{prefix}{key}"] = value
    return out


def yaml_value(value: Any) -> str:
    """``value`` as YAML spells it on one line: null, true, [translation], {name: r1, gamma: 1.0}, 0.001."""
    if isinstance(value, float):
        return str(value)
    plain = json.loads(json.dumps(value))  # ruamel's round-trip scalars as the plain values they are
    return yaml.safe_dump(plain, default_flow_style=True, sort_keys=False, width=10_000).removesuffix("...\n").strip()


def union_members(annotation: Any) -> dict[str, type[_Section]]:
    """The sections of a union selected by ``name`` (such as ``model.objective``), by name; else {}."""
    if typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return {}
    members = typing.get_args(annotation)
    return {member.model_fields["name"].default: member for member in members if hasattr(member, "model_fields")}


def schema_fields(model: type[BaseModel] | None = None, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every field of the schema as (dotted key, pydantic FieldInfo), sections before their keys; an
    objective's fields appear under ``model.objective.<name>.``. The parameter reference is made from this."""
    model = model or Params
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        yield key, field
        members = union_members(field.annotation)
        for member_name, member in members.items():
            yield from schema_fields(member, f"{key}.{member_name}.")
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            yield from schema_fields(field.annotation, f"{key}.")

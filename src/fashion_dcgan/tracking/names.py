"""What things are called in the tracking store: the experiment, the registered model and its alias,
and the tags a run gets."""

from __future__ import annotations

EXPERIMENT = "fashion-dcgan"


REGISTERED_MODEL = "fashion-dcgan-generator"  # the Model Registry's name for the generator (serving.register)


CHAMPION = "champion"  # its alias for the version with the lowest FID


EPOCHS_TAG = "train.epochs_completed"  # params are immutable; a resumed, extended run records its length here


KEPT_EPOCH_TAG = "kept_epoch"  # the epoch whose sampled generator was written (train.keep)

"""Training: the fit loop over a DCGAN, its callbacks, exact-resume checkpoints and the runtime."""

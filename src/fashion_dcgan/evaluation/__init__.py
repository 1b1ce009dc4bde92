"""Evaluation: a Fashion-MNIST feature extractor, generative metrics and the discriminator probe."""

"""fashion-dcgan: a reproducible DCGAN pipeline for Fashion-MNIST."""

__version__ = "0.1.0"

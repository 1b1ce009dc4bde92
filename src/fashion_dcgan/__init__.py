"""fashion-dcgan: a reproducible DCGAN pipeline for Fashion-MNIST."""

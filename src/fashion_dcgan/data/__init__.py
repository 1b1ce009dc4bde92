"""Fashion-MNIST: fetching, decoding, normalising and validating."""

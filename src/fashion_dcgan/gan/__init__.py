"""The GAN as one ``keras.Model`` built from named parts: an objective from the registry, optional
differentiable augmentation, and an exponential moving average of the generator.

Import the parts from their modules (``fashion_dcgan.gan.dcgan``, ``.registry``); this package file
stays empty so that reading the registry's names does not import TensorFlow.
"""

"""The GAN as one ``keras.Model`` built from named parts: networks and an objective from the catalog
of parts (``fashion_dcgan.catalog``), optional differentiable augmentation, and an exponential moving
average of the generator.

Import the parts from their modules (``fashion_dcgan.gan.dcgan``, ``.objective``); this package file
stays empty so that importing the catalog does not import TensorFlow.
"""

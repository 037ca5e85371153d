"""Vision: images as a model's inputs, on top of :mod:`foundations.data.blocks`.

- :mod:`~foundations.vision.images`: ``ImageList`` (open a file as an RGB image), the transforms
  ``ResizeFixed``, ``to_byte_tensor``, ``to_float_tensor``, and ``image_store`` (decode and resize a
  folder of images once, keep the result in the data cache). Lesson 11 builds them on Imagenette.

This package imports the core, ``foundations.data`` and ``foundations.callbacks``; nothing outside it
imports it.
"""

from foundations.vision.images import (
    IMAGE_EXTENSIONS,
    ImageList,
    ResizeFixed,
    image_store,
    image_store_path,
    open_image,
    resize_image,
    to_byte_tensor,
    to_float_tensor,
)

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageList",
    "ResizeFixed",
    "image_store",
    "image_store_path",
    "open_image",
    "resize_image",
    "to_byte_tensor",
    "to_float_tensor",
]

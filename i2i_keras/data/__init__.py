"""Data layer: TFRecord schema, decoding and augmentation, and readers that yield dict batches per data kind."""

from i2i_keras.errors import DataError
from i2i_keras.data.readers import default_spec
from i2i_keras.data.readers import embedded_path
from i2i_keras.data.readers import inspect_image
from i2i_keras.data.readers import list_images
from i2i_keras.data.readers import make_dataset
from i2i_keras.data.schema import encode_example
from i2i_keras.data.schema import encode_png
from i2i_keras.data.schema import parse_example
from i2i_keras.data.transforms import decode_image
from i2i_keras.data.transforms import degrade_for_sr
from i2i_keras.data.transforms import from_uint
from i2i_keras.data.transforms import preprocess
from i2i_keras.data.transforms import preprocess_pair
from i2i_keras.data.transforms import to_uint8

__all__ = [
    "DataError",
    "decode_image",
    "default_spec",
    "degrade_for_sr",
    "embedded_path",
    "encode_example",
    "encode_png",
    "from_uint",
    "inspect_image",
    "list_images",
    "make_dataset",
    "parse_example",
    "preprocess",
    "preprocess_pair",
    "to_uint8",
]

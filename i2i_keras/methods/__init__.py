"""Every method module is imported here explicitly: importing the package fills the registry.

Adding a method = one folder under methods/ + one line below + configs + tests.
"""

from i2i_keras.methods.adain import adain  # noqa: F401
from i2i_keras.methods.bicyclegan import bicyclegan  # noqa: F401
from i2i_keras.methods.cyclegan import cyclegan  # noqa: F401
from i2i_keras.methods.dann import dann  # noqa: F401
from i2i_keras.methods.discogan import discogan  # noqa: F401
from i2i_keras.methods.edsr import edsr  # noqa: F401
from i2i_keras.methods.fast_style import fast_style  # noqa: F401
from i2i_keras.methods.munit import munit  # noqa: F401
from i2i_keras.methods.nst import nst  # noqa: F401
from i2i_keras.methods.pix2pix import pix2pix  # noqa: F401
from i2i_keras.methods.pixelda import pixelda  # noqa: F401
from i2i_keras.methods.srcnn import srcnn  # noqa: F401
from i2i_keras.methods.srgan import srgan  # noqa: F401
from i2i_keras.methods.stargan import stargan  # noqa: F401
from i2i_keras.methods.stylegan import stylegan  # noqa: F401
from i2i_keras.methods.unit import unit  # noqa: F401

"""Imports every data kind's module, which registers it. A new kind adds one line here."""

from i2i_keras.data.kinds import domain_adaptation  # noqa: F401
from i2i_keras.data.kinds import multi_domain  # noqa: F401
from i2i_keras.data.kinds import paired  # noqa: F401
from i2i_keras.data.kinds import single  # noqa: F401
from i2i_keras.data.kinds import sr  # noqa: F401
from i2i_keras.data.kinds import unpaired  # noqa: F401

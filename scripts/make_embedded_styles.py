"""Makes the embedded style images `i2i_keras/data/embedded/styles/` (deterministic: the same inputs give the same
files).

- `starry_night.jpg`: Vincent van Gogh, *The Starry Night* (1889, public domain), from the Debian package
  `opencv-doc` (`/usr/share/doc/opencv-doc/examples/data/starry_night.jpg`, 752x600), resized to 320 px wide.
  Where the package is not installed: `apt-get download opencv-doc && dpkg-deb -x opencv-doc_*.deb x` and pass
  `--starry-night x/usr/share/doc/opencv-doc/examples/data/starry_night.jpg`.
- `brick.png`, `grass.png`, `gravel.png`: scikit-image's CC0 textures (`skimage.data.brick/grass/gravel`, 512x512
  gray), resized to 160x160.

Usage: python scripts/make_embedded_styles.py [--starry-night PATH]
"""

import argparse
import os

import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "i2i_keras", "data", "embedded", "styles")
DEFAULT_STARRY = "/usr/share/doc/opencv-doc/examples/data/starry_night.jpg"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starry-night", default=DEFAULT_STARRY)
    args = parser.parse_args()
    from skimage import data

    os.makedirs(OUT, exist_ok=True)
    starry = Image.open(args.starry_night).convert("RGB")
    width = 320
    height = round(starry.height * width / starry.width)
    starry.resize((width, height), Image.LANCZOS).save(os.path.join(OUT, "starry_night.jpg"), quality=90,
                                                      optimize=True)
    for name in ("brick", "grass", "gravel"):
        pixels = np.asarray(getattr(data, name)(), dtype=np.uint8)
        Image.fromarray(pixels).resize((160, 160), Image.LANCZOS).save(os.path.join(OUT, f"{name}.png"),
                                                                         optimize=True)


if __name__ == "__main__":
    main()

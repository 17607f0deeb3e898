"""Makes the README's style-transfer figure, docs/images/style_grid.png: one row per (content, style) pair,
columns content | style | result, every result made here by `nst` (Gatys et al., `i2i_keras.stylize`) with the
offline VGG16 and the embedded images (no download).

    python scripts/make_style_grid.py [--size 128] [--steps 200] [--output docs/images/style_grid.png]

Deterministic settings (seeded); on 2 CPU cores the default takes a few minutes.
"""

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

PAIRS = (("embedded:photos/test/astronaut_0.png", "embedded:starry_night"),
         ("embedded:photos/test/chelsea_0.png", "embedded:starry_night"),
         ("embedded:photos/test/coffee_0.png", "embedded:brick"))


def make_grid(size: int, steps: int, pairs=PAIRS):
    """uint8 [rows * size, 3 * size (+ gaps), 3] grid of content | style | result."""
    import numpy as np
    import tensorflow as tf

    from i2i_keras.config import default_config_path, load_config
    from i2i_keras.data import style_images
    from i2i_keras.data.transforms import to_uint8
    from i2i_keras.stylize import stylize

    rows = []
    gap = np.full((size, 4, 3), 255, np.uint8)
    for content, style in pairs:
        cfg = load_config(default_config_path("nst"), method="nst")
        cfg.model.update(content=content, style=style, max_dim=size)
        cfg.train.steps = steps
        model, _ = stylize(cfg)
        cells = []
        for image in (model.content_image.numpy()[0], style_images.load_square_stack(style, size)[0],
                      model.result()):
            image = tf.image.resize_with_crop_or_pad(image, size, size).numpy()
            cells += [to_uint8(image).numpy(), gap]
        rows += [np.concatenate(cells[:-1], axis=1), np.full((4, cells[0].shape[1] * 3 + 8, 3), 255, np.uint8)]
    return np.concatenate(rows[:-1], axis=0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--output", default=os.path.join(ROOT, "docs", "images", "style_grid.png"))
    args = parser.parse_args(argv)
    from PIL import Image

    grid = make_grid(args.size, args.steps)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    # A 256-colour palette keeps the README's figure around 100 KB (a third of the full-colour PNG).
    Image.fromarray(grid).quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(args.output, optimize=True)
    print(f"wrote {args.output} ({grid.shape[1]}x{grid.shape[0]})")


if __name__ == "__main__":
    main()

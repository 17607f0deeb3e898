"""LPIPS v0.1 with the VGG16 trunk (Zhang et al. 2018), and LPIPS diversity with BicycleGAN's protocol.

Faithful to the official ``lpips`` package (github.com/richzhang/PerceptualSimilarity, read for this module:
``lpips/lpips.py`` -- `LPIPS.forward`, `ScalingLayer`, `NetLinLayer`, `spatial_average` --,
``lpips/__init__.py`` -- `normalize_tensor` -- and ``lpips/pretrained_networks.py`` -- `vgg16`'s five slices):

1. inputs in [-1, 1] go through the scaling layer: ``(x - shift) / scale``, shift (-.030, -.088, -.188), scale
   (.458, .448, .450) (version 0.1; 0.0 skipped it);
2. torchvision's ImageNet VGG16 features at relu1_2, relu2_2, relu3_3, relu4_3, relu5_3;
3. each feature map is divided by its per-pixel channel norm plus 1e-10: ``f / (sqrt(sum_c f^2) + 1e-10)``;
4. the squared difference of the two normalised maps goes through the layer's 1x1 linear head (no bias; the
   official heads carry a dropout that is inactive in eval mode, so it is left out) and is averaged over space;
5. the five layer values are summed.

The VGG16 weights and the five heads are the offline file (`i2i_keras.weights`; the heads are those of the
package's ``weights/v0.1/vgg.pth``) or an ``.npz`` in the same layout that the caller names. Images must be at
least `MIN_SIZE` pixels on each side: relu5_3 comes after four 2x2 poolings.

Diversity (BicycleGAN, Zhu et al. 2017, Sec. 5: "average distance between 19 pairs of randomly generated output
images for 100 input images"): for each input, S samples (20 in the paper) and the LPIPS distance between the S-1
consecutive pairs (1, 2), (2, 3), ..., averaged; then the mean over inputs.
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np
from keras import ops

from i2i_keras.networks.pretrained import LPIPS_TAPS
from i2i_keras.networks.pretrained import VGGFeatures

#: Smallest height and width LPIPS (VGG) accepts: relu5_3 follows four 2x2 max-poolings.
MIN_SIZE = 16
#: `normalize_tensor`'s epsilon in the official package.
EPSILON = 1e-10


class LPIPS:
    """LPIPS v0.1 (VGG) distance: ``LPIPS()(a, b) -> [B]`` for image batches [B, H, W, C] in [-1, 1].

    Args:
        weights: ``"offline"`` (the fetched VGG16 + LPIPS heads) or a path to an ``.npz`` holding both in the
            `i2i_keras.weights` layout.
        batch_size: NumPy inputs are evaluated this many pairs at a time (bounded memory on large sets).

    NumPy inputs give a NumPy float32 array; tensors (eager or inside `tf.function`) give a float32 tensor, with
    gradients to the images (usable as a loss). C is 3 (RGB) or 1 (replicated). Raises `WeightsUnavailable` when the
    weights are absent, `ValueError` for mismatched or too small shapes and for NumPy inputs outside [-1, 1].
    `description` records the network, weights file and protocol for reports.
    """

    def __init__(self, weights: str = "offline", batch_size: int = 16):
        from i2i_keras import weights as weights_lib

        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1; received {batch_size!r}")
        self.batch_size = int(batch_size)
        self.features = VGGFeatures("vgg16", weights=weights, taps=LPIPS_TAPS, normalization="lpips")
        heads_file = self.features.description["weights_file"]
        # (C,) vectors: a 1x1 conv to one channel without bias is a dot product over channels.
        self.heads = [head.reshape(-1) for head in weights_lib.lpips_heads(heads_file)]
        self.description = {"metric": "lpips", "version": "0.1", "network": "vgg16", "taps": list(LPIPS_TAPS),
                            "weights": self.features.description["weights"], "weights_file": heads_file,
                            "input_range": [-1.0, 1.0], "min_size": MIN_SIZE}

    def distance(self, images_a, images_b):
        """The [B] float32 LPIPS distances of two tensors of equal shape (graph-safe; no range check)."""
        a = ops.cast(ops.convert_to_tensor(images_a), "float32")
        b = ops.cast(ops.convert_to_tensor(images_b), "float32")
        _check_shapes(tuple(a.shape), tuple(b.shape))
        # One VGG pass over both halves: the same work as two, with half the op launches.
        features = self.features(ops.concatenate([a, b], axis=0))
        count = ops.shape(a)[0]
        total = 0.0
        for tap, head in zip(LPIPS_TAPS, self.heads):
            both = _unit_normalize(features[tap])
            diff = ops.square(both[:count] - both[count:])
            per_pixel = ops.sum(diff * head, axis=-1)  # the linear head
            total = total + ops.mean(per_pixel, axis=(1, 2))  # spatial average
        return total

    def __call__(self, images_a, images_b):
        if not (isinstance(images_a, np.ndarray) and isinstance(images_b, np.ndarray)):
            return self.distance(images_a, images_b)
        _check_shapes(images_a.shape, images_b.shape)
        for name, images in (("images_a", images_a), ("images_b", images_b)):
            _check_range(name, images)
        out = [np.asarray(self.distance(images_a[start:start + self.batch_size],
                                        images_b[start:start + self.batch_size]))
               for start in range(0, len(images_a), self.batch_size)]
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0,), np.float32)


def _unit_normalize(features):
    """`normalize_tensor`: each pixel's feature vector over its norm plus `EPSILON` (norm 0 stays 0)."""
    norm = ops.sqrt(ops.sum(ops.square(features), axis=-1, keepdims=True))
    return features / (norm + EPSILON)


def _check_shapes(shape_a, shape_b):
    if len(shape_a) != 4 or tuple(shape_a) != tuple(shape_b):
        raise ValueError(f"LPIPS compares two batches of the same shape [B, H, W, 1 or 3]; received {tuple(shape_a)}"
                         f" and {tuple(shape_b)}")
    small = [side for side in shape_a[1:3] if side is not None and side < MIN_SIZE]
    if small:
        raise ValueError(f"LPIPS (VGG) needs images of at least {MIN_SIZE}x{MIN_SIZE} (relu5_3 follows four 2x2 "
                         f"poolings); received {shape_a[1]}x{shape_a[2]}")


def _check_range(name, images):
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f"LPIPS expects float images in [-1, 1]; received {name} of dtype {images.dtype} (convert "
                         f"uint8 with x / 127.5 - 1)")
    if images.size and (float(images.min()) < -1.001 or float(images.max()) > 1.001):
        raise ValueError(f"LPIPS expects images in [-1, 1]; received {name} in [{float(images.min()):.3g}, "
                         f"{float(images.max()):.3g}]")


def lpips_diversity(samples: Union[np.ndarray, Sequence[np.ndarray]], metric: Optional[LPIPS] = None,
                    per_input: bool = False):
    """BicycleGAN's LPIPS diversity: mean over inputs of the mean LPIPS between consecutive samples.

    Args:
        samples: [N, S, H, W, C] in [-1, 1] (N inputs, S >= 2 samples each), or a sequence of N [S, H, W, C].
        metric: the `LPIPS` to use (a new offline one when None).
        per_input: also return the [N] per-input means.

    Returns:
        the mean (float), or ``(mean, per_input_means)`` with `per_input`.
    """
    groups = [np.asarray(group) for group in samples]
    if not groups:
        raise ValueError("lpips_diversity needs samples for at least one input; received none")
    counts = {len(group) for group in groups}
    if min(counts) < 2 or any(group.ndim != 4 for group in groups):
        raise ValueError(f"lpips_diversity needs [S, H, W, C] with S >= 2 samples per input; received shapes "
                         f"{sorted({group.shape for group in groups})}")
    metric = metric or LPIPS()
    means = np.array([float(np.mean(metric(group[:-1], group[1:]))) for group in groups], np.float64)
    mean = float(means.mean())
    return (mean, means) if per_input else mean

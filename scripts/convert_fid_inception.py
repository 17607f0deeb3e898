"""Converts pytorch-fid's FID Inception weights (``pt_inception-2015-12-05-6726825d.pth``) into the ``.npz`` that
`i2i_keras.metrics.inception` loads. Run it where PyTorch is installed (i2i_keras and TensorFlow are not needed):

    python scripts/convert_fid_inception.py pt_inception-2015-12-05-6726825d.pth fid_inception.npz

The .pth is pytorch-fid's release asset
https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth (the
TensorFlow 2015-12-05 Inception graph ported to PyTorch). The .npz holds its state_dict as is: one float32 array
per key, PyTorch layouts, ``num_batches_tracked`` counters left out. Then point ``I2I_KERAS_FID_WEIGHTS`` (or the
``weights`` argument) at the .npz.
"""

from __future__ import annotations

import argparse
import hashlib
import sys

import numpy as np

# torch.hub names its files <name>-<first 8 hex digits of the sha256>.<ext>: the release asset's digest prefix.
EXPECTED_SHA256_PREFIX = "6726825d"
EXPECTED_ARRAYS = 472  # 94 BasicConv2d x (conv weight + 4 batch-norm arrays) + fc weight and bias
EXPECTED_FC_SHAPE = (1008, 2048)


def state_dict_to_arrays(state_dict) -> dict:
    """A FIDInceptionV3 state_dict (tensors or arrays) -> {key: float32 numpy array}, without num_batches_tracked.
    Refuses a state_dict that is not the FID Inception network's."""
    arrays = {}
    for key, value in state_dict.items():
        if key.endswith(".num_batches_tracked"):  # a training counter, not a weight
            continue
        value = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
        arrays[key] = value.astype(np.float32)
    fc_shape = tuple(arrays["fc.weight"].shape) if "fc.weight" in arrays else None
    if len(arrays) != EXPECTED_ARRAYS or fc_shape != EXPECTED_FC_SHAPE:
        raise ValueError(f"not the FID Inception state_dict: got {len(arrays)} arrays and fc.weight of shape "
                         f"{fc_shape}, expected {EXPECTED_ARRAYS} arrays and fc.weight {EXPECTED_FC_SHAPE}")
    return arrays


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pth", help="pytorch-fid's pt_inception-2015-12-05-6726825d.pth")
    parser.add_argument("npz", help="the .npz to write")
    parser.add_argument("--skip-hash-check", action="store_true",
                        help=f"convert even if the file's sha256 does not start with {EXPECTED_SHA256_PREFIX}")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("error: this converter needs PyTorch (pip install torch); run it where PyTorch is installed",
              file=sys.stderr)
        return 2
    digest = _sha256(args.pth)
    if not digest.startswith(EXPECTED_SHA256_PREFIX) and not args.skip_hash_check:
        print(f"error: {args.pth}: sha256 {digest} does not start with {EXPECTED_SHA256_PREFIX}, expected "
              f"pytorch-fid's pt_inception-2015-12-05-6726825d.pth (--skip-hash-check converts anyway)",
              file=sys.stderr)
        return 2
    state_dict = torch.load(args.pth, map_location="cpu", weights_only=True)
    try:
        arrays = state_dict_to_arrays(state_dict)
    except ValueError as e:
        print(f"error: {args.pth}: {e}", file=sys.stderr)
        return 2
    with open(args.npz, "wb") as f:
        np.savez(f, **arrays)
    print(f"wrote {args.npz}: {len(arrays)} arrays from {args.pth} (sha256 {digest})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

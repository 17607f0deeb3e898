"""The PyTorch half of the FID Inception reference check (`test_fid_inception_reference.py` runs it in a Python
that has torch, torchvision and pytorch-fid): builds pytorch-fid's network with random weights, runs it on random
inputs and writes, into the folder given as the only argument, ``weights.npz`` (through the converter),
``inputs.npy`` ([N, 3, H, W] in [0, 1], pytorch-fid's input convention), ``pool3.npy`` and ``logits.npy``."""

import importlib.util
import os
import sys

import numpy as np
import torch
from pytorch_fid import inception as fid

HERE = os.path.dirname(os.path.abspath(__file__))


def _converter():
    path = os.path.join(HERE, "..", "..", "scripts", "convert_fid_inception.py")
    spec = importlib.util.spec_from_file_location("convert_fid_inception", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _random_fid_inception():
    """pytorch-fid's own fid_inception_v3() (its patched blocks), with the download and the loading of the
    pretrained state_dict switched off: the weights stay torchvision's random initialisation."""
    load = torch.nn.Module.load_state_dict
    fetch = fid.load_state_dict_from_url
    fid.load_state_dict_from_url = lambda *args, **kwargs: None
    torch.nn.Module.load_state_dict = lambda self, *args, **kwargs: None
    try:
        return fid.fid_inception_v3()
    finally:
        torch.nn.Module.load_state_dict = load
        fid.load_state_dict_from_url = fetch


def main(out: str) -> None:
    torch.manual_seed(0)
    network = _random_fid_inception()
    with torch.no_grad():
        # Batch-norm statistics away from (0, 1), so a mix-up of mean/variance or of gamma/beta shows.
        for module in network.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
    network.eval()
    # pytorch-fid's InceptionV3 wrapper (resize to 299, [0, 1] -> [-1, 1], blocks to pool3) around this network.
    build = fid.fid_inception_v3
    fid.fid_inception_v3 = lambda: network
    try:
        wrapper = fid.InceptionV3([3]).eval()
    finally:
        fid.fid_inception_v3 = build
    inputs = torch.rand(2, 3, 75, 90, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        pool3 = wrapper(inputs)[0].flatten(1)
        logits = network.fc(pool3)
    with open(os.path.join(out, "weights.npz"), "wb") as f:
        np.savez(f, **_converter().state_dict_to_arrays(network.state_dict()))
    np.save(os.path.join(out, "inputs.npy"), inputs.numpy())
    np.save(os.path.join(out, "pool3.npy"), pool3.numpy())
    np.save(os.path.join(out, "logits.npy"), logits.numpy())
    parameters = sum(p.numel() for p in network.parameters())
    buffers = sum(b.numel() for name, b in network.named_buffers() if not name.endswith("num_batches_tracked"))
    np.save(os.path.join(out, "counts.npy"), np.array([parameters, buffers]))


if __name__ == "__main__":
    main(sys.argv[1])

"""Layer and network equivalence with PyTorch: the same weights give the same outputs (to 1e-5).

Each check builds a layer (or a whole network, written here layer for layer after the reference code:
`ResnetGenerator` and `NLayerDiscriminator` of junyanz/pytorch-CycleGAN-and-pix2pix `models/networks.py`) in
PyTorch and in Keras, copies the PyTorch weights across and compares outputs. Skipped where torch is not installed;
to run them (Python 3.11, torch CPU, the modern lane's TensorFlow and Keras):

    python3.11 -m venv /tmp/torchvenv
    /tmp/torchvenv/bin/pip install torch numpy "tensorflow-cpu==2.21.*" "keras==3.15.*" pyyaml pytest
    PYTHONPATH=. /tmp/torchvenv/bin/python -m pytest -q tests/reference
"""

import keras
import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from i2i_keras.layers import BatchNorm, PaddedAveragePooling2D, ReflectionPadding2D, normalization  # noqa: E402
from i2i_keras.networks import conv, conv_transpose, patch_discriminator, resnet_generator  # noqa: E402

ATOL = 1e-5


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    keras.utils.set_random_seed(0)


def _nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


def _input(batch=2, channels=3, size=17, seed=0):
    x = np.random.default_rng(seed).normal(size=(batch, channels, size, size)).astype("float32")
    return torch.from_numpy(x), x.transpose(0, 2, 3, 1)


def _copy_conv(torch_conv, keras_layer):
    """Conv2d [out, in, kh, kw] and ConvTranspose2d [in, out, kh, kw] both become Keras's [kh, kw, ., .]."""
    weights = [torch_conv.weight.detach().numpy().transpose(2, 3, 1, 0)]
    if torch_conv.bias is not None:
        weights.append(torch_conv.bias.detach().numpy())
    keras_layer.set_weights(weights)


def _keras_net(build, channels):
    inputs = keras.Input((None, None, channels))
    return keras.Model(inputs, build(inputs))


@pytest.mark.parametrize("kernel,stride,padding,mode,size", [
    (4, 2, 1, "zero", 16), (4, 2, 1, "zero", 17), (4, 1, 1, "zero", 15), (3, 2, 1, "zero", 17),
    (7, 1, 3, "reflect", 13), (3, 2, 1, "reflect", 16)])
def test_conv2d(kernel, stride, padding, mode, size):
    pad = {"zero": "zeros", "reflect": "reflect"}[mode]
    reference = nn.Conv2d(3, 5, kernel, stride, padding, padding_mode=pad)
    model = _keras_net(lambda x: conv(x, 5, kernel, stride, padding, pad_mode=mode, name="c"), 3)
    _copy_conv(reference, model.get_layer("c"))
    xt, xk = _input(size=size)
    np.testing.assert_allclose(np.asarray(model(xk)), _nhwc(reference(xt)), atol=ATOL)


@pytest.mark.parametrize("kernel,stride,padding,output_padding", [(4, 2, 1, 0), (3, 2, 1, 1), (1, 1, 0, 0)])
def test_conv_transpose2d(kernel, stride, padding, output_padding):
    reference = nn.ConvTranspose2d(3, 4, kernel, stride, padding, output_padding)
    model = _keras_net(lambda x: conv_transpose(x, 4, kernel, stride, padding, output_padding, name="c"), 3)
    _copy_conv(reference, model.get_layer("c"))
    xt, xk = _input(size=9)
    np.testing.assert_allclose(np.asarray(model(xk)), _nhwc(reference(xt)), atol=ATOL)


def test_reflection_padding():
    xt, xk = _input(size=7)
    np.testing.assert_allclose(np.asarray(ReflectionPadding2D(3)(xk)), _nhwc(nn.ReflectionPad2d(3)(xt)), atol=0)


@pytest.mark.parametrize("affine", [False, True])
def test_instance_norm(affine):
    reference = nn.InstanceNorm2d(3, affine=affine)
    layer = normalization("instance_affine" if affine else "instance")
    xt, xk = _input(size=11)
    layer.build(xk.shape)
    if affine:
        with torch.no_grad():
            reference.weight.normal_()
            reference.bias.normal_()
        layer.set_weights([reference.weight.detach().numpy(), reference.bias.detach().numpy()])
    np.testing.assert_allclose(np.asarray(layer(xk)), _nhwc(reference(xt)), atol=ATOL)


@pytest.mark.parametrize("torch_mode", ["train", "eval"])
def test_batch_norm_train_mode_is_inference_norm_batch_and_eval_mode_is_moving(torch_mode):
    reference = nn.BatchNorm2d(3)
    with torch.no_grad():
        reference.weight.normal_()
        reference.bias.normal_()
        reference.running_mean.normal_()
        reference.running_var.uniform_(0.5, 2.0)
    layer = BatchNorm(inference_norm="batch" if torch_mode == "train" else "moving", epsilon=1e-5)
    xt, xk = _input(batch=4, size=9)
    layer.build(xk.shape)
    layer.set_weights([reference.weight.detach().numpy(), reference.bias.detach().numpy(),
                       reference.running_mean.numpy(), reference.running_var.numpy()])
    getattr(reference, torch_mode)()
    np.testing.assert_allclose(np.asarray(layer(xk, training=False)), _nhwc(reference(xt)), atol=ATOL)


@pytest.mark.parametrize("size", [16, 17])
def test_average_pooling_without_the_padding(size):
    reference = nn.AvgPool2d(3, stride=2, padding=[1, 1], count_include_pad=False)
    xt, xk = _input(size=size)
    np.testing.assert_allclose(np.asarray(PaddedAveragePooling2D(3, 2, 1)(xk)), _nhwc(reference(xt)), atol=ATOL)


class _ResnetBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.conv_block = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim),
                                        nn.ReLU(True), nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3),
                                        nn.InstanceNorm2d(dim))

    def forward(self, x):
        return x + self.conv_block(x)


def _torch_resnet_generator(ngf, n_blocks):
    """`ResnetGenerator` with instance norm (use_bias=True, InstanceNorm2d affine=False), no dropout."""
    layers = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7), nn.InstanceNorm2d(ngf), nn.ReLU(True)]
    for i in range(2):
        mult = 2 ** i
        layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, 2, 1), nn.InstanceNorm2d(ngf * mult * 2), nn.ReLU(True)]
    layers += [_ResnetBlock(ngf * 4) for _ in range(n_blocks)]
    for i in range(2):
        mult = 2 ** (2 - i)
        layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, 2, 1, output_padding=1),
                   nn.InstanceNorm2d(ngf * mult // 2), nn.ReLU(True)]
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
    return nn.Sequential(*layers)


def test_cyclegan_resnet_generator_as_a_whole():
    reference = _torch_resnet_generator(ngf=8, n_blocks=2).eval()
    model = resnet_generator(3, 3, base_filters=8, num_blocks=2, norm="instance")
    convs = [m for m in reference.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    names = (["in_conv", "down0_conv", "down1_conv"] + [f"res{i}_conv{j}" for i in range(2) for j in (1, 2)]
             + ["up0_conv", "up1_conv", "out_conv"])
    assert len(convs) == len(names)
    for module, name in zip(convs, names):
        _copy_conv(module, model.get_layer(name))
    assert sum(p.numel() for p in reference.parameters()) == model.count_params()
    for size in (32, 36):
        xt, xk = _input(batch=2, size=size, seed=size)
        np.testing.assert_allclose(np.asarray(model(xk)), _nhwc(reference(xt)), atol=ATOL)


def _torch_patch_discriminator(input_nc, ndf, n_layers):
    """`NLayerDiscriminator` with batch norm (use_bias=False on the normalized convolutions)."""
    layers = [nn.Conv2d(input_nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
    mult = 1
    for n in range(1, n_layers):
        prev, mult = mult, min(2 ** n, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * mult),
                   nn.LeakyReLU(0.2, True)]
    prev, mult = mult, min(2 ** n_layers, 8)
    layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, 1, 1, bias=False), nn.BatchNorm2d(ndf * mult),
               nn.LeakyReLU(0.2, True), nn.Conv2d(ndf * mult, 1, 4, 1, 1)]
    return nn.Sequential(*layers)


def test_patchgan_as_a_whole():
    reference = _torch_patch_discriminator(6, ndf=8, n_layers=3)
    model = patch_discriminator(6, base_filters=8, num_layers=3, norm="batch")
    convs = [m for m in reference.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in reference.modules() if isinstance(m, nn.BatchNorm2d)]
    for module, name in zip(convs, ["conv0", "conv1", "conv2", "conv3", "logits"]):
        _copy_conv(module, model.get_layer(name))
    with torch.no_grad():
        for module, name in zip(norms, ["norm1", "norm2", "norm3"]):
            module.weight.normal_()
            module.bias.normal_()
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
            model.get_layer(name).set_weights([module.weight.numpy(), module.bias.numpy(),
                                               module.running_mean.numpy(), module.running_var.numpy()])
    assert sum(p.numel() for p in reference.parameters()) == sum(int(np.prod(v.shape))
                                                                 for v in model.trainable_variables)
    reference.eval()
    for size in (64, 70):
        xt, xk = _input(batch=2, channels=6, size=size, seed=size)
        out = np.asarray(model(xk, training=False))
        expected = _nhwc(reference(xt))
        assert out.shape == expected.shape  # 64 px -> 6x6, 70 px -> 6x6 (PyTorch's floor)
        np.testing.assert_allclose(out, expected, atol=ATOL)

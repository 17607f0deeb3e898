"""Padding, pooling and normalisation as the PyTorch references compute them: map sizes at even and odd sizes, the
count_include_pad=False average, affine-free instance norm, and batch norm with inference statistics of the batch."""

import keras
import numpy as np
import pytest

from i2i_keras.layers import BatchNorm, PaddedAveragePooling2D, normalization
from i2i_keras.networks import (conv, conv_transpose, multiscale_discriminator, patch_discriminator,
                                resnet_generator, unet_generator)


def _torch_conv_size(n, kernel, stride, padding):
    return (n + 2 * padding - kernel) // stride + 1


def _shape_of(model, size, channels=3):
    return tuple(np.asarray(model(np.zeros((1, size, size, channels), "float32"))).shape)


def test_patch_discriminator_gives_30x30_logits_at_256_px():
    # The width does not change the geometry; 4 filters keep the 256 px forward pass cheap.
    assert _shape_of(patch_discriminator(3, base_filters=4, num_layers=3), 256) == (1, 30, 30, 1)


@pytest.mark.parametrize("size", [33, 65, 70, 101])
def test_patch_discriminator_map_sizes_at_any_size_are_pytorchs(size):
    expected = size
    for stride in (2, 2, 2, 1, 1):  # NLayerDiscriminator: 3 stride-2 convs, a stride-1 conv, the logit conv
        expected = _torch_conv_size(expected, 4, stride, 1)
    assert _shape_of(patch_discriminator(3, base_filters=4, num_layers=3), size) == (1, expected, expected, 1)


@pytest.mark.parametrize("size", [33, 37, 64])
def test_resnet_generator_feature_maps_at_odd_sizes_are_pytorchs(size):
    model = resnet_generator(3, 3, base_filters=4, num_blocks=1)
    down = size
    for _ in range(2):  # Conv2d(3, stride 2, padding 1)
        down = _torch_conv_size(down, 3, 2, 1)
    inner = keras.Model(model.input, model.get_layer("down1_relu").output)
    assert _shape_of(inner, size)[1] == down
    up = down
    for _ in range(2):  # ConvTranspose2d(3, stride 2, padding 1, output_padding 1): 2n
        up = (up - 1) * 2 - 2 + 3 + 1
    assert _shape_of(model, size)[1] == up


def test_multiscale_discriminator_scales_follow_pytorch_pooling_at_odd_sizes():
    model = multiscale_discriminator(3, base_filters=4, num_layers=2, num_scales=3)
    outputs = model(np.zeros((1, 45, 45, 3), "float32"))
    sizes, n = [], 45
    for _ in range(3):
        m = n
        for _ in range(2):
            m = _torch_conv_size(m, 4, 2, 1)
        sizes.append(m)
        n = _torch_conv_size(n, 3, 2, 1)  # AvgPool2d(3, stride 2, padding 1)
    assert [int(o.shape[1]) for o in outputs] == sizes


def test_padded_average_pooling_excludes_the_padding_from_the_average():
    x = np.random.default_rng(0).normal(size=(2, 7, 6, 3)).astype("float32")
    out = np.asarray(PaddedAveragePooling2D(3, 2, 1)(x))
    padded = np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)], constant_values=np.nan)
    expected = np.zeros((2, 4, 3, 3), "float32")
    for i in range(4):
        for j in range(3):
            expected[:, i, j] = np.nanmean(padded[:, 2 * i:2 * i + 3, 2 * j:2 * j + 3], axis=(1, 2))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="padding"):
        PaddedAveragePooling2D(3, 2, 2)


@pytest.mark.parametrize("kernel,stride,padding,output_padding", [(4, 2, 1, 0), (3, 2, 1, 1), (1, 1, 0, 0)])
def test_conv_transpose_output_size_is_pytorchs(kernel, stride, padding, output_padding):
    inputs = keras.Input((None, None, 2))
    model = keras.Model(inputs, conv_transpose(inputs, 3, kernel, stride, padding, output_padding))
    for n in (5, 8):
        expected = (n - 1) * stride - 2 * padding + kernel + output_padding
        assert _shape_of(model, n, channels=2)[1] == expected
    with pytest.raises(ValueError, match="output_padding"):
        conv_transpose(inputs, 3, 3, 2, 0, 1)


def test_conv_pads_symmetrically_and_rejects_unknown_modes():
    inputs = keras.Input((None, None, 1))
    model = keras.Model(inputs, conv(inputs, 1, 3, 2, 1, use_bias=False, name="c"))
    model.get_layer("c").kernel.assign(np.ones((3, 3, 1, 1), "float32"))
    x = np.ones((1, 4, 4, 1), "float32")
    # Zero padding on both sides: the top-left window sees 4 ones, like PyTorch's padding=1 (Keras's "same" would
    # pad only after for a stride-2 3x3 and see 9 in the first window).
    assert np.asarray(model(x))[0, 0, 0, 0] == 4.0
    with pytest.raises(ValueError, match="pad_mode"):
        conv(inputs, 1, 3, pad_mode="circular")


def test_unet_bias_as_the_reference_and_latent_at_every_block():
    batch = unet_generator(3, 3, base_filters=4, num_downs=5, norm="batch")
    assert all(not layer.use_bias for layer in batch.layers if layer.name.startswith(("down", "up"))
               and layer.name.endswith("_conv"))
    assert batch.get_layer("out_conv").use_bias
    everywhere = unet_generator(3, 3, base_filters=4, num_downs=5, norm="instance", latent_dim=2, latent_at="all")
    tiles = [layer for layer in everywhere.layers if "tile_latent" in layer.name]
    assert len(tiles) == 5  # one per down convolution
    assert everywhere.get_layer("down1_conv").kernel.shape[2] == 4 + 2  # previous features + z
    with pytest.raises(ValueError, match="latent_at"):
        unet_generator(latent_dim=2, latent_at="middle")


def test_instance_norm_has_no_parameters_unless_affine():
    layer = normalization("instance")
    layer.build((None, 4, 4, 3))
    assert layer.trainable_weights == []
    affine = normalization("instance_affine")
    affine.build((None, 4, 4, 3))
    assert len(affine.trainable_weights) == 2


def test_batch_norm_inference_statistics_of_the_batch_leave_the_averages_alone():
    x = np.random.default_rng(1).normal(2.0, 3.0, (4, 5, 5, 2)).astype("float32")
    layer = BatchNorm(inference_norm="batch", epsilon=1e-5)
    layer.build(x.shape)
    out = np.asarray(layer(x, training=False))
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-5), atol=1e-4)
    np.testing.assert_array_equal(layer.moving_mean.numpy(), np.zeros(2))
    moving = BatchNorm(inference_norm="moving")
    moving.build(x.shape)
    np.testing.assert_allclose(np.asarray(moving(x, training=False)), x / np.sqrt(1 + 1e-3), rtol=1e-5)
    clone = BatchNorm.from_config(layer.get_config())
    assert clone.inference_norm == "batch"
    with pytest.raises(ValueError, match="inference_norm"):
        BatchNorm(inference_norm="running")


def _conv_sizes(n, *layers):
    for kernel, stride, padding in layers:
        n = _torch_conv_size(n, kernel, stride, padding)
    return n


@pytest.mark.parametrize("size", [33, 47])
def test_every_network_maps_odd_sizes_as_its_pytorch_reference(size):
    """Feature-map sizes at odd input sizes, by PyTorch's formula for each reference layer sequence."""
    from i2i_keras.networks import (content_encoder, dcgan_discriminator, resnet_encoder, stargan_discriminator,
                                    style_encoder, unit_decoder, unit_encoder)

    down3, down4 = (3, 2, 1), (4, 2, 1)
    # UNIT COCOResGen front: 7x7 (padding 3), two 3x3 stride-2 (padding 1); back: two 3x3 transposed, 2n each.
    encoded = _conv_sizes(size, (7, 1, 3), down3, down3)
    assert _shape_of(unit_encoder(3, 4, num_blocks=1), size)[1] == encoded
    assert _shape_of(unit_decoder(3, 16, num_blocks=1), encoded, channels=16)[1] == 4 * encoded
    # MUNIT ContentEncoder: 7x7 reflection-padded by 3, two 4x4 stride-2 reflection-padded by 1.
    assert _shape_of(content_encoder(3, 4, num_blocks=1), size)[1] == _conv_sizes(size, (7, 1, 3), down4, down4)
    assert _shape_of(style_encoder(3, 4, latent_dim=5), size) == (1, 5)
    # BicycleGAN E_ResNet: 4x4 stride-2 (padding 1), then 2x2 average pools (floor), globally averaged.
    encoder = resnet_encoder(3, 4, num_blocks=3, latent_dim=5)
    trunk = keras.Model(encoder.input, encoder.get_layer("block2_add").output)
    assert _shape_of(trunk, size)[1] == _conv_sizes(size, down4) // 2 // 2
    # DiscoGAN Discriminator: 4x4 stride-2 padding 1, then a 4x4 unpadded logit convolution.
    assert _shape_of(dcgan_discriminator(3, 4, num_layers=2), size)[1] == _conv_sizes(size, down4, down4, (4, 1, 0))
    # StarGAN Discriminator: 4x4 stride-2 padding 1, the source head 3x3 padding 1.
    source, domain = stargan_discriminator(3, num_domains=2, image_size=32, base_filters=4, num_layers=3)(
        np.zeros((1, size, size, 3), "float32"))
    assert source.shape[1] == _conv_sizes(size, down4, down4, down4) and domain.shape == (1, 2)

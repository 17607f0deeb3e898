"""What the style-transfer methods (`nst`, `fast_style`, `adain`) share: their frozen VGG and its checks."""

from i2i_keras.errors import ConfigError


def frozen_vgg(model, network, weights, taps, rgb=True):
    """The `VGGFeatures` of a style-transfer method: `weights` as `VGGFeatures` takes them, or "random" (a randomly
    initialised VGG: the tests of the plumbing; a model option's string stands for None). With `rgb`, the model's
    images must have 3 channels (ConfigError naming both)."""
    from i2i_keras.networks.pretrained import VGGFeatures

    if rgb and (model.in_channels != 3 or model.out_channels != 3):
        raise ConfigError(f"{model.method_name} works on RGB images (a VGG sees them). Received: in_channels="
                          f"{model.in_channels}, out_channels={model.out_channels}", code="bad_value")
    return VGGFeatures(network, None if weights == "random" else weights, taps=tuple(dict.fromkeys(taps)))

"""Paper-table parity: each method's paper config builds the reference implementation's networks, parameter for
parameter.

Each expected count is the number of trainable parameters of the reference repository's own constructors with the
paper's settings (PyTorch counts parameters only, not batch-norm running statistics, as Keras's trainable
variables do not include the moving averages). The source is named next to each figure; the figures were derived
from the reference code layer by layer (and reproduce the issue table's numbers).
"""

import numpy as np
import pytest

from i2i_keras import build_model
from i2i_keras.config import load_config

# (config, {network attribute(s) summed: (reference count, reference file)})
PAPER_TABLE = {
    "pix2pix/paper_256.yaml": {
        ("generator",): (54_413_955, "junyanz/pytorch-CycleGAN-and-pix2pix models/networks.py UnetGenerator "
                                     "(unet_256, batch norm)"),
        ("discriminator",): (2_768_705, "same file, NLayerDiscriminator (n_layers 3, 6 input channels)"),
    },
    "cyclegan/paper_256.yaml": {
        ("generator_ab",): (11_378_179, "junyanz/pytorch-CycleGAN-and-pix2pix models/networks.py ResnetGenerator "
                                        "(resnet_9blocks, InstanceNorm2d affine=False)"),
        ("generator_ba",): (11_378_179, "same"),
        ("discriminator_a",): (2_764_737, "same file, NLayerDiscriminator (3 channels, instance norm)"),
        ("discriminator_b",): (2_764_737, "same"),
    },
    "stargan/paper_128.yaml": {
        ("generator",): (8_430_528, "yunjey/stargan model.py Generator (c_dim 5, repeat_num 6)"),
        ("discriminator",): (44_762_048, "yunjey/stargan model.py Discriminator (image_size 128, repeat_num 6)"),
    },
    "munit/paper_256.yaml": {
        ("content_encoder_a", "style_encoder_a", "decoder_a"): (
            15_026_187, "NVlabs/MUNIT networks.py AdaINGen (configs/edges2shoes_folder.yaml), per domain"),
        ("content_encoder_b", "style_encoder_b", "decoder_b"): (15_026_187, "same"),
        ("discriminator_a",): (8_271_171, "NVlabs/MUNIT networks.py MsImageDis (n_layer 4, num_scales 3)"),
        ("discriminator_b",): (8_271_171, "same"),
    },
    "unit/paper_256.yaml": {
        ("encoder_front_a", "encoder_front_b", "shared_encoder", "shared_decoder", "decoder_back_a",
         "decoder_back_b"): (18_017_286, "mingyuliutw/UNIT src/trainers/cocogan_nets.py COCOResGen "
                                         "(exps/unit/cat2tiger.yaml), both domains"),
        ("discriminator_a",): (25_149_057, "same file, COCODis (n_layer 6), per domain"),
        ("discriminator_b",): (25_149_057, "same"),
    },
    "bicyclegan/paper_256.yaml": {
        ("generator",): (54_794_627, "junyanz/BicycleGAN models/networks.py G_Unet_add_all (unet_256, "
                                     "where_add all)"),
        ("discriminator_vae",): (3_458_978, "same file, D_NLayersMulti (basic_256_multi, num_Ds 2)"),
        ("discriminator_lr",): (3_458_978, "same"),
        ("encoder",): (2_590_032, "same file, E_ResNet (resnet_256, vaeLike)"),
    },
    "discogan/paper_64.yaml": {
        ("generator_ab",): (5_513_856, "SKTBrain/DiscoGAN discogan/model.py Generator (bias=False)"),
        ("generator_ba",): (5_513_856, "same"),
        ("discriminator_a",): (2_765_568, "SKTBrain/DiscoGAN discogan/model.py Discriminator (bias=False)"),
        ("discriminator_b",): (2_765_568, "same"),
    },
    "discogan/authors_code_64.yaml": {
        ("generator_ab",): (5_513_856, "SKTBrain/DiscoGAN discogan/model.py Generator (bias=False)"),
        ("discriminator_a",): (2_765_568, "SKTBrain/DiscoGAN discogan/model.py Discriminator (bias=False)"),
    },
    # EDSR: sanghyun-son/EDSR-PyTorch src/model/edsr.py + common.py (MeanShift is frozen: not counted). With F
    # features, B blocks: head 3*F*9+F; per block 2*(F*F*9+F); body conv F*F*9+F; upsampler per x2 stage
    # F*4F*9+4F; tail F*3*9+3. Baseline x2 = 1,792 + 16*73,856 + 36,928 + 147,712 + 1,731 = 1,369,859 (the paper's
    # 1.37M), x4 adds one more 147,712 stage; the large model (F 256, B 32): 40,729,603 (x2) and 43,089,923 (x4).
    "edsr/paper_baseline_x2.yaml": {("generator",): (1_369_859, "EDSR-PyTorch src/model/edsr.py (r16f64x2)")},
    "edsr/paper_baseline_x4.yaml": {("generator",): (1_517_571, "EDSR-PyTorch src/model/edsr.py (r16f64x4)")},
    "edsr/paper_x2.yaml": {("generator",): (40_729_603, "EDSR-PyTorch src/model/edsr.py (r32f256x2)")},
    "edsr/paper_x4.yaml": {("generator",): (43_089_923, "EDSR-PyTorch src/model/edsr.py (r32f256x4)")},
    # SRCNN on Y (1 channel): conv1 9*9*1*64+64 = 5,248; conv2 1*1*64*32+32 = 2,080 (9-5-5: 5*5*64*32+32 = 51,232);
    # conv3 5*5*32*1+1 = 801. The paper's 8,032 weights of 9-1-5 plus 97 biases.
    "srcnn/paper_915.yaml": {("generator",): (8_129, "yjn870/SRCNN-pytorch models.py with kernel 1 in conv2")},
    "srcnn/paper_955.yaml": {("generator",): (57_281, "yjn870/SRCNN-pytorch models.py (9-5-5, num_channels 1)")},
    # SRResNet / SRGAN: leftthomas/SRGAN model.py (Generator with the paper's 16 residual blocks instead of its 5;
    # nn.PReLU() has one parameter): head 15,616 + 1; per block 2*36,928 + 2*128 (BN) + 1 = 74,113; body conv + BN
    # 37,056; two upsample stages 2*(147,712 + 1); tail 15,555. Discriminator: convs 3->64, 64->64 s2, ..., 512->512 s2
    # with BN after all but the first, then 1x1 convs 512->1024->1 = 5,215,425.
    "srgan/srresnet_x4.yaml": {
        ("generator",): (1_549_462, "leftthomas/SRGAN model.py Generator(scale_factor=4), 16 ResidualBlocks"),
        ("discriminator",): (5_215_425, "leftthomas/SRGAN model.py Discriminator"),
    },
    "srgan/paper_x4.yaml": {("generator",): (1_549_462, "same")},
    # naoto0804/pytorch-AdaIN net.py `decoder`: 3x3 convs 512->256, 256->256 x3, 256->128, 128->128, 128->64,
    # 64->64, 64->3 (weights + biases): 1,179,904 + 3 x 590,080 + 295,040 + 147,584 + 73,792 + 36,928 + 1,731.
    "adain/paper_256.yaml": {
        ("decoder",): (3_505_219, "naoto0804/pytorch-AdaIN net.py decoder"),
    },
    # pytorch/examples fast_neural_style/neural_style/transformer_net.py TransformerNet: convs 3->32 (9x9), 32->64,
    # 64->128 (3x3), 5 residual blocks of two 128->128 3x3 convs, upsample convs 128->64, 64->32 (3x3), 32->3 (9x9),
    # each with a bias, and InstanceNorm2d(affine=True) after all but the last: 7,808 + 18,496 + 73,856 + 5 x
    # 295,680 + 73,792 + 18,464 + 7,779 convs/blocks + 64 + 128 + 256 + 128 + 64 norms = 1,679,235.
    # rosinality/stylegan2-pytorch model.py Generator(256, 512, n_mlp 8, channel_multiplier 2): mapping 8 x (512 x 512
    # + 512) = 2,101,248; synthesis: ConstantInput 512 x 16, per StyledConv(in, out) out x in x 9 + modulation
    # EqualLinear (512 x in + in) + NoiseInjection 1 + FusedLeakyReLU bias out, per ToRGB(in) 3 x in + (512 x in + in)
    # + 3; channels 512 (4-32 px), 512, 256, 128 (64, 128, 256 px) = 27,933,090 (noise buffers are not parameters).
    # Discriminator(256, 2): ConvLayer(3, 128, 1), ResBlocks (conv1 in x in x 9 + in, conv2 in x out x 9 + out, skip
    # in x out) 256 -> 4 px, final_conv 513 x 512 x 9 + 512, EqualLinear 8192 x 512 + 512, 512 + 1 = 28,864,129.
    "stylegan/paper_256.yaml": {
        ("mapping", "synthesis"): (30_034_338, "rosinality/stylegan2-pytorch model.py Generator (size 256)"),
        ("discriminator",): (28_864_129, "rosinality/stylegan2-pytorch model.py Discriminator (size 256)"),
    },
    "fast_style/paper_256.yaml": {
        ("transformer",): (1_679_235, "pytorch/examples fast_neural_style/neural_style/transformer_net.py"),
    },
}


def _count(variables):
    seen, total = set(), 0
    for v in variables:
        if id(v) not in seen:  # shared layers (UNIT) count once, as PyTorch's parameters() does
            seen.add(id(v))
            total += int(np.prod(v.shape))
    return total


@pytest.mark.parametrize("config", sorted(PAPER_TABLE))
def test_paper_config_builds_the_reference_networks(config):
    model = build_model(load_config(f"configs/{config}"))
    for networks, (expected, source) in PAPER_TABLE[config].items():
        found = _count([v for name in networks for v in getattr(model, name).trainable_variables])
        assert found == expected, f"{config} {'+'.join(networks)}: {found:,} parameters, reference {expected:,} ({source})"

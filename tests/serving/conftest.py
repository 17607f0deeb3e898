"""Fixtures for the serving tests: tiny exports, a contract-shaped multimodal SavedModel, and one development server
shared by the whole session (loading the models is the slow part; each test then takes milliseconds to seconds)."""

import os

import numpy as np
import pytest
import tensorflow as tf

# Small enough that an over-limit image is cheap to make; every "good" image in the tests stays within it.
MAX_PIXELS = 96 * 96


def png(height, width, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    return tf.io.encode_png(rng.integers(0, 256, (height, width, channels), dtype=np.uint8)).numpy()


def jpeg(height, width, seed=0):
    rng = np.random.default_rng(seed)
    return tf.io.encode_jpeg(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).numpy()


def decode(data):
    return tf.io.decode_image(data, expand_animations=False).numpy()


class StylesModule(tf.Module):
    """Stands in for a multimodal export (StarGAN's target domain, sampled styles, a style reference) with the
    contract's input names, dtypes and shapes, and an output that is a known function of the inputs:
    sample k of image i is `(image_i + 50 * target_domain_i + 10 * k + seed % 7 + reference_i[0, 0, 0]) % 256`."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string), tf.TensorSpec([None], tf.int32),
                                  tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int64),
                                  tf.TensorSpec([None], tf.string)])
    def styles_bytes(self, images, target_domain, num_samples, seed, reference):
        def one(args):
            data, domain, ref = args
            image = tf.cast(tf.io.decode_image(data, channels=3, expand_animations=False), tf.int32)
            level = tf.cast(tf.io.decode_image(ref, channels=3, expand_animations=False)[0, 0, 0], tf.int32)

            def sample(k):
                shift = domain * 50 + k * 10 + tf.cast(seed % 7, tf.int32) + level
                return tf.io.encode_png(tf.cast((image + shift) % 256, tf.uint8))

            return tf.map_fn(sample, tf.range(num_samples), fn_output_signature=tf.TensorSpec([], tf.string))

        encoded = tf.map_fn(one, (images, target_domain, reference),
                            fn_output_signature=tf.TensorSpec([None], tf.string))
        return {"images": encoded}


def styles_expected(image, target_domain, k, seed, reference):
    shift = 50 * target_domain + 10 * k + seed % 7 + int(decode(reference)[0, 0, 0])
    rgb = tf.io.decode_image(image, channels=3, expand_animations=False).numpy()
    return ((rgb.astype(np.int32) + shift) % 256).astype(np.uint8)


@pytest.fixture(scope="session")
def exports(tmp_path_factory):
    """name -> model base path: tiny pix2pix (3 channels) and CycleGAN exports, and the styles stand-in."""
    from i2i_keras import build_model
    from i2i_keras.export import export_for_serving
    from tests.helpers import tiny_config

    root = tmp_path_factory.mktemp("exports")
    out = {}
    for method in ("pix2pix", "cyclegan"):
        base = str(root / method)
        export_for_serving(build_model(tiny_config(method)), base)
        out[method] = base
    module = StylesModule()
    function = module.styles_bytes.get_concrete_function()
    out["styles"] = str(root / "styles")
    tf.saved_model.save(module, os.path.join(out["styles"], "1"),
                        signatures={"serving_default": function, "styles_bytes": function})
    return out


@pytest.fixture(scope="session")
def local(exports):
    """name -> the SavedModel loaded in the test process, to compute the answers the server must give."""
    return {name: tf.saved_model.load(os.path.join(base, "1")) for name, base in exports.items()}


@pytest.fixture(scope="session")
def server(exports, tmp_path_factory):
    """One development server for the session, configured the way TF Serving is: a model config file
    (models p2p, cyc, styles; p2p has the version label "stable")."""
    from serving.dev_server import start_server

    config = tmp_path_factory.mktemp("config") / "models.pbtxt"
    config.write_text(
        "model_config_list {\n"
        f"  config {{ name: 'p2p' base_path: '{exports['pix2pix']}' model_platform: 'tensorflow'\n"
        "           version_labels { key: 'stable' value: 1 } }\n"
        f"  config {{ name: 'cyc' base_path: '{exports['cyclegan']}' }}\n"
        f"  config {{ name: 'styles' base_path: '{exports['styles']}' }}\n"
        "}\n")
    srv = start_server(model_config_file=str(config), max_pixels=MAX_PIXELS, max_workers=8)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def stub(server):
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
    yield prediction_service_pb2_grpc.PredictionServiceStub(channel)
    channel.close()

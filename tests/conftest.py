"""Test set-up: two logical CPU devices (for the MirroredStrategy equivalence tests) before TensorFlow starts,
quiet logs, and the `slow` / `e2e` markers, skipped unless --run-slow / --run-e2e is given."""

import importlib.util
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The folder readers' validation cache goes to a folder of this test session, not the user's ~/.cache.
os.environ.setdefault("I2I_KERAS_CACHE_DIR", tempfile.mkdtemp(prefix="i2i-keras-test-cache-"))

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from i2i_keras.training.distribute import configure_devices  # noqa: E402

configure_devices(2)

# The modern lane (`make test-modern`) installs the library only: the pipeline and serving tests need the TFX and
# tensorflow-serving-api extras, so they are collected only where those are installed (`make test` always has them).
collect_ignore = [folder for module, folder in (("tfx", "pipeline"), ("tensorflow_serving", "serving"))
                  if importlib.util.find_spec(module) is None]

def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", help="run tests marked slow")
    parser.addoption("--run-e2e", action="store_true", help="run tests marked e2e")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: minutes-long test, run with --run-slow")
    config.addinivalue_line("markers", "e2e: end-to-end pipeline test, run with --run-e2e")
    config.addinivalue_line("markers", "learning: a method must learn on real embedded images (CPU budget about a "
                                       "minute); run by `make test`, left out of `make test-modern` with "
                                       "-m 'not learning' to keep CI short")


def pytest_collection_modifyitems(config, items):
    for marker in ("slow", "e2e"):
        if config.getoption(f"--run-{marker}"):
            continue
        skip = pytest.mark.skip(reason=f"needs --run-{marker}")
        for item in items:
            if marker in item.keywords:
                item.add_marker(skip)


@pytest.fixture(autouse=True)
def _float32_policy():
    """Each test starts (and ends) with the float32 dtype policy, whatever a previous test set."""
    import keras

    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture(scope="session")
def vgg16_offline():
    """Path of the offline VGG16 .npz (`python -m i2i_keras.weights fetch`, run by the bootstrap). Tests that need it
    skip when it is absent, except under I2I_REQUIRE_WEIGHTS=1 (`make test`, `make test-modern`), where they fail:
    there the bootstrap has fetched it, so its absence is a defect, not a machine without the weights."""
    from i2i_keras import weights

    if weights.offline_vgg16_available():
        return weights.offline_vgg16_path()
    message = f"offline VGG16 weights absent from {weights.weights_dir()} (run `{weights.FETCH_COMMAND}`)"
    if os.environ.get("I2I_REQUIRE_WEIGHTS") == "1":
        pytest.fail(f"{message}; I2I_REQUIRE_WEIGHTS=1 requires them")
    pytest.skip(message)

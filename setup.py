"""i2i_keras: image-to-image translation with Keras 3 and TensorFlow, a TFX/Beam pipeline and TF Serving export.

Core install needs only TensorFlow, Keras, NumPy, PyYAML and TensorBoard. Extras:
  [pipeline]  TFX 1.16 + Apache Beam (ingestion, distributed training pipeline)
  [serving]   tensorflow-serving-api (gRPC/REST client and development server)
  [test]      pytest, scikit-image (tests, benchmarks)
Exact versions that are known to work together live in requirements/constraints-*.txt.
"""

import os

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))
# Checkout folder -> installed import package. The checkout keeps its layout (configs/, pipeline/, serving/ at the
# top); installed, `configs/` is the package data `i2i_keras.configs` (the single source of the YAML files), and
# pipeline/ and serving/ get names that cannot collide with other distributions' generic top-level packages.
# Their code imports its own package relatively, so it runs under either name.
RENAMED = {"i2i_keras_pipeline": "pipeline", "i2i_keras_serving": "serving"}
CONFIGS_PACKAGE = "i2i_keras.configs"


def _packages() -> list:
    packages = find_packages(where=HERE, include=["i2i_keras", "i2i_keras.*"])
    for name, folder in RENAMED.items():
        packages += [name] + [f"{name}.{sub}" for sub in find_packages(where=os.path.join(HERE, folder))]
    return packages + [CONFIGS_PACKAGE]  # a data-only package (no __init__.py): importlib finds it as a namespace


setup(
    name="i2i_keras",
    version="0.1.0",
    description="Image-to-image translation methods as Keras 3 models, with TFX pipeline and TF Serving export",
    long_description=open("README.md", encoding="utf-8").read() if __import__("os").path.exists("README.md") else "",
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=_packages(),
    package_dir={CONFIGS_PACKAGE: "configs", **RENAMED},
    package_data={"i2i_keras.data": ["embedded/README.md", "embedded/*/LICENSE", "embedded/styles/*.png",
                                     "embedded/styles/*.jpg", "embedded/*/*/*.png",
                                     "embedded/*/*/*/*.png", "embedded/*/*/*/*/*.png"],
                  CONFIGS_PACKAGE: ["*.yaml", "*/*.yaml", "*/*/*.yaml"]},
    include_package_data=True,
    # tensorboard: the training loop writes summaries (TF >= 2.20 no longer installs it with tensorflow).
    install_requires=["tensorflow>=2.16", "keras>=3.3", "numpy", "pyyaml", "tensorboard"],
    extras_require={
        "pipeline": ["tfx==1.16.0", "apache-beam>=2.74", "dill", "kfp-pipeline-spec", "tensorflow-datasets"],
        "serving": ["tensorflow-serving-api>=2.16", "grpcio"],
        "test": ["pytest", "pytest-xdist", "scikit-image"],
    },
)

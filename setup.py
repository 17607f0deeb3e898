"""i2i_keras: image-to-image translation with Keras 3 and TensorFlow, a TFX/Beam pipeline and TF Serving export.

Core install needs only TensorFlow, Keras, NumPy, PyYAML and TensorBoard. Extras:
  [pipeline]  TFX 1.16 + Apache Beam (ingestion, distributed training pipeline)
  [serving]   tensorflow-serving-api (gRPC/REST client and development server)
  [test]      pytest, scikit-image (tests, benchmarks)
Exact versions that are known to work together live in requirements/constraints-*.txt.
"""

from setuptools import find_packages, setup

setup(
    name="i2i_keras",
    version="0.1.0",
    description="Image-to-image translation methods as Keras 3 models, with TFX pipeline and TF Serving export",
    long_description=open("README.md", encoding="utf-8").read() if __import__("os").path.exists("README.md") else "",
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["i2i_keras", "i2i_keras.*", "pipeline", "pipeline.*", "serving", "serving.*"]),
    package_data={"i2i_keras.data": ["embedded/README.md", "embedded/*/LICENSE", "embedded/*/*/*.png",
                                     "embedded/*/*/*/*.png"]},
    include_package_data=True,
    # tensorboard: the training loop writes summaries (TF >= 2.20 no longer installs it with tensorflow).
    install_requires=["tensorflow>=2.16", "keras>=3.3", "numpy", "pyyaml", "tensorboard"],
    extras_require={
        "pipeline": ["tfx==1.16.0", "apache-beam>=2.74", "dill", "kfp-pipeline-spec", "tensorflow-datasets"],
        "serving": ["tensorflow-serving-api>=2.16", "grpcio"],
        "test": ["pytest", "pytest-xdist", "scikit-image"],
    },
)

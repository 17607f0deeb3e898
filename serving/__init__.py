"""Serving tools for i2i_keras exports.

- `serving.client`: a TF Serving client (gRPC PredictionService and the REST API) for the `<mode>_bytes` signatures.
- `serving.dev_server`: a DEVELOPMENT server that speaks the same gRPC and REST APIs, for machines without the
  TF Serving binary. Production uses the official TF Serving container (see serving/README.md).
"""

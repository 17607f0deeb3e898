"""Serving tools for i2i_keras exports.

- `client`: a TF Serving client (gRPC PredictionService and the REST API) for the `<mode>_bytes` signatures.
- `dev_server`: a DEVELOPMENT server that speaks the same gRPC and REST APIs, for machines without the
  TF Serving binary (its pieces: `server`, `model_config`, `model_manager`, `predictor`, `image_headers`,
  `grpc_service`, `rest_codec`, `rest_server`). Production uses the official TF Serving container (see
  serving/README.md).
- `errors` (the exception types, each with a `code`) and `common` (what client and server share).

The package imports itself relatively and never imports the `i2i_keras` library, so it also works installed under
another top-level name.
"""

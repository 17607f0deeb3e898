"""The TFX pipeline over i2i_keras: ingestion, training, evaluation and push (see pipeline/README.md)."""

"""Custom TFX components: `ingest.ImageIngest` (Beam) and `evaluate.ImageEvaluator`."""

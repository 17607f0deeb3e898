"""Reliability tests: bad inputs, failures and limits, across the library, the pipeline and serving."""

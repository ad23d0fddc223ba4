"""Metric functions of the task families: pure numpy, one module per family."""

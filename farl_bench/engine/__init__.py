"""Protocols (linear / frozen / finetune), feature extraction and the run loop."""
from farl_bench.engine import linear, trainer  # noqa: F401  (registers)
from farl_bench.engine import knn  # noqa: F401  (registers)
from farl_bench.engine import zeroshot  # noqa: F401  (registers)
from farl_bench.engine.protocol import Protocol, ProtocolJob, ProtocolResult

__all__ = ["Protocol", "ProtocolJob", "ProtocolResult"]

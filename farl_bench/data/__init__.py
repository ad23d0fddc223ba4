"""Face records, dataset readers, image loading and crops, subsets, synthetic data."""
from farl_bench.data.records import DatasetSplits, FaceRecord

__all__ = ["DatasetSplits", "FaceRecord"]

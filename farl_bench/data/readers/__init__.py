"""Dataset readers, one module each, registered in `farl_bench.registry.DATASETS`.

A reader is a class with a `folder` (its default directory under the data root) and
`read(root) -> DatasetSplits`; it reads the dataset's original files and refuses a malformed
tree with one UserError naming the file and what was expected.
"""
from farl_bench.data.readers import celeba  # noqa: F401  (registers)

"""Dataset readers, one module each, registered in `farl_bench.registry.DATASETS`.

A reader is a class with a `folder` (its default directory under the data root) and
`read(root) -> DatasetSplits`; it reads the dataset's original files and refuses a malformed
tree with one UserError naming the file and what was expected.
"""
from farl_bench.data.readers import celeba  # noqa: F401  (registers)
from farl_bench.data.readers import lapa  # noqa: F401  (registers)
from farl_bench.data.readers import celebamask_hq  # noqa: F401  (registers)
from farl_bench.data.readers import w300  # noqa: F401  (registers)
from farl_bench.data.readers import wflw  # noqa: F401  (registers)
from farl_bench.data.readers import aflw19  # noqa: F401  (registers)
from farl_bench.data.readers import lfwa  # noqa: F401  (registers)
from farl_bench.data.readers import utkface  # noqa: F401  (registers)
from farl_bench.data.readers import appa_real  # noqa: F401  (registers)
from farl_bench.data.readers import fgnet  # noqa: F401  (registers)
from farl_bench.data.readers import morph2  # noqa: F401  (registers)
from farl_bench.data.readers import rafdb  # noqa: F401  (registers)
from farl_bench.data.readers import affectnet  # noqa: F401  (registers)
from farl_bench.data.readers import ferplus  # noqa: F401  (registers)
from farl_bench.data.readers import fer2013  # noqa: F401  (registers)
from farl_bench.data.readers import fairface  # noqa: F401  (registers)

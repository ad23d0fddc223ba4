"""One module per dataset format; WRITERS maps each dataset key to its writer."""
from __future__ import annotations

from . import affectnet, aflw, appa_real, celeba, celebamask_hq, fairface, ferplus, lapa, rafdb, utkface, w300, wflw
from .common import DatasetWriter

WRITERS: dict[str, DatasetWriter] = {
    m.WRITER.key: m.WRITER
    for m in (lapa, celebamask_hq, w300, wflw, aflw, celeba, utkface, appa_real, rafdb, affectnet, ferplus,
              fairface)
}

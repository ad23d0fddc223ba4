"""Where published weights come from, and the provenance string every backbone carries in `weights`.

Two sources: the Hugging Face cache, through huggingface_hub (HF_HOME, HF_HUB_CACHE and HF_HUB_OFFLINE
honoured), and plain URLs, fetched once into torch's hub cache (TORCH_HOME). A file that cannot be had
is one line naming it, where it was looked for, and the two ways out.

Provenance: ``random-init``, ``file <sha256>``, ``hub <repo>@<revision> <sha256>``, ``url <url> <sha256>``.
"""
from __future__ import annotations

import http.client
import logging
import os
import shutil
import urllib.request
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

import huggingface_hub
import torch
from huggingface_hub import constants as hub_constants
from huggingface_hub.errors import (HfHubHTTPError, LocalEntryNotFoundError, RemoteEntryNotFoundError,
                                    RepositoryNotFoundError, RevisionNotFoundError)

from farl_bench.backbones.base import sha256_file
from farl_bench.errors import UserError

log = logging.getLogger(__name__)

RANDOM_INIT = "random-init"
WEIGHTS_OPTION = "?weights=PATH"


def file_weights(sha256: str) -> str:
    return f"file {sha256}"


def ways_out(local: str) -> str:
    return f"Either give a local copy with {local}, or fill the cache"


def hub_file(spec: object, repo: str, filenames: list[str], local: str = WEIGHTS_OPTION) -> tuple[Path, str]:
    """The first of `filenames` that Hub repo `repo` (``org/name[@revision]``) has, from the cache or
    the Hub; returns its path and its provenance string. `local` says how to name a local copy instead."""
    repo_id, _, revision = repo.partition("@")
    folder = Path(hub_constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}"
    not_cached = []
    for name in filenames:
        try:
            path = Path(huggingface_hub.hf_hub_download(repo_id, name, revision=revision or None))
        except RemoteEntryNotFoundError:
            continue  # the repo has no such file: try the next name
        except LocalEntryNotFoundError:  # offline, or the Hub unreachable, and not in the cache
            not_cached.append(name)
            continue
        except RevisionNotFoundError:
            raise UserError(f"backbone {spec}: Hugging Face repo {repo_id} has no revision {revision!r}") from None
        except RepositoryNotFoundError:
            raise UserError(f"backbone {spec}: no Hugging Face repo {repo_id} (or it is gated: log in with "
                            "`hf auth login` after accepting its terms)") from None
        except HfHubHTTPError as err:
            raise UserError(f"backbone {spec}: the Hugging Face Hub refused {repo_id}/{name} "
                            f"({str(err).splitlines()[0]}). {ways_out(local)} (run once where the Hub "
                            "is reachable).") from None
        # snapshots/<commit>/<name>: the folder names the exact revision that was read
        parts = path.parts
        commit = parts[parts.index("snapshots") + 1] if "snapshots" in parts else revision or "unknown"
        return path, f"hub {repo_id}@{commit} {sha256_file(path)}"
    if not_cached:
        why = "HF_HUB_OFFLINE is set" if hub_constants.HF_HUB_OFFLINE else "the Hub is unreachable"
        raise UserError(f"backbone {spec}: needs {not_cached[0]} of Hugging Face repo {repo_id}, which is not in "
                        f"the cache {folder} and {why}. {ways_out(local)} (`hf download {repo_id} {not_cached[0]}` "
                        "with the same HF_HOME, where the Hub is reachable).")
    raise UserError(f"backbone {spec}: Hugging Face repo {repo_id} has none of {', '.join(filenames)}")


def url_file(spec: object, url: str, check: Callable[[Path], object], local: str = WEIGHTS_OPTION) -> tuple[Path, str]:
    """`url`'s file in torch's hub cache, fetched once if absent; returns its path and provenance.

    The download lands beside the cache file and is renamed into place only once complete and
    passed by `check` (which raises UserError); anything else is deleted and refused.
    """
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    path = cache / Path(urlparse(url).path).name
    if not path.is_file():
        fetch(spec, url, path, check, local)
    return path, f"url {url} {sha256_file(path)}"


def fetch(spec: object, url: str, path: Path, check: Callable[[Path], object], local: str) -> None:
    if hub_constants.HF_HUB_OFFLINE:
        raise UserError(f"backbone {spec}: needs {path.name}, which is not in the cache {path.parent} and "
                        f"HF_HUB_OFFLINE is set, so {url} is not fetched. {ways_out(local)}: put the file there.")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    log.info("fetching %s into %s", url, path)
    try:
        download(url, partial)
        check(partial)
        os.replace(partial, path)
    except (OSError, http.client.HTTPException) as err:  # unreachable, HTTP errors, truncated bodies
        raise UserError(f"backbone {spec}: could not fetch {url} into {path} ({type(err).__name__}: {err}); "
                        f"nothing was cached. {ways_out(local)}: put the file there.") from None
    except UserError as err:
        raise UserError(f"backbone {spec}: the download of {url} was refused: {err}; nothing was cached") from None
    finally:
        partial.unlink(missing_ok=True)


def download(url: str, path: Path) -> None:
    """`url` into `path`, refusing a body shorter than its Content-Length: a cut connection ends the
    read quietly, and torch.hub.download_url_to_file would keep what came."""
    with urllib.request.urlopen(url, timeout=60) as response, open(path, "wb") as out:
        shutil.copyfileobj(response, out, 1 << 20)
        expected = response.headers.get("Content-Length")
    if expected is not None and path.stat().st_size != int(expected):
        raise OSError(f"the connection ended after {path.stat().st_size} of {expected} bytes")

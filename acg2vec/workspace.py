"""The workspace: one root under which every stage reads and writes (see the README's architecture).

raw/<source>/<kind>-<shard>.jsonl.gz        crawl output
raw/safebooru/files/<md5[:2]>/<md5>.<ext>   downloaded images
datasets/<tfds name>/<config>/<version>/    TFDS datasets
models/<name>/                              exported models
eval/<run>/                                 reports
index/<name>/                               what ``serve`` searches: images, works, tags
jobs/<source>/                              a crawl's resumable job state
cache/<kind>/                               caches that can be deleted (http/<source>, hf_datasets, ...)
logs/                                       one log file per command run
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from acg2vec.errors import UserError

DEFAULT_WORKDIR = "./acg2vec-data"
ENV_VAR = "ACG2VEC_HOME"


def default_workdir() -> str:
    """``$ACG2VEC_HOME`` if set, else ``./acg2vec-data``."""
    return os.environ.get(ENV_VAR) or DEFAULT_WORKDIR


def is_remote(path: str) -> bool:
    """True for a URL-style path (gs://, s3://, ...) that the local file system cannot open."""
    return "://" in str(path)


@dataclass(frozen=True, slots=True)
class Workspace:
    """Paths inside a workdir. Remote roots (gs://, s3://) are kept as strings."""

    root: str

    @classmethod
    def at(cls, workdir: str | os.PathLike[str] | None = None) -> Workspace:
        root = str(workdir) if workdir is not None else default_workdir()
        if not is_remote(root):
            root = str(Path(root).expanduser().resolve())
        return cls(root)

    def _join(self, *parts: str) -> str:
        if is_remote(self.root):
            return "/".join([self.root.rstrip("/"), *parts])
        return str(Path(self.root, *parts))

    def raw(self, source: str = "") -> str:
        return self._join("raw", source) if source else self._join("raw")

    def datasets(self) -> str:
        return self._join("datasets")

    def models(self, name: str = "") -> str:
        return self._join("models", name) if name else self._join("models")

    def eval(self, run: str = "") -> str:
        return self._join("eval", run) if run else self._join("eval")

    def index(self, name: str = "") -> str:
        return self._join("index", name) if name else self._join("index")

    def jobs(self, source: str) -> str:
        return self._join("jobs", source)

    def cache(self, kind: str) -> str:
        """A cache folder; ``kind`` may name a sub-folder (``http/safebooru``)."""
        return self._join("cache", *kind.split("/"))

    def logs(self) -> str:
        return self._join("logs")

    def ensure(self) -> Workspace:
        """Create the local root and its logs folder (no-op for remote roots)."""
        if is_remote(self.root):
            return self
        root = Path(self.root)
        if root.exists() and not root.is_dir():
            raise UserError(f"The workdir {root} is a file, not a folder; give --workdir a folder.")
        try:
            Path(self.logs()).mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise UserError(f"Cannot create the workdir {root}: {err.strerror or err}.") from None
        if not os.access(self.logs(), os.W_OK):
            raise UserError(f"The workdir {root} is not writable; give --workdir a folder you can write to.")
        return self

"""The filesystem: POSIX operations mapped onto HCP requests (docs/SEMANTICS.md).

:class:`Filesystem` works on paths and handles over a :class:`Backend`; ``hcpfs.fs.fuse.mount``
serves it through FUSE (import that module only to mount: it loads libfuse).
"""

from hcpfs.fs.backend import Backend, BackendConnectionError, BackendError, IntegrityError
from hcpfs.fs.core import Filesystem, OpenFile
from hcpfs.fs.errors import FsError
from hcpfs.fs.options import Options, OptionsError, Overwrite

__all__ = [
    "Backend",
    "BackendConnectionError",
    "BackendError",
    "Filesystem",
    "FsError",
    "IntegrityError",
    "OpenFile",
    "Options",
    "OptionsError",
    "Overwrite",
]

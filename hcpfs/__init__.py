"""hcpfs: use a Hitachi Content Platform namespace as an ordinary directory."""

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

"""An HCP system on one machine, for tests, demos and trying hcpfs without a real HCP.

``Emulator`` runs one system with one or more nodes, or a primary and a replica joined by a
replication link, with HTTPS, a management API and DNS when asked; ``SystemConfig`` describes a
system's tenants, namespaces and users. See ``docs/emulator.md``.
"""

from hcpfs.emulator.config import (
    ManagementUserConfig,
    NamespaceConfig,
    RetentionClass,
    SystemConfig,
    TenantConfig,
    UserConfig,
)
from hcpfs.emulator.emulator import Emulator
from hcpfs.emulator.errors import ConfigError, HcpError
from hcpfs.emulator.faults import Faults
from hcpfs.emulator.system import System

__all__ = [
    "ConfigError",
    "Emulator",
    "Faults",
    "HcpError",
    "ManagementUserConfig",
    "NamespaceConfig",
    "RetentionClass",
    "System",
    "SystemConfig",
    "TenantConfig",
    "UserConfig",
]

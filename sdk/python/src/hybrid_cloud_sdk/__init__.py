"""The import name the API contract's Python example uses (``from hybrid_cloud_sdk import
HybridCloudClient``): the same package as ``hybridcloud_sdk``."""

from hybridcloud_sdk import *  # noqa: F403
from hybridcloud_sdk import __all__, __version__  # noqa: F401

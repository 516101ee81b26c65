"""Python SDK for the hybridcloud REST API: ``HybridCloudClient`` and ``AsyncHybridCloudClient``,
typed models generated from the API's OpenAPI document, typed errors."""

from __future__ import annotations

from ._core import RetryPolicy
from .auth import ClientCredentials
from .client import AsyncHybridCloudClient, HybridCloudClient
from .errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    EndpointNotAvailableError,
    HybridCloudError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    ServiceUnavailableError,
    WaitTimeoutError,
)
from .streaming import StreamEvent

__version__ = "0.1.0"

__all__ = [
    "APIConnectionError", "APIError", "APITimeoutError", "AsyncHybridCloudClient",
    "AuthenticationError", "BadRequestError", "ClientCredentials", "ConflictError",
    "EndpointNotAvailableError", "HybridCloudClient", "HybridCloudError", "NotFoundError",
    "PermissionDeniedError", "RateLimitedError", "RetryPolicy", "ServerError",
    "ServiceUnavailableError", "StreamEvent", "WaitTimeoutError", "__version__",
]

"""botocore failures as the platform's error classes, credentials redacted."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    HTTPClientError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
)

from hybridcloud.providers.base import (
    AuthenticationError,
    InvalidConfigurationError,
    PermanentError,
    ProviderError,
    QuotaExceededError,
    TransientError,
    redact,
    retry_after_header,
)

_THROTTLING = {"ThrottlingException", "Throttling", "TooManyRequestsException",
               "RequestLimitExceeded", "SlowDown"}
_AUTH = {"UnrecognizedClientException", "InvalidSignatureException", "SignatureDoesNotMatch",
         "InvalidClientTokenId", "ExpiredTokenException", "ExpiredToken", "AuthFailure",
         "MissingAuthenticationTokenException", "AccessDeniedException", "AccessDenied",
         "UnauthorizedOperation"}
_QUOTA = {"ResourceLimitExceededException", "LimitExceededException",
          "ServiceQuotaExceededException"}
_INVALID = {"InvalidParameterException", "InvalidParameterValue", "ValidationException",
            "UnsupportedAvailabilityZoneException"}
# The resource is busy with another operation (or not ready for this one): wait, then retry.
_CONFLICT = {"ResourceInUseException", "InvalidRequestException", "InvalidStateException"}


@contextmanager
def translated(secrets: Sequence[str]) -> Iterator[None]:
    """Turn SDK exceptions raised inside the block into provider errors."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, secrets) from None


def translate(exc: ClientError | BotoCoreError, secrets: Sequence[str]) -> ProviderError:
    if isinstance(exc, ClientError):
        return classify(exc, secrets)
    text = redact(str(exc), secrets)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return AuthenticationError(text)
    if isinstance(exc, ParamValidationError):
        return InvalidConfigurationError(text)
    if isinstance(exc, ConnectionError | HTTPClientError):  # timeouts, refused connections
        return TransientError(f"AWS unreachable: {text}")
    return PermanentError(text)


def classify(exc: ClientError, secrets: Sequence[str]) -> ProviderError:
    error = exc.response.get("Error", {})
    meta = exc.response.get("ResponseMetadata", {})
    code, status = str(error.get("Code", "")), int(meta.get("HTTPStatusCode") or 0)
    text = redact(f"{exc.operation_name}: {code}: {error.get('Message') or exc}", secrets)
    if code in _THROTTLING or status == 429:
        return TransientError(text, retry_after=retry_after_header(meta.get("HTTPHeaders")),
                              reason="Throttled")
    if status >= 500:
        return TransientError(text, retry_after=retry_after_header(meta.get("HTTPHeaders")))
    if code in _AUTH or status in (401, 403):
        return AuthenticationError(text)
    if code in _QUOTA:
        return QuotaExceededError(text)
    if code in _INVALID:
        return InvalidConfigurationError(text)
    if code in _CONFLICT:
        return TransientError(text, reason="OperationInProgress")
    return PermanentError(text)


"""API configuration from the environment (HYBRIDCLOUD_API_*), via pydantic-settings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HYBRIDCLOUD_API_")

    kubeconfig: str | None = Field(
        default=None, description="Kubeconfig of the API's own identity; in-cluster when unset.")
    default_namespace: str = Field(
        default="default",
        description="Namespace used when neither the request nor the caller's identity names one.")
    auth_cache_seconds: float = Field(
        default=10.0, ge=0, description="How long TokenReview/SubjectAccessReview answers are "
        "reused; revocations take effect within this time.")

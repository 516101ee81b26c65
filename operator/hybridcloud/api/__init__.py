"""The REST API: a thin FastAPI layer over the platform's custom resources (never imports kopf)."""

from .app import create_app

__all__ = ["create_app"]

"""Browser assets served by the package itself: nothing a page needs comes from a CDN.

Swagger UI (``/schema``) loads its script, styles and icon from ``/_assets/swagger-ui/``,
files shipped by the ``swagger-ui-bundle-v2`` distribution, so the API documentation works
on a machine without internet access.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router
from swagger_ui_bundle import swagger_ui_path

ASSETS_PATH = "/_assets"
SWAGGER_UI_PATH = f"{ASSETS_PATH}/swagger-ui"
SWAGGER_UI_FILES = (
    "swagger-ui-bundle.js",
    "swagger-ui-standalone-preset.js",
    "swagger-ui.css",
    "favicon-32x32.png",
)
"""The files the Swagger UI page loads (the bundle directory also holds source maps)."""

_ONE_DAY = CacheControlHeader(max_age=86_400, public=True)


def swagger_ui_directory() -> Path:
    """The directory of the Swagger UI build shipped with the package's dependencies."""
    return Path(swagger_ui_path)


def openapi_config(title: str) -> OpenAPIConfig:
    """OpenAPI at ``/schema``, with Swagger UI loading every file from this server."""
    plugin = SwaggerRenderPlugin(
        js_url=f"{SWAGGER_UI_PATH}/swagger-ui-bundle.js",
        css_url=f"{SWAGGER_UI_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{SWAGGER_UI_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{SWAGGER_UI_PATH}/favicon-32x32.png'>",
    )
    return OpenAPIConfig(title=title, version="1.0", path="/schema", render_plugins=[plugin])


def swagger_ui_router() -> Router:
    """Serves the Swagger UI files at ``/_assets/swagger-ui/``."""
    return create_static_files_router(
        SWAGGER_UI_PATH,
        directories=[swagger_ui_directory()],
        name="swagger-ui",
        cache_control=_ONE_DAY,
    )

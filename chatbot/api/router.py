"""The HTTP API on the web app: `/api/v1/...` (customer and staff endpoints) and the
OpenAI-compatible `/v1/chat/completions`, documented at `/api/docs` (`/api/openapi.json`).

Mounted by chatbot.web.app before the Gradio pages, which would otherwise take every path.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from chatbot.api import customer, openai_compat, staff
from chatbot.api.auth import ApiContext
from chatbot.api.errors import error_body
from chatbot.api.turns import TurnSlots
from chatbot.container import Services
from chatbot.staff.rate_limit import build_limiter

OPENAPI_URL = "/api/openapi.json"
DOCS_URL = "/api/docs"
# Swagger UI's own files, served from here: the app runs offline, and the pages' security
# policy lets them load scripts and images from this server only.
DOCS_ASSETS = "/api/docs-assets"
API_PREFIXES = ("/api/", "/v1/")


def install_api(app: FastAPI, services: Services) -> None:
    redis_url = services.settings.api.rate_limit_redis_url
    limiter = build_limiter(redis_url.get_secret_value() if redis_url else None)
    app.state.api = ApiContext(services, limiter, TurnSlots(services.settings.server.concurrency))
    routers = [customer.router, staff.router, openai_compat.router]
    for router in routers:
        app.include_router(router)

    @app.get(OPENAPI_URL, include_in_schema=False)
    def openapi() -> JSONResponse:
        routes = [route for router in routers for route in router.routes]
        schema = get_openapi(title="Support chat API", version="1", routes=routes)
        schema["components"] = schema.get("components", {})
        schema["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        schema["security"] = [{"bearer": []}]
        return JSONResponse(schema)

    import swagger_ui_bundle

    app.mount(DOCS_ASSETS, StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), "api-docs")

    @app.get(DOCS_URL, include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=OPENAPI_URL,
            title="Support chat API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )

    # Unknown API paths answer JSON, not the chat page's 404 (the "/" mount takes the rest).
    for prefix in API_PREFIXES:

        @app.api_route(
            f"{prefix}{{path:path}}",
            methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            include_in_schema=False,
        )
        def not_found(path: str) -> JSONResponse:
            return JSONResponse(error_body("not_found", "No such API endpoint."), status_code=404)

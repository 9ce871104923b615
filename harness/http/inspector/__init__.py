"""The inspector: ``/_inspector`` on the fake AB Tasty, a view of both fakes in a browser.

Server-rendered pages (Jinja templates, a little progressive JavaScript, CSS and JS shipped
in this package), each also served as JSON at ``<page>.json``; a live event stream over
Server-Sent Events. Every page is built from the services' public APIs.
"""

from harness.http.inspector.routes import inspector_routers
from harness.http.inspector.views import InspectorContext

__all__ = ["InspectorContext", "inspector_routers"]

"""Templates: one Jinja2 environment, escaping everything by default.

Every value from an agent or from Autodesk (hostnames, user names,
product names) reaches a page through a template, and autoescape turns
`<script>` in one into text. Nothing is ever marked safe by hand.
"""

from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import HTMLResponse

if TYPE_CHECKING:
    from jinja2 import Environment

# Nothing inline runs: scripts and styles come from /static alone, so an
# escaping mistake somewhere still could not run a script.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

# The navigation, in order: (label, path, who sees it). A new page area
# adds its line here.
NAVIGATION = (
    ("Dashboard", "/", "viewer"),
    ("Active sessions", "/sessions/active", "viewer"),
    ("Session history", "/sessions/history", "viewer"),
    ("Reports", "/reports", "viewer"),
    ("Agents", "/agents", "viewer"),
    ("Agent groups", "/agent-groups", "viewer"),
    ("License servers", "/license-servers", "viewer"),
    ("User mappings", "/user-mappings", "viewer"),
    ("Troubleshooting", "/troubleshoot", "viewer"),
    ("Accounts", "/admin/accounts", "admin"),
    ("API tokens", "/admin/tokens", "admin"),
)


@cache
def environment() -> "Environment":
    # Imported on first use: every `seatmeter` command imports the app,
    # and only a served page needs templates.
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(
        loader=PackageLoader("seatmeter.web", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["moment"] = moment
    env.filters["duration"] = duration
    env.globals["navigation"] = NAVIGATION
    return env


def render(
    request: Request,
    template: str,
    status: int = 200,
    *,
    form_targets: tuple[str, ...] = (),
    **context: Any,
) -> HTMLResponse:
    """A whole page, or only its `partial` block for an htmx request.

    `form_targets` are origins a form on the page may lead to besides this
    server, such as Autodesk's consent page: browsers apply form-action to
    where a form's answer redirects, too."""
    page = environment().get_template(template)
    values = {
        "request": request,
        "viewer": getattr(request.state, "viewer", None),
        "notice": request.query_params.get("notice"),
        **context,
    }
    wants_partial = request.headers.get("hx-request") == "true" and "partial" in page.blocks
    if wants_partial:
        html = "".join(page.blocks["partial"](page.new_context(values)))
    else:
        html = page.render(values)
    headers = SECURITY_HEADERS
    if form_targets:
        policy = SECURITY_HEADERS["Content-Security-Policy"] + " " + " ".join(form_targets)
        headers = {**SECURITY_HEADERS, "Content-Security-Policy": policy}
    return HTMLResponse(html, status_code=status, headers=headers)


def moment(value: datetime | None) -> str:
    """A time as people read it in a grid: UTC, to the second."""
    if value is None:
        return ""
    return value.strftime("%Y-%m-%d %H:%M:%S") + " UTC"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"

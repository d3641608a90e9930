"""The dashboard's HTTP routes, mounted on the router's app (``create_app``):

* ``GET /dashboard``: the page. It holds no figures: its script fetches every panel's JSON and draws
  it with Plotly (served from the ``plotly`` package, never a CDN).
* ``GET /dashboard/api``: the panel names; ``GET /dashboard/api/<panel>``: one panel's JSON
  (``academy.dashboard.panels`` documents the shape). Optional ``tenant`` (one tenant's traffic),
  ``bucket`` (``day`` or ``hour``, traffic panel) and ``by`` (``auto``, ``domain`` or ``cluster``,
  accuracy panel).
* ``GET /dashboard/static/<file>``: ``plotly.min.js``, ``dashboard.js``, ``dashboard.css``.

Auth follows the gateway: while ``Gateway.auth_required()`` (a key exists, or ``gateway.auth:
required``) the page and the JSON API need an **admin** key. The API takes it as ``Authorization:
Bearer``. A browser cannot send that header when it navigates, so the page also accepts ``?key=``;
its script then sends the key as the header on every API call. The trade-off: a key in a URL lands
in the browser's history and in the server's access log, so use an admin key made for the dashboard
(``academy gateway key create ... --admin``) and revoke it when done. The page is served with
``Referrer-Policy: no-referrer`` and ``Cache-Control: no-store`` so the key does not leak further.
"""

from __future__ import annotations

import html
import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from academy.gateway.db import GatewayError
from academy.openai_wire import openai_error

if TYPE_CHECKING:  # pandas and the panels load on the first dashboard request, not with the server
    from academy.dashboard.sources import Sources

PREFIX = "/dashboard"
STATIC = Path(__file__).parent / "static"
OWN_STATIC = ("dashboard.js", "dashboard.css")
PLOTLY = "plotly.min.js"
DEFAULT_REFRESH = 30  # seconds between re-fetches of every panel; ?refresh=0 stops it
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}

# (name, title, what it shows, wide): the page's panels, in order.
PANELS: tuple[tuple[str, str, str, bool], ...] = (
    ("traffic", "Traffic", "Queries by route (novel, familiar, cache) and shadow answers; who served them, "
     "by model and by role.", True),
    ("cost", "Cost vs always-teacher", "What Academy paid per query against what the teacher alone would "
     "have charged, and the savings so far.", False),
    ("supervisor", "Supervisor (judge) calls", "Judge calls per day by the supervisor and by the cheap "
     "judges it delegated to, and what judging cost.", False),
    ("accuracy", "Accuracy map", "Mean judge score per domain (or gap cluster) and model.", False),
    ("gaps", "Last night's gap report", "Traffic clusters ranked by what a good student would save; "
     "the selected gaps are tonight's training targets.", False),
    ("registry", "Promotions and roles", "Every recorded stage transition (promotions, rejections, "
     "rollbacks) and role change; what serves at @production now.", True),
    ("peer", "Peer learning", "Held-out exact match of students distilled with vs without a peer "
     "teacher's logits.", True),
)  # fmt: skip
PANEL_NAMES = tuple(p[0] for p in PANELS)

Auth = Annotated[str | None, Header()]
_sources_lock = threading.Lock()


def sources(request: Request) -> Sources:
    """The app's ``Sources``, made on the first dashboard request (no lifespan hook needed)."""
    from academy.dashboard.sources import Sources

    state = request.app.state
    with _sources_lock:
        if getattr(state, "dashboard", None) is None:
            state.dashboard = Sources(state.runtime.config)
    return state.dashboard


def authorize(request: Request, authorization: str | None, key: str | None = None) -> None:
    """Nothing while the gateway is open; else an admin key (header, or ``key`` from the URL)."""
    gateway = request.app.state.gateway
    if not gateway.auth_required():
        return
    gateway.require_admin(authorization or (f"Bearer {key}" if key else None))


def build_panel(src: Sources, name: str, tenant: str | None, bucket: str, by: str) -> dict[str, Any]:
    from academy.dashboard import panels

    cfg = src.config
    if name == "registry":
        return src.registry_panel()
    if name == "peer":
        return src.peer_panel()
    if name == "gaps":
        return src.gaps_panel()
    f = src.frames(tenant)
    if name == "traffic":
        return panels.traffic_panel(f.queries, f.answers, bucket)
    if name == "cost":
        teacher = cfg.teacher
        return panels.cost_panel(
            f.queries, f.answers, f.scores, teacher.name, teacher.price_in, teacher.price_out
        )
    if name == "supervisor":
        return panels.supervisor_panel(f.queries, f.answers, f.scores, cfg.judge.name)
    if name == "accuracy":
        return panels.accuracy_panel(f.queries, f.answers, f.scores, by, src.clusters())
    raise KeyError(name)


def build_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["dashboard"])

    @router.get("", response_class=HTMLResponse, include_in_schema=False)
    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page(
        request: Request,
        authorization: Auth = None,
        key: str | None = None,
        tenant: str | None = None,
        bucket: str = "day",
        refresh: Annotated[int, Query(ge=0, le=3600)] = DEFAULT_REFRESH,
    ) -> Response:
        try:
            authorize(request, authorization, key)
        except GatewayError as exc:
            return HTMLResponse(refusal_page(exc), status_code=exc.status, headers=PRIVATE)
        root = request.scope.get("root_path", "").rstrip("/")
        settings = {
            "api": f"{root}{PREFIX}/api",
            "panels": list(PANEL_NAMES),
            "refresh": refresh,
            "tenant": tenant,
            "bucket": bucket if bucket in ("day", "hour") else "day",
            "auth": request.app.state.gateway.auth_required(),
        }
        return HTMLResponse(page_html(settings, f"{root}{PREFIX}/static"), headers=PRIVATE)

    @router.get("/api")
    def panel_index(request: Request, authorization: Auth = None) -> Response:
        try:
            authorize(request, authorization)
        except GatewayError as exc:
            return refusal_json(exc)
        return JSONResponse({"panels": list(PANEL_NAMES)}, headers=PRIVATE)

    @router.get("/api/{name}")
    def panel_json(
        name: str,
        request: Request,
        authorization: Auth = None,
        tenant: str | None = None,
        bucket: str = "day",
        by: str = "auto",
    ) -> Response:
        try:
            authorize(request, authorization)
        except GatewayError as exc:
            return refusal_json(exc)
        if name not in PANEL_NAMES:
            return openai_error(404, f"no dashboard panel {name!r}; panels: {', '.join(PANEL_NAMES)}")
        if bucket not in ("day", "hour"):
            return openai_error(400, "bucket must be 'day' or 'hour'", "bucket")
        if by not in ("auto", "domain", "cluster"):
            return openai_error(400, "by must be 'auto', 'domain' or 'cluster'", "by")
        body = build_panel(sources(request), name, tenant, bucket, by)
        return JSONResponse(body, headers=PRIVATE)

    @router.get("/static/{file}", include_in_schema=False)
    def static(file: str) -> Response:
        if file == PLOTLY:
            return FileResponse(plotly_js(), media_type="text/javascript", headers=CACHED)
        if file in OWN_STATIC:
            kind = "text/javascript" if file.endswith(".js") else "text/css"
            return FileResponse(STATIC / file, media_type=kind, headers={"Cache-Control": "no-cache"})
        return openai_error(404, f"no static file {file!r}")

    return router


CACHED = {"Cache-Control": "public, max-age=86400"}


def plotly_js() -> Path:
    """Plotly's bundled JavaScript from the installed ``plotly`` package (offline, version-pinned)."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / PLOTLY


def refusal_json(exc: GatewayError) -> JSONResponse:
    response = openai_error(exc.status, f"{exc} (the dashboard needs an admin key)", code=exc.code)
    response.headers.update(PRIVATE)
    return response


def refusal_page(exc: GatewayError) -> str:
    what = "Unauthorized" if exc.status == 401 else "Forbidden"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{exc.status} {what} · Academy dashboard</title>
<link rel="stylesheet" href="{PREFIX}/static/dashboard.css"></head>
<body class="refused"><main>
<h1>{exc.status} {what}</h1>
<p id="refusal">{html.escape(str(exc))}</p>
<p>API keys exist on this router, so the dashboard needs an <strong>admin</strong> key. Open
<code>{PREFIX}?key=&lt;admin key&gt;</code> (the page then sends it as <code>Authorization: Bearer</code>
to its JSON API), or send the header yourself. Make one with
<code>academy gateway key create --tenant &lt;tenant&gt; --admin</code>.</p>
</main></body></html>
"""


def page_html(settings: dict[str, Any], static: str) -> str:
    sections = "\n".join(
        f"""<section class="panel{" wide" if wide else ""}" id="panel-{name}" data-panel="{name}" data-state="loading">
  <header><h2>{html.escape(title)}</h2><p class="about">{html.escape(about)}</p></header>
  <div class="status">loading…</div>
  <dl class="summary"></dl>
  <div class="charts"></div>
  <div class="tables"></div>
  <footer><p class="source"></p><ul class="notes"></ul></footer>
</section>"""
        for name, title, about, wide in PANELS
    )
    config = json.dumps(settings).replace("</", "<\\/")
    tenant = html.escape(settings["tenant"] or "")
    day = " selected" if settings["bucket"] == "day" else ""
    hour = " selected" if settings["bucket"] == "hour" else ""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Academy · the school, live</title>
<link rel="stylesheet" href="{static}/dashboard.css">
<script src="{static}/{PLOTLY}"></script>
</head>
<body>
<header class="top">
  <h1>Academy <span>the school, live</span></h1>
  <form id="filters">
    <label>tenant <input name="tenant" value="{tenant}" placeholder="all"></label>
    <label>traffic per <select name="bucket"><option value="day"{day}>day</option><option value="hour"{hour}>hour</option></select></label>
    <button type="submit">apply</button>
  </form>
  <p class="updated">updated <span id="updated">never</span></p>
</header>
<main class="grid">
{sections}
</main>
<script id="dashboard-config" type="application/json">{config}</script>
<script src="{static}/dashboard.js"></script>
</body>
</html>
"""

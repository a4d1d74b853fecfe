"""`voicebot report --html FILE`: the KPI page as one stand-alone file (its stylesheet
inside, no script, no links), rendered by the console's own template from the same
figures, outside any request."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from voicebot.records.kpis import Kpis
from voicebot.service.console.formats import FILTERS
from voicebot.service.console.kpi_page import kpi_charts


def render_report(kpis: Kpis) -> str:
    env = Environment(loader=PackageLoader("voicebot.service.console", "templates"),
                      autoescape=select_autoescape(["html"]))
    env.filters.update(FILTERS)
    sheet = resources.files("voicebot.service.console").joinpath("static/console.css")
    css = Markup(sheet.read_text(encoding="utf-8"))  # the package's own stylesheet
    return env.get_template("console/report.html").render(
        k=kpis, f=kpis.figures, charts=kpi_charts(kpis), css=css)


def write_report(kpis: Kpis, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(kpis), encoding="utf-8")

"""The Flask app factory: load the shared Service once, then serve Twilio and the API."""

from __future__ import annotations

import logging

from flask import Flask

from voicebot import logs
from voicebot.flow.model import Flow
from voicebot.logs import log_event
from voicebot.records.retention import Retention
from voicebot.records.store import CallStore
from voicebot.service import (
    auth,
    console,
    health,
    routes_admin,
    routes_api,
    routes_metrics,
    routes_twilio,
)
from voicebot.service.housekeeping import Housekeeper
from voicebot.service.runtime import load_service
from voicebot.settings import Settings
from voicebot.speech.types import Engine
from voicebot.telephony.driver import Renderer

log = logging.getLogger("voicebot.app")


def create_app(settings: Settings, *, engine: Engine | None = None, flow: Flow | None = None,
               renderer: Renderer | None = None, store: CallStore | None = None) -> Flask:
    """Build the service. Raises VoicebotError subclasses (FlowError, SettingsError...).

    The Service is `app.extensions["voicebot"]`; the routes get it passed in, not from here.
    """
    svc = load_service(settings, engine=engine, flow=flow, renderer=renderer, store=store)
    app = Flask("voicebot")
    app.extensions["voicebot"] = svc
    app.register_blueprint(routes_twilio.make_blueprint(svc))
    app.register_blueprint(routes_api.make_blueprint(svc))
    app.register_blueprint(routes_admin.make_blueprint(svc))
    app.register_blueprint(health.make_blueprint(svc))
    app.register_blueprint(routes_metrics.make_blueprint(svc))
    console.install(app, svc)
    routes_api.register_json_errors(app)
    auth.install(app, svc.auth)
    housekeeper = Housekeeper(svc.store, Retention.from_settings(settings),
                              settings.purge_every_s)
    housekeeper.start()
    app.extensions["voicebot_housekeeper"] = housekeeper
    log_event(log, "service.ready", flow=svc.flow.name, flow_version=svc.flow.version,
              engine=getattr(svc.engine, "name", "?"), model=getattr(svc.engine, "model", "?"),
              public_url=settings.public_url, queues=sorted(svc.allowed_queues),
              db=svc.store.describe())
    return app


def close(app: Flask) -> None:
    """Stop the scheduled purge (waiting for a round under way), then close the records."""
    app.extensions["voicebot_housekeeper"].stop()
    app.extensions["voicebot"].store.close()


def wsgi() -> Flask:
    """Entry point for WSGI servers. `voicebot serve` runs gunicorn itself; by hand it is
    `gunicorn -k voicebot.service.server.DrainingWorker --threads 64 'voicebot.service.app:wsgi()'`
    (that worker class is what makes SIGTERM drain)."""
    settings = Settings.from_env()
    settings.require_serving()
    logs.configure(settings.log_level, settings.log_format)
    return create_app(settings)

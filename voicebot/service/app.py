"""The Flask app factory: load the shared Service once, then serve Twilio and the API."""

from __future__ import annotations

import logging

from flask import Flask

from voicebot import logs
from voicebot.flow.model import Flow
from voicebot.logs import log_event
from voicebot.records.store import CallStore
from voicebot.service import health, routes_api, routes_twilio
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
    app.register_blueprint(health.make_blueprint(svc))
    log_event(log, "service.ready", flow=svc.flow.name, flow_version=svc.flow.version,
              engine=getattr(svc.engine, "name", "?"), model=getattr(svc.engine, "model", "?"),
              public_url=settings.public_url, queues=sorted(svc.allowed_queues),
              db=svc.store.describe())
    return app


def wsgi() -> Flask:
    """Entry point for WSGI servers (gunicorn -k gthread ... 'voicebot.service.app:wsgi()')."""
    settings = Settings.from_env()
    settings.require_serving()
    logs.configure(settings.log_level, settings.log_format)
    return create_app(settings)

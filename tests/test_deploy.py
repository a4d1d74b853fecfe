"""deploy/: the nginx configuration is valid for nginx itself, and the compose file, the
Dockerfile and the nginx upstreams agree with each other and with the settings."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
import yaml

from tests.multihost import NGINX_CONF, nginx_check, nginx_config
from voicebot.settings import variables

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def test_nginx_accepts_the_deployed_configuration(tmp_path):
    if shutil.which("nginx") is None:
        message = "nginx is not installed: `apt-get install nginx` (scripts/setup.sh does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    config = tmp_path / "nginx.conf"
    # the compose file's instance names do not resolve here: the same file, local ports
    config.write_text(nginx_config([18081, 18082], 18080))
    done = nginx_check(config, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr


def test_compose_dockerfile_and_nginx_agree():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    instances = sorted(name for name in services if re.fullmatch(r"voicebot\d+", name))
    upstreams = re.findall(r"server (voicebot\d+):(\d+)", NGINX_CONF.read_text())
    assert instances == sorted(name for name, _ in upstreams) and len(instances) >= 2
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert {port for _, port in upstreams} == set(re.findall(r"VOICEBOT_PORT=(\d+)",
                                                            dockerfile))
    assert 'CMD ["voicebot", "serve"]' in dockerfile
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in services["nginx"]["volumes"]
    assert services["migrate"]["command"] == ["voicebot", "db", "upgrade"]
    for name in instances:  # no instance starts before the schema is upgraded
        assert services[name]["depends_on"]["migrate"]["condition"] == \
            "service_completed_successfully"
        env = services[name]["environment"]
        assert env["VOICEBOT_DATABASE_URL"].startswith("postgresql://")
        assert {"VOICEBOT_HASH_KEY", "VOICEBOT_PUBLIC_URL", "TWILIO_AUTH_TOKEN"} <= set(env)
    known = {var.env for var, _ in variables()}
    used = set(services[instances[0]]["environment"]) | set(
        re.findall(r"(VOICEBOT_[A-Z_]+)=", dockerfile))
    assert used <= known, used - known

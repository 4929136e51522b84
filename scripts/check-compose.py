#!/usr/bin/env python3
"""Static checks of compose.yaml and the Dockerfile, for machines without a Docker engine:
the file parses, every service has what it needs, and the image builds the workspace's bins."""
import pathlib
import re
import sys

import yaml

root = pathlib.Path(__file__).resolve().parent.parent
errors = []
compose = yaml.safe_load((root / "compose.yaml").read_text())
services = compose.get("services", {})
for name in ["postgres", "rabbitmq", "ingress", "worker", "notifier", "kyte-sim"]:
    if name not in services:
        errors.append(f"service {name} is missing")
for name, svc in services.items():
    if "image" not in svc and "build" not in svc:
        errors.append(f"{name}: neither image nor build")
    if "healthcheck" not in svc:
        errors.append(f"{name}: no healthcheck")
for name in ["ingress", "worker", "notifier"]:
    svc = services.get(name, {})
    env = svc.get("environment", {})
    for var in ["DATABASE_URL", "AMQP_URL"]:
        if var not in env:
            errors.append(f"{name}: {var} not set")
    deps = svc.get("depends_on", {})
    for dep in ["postgres", "rabbitmq"]:
        if deps.get(dep, {}).get("condition") != "service_healthy":
            errors.append(f"{name}: does not wait for {dep} to be healthy")
    if svc.get("command", [None])[0] != name:
        errors.append(f"{name}: command does not run the {name} binary")
if services.get("worker", {}).get("ports"):
    errors.append("worker publishes host ports, so --scale worker=N would clash")
if "KYTE_WEBHOOK_URL" not in services.get("notifier", {}).get("environment", {}):
    errors.append("notifier: KYTE_WEBHOOK_URL not set")

dockerfile = (root / "Dockerfile").read_text()
if "cargo build --release --locked --bins" not in dockerfile:
    errors.append("Dockerfile does not build with `cargo build --release --locked --bins`")
if not re.search(r"^USER\s+\S+", dockerfile, re.M) or re.search(r"^USER\s+root", dockerfile, re.M):
    errors.append("Dockerfile's runtime stage must run as a non-root USER")
for binary in ["ingress", "worker", "notifier", "kyte-sim"]:
    if f"/release/{binary}" not in dockerfile:
        errors.append(f"Dockerfile does not ship {binary}")
env_example = (root / ".env.example").read_text()
for var in ["STAFF_TOKENS", "KYTE_INBOUND_SECRET", "KYTE_WEBHOOK_SECRET"]:
    if f"{var}=" not in env_example:
        errors.append(f".env.example does not set {var}")

for e in errors:
    print(f"compose check: {e}", file=sys.stderr)
print(f"compose check: {len(services)} services, {'ok' if not errors else 'FAILED'}")
sys.exit(1 if errors else 0)

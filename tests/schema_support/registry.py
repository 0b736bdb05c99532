#!/usr/bin/env python3
"""A Confluent-compatible schema registry for the tests: a test double.

No real registry (Confluent Schema Registry, Karapace, Apicurio) can be
installed on the test machines, so the tests run this one. It implements, as
the Confluent Schema Registry API reference describes them, the calls that
clients make: register (POST /subjects/{s}/versions), look up (POST
/subjects/{s}), schema by ID (GET /schemas/ids/{id}, with `schemaType`
absent for Avro and `references`, and its /versions and /subjects), a
subject's versions (GET /subjects/{s}/versions/{v|latest}), the lists of
subjects and versions, basic auth, the application/vnd.schemaregistry.v1+json
content type, the error bodies ({"error_code": 40403, "message": ...}), and
HTTPS with a given certificate. `format=serialized` on a Protobuf schema
stored as .proto text answers the base64 FileDescriptorProto (compiled with
grpc_tools when it is installed), as Confluent's own Python serializer asks.

Standard library only (grpc_tools optional). Usage:
  registry.py [--port N] [--user U --password P] [--cert PEM --key PEM]
              [--delay SECONDS] [--state FILE] [--load FILE]
Prints "listening on PORT" once it accepts connections. --state writes
every schema registered to FILE (JSON) as it goes; --load starts from one.
"""

import argparse
import base64
import json
import os
import re
import ssl
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class Store:
    """Schemas by ID, and each subject's versions (schema IDs in order)."""

    def __init__(self, state=None):
        self.lock = threading.Lock()
        self.schemas = {}  # id -> {"schema", "schemaType", "references"}
        self.subjects = {}  # subject -> [id, ...] (version n is index n-1)
        self.state = state

    def load(self, path):
        with open(path) as f:
            data = json.load(f)
        self.schemas = {int(k): v for k, v in data["schemas"].items()}
        self.subjects = data["subjects"]

    def save(self):
        if not self.state:
            return
        data = {
            "schemas": {str(k): v for k, v in sorted(self.schemas.items())},
            "subjects": self.subjects,
        }
        tmp = self.state + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True)
        os.replace(tmp, self.state)

    def find(self, schema):
        for sid, s in self.schemas.items():
            if s == schema:
                return sid
        return None

    def register(self, subject, schema):
        with self.lock:
            sid = self.find(schema)
            if sid is None:
                sid = max(self.schemas, default=0) + 1
                self.schemas[sid] = schema
            versions = self.subjects.setdefault(subject, [])
            if sid not in versions:
                versions.append(sid)
            self.save()
            return sid

    def version(self, subject, sid):
        return self.subjects[subject].index(sid) + 1


def normalized(body):
    """The stored form of a registration request: schemaType AVRO is the default."""
    kind = body.get("schemaType") or "AVRO"
    refs = [
        {"name": r["name"], "subject": r["subject"], "version": int(r["version"])}
        for r in body.get("references") or []
    ]
    return {"schema": body["schema"], "schemaType": kind.upper(), "references": refs}


def public(schema, extra=None, serialized=None):
    """A schema as the API writes it: no schemaType for Avro, no empty references."""
    out = dict(extra or {})
    out["schema"] = serialized if serialized is not None else schema["schema"]
    if schema["schemaType"] != "AVRO":
        out["schemaType"] = schema["schemaType"]
    if schema["references"]:
        out["references"] = schema["references"]
    return out


class Handler(BaseHTTPRequestHandler):
    server_version = "registry-double/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    # --- plumbing
    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(data)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="SchemaRegistry"')
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, code, message):
        self.reply(status, {"error_code": code, "message": message})

    def authorized(self):
        cfg = self.server.cfg
        if not cfg.user:
            return True
        want = "Basic " + base64.b64encode(f"{cfg.user}:{cfg.password}".encode()).decode()
        return self.headers.get("Authorization") == want

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        return json.loads(raw or b"{}")

    def route(self, method):
        cfg = self.server.cfg
        if cfg.delay:
            time.sleep(cfg.delay)
        if not self.authorized():
            return self.error(401, 401, "Unauthorized")
        url = urlparse(self.path)
        parts = [unquote(p) for p in url.path.strip("/").split("/") if p]
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        store = self.server.store
        try:
            return self.dispatch(method, parts, query, store)
        except json.JSONDecodeError as e:
            return self.error(422, 42201, f"Invalid schema: request body is not JSON: {e}")
        except KeyError as e:
            return self.error(422, 42201, f"Invalid schema: missing field {e}")

    def dispatch(self, method, parts, query, store):
        fmt = query.get("format")
        if method == "GET" and parts[:2] == ["schemas", "ids"] and len(parts) >= 3:
            sid = int(parts[2]) if parts[2].isdigit() else -1
            schema = store.schemas.get(sid)
            if schema is None:
                return self.error(404, 40403, f"Schema {parts[2]} not found")
            if len(parts) == 3:
                return self.reply(200, public(schema, serialized=serialized(store, schema, fmt)))
            if parts[3] == "versions":
                return self.reply(200, [
                    {"subject": s, "version": v.index(sid) + 1}
                    for s, v in sorted(store.subjects.items()) if sid in v
                ])
            if parts[3] == "subjects":
                return self.reply(200, [s for s, v in sorted(store.subjects.items()) if sid in v])
        if method == "GET" and parts == ["schemas", "types"]:
            return self.reply(200, ["JSON", "PROTOBUF", "AVRO"])
        if method == "GET" and parts == ["subjects"]:
            return self.reply(200, sorted(store.subjects))
        if parts[:1] == ["subjects"] and len(parts) >= 2:
            subject = parts[1]
            if method == "POST" and len(parts) == 3 and parts[2] == "versions":
                schema = normalized(self.body())
                if schema["schemaType"] not in ("AVRO", "PROTOBUF", "JSON"):
                    return self.error(422, 42201, f"Invalid schema type {schema['schemaType']}")
                for r in schema["references"]:
                    versions = store.subjects.get(r["subject"], [])
                    if not 1 <= r["version"] <= len(versions):
                        return self.error(422, 42201, f"Invalid schema: reference {r['name']} to {r['subject']} version {r['version']} not found")
                if schema["schemaType"] in ("AVRO", "JSON"):
                    try:
                        json.loads(schema["schema"])
                    except ValueError as e:
                        return self.error(422, 42201, f"Invalid schema: {e}")
                sid = store.register(subject, schema)
                return self.reply(200, {"id": sid})
            if method == "POST" and len(parts) == 2:
                schema = normalized(self.body())
                if subject not in store.subjects:
                    return self.error(404, 40401, f"Subject '{subject}' not found.")
                sid = store.find(schema)
                if sid is None or sid not in store.subjects[subject]:
                    return self.error(404, 40403, "Schema not found")
                return self.reply(200, public(schema, {
                    "subject": subject, "id": sid, "version": store.version(subject, sid)}))
            versions = store.subjects.get(subject)
            if method == "GET" and len(parts) == 3 and parts[2] == "versions":
                if versions is None:
                    return self.error(404, 40401, f"Subject '{subject}' not found.")
                return self.reply(200, list(range(1, len(versions) + 1)))
            if method == "GET" and len(parts) in (4, 5) and parts[2] == "versions":
                if versions is None:
                    return self.error(404, 40401, f"Subject '{subject}' not found.")
                v = parts[3]
                if v in ("latest", "-1"):
                    n = len(versions)
                elif re.fullmatch(r"[0-9]+", v) and int(v) >= 1:
                    n = int(v)
                else:
                    return self.error(422, 42202, "The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"" % v)
                if n > len(versions):
                    return self.error(404, 40402, f"Version {n} not found.")
                sid = versions[n - 1]
                schema = store.schemas[sid]
                if len(parts) == 5 and parts[4] == "schema":
                    data = schema["schema"].encode()
                    self.send_response(200)
                    self.send_header("Content-Type", CONTENT_TYPE)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return None
                return self.reply(200, public(schema, {"subject": subject, "version": n, "id": sid},
                                              serialized=serialized(store, schema, fmt)))
        return self.error(404, 404, "HTTP 404 Not Found")

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")


def serialized(store, schema, fmt):
    """The base64 FileDescriptorProto of a .proto text, for format=serialized."""
    if fmt != "serialized" or schema["schemaType"] != "PROTOBUF":
        return None
    text = schema["schema"]
    if "{" not in text:
        return None  # stored as base64 already
    from grpc_tools import protoc  # only the Python serializers ask for this
    import importlib.resources
    from google.protobuf import descriptor_pb2

    with tempfile.TemporaryDirectory() as d:
        files = {}

        def collect(name, s):
            files[name] = s["schema"]
            for r in s["references"]:
                ref_id = store.subjects[r["subject"]][r["version"] - 1]
                collect(r["name"], store.schemas[ref_id])

        collect("__main__.proto", schema)
        for name, src in files.items():
            path = os.path.join(d, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(src)
        out = os.path.join(d, "set.pb")
        wkt = str(importlib.resources.files("grpc_tools") / "_proto")
        rc = protoc.main(["protoc", f"-I{d}", f"-I{wkt}", f"--descriptor_set_out={out}", "__main__.proto"])
        if rc != 0:
            return None
        fds = descriptor_pb2.FileDescriptorSet()
        with open(out, "rb") as f:
            fds.ParseFromString(f.read())
        return base64.b64encode(fds.file[0].SerializeToString()).decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--delay", type=float, default=0)
    ap.add_argument("--state")
    ap.add_argument("--load")
    cfg = ap.parse_args()
    store = Store(cfg.state)
    if cfg.load:
        store.load(cfg.load)
    server = ThreadingHTTPServer(("127.0.0.1", cfg.port), Handler)
    server.daemon_threads = True
    server.cfg = cfg
    server.store = store
    if cfg.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cfg.cert, cfg.key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

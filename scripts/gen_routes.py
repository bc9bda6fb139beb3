#!/usr/bin/python3
"""Generates the HTTP gateway's route table and OpenAPI document.

Reads a FileDescriptorSet (protoc --include_imports --include_source_info)
of proto/opsbus/v1/*.proto and, from the (opsbus.v1.http) option of each
RPC, writes under the root given:

  gen/gateway/routes.c       the C route table (struct gw_route_def rows,
                             server/gateway/routes.h) and the OpenAPI
                             document as a C string, served at /openapi.json
  gen/openapi/opsbus.v1.json the same OpenAPI 3 document, for readers

Every template, body and response_body is checked here, so a bad
annotation fails the build rather than the server's start. The output
depends only on the .proto files, so scripts/test can diff it.

Usage: gen_routes.py SET.pb ROOT (with PYTHONPATH holding opsbus/v1/http_pb2,
made by protoc --python_out from proto/opsbus/v1/http.proto).
"""

import json
import os
import re
import sys

from google.protobuf import descriptor_pb2

from opsbus.v1 import http_pb2

FD = descriptor_pb2.FieldDescriptorProto
PACKAGE = "opsbus.v1"
VERBS = ("get", "put", "post", "delete", "patch")
LITERAL = re.compile(r"^[A-Za-z0-9._~-]+$")
CAPTURE = re.compile(r"^\{([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*)\}$")


def fail(msg):
    print("gen_routes: " + msg, file=sys.stderr)
    sys.exit(1)


def camel_to_lower(name):
    """protoc-c's CamelToLower: '_' before every capital, lower-cased."""
    out = name[0].lower()
    for ch in name[1:]:
        out += "_" + ch.lower() if ch.isupper() else ch
    return out


def c_descriptor(full_name):
    """The C name of a message's descriptor, as protoc-c spells it."""
    return "__".join(camel_to_lower(p) for p in full_name.split(".")) + \
        "__descriptor"


class Model:
    """Messages, enums and comments of the descriptor set, by full name."""

    def __init__(self, fds):
        self.messages = {}
        self.enums = {}
        self.msg_file = {}
        self.comments = {}
        for f in fds.file:
            comments = {}
            for loc in f.source_code_info.location:
                text = loc.leading_comments.strip()
                if text:
                    comments[tuple(loc.path)] = text
            for i, m in enumerate(f.message_type):
                self._add_message(f, "." + f.package, m, (4, i), comments)
            for i, e in enumerate(f.enum_type):
                self.enums["%s.%s" % ("." + f.package, e.name)] = e

    def _add_message(self, f, scope, m, path, comments):
        name = "%s.%s" % (scope, m.name)
        self.messages[name] = m
        self.msg_file[name] = f.name
        self.comments[name] = comments.get(path, "")
        for i, field in enumerate(m.field):
            self.comments[(name, field.name)] = comments.get(
                path + (2, i), "")
        for i, n in enumerate(m.nested_type):
            self._add_message(f, name, n, path + (3, i), comments)
        for e in m.enum_type:
            self.enums["%s.%s" % (name, e.name)] = e

    def field(self, msg_name, field_name):
        for f in self.messages[msg_name].field:
            if f.name == field_name:
                return f
        return None

    def is_map(self, field):
        if field.type != FD.TYPE_MESSAGE or field.label != FD.LABEL_REPEATED:
            return False
        entry = self.messages.get(field.type_name)
        return entry is not None and entry.options.map_entry


def split_template(template, where):
    if not template.startswith("/") or template == "/":
        if template != "/":
            fail("%s: path %r must start with '/'" % (where, template))
    segments = template[1:].split("/")
    out = []
    for s in segments:
        if LITERAL.match(s):
            out.append(("lit", s))
            continue
        m = CAPTURE.match(s)
        if not m:
            fail("%s: bad path segment %r in %r (literals of "
                 "[A-Za-z0-9._~-] or {field})" % (where, s, template))
        out.append(("cap", m.group(1)))
    return out


def resolve_path_field(model, msg_name, dotted, where):
    """The scalar field a capture binds, through singular messages."""
    parts = dotted.split(".")
    for i, p in enumerate(parts):
        f = model.field(msg_name, p)
        if f is None:
            fail("%s: %s has no field %r" % (where, msg_name[1:], dotted))
        if f.label == FD.LABEL_REPEATED:
            fail("%s: path field %r is repeated" % (where, dotted))
        if i < len(parts) - 1:
            if f.type != FD.TYPE_MESSAGE:
                fail("%s: %r is not a message" % (where, p))
            msg_name = f.type_name
        elif f.type in (FD.TYPE_MESSAGE, FD.TYPE_GROUP):
            fail("%s: path field %r is a message" % (where, dotted))
    return f


def scalar_schema(model, f):
    t = f.type
    if t in (FD.TYPE_INT32, FD.TYPE_SINT32, FD.TYPE_SFIXED32):
        return {"type": "integer", "format": "int32"}
    if t in (FD.TYPE_UINT32, FD.TYPE_FIXED32):
        return {"type": "integer", "format": "int64", "minimum": 0}
    if t in (FD.TYPE_INT64, FD.TYPE_SINT64, FD.TYPE_SFIXED64):
        return {"type": "string", "format": "int64"}
    if t in (FD.TYPE_UINT64, FD.TYPE_FIXED64):
        return {"type": "string", "format": "uint64"}
    if t == FD.TYPE_DOUBLE:
        return {"type": "number", "format": "double"}
    if t == FD.TYPE_FLOAT:
        return {"type": "number", "format": "float"}
    if t == FD.TYPE_BOOL:
        return {"type": "boolean"}
    if t == FD.TYPE_STRING:
        return {"type": "string"}
    if t == FD.TYPE_BYTES:
        return {"type": "string", "format": "byte"}
    if t == FD.TYPE_ENUM:
        e = model.enums[f.type_name]
        return {"type": "string", "enum": [v.name for v in e.value]}
    fail("unexpected field type %d" % t)
    return None


def schema_name(full_name):
    return full_name[len("." + PACKAGE + "."):] if full_name.startswith(
        "." + PACKAGE + ".") else full_name[1:]


def field_schema(model, f):
    if model.is_map(f):
        entry = model.messages[f.type_name]
        return {"type": "object",
                "additionalProperties": field_schema(model, entry.field[1])}
    if f.type == FD.TYPE_MESSAGE:
        one = {"$ref": "#/components/schemas/" + schema_name(f.type_name)}
    else:
        one = scalar_schema(model, f)
    if f.label == FD.LABEL_REPEATED:
        return {"type": "array", "items": one}
    return one


def message_schema(model, name):
    m = model.messages[name]
    props = {}
    for f in m.field:
        s = dict(field_schema(model, f))
        desc = model.comments.get((name, f.name), "")
        if desc:
            if "$ref" in s:
                s = {"allOf": [s], "description": desc}
            else:
                s["description"] = desc
        props[f.json_name] = s
    out = {"type": "object", "properties": props}
    if model.comments.get(name):
        out["description"] = model.comments[name]
    return out


def collect_routes(fds, model):
    routes = []
    for f in fds.file:
        if f.package != PACKAGE:
            continue
        comments = {}
        for loc in f.source_code_info.location:
            text = loc.leading_comments.strip()
            if text:
                comments[tuple(loc.path)] = text
        for si, svc in enumerate(f.service):
            for mi, method in enumerate(svc.method):
                rpc = "%s.%s/%s" % (f.package, svc.name, method.name)
                if not method.options.HasExtension(http_pb2.http):
                    print("gen_routes: note: %s has no HTTP route" % rpc,
                          file=sys.stderr)
                    continue
                rule = method.options.Extensions[http_pb2.http]
                doc = comments.get((6, si, 2, mi), "")
                rules = [rule] + list(rule.additional_bindings)
                for i, r in enumerate(rules):
                    if i > 0 and len(r.additional_bindings) > 0:
                        fail("%s: additional bindings may not nest" % rpc)
                    routes.append(make_route(model, f, svc, method, rpc, r,
                                             doc, i > 0))
    seen = {}
    for r in routes:
        key = (r["verb"], tuple("{}" if k == "cap" else v
                                for k, v in r["segments"]))
        if key in seen:
            fail("%s and %s both route %s %s" % (
                seen[key], r["rpc"], r["verb"], r["path"]))
        seen[key] = r["rpc"]
    return routes


def make_route(model, f, svc, method, rpc, rule, doc, alias):
    kind = rule.WhichOneof("pattern")
    if kind is None:
        fail("%s: the http option names no verb (get, post, ...)" % rpc)
    template = getattr(rule, kind)
    where = "%s (%s %s)" % (rpc, kind.upper(), template)
    segments = split_template(template, where)
    bound = []
    for k, v in segments:
        if k == "cap":
            if v in bound:
                fail("%s: %r is captured twice" % (where, v))
            resolve_path_field(model, method.input_type, v, where)
            bound.append(v)
    if rule.body not in ("", "*"):
        bf = model.field(method.input_type, rule.body)
        if bf is None or bf.type != FD.TYPE_MESSAGE or \
                bf.label == FD.LABEL_REPEATED:
            fail("%s: body %r must name a singular message field" %
                 (where, rule.body))
    if rule.body and kind in ("get", "delete"):
        fail("%s: a %s route takes no body" % (where, kind.upper()))
    if rule.response_body:
        if model.field(method.output_type, rule.response_body) is None:
            fail("%s: %s has no field %r for response_body" % (
                where, method.output_type[1:], rule.response_body))
    return {
        "verb": kind.upper(), "path": template, "segments": segments,
        "rpc": rpc, "service": svc.name, "method": method.name,
        "input": method.input_type, "output": method.output_type,
        "input_file": model.msg_file[method.input_type],
        "output_file": model.msg_file[method.output_type],
        "body": rule.body, "response_body": rule.response_body,
        "bound": bound, "doc": doc, "alias": alias,
    }


ENVELOPE_ERROR = {
    "type": "object",
    "description": "Every error: the HTTP status follows the code "
                   "(400 VALIDATION_ERROR, 401 UNAUTHORIZED, 404 ..._NOT_FOUND,"
                   " 409 conflicts, 413, 415, 429, 503, 504).",
    "required": ["ok", "error", "correlationId"],
    "properties": {
        "ok": {"type": "boolean", "enum": [False]},
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string",
                         "description": "Stable upper-case domain code."},
                "message": {"type": "string"},
            },
        },
        "correlationId": {"type": "string"},
    },
}


def openapi(model, routes):
    schemas = {"ErrorEnvelope": ENVELOPE_ERROR}
    for name in sorted(model.messages):
        if not name.startswith("." + PACKAGE + ".") or \
                model.messages[name].options.map_entry:
            continue
        if schema_name(name) in ("RpcRequest", "RpcResponse", "HttpRule"):
            continue
        schemas[schema_name(name)] = message_schema(model, name)
    paths = {}
    for r in routes:
        path = "/" + "/".join(v if k == "lit" else "{%s}" % v
                              for k, v in r["segments"])
        op = {
            "operationId": "%s_%s%s" % (r["service"], r["method"],
                                        "_%s" % r["verb"].lower()
                                        if r["alias"] else ""),
            "tags": [r["service"]],
            "summary": r["rpc"],
        }
        if r["doc"]:
            op["description"] = r["doc"]
        params = []
        for v in r["bound"]:
            f = resolve_path_field(model, r["input"], v, r["rpc"])
            params.append({"name": v, "in": "path", "required": True,
                           "schema": scalar_schema(model, f)})
        if r["body"] != "*":
            for f in model.messages[r["input"]].field:
                if f.name in r["bound"] or f.name == r["body"] or \
                        f.type == FD.TYPE_MESSAGE:
                    continue
                p = {"name": f.json_name, "in": "query",
                     "schema": field_schema(model, f)}
                desc = model.comments.get((r["input"], f.name), "")
                if desc:
                    p["description"] = desc
                if f.label == FD.LABEL_REPEATED:
                    p["explode"] = True
                params.append(p)
        if params:
            op["parameters"] = params
        if r["body"]:
            target = r["input"] if r["body"] == "*" else \
                model.field(r["input"], r["body"]).type_name
            op["requestBody"] = {
                "required": False,
                "content": {"application/json": {"schema": {
                    "$ref": "#/components/schemas/" + schema_name(target)}}},
            }
        if r["response_body"]:
            data = field_schema(model, model.field(r["output"],
                                                   r["response_body"]))
        else:
            data = {"$ref": "#/components/schemas/" +
                    schema_name(r["output"])}
        op["responses"] = {
            "200": {"description": "OK", "content": {"application/json": {
                "schema": {
                    "type": "object", "required": ["ok", "data"],
                    "properties": {"ok": {"type": "boolean",
                                          "enum": [True]},
                                   "data": data}}}}},
            "default": {"description": "An error", "content": {
                "application/json": {"schema": {
                    "$ref": "#/components/schemas/ErrorEnvelope"}}}},
        }
        if r["rpc"] == PACKAGE + ".HealthService/Check":
            op["security"] = []
        paths.setdefault(path, {})[r["verb"].lower()] = op
    paths["/openapi.json"] = {"get": {
        "operationId": "Gateway_OpenApi", "tags": ["Gateway"],
        "summary": "This document.", "security": [],
        "responses": {"200": {"description": "OpenAPI 3 document",
                              "content": {"application/json": {}}}}}}
    paths["/metrics"] = {"get": {
        "operationId": "Gateway_Metrics", "tags": ["Gateway"],
        "summary": "Prometheus text: the gateway's requests by method and "
                   "status, and the database figures of "
                   "OpsService/GetMetrics.",
        "responses": {"200": {"description": "Prometheus text format 0.0.4",
                              "content": {"text/plain": {}}}}}}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "opsbus",
            "version": "v1",
            "description": "The opsbus API over HTTP/JSON. Generated from "
                           "the (opsbus.v1.http) options of "
                           "proto/opsbus/v1/*.proto; every route calls the "
                           "RPC named in its summary. Success: "
                           "{\"ok\": true, \"data\": ...}.",
        },
        "security": [{"apiKey": []}, {"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header",
                           "name": "X-API-Key"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
            "schemas": schemas,
        },
    }


def c_string(text):
    out = []
    for line in text.splitlines(True):
        esc = line.replace("\\", "\\\\").replace('"', '\\"').replace(
            "\n", "\\n")
        out.append('    "%s"' % esc)
    return "\n".join(out)


def routes_c(routes, doc_json):
    headers = sorted({r["input_file"] for r in routes} |
                     {r["output_file"] for r in routes})
    lines = [
        "/* Generated by scripts/gen_routes.py from the (opsbus.v1.http) "
        "options",
        " * of proto/opsbus/v1/*.proto: do not edit. */",
        '#include "gateway/routes.h"',
        "",
    ]
    lines += ['#include "%s"' % h.replace(".proto", ".pb-c.h")
              for h in headers]
    lines += ["", "const struct gw_route_def gw_route_defs[] = {"]
    for r in routes:
        lines.append('    {"%s", "%s", "%s",' % (r["verb"], r["path"],
                                                r["rpc"]))
        lines.append("        &%s," % c_descriptor(r["input"][1:]))
        lines.append("        &%s," % c_descriptor(r["output"][1:]))
        lines.append('        "%s", "%s"},' % (r["body"], r["response_body"]))
    lines += [
        "};",
        "",
        "const size_t gw_route_defs_count",
        "    = sizeof(gw_route_defs) / sizeof(gw_route_defs[0]);",
        "",
        "const char gw_openapi_json[] =",
        c_string(doc_json) + ";",
        "",
        "const size_t gw_openapi_json_len = sizeof(gw_openapi_json) - 1;",
        "",
    ]
    return "\n".join(lines)


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="ascii") as out:
        out.write(text)


def main():
    if len(sys.argv) != 3:
        fail("usage: gen_routes.py SET.pb ROOT")
    fds = descriptor_pb2.FileDescriptorSet()
    with open(sys.argv[1], "rb") as f:
        fds.ParseFromString(f.read())
    model = Model(fds)
    routes = collect_routes(fds, model)
    doc = json.dumps(openapi(model, routes), indent=2, ensure_ascii=True)
    doc += "\n"
    root = sys.argv[2]
    write(os.path.join(root, "gen", "openapi", "opsbus.v1.json"), doc)
    write(os.path.join(root, "gen", "gateway", "routes.c"),
          routes_c(routes, doc))


if __name__ == "__main__":
    main()

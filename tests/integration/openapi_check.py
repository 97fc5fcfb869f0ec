#!/usr/bin/env python3
"""openapi_check.py: the gateway's answers against docs/openapi.json.

Usage: openapi_check.py OPENAPI GATEWAY_C RECORDS

- every route gateway.c serves (its http_route calls) is in the document,
  with its method, and every route of the document was exercised;
- every recorded answer (RECORDS/manifest: "METHOD PATH STATUS N" lines,
  with N.head and N.body beside it) has its status documented for its
  route, its Content-Type among the documented ones, its body valid
  against the documented schema (the subset of JSON Schema the document
  uses: type, enum, required, properties, additionalProperties, items,
  minItems, maxItems, minimum, maximum, pattern, oneOf, $ref), and the
  documented required headers, with their enum or pattern.

Python 3 standard library only. Prints one line per failure; exit 1 on any.
"""
import json
import re
import sys

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def resolve(doc, node):
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), ref
        node = doc
        for part in ref[2:].split("/"):
            node = node[part]
    return node


def type_ok(value, t):
    return {
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "null": value is None,
    }[t]


def validate(doc, schema, value, where):
    """The reasons value does not match schema (empty: it does)."""
    schema = resolve(doc, schema)
    errs = []
    if "oneOf" in schema:
        n = sum(not validate(doc, s, value, where) for s in schema["oneOf"])
        if n != 1:
            errs.append("%s: matches %d of oneOf, want 1" % (where, n))
        return errs
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(type_ok(value, t) for t in types):
            return ["%s: %r is not of type %s" % (where, value, "/".join(types))]
    if "enum" in schema and value not in schema["enum"]:
        errs.append("%s: %r not in %s" % (where, value, schema["enum"]))
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        errs.append("%s: %r does not match %s" % (where, value, schema["pattern"]))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errs.append("%s: %r < minimum %r" % (where, value, schema["minimum"]))
        if "maximum" in schema and value > schema["maximum"]:
            errs.append("%s: %r > maximum %r" % (where, value, schema["maximum"]))
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", 1 << 30):
            errs.append("%s: %d items out of bounds" % (where, len(value)))
        for i, v in enumerate(value):
            if "items" in schema:
                errs += validate(doc, schema["items"], v, "%s[%d]" % (where, i))
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for k in schema.get("required", []):
            if k not in value:
                errs.append("%s: required %r missing" % (where, k))
        for k, v in value.items():
            if k in props:
                errs += validate(doc, props[k], v, "%s.%s" % (where, k))
            elif schema.get("additionalProperties") is False:
                errs.append("%s: %r is not a documented property" % (where, k))
            elif isinstance(schema.get("additionalProperties"), dict):
                errs += validate(doc, schema["additionalProperties"], v, "%s.%s" % (where, k))
    return errs


def template_re(path):
    return re.compile("^" + re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(path)) + "$")


def main():
    doc_path, source, records = sys.argv[1:4]
    doc = json.load(open(doc_path))
    paths = doc["paths"]
    if not str(doc.get("openapi", "")).startswith("3.1"):
        fail("openapi is %r, want 3.1.x" % doc.get("openapi"))

    # the routes the gateway serves, each documented
    served = re.findall(r'http_route\(srv, "([A-Z]+)", "([^"]+)"', open(source).read())
    if not served:
        fail("no http_route( calls found in %s" % source)
    for method, pattern in served:
        rx = template_re(pattern.replace("{}", "{x}"))
        doc_match = [p for p in paths if rx.match(re.sub(r"\{[^}]*\}", "x", p))]
        if not doc_match or method.lower() not in paths[doc_match[0]]:
            fail("route %s %s is not in %s" % (method, pattern, doc_path))

    exercised = set()
    n = 0
    for line in open(records + "/manifest"):
        method, url, status, num = line.split()
        n += 1
        path = url.split("?")[0]
        what = "%s %s -> %s" % (method, url, status)
        tmpl = [p for p in paths if template_re(p).match(path)]
        if not tmpl or method.lower() not in paths[tmpl[0]]:
            fail("%s: no such route in the document" % what)
            continue
        exercised.add((method.lower(), tmpl[0]))
        op = paths[tmpl[0]][method.lower()]
        resp = op["responses"].get(status)
        if resp is None:
            fail("%s: status %s not documented (documented: %s)" % (what, status, ", ".join(sorted(op["responses"]))))
            continue
        resp = resolve(doc, resp)
        head = open("%s/%s.head" % (records, num), encoding="latin-1").read()
        headers = {}
        for h in head.splitlines()[1:]:
            if ":" in h:
                k, v = h.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        for name, spec in resp.get("headers", {}).items():
            v = headers.get(name.lower())
            if v is None:
                if spec.get("required"):
                    fail("%s: required header %s missing" % (what, name))
                continue
            for e in validate(doc, spec["schema"], v, "header " + name):
                fail("%s: %s" % (what, e))
        content = resp.get("content", {})
        ctype = headers.get("content-type", "").split(";")[0].strip()
        body = open("%s/%s.body" % (records, num), "rb").read()
        if not content:
            continue
        if ctype not in content:
            fail("%s: Content-Type %r not documented (%s)" % (what, ctype, ", ".join(content)))
            continue
        if "json" in ctype:
            try:
                value = json.loads(body)
            except ValueError as e:
                fail("%s: body is not JSON: %s" % (what, e))
                continue
            for e in validate(doc, content[ctype]["schema"], value, "body"):
                fail("%s: %s" % (what, e))

    for p, ops in paths.items():
        for m in ops:
            if (m, p) not in exercised:
                fail("documented route %s %s was never exercised" % (m.upper(), p))
    print("checked %d answers against %s, %d routes served" % (n, doc_path, len(served)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

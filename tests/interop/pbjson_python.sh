#!/usr/bin/env bash
# Checks common/pbjson_*.c, the proto3 JSON transcoder, against Google's
# Python protobuf runtime (google.protobuf.json_format), over the messages of
# tests/proto/pbjson_test.proto:
#
#  * JSON printed by Python (with and without defaults, both name styles)
#    parses in C to the same message (C packs it, Python compares);
#  * JSON printed by C from Python's binary parses in Python to the same
#    message, and is the very JSON Python prints (compared as values);
#  * inputs Python refuses, C refuses; lenient forms Python takes, C takes
#    to the same message.
#
# The C side is tests/interop/pbjson_tool: "$OPSBUS_BUILD_DIR/tests/pbjson_tool"
# when OPSBUS_BUILD_DIR is set (CTest sets it), else built here with gcc and
# the sanitizers into a temporary directory. The Python side is
# /usr/bin/python3 (the distribution's, which has python3-protobuf), never
# whatever python3 comes first on PATH.
set -euo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
python=/usr/bin/python3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pbjson-python.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

if [ -n "${OPSBUS_BUILD_DIR:-}" ]; then
	tool=$OPSBUS_BUILD_DIR/tests/pbjson_tool
	if [ ! -x "$tool" ]; then
		echo "pbjson_python: $tool is missing (build target pbjson_tool)" >&2
		exit 1
	fi
else
	tool=$tmp/pbjson_tool
	cc=${CC:-gcc}
	# shellcheck disable=SC2054 # the commas are -fsanitize's own
	cflags=(-std=c11 -D_POSIX_C_SOURCE=200809L -g -O1
		-fsanitize=address,undefined -fno-omit-frame-pointer
		-fno-sanitize-recover=undefined)
	warnings=(-Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes
		-Wmissing-prototypes -Wcast-qual -Wwrite-strings -Wformat=2
		-Wvla -Wimplicit-fallthrough)
	# shellcheck disable=SC2207 # pkg-config prints words, not paths with spaces
	libs=($(pkg-config --cflags --libs libprotobuf-c jansson 2>/dev/null ||
		echo -lprotobuf-c -ljansson))
	# Generated code is compiled without warnings, as CMake compiles it.
	"$cc" "${cflags[@]}" -w -c "$src/tests/gen/pbjson_test.pb-c.c" \
		-o "$tmp/gen.o"
	"$cc" "${cflags[@]}" "${warnings[@]}" -I"$src/common" \
		-isystem "$src/tests/gen" \
		"$src/tests/interop/pbjson_tool.c" "$src"/common/pbjson_*.c \
		"$src/common/arena.c" "$src/common/utf8.c" "$tmp/gen.o" \
		"${libs[@]}" -o "$tool"
fi

protoc --python_out="$tmp" -I"$src/tests/proto" \
	"$src/tests/proto/pbjson_test.proto"

PBJSON_TOOL=$tool PYTHONPATH=$tmp "$python" - <<'PY'
import json
import math
import os
import subprocess
import sys

from google.protobuf import __version__ as protobuf_version
from google.protobuf import json_format
from google.protobuf.internal import api_implementation

import pbjson_test_pb2 as pb

TOOL = os.environ["PBJSON_TOOL"]
failures = []


def fail(what):
    failures.append(what)
    print("FAIL: " + what, file=sys.stderr)


def tool(mode, data, *opts):
    """Runs pbjson_tool; returns (exit status, stdout bytes, stderr text)."""
    r = subprocess.run([TOOL, mode, *opts], input=data, capture_output=True)
    return r.returncode, r.stdout, r.stderr.decode("utf-8", "replace")


def same(a, b):
    """Message equality that also holds for NaN: compares deterministic
    serializations (map order and NaN bits then agree)."""
    return (a.SerializeToString(deterministic=True)
            == b.SerializeToString(deterministic=True))


def all_types(**fields):
    m = pb.AllTypes()
    for k, v in fields.items():
        f = getattr(m, k)
        if isinstance(v, dict):
            for key, val in v.items():
                if isinstance(val, pb.Inner):
                    f[key].CopyFrom(val)
                else:
                    f[key] = val
        elif isinstance(v, list):
            f.extend(v)
        elif isinstance(v, pb.Inner):
            f.CopyFrom(v)
        else:
            setattr(m, k, v)
    return m


def inner(n=0, label="", child=None):
    m = pb.Inner(n=n, label=label)
    if child is not None:
        m.child.CopyFrom(child)
    return m


every_byte = bytes(range(256))
messages = {
    "edge integers": all_types(
        f_int32=-2**31, f_int64=2**63 - 1, f_uint32=2**32 - 1,
        f_uint64=2**64 - 1, f_sint32=-1, f_sint64=-2**63,
        f_fixed32=2**32 - 1, f_fixed64=2**64 - 1, f_sfixed32=-2**31,
        f_sfixed64=2**63 - 1, http_2_status=-404,
        r_int32=[0, -1, 2**31 - 1, -2**31], r_int64=[-2**63, 2**63 - 1, 0],
        r_uint64=[2**64 - 1, 0, 2**53 + 1], r_sint32=[-5, 5],
        r_fixed64=[2**64 - 1]),
    "unicode strings": all_types(
        f_string="h\u00e9llo \u2713 \U0001d11e \"q\" \\ \n\t\x01 \u2028 /",
        already_camelCase="\u65e5\u672c\u8a9e",
        r_string=["", "\U0001f600", "a\"b"],
        labels={"\u043a\u043b\u044e\u0447": "\u0437\u043d\u0430\u0447",
                "": "empty key", "a\"b\\c": ""}),
    "bytes with every value": all_types(
        f_bytes=every_byte,
        r_bytes=[b"", b"\xff", b"\xfb\xff", every_byte[::-1], b"\x00"],
        blob_by_flag={True: b"\x00\x01", False: b""}),
    "floats": all_types(
        f_float=1.5, f_double=0.1,
        r_float=[0.1, -2.5e-3, 1e-45, 3e38, 16777217.0],
        r_double=[5e-324, 1.7976931348623157e308, -0.0, 1e-300,
                  123456789.123456789, -1.0],
        weight_by_id={0: 2.5, 2**32 - 1: -1e100}),
    "float specials": all_types(
        f_float=math.inf, f_double=-math.inf,
        r_float=[math.nan, math.inf, -math.inf], r_double=[math.nan],
        weight_by_id={7: math.inf}),
    "empty message": pb.AllTypes(),
    "nested messages, enums and maps": all_types(
        inner=inner(1, "a", inner(2, "b", inner(3, "c"))),
        r_inner=[pb.Inner(), inner(-1, "x")],
        by_id={-1: inner(label="neg"), 0: pb.Inner(),
               2**31 - 1: inner(child=inner(5))},
        color_by_id={-2**63: pb.COLOR_RED, 2**63 - 1: 99},
        color=pb.COLOR_INFRARED, r_color=[0, 1, -3, 42]),
    "oneof string set to empty": all_types(choice_text=""),
    "oneof int64 set to zero": all_types(choice_number=0),
    "oneof int64 at its minimum": all_types(choice_number=-2**63),
    "oneof message set empty": all_types(choice_inner=pb.Inner()),
    "oneof bool set to false": all_types(choice_flag=False),
}

python_json_styles = {
    "plain": {},
    "with defaults": {"including_default_value_fields": True},
    "proto names": {"preserving_proto_field_name": True},
}
c_json_styles = {
    # pbjson_tool options -> the json_format options that print the same.
    "with defaults": ([], {"including_default_value_fields": True}),
    "plain": (["--no-defaults"], {}),
    "proto names": (["--original-names"],
                    {"including_default_value_fields": True,
                     "preserving_proto_field_name": True}),
}

for name, msg in messages.items():
    # Python prints, C parses: the message C packs is the original.
    for style, opts in python_json_styles.items():
        text = json_format.MessageToJson(msg, **opts)
        rc, out, err = tool("json2bin", text.encode())
        if rc != 0:
            fail(f"{name}: C refused Python's JSON ({style}): {err}")
            continue
        back = pb.AllTypes.FromString(out)
        if not same(back, msg):
            fail(f"{name}: C parsed Python's JSON ({style}) to {back}")

    # C prints from Python's binary: Python parses it back to the original,
    # and it is the JSON Python prints itself.
    for style, (args, opts) in c_json_styles.items():
        rc, out, err = tool("bin2json", msg.SerializeToString(), *args)
        if rc != 0:
            fail(f"{name}: C could not print ({style}): {err}")
            continue
        try:
            back = json_format.Parse(out.decode(), pb.AllTypes())
        except json_format.ParseError as e:
            fail(f"{name}: Python refused C's JSON ({style}): {e}: {out!r}")
            continue
        if not same(back, msg):
            fail(f"{name}: Python parsed C's JSON ({style}) to {back}")
        got = json.loads(out)
        want = json_format.MessageToDict(msg, **opts)
        if got != want:
            fail(f"{name}: C printed ({style})\n  {got}\nPython prints\n"
                 f"  {want}")

    # JSON through C and back out is still Python's JSON.
    text = json_format.MessageToJson(msg)
    rc, out, err = tool("json2json", text.encode())
    want = json_format.MessageToDict(msg, including_default_value_fields=True)
    if rc != 0 or json.loads(out) != want:
        fail(f"{name}: json2json gave {out!r} {err}, want {want}")

# Forms both runtimes take, to the same message.
lenient = [
    '{"fInt32": "5", "fInt64": 5, "fUint64": "18446744073709551615"}',
    '{"fInt32": 1e2, "fSint64": -3.0, "fUint32": "4294967295"}',
    '{"f_int32": 1, "http_2_status": 2, "already_camelCase": "x"}',
    '{"http2Status": 2, "alreadyCamelCase": "x", "color_by_id": {"3": 1}}',
    '{"color": 2, "rColor": ["COLOR_RED", 1, "-3", 77]}',
    '{"fBytes": "-_8", "rBytes": ["+/8=", "-_8=", "QQ", "QQ=="]}',
    '{"fFloat": "1.5", "fDouble": "-2e-3", "rDouble": ["NaN", "-Infinity"]}',
    '{"choiceText": null, "choiceNumber": "-1", "inner": null}',
    '{"fInt32": null, "rInt32": null, "labels": null, "fString": null}',
    '{"byId": {"-5": {"n": 1}, "007": {}}, "blobByFlag": {"true": "AA"}}',
    '{"rInner": [{}, {"child": {"child": {}}}]}',
]
for text in lenient:
    want = json_format.Parse(text, pb.AllTypes())
    rc, out, err = tool("json2bin", text.encode())
    if rc != 0:
        fail(f"C refused what Python takes: {text}: {err}")
    elif not same(pb.AllTypes.FromString(out), want):
        fail(f"C and Python differ on {text}: "
             f"{pb.AllTypes.FromString(out)} vs {want}")

# Inputs both runtimes refuse.
refused = [
    '{"nope": 1}',
    '{"inner": {"x": 1}}',
    '{"fInt32": 2147483648}',
    '{"fInt32": "-2147483649"}',
    '{"fUint32": -1}',
    '{"fInt64": "9223372036854775808"}',
    '{"fUint64": "-1"}',
    '{"fInt32": 1.5}',
    '{"fInt32": "1 "}',
    '{"fBool": "true"}',
    '{"fBool": 1}',
    '{"fString": 5}',
    '{"color": "PURPLE"}',
    '{"rInt32": 5}',
    '{"rInt32": [1, null]}',
    '{"labels": []}',
    '{"byId": {"x": {}}}',
    '{"blobByFlag": {"yes": ""}}',
    '{"choiceText": "a", "choiceNumber": "1"}',
    '{"choiceInner": {}, "choice_flag": false}',
    '{"fDouble": "nan"}',
    '{"fFloat": 3.5e38}',
]
for text in refused:
    try:
        json_format.Parse(text, pb.AllTypes())
        python_refuses = False
    except (json_format.ParseError, ValueError, TypeError):
        python_refuses = True
    rc, out, err = tool("json2bin", text.encode())
    if not python_refuses:
        fail(f"the test is wrong: Python takes {text}")
    if rc == 0:
        fail(f"C takes what Python refuses: {text}")
    elif rc != 1 or "refused" not in err:
        fail(f"C failed on {text} in another way ({rc}): {err}")

# Inputs C refuses though this Python takes them: json_format iterates over
# an array where it wants an object (so [] is an empty message), and takes a
# field given in both spellings (the last wins). Refusing is the decision
# here: the client's intent is unclear.
stricter = [
    '{"inner": []}',
    '[]',
    '{"fInt32": 1, "f_int32": 2}',
]
for text in stricter:
    rc, out, err = tool("json2bin", text.encode())
    if rc != 1 or "refused" not in err:
        fail(f"C gave {rc} for {text}, want refused: {err}")

# Nesting: C's limit (32 levels, as wirecheck counts them) is below
# Python's (100), so C refuses what Python would take, and says so.
deep = '{"inner": ' + '{"child": ' * 31 + '{}' + '}' * 32
rc, out, err = tool("json2bin", deep.encode())
if rc != 1 or "nested deeper than 32" not in err:
    fail(f"33 levels: C gave {rc}: {err}")
ok = '{"inner": ' + '{"child": ' * 30 + '{}' + '}' * 31
rc, out, err = tool("json2bin", ok.encode())
if rc != 0 or not same(pb.AllTypes.FromString(out),
                       json_format.Parse(ok, pb.AllTypes())):
    fail(f"32 levels: C gave {rc}: {err}")

checked = (len(messages) * 7 + len(lenient) + len(refused) + len(stricter)
           + 2)
if failures:
    print(f"pbjson_python: {len(failures)} of {checked} checks failed",
          file=sys.stderr)
    sys.exit(1)
print(f"pbjson_python: {checked} checks passed against google.protobuf "
      f"{protobuf_version} ({api_implementation.Type()})")
PY

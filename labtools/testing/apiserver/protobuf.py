"""Kubernetes protobuf bodies (``application/vnd.kubernetes.protobuf``) to JSON-shaped dicts.

kubectl's typed generators (``kubectl create deployment|configmap|secret|...``) POST protobuf: the
magic ``k8s\\x00`` followed by a ``runtime.Unknown`` whose ``raw`` field holds the object's own
protobuf bytes. The field tables live in :mod:`labtools.testing.apiserver.protoschema`. Anything we
cannot map exactly (an unknown kind, an unknown field number, a malformed value) raises
:class:`ProtobufError` instead of being dropped, because a silently lost field would make the fake
server disagree with a real one without anyone noticing.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from labtools.testing.apiserver.protoschema import KINDS, MESSAGES

MAGIC = b"k8s\x00"
MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
ENVELOPE = "runtime.Unknown"

# Messages whose JSON form is not an object: Go gives them custom (Un)MarshalJSON methods.
TIME = "meta/v1.Time"
MICRO_TIME = "meta/v1.MicroTime"
QUANTITY = "resource.Quantity"
INT_OR_STRING = "intstr.IntOrString"
RAW_JSON = {"runtime.RawExtension", "meta/v1.FieldsV1"}
STRING_LISTS = {"meta/v1.Verbs", "authentication/v1.ExtraValue", "authorization/v1.ExtraValue"}

# resource.ParseQuantity's grammar: Go's Quantity.Unmarshal rejects anything else.
QUANTITY_SYNTAX = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?")

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5
SCALAR_WIRE = {"string": LENGTH, "bytes": LENGTH, "int32": VARINT, "int64": VARINT, "bool": VARINT}
ZEROS: dict[str, Any] = {"string": "", "bytes": "", "int32": 0, "int64": 0, "bool": False}

WireField = tuple[int, int, int | bytes]


class ProtobufError(Exception):
    """Raised with a one-line message naming the type and field number/path that failed."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        # 415 (Unsupported Media Type) when the kind is unknown, 400 when the bytes are malformed.
        self.status = status


def is_protobuf(content_type: str) -> bool:
    """True when a Content-Type (or Accept entry) names the Kubernetes protobuf media type."""
    return content_type.split(";", 1)[0].strip().lower() == MEDIA_TYPE


def decode_object(body: bytes) -> dict[str, Any]:
    """Decode a ``k8s\\x00`` + ``runtime.Unknown`` body into the object's JSON-shaped dict."""
    if not body.startswith(MAGIC):
        raise ProtobufError(f"body does not start with the protobuf magic {MAGIC!r}")
    envelope = _decode_message(ENVELOPE, body[len(MAGIC) :], "Unknown")
    if "raw" not in envelope:
        raise ProtobufError("runtime.Unknown field 2: no raw object in the body (truncated?)")
    type_meta = envelope.get("typeMeta", {})
    api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
    encoding = envelope.get("contentEncoding", "")
    if encoding:
        raise ProtobufError(f"runtime.Unknown: contentEncoding {encoding!r} is not supported", 415)
    message = _message_for(api_version, kind)
    raw = base64.b64decode(envelope["raw"])
    return {"apiVersion": api_version, "kind": kind, **_decode_message(message, raw, kind)}


def encode_object(obj: Mapping[str, Any]) -> bytes:
    """Encode a JSON-shaped object (with apiVersion and kind) the way client-go would send it."""
    api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    message = _message_for(str(api_version), str(kind))
    fields = {key: value for key, value in obj.items() if key not in ("apiVersion", "kind")}
    raw = _encode_message(message, fields, str(kind))
    envelope = {
        "typeMeta": {"apiVersion": api_version, "kind": kind},
        "raw": base64.b64encode(raw).decode(),
    }
    return MAGIC + _encode_message(ENVELOPE, envelope, "Unknown")


def _message_for(api_version: str, kind: str) -> str:
    """The schema message of a kind, or a 415 naming it."""
    message = KINDS.get((api_version, kind))
    if message is None and kind == "DeleteOptions":
        # registered in every group version (metav1.AddToGroupVersion): a typed client's
        # Delete sends it with its own group version
        message = "meta/v1.DeleteOptions"
    if message is None:
        raise ProtobufError(
            f"cannot decode protobuf for kind {kind!r} in {api_version!r}: not in the fake "
            "server's v1.32 schema (send JSON instead)",
            415,
        )
    return message


# ---------------------------------------------------------------------------------------------
# Wire format
# ---------------------------------------------------------------------------------------------


def _read_varint(data: bytes, pos: int, where: str) -> tuple[int, int]:
    """Read a base-128 varint at ``pos``; return (value, next position)."""
    result = shift = 0
    while pos < len(data):
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ProtobufError(f"{where}: varint longer than 10 bytes")
    raise ProtobufError(f"{where}: truncated varint at byte {pos}")


def _iter_wire(data: bytes, where: str) -> Iterator[WireField]:
    """Yield (field number, wire type, value) for each field of one message."""
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos, where)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise ProtobufError(f"{where}: field number 0 at byte {pos} (malformed)")
        value, pos = _read_value(data, pos, wire_type, f"{where} field {number}")
        yield number, wire_type, value


def _read_value(data: bytes, pos: int, wire_type: int, where: str) -> tuple[int | bytes, int]:
    """Read one value of the given wire type; return (value, next position)."""
    if wire_type == VARINT:
        return _read_varint(data, pos, where)
    sizes = {FIXED64: 8, FIXED32: 4}
    if wire_type == LENGTH:
        size, pos = _read_varint(data, pos, where)
    elif wire_type in sizes:
        size = sizes[wire_type]
    else:
        raise ProtobufError(f"{where}: unsupported wire type {wire_type}")
    if pos + size > len(data):
        raise ProtobufError(f"{where}: truncated: needs {size} bytes, {len(data) - pos} left")
    return data[pos : pos + size], pos + size


def _varint(value: int) -> bytes:
    """Encode an int as a varint (negative numbers as 10-byte two's complement, like Go)."""
    value &= (1 << 64) - 1
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _tag(number: int, wire_type: int) -> bytes:
    return _varint(number << 3 | wire_type)


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _tag(number, LENGTH) + _varint(len(payload)) + payload


# ---------------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------------


def _decode_message(message: str, data: bytes, path: str) -> dict[str, Any]:
    """Decode one message into a dict with JSON names, dropping zero values Go would omit."""
    schema = MESSAGES.get(message)
    if schema is None:
        raise ProtobufError(f"{path}: message type {message} is not supported", 415)
    out: dict[str, Any] = {}
    for number, wire_type, value in _iter_wire(data, f"{path} ({message})"):
        field = schema.get(number)
        if field is None:
            raise ProtobufError(
                f"{path}: {message} has no field {number} (wire type {wire_type}) in the v1.32 "
                "schema; refusing to drop it"
            )
        _decode_field(out, field, wire_type, value, f"{path}.{field[0]}")
    return _drop_omitted(message, out)


def _decode_field(
    out: dict[str, Any], field: tuple[str, str, str], wire_type: int, value: int | bytes, path: str
) -> None:
    """Decode one wire field into ``out`` according to its schema mode."""
    name, type_name, mode = field
    if mode == "map":
        key, item = _decode_map_entry(type_name, _need_bytes(value, wire_type, path), path)
        out.setdefault(name, {})[key] = item
    elif mode == "list":
        out.setdefault(name, []).extend(_decode_repeated(type_name, wire_type, value, path))
    elif mode == "inline":
        # Go embeds the struct without a JSON name: its fields belong to the parent object.
        out.update(_decode_message(type_name, _need_bytes(value, wire_type, path), path))
    else:
        out[name] = _decode_value(type_name, wire_type, value, path)


def _drop_omitted(message: str, out: dict[str, Any]) -> dict[str, Any]:
    """Remove what Go's JSON would not print: zero plain scalars and null-valued specials."""
    for _number, (name, type_name, mode) in MESSAGES[message].items():
        if name not in out:
            continue
        value = out[name]
        zero_scalar = mode == "val" and type_name in ZEROS and value == ZEROS[type_name]
        if value is None or zero_scalar:
            del out[name]
    return out


def _decode_repeated(type_name: str, wire_type: int, value: int | bytes, path: str) -> list[Any]:
    """Decode one occurrence of a repeated field (numbers may also arrive packed)."""
    if type_name in ("int32", "int64", "bool") and wire_type == LENGTH:
        assert isinstance(value, bytes)
        packed, pos = [], 0
        while pos < len(value):
            number, pos = _read_varint(value, pos, path)
            packed.append(_decode_value(type_name, VARINT, number, path))
        return packed
    return [_decode_value(type_name, wire_type, value, path)]


def _decode_map_entry(type_name: str, data: bytes, path: str) -> tuple[str, Any]:
    """Decode a map entry message (key = 1, value = 2)."""
    key_type, value_type = type_name[len("map<") : -1].split(",")
    key, item = ZEROS[key_type], _zero_of(value_type, path)
    for number, wire_type, value in _iter_wire(data, f"{path} (map entry)"):
        if number == 1:
            key = _decode_value(key_type, wire_type, value, f"{path} key")
        elif number == 2:
            item = _decode_value(value_type, wire_type, value, f"{path}[{key!r}]")
        else:
            raise ProtobufError(f"{path}: map entry has no field {number}")
    return str(key), item


def _zero_of(type_name: str, path: str) -> Any:
    """The JSON value of a map value that is absent from its entry."""
    return ZEROS[type_name] if type_name in ZEROS else _decode_value(type_name, LENGTH, b"", path)


def _decode_value(type_name: str, wire_type: int, value: int | bytes, path: str) -> Any:
    """Decode a single (non-repeated) value of a scalar or message type."""
    expected = SCALAR_WIRE.get(type_name, LENGTH)
    if wire_type != expected:
        raise ProtobufError(f"{path}: {type_name} arrived with wire type {wire_type}")
    if isinstance(value, int):
        return _decode_number(type_name, value)
    if type_name == "string":
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtobufError(f"{path}: string is not valid UTF-8") from exc
    if type_name == "bytes":
        return base64.b64encode(value).decode("ascii")
    return _decode_special(type_name, value, path)


def _decode_number(type_name: str, value: int) -> int | bool:
    """Interpret a varint as Go would for bool, int32 and int64."""
    if type_name == "bool":
        return value != 0
    bits = 32 if type_name == "int32" else 64
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _decode_special(type_name: str, data: bytes, path: str) -> Any:
    """Decode messages whose JSON form is a string, number, list or embedded JSON."""
    if type_name in (TIME, MICRO_TIME):
        return _decode_time(type_name, data, path)
    fields = _decode_message(type_name, data, path)
    if type_name == QUANTITY:
        return _decode_quantity(fields, path)
    if type_name == INT_OR_STRING:
        return _decode_int_or_string(fields, path)
    if type_name in RAW_JSON:
        return _decode_raw_json(fields, path)
    if type_name in STRING_LISTS:
        return fields.get("items", [])
    return fields


def _decode_time(type_name: str, data: bytes, path: str) -> str | None:
    """Time and MicroTime: empty bytes are Go's zero time (JSON null); else an RFC 3339 string."""
    if not data:
        return None
    fields = _decode_message(type_name, data, path)
    seconds, nanos = fields.get("seconds", 0), fields.get("nanos", 0)
    try:
        moment = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise ProtobufError(f"{path}: {type_name} seconds {seconds} is out of range") from exc
    if type_name == MICRO_TIME:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{nanos // 1000:06d}Z"
    # metav1.Time's JSON keeps whole seconds only.
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _decode_quantity(fields: dict[str, Any], path: str) -> str:
    """The quantity string as sent (client-go sends canonical forms; we do not re-canonicalize)."""
    text = str(fields.get("string", "0"))
    if not QUANTITY_SYNTAX.fullmatch(text):
        raise ProtobufError(f"{path}: {text!r} is not a quantity (resource.Quantity field 1)")
    return text


def _decode_int_or_string(fields: dict[str, Any], path: str) -> int | str:
    kind = fields.get("type", 0)
    if kind == 0:
        return int(fields.get("intVal", 0))
    if kind == 1:
        return str(fields.get("strVal", ""))
    raise ProtobufError(f"{path}: IntOrString type {kind} is neither 0 (int) nor 1 (string)")


def _decode_raw_json(fields: dict[str, Any], path: str) -> Any:
    """RawExtension and FieldsV1 carry JSON bytes that are embedded as they are."""
    raw = base64.b64decode(fields.get("raw", fields.get("Raw", "")))
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ProtobufError(f"{path}: embedded object is not JSON (nested protobuf?)") from exc


def _need_bytes(value: int | bytes, wire_type: int, path: str) -> bytes:
    if not isinstance(value, bytes) or wire_type != LENGTH:
        raise ProtobufError(f"{path}: expected a length-delimited field, got wire type {wire_type}")
    return value


# ---------------------------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------------------------


def _encode_message(message: str, obj: Mapping[str, Any], path: str) -> bytes:
    """Encode a dict in field-number order, writing plain values even when zero (as gogo does)."""
    if not isinstance(obj, Mapping):
        raise ProtobufError(f"{path}: {message} must be an object, got {type(obj).__name__}")
    out, used = bytearray(), set()
    for number, (name, type_name, mode) in sorted(MESSAGES[message].items()):
        if mode == "inline":
            names = _json_names(type_name)
            used |= names
            inner = {key: value for key, value in obj.items() if key in names}
            out += _length_delimited(number, _encode_message(type_name, inner, path))
            continue
        used.add(name)
        out += _encode_field(number, type_name, mode, obj.get(name), f"{path}.{name}")
    unknown = sorted(set(obj) - used)
    if unknown:
        raise ProtobufError(f"{path}: {message} has no field {unknown[0]!r}")
    return bytes(out)


def _json_names(message: str) -> set[str]:
    """The JSON names a message contributes to its parent (inline ones flattened)."""
    names: set[str] = set()
    for name, type_name, mode in MESSAGES[message].values():
        names |= _json_names(type_name) if mode == "inline" else {name}
    return names


def _encode_field(number: int, type_name: str, mode: str, value: Any, path: str) -> bytes:
    """Encode one field of any mode; absent pointers, lists and maps write nothing."""
    if mode == "map":
        return b"".join(
            _length_delimited(number, _encode_map_entry(type_name, key, value[key], path))
            for key in sorted(_expect(value or {}, dict, path))
        )
    if mode == "list":
        items = _expect(value or [], list, path)
        return b"".join(
            _encode_value(number, type_name, item, f"{path}[{i}]") for i, item in enumerate(items)
        )
    if value is None and mode == "ptr":
        return b""
    return _encode_value(number, type_name, value, path)


def _encode_map_entry(type_name: str, key: str, value: Any, path: str) -> bytes:
    key_type, value_type = type_name[len("map<") : -1].split(",")
    return _encode_value(1, key_type, key, path) + _encode_value(2, value_type, value, path)


def _encode_value(number: int, type_name: str, value: Any, path: str) -> bytes:
    """Encode a single scalar or message value (None means the Go zero value)."""
    if type_name in ZEROS:
        return _encode_scalar(number, type_name, ZEROS[type_name] if value is None else value, path)
    return _length_delimited(number, _encode_special(type_name, value, path))


def _encode_scalar(number: int, type_name: str, value: Any, path: str) -> bytes:
    if type_name == "string":
        return _length_delimited(number, _expect(value, str, path).encode("utf-8"))
    if type_name == "bytes":
        try:
            payload = base64.b64decode(_expect(value, str, path), validate=True)
        except binascii.Error as exc:
            raise ProtobufError(f"{path}: bytes value is not base64") from exc
        return _length_delimited(number, payload)
    if type_name == "bool":
        return _tag(number, VARINT) + _varint(int(_expect(value, bool, path)))
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtobufError(f"{path}: expected an integer, got {value!r}")
    return _tag(number, VARINT) + _varint(value)


def _encode_special(type_name: str, value: Any, path: str) -> bytes:
    """Encode message payloads, including those whose JSON form is not an object."""
    if type_name in (TIME, MICRO_TIME):
        return _encode_time(type_name, value, path)
    if type_name == QUANTITY:
        fields: Any = {"string": "0" if value is None else str(value)}
    elif type_name == INT_OR_STRING:
        fields = _int_or_string_fields(value, path)
    elif type_name in RAW_JSON:
        raw = b"" if value is None else json.dumps(value, separators=(",", ":")).encode()
        name = MESSAGES[type_name][1][0]
        fields = {name: base64.b64encode(raw).decode()} if raw else {}
    elif type_name in STRING_LISTS:
        fields = {"items": value or []}
    else:
        fields = value or {}
    return _encode_message(type_name, fields, path)


def _int_or_string_fields(value: Any, path: str) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        return {"type": 1, "strVal": value}
    if isinstance(value, int) and not isinstance(value, bool):
        return {"type": 0, "intVal": value}
    raise ProtobufError(f"{path}: IntOrString must be an int or a string, got {value!r}")


def _encode_time(type_name: str, value: Any, path: str) -> bytes:
    """Zero time (None) is empty bytes; otherwise seconds and nanos, both always written."""
    if value is None:
        return b""
    try:
        moment = datetime.fromisoformat(_expect(value, str, path).replace("Z", "+00:00"))
    except ValueError as exc:
        raise ProtobufError(f"{path}: {value!r} is not an RFC 3339 time") from exc
    seconds = int(moment.timestamp() // 1)
    # Go's Time.UnmarshalJSON keeps a fraction if one is given, and ProtoTime sends it as nanos.
    nanos = moment.microsecond * 1000
    return _encode_message(type_name, {"seconds": seconds, "nanos": nanos}, path)


def _expect(value: Any, kind: type, path: str) -> Any:
    """Check a JSON value's Python type before encoding it."""
    if not isinstance(value, kind):
        raise ProtobufError(f"{path}: expected {kind.__name__}, got {value!r}")
    return value

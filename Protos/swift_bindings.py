#!/usr/bin/env python3
"""Generates the Swift bindings of Sources/Shared/Messages from a FileDescriptorSet.

Usage: swift_bindings.py DESCRIPTORS.binpb OUTDIR   (run by Protos/generate.sh after protoc-c)

DESCRIPTORS.binpb is what `protoc-c --descriptor_set_out --include_imports --include_source_info`
writes; OUTDIR gets one `<proto path with _>.pb.swift` per .proto file plus AllMessages.swift
and ProtoDescriptors.swift (every file's serialized FileDescriptorProto and a symbol index, for
gRPC server reflection: the binary never reads descriptors.binpb).
The Swift values convert to and from the protoc-c generated C structs, so all encoding and
decoding stays in protobuf-c (runtime helpers: Sources/Shared/Messages/ProtoRuntime.swift).

Mapping, proto3 only:
- Every message and enum becomes a top-level Swift type named by its own (short) name; a nested
  one also gets a typealias inside its parent (ModelInferRequest.InferInputTensor). Names must
  be unique across all files.
- Fields become lowerCamelCase properties: scalars as Swift integers/Float/Double/Bool, string
  as String, bytes as [UInt8], enums as the Swift enum, message fields as optionals (presence
  survives a round trip), repeated fields as arrays, maps as dictionaries (encoded in key order).
- A message made of one oneof and nothing else becomes a Swift enum with one case per member
  (InferParameter.bool(true)); a value with no member set has no Swift form, so it is dropped
  from maps and lists and is nil as a singular field. Any other oneof becomes an optional enum
  property. Case names are the member names without the suffix they all share ("_param");
  a member may be a message (not one made of one oneof).
- Enum cases drop the prefix of the enum's own name (VERSION_STATE_UNSPECIFIED -> unspecified);
  an unknown number decodes as the enum's zero value.
Anything else (proto2, proto3 `optional`, extensions, groups, enum aliases, bool map keys) is
refused with an error rather than generated wrongly.
"""
from __future__ import annotations

import base64
import sys
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import descriptor_pb2

F = descriptor_pb2.FieldDescriptorProto
MODULE = "Messages"

# The Swift type and zero value of each scalar field type.
SCALARS = {
    F.TYPE_INT32: ("Int32", "0"), F.TYPE_SINT32: ("Int32", "0"), F.TYPE_SFIXED32: ("Int32", "0"),
    F.TYPE_INT64: ("Int64", "0"), F.TYPE_SINT64: ("Int64", "0"), F.TYPE_SFIXED64: ("Int64", "0"),
    F.TYPE_UINT32: ("UInt32", "0"), F.TYPE_FIXED32: ("UInt32", "0"),
    F.TYPE_UINT64: ("UInt64", "0"), F.TYPE_FIXED64: ("UInt64", "0"),
    F.TYPE_FLOAT: ("Float", "0"), F.TYPE_DOUBLE: ("Double", "0"),
    F.TYPE_BOOL: ("Bool", "false"), F.TYPE_STRING: ("String", '""'), F.TYPE_BYTES: ("[UInt8]", "[]"),
}

# C -> Swift and Swift -> C expressions of the scalars that are not the same in both languages
# (protobuf-c's protobuf_c_boolean, char * and ProtobufCBinaryData); `{}` is the value.
CONVERSIONS = {
    F.TYPE_BOOL: ("{} != 0", "{} ? 1 : 0"),
    F.TYPE_STRING: ("swiftString({})", "arena.string({})"),
    F.TYPE_BYTES: ("swiftBytes({})", "arena.binary({})"),
}
# The runtime helpers that copy repeated fields of those types: (C -> Swift, Swift -> C).
REPEATED_CONVERSIONS = {
    F.TYPE_BOOL: ("swiftBools", "arena.bools"),
    F.TYPE_STRING: ("swiftStrings", "arena.strings"),
    F.TYPE_BYTES: ("swiftBytesList", "arena.binaries"),
}

SWIFT_KEYWORDS = {
    "associatedtype", "class", "deinit", "enum", "extension", "fileprivate", "func", "import", "init",
    "inout", "internal", "let", "open", "operator", "private", "protocol", "public", "rethrows",
    "static", "struct", "subscript", "typealias", "var", "break", "case", "continue", "default",
    "defer", "do", "else", "fallthrough", "for", "guard", "if", "in", "repeat", "return", "switch",
    "where", "while", "as", "Any", "catch", "false", "is", "nil", "super", "self", "Self", "throw",
    "throws", "true", "try", "Type",
}

# protoc-c appends "_" to field names that are C++ keywords (c_helpers.cc, FieldName).
C_KEYWORDS = {
    "and", "and_eq", "asm", "auto", "bitand", "bitor", "bool", "break", "case", "catch", "char",
    "class", "compl", "const", "const_cast", "continue", "default", "delete", "do", "double",
    "dynamic_cast", "else", "enum", "explicit", "extern", "false", "float", "for", "friend", "goto",
    "if", "inline", "int", "long", "mutable", "namespace", "new", "not", "not_eq", "operator", "or",
    "or_eq", "private", "protected", "public", "register", "reinterpret_cast", "return", "short",
    "signed", "sizeof", "static", "static_cast", "struct", "switch", "template", "this", "throw",
    "true", "try", "typedef", "typeid", "typename", "union", "unsigned", "using", "virtual", "void",
    "volatile", "wchar_t", "while", "xor", "xor_eq",
}


class GeneratorError(Exception):
    """A construct the generator does not support, or a name clash."""


# MARK: - Names

def camel_to_lower(name: str) -> str:
    """protoc-c's CamelToLower: ModelVersion -> model_version."""
    out, was_upper = "", True
    for ch in name:
        if ch.isupper():
            out += ("" if was_upper else "_") + ch.lower()
        else:
            out += ch
        was_upper = ch.isupper()
    return out


def to_camel(name: str) -> str:
    """protoc-c's ToCamel: v1 -> V1, model_version -> ModelVersion."""
    out, upper = "", True
    for ch in name:
        if ch == "_":
            upper = True
        elif upper:
            out += ch.upper()
            upper = False
        else:
            out += ch
    return out


def c_type(full_name: str) -> str:
    """The protoc-c struct or enum type: byoc.v1.ModelVersion -> Byoc__V1__ModelVersion."""
    return "__".join(to_camel(p) for p in full_name.split(".") if p)


def c_prefix(full_name: str) -> str:
    """The protoc-c function prefix: byoc.v1.ModelVersion -> byoc__v1__model_version."""
    return "__".join(camel_to_lower(p) for p in full_name.split(".") if p)


def c_field(name: str) -> str:
    """The protoc-c struct member of a field."""
    lower = name.lower()
    return lower + "_" if lower in C_KEYWORDS else lower


def lower_camel(snake: str) -> str:
    """target_cpu_utilization -> targetCpuUtilization."""
    parts = [p for p in snake.split("_") if p]
    return parts[0] + "".join(p[0].upper() + p[1:] for p in parts[1:]) if parts else snake


def upper_camel(snake: str) -> str:
    name = lower_camel(snake)
    return name[0].upper() + name[1:]


def upper_snake(camel: str) -> str:
    """VersionState -> VERSION_STATE."""
    return camel_to_lower(camel).upper()


def ident(name: str) -> str:
    """A Swift identifier, escaped when it is a keyword."""
    return f"`{name}`" if name in SWIFT_KEYWORDS else name


def case_names(fields: list[F]) -> list[str]:
    """Oneof case names: member names without the suffix they all share (bool_param -> bool)."""
    names = [f.name for f in fields]
    if len(names) > 1 and all("_" in n for n in names):
        suffix = "_" + names[0].rsplit("_", 1)[1]
        if all(n.endswith(suffix) and len(n) > len(suffix) for n in names):
            names = [n[: -len(suffix)] for n in names]
    return [lower_camel(n) for n in names]


# MARK: - The model

@dataclass
class EnumInfo:
    full: str
    swift: str
    proto: descriptor_pb2.EnumDescriptorProto
    path: tuple
    file: "FileInfo"
    parent: "MessageInfo | None"

    def case(self, value_name: str) -> str:
        prefix = upper_snake(self.proto.name) + "_"
        name = value_name
        if name.startswith(prefix) and not name[len(prefix):][:1].isdigit() and len(name) > len(prefix):
            name = name[len(prefix):]
        return lower_camel(name.lower())

    @property
    def zero_case(self) -> str:
        return self.case(self.proto.value[0].name)


@dataclass
class MessageInfo:
    full: str
    swift: str
    proto: descriptor_pb2.DescriptorProto
    path: tuple
    file: "FileInfo"
    parent: "MessageInfo | None"
    nested: list = field(default_factory=list)  # nested MessageInfo and EnumInfo, in order

    @property
    def is_map_entry(self) -> bool:
        return self.proto.options.map_entry

    @property
    def is_oneof_enum(self) -> bool:
        """Made of one oneof and nothing else: generated as a Swift enum."""
        fields = self.proto.field
        return (len(self.proto.oneof_decl) == 1 and len(fields) > 0
                and all(f.HasField("oneof_index") for f in fields))


@dataclass
class FileInfo:
    proto: descriptor_pb2.FileDescriptorProto
    comments: dict
    types: list = field(default_factory=list)  # top-level MessageInfo and EnumInfo, in order


class Model:
    """Every message and enum of the descriptor set, by full name."""

    def __init__(self, files: list[descriptor_pb2.FileDescriptorProto]):
        self.files: list[FileInfo] = []
        self.messages: dict[str, MessageInfo] = {}
        self.enums: dict[str, EnumInfo] = {}
        swift_names: dict[str, str] = {}
        for fd in files:
            if fd.syntax != "proto3":
                raise GeneratorError(f"{fd.name}: only proto3 is supported")
            if fd.extension:
                raise GeneratorError(f"{fd.name}: extensions are not supported")
            comments = {}
            for loc in fd.source_code_info.location:
                text = loc.leading_comments or loc.trailing_comments
                if text.strip():
                    comments[tuple(loc.path)] = text
            info = FileInfo(fd, comments)
            self.files.append(info)
            prefix = "." + fd.package if fd.package else ""

            def add_enum(e, path, parent, scope):
                full = f"{scope}.{e.name}"
                if e.options.allow_alias:
                    raise GeneratorError(f"{full}: enum aliases are not supported")
                self._claim(swift_names, e.name, full)
                item = EnumInfo(full[1:], e.name, e, path, info, parent)
                self.enums[full] = item
                return item

            def add_message(m, path, parent, scope):
                full = f"{scope}.{m.name}"
                item = MessageInfo(full[1:], m.name, m, path, info, parent)
                self.messages[full] = item
                if not m.options.map_entry:
                    self._claim(swift_names, m.name, full)
                for i, n in enumerate(m.nested_type):
                    item.nested.append(add_message(n, path + (3, i), item, full))
                for i, e in enumerate(m.enum_type):
                    item.nested.append(add_enum(e, path + (4, i), item, full))
                if m.extension or m.extension_range:
                    raise GeneratorError(f"{full}: extensions are not supported")
                return item

            for i, m in enumerate(fd.message_type):
                info.types.append(add_message(m, (4, i), None, prefix))
            for i, e in enumerate(fd.enum_type):
                info.types.append(add_enum(e, (5, i), None, prefix))

    @staticmethod
    def _claim(names: dict, swift: str, full: str):
        if swift in names:
            raise GeneratorError(f"Swift type name {swift} is used by both {names[swift][1:]} and {full[1:]}")
        names[swift] = full

    def comment(self, item, path: tuple) -> list[str]:
        text = item.file.comments.get(path, "")
        return [line.strip() for line in text.strip().splitlines()]


# MARK: - Fields

class FieldGen:
    """How one field is declared in Swift and converted to and from C."""

    def __init__(self, model: Model, owner: MessageInfo, f: F):
        self.model, self.f = model, f
        self.swift = ident(lower_camel(f.name))
        self.c = c_field(f.name)
        where = f"{owner.full}.{f.name}"
        if f.label == F.LABEL_REQUIRED or f.HasField("default_value"):
            raise GeneratorError(f"{where}: proto2 fields are not supported")
        if f.proto3_optional:
            raise GeneratorError(f"{where}: proto3 `optional` is not supported")
        if f.type == F.TYPE_GROUP:
            raise GeneratorError(f"{where}: groups are not supported")
        self.repeated = f.label == F.LABEL_REPEATED
        self.map_entry = None
        if f.type == F.TYPE_MESSAGE:
            target = model.messages[f.type_name]
            if target.is_map_entry:
                self.map_entry = target
        if self.map_entry:
            key, value = self.map_entry.proto.field
            if key.type in (F.TYPE_BOOL, F.TYPE_FLOAT, F.TYPE_DOUBLE, F.TYPE_BYTES):
                raise GeneratorError(f"{where}: map keys of this type are not supported")
            self.key, self.value = key, value

    # Types

    def element_type(self, f: F) -> str:
        """The Swift type of one value of `f` (not repeated, not optional)."""
        if f.type == F.TYPE_MESSAGE:
            return self.model.messages[f.type_name].swift
        if f.type == F.TYPE_ENUM:
            return self.model.enums[f.type_name].swift
        return SCALARS[f.type][0]

    def zero(self, f: F) -> str:
        if f.type == F.TYPE_ENUM:
            return "." + self.model.enums[f.type_name].zero_case
        return SCALARS[f.type][1]

    @property
    def type(self) -> str:
        if self.map_entry:
            return f"[{self.element_type(self.key)}: {self.element_type(self.value)}]"
        if self.repeated:
            return f"[{self.element_type(self.f)}]"
        if self.f.type == F.TYPE_MESSAGE:
            return self.element_type(self.f) + "?"
        return self.element_type(self.f)

    @property
    def default(self) -> str:
        if self.map_entry:
            return "[:]"
        if self.repeated:
            return "[]"
        if self.f.type == F.TYPE_MESSAGE:
            return "nil"
        return self.zero(self.f)

    # Conversions of a single (non-repeated) value

    def from_c(self, f: F, expr: str) -> str:
        """Swift value of C value `expr`; for messages `expr` is a pointer and the result optional."""
        if f.type == F.TYPE_MESSAGE:
            target = self.model.messages[f.type_name]
            mapper = "flatMap" if target.is_oneof_enum else "map"
            return f"{expr}.{mapper} {{ {target.swift}(c: $0.pointee) }}"
        if f.type == F.TYPE_ENUM:
            e = self.model.enums[f.type_name]
            return f"{e.swift}(rawValue: protoEnumValue({expr})) ?? .{e.zero_case}"
        if f.type in CONVERSIONS:
            return CONVERSIONS[f.type][0].format(expr)
        return expr

    def to_c(self, f: F, expr: str) -> str:
        """C value of Swift value `expr` (for messages, of the unwrapped value)."""
        if f.type == F.TYPE_MESSAGE:
            return f"{expr}.toC(arena)"
        if f.type == F.TYPE_ENUM:
            return f"cEnum({expr}.rawValue)"
        if f.type in CONVERSIONS:
            return CONVERSIONS[f.type][1].format(expr)
        return expr

    # Whole fields

    def decode(self) -> str:
        """The Swift value of this field of C message `c`."""
        f, c = self.f, self.c
        if self.map_entry:
            value = self.value
            if value.type == F.TYPE_MESSAGE:
                target = self.model.messages[value.type_name]
                converted = self.from_c(value, "$0.value")
                if not target.is_oneof_enum:
                    converted += f" ?? {target.swift}()"
            else:
                converted = self.from_c(value, "$0.value")
            return f"swiftMap(c.n_{c}, c.{c}) {{ ({self.from_c(self.key, '$0.key')}, {converted}) }}"
        if not self.repeated:
            return self.from_c(f, f"c.{c}")
        if f.type == F.TYPE_MESSAGE:
            target = self.model.messages[f.type_name]
            return f"swiftMessages(c.n_{c}, c.{c}) {{ {target.swift}(c: $0) }}"
        if f.type in REPEATED_CONVERSIONS:
            return f"{REPEATED_CONVERSIONS[f.type][0]}(c.n_{c}, c.{c})"
        if f.type == F.TYPE_ENUM:
            return f"swiftArray(c.n_{c}, c.{c}).map {{ {self.from_c(f, '$0')} }}"
        return f"swiftArray(c.n_{c}, c.{c})"

    def encode(self) -> list[str]:
        """Statements that set this field of C message `m` from the Swift property."""
        f, c, s = self.f, self.c, self.swift
        if self.map_entry:
            entry_init = c_prefix(self.map_entry.full) + "__init"
            return [
                f"(m.pointee.n_{c}, m.pointee.{c}) = arena.map({s}, {entry_init}) {{ entry, key, value in",
                f"    entry.pointee.key = {self.to_c(self.key, 'key')}",
                f"    entry.pointee.value = {self.to_c(self.value, 'value')}",
                "}",
            ]
        if not self.repeated:
            if f.type == F.TYPE_MESSAGE:
                return [f"m.pointee.{c} = {s}?.toC(arena)"]
            return [f"m.pointee.{c} = {self.to_c(f, s)}"]
        if f.type == F.TYPE_MESSAGE:
            call = f"arena.messages({s}) {{ $0.toC(arena) }}"
        elif f.type in REPEATED_CONVERSIONS:
            call = f"{REPEATED_CONVERSIONS[f.type][1]}({s})"
        elif f.type == F.TYPE_ENUM:
            e = self.model.enums[f.type_name]
            call = f"arena.array({s}.map {{ cEnum($0.rawValue, as: {c_type(e.full)}.self) }})"
        else:
            call = f"arena.array({s})"
        return [f"(m.pointee.n_{c}, m.pointee.{c}) = {call}"]


# MARK: - Swift output

class Writer:
    def __init__(self):
        self.lines: list[str] = []
        self.depth = 0

    def __call__(self, text: str = ""):
        self.lines.append(("    " * self.depth + text) if text else "")

    def doc(self, lines: list[str]):
        for line in lines:
            self(f"/// {line}".rstrip())

    def indent(self):
        self.depth += 1

    def dedent(self):
        self.depth -= 1


def doc_or(model: Model, item, path: tuple, fallback: str) -> list[str]:
    lines = model.comment(item, path)
    return lines if lines else [fallback]


def field_doc(model: Model, m: MessageInfo, index: int, f: F) -> list[str]:
    """`name` (field N), then the field's proto comment."""
    lines = model.comment(m, m.path + (2, index))
    head = f"`{f.name}` (field {f.number})"
    if not lines:
        return [head + "."]
    return [f"{head}: {lines[0]}"] + lines[1:]


def type_doc(model: Model, item, kind: str, note: str = "") -> list[str]:
    """The doc comment of a generated type: its proto comment, then its proto name."""
    lines = model.comment(item, item.path)
    name = f"The proto {kind} `{item.full}`{note}."
    return lines + ["", name] if lines else [name]


def write_enum(w: Writer, model: Model, e: EnumInfo):
    w.doc(type_doc(model, e, "enum"))
    values = e.proto.value
    if values[0].number != 0:
        raise GeneratorError(f"{e.full}: the first value must be 0")
    w(f"public enum {e.swift}: Int32, CaseIterable, Sendable, ProtoEnum {{")
    w.indent()
    for i, v in enumerate(values):
        w.doc(model.comment(e, e.path + (2, i)))
        w(f"case {ident(e.case(v.name))} = {v.number}")
    w()
    w(f'/// The proto name of the value, e.g. "{values[-1].name}".')
    w("public var name: String {")
    w.indent()
    w("switch self {")
    for v in values:
        w(f'case .{ident(e.case(v.name))}: return "{v.name}"')
    w("}")
    w.dedent()
    w("}")
    w.dedent()
    w("}")


def write_nested_aliases(w: Writer, m: MessageInfo):
    for n in m.nested:
        if isinstance(n, MessageInfo) and n.is_map_entry:
            continue
        w(f"/// The proto-nested name of `{n.swift}`.")
        w(f"public typealias {n.swift} = {MODULE}.{n.swift}")
    if any(not (isinstance(n, MessageInfo) and n.is_map_entry) for n in m.nested):
        w()


def oneof_cases(model: Model, m: MessageInfo, index: int) -> list[tuple[str, FieldGen, int]]:
    members = [(i, f) for i, f in enumerate(m.proto.field) if f.HasField("oneof_index") and f.oneof_index == index]
    names = case_names([f for _, f in members])
    return [(ident(n), FieldGen(model, m, f), i) for n, (i, f) in zip(names, members)]


def write_oneof_enum_body(w: Writer, model: Model, m: MessageInfo, index: int, c_struct: str):
    """The cases of oneof `index` of `m`, and init?(c:) and set(in:) over C struct `c_struct`."""
    cases = oneof_cases(model, m, index)
    oneof = m.proto.oneof_decl[index].name
    for name, g, i in cases:
        w.doc(field_doc(model, m, i, g.f))
        if g.f.type == F.TYPE_MESSAGE and model.messages[g.f.type_name].is_oneof_enum:
            raise GeneratorError(f"{m.full}.{g.f.name}: a oneof member made of one oneof is not supported")
        w(f"case {name}({g.element_type(g.f)})")
    w()
    w(f"/// Reads the member of C oneof `{oneof}` that is set; nil when none is.")
    w(f"init?(c: {c_struct}) {{")
    w.indent()
    w(f"switch protoEnumValue(c.{c_field(oneof)}_case) {{")
    for name, g, _ in cases:
        if g.f.type == F.TYPE_MESSAGE:
            # A message member is a pointer, set whenever the case is.
            w(f"case {g.f.number}:")
            w(f"    guard let pointer = c.{g.c} else {{ return nil }}")
            w(f"    self = .{name.strip('`')}({g.element_type(g.f)}(c: pointer.pointee))")
        else:
            w(f"case {g.f.number}: self = .{name.strip('`')}({g.from_c(g.f, 'c.' + g.c)})")
    w("default: return nil")
    w("}")
    w.dedent()
    w("}")
    w()
    w(f"/// Sets C oneof `{oneof}` of `m` to this member.")
    w(f"func set(in m: UnsafeMutablePointer<{c_struct}>, _ arena: CArena) {{")
    w.indent()
    w("switch self {")
    for name, g, _ in cases:
        w(f"case .{name.strip('`')}(let value):")
        w(f"    m.pointee.{c_field(oneof)}_case = cEnum({g.f.number})")
        w(f"    m.pointee.{g.c} = {g.to_c(g.f, 'value')}")
    w("}")
    w.dedent()
    w("}")


def write_oneof_message(w: Writer, model: Model, m: MessageInfo):
    c_struct = c_type(m.full)
    w.doc(type_doc(model, m, "message", ", one oneof (a value with no member set is dropped on decoding)"))
    w(f"public enum {m.swift}: Equatable, Sendable {{")
    w.indent()
    write_nested_aliases(w, m)
    write_oneof_enum_body(w, model, m, 0, c_struct)
    w()
    w(f"func toC(_ arena: CArena) -> UnsafeMutablePointer<{c_struct}> {{")
    w.indent()
    w(f"let m = arena.message({c_prefix(m.full)}__init)")
    w("set(in: m, arena)")
    w("return m")
    w.dedent()
    w("}")
    w.dedent()
    w("}")


def write_struct(w: Writer, model: Model, m: MessageInfo):
    c_struct = c_type(m.full)
    # Members in declaration order: a plain field, or a oneof at the place of its first field.
    members = []  # (swift name, swift type, default, decode expr, encode lines, doc)
    seen_oneofs = set()
    for i, f in enumerate(m.proto.field):
        if f.HasField("oneof_index"):
            if f.oneof_index in seen_oneofs:
                continue
            seen_oneofs.add(f.oneof_index)
            oneof = m.proto.oneof_decl[f.oneof_index].name
            type_name = upper_camel(oneof)
            name = ident(lower_camel(oneof))
            doc = doc_or(model, m, m.path + (8, f.oneof_index), f"The member of oneof `{oneof}` that is set, if any.")
            members.append((name, type_name + "?", "nil", f"{type_name}(c: c)",
                            [f"{name}?.set(in: m, arena)"], doc))
            continue
        g = FieldGen(model, m, f)
        doc = field_doc(model, m, i, f)
        members.append((g.swift, g.type, g.default, g.decode(), g.encode(), doc))

    w.doc(type_doc(model, m, "message"))
    w(f"public struct {m.swift}: Equatable, Sendable, ProtoMessage {{")
    w.indent()
    write_nested_aliases(w, m)
    for i, decl in enumerate(m.proto.oneof_decl):
        type_name = upper_camel(decl.name)
        w(f"/// The members of oneof `{decl.name}`.")
        w(f"public enum {type_name}: Equatable, Sendable {{")
        w.indent()
        write_oneof_enum_body(w, model, m, i, c_struct)
        w.dedent()
        w("}")
        w()
    for name, type_, _, _, _, doc in members:
        w.doc(doc)
        w(f"public var {name}: {type_}")
    if members:
        w()
        w("/// Creates a message; every field defaults to its zero value (empty, 0, false or nil).")
        params = [f"{name}: {type_} = {default}" for name, type_, default, _, _, _ in members]
        w(f"public init({params[0]}" + ("," if len(params) > 1 else ") {"))
        for k, p in enumerate(params[1:], 1):
            w(f"            {p}" + ("," if k < len(params) - 1 else ") {"))
        w.indent()
        for name, *_ in members:
            w(f"self.{name.strip('`')} = {name}")
        w.dedent()
        w("}")
        w()
        w("/// Creates a message with every field at its zero value.")
        first, _, first_default, *_ = members[0]
        w(f"public init() {{ self.init({first.strip('`')}: {first_default}) }}")
    else:
        w("/// Creates the message (it has no fields).")
        w("public init() {}")
    w()
    w(f"/// The full proto name, \"{m.full}\".")
    w(f'public static var protoMessageName: String {{ "{m.full}" }}')
    w()
    w(f"/// Decodes a {m.full} through protobuf-c; throws `ProtoDecodeError` on bad input.")
    w("public init(serializedBytes bytes: UnsafeRawBufferPointer) throws {")
    w("    self = try decodeMessage(bytes)")
    w("}")
    w()
    w(f"/// Encodes as a {m.full} through protobuf-c.")
    w("public func serializedBytes() -> [UInt8] {")
    w("    encodeMessage(self)")
    w("}")
    w.dedent()
    w("}")
    w()
    w(f"extension {m.swift}: CMessageBinding {{")
    w.indent()
    w(f"static var cInit: (UnsafeMutablePointer<{c_struct}>?) -> Void {{ {c_prefix(m.full)}__init }}")
    w()
    if members:
        w(f"init(c: {c_struct}) {{")
        w.indent()
        w("self.init(")
        for k, (name, _, _, decode, _, _) in enumerate(members):
            w(f"    {name.strip('`')}: {decode}" + ("," if k < len(members) - 1 else ")"))
        w.dedent()
        w("}")
    else:
        w(f"init(c _: {c_struct}) {{ self.init() }}")
    w()
    w(f"func toC(_ arena: CArena) -> UnsafeMutablePointer<{c_struct}> {{")
    w.indent()
    if not members:
        w(f"arena.message({c_prefix(m.full)}__init)")
    else:
        w(f"let m = arena.message({c_prefix(m.full)}__init)")
        for *_, encode, _ in members:
            for line in encode:
                w(line)
        w("return m")
    w.dedent()
    w("}")
    w.dedent()
    w("}")


def write_types(w: Writer, model: Model, items: list):
    for item in items:
        if isinstance(item, EnumInfo):
            w()
            write_enum(w, model, item)
            continue
        if item.is_map_entry:
            continue
        w()
        if item.is_oneof_enum:
            write_oneof_message(w, model, item)
        else:
            write_struct(w, model, item)
        write_types(w, model, item.nested)


HEADER = "// Generated by Protos/generate.sh from {source}: do not edit (run Protos/generate.sh)."


def generate_file(model: Model, info: FileInfo) -> str:
    w = Writer()
    w(HEADER.format(source=f"Protos/{info.proto.name}"))
    w("import ByocProtos")
    w("import CProtobufC")
    write_types(w, model, info.types)
    return "\n".join(w.lines) + "\n"


def all_messages(model: Model) -> list[MessageInfo]:
    found = []

    def walk(items):
        for item in items:
            if isinstance(item, MessageInfo) and not item.is_map_entry:
                if not item.is_oneof_enum:
                    found.append(item)
                walk(item.nested)

    for info in model.files:
        walk(info.types)
    return found


def generate_index(model: Model) -> str:
    w = Writer()
    w(HEADER.format(source="Protos/"))
    w()
    w("/// Every generated message type, for tests that cover each one.")
    w("enum GeneratedMessages {")
    w.indent()
    w("/// The message types in proto file and declaration order.")
    w("static var all: [any ProtoMessage.Type] {")
    w.indent()
    w("[")
    for m in all_messages(model):
        w(f"    {m.swift}.self,")
    w("]")
    w.dedent()
    w("}")
    w.dedent()
    w("}")
    return "\n".join(w.lines) + "\n"


def symbol_index(fd: descriptor_pb2.FileDescriptorProto) -> list[str]:
    """Every fully-qualified name `fd` declares: services and their methods, messages (nested
    too) with their fields and oneofs, enums with their values (which live in the enum's scope)."""
    names = []
    prefix = fd.package + "." if fd.package else ""

    def enum(e, scope):
        names.append(scope + e.name)
        names.extend(scope + v.name for v in e.value)

    def message(m, scope):
        full = scope + m.name
        names.append(full)
        names.extend(f"{full}.{f.name}" for f in m.field)
        names.extend(f"{full}.{o.name}" for o in m.oneof_decl)
        for e in m.enum_type:
            enum(e, full + ".")
        for n in m.nested_type:
            message(n, full + ".")

    for service in fd.service:
        names.append(prefix + service.name)
        names.extend(f"{prefix}{service.name}.{method.name}" for method in service.method)
    for m in fd.message_type:
        message(m, prefix)
    for e in fd.enum_type:
        enum(e, prefix)
    return names


def message_names(fd: descriptor_pb2.FileDescriptorProto) -> list[str]:
    """The full names of the messages `fd` declares, nested ones included (map entries too)."""
    names = []

    def walk(m, scope):
        names.append(scope + m.name)
        for n in m.nested_type:
            walk(n, scope + m.name + ".")

    for m in fd.message_type:
        walk(m, fd.package + "." if fd.package else "")
    return names


def swift_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def generate_descriptors(fds: descriptor_pb2.FileDescriptorSet) -> str:
    """ProtoDescriptors.swift: each file's FileDescriptorProto (base64 in the source, decoded
    once), its imports, the services in file order, and which file declares each symbol."""
    w = Writer()
    w(HEADER.format(source="Protos/ (Generated/descriptors.binpb)"))
    w("import Foundation")
    w()
    w("/// One proto file of Protos/ as gRPC server reflection serves it.")
    w("public struct ProtoFileDescriptor: Sendable {")
    w("    /// The serialized FileDescriptorProto, with source comments.")
    w("    public let descriptor: [UInt8]")
    w("    /// The files it imports.")
    w("    public let dependencies: [String]")
    w("}")
    w()
    w("/// The descriptors of every proto file in Protos/, embedded at generation time.")
    w("public enum ProtoDescriptors {")
    w.indent()
    w("/// The services declared, by full name, in file order.")
    services = [(fd.package + "." if fd.package else "") + s.name for fd in fds.file for s in fd.service]
    w("public static let services: [String] = [")
    for name in services:
        w(f"    {swift_string(name)},")
    w("]")
    w()
    w("/// File name -> its descriptor.")
    w("public static let files: [String: ProtoFileDescriptor] = [")
    for fd in fds.file:
        encoded = base64.b64encode(fd.SerializeToString(deterministic=True)).decode()
        deps = ", ".join(swift_string(d) for d in fd.dependency)
        w(f"    {swift_string(fd.name)}: ProtoFileDescriptor(descriptor: bytes(\"\"\"")
        for i in range(0, len(encoded), 96):
            w(f"        {encoded[i:i + 96]}")
        w(f"        \"\"\"), dependencies: [{deps}]),")
    w("]")
    w()
    w("/// Fully-qualified symbol (service, method, message, field, enum, enum value) -> the file")
    w("/// that declares it.")
    w("public static let symbols: [String: String] = [")
    for fd in fds.file:
        for name in symbol_index(fd):
            w(f"    {swift_string(name)}: {swift_string(fd.name)},")
    w("]")
    w()
    w("/// The message types declared (nested too), by full name: what extension requests may name.")
    w("public static let messageTypes: Set<String> = [")
    for fd in fds.file:
        for name in message_names(fd):
            w(f"    {swift_string(name)},")
    w("]")
    w()
    w("/// Decodes the base64 of one descriptor (line breaks ignored).")
    w("private static func bytes(_ base64: String) -> [UInt8] {")
    w("    [UInt8](Data(base64Encoded: base64, options: .ignoreUnknownCharacters)!)")
    w("}")
    w.dedent()
    w("}")
    return "\n".join(w.lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    descriptors, out = Path(argv[1]), Path(argv[2])
    fds = descriptor_pb2.FileDescriptorSet.FromString(descriptors.read_bytes())
    try:
        model = Model(list(fds.file))
        outputs = {info.proto.name.removesuffix(".proto").replace("/", "_") + ".pb.swift": generate_file(model, info)
                   for info in model.files}
        outputs["AllMessages.swift"] = generate_index(model)
        outputs["ProtoDescriptors.swift"] = generate_descriptors(fds)
    except GeneratorError as error:
        print(f"swift_bindings.py: {error}", file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.swift"):
        old.unlink()
    for name, text in sorted(outputs.items()):
        (out / name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

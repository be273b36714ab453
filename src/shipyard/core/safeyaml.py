"""Reading YAML safely: no tags, no aliases (no alias bombs), no duplicate keys, a size limit."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from shipyard.core.errors import SpecError

#: A service spec is a few KiB; anything past this is refused before it is parsed.
MAX_BYTES = 256 * 1024
#: Deeper nesting than this is refused (a spec is at most a few levels deep).
MAX_DEPTH = 32


_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases, duplicate keys and deep nesting."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise SpecError(
                "",
                f"*{event.anchor}",
                "YAML aliases are not accepted in a spec (they allow alias bombs): write the value out",
            )
        depth = getattr(self, "_shipyard_depth", 0)
        if depth > MAX_DEPTH:
            raise SpecError("", "…", f"nesting deeper than {MAX_DEPTH} levels: flatten the spec")
        self._shipyard_depth = depth + 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._shipyard_depth = depth

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:
                raise SpecError("", key, "mapping keys must be plain strings or numbers") from None
            if duplicate:
                line = key_node.start_mark.line + 1
                raise SpecError(str(key), key, f"the key appears twice (line {line}): keep one")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# YAML 1.1 reads 0022 as 18 (octal), 12:30 as 750 (base 60), 0x1F, 1_000 and +5 as numbers:
# a spec that says UMASK: 0022 would silently deploy UMASK=18. Here only plain decimals are
# numbers (no leading zero, no sign but '-', no '_' or ':'); everything else stays the string
# that was written, and the spec's types then say what they want (a quoted-looking error).
_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_INT, _FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(_INT, re.compile(r"^-?(?:0|[1-9][0-9]{0,17})\Z"), list("-0123456789"))
_StrictLoader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^-?(?:0|[1-9][0-9]*)\.[0-9]+(?:[eE][-+]?[0-9]+)?\Z|^-?\.(?:inf|Inf|INF)\Z|^\.(?:nan|NaN|NAN)\Z"
    ),
    list("-0123456789."),
)


def loads(text: str, *, source: str = "<string>", max_bytes: int = MAX_BYTES) -> Any:
    """Parse YAML text safely; errors become :class:`SpecError` naming ``source``."""
    if len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise SpecError("", f"{len(text)} bytes", f"the text may be at most {max_bytes} bytes", source=source)
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - _StrictLoader is a SafeLoader
    except SpecError as exc:
        exc.source = source
        exc.message = f"{source}: {exc.message}"
        raise
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError("", f"YAML{where}", f"fix the YAML syntax ({problem})", source=source) from None
    except RecursionError:
        raise SpecError("", "…", "the YAML nests too deeply: flatten it", source=source) from None
    except (ValueError, OverflowError) as exc:  # e.g. an integer of 5000 digits
        raise SpecError("", "YAML", f"a value cannot be read ({exc}): shorten it", source=source) from None


def load(path: Path, *, max_bytes: int = MAX_BYTES) -> Any:
    """Read and parse a YAML file safely, refusing files over ``max_bytes`` (a spec's limit)."""
    source = str(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise SpecError("", source, "the file does not exist: check the path", source=source) from None
    except OSError as exc:
        raise SpecError("", source, f"cannot read it ({exc.strerror})", source=source) from None
    if not path.is_file():
        raise SpecError("", source, "not a regular file: give the path of a YAML file", source=source)
    if size > max_bytes:
        raise SpecError("", f"{size} bytes", f"the file may be at most {max_bytes} bytes", source=source)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SpecError("", source, "the file is not UTF-8 text", source=source) from None
    return loads(text, source=source, max_bytes=max_bytes)

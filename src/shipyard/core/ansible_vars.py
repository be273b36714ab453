"""Variables for ansible-playbook as data that Ansible never templates.

Every value shipyard hands to a playbook comes from a spec, a secret or a CLI argument: data,
never code. Ansible templates any string it reads as a variable (``{{ lookup('pipe', …) }}``
in an env value would run on the controller), so everything goes out in a YAML vars file passed as
``-e @FILE`` whose root mapping is tagged ``!unsafe``. ``!unsafe`` is the documented way to
mark variables as raw data, and it is recursive: every string under the tagged mapping is
untrusted (ansible-core 2.19's Data Tagging never templates it; earlier releases wrap it as
unsafe text). Scalars themselves are not tagged: ansible re-resolves a tagged scalar's type
(``!unsafe ""`` loads as None, ``!unsafe "123"`` as an int), which the round-trip property
test caught. Strings are written double-quoted with escapes, so a value arrives byte for byte
(``pa{{ x }}ss`` stays ``pa{{ x }}ss``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from shipyard.core.fsutil import atomic_write

UNSAFE_TAG = "!unsafe"


class _UnsafeDumper(yaml.SafeDumper):
    """A SafeDumper for vars files: the root mapping ``!unsafe``, every string double-quoted."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    value.encode("utf-8")  # a lone surrogate cannot reach ansible-playbook: fail here, not there
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')


def _represent_mapping(dumper: yaml.SafeDumper, value: Mapping[Any, Any]) -> yaml.MappingNode:
    pairs = []
    for key, item in value.items():
        if not isinstance(key, str):
            raise TypeError(f"variable names must be strings, got {key!r}")
        pairs.append(
            (dumper.represent_scalar("tag:yaml.org,2002:str", key, style='"'), dumper.represent_data(item))
        )
    return yaml.MappingNode("tag:yaml.org,2002:map", pairs, flow_style=False)


def _represent_sequence(dumper: yaml.SafeDumper, value: Any) -> yaml.SequenceNode:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", list(value), flow_style=False)


class _Root(dict):  # type: ignore[type-arg]
    """The document's root mapping: tagged ``!unsafe`` as a whole."""


def _represent_root(dumper: yaml.SafeDumper, value: _Root) -> yaml.MappingNode:
    node = _represent_mapping(dumper, value)
    node.tag = UNSAFE_TAG
    return node


_UnsafeDumper.add_representer(_Root, _represent_root)
_UnsafeDumper.add_representer(str, _represent_str)
_UnsafeDumper.add_representer(dict, _represent_mapping)
_UnsafeDumper.add_representer(list, _represent_sequence)
_UnsafeDumper.add_representer(tuple, _represent_sequence)


def dumps(variables: Mapping[str, Any]) -> str:
    """``variables`` as a YAML vars file in which no string is ever templated.

    Raises:
        TypeError: a key is not a string.
        UnicodeEncodeError: a string holds a lone surrogate (the spec refuses those first).
    """
    text = yaml.dump(
        _Root(variables), Dumper=_UnsafeDumper, allow_unicode=False, sort_keys=True, width=1 << 16
    )
    return "---\n" + text


def write(path: Path, variables: Mapping[str, Any], *, mode: int = 0o600) -> Path:
    """Write ``variables`` atomically to ``path`` (``mode``) for ``ansible-playbook -e @path``."""
    atomic_write(path, dumps(variables), mode=mode)
    return path

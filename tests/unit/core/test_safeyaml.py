"""The YAML reader refuses alias bombs, duplicate keys, tags, deep nesting and big files."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.core import safeyaml
from shipyard.core.errors import SpecError

BOMB = """
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: [*c,*c,*c,*c,*c,*c,*c,*c,*c]
"""


def test_alias_bomb_is_refused() -> None:
    with pytest.raises(SpecError, match="aliases are not accepted"):
        safeyaml.loads(BOMB)


def test_duplicate_key_is_refused_with_its_line() -> None:
    with pytest.raises(SpecError, match=r"appears twice \(line 2\)"):
        safeyaml.loads("name: a\nname: b\n")


def test_python_tags_are_refused() -> None:
    with pytest.raises(SpecError, match="YAML syntax"):
        safeyaml.loads("x: !!python/object/apply:os.system ['true']\n")


def test_deep_nesting_is_refused() -> None:
    with pytest.raises(SpecError, match="nest"):
        safeyaml.loads("[" * 200 + "]" * 200)


def test_oversized_file_is_refused_before_parsing(tmp_path: Path) -> None:
    big = tmp_path / "big.yml"
    big.write_text("a: " + "x" * (safeyaml.MAX_BYTES + 1))
    with pytest.raises(SpecError, match="at most"):
        safeyaml.load(big)


def test_missing_file_and_syntax_error_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="does not exist"):
        safeyaml.load(tmp_path / "nope.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("a: [1,\n")
    with pytest.raises(SpecError) as info:
        safeyaml.load(bad)
    assert str(bad) in info.value.message
    assert "line" in info.value.message


def test_plain_yaml_loads() -> None:
    assert safeyaml.loads("a: 1\nb: [x, y]\n") == {"a": 1, "b": ["x", "y"]}

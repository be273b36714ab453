"""Spec values, secrets and CLI arguments reach Ansible as data that is never templated.

The last two tests run a real ansible-playbook on localhost (connection local) through
``shipyard.core.runner.run_playbook``: a lookup that would write a marker file must arrive as text
and never run; a secret with ``{{ … }}`` must arrive byte for byte.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml
from ansible.parsing.yaml.loader import AnsibleLoader
from hypothesis import given, settings
from hypothesis import strategies as st

from _root import ROOT
from shipyard.core import ansible_vars
from shipyard.core.runner import run_playbook

_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=12,
)


def _plain(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_TEXT.filter(bool), _VALUES, max_size=5))
def test_every_value_round_trips_through_ansibles_yaml_loader(data: dict[str, object]) -> None:
    text = ansible_vars.dumps(data)
    assert _plain(AnsibleLoader(text).get_single_data()) == data  # type: ignore[no-untyped-call]


def test_the_root_is_unsafe_and_every_string_is_a_quoted_str() -> None:
    text = ansible_vars.dumps({"svc": {"env": {"A": "{{ x }}", "E": ""}, "ports": [8080], "name": "hello"}})
    events = list(yaml.parse(text))
    root = next(e for e in events if isinstance(e, yaml.MappingStartEvent))
    assert root.tag == "!unsafe"
    scalars = [e for e in events if isinstance(e, yaml.ScalarEvent)]
    assert all(e.tag is None for e in scalars)
    assert {e.value: e.style for e in scalars}["{{ x }}"] == '"'
    assert {e.value: e.style for e in scalars}["8080"] is None  # ints stay ints


def test_a_lone_surrogate_is_refused_before_ansible_sees_it() -> None:
    with pytest.raises(UnicodeEncodeError):
        ansible_vars.dumps({"a": "x\udcff"})


_PLAYBOOK = """\
- name: Write what the variables hold
  hosts: all
  gather_facts: false
  tasks:
    - name: Write env, url and secret as text
      ansible.builtin.copy:
        dest: "{{ out }}"
        content: "{{ svc.env.A }}|{{ svc.artifact.url }}|{{ shipyard_secrets.S }}\\n"
        mode: "0600"
"""


def _local(tmp_path: Path) -> tuple[Path, Path]:
    inv = tmp_path / "hosts.ini"
    inv.write_text(f"local ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    book = tmp_path / "book.yml"
    book.write_text(_PLAYBOOK)
    return inv, book


def test_a_lookup_in_spec_values_never_runs_and_a_secret_arrives_byte_for_byte(tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    lookup = "{{ lookup('ansible.builtin.pipe', 'id > " + str(marker) + "; echo RAN') }}"
    inv, book = _local(tmp_path)
    out = tmp_path / "out.txt"
    result = run_playbook(
        book,
        inventory=inv,
        extravars={"out": str(out), "svc": {"env": {"A": lookup}, "artifact": {"url": "http://h/" + lookup}}},
        secret_vars={"shipyard_secrets": {"S": "pa{{ 7*7 }}ss{% raw %}{#"}},
        work_dir=tmp_path / "work",
    )
    assert result.ok, result.failures
    assert not marker.exists()
    assert out.read_text() == f"{lookup}|http://h/{lookup}|pa{{{{ 7*7 }}}}ss{{% raw %}}{{#\n"


def test_ctrl_c_stops_the_run_and_everything_it_started(tmp_path: Path) -> None:
    """SIGINT to the caller's process group (what a terminal's Ctrl-C does) ends the run with
    KeyboardInterrupt and leaves no process of it behind."""
    inv, _ = _local(tmp_path)
    nap = f"300.{os.getpid()}"  # a sleep only this test starts
    book = tmp_path / "sleep.yml"
    book.write_text(
        textwrap.dedent(f"""\
            - name: Sleep
              hosts: all
              gather_facts: false
              tasks:
                - name: Sleep long
                  ansible.builtin.command: sleep {nap}
                  changed_when: false
            """)
    )
    script = textwrap.dedent(f"""\
        import sys
        from pathlib import Path
        from shipyard.core.runner import run_playbook
        try:
            run_playbook(Path({str(book)!r}), inventory=Path({str(inv)!r}), work_dir=Path({str(tmp_path / "w")!r}))
        except KeyboardInterrupt:
            print("INTERRUPTED", flush=True)
            sys.exit(130)
        sys.exit(0)
        """)
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _sleepers(nap):
            time.sleep(0.1)
        assert _sleepers(nap), "the playbook never reached its task"
        sid = proc.pid
        os.killpg(sid, signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert "INTERRUPTED" in out
    time.sleep(0.5)
    left = _session(sid)
    assert not left, f"processes left from the interrupted run: {left}"
    assert not _sleepers(nap)


def _sleepers(nap: str) -> list[str]:
    out = subprocess.run(["pgrep", "-f", "-a", f"^sleep {nap}$"], capture_output=True, text=True, check=False)
    return out.stdout.split("\n") if out.stdout.strip() else []


def _session(sid: int) -> list[str]:
    """Processes in the session the test started, and the ansible processes started from it."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,sid=,args="], capture_output=True, text=True, check=True)
    rows = []
    for line in out.stdout.splitlines():
        _pid, s, args = line.split(None, 2)
        if int(s) == sid or "sleep.yml" in args:
            rows.append(line.strip())
    return rows


def test_render_prints_an_unsafe_vars_file_and_json_on_request(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from shipyard import api
    from shipyard.cli import main

    spec = ROOT / "services" / "hello.yml"
    expected = api.render(spec)
    assert main(["render", str(spec)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("---\n!unsafe\n")
    assert _plain(AnsibleLoader(text).get_single_data()) == expected  # type: ignore[no-untyped-call]
    assert main(["render", "--json", str(spec)]) == 0
    assert json.loads(capsys.readouterr().out) == expected

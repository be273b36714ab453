"""Offline stand-in for ansible-test's pip bootstrap script (get-pip.py).

ansible-test creates every sanity test's virtual environment without pip and downloads
``https://ci-files.testing.ansible.com/ansible-test/get-pip-<version>.py`` to put pip in it; that
host is unreachable from the lab and from many CI networks. ansible-test takes a script saved as
``~/.ansible/test/cache/get_pip_<version>.py`` instead (it says so when the download fails), and
``tests/sanity/run_sanity.py`` saves this one there. Like get-pip.py it runs a pip it carries (the
wheel bundled with the interpreter's ``ensurepip``) to install the requested ``pip==<version>``
from the package index pip is configured for; then ansible-test installs its pinned sanity
requirements with that pip.
"""

from __future__ import annotations

import ensurepip
import glob
import os
import sys


def main() -> int:
    """Install the packages named on the command line (``pip==24.2``) with the bundled pip."""
    wheels = sorted(glob.glob(os.path.join(os.path.dirname(ensurepip.__file__), "_bundled", "pip-*.whl")))
    if not wheels:
        sys.stderr.write("get_pip: this Python's ensurepip has no bundled pip wheel (install python3-venv)\n")
        return 4
    sys.path.insert(0, wheels[-1])
    from pip._internal.cli.main import main as pip_main  # pylint: disable=import-outside-toplevel

    # get-pip.py's own flags: ansible-test asks for no setuptools and no wheel, which is pip's default
    args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
    return int(pip_main(["install", "--upgrade", "--force-reinstall", *args]))


if __name__ == "__main__":
    sys.exit(main())

import shutil
import subprocess
from pathlib import Path

import pytest

from mnemosyne.cli import manpages
from mnemosyne.cli.main import COMMANDS
from mnemosyne.config import SETTINGS
from mnemosyne.errors import ExitCode

MAN = Path(__file__).resolve().parents[3] / "man"


@pytest.mark.parametrize("name", sorted(manpages.PAGES))
def test_committed_pages_are_up_to_date(name):
    assert (MAN / name).read_text() == manpages.PAGES[name](), \
        "run: python -m mnemosyne.cli.manpages man"


def test_pages_cover_every_command_code_and_setting():
    page = manpages.render_mnemosyne_1()
    assert all(f".SS {name}\n" in page for name in COMMANDS)
    assert all(f".B {code.value}\n" in page for code in ExitCode)
    conf = manpages.render_mnemosyne_conf_5()
    assert all(manpages.escape(setting.name) in conf for setting in SETTINGS)


def test_escape():
    assert manpages.escape(".start\n'quote -x \\") == "\\&.start\n\\&'quote \\-x \\e"


@pytest.mark.skipif(not shutil.which("groff"), reason="groff is not installed")
@pytest.mark.parametrize("name", sorted(manpages.PAGES))
def test_pages_render_without_warnings(name, tmp_path):
    path = manpages.write_pages(tmp_path)[sorted(manpages.PAGES).index(name)]
    result = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(path)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert result.stderr == ""

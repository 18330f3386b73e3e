"""mnemosyne-doctor.service under a real user manager: it runs, repairs, and says so."""

from __future__ import annotations

import json
import time

import pytest

from mnemosyne.coord import signing
from mnemosyne.coord.identity import this_host
from mnemosyne.coord.registry import ProcessRegistry, utc_timestamp
from mnemosyne.coord.root import prepare_root
from tests.systemd.conftest import SECRET

pytestmark = [pytest.mark.systemd, pytest.mark.usefixtures("installed_units")]


def plant_dead_entry(root, instance_id):
    now = utc_timestamp(time.time())
    entry = signing.signed({"instance_id": instance_id, "pid": 4_000_000, "pid_start_time": 1,
                            "hostname": this_host(), "registered_at": now,
                            "last_heartbeat": now, "version": "t", "api_url": None,
                            "worktree_path": None, "branch": None, "systemd_unit": None},
                           SECRET.encode())
    path = root / "process_registry.json"
    registry = ProcessRegistry(prepare_root(root, start=root), SECRET.encode(), 30.0, time.time)
    registry.document.update(lambda data: data["instances"].update({instance_id: entry}))
    assert instance_id in json.loads(path.read_text())["instances"]


def test_the_doctor_service_succeeds_repairs_and_reports_in_the_journal(user_manager):
    user_manager.systemctl("start", "mnemosyne@a1a1a1a1")
    user_manager.systemctl("start", "mnemosyne@NOTANID", check=False)  # fails: exit 2
    user_manager.wait_for(lambda: user_manager.show("mnemosyne@NOTANID", "ActiveState")
                          == "failed", what="the bad unit to fail")
    plant_dead_entry(user_manager.root, "deadd00d")
    user_manager.systemctl("start", "mnemosyne-doctor.service")  # oneshot: returns when done
    assert user_manager.show("mnemosyne-doctor.service", "Result") == "success"
    lines = [entry.get("MESSAGE", "") for entry in
             user_manager.journal("-u", "mnemosyne-doctor.service")]
    text = "\n".join(line if isinstance(line, str) else "" for line in lines)
    assert "removed 1 dead instance entry: deadd00d" in text, text
    assert "reset 1 failed unit(s): mnemosyne@NOTANID.service" in text, text
    assert "doctor: " in text
    assert user_manager.show("mnemosyne@NOTANID", "ActiveState") == "inactive"
    assert user_manager.show("mnemosyne@a1a1a1a1", "ActiveState") == "active"
    views = user_manager.instances()
    assert views["a1a1a1a1"]["state"] == "live" and "deadd00d" not in views
    again = user_manager.run(f"MNEMOSYNE_ROOT={user_manager.root}",
                             f"MNEMOSYNE_SHARED_SECRET={SECRET}",
                             f"XDG_STATE_HOME={user_manager.state / 'xdg-state'}",
                             str(user_manager.program), "doctor", "--json", "--fix",
                             "--cleanup-stale", "--all-roots", check=False)
    assert not [item for item in json.loads(again.stdout)["checks"] if item["fixed"]]

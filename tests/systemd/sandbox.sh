#!/bin/bash
# Run a real systemd user manager and journald confined to private namespaces and child
# cgroups, following ../shared/notes/systemd-sandbox.md. Never start it at the root cgroup:
# it would move every process of the machine, PID 1 included, into a new cgroup.
# Usage: sandbox.sh STATE_DIR   (as root). Writes STATE_DIR/cgroups (the child cgroups made,
# for teardown); the manager is ready when $STATE_DIR/runtime/systemd/private exists.
# Run systemctl/journalctl inside: nsenter -t <PID of the bash child of unshare> -p -m env
# XDG_RUNTIME_DIR=STATE_DIR/runtime XDG_CONFIG_HOME=STATE_DIR/config systemctl --user ...
# Teardown: SIGTERM the `systemd --user` process, then journald; remove the two child cgroups
# depth-first; check that /proc/1/cgroup is unchanged. (Checked by hand on 2026-11-28:
# mnemosyne@a1b2c3d4 reached active with our Status:, journald kept our <N> priorities, and
# teardown left no process, no cgroup and PID 1 untouched. The pytest fixture comes next.)
set -euo pipefail
state=$1
name="mnemosyne-test-$$"
mkdir -p "$state/runtime" "$state/config/systemd/user"
chmod 700 "$state/runtime"
systemd_path=$(awk -F: '$2 == "name=systemd" {print $3}' /proc/self/cgroup)
unified_path=$(awk -F: '$1 == "0" {print $3}' /proc/self/cgroup)
child_systemd="/sys/fs/cgroup/systemd${systemd_path%/}/$name"
child_unified="/sys/fs/cgroup/unified${unified_path%/}/$name"
mkdir "$child_systemd" "$child_unified"
echo "$child_systemd $child_unified" > "$state/cgroups"
echo $$ > "$child_systemd/cgroup.procs"
echo $$ > "$child_unified/cgroup.procs"
export SANDBOX_STATE="$state"
exec unshare --cgroup --mount --pid --fork --mount-proc --propagation private bash -c '
  set -e
  mount -t tmpfs cgroup_root /sys/fs/cgroup
  mkdir /sys/fs/cgroup/systemd /sys/fs/cgroup/unified
  mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd
  mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified
  # A private /run: systemd needs /run/systemd/system, journald writes /run/log/journal, and
  # nothing here needs the host'"'"'s /run (the manager'"'"'s runtime dir is in STATE_DIR).
  mount -t tmpfs run /run
  mkdir -p /run/systemd/system /run/systemd/journal /run/log
  /lib/systemd/systemd-journald &
  while [ ! -S /run/systemd/journal/stdout ]; do sleep 0.05; done
  env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$SANDBOX_STATE" USER=root \
      XDG_RUNTIME_DIR="$SANDBOX_STATE/runtime" XDG_CONFIG_HOME="$SANDBOX_STATE/config" \
      /lib/systemd/systemd --user --log-target=journal-or-kmsg &
  wait
'

#!/bin/sh
# The floor: the fastest plausible way to do the multi strategy's job, without its safety.
# One ssh call per host runs this script with the release tarball on stdin:
#   ssh HOST sh -c "$(cat deploy.sh)" floor SERVICE VERSION PORT... < hello-VERSION.tar
# It unpacks the release (once), writes one template unit, links the instances into
# multi-user.target.wants, starts (or, when the unit changed, restarts) ALL instances with one
# systemctl call, then probes every port's /health until it answers 200.
# What it leaves out: no sha256 check, no port registry, no manifest or release pruning, no
# unit verification, no one-at-a-time restart (an upgrade restarts every instance at once), no
# rollback, no per-instance report.
set -eu
svc=$1
ver=$2
shift 2
root=/opt/$svc
rel=$root/releases/$ver
if [ -f "$rel/server.py" ]; then
  cat >/dev/null
else
  mkdir -p "$rel"
  tar -x -C "$rel"
fi
unit=/etc/systemd/system/$svc@.service
new=$(mktemp /etc/systemd/system/.floor.XXXXXX)
cat >"$new" <<UNIT
[Unit]
Description=$svc on port %i
After=network-online.target

[Service]
WorkingDirectory=$rel
ExecStart=/usr/bin/python3 server.py --port %i
Environment=PORT=%i
DynamicUser=yes
MemoryMax=64M
CPUQuota=50%
TasksMax=64
Restart=on-failure
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
NoNewPrivileges=yes

[Install]
WantedBy=multi-user.target
UNIT
chmod 0644 "$new"
units=""
for port in "$@"; do
  units="$units $svc@$port.service"
  ln -sfn "$unit" "/etc/systemd/system/multi-user.target.wants/$svc@$port.service"
done
if cmp -s "$new" "$unit"; then
  rm -f "$new"
  # shellcheck disable=SC2086
  systemctl start $units
else
  mv -f "$new" "$unit"
  systemctl daemon-reload
  # shellcheck disable=SC2086
  systemctl restart $units
fi
exec python3 -c '
import sys, time, urllib.request
ports = [int(p) for p in sys.argv[1:]]
deadline = time.monotonic() + 60
while ports and time.monotonic() < deadline:
    left = []
    for port in ports:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                ok = r.status == 200
        except OSError:
            ok = False
        if not ok:
            left.append(port)
    ports = left
    if ports:
        time.sleep(0.05)
if ports:
    sys.exit(f"not healthy after 60 s: {ports}")
' "$@"

#!/usr/bin/env bash
# Stop the daemons start.sh started (and only those), newest first, by the PID files it recorded.
# Safe to run twice and after a failed start.
D=${SLURM_CI_DIR:?set SLURM_CI_DIR to the directory start.sh used}
[ -f "$D/started" ] || exit 0
stop_pid_file() {
    [ -f "$1" ] || return 0
    local pid
    pid=$(cat "$1")
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f "$1"
}
tac "$D/started" | while read -r pid_file; do stop_pid_file "$pid_file"; done
rm -f "$D/started"
# The configuration link points into $D: remove it if it is ours.
[ "$(readlink /etc/slurm/slurm.conf 2>/dev/null)" = "$D/etc/slurm.conf" ] && rm -f /etc/slurm/slurm.conf
exit 0

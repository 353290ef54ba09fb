#!/usr/bin/env bash
# Start a single-node SLURM cluster on this machine, as root: munge, a private MariaDB, slurmdbd,
# slurmctld and slurmd, all on 127.0.0.1. Everything it writes lives under $SLURM_CI_DIR (the daemons'
# state, logs and PID files), apart from the /etc/slurm/slurm.conf link (see below).
#   SLURM_CI_DIR=/tmp/slurm-ci .ci/slurm/start.sh      then    SLURM_CI_DIR=/tmp/slurm-ci .ci/slurm/stop.sh
# stop.sh stops exactly the daemons this script started, by the PIDs recorded in $SLURM_CI_DIR/started.
set -euo pipefail
D=${SLURM_CI_DIR:?set SLURM_CI_DIR to a scratch directory}
NODE=$(hostname -s)
CPUS=$(nproc)
MEMORY_MB=$(( $(free -m | awk '/^Mem:/{print $2}') - 1024 ))   # keep 1 GiB for the system
mkdir -p "$D"/{etc,state/ctld,state/d,log,run,mysql}
: > "$D/started"
CONF="$D/etc/slurm.conf"

record() {  # remember a daemon this script started: its PID file
    echo "$1" >> "$D/started"
}
wait_for() {  # wait_for SECONDS COMMAND...: retry until it succeeds
    local seconds=$1; shift
    for _ in $(seq $(( seconds * 4 ))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.25; done
    echo "start.sh: timed out waiting for: $*" >&2
    return 1
}

for port in 6817 6818 6819 3306; do
    if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
        echo "start.sh: port $port on 127.0.0.1 is taken: is another SLURM or MySQL running? stop it first" >&2
        exit 1
    fi
done

cat > "$CONF" <<CONF
ClusterName=revmuxci
SlurmctldHost=${NODE}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmctldPidFile=$D/run/slurmctld.pid
SlurmdPidFile=$D/run/slurmd.pid
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$D/state/ctld
SlurmdSpoolDir=$D/state/d
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=6819
AccountingStoreFlags=job_comment
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
JobCompType=jobcomp/none
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
Waittime=0
NodeName=${NODE} NodeAddr=127.0.0.1 CPUs=${CPUS} RealMemory=${MEMORY_MB} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
# Jobs find the configuration only at the compiled-in path: Snakemake's jobstep plugin removes
# SLURM_CONF from the environment of the srun it runs inside each job.
mkdir -p /etc/slurm
ln -sfn "$CONF" /etc/slurm/slurm.conf

# munge: its key comes with the Debian package; /run/munge may be missing after a reboot.
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
if [ ! -s /etc/munge/munge.key ]; then
    mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
fi
if ! pgrep -u munge -x munged >/dev/null; then
    runuser -u munge -- /usr/sbin/munged
    record /run/munge/munged.pid
fi
wait_for 10 bash -c 'munge -n </dev/null | unmunge'

# A private MariaDB for slurmdbd, data under $D.
if [ ! -d "$D/mysql/mysql" ]; then
    mariadb-install-db --user=root --datadir="$D/mysql" --auth-root-authentication-method=normal \
        --skip-test-db > "$D/log/mariadb-install.log" 2>&1
fi
setsid /usr/sbin/mariadbd --no-defaults --user=root --datadir="$D/mysql" --socket="$D/run/mysql.sock" \
    --pid-file="$D/run/mysqld.pid" --bind-address=127.0.0.1 --port=3306 --log-error="$D/log/mysqld.log" \
    --innodb-buffer-pool-size=128M < /dev/null > /dev/null 2>&1 &
record "$D/run/mysqld.pid"
wait_for 60 mariadb --no-defaults -S "$D/run/mysql.sock" -uroot -e 'select 1'
mariadb --no-defaults -S "$D/run/mysql.sock" -uroot <<'SQL'
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm-ci';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
FLUSH PRIVILEGES;
SQL
cat > "$D/etc/slurmdbd.conf" <<DBD
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
LogFile=$D/log/slurmdbd.log
PidFile=$D/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3306
StorageUser=slurm
StoragePass=slurm-ci
StorageLoc=slurm_acct_db
DBD
chmod 600 "$D/etc/slurmdbd.conf"
# slurmdbd has no -f: it reads slurmdbd.conf next to $SLURM_CONF. It must be up before slurmctld.
SLURM_CONF="$CONF" /usr/sbin/slurmdbd
record "$D/run/slurmdbd.pid"
wait_for 30 sacctmgr -n list cluster
sacctmgr -i add cluster revmuxci > /dev/null 2>&1 || true

/usr/sbin/slurmctld -f "$CONF"
record "$D/run/slurmctld.pid"
/usr/sbin/slurmd -f "$CONF" -N "$NODE"
record "$D/run/slurmd.pid"
wait_for 30 bash -c "sinfo -h -o %t | grep -q idle"
sinfo

#!/usr/bin/env bash
# Install a single-node SLURM cluster's packages from Debian (run as root): munge, slurmctld, slurmd,
# the client tools, and slurmdbd with MariaDB so that `sacct` works as on real clusters.
set -euo pipefail
PACKAGES="slurmctld slurmd slurm-client munge slurmdbd mariadb-server"
export DEBIAN_FRONTEND=noninteractive
if ! dpkg -s $PACKAGES >/dev/null 2>&1; then
    apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null \
        || { apt-get update -qq && apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null; }
fi

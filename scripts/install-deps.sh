#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages Volt builds and tests with, when they are missing.
# Uses sudo when not run as root. Quiet and non-interactive (CI runs it without a tty).
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  openmpi-bin libopenmpi-dev            # MPI
  libhdf5-openmpi-dev hdf5-tools        # parallel HDF5 (and h5dump)
  libopenblas-dev                       # CBLAS
  libyaml-dev                           # configuration files
  zlib1g-dev                            # .gz input files (volt-data)
  dataset-fashion-mnist                 # the demo's data set
  fortunes                              # the GPT example's corpus
  libpapi-dev                           # hardware counters (optional)
  python3-torch python3-h5py            # tests: checkpoints read by PyTorch (tools/)
  python3-venv                          # tests: TensorBoard from PyPI reads our event files
  python3-matplotlib                    # bench/run's plots
  lmod                                  # tests: the installed modulefile loads
  slurm-wlm slurm-client munge          # tests: jobs on a real one-machine Slurm
  iproute2                              # tests: simulated nodes (tests/cluster/vcluster)
)

missing=()
for p in "${packages[@]}"; do
  [[ $p == \#* ]] && continue
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"

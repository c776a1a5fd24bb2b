#!/usr/bin/env bash
# jobs/offline-deps.sh — Volt's dependencies for compute nodes without network or package
# manager: MPI (Open MPI), parallel HDF5, OpenBLAS, libyaml, zlib, pkg-config and what
# they need, as Debian packages in one folder that is copied to the node and unpacked
# there into a prefix of your choice. No root needed on either side.
#
#   offline-deps.sh bundle DIR [--with PACKAGE]...
#       On a machine with apt and network (the same Debian/Ubuntu release as the nodes):
#       downloads the .deb files into DIR/debs (apt-get download: nothing is installed),
#       writes DIR/manifest.txt (package, version, architecture, sha256, file) and copies
#       this script to DIR/offline-deps.sh, so that DIR alone is enough on the node.
#       Running it again on the same DIR refreshes the bundle and keeps the .deb files
#       that are still current; a non-empty DIR that is not a bundle is refused.
#       --with PACKAGE adds a package and what it needs (e.g. --with cmake).
#   DIR/offline-deps.sh unpack DIR PREFIX
#       On the node: checks every .deb against the manifest (before touching PREFIX),
#       extracts them with dpkg -x into PREFIX, redoes what the packages' maintainer
#       scripts would have done and a moved tree needs (the update-alternatives links:
#       libblas.so.3, liblapack.so.3, mpicc, mpirun, h5pcc, ...; absolute symbolic links
#       into /usr; the prefix= of pkg-config files and of the h5pcc wrapper) and writes
#       PREFIX/env.sh. Then:
#         . PREFIX/env.sh && cmake --preset default
#
# Which packages: the Depends and Pre-Depends closure of the packages Volt builds and runs
# with (ROOTS below), as apt resolves it for a node that already has the BASE SET, which
# is left out of the bundle:
#   * a minimal Debian/Ubuntu system: the packages of priority "required" and the
#     Essential ones, with what they depend on (libc6, libgcc-s1, libstdc++6, zlib1g,
#     libssl3, ...): what debootstrap --variant=minbase and the distribution's container
#     images, CUDA's among them, have; the C library cannot be moved into a prefix anyway;
#   * the C toolchain: build-essential (gcc, g++, make, libc6-dev) with what it depends
#     on. A compiler does not work from a dpkg -x prefix, and the node needs its own to
#     build Volt (a CUDA development image has one: nvcc needs it);
#   * gfortran-N alone (not libgfortran5): libopenmpi-dev asks for it, for mpifort; Volt
#     is C.
# DIR/base.txt lists the base set the bundle assumed. The node's glibc must be at least
# the newest one the bundled packages ask for: unpack checks that.
#
# Exit status: 0 done, 1 an error (the message says which), 2 bad usage, 3 bundle: apt
# could not give the packages (no package lists, or a download failed).
set -euo pipefail

ROOTS=(
  libopenmpi-dev openmpi-bin            # MPI, mpicc and mpirun
  libhdf5-openmpi-dev hdf5-tools        # parallel HDF5, h5pcc; h5dump and h5ls
  libopenblas-dev                       # CBLAS (the pthread variant)
  libyaml-dev                           # configuration files
  zlib1g-dev                            # .gz input files (volt-data)
  pkg-config                            # CMake finds libyaml with it
)
BASE_EXTRA=(build-essential)           # with the Priority: required and Essential packages
# pretended present without what they depend on: libopenmpi-dev asks for a Fortran
# compiler (mpifort), but Volt is C; its runtime libgfortran5 is bundled (OpenBLAS needs it)
NOT_NEEDED='^gfortran(-[0-9]+)?$'
MANIFEST_HEADER="# offline-deps.sh bundle"

me=${0##*/}
die() { echo "$me: $*" >&2; exit 1; }
usage() {
  sed -n '/^#   offline-deps.sh bundle/,/^#         \. PREFIX/p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# --- bundle ------------------------------------------------------------------------------

# apt-get -s against a status file of our own: a pretend system, nothing installed
apt_simulate() {
  local status=$1
  shift
  apt-get -s -o Dir::State::status="$status" -o Dir::Cache::pkgcache= \
    -o Dir::Cache::srcpkgcache= -o APT::Get::Show-Versions=false \
    install --no-install-recommends "$@"
}

# "name version arch" of each package apt-get -s would install
simulated_installs() {
  sed -nE 's/^Inst ([^ :]+)(:[^ ]+)? (\[[^]]*\] )?\(([^ ]+) .*\[([^]]+)\]\).*$/\1 \4 \5/p'
}

# status_of NAMES AVAILABLE: the stanzas of AVAILABLE (apt-cache dumpavail) named in NAMES
# ("name version arch" lines), and those matching $NOT_NEEDED without their dependencies, as
# an installed system's status file
status_of() {
  awk -v bare="$NOT_NEEDED" 'FNR == NR { want[$1] = 1; next }
       { split($1, field, " "); name = field[2] }
       name in seen { next }
       name in want { seen[name] = 1; print $0; print "Status: install ok installed\n"; next }
       name ~ bare {
         seen[name] = 1
         for (i = 1; i <= NF; i++)
           if ($i ~ /^Version: /) print "Version: 9999:0"  # not the archive'"'"'s: apt would
           else if ($i !~ /^(Pre-Depends|Depends|Recommends): /) print $i  # take its Depends
         print "Status: install ok installed\n" }' \
    "$1" RS="" FS="\n" "$2"
}

bundle() {
  local dir=$1
  shift
  local extra=()
  while (($#)); do
    case $1 in
      --with) (($# >= 2)) || usage; extra+=("$2"); shift 2 ;;
      *) usage ;;
    esac
  done
  command -v apt-get > /dev/null || die "bundle needs apt-get (a Debian or Ubuntu machine)"
  if [[ -d $dir && -n $(ls -A "$dir") && ! -f $dir/manifest.txt ]]; then
    die "$dir is not empty and holds no bundle (no manifest.txt): refusing to write into it"
  fi
  if [[ -f $dir/manifest.txt ]]; then
    local first
    first=$(head -n 1 "$dir/manifest.txt")
    [[ $first == "$MANIFEST_HEADER"* ]] ||
      die "$dir/manifest.txt is not an offline-deps.sh manifest: refusing to write into $dir"
  fi
  mkdir -p "$dir/debs"
  if [[ ! -f $dir/manifest.txt ]]; then # marks DIR as a bundle, complete or not
    echo "$MANIFEST_HEADER: incomplete (offline-deps.sh bundle did not finish)" > "$dir/manifest.txt"
  fi
  local tmp
  tmp=$(mktemp -d)
  # shellcheck disable=SC2064  # $tmp is fixed now
  trap "rm -rf '$tmp'" EXIT

  apt-cache dumpavail > "$tmp/available"
  if [[ ! -s $tmp/available ]]; then
    echo "$me: apt knows no packages: run apt-get update first" >&2
    exit 3
  fi

  # the base set: a minimal system and the compilers, as apt resolves them
  local required
  mapfile -t required < <(awk 'BEGIN { RS = ""; FS = "\n" }
    /\nPriority: required/ || /\nEssential: yes/ { split($1, f, " "); print f[2] }' \
    "$tmp/available" | sort -u)
  # merged /usr: without this apt would pick usrmerge (and perl) for init-system-helpers
  if grep -qx "Package: usr-is-merged" "$tmp/available"; then required+=(usr-is-merged); fi
  : > "$tmp/empty-status"
  apt_simulate "$tmp/empty-status" "${required[@]}" "${BASE_EXTRA[@]}" \
    > "$tmp/base.log" 2>&1 || die "apt cannot resolve the base set: $(tail -n 5 "$tmp/base.log")"
  simulated_installs < "$tmp/base.log" | sort > "$tmp/base"
  status_of "$tmp/base" "$tmp/available" > "$tmp/base-status"

  # what a node with the base set lacks
  if ! apt_simulate "$tmp/base-status" "${ROOTS[@]}" "${extra[@]}" > "$tmp/roots.log" 2>&1; then
    die "apt cannot resolve ${ROOTS[*]} ${extra[*]}: $(grep '^E:' "$tmp/roots.log" || tail -n 5 "$tmp/roots.log")"
  fi
  simulated_installs < "$tmp/roots.log" | sort > "$tmp/bundle"
  [[ -s $tmp/bundle ]] || die "apt resolved nothing to bundle: $(tail -n 5 "$tmp/roots.log")"

  # the archive's file name and SHA256 of each chosen version: "name version arch sha file"
  local specs=()
  mapfile -t specs < <(awk '{ print $1 ":" $3 "=" $2 }' "$tmp/bundle")
  apt-cache show "${specs[@]}" > "$tmp/stanzas" 2> "$tmp/show.log" ||
    die "apt-cache show failed: $(cat "$tmp/show.log")"
  awk 'BEGIN { RS = ""; FS = "\n" }
       { p = v = a = s = f = ""
         for (i = 1; i <= NF; i++) {
           if ($i ~ /^Package: /) p = substr($i, 10)
           else if ($i ~ /^Version: /) v = substr($i, 10)
           else if ($i ~ /^Architecture: /) a = substr($i, 15)
           else if ($i ~ /^SHA256: /) s = substr($i, 9)
           else if ($i ~ /^Filename: /) { f = substr($i, 11); sub(/.*\//, "", f) } }
         if (!((p, v) in seen)) { seen[p, v] = 1; print p, v, a, s, "debs/" f } }' \
    "$tmp/stanzas" > "$tmp/entries"
  local n_bundle n_entries
  n_bundle=$(wc -l < "$tmp/bundle")
  n_entries=$(wc -l < "$tmp/entries")
  ((n_bundle == n_entries)) ||
    die "apt-cache show gave $n_entries packages for the $n_bundle resolved ones"

  # download what is not already there with the right checksum
  local name version arch sha file fetch=()
  local -A wanted=()
  while read -r name version arch sha file; do
    wanted[${file#debs/}]=1
    if [[ -f $dir/$file ]] && [[ $(sha256sum < "$dir/$file") == "$sha "* ]]; then
      continue
    fi
    rm -f "$dir/$file"
    fetch+=("$name:$arch=$version")
  done < "$tmp/entries"
  local reused=$((n_entries - ${#fetch[@]}))
  if ((${#fetch[@]})); then
    echo "$me: downloading ${#fetch[@]} packages ($reused already in $dir)"
    local sandbox=()
    # as root apt downloads as the _apt user, which may not be able to write into DIR
    if [[ $(id -u) -eq 0 ]]; then sandbox=(-o APT::Sandbox::User=root); fi
    (cd "$dir/debs" && apt-get download -q "${sandbox[@]}" "${fetch[@]}") \
      > "$tmp/download.log" 2>&1 || true
    local failed=0 saved
    while read -r name version arch sha file; do
      # apt-get download keeps the epoch (1:1.2-3 as 1%3a1.2-3); the archive's name has none
      saved=$dir/debs/${name}_${version/:/%3a}_$arch.deb
      if [[ -f $saved && $saved != "$dir/$file" ]]; then mv -f "$saved" "$dir/$file"; fi
      if [[ ! -f $dir/$file ]]; then
        echo "$me: could not download $name $version ($arch)" >&2
        failed=1
      elif [[ $(sha256sum < "$dir/$file") != "$sha "* ]]; then
        echo "$me: $name $version: the download does not match the archive's SHA256" >&2
        rm -f "$dir/$file"
        failed=1
      fi
    done < "$tmp/entries"
    if ((failed)); then
      echo "$me: apt-get download said:" >&2
      grep -E '^(E|W|Err):' "$tmp/download.log" >&2 || tail -n 5 "$tmp/download.log" >&2
      exit 3
    fi
  else
    echo "$me: all $n_entries packages already in $dir"
  fi
  # .deb files of an earlier bundle that this one no longer has
  local old
  for old in "$dir"/debs/*.deb; do
    [[ -e $old ]] || continue
    [[ -n ${wanted[${old##*/}]:-} ]] || rm -f "$old"
  done

  # the newest glibc the packages ask for
  local glibc
  glibc=$(grep -oE '(^|[ ,])libc6 \(>= [^)]+\)' "$tmp/stanzas" |
    sed -E 's/.*>= ([0-9.]+).*/\1/' | sort -V | tail -n 1)
  {
    echo "$MANIFEST_HEADER: Volt's dependencies as Debian packages (unpack: offline-deps.sh unpack DIR PREFIX)"
    # shellcheck disable=SC1091  # the running system's
    echo "# made on: $(. /etc/os-release && echo "$PRETTY_NAME"), $(dpkg --print-architecture)"
    echo "# glibc: ${glibc:-0}"
    echo "# roots: ${ROOTS[*]}${extra[*]:+ ${extra[*]}}"
    echo "# package version architecture sha256 file"
    cat "$tmp/entries"
  } > "$dir/manifest.txt"
  {
    echo "# the base set this bundle assumes on the node (not bundled): package version architecture"
    echo "# (and packages matching $NOT_NEEDED, without their dependencies)"
    cat "$tmp/base"
  } > "$dir/base.txt"
  if [[ $(realpath "$0") != $(realpath -m "$dir/offline-deps.sh") ]]; then
    cp "$0" "$dir/offline-deps.sh"
  fi
  chmod +x "$dir/offline-deps.sh"
  echo "$me: $n_entries packages, $(du -sh "$dir/debs" | cut -f1) in $dir"
  echo "$me: on the node: $dir/offline-deps.sh unpack $dir PREFIX"
}

# --- unpack ------------------------------------------------------------------------------

# link_to TARGET LINK: LINK, a relative symbolic link to TARGET (ln -r would resolve TARGET
# if it is a link itself: mpicc -> mpicc.openmpi must not become mpicc -> opal_wrapper)
link_to() {
  ln -sfn "$(realpath -s -m --relative-to="$(dirname "$2")" "$1")" "$2"
}

# deb_member DEB control|data: the tar stream of a .deb's control or data archive
deb_member() {
  if command -v dpkg-deb > /dev/null; then
    if [[ $2 == control ]]; then dpkg-deb --ctrl-tarfile "$1"; else dpkg-deb --fsys-tarfile "$1"; fi
    return
  fi
  # without dpkg: a .deb is an ar archive (binutils' ar)
  local member
  member=$(ar t "$1" | grep "^$2\.tar")
  case $member in
    *.xz) ar p "$1" "$member" | xz -dc ;;
    *.zst) ar p "$1" "$member" | zstd -dc ;;
    *.gz) ar p "$1" "$member" | gzip -dc ;;
    *.tar) ar p "$1" "$member" ;;
    *) die "$1: no $2 archive in it" ;;
  esac
}

# the update-alternatives --install / --slave links of a maintainer script: "link target
# priority" lines (a slave gets its master's priority); those with shell variables in a
# path are left out
alternatives_of() {
  sed -e ':a' -e '/\\$/{N;s/\\\n/ /;ba}' | grep -E 'update-alternatives.*--install' |
    while read -ra words; do
      local i=0 prio=0 n=${#words[@]}
      while ((i < n)); do
        case ${words[i]} in
          --install)
            prio=${words[i + 4]:-0}
            [[ $prio =~ ^[0-9]+$ ]] || prio=0
            if [[ ${words[i + 1]:-} == /* && ${words[i + 3]:-} == /* ]]; then
              echo "${words[i + 1]} ${words[i + 3]} $prio"
            fi
            i=$((i + 5))
            ;;
          --slave)
            if [[ ${words[i + 1]:-} == /* && ${words[i + 3]:-} == /* ]]; then
              echo "${words[i + 1]} ${words[i + 3]} $prio"
            fi
            i=$((i + 4))
            ;;
          *) i=$((i + 1)) ;;
        esac
      done
    done | grep -v '\$' || true
}

unpack() {
  local dir=$1 prefix=$2
  [[ -f $dir/manifest.txt ]] || die "no $dir/manifest.txt: $dir is not a bundle"
  [[ $(head -n 1 "$dir/manifest.txt") == "$MANIFEST_HEADER"* ]] ||
    die "$dir/manifest.txt is not an offline-deps.sh manifest"
  [[ $prefix != *[[:space:]]* ]] ||
    die "PREFIX '$prefix' has blanks: pkg-config and the MPI wrappers cannot handle them"
  [[ $prefix == /* ]] || prefix=$PWD/$prefix

  # 1. every file as the manifest says, before anything is written
  local name version arch sha file have bad=0 debs=()
  while read -r name version arch sha file; do
    [[ -z $name || $name == \#* ]] && continue
    if [[ ! -f $dir/$file ]]; then
      echo "$me: $dir/$file ($name $version) is missing" >&2
      bad=1
      continue
    fi
    have=$(sha256sum < "$dir/$file")
    if [[ $have != "$sha "* ]]; then
      echo "$me: $dir/$file ($name $version): checksum mismatch: manifest $sha, file ${have%% *}" >&2
      bad=1
      continue
    fi
    debs+=("$dir/$file")
  done < "$dir/manifest.txt"
  ((bad == 0)) || die "the bundle in $dir is damaged: nothing unpacked, $prefix untouched"
  ((${#debs[@]})) || die "$dir/manifest.txt lists no packages (an unfinished bundle?)"

  # 2. the node can run them: its glibc is at least the newest one they ask for
  local need node
  need=$(sed -n 's/^# glibc: //p' "$dir/manifest.txt")
  node=$(getconf GNU_LIBC_VERSION 2> /dev/null | awk '{ print $2 }') || node=""
  if [[ -n $need && -n $node && $(printf '%s\n%s\n' "$need" "$node" | sort -V | head -n 1) != "$need" ]]; then
    die "the packages need glibc $need, this node has $node: make the bundle on the node's release"
  fi

  # 3. PREFIX: new, empty, or an earlier unpack (unpacked again over it)
  if [[ -d $prefix && -n $(ls -A "$prefix") && ! -f $prefix/.offline-deps ]]; then
    die "$prefix is not empty and is no earlier unpack (no .offline-deps): refusing to unpack into it"
  fi
  mkdir -p "$prefix"
  local deb
  for deb in "${debs[@]}"; do
    deb_member "$deb" data | tar -x -C "$prefix" -f - ||
      die "$deb: extracting it into $prefix failed"
  done

  # 4. merged /usr, as on the systems the packages are built for: /lib -> usr/lib, ...
  local top
  for top in bin sbin lib lib32 lib64 libx32; do
    if [[ -d $prefix/$top && ! -L $prefix/$top ]]; then
      mkdir -p "$prefix/usr/$top"
      cp -a "$prefix/$top/." "$prefix/usr/$top/"
      rm -rf "${prefix:?}/$top"
      ln -s "usr/$top" "$prefix/$top"
    fi
  done

  # 5. the update-alternatives links the maintainer scripts make (the highest priority wins,
  # as in apt's automatic mode), inside PREFIX
  local tmp
  tmp=$(mktemp -d)
  # shellcheck disable=SC2064  # $tmp is fixed now
  trap "rm -rf '$tmp'" EXIT
  for deb in "${debs[@]}"; do
    deb_member "$deb" control | tar -x -O -f - ./postinst 2> /dev/null | alternatives_of || true
  done | sort -k3,3nr | awk '!seen[$1]++' > "$tmp/alternatives"
  local link target prio made=0
  for _ in 1 2; do # a link may point at another alternative's link
    while read -r link target prio; do
      if [[ -e $prefix$target && ! -e $prefix$link ]] ||
        [[ -e $prefix$target && -L $prefix$link && ! -e $prefix$link ]]; then
        mkdir -p "$(dirname "$prefix$link")"
        link_to "$prefix$target" "$prefix$link"
        made=$((made + 1))
      fi
    done < "$tmp/alternatives"
  done

  # 6. symbolic links: absolute ones into /usr point into PREFIX when their target is
  # there (else at the node's own file); relative ones that lead nowhere in PREFIX lead to
  # a file of the base set (libssl.so -> libssl.so.3) and point at the node's
  local sys
  while IFS= read -r -d '' link; do
    target=$(readlink "$link")
    if [[ $target == /* ]]; then
      if [[ -e $prefix$target ]]; then link_to "$prefix$target" "$link"; fi
    elif [[ ! -e $link ]]; then
      sys=${link#"$prefix"}
      sys=$(dirname "$sys")/$target
      if [[ -e $sys ]]; then ln -sfn "$(realpath -m "$sys")" "$link"; fi
    fi
  done < <(find "$prefix" -type l -print0)

  # 7. paths written into files: pkg-config's prefix= and literal /usr paths, the
  # prefix= of the HDF5 wrappers (h5pcc) and other *-config scripts
  local quoted=${prefix//\\/\\\\}
  quoted=${quoted//&/\\&}
  quoted=${quoted//#/\\#}
  find "$prefix" -name '*.pc' -type f -exec \
    sed -i -E "s#(^|[=[:space:]\"',]|-I|-L)/usr\b#\1$quoted/usr#g" {} +
  local script
  while IFS= read -r -d '' script; do
    if grep -qE '^prefix="?/usr"?$' "$script"; then
      sed -i -E "s#^prefix=(\"?)/usr(\"?)\$#prefix=\1$quoted/usr\2#" "$script"
    fi
  done < <(find "$prefix/usr/bin" -type f -size -200k -print0)

  # 8. env.sh
  local libdirs="" pcdirs="" d
  for d in "$prefix"/usr/lib/*-linux-gnu*; do
    [[ -d $d ]] || continue
    libdirs+="\$OFFLINE_DEPS_PREFIX/usr/lib/${d##*/}:"
    pcdirs+="\$OFFLINE_DEPS_PREFIX/usr/lib/${d##*/}/pkgconfig:"
  done
  local triplet=""
  for d in "$prefix"/usr/lib/*-linux-gnu*/openmpi; do
    [[ -d $d ]] && triplet=$(basename "$(dirname "$d")")
  done
  {
    cat << EOF
# PREFIX/env.sh — Volt's dependencies unpacked by offline-deps.sh (bundle made on
# $(sed -n 's/^# made on: //p' "$dir/manifest.txt")). Source it before building Volt and in job scripts:
#   . $prefix/env.sh && cmake --preset default
OFFLINE_DEPS_PREFIX='$prefix'
export OFFLINE_DEPS_PREFIX
# programs (mpicc, mpirun, h5pcc, pkg-config), libraries, pkg-config files
export PATH="\$OFFLINE_DEPS_PREFIX/usr/bin\${PATH:+:\$PATH}"
export LD_LIBRARY_PATH="${libdirs}\$OFFLINE_DEPS_PREFIX/usr/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export PKG_CONFIG_PATH="${pcdirs}\$OFFLINE_DEPS_PREFIX/usr/share/pkgconfig\${PKG_CONFIG_PATH:+:\$PKG_CONFIG_PATH}"
# CMake: find_package and find_library look here first; FindMPI takes mpicc from
# MPI_HOME/bin, FindHDF5 h5pcc from HDF5_ROOT/bin (and nowhere else)
export CMAKE_PREFIX_PATH="\$OFFLINE_DEPS_PREFIX/usr\${CMAKE_PREFIX_PATH:+:\$CMAKE_PREFIX_PATH}"
export MPI_HOME="\$OFFLINE_DEPS_PREFIX/usr"
export HDF5_ROOT="\$OFFLINE_DEPS_PREFIX/usr"
# Open MPI moved out of /usr: its components, help files, wrapper data and mca-params.conf
export OPAL_PREFIX="\$OFFLINE_DEPS_PREFIX/usr"
export OPAL_SYSCONFDIR="\$OFFLINE_DEPS_PREFIX/etc/openmpi"
EOF
    if [[ -n $triplet ]]; then
      cat << EOF
# and the libraries it loads plugins of: PMIx (its components and pmix-mca-params.conf), hwloc
export PMIX_PKGLIBDIR="\$OFFLINE_DEPS_PREFIX/usr/lib/$triplet/pmix2/lib/pmix"
export PMIX_MCA_mca_base_component_path="\$PMIX_PKGLIBDIR"
export PMIX_SYSCONFDIR="\$OFFLINE_DEPS_PREFIX/usr/lib/$triplet/pmix2/share"
export HWLOC_PLUGINS_PATH="\$OFFLINE_DEPS_PREFIX/usr/lib/$triplet/hwloc"
EOF
    fi
  } > "$prefix/env.sh"
  cp "$dir/manifest.txt" "$prefix/.offline-deps"
  echo "$me: ${#debs[@]} packages unpacked into $prefix ($made alternatives links made)"
  echo "$me: use them with: . $prefix/env.sh"
}

case ${1:-} in
  bundle) (($# >= 2)) || usage; shift; bundle "$@" ;;
  unpack) (($# == 3)) || usage; unpack "$2" "$3" ;;
  -h | --help | help) usage ;;
  *) usage ;;
esac

#!/usr/bin/env bash
# jobs/offline-deps.sh end to end, on a machine that has the same packages installed
# system-wide, so everything below proves that the prefix is used and not /usr:
#   1. bundle into WORK_DIR/bundle (kept between runs: current .deb files are not fetched
#      again); exit 77 (skipped) when apt cannot give the packages (no mirror, no lists);
#   2. unpack with the bundle's own copy of the script into a fresh WORK_DIR/prefix;
#   3. with only PREFIX/env.sh: mpicc, mpirun, h5pcc and pkg-config come from the prefix,
#      Volt's cmake/VoltDependencies.cmake finds MPI, HDF5, BLAS, libyaml and zlib there
#      (tests/offline/probe), the probe loads the prefix's libraries (ldd) and writes one
#      HDF5 file from 2 ranks with the prefix's mpirun, which the prefix's h5dump reads;
#      where a mount namespace can be had (root), it runs again with the system's Open
#      MPI, PMIx, HDF5 and OpenBLAS folders hidden;
#   4. bad inputs: a .deb that does not match the manifest fails the unpack with its name
#      and leaves an earlier prefix as it was; a bundle into a folder of other files and
#      an unpack into one are refused, and the folders are left alone.
#   offline_deps.sh SOURCE_DIR WORK_DIR
set -euo pipefail
source_dir=$1 work=$2
script=$source_dir/jobs/offline-deps.sh
bundle=$work/bundle prefix=$work/prefix

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $* ($SECONDS s)"; }

mkdir -p "$work"
step "bundle into $bundle"
status=0
"$script" bundle "$bundle" > "$work/bundle.log" 2>&1 || status=$?
cat "$work/bundle.log"
if ((status == 3)); then
  echo "skipped: apt could not give the packages (no mirror or no package lists)"
  exit 77
fi
((status == 0)) || fail "bundle exited with $status"
[[ -x $bundle/offline-deps.sh ]] || fail "the bundle holds no copy of offline-deps.sh"
manifest=$(grep -v '^#' "$bundle/manifest.txt")
count=$(wc -l <<< "$manifest")
((count >= 20)) || fail "only $count packages in the manifest"
for package in libopenmpi3 openmpi-bin libhdf5-openmpi-dev libopenblas0-pthread libyaml-dev \
  libgfortran5; do
  [[ $manifest == *"$package "* || $manifest == "$package "* ]] ||
    fail "$package is not in the bundle"
done
for package in libc6 libstdc++6 gcc-12 gfortran-12; do # the base set
  [[ $'\n'$manifest != *$'\n'"$package "* ]] || fail "$package (base set) is in the bundle"
done
echo "bundle: $count packages, $(du -sh "$bundle/debs" | cut -f1)"

step "unpack into $prefix"
rm -rf "$prefix"
"$bundle/offline-deps.sh" unpack "$bundle" "$prefix"
[[ -f $prefix/env.sh ]] || fail "no $prefix/env.sh"

step "the prefix, with only env.sh"
# nothing of the caller's environment that could point elsewhere
unset LD_LIBRARY_PATH PKG_CONFIG_PATH CMAKE_PREFIX_PATH MPI_HOME HDF5_ROOT HDF5_DIR OPAL_PREFIX
unset CC CFLAGS LDFLAGS
# shellcheck disable=SC1091  # written by the unpack
. "$prefix/env.sh"
in_prefix() { [[ $1 == "$prefix/"* ]]; }
for tool in mpicc mpirun mpiexec h5pcc pkg-config h5dump ompi_info; do
  path=$(command -v "$tool") || fail "$tool not found"
  in_prefix "$path" || fail "$tool is $path, not the prefix's"
done
version=$(mpirun --version)
[[ $version == *"Open MPI"* ]] || fail "mpirun --version: $version"
paths=$(ompi_info --path all)
[[ $paths == *"Prefix: $prefix/usr"* ]] || fail "ompi_info does not see the prefix: $paths"
[[ $paths == *"Sysconfdir: $prefix/etc/openmpi"* ]] || fail "Open MPI's sysconfdir: $paths"
showme=$(mpicc --showme)
[[ $showme == *"-I$prefix/usr/lib/"*"/openmpi/include"* ]] || fail "mpicc --showme: $showme"
h5show=$(h5pcc -show)
[[ $h5show == *"-I$prefix/usr/include/hdf5/openmpi"* ]] || fail "h5pcc -show: $h5show"
pcflags=$(pkg-config --cflags --libs yaml-0.1 hdf5 blas)
[[ $pcflags == *"-L$prefix/usr/lib/"* && $pcflags != *" -L/usr/"* ]] ||
  fail "pkg-config: $pcflags"
echo "tools: $(command -v mpirun), $(head -n 1 <<< "$version")"

step "Volt's CMake dependency search, pointed at the prefix by env.sh"
rm -rf "$work/probe"
cmake -S "$source_dir/tests/offline/probe" -B "$work/probe" -DVOLT_SOURCE_DIR="$source_dir" \
  -DCMAKE_BUILD_TYPE=Release > "$work/probe-configure.log" 2>&1 ||
  { cat "$work/probe-configure.log"; fail "configuring the probe failed"; }
cmake --build "$work/probe" > "$work/probe-build.log" 2>&1 ||
  { cat "$work/probe-build.log"; fail "building the probe failed"; }
cat "$work/probe/found.txt"
# every path CMake found is in the prefix, but the C library's own (libm, libdl: libc6-dev)
while read -r what values; do
  [[ -n $values ]] || fail "CMake found no $what"
  IFS=';' read -ra list <<< "$values"
  for value in "${list[@]}"; do
    [[ $value == /* ]] || continue # -pthread, m, ...
    [[ $value =~ ^/usr/lib/[^/]+/lib(m|dl|pthread|rt)\.(so|a)$ ]] && continue
    in_prefix "$value" || fail "$what: $value is not in the prefix"
  done
done < "$work/probe/found.txt"
probe=$work/probe/offline-probe
loaded=$(ldd "$probe")
for library in libmpi.so libhdf5_openmpi.so libopenblas.so libyaml-0.so libgfortran.so \
  libopen-pal.so; do
  line=$(grep -F "$library" <<< "$loaded") || fail "the probe does not load $library"
  [[ $line == *"=> $prefix/"* ]] || fail "the probe loads $line"
done
[[ $loaded != *"not found"* ]] || fail "unresolved libraries: $loaded"

step "2 ranks with the prefix's mpirun"
run_probe() {
  mpirun -n 2 --oversubscribe "$probe" "$1" > "$work/probe-run.log" 2>&1 ||
    { cat "$work/probe-run.log"; fail "the probe failed at 2 ranks"; }
  local out
  out=$(cat "$work/probe-run.log")
  echo "$out"
  [[ $out == *"offline probe: 2 ranks, Open MPI"*": ok"* ]] || fail "the probe did not say ok"
}
rm -f "$work/probe.h5"
run_probe "$work/probe.h5"
header=$(h5dump -H "$work/probe.h5")
[[ $header == *'DATASET "rows"'*"( 2, 8 )"* ]] || fail "h5dump -H: $header"

hide=()
for d in /usr/lib/*/openmpi /usr/lib/*/pmix2 /usr/lib/*/hdf5 /usr/lib/*/openblas-pthread \
  /etc/openmpi; do
  [[ -d $d ]] && hide+=("$d")
done
# shellcheck disable=SC2016  # expanded by the inner shell
if ((${#hide[@]})) && unshare --mount --propagation private \
  sh -c 'mount -t tmpfs -o size=1m,ro none "$1"' sh "${hide[0]}" 2> /dev/null; then
  step "again, with the system's ${hide[*]} hidden"
  export -f run_probe fail
  export probe work
  # shellcheck disable=SC2016  # expanded by the inner shell
  unshare --mount --propagation private bash -c '
    set -euo pipefail
    for d in "$@"; do mount -t tmpfs -o size=1m,ro none "$d"; done
    rm -f "$work/probe-hidden.h5"
    run_probe "$work/probe-hidden.h5"' hide "${hide[@]}"
else
  echo "(no mount namespace here: the run with the system's copies hidden is left out)"
fi

step "bad inputs"
# a bundle whose one .deb differs from the manifest: the unpack names it, touches nothing
bad=$work/bad-bundle
rm -rf "$bad"
mkdir -p "$bad/debs"
cp "$bundle/manifest.txt" "$bundle/offline-deps.sh" "$bad/"
for deb in "$bundle"/debs/*.deb; do ln -s "$deb" "$bad/debs/"; done
victim=$(awk '!/^#/ && $1 == "libyaml-0-2" { print $5 }' "$bad/manifest.txt")
[[ -n $victim ]] || fail "no libyaml-0-2 in the manifest"
rm "$bad/$victim"
cp "$bundle/$victim" "$bad/$victim"
printf 'X' | dd of="$bad/$victim" bs=1 seek=2000 conv=notrunc status=none
before=$(find "$prefix" -printf '%p %s %T@ %l\n' | sort)
status=0
"$bad/offline-deps.sh" unpack "$bad" "$prefix" > "$work/bad.log" 2>&1 || status=$?
said=$(cat "$work/bad.log")
echo "$said"
((status != 0)) || fail "the unpack of a damaged bundle succeeded"
[[ $said == *"$bad/$victim"*"checksum mismatch"* ]] || fail "the message does not name $victim"
after=$(find "$prefix" -printf '%p %s %T@ %l\n' | sort)
[[ $before == "$after" ]] || fail "the failed unpack changed $prefix"
status=0
"$bad/offline-deps.sh" unpack "$bad" "$work/bad-prefix" > /dev/null 2>&1 || status=$?
((status != 0)) || fail "the unpack of a damaged bundle succeeded"
[[ ! -e $work/bad-prefix ]] || fail "the failed unpack created $work/bad-prefix"

# folders of other files are refused, and left as they were
foreign=$work/foreign
rm -rf "$foreign"
mkdir -p "$foreign"
echo "someone's notes" > "$foreign/notes.txt"
status=0
"$script" bundle "$foreign" > "$work/foreign.log" 2>&1 || status=$?
said=$(cat "$work/foreign.log")
echo "$said"
((status == 1)) || fail "bundle into a folder of other files exited with $status"
[[ $said == *"$foreign is not empty"* ]] || fail "bundle did not say why it refused"
listing=$(ls -A "$foreign")
[[ $listing == notes.txt ]] || fail "bundle wrote into $foreign: $listing"
status=0
"$bundle/offline-deps.sh" unpack "$bundle" "$foreign" > "$work/foreign.log" 2>&1 || status=$?
said=$(cat "$work/foreign.log")
echo "$said"
((status == 1)) || fail "unpack into a folder of other files exited with $status"
listing=$(ls -A "$foreign")
[[ $listing == notes.txt ]] || fail "unpack wrote into $foreign: $listing"

echo "offline-deps: bundled $count packages, unpacked, built and ran from $prefix ($SECONDS s)"

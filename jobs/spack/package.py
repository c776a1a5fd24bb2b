# jobs/spack/package.py — a Spack recipe for Volt.
#
# Volt has no public release or home page yet: it is built from a git checkout. To use this
# recipe, put it in a Spack repository of your own (Spack 1.x layout:
# <repo>/spack_repo/<namespace>/packages/volt/package.py; `spack repo create` makes one),
# `spack repo add` that repository, then either point `git` below at your clone, or build
# your working copy without any download:
#   spack develop --path /where/volt/is volt@develop
#   spack add volt@develop +cuda cuda_arch=90 && spack install
# Spack 0.x takes the same recipe with the two spack_repo imports removed (spack.package
# exported CMakePackage and CudaPackage then).
#
# Every optional part of the build is decided by the spec, never by what the build machine
# happens to have: VOLT_WITH_CUDA and VOLT_WITH_PAPI get ON or OFF, never their default
# AUTO (cmake/VoltOptions.cmake). tests/jobs/check_spack_package.py holds this recipe to
# cmake/VoltOptions.cmake.

from spack_repo.builtin.build_systems.cmake import CMakePackage
from spack_repo.builtin.build_systems.cuda import CudaPackage

from spack.package import *


class Volt(CMakePackage, CudaPackage):
    """Volt: an MPI-native toolkit in C11 (with CUDA C kernels) for training neural
    networks on HPC clusters: a Lightning-style trainer with DDP, ZeRO-1 and tensor
    parallelism, NCCL collectives, sharded parallel-HDF5 checkpoints and PAPI counters."""

    # Placeholders, honestly so: there is no public site or repository to name. Replace
    # them with your clone's address, or use `spack develop` as above.
    homepage = "https://example.invalid/volt"
    git = "https://example.invalid/volt.git"

    # The branch of the checkout; no release has been tagged.
    version("develop", branch="main")

    # cuda and cuda_arch come from CudaPackage.
    variant("nccl", default=True, description="NCCL collectives between GPUs (needs +cuda)")
    variant("papi", default=False, description="PAPI hardware counters in the profiler")

    # The build's own requirements (cmake/VoltDependencies.cmake).
    depends_on("c", type="build")
    depends_on("cxx", type="build", when="+cuda")  # nvcc's host compiler
    depends_on("cmake@3.24:", type="build")
    depends_on("pkgconfig", type="build")  # libyaml and PAPI are found with pkg-config
    depends_on("mpi")
    depends_on("hdf5+mpi")  # checkpoints and data sets are read and written in parallel
    depends_on("blas")  # a CBLAS: cblas.h and cblas_sgemm
    depends_on("libyaml")
    depends_on("zlib-api")  # volt-data reads .gz files
    depends_on("papi", when="+papi")
    depends_on("nccl", when="+nccl")
    for arch in CudaPackage.cuda_arch_values:
        depends_on(f"nccl cuda_arch={arch}", when=f"+nccl cuda_arch={arch}")

    conflicts("+nccl", when="~cuda", msg="NCCL moves GPU buffers: +nccl needs +cuda")
    # VOLT_WITH_CUDA=ON makes the CMake build require NCCL as well (there is no separate
    # option for it yet), so a CUDA build without NCCL would fail at configure time.
    conflicts("~nccl", when="+cuda", msg="the CUDA build needs NCCL: use +cuda +nccl")
    conflicts("cuda_arch=none", when="+cuda",
              msg="name the GPUs' architectures, for example cuda_arch=80 or cuda_arch=90")

    # FindBLAS's names (BLA_VENDOR) for the BLAS providers whose library holds the CBLAS
    # functions. Another provider is left to FindBLAS's search of the dependencies.
    bla_vendors = {"openblas": "OpenBLAS", "flexiblas": "FlexiBLAS", "blis": "FLAME"}

    def cmake_args(self):
        spec = self.spec
        args = [
            self.define_from_variant("VOLT_WITH_CUDA", "cuda"),
            self.define_from_variant("VOLT_WITH_PAPI", "papi"),
            # Spack sets the flags of the target CPU; -march=native would tie the binaries
            # to the build machine's.
            self.define("VOLT_NATIVE", False),
        ]
        vendor = self.bla_vendors.get(spec["blas"].name)
        if vendor:
            args.append(self.define("BLA_VENDOR", vendor))
        if spec.satisfies("+cuda"):
            archs = sorted(spec.variants["cuda_arch"].value)
            args.append(self.define("CMAKE_CUDA_ARCHITECTURES", archs))
        if spec.satisfies("+nccl"):
            args.append(self.define("NCCL_ROOT", spec["nccl"].prefix))
        return args

    def check(self):
        """`spack install --test=root volt`: the unit tests. The mpi tests start up to 4
        ranks and the gpu ones need a GPU, which a build machine may not offer; run them
        from the build folder with `ctest -L mpi` where it does."""
        with working_dir(self.build_directory):
            ctest("--output-on-failure", "--label-regex", "^unit$",
                  "--tests-regex", "^unit[.]")

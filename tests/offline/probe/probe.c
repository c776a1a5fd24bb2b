/* tests/offline/probe/probe.c — uses MPI, parallel HDF5, CBLAS, libyaml and zlib once each:
 * every rank computes a dot product with cblas_ddot, reads its row length from a YAML
 * document, and writes its row of a 2-D dataset into one HDF5 file through MPI-IO
 * (collectively); rank 0 reads the file back and checks every value.
 *   mpirun -n 2 offline-probe OUT.h5      prints "offline probe: 2 ranks ... ok" */
#include <cblas.h>
#include <hdf5.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include <zlib.h>

static const char config[] = "probe:\n  row_length: 8\n";

/* the integer value of key in a flat YAML mapping, or -1 */
static long yaml_value(const char *text, const char *key) {
  yaml_parser_t parser;
  yaml_event_t event;
  long value = -1;
  int want = 0, done = 0;
  if (!yaml_parser_initialize(&parser)) return -1;
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
  while (!done) {
    if (!yaml_parser_parse(&parser, &event)) break;
    if (event.type == YAML_SCALAR_EVENT) {
      const char *scalar = (const char *)event.data.scalar.value;
      if (want) {
        value = strtol(scalar, NULL, 10);
        want = 0;
      } else {
        want = strcmp(scalar, key) == 0;
      }
    }
    done = event.type == YAML_STREAM_END_EVENT;
    yaml_event_delete(&event);
  }
  yaml_parser_delete(&parser);
  return value;
}

int main(int argc, char **argv) {
  int rank, size, failed = 0;
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (argc != 2) {
    if (rank == 0) fprintf(stderr, "usage: offline-probe OUT.h5\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  long n = yaml_value(config, "row_length");
  if (n != 8) {
    fprintf(stderr, "rank %d: libyaml read row_length %ld, not 8\n", rank, n);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  double row[8], ones[8];
  for (int i = 0; i < 8; i++) {
    row[i] = rank * 100 + i;
    ones[i] = 1.0;
  }
  double sum = cblas_ddot(8, row, 1, ones, 1); /* 800 rank + 28 */
  if (sum != 800.0 * rank + 28.0) {
    fprintf(stderr, "rank %d: cblas_ddot gave %g\n", rank, sum);
    failed = 1;
  }
  uLong crc = crc32(0L, (const Bytef *)config, (uInt)strlen(config));

  /* one file, each rank its row, written collectively */
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_fapl_mpio(fapl, MPI_COMM_WORLD, MPI_INFO_NULL);
  hid_t file = H5Fcreate(argv[1], H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  hsize_t dims[2] = {(hsize_t)size, 8}, start[2] = {(hsize_t)rank, 0}, count[2] = {1, 8};
  hid_t space = H5Screate_simple(2, dims, NULL);
  hid_t dset = H5Dcreate2(file, "rows", H5T_NATIVE_DOUBLE, space, H5P_DEFAULT, H5P_DEFAULT,
                          H5P_DEFAULT);
  H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, count, NULL);
  hid_t memspace = H5Screate_simple(2, count, NULL);
  hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
  H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
  if (file < 0 || dset < 0 || H5Dwrite(dset, H5T_NATIVE_DOUBLE, memspace, space, dxpl, row) < 0)
    failed = 1;
  H5Pclose(dxpl);
  H5Sclose(memspace);
  H5Sclose(space);
  H5Dclose(dset);
  H5Fclose(file);
  H5Pclose(fapl);
  MPI_Barrier(MPI_COMM_WORLD);

  if (rank == 0 && !failed) {
    double *all = malloc(sizeof(double) * 8 * (size_t)size);
    file = H5Fopen(argv[1], H5F_ACC_RDONLY, H5P_DEFAULT);
    dset = H5Dopen2(file, "rows", H5P_DEFAULT);
    if (file < 0 || dset < 0 ||
        H5Dread(dset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, all) < 0) {
      fprintf(stderr, "rank 0: cannot read %s back\n", argv[1]);
      failed = 1;
    } else {
      for (int r = 0; r < size; r++)
        for (int i = 0; i < 8; i++)
          if (all[r * 8 + i] != r * 100 + i) failed = 1;
      if (failed) fprintf(stderr, "rank 0: %s holds other values than written\n", argv[1]);
    }
    H5Dclose(dset);
    H5Fclose(file);
    free(all);
  }
  int any = 0;
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (rank == 0) {
    char mpi[MPI_MAX_LIBRARY_VERSION_STRING];
    int length;
    unsigned major, minor, release;
    MPI_Get_library_version(mpi, &length);
    H5get_libversion(&major, &minor, &release);
    printf("offline probe: %d ranks, %.*s, HDF5 %u.%u.%u (parallel), zlib %s, crc %08lx: %s\n",
           size, (int)strcspn(mpi, ",\n"), mpi, major, minor, release, zlibVersion(),
           (unsigned long)crc, any ? "FAILED" : "ok");
  }
  MPI_Finalize();
  return any ? 1 : 0;
}

/* tests/volt_test_main.c — main() for unit test binaries: runs every registered test. */
#include "volt_test.h"

int main(int argc, char **argv) { return volt_test_run_all(argc, argv); }

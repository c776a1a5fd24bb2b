# tests/data_tools.cmake — volt-data end to end (included from tests/CMakeLists.txt).
#   volt_data.fashion_mnist.*  converts Debian's Fashion-MNIST (gzip IDX) and checks, with
#                              volt-data info, the split sizes, classes and statistics
#   volt_data.csv.*            converts a small CSV written here (header, named label column,
#                              a test file) and checks it the same way
#   volt_data.tiny_idx_ok      the control for the bad cases: their small IDX files convert
#   volt_data.text.ok          the control for the bad text cases: three small text files (one
#                              gzip-compressed, one without a final newline) convert into the
#                              expected windows, splits and attributes (summary and info)
#   volt_data.text.content     the same conversion checked byte by byte with h5py: windows,
#                              one-byte overlap, attributes, train and val disjoint and
#                              covering (skipped without Debian's python3-h5py)
#   volt_data.bad.<case>       one bad input each: volt-data must fail with the right message
#                              and leave no output (tests/volt_data_bad_inputs.cmake)
#   volt_data.text.fortunes    Debian's fortunes as a GPT's corpus (--block-size 128), read back
#                              by volt-data info (skipped, exit 77, without the package)
#   volt_data.help             the help lists every command; volt-data text --help
if(NOT TARGET volt-data)
  return()
endif()

set(VOLT_DATA_TEST_DIR ${CMAKE_CURRENT_BINARY_DIR}/volt_data)
file(MAKE_DIRECTORY ${VOLT_DATA_TEST_DIR})
# Any output line that says a run went wrong, whatever else matched.
set(VOLT_DATA_FAILURE "error:|Sanitizer|runtime error")

# --- Fashion-MNIST ---------------------------------------------------------------------------
set(VOLT_FASHION_MNIST_DIR /usr/share/datasets/fashion-mnist CACHE PATH
    "Fashion-MNIST IDX files (Debian's dataset-fashion-mnist, scripts/install-deps.sh)")
set(_fashion ${VOLT_FASHION_MNIST_DIR})
set(_fashion_h5 ${VOLT_DATA_TEST_DIR}/fashion_mnist.h5)
add_test(NAME volt_data.fashion_mnist.convert
         COMMAND $<TARGET_FILE:volt-data> idx
                 --train-images ${_fashion}/train-images-idx3-ubyte.gz
                 --train-labels ${_fashion}/train-labels-idx1-ubyte.gz
                 --test-images ${_fashion}/t10k-images-idx3-ubyte.gz
                 --test-labels ${_fashion}/t10k-labels-idx1-ubyte.gz
                 --val-fraction 0.1 --seed 0 --force --output ${_fashion_h5})
set_tests_properties(volt_data.fashion_mnist.convert PROPERTIES
  FIXTURES_SETUP volt_data_fashion_mnist)
# 60000 training images = 54000 train + 6000 val; the test set has 1000 of each of the 10
# classes; pixels / 255 over the 54000 have mean 0.2858 and std 0.3530 (over all 60000:
# 0.2860 and 0.3530, the published figures).
string(CONCAT _fashion_info
  "format=volt-dataset-1 num_classes=10\n"
  "train +54000 samples\n"
  "  x  u8 \\[54000, 28, 28\\][^\n]*mean=0\\.2858[0-9]* scale=0\\.00392156863 std=0\\.3529[0-9]*\n"
  ".*\nval +6000 samples\n"
  ".*\ntest +10000 samples\n"
  ".*label counts: 0:1000 1:1000 2:1000 3:1000 4:1000 5:1000 6:1000 7:1000 8:1000 9:1000\n"
  "total +70000 samples in 3 splits")
add_test(NAME volt_data.fashion_mnist.info COMMAND $<TARGET_FILE:volt-data> info ${_fashion_h5})
set_tests_properties(volt_data.fashion_mnist.info PROPERTIES
  FIXTURES_REQUIRED volt_data_fashion_mnist PASS_REGULAR_EXPRESSION "${_fashion_info}")
if(NOT EXISTS ${_fashion}/train-images-idx3-ubyte.gz)
  message(STATUS "Fashion-MNIST not in ${_fashion}: volt_data.fashion_mnist.* disabled "
                 "(scripts/install-deps.sh installs it)")
  set_tests_properties(volt_data.fashion_mnist.convert volt_data.fashion_mnist.info
                       PROPERTIES DISABLED TRUE)
endif()

# --- CSV ---------------------------------------------------------------------------------------
# 20 training rows (labels 0..2 in the third column, named "label"; Windows line ends, a
# quoted name, spaces, a blank last line) and 5 test rows.
set(_csv_train "f1, f2 ,\"label\",f3\r\n")
foreach(i RANGE 19)
  math(EXPR label "${i} % 3")
  math(EXPR f2 "${i} * 7 % 10")
  string(APPEND _csv_train "0.${i}, ${f2}.5 ,${label},-${i}e-1\r\n")
endforeach()
string(APPEND _csv_train "\r\n")
set(_csv_test "f1,f2,label,f3\n")
foreach(i RANGE 4)
  math(EXPR label "${i} % 3")
  string(APPEND _csv_test "${i}.25,${i},${label},1e${i}\n")
endforeach()
file(WRITE ${VOLT_DATA_TEST_DIR}/train.csv "${_csv_train}")
file(WRITE ${VOLT_DATA_TEST_DIR}/test.csv "${_csv_test}")
set(_csv_h5 ${VOLT_DATA_TEST_DIR}/csv.h5)
add_test(NAME volt_data.csv.convert
         COMMAND $<TARGET_FILE:volt-data> csv --train ${VOLT_DATA_TEST_DIR}/train.csv
                 --test ${VOLT_DATA_TEST_DIR}/test.csv --label-column label
                 --val-fraction 0.2 --seed 3 --force --output ${_csv_h5})
set_tests_properties(volt_data.csv.convert PROPERTIES FIXTURES_SETUP volt_data_csv)
# 20 rows = 16 train + 4 val; features f1, f2, f3 (the label column is not one); the test
# file's labels are 0, 1, 2, 0, 1.
string(CONCAT _csv_info
  "format=volt-dataset-1 num_classes=3\n"
  "train +16 samples\n"
  "  x  f32 \\[16, 3\\][^\n]* scale=1 [^\n]*\n"
  "  y  u8 \\[16\\].*\n"
  "val +4 samples\n"
  ".*\ntest +5 samples\n"
  ".*label counts: 0:2 1:2 2:1\n"
  "total +25 samples in 3 splits")
add_test(NAME volt_data.csv.info COMMAND $<TARGET_FILE:volt-data> info ${_csv_h5})
set_tests_properties(volt_data.csv.info PROPERTIES
  FIXTURES_REQUIRED volt_data_csv PASS_REGULAR_EXPRESSION "${_csv_info}")

# --- bad inputs (and their control) ------------------------------------------------------------
set(_bad_cases
  idx_wrong_magic idx_truncated idx_truncated_gzip idx_count_mismatch idx_label_out_of_range
  csv_empty csv_header_only csv_ragged csv_non_numeric
  unknown_option missing_required missing_output bad_val_fraction
  output_exists failed_force_keeps_output
  text_no_files text_missing_file text_directory text_binary text_empty text_too_short
  text_block_size_zero text_block_size_huge text_bad_val_fraction text_val_takes_all
  text_no_output_dir text_output_exists text_failed_force_keeps_output info_two_files)
# Debian's python3 with h5py checks text.content (tests/trainer.cmake finds it the same way)
find_program(VOLT_DEBIAN_PYTHON python3 PATHS /usr/bin NO_DEFAULT_PATH)
foreach(case tiny_idx_ok text_ok text_content ${_bad_cases})
  if(case STREQUAL "tiny_idx_ok")
    set(name volt_data.tiny_idx_ok)
  elseif(case STREQUAL "text_ok")
    set(name volt_data.text.ok)
  elseif(case STREQUAL "text_content")
    set(name volt_data.text.content)
  else()
    set(name volt_data.bad.${case})
  endif()
  add_test(NAME ${name}
           COMMAND ${CMAKE_COMMAND} -DVOLT_DATA=$<TARGET_FILE:volt-data> -DCASE=${case}
                   -DWORK_DIR=${VOLT_DATA_TEST_DIR}/${case} -DPYTHON=${VOLT_DEBIAN_PYTHON}
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/volt_data_bad_inputs.cmake)
endforeach()
set_tests_properties(volt_data.text.content PROPERTIES SKIP_REGULAR_EXPRESSION "VOLT_TEST_SKIPPED")

# --- text: Debian's fortunes, the GPT example's corpus ------------------------------------------
# Every fortune file of the folder, in name order: the .dat files are binary indexes (volt-data
# refuses them as not text) and the .u8 files are links to the others (find -type f skips them).
set(VOLT_FORTUNES_DIR /usr/share/games/fortunes CACHE PATH
    "fortune files (Debian's fortunes, scripts/install-deps.sh): the GPT example's corpus")
add_test(NAME volt_data.text.fortunes
         COMMAND sh -c [=[
if [ ! -f "$2/fortunes" ]; then
  echo "skipped: $2/fortunes is missing (Debian's fortunes; scripts/install-deps.sh installs it)"
  exit 77
fi
"$1" text --block-size 128 --val-fraction 0.1 --seed 0 --force --output "$3" \
    $(find "$2" -maxdepth 1 -type f ! -name '*.dat' | LC_ALL=C sort) || exit 1
info=$("$1" info "$3") || exit 1
echo "$info"
echo "$info" | grep -q '^[^ ]*:  format=volt-dataset-1 tokenizer=bytes vocab_size=256$' &&
  echo "$info" | grep -Eq '^  x  u8 \[[0-9]+, 129\]  contiguous  mean=0 scale=1 std=1$' &&
  echo "$info" | grep -Eq '^val +[1-9][0-9]* samples$' ||
  { echo "FAIL: volt-data info does not show byte windows of 129 in /train and /val"; exit 1; }
]=] volt_data.text.fortunes $<TARGET_FILE:volt-data> ${VOLT_FORTUNES_DIR}
                 ${VOLT_DATA_TEST_DIR}/fortunes.h5)
set_tests_properties(volt_data.text.fortunes PROPERTIES SKIP_RETURN_CODE 77)

# --- help ---------------------------------------------------------------------------------------
add_test(NAME volt_data.help COMMAND $<TARGET_FILE:volt-data> --help)
string(CONCAT _help_lists_commands
  "volt-data idx --train-images.*volt-data csv --train.*"
  "volt-data text \\[--block-size 128\\] \\[--val-fraction 0.1 \\| --val-count N\\] "
  "\\[--seed S\\]\n +--output OUT.h5 \\[--force\\] FILE \\[FILE \\.\\.\\.\\].*"
  "volt-data info FILE.h5")
set_tests_properties(volt_data.help PROPERTIES PASS_REGULAR_EXPRESSION "${_help_lists_commands}")
add_test(NAME volt_data.text.help COMMAND $<TARGET_FILE:volt-data> text --help)
set_tests_properties(volt_data.text.help PROPERTIES
  PASS_REGULAR_EXPRESSION "--block-size T +tokens the model reads at once")

get_property(_volt_data_tests DIRECTORY PROPERTY TESTS)
list(FILTER _volt_data_tests INCLUDE REGEX "^volt_data\\.")
set_tests_properties(${_volt_data_tests} PROPERTIES LABELS unit TIMEOUT 120)
foreach(t volt_data.fashion_mnist.info volt_data.csv.info volt_data.help volt_data.text.help)
  # PASS_REGULAR_EXPRESSION alone ignores the exit code; these lines fail the test anyway
  set_tests_properties(${t} PROPERTIES FAIL_REGULAR_EXPRESSION "${VOLT_DATA_FAILURE}")
endforeach()

# tests/volt_data_bad_inputs.cmake — one case of volt-data against bad input (cmake -P).
#
#   cmake -DVOLT_DATA=<volt-data> -DCASE=<name> -DWORK_DIR=<scratch dir> -P this-file
#
# Makes the case's input files in WORK_DIR (emptied first), runs volt-data, and checks that
# it failed the way it should: a non-zero exit code without a sanitizer report, the
# expected message on stderr, and no output behind it: neither out.h5 nor out.h5.tmp, or,
# where a good out.h5 existed before, that file byte for byte unchanged. The case
# "tiny_idx_ok" is the control: the small files the bad cases start from convert cleanly,
# so each bad case fails for its own reason.
cmake_minimum_required(VERSION 3.24)

foreach(var VOLT_DATA CASE WORK_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "pass -D${var}=...")
  endif()
endforeach()
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
set(out ${WORK_DIR}/out.h5)
find_program(PRINTF printf REQUIRED)

# --- making binary files --------------------------------------------------------------------
# CMake strings cannot hold a NUL byte, so bytes are written from hex through printf's
# octal escapes (POSIX printf; an escaped byte is never taken for a % directive).
function(write_bytes path hex)
  string(LENGTH "${hex}" length)
  set(escaped "")
  if(length GREATER 0)
    math(EXPR last "${length} - 2")
    foreach(i RANGE 0 ${last} 2)
      string(SUBSTRING "${hex}" ${i} 2 pair)
      math(EXPR byte "0x${pair}")
      math(EXPR high "${byte} >> 6")
      math(EXPR middle "(${byte} >> 3) & 7")
      math(EXPR low "${byte} & 7")
      string(APPEND escaped "\\${high}${middle}${low}")
    endforeach()
  endif()
  execute_process(COMMAND ${PRINTF} "${escaped}" OUTPUT_FILE ${path} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "printf could not write ${path}")
  endif()
endfunction()

# Eight hex digits of a 32-bit value, big-endian as IDX headers are.
function(hex32 value out)
  math(EXPR hex "${value}" OUTPUT_FORMAT HEXADECIMAL)
  string(SUBSTRING "${hex}" 2 -1 hex)
  string(LENGTH "${hex}" digits)
  math(EXPR pad "8 - ${digits}")
  string(REPEAT "0" ${pad} zeros)
  set(${out} "${zeros}${hex}" PARENT_SCOPE)
endfunction()

# An IDX image file: magic 0x00000803, count, rows, cols, then the pixel bytes given (which
# may be fewer or more than the header announces).
function(write_idx_images path count rows cols pixels_hex)
  hex32(${count} n)
  hex32(${rows} r)
  hex32(${cols} c)
  write_bytes(${path} "00000803${n}${r}${c}${pixels_hex}")
endfunction()

# An IDX label file: magic 0x00000801, count, then the label bytes given.
function(write_idx_labels path count labels_hex)
  hex32(${count} n)
  write_bytes(${path} "00000801${n}${labels_hex}")
endfunction()

# The control set: 3 images of 2x2 and their 3 labels.
set(images ${WORK_DIR}/images.idx)
set(labels ${WORK_DIR}/labels.idx)
write_idx_images(${images} 3 2 2 "000102030405060708090a0b")
write_idx_labels(${labels} 3 "000102")
set(idx_inputs --train-images ${images} --train-labels ${labels})

# --- the cases ---------------------------------------------------------------------------------
# Each sets args (volt-data's arguments), expect (a regex for stderr), and optionally
# existing (out.h5 exists with good content before the run) or succeed (the control).
set(existing FALSE)
set(succeed FALSE)
if(CASE STREQUAL "tiny_idx_ok")
  set(succeed TRUE)
  set(args idx ${idx_inputs} --val-count 1 --output ${out})
  set(expect "train +2 samples")
elseif(CASE STREQUAL "idx_wrong_magic")
  # a label file where images belong
  set(args idx --train-images ${labels} --train-labels ${labels} --output ${out})
  set(expect "wrong magic number 0x00000801 \\(u8 labels \\[N\\]\\), expected 0x00000803")
elseif(CASE STREQUAL "idx_truncated")
  write_idx_images(${WORK_DIR}/short.idx 3 2 2 "00010203040506")
  set(args idx --train-images ${WORK_DIR}/short.idx --train-labels ${labels} --output ${out})
  string(CONCAT expect "short.idx is truncated: the header announces 3 images \\(12 bytes "
         "after the header\\), found 7 bytes")
elseif(CASE STREQUAL "idx_truncated_gzip")
  # 300 labels of random bytes (incompressible), gzip-compressed, the stream cut in half
  string(RANDOM LENGTH 600 ALPHABET "0123456789abcdef" RANDOM_SEED 7 payload)
  write_idx_labels(${WORK_DIR}/many.idx 300 "${payload}")
  file(ARCHIVE_CREATE OUTPUT ${WORK_DIR}/many.idx.gz PATHS ${WORK_DIR}/many.idx FORMAT raw
       COMPRESSION GZip)
  file(READ ${WORK_DIR}/many.idx.gz gz_hex HEX)
  string(LENGTH "${gz_hex}" gz_digits)
  math(EXPR half "${gz_digits} / 4 * 2")
  string(SUBSTRING "${gz_hex}" 0 ${half} gz_hex)
  write_bytes(${WORK_DIR}/cut.idx.gz "${gz_hex}")
  set(args idx --train-images ${images} --train-labels ${WORK_DIR}/cut.idx.gz --output ${out})
  string(CONCAT expect "cut.idx.gz is truncated: the header announces 300 labels \\(300 bytes "
         "after the header\\), found [0-9]+ bytes.*the gzip stream ends early")
elseif(CASE STREQUAL "idx_count_mismatch")
  write_idx_labels(${WORK_DIR}/two.idx 2 "0001")
  set(args idx --train-images ${images} --train-labels ${WORK_DIR}/two.idx --output ${out})
  set(expect "images.idx holds 3 images but [^ ]*two.idx holds 2 labels")
elseif(CASE STREQUAL "idx_label_out_of_range")
  write_idx_labels(${WORK_DIR}/twelve.idx 3 "000c01")
  set(args idx --train-images ${images} --train-labels ${WORK_DIR}/twelve.idx --num-classes 10
      --output ${out})
  set(expect "label 12 of sample 1 \\(counting from 0\\) is not below --num-classes 10")
elseif(CASE STREQUAL "csv_empty")
  file(WRITE ${WORK_DIR}/empty.csv "")
  set(args csv --train ${WORK_DIR}/empty.csv --output ${out})
  set(expect "empty.csv is empty: no rows")
elseif(CASE STREQUAL "csv_header_only")
  file(WRITE ${WORK_DIR}/header.csv "label,a,b\n\n")
  set(args csv --train ${WORK_DIR}/header.csv --output ${out})
  set(expect "header.csv has a header line but no data rows")
elseif(CASE STREQUAL "csv_ragged")
  file(WRITE ${WORK_DIR}/ragged.csv "label,a,b\n0,1.5,2\n1,2.5,3\n0,4\n1,5,6\n")
  set(args csv --train ${WORK_DIR}/ragged.csv --output ${out})
  set(expect "ragged.csv line 4: 2 columns, expected 3")
elseif(CASE STREQUAL "csv_non_numeric")
  file(WRITE ${WORK_DIR}/words.csv "label,a,b\n0,1.5,2\n1,oops,3\n")
  set(args csv --train ${WORK_DIR}/words.csv --output ${out})
  set(expect "words.csv line 3, column 2 \\('a'\\): 'oops' is not a number")
elseif(CASE STREQUAL "unknown_option")
  set(args idx ${idx_inputs} --frobnicate --output ${out})
  set(expect "unknown option --frobnicate for 'volt-data idx'")
elseif(CASE STREQUAL "missing_required")
  set(args idx --train-images ${images} --output ${out})
  set(expect "missing required option --train-labels")
elseif(CASE STREQUAL "missing_output")
  set(args idx ${idx_inputs})
  set(expect "missing required option --output")
elseif(CASE STREQUAL "bad_val_fraction")
  set(args idx ${idx_inputs} --val-fraction 1.5 --output ${out})
  set(expect "--val-fraction '1.5': expected a number in \\[0, 1\\)")
elseif(CASE STREQUAL "output_exists")
  # a valid conversion, refused: out.h5 is there and --force is not
  set(existing TRUE)
  set(args idx ${idx_inputs} --output ${out})
  set(expect "output [^ ]*out.h5 exists. pass --force to replace it")
elseif(CASE STREQUAL "failed_force_keeps_output")
  # --force, but the conversion fails: the good out.h5 must survive
  set(existing TRUE)
  write_idx_images(${WORK_DIR}/short.idx 3 2 2 "00010203040506")
  set(args idx --train-images ${WORK_DIR}/short.idx --train-labels ${labels} --force
      --output ${out})
  set(expect "short.idx is truncated")
else()
  message(FATAL_ERROR "unknown CASE '${CASE}'")
endif()

# --- run and check ------------------------------------------------------------------------------
if(existing)
  file(WRITE ${out} "a good output from an earlier run\n")
  file(SHA256 ${out} hash_before)
endif()
execute_process(COMMAND ${VOLT_DATA} ${args} RESULT_VARIABLE rc OUTPUT_VARIABLE stdout
                ERROR_VARIABLE stderr)
list(JOIN args " " shown)
message("volt-data ${shown}\n-> exit ${rc}\n${stdout}${stderr}")

if(stderr MATCHES "Sanitizer|runtime error")
  message(FATAL_ERROR "FAIL: a sanitizer report (above)")
endif()
if(NOT rc MATCHES "^[0-9]+$")
  message(FATAL_ERROR "FAIL: volt-data did not exit normally: ${rc}")
endif()
if(succeed)
  if(NOT rc EQUAL 0 OR NOT EXISTS ${out})
    message(FATAL_ERROR "FAIL: the control conversion failed")
  endif()
  execute_process(COMMAND ${VOLT_DATA} info ${out} RESULT_VARIABLE rc OUTPUT_VARIABLE stdout
                  ERROR_VARIABLE stderr)
  message("volt-data info -> exit ${rc}\n${stdout}${stderr}")
  if(NOT rc EQUAL 0 OR NOT stdout MATCHES "${expect}")
    message(FATAL_ERROR "FAIL: info does not show '${expect}'")
  endif()
  message("PASS")
  return()
endif()

if(rc EQUAL 0)
  message(FATAL_ERROR "FAIL: volt-data accepted the bad input (exit 0)")
endif()
if(NOT stderr MATCHES "${expect}")
  message(FATAL_ERROR "FAIL: stderr does not match '${expect}'")
endif()
if(EXISTS ${out}.tmp)
  message(FATAL_ERROR "FAIL: ${out}.tmp was left behind")
endif()
if(existing)
  file(SHA256 ${out} hash_after)
  if(NOT hash_after STREQUAL hash_before)
    message(FATAL_ERROR "FAIL: the existing ${out} was changed")
  endif()
elseif(EXISTS ${out})
  message(FATAL_ERROR "FAIL: ${out} was written despite the error")
endif()
message("PASS: exit ${rc}, message matches '${expect}', no output left behind")

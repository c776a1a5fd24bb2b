# tests/volt_data_bad_inputs.cmake — one case of volt-data against bad input (cmake -P).
#
#   cmake -DVOLT_DATA=<volt-data> -DCASE=<name> -DWORK_DIR=<scratch dir> -P this-file
#
# Makes the case's input files in WORK_DIR (emptied first), runs volt-data, and checks that
# it failed the way it should: a non-zero exit code without a sanitizer report, the
# expected message on stderr, and no output behind it: neither out.h5 nor out.h5.tmp, or,
# where a good out.h5 existed before, that file byte for byte unchanged. The cases
# "tiny_idx_ok" and "text_ok" are the controls: the small files the bad cases start from
# convert cleanly, so each bad case fails for its own reason. "text_content" converts the
# text control set too and checks every byte of the file with h5py (pass -DPYTHON=<python3
# with h5py>; without it the case prints VOLT_TEST_SKIPPED and passes).
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

# The text control set: three files whose joined stream is known (expected.bin, joined here
# by the rule volt-data documents): a.txt ends with a newline, b.txt does not (volt-data adds
# one), c.txt.gz is gzip-compressed. With --block-size 8 the 162 bytes make 20 distinct
# windows of 9 bytes (the first "Volt read", the last "few more."), and the last byte (the
# final newline) is dropped.
if(CASE MATCHES "^text_")
  set(text_a "Volt reads bytes.\nEach window overlaps the next by one byte.\n")
  set(text_b "No newline at the end of this file")
  set(text_c "The last file, gzip-compressed: 0123456789abcdef! And a few more.\n")
  file(WRITE ${WORK_DIR}/a.txt "${text_a}")
  file(WRITE ${WORK_DIR}/b.txt "${text_b}")
  file(WRITE ${WORK_DIR}/c.txt "${text_c}")
  file(ARCHIVE_CREATE OUTPUT ${WORK_DIR}/c.txt.gz PATHS ${WORK_DIR}/c.txt FORMAT raw
       COMPRESSION GZip)
  file(REMOVE ${WORK_DIR}/c.txt)
  file(WRITE ${WORK_DIR}/expected.bin "${text_a}${text_b}\n${text_c}")
  set(text_inputs ${WORK_DIR}/a.txt ${WORK_DIR}/b.txt ${WORK_DIR}/c.txt.gz)
  # --val-fraction 0.25 of 20 windows: 5 in /val, 15 in /train
  set(text_split --block-size 8 --val-fraction 0.25 --seed 7)
  string(CONCAT text_info
    "format=volt-dataset-1 tokenizer=bytes vocab_size=256\n"
    "train +15 samples\n  x  u8 \\[15, 9\\]  contiguous  mean=0 scale=1 std=1\n"
    "val +5 samples\n  x  u8 \\[5, 9\\]  contiguous  mean=0 scale=1 std=1\n"
    "total +20 samples in 2 splits")
endif()

# The checks of "text_content" (h5py): argv = file, expected stream, block size, windows,
# windows in /val.
set(text_content_check [=[
import sys

import h5py
import numpy as np

path, stream_path = sys.argv[1], sys.argv[2]
block, expected_n, expected_val = (int(a) for a in sys.argv[3:6])
problems = []


def expect(ok, what):
    if not ok:
        problems.append(what)


def text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


stream = open(stream_path, "rb").read()
n = (len(stream) - 1) // block
windows = [stream[k * block:k * block + block + 1] for k in range(n)]
expect(n == expected_n, f"the stream makes {n} windows, the test expects {expected_n}")
expect(windows[0] == b"Volt read", f"the stream's first window is {windows[0]!r}")
expect(windows[-1] == b"few more.", f"the stream's last window is {windows[-1]!r}")
expect(len(set(windows)) == n, "the test's windows are not distinct: rows cannot be told apart")
window_index = {w: k for k, w in enumerate(windows)}

rows = {}
with h5py.File(path, "r") as f:
    expect(sorted(f.attrs) == ["format", "tokenizer", "vocab_size"],
           f"root attributes {sorted(f.attrs)}, expected format, tokenizer, vocab_size "
           "(no num_classes)")
    expect(text(f.attrs.get("format")) == "volt-dataset-1", f"format {f.attrs.get('format')!r}")
    expect(text(f.attrs.get("tokenizer")) == "bytes", f"tokenizer {f.attrs.get('tokenizer')!r}")
    vocab = f.attrs.get("vocab_size")
    expect(vocab is not None and np.asarray(vocab).dtype == np.int64 and int(vocab) == 256,
           f"vocab_size {vocab!r}, expected i64 256")
    expect(sorted(f) == ["train", "val"], f"groups {sorted(f)}, expected train and val")
    for split in ("train", "val"):
        if split not in f:
            continue
        expect(list(f[split]) == ["x"], f"/{split} holds {list(f[split])}, expected x alone")
        x = f[split]["x"]
        expect(x.dtype == np.uint8 and x.shape[1:] == (block + 1,),
               f"/{split}/x is {x.dtype} {x.shape}, expected uint8 [N, {block + 1}]")
        for name, value in (("scale", 1.0), ("mean", 0.0), ("std", 1.0)):
            got = x.attrs.get(name)
            expect(got is not None and np.asarray(got).dtype == np.float64 and got == value,
                   f"/{split}/x attribute {name} = {got!r}, expected f64 {value}")
        rows[split] = [bytes(r) for r in x[...]]

train, val = rows.get("train", []), rows.get("val", [])
expect(len(val) == expected_val, f"/val has {len(val)} windows, expected {expected_val}")
expect(len(train) == expected_n - expected_val,
       f"/train has {len(train)} windows, expected {expected_n - expected_val}")
by_index = {}
for split, got in (("train", train), ("val", val)):
    strangers = [r for r in got if r not in window_index]
    expect(not strangers, f"/{split} has rows that are no window of the stream: {strangers[:3]}")
    indices = [window_index[r] for r in got if r in window_index]
    expect(indices == sorted(indices), f"/{split} is not in stream order: {indices}")
    for k in indices:
        expect(k not in by_index, f"window {k} is stored twice (train and val overlap)")
        by_index[k] = got[indices.index(k)]
expect(sorted(by_index) == list(range(n)),
       f"train and val miss windows {sorted(set(range(n)) - set(by_index))}")
if sorted(by_index) == list(range(n)):
    # consecutive windows share one byte, and the stored rows rebuild the stream's head
    expect(all(by_index[k][-1] == by_index[k + 1][0] for k in range(n - 1)),
           "consecutive windows do not overlap by one byte")
    rebuilt = b"".join(by_index[k][:block] for k in range(n)) + by_index[n - 1][-1:]
    expect(rebuilt == stream[:n * block + 1], "the stored windows do not rebuild the stream")
for p in problems:
    print("FAIL:", p)
if problems:
    sys.exit(1)
print(f"content: {n} windows of {block + 1} bytes ({len(train)} train, {len(val)} val) are "
      f"exactly the stream's, disjoint and covering; attributes as the layout says")
]=])

# --- the cases ---------------------------------------------------------------------------------
# Each sets args (volt-data's arguments), expect (a regex for stderr), and optionally
# existing (out.h5 exists with good content before the run) or succeed (the control).
set(existing FALSE)
set(succeed FALSE)
set(expect_summary "")
set(check_content FALSE)
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
elseif(CASE STREQUAL "text_ok")
  set(succeed TRUE)
  set(args text ${text_split} --output ${out} ${text_inputs})
  string(CONCAT expect_summary
    "train +15 samples  x u8 \\[9\\]\n  val +5 samples  x u8 \\[9\\]\n"
    "  corpus 162 bytes from 3 files \\(1 newline added between files\\): 20 windows of 9 "
    "bytes at stride 8; the last 1 byte dropped \\(shorter than a window\\)\n"
    "  tokenizer bytes, vocab_size 256")
  set(expect "${text_info}")
elseif(CASE STREQUAL "text_content")
  set(succeed TRUE)
  set(check_content TRUE)
  set(args text ${text_split} --output ${out} ${text_inputs})
  set(expect "${text_info}")
elseif(CASE STREQUAL "text_no_files")
  set(args text --output ${out})
  set(expect "'volt-data text' needs at least one input FILE")
elseif(CASE STREQUAL "text_missing_file")
  set(args text --output ${out} ${WORK_DIR}/a.txt ${WORK_DIR}/missing.txt)
  set(expect "cannot open [^ ]*missing.txt: No such file or directory")
elseif(CASE STREQUAL "text_directory")
  set(args text --output ${out} ${WORK_DIR}/a.txt ${WORK_DIR})
  set(expect "/text_directory is not a regular file")
elseif(CASE STREQUAL "text_binary")
  # a fortune .dat index (version 2, 3 strings, ...): NUL bytes from the first
  write_bytes(${WORK_DIR}/fortunes.dat "000000020000000300000020")
  set(args text --output ${out} ${text_inputs} ${WORK_DIR}/fortunes.dat)
  set(expect "fortunes.dat is not text: a NUL byte at offset 0")
elseif(CASE STREQUAL "text_empty")
  file(WRITE ${WORK_DIR}/empty.txt "")
  set(args text --output ${out} ${WORK_DIR}/empty.txt)
  set(expect "the corpus is empty: [^ ]*empty.txt holds no bytes")
elseif(CASE STREQUAL "text_too_short")
  # "abc" + the newline volt-data adds + "defgh\n": 10 bytes
  file(WRITE ${WORK_DIR}/abc.txt "abc")
  file(WRITE ${WORK_DIR}/defgh.txt "defgh\n")
  set(args text --block-size 16 --output ${out} ${WORK_DIR}/abc.txt ${WORK_DIR}/defgh.txt)
  string(CONCAT expect "the corpus \\(2 files\\) is 10 bytes, shorter than one window: "
         "--block-size 16 needs at least 17 bytes")
elseif(CASE STREQUAL "text_block_size_zero")
  set(args text --block-size 0 --output ${out} ${text_inputs})
  set(expect "--block-size '0': expected an integer in \\[1, 1048576\\]")
elseif(CASE STREQUAL "text_block_size_huge")
  set(args text --block-size 100000000000 --output ${out} ${text_inputs})
  set(expect "--block-size '100000000000': expected an integer in \\[1, 1048576\\]")
elseif(CASE STREQUAL "text_bad_val_fraction")
  set(args text --val-fraction -0.5 --output ${out} ${text_inputs})
  set(expect "--val-fraction '-0.5': expected a number in \\[0, 1\\)")
elseif(CASE STREQUAL "text_val_takes_all")
  set(args text --block-size 8 --val-count 20 --output ${out} ${text_inputs})
  set(expect "a validation split of 20 samples leaves none of the 20 training samples")
elseif(CASE STREQUAL "text_no_output_dir")
  set(out ${WORK_DIR}/no_such_dir/out.h5)
  set(args text --output ${out} ${text_inputs})
  set(expect "cannot write [^ ]*no_such_dir/out.h5: [^ ]*no_such_dir is not a directory")
elseif(CASE STREQUAL "text_output_exists")
  set(existing TRUE)
  set(args text ${text_split} --output ${out} ${text_inputs})
  set(expect "output [^ ]*out.h5 exists. pass --force to replace it")
elseif(CASE STREQUAL "text_failed_force_keeps_output")
  # --force, but the corpus is too short for the block size: the good out.h5 must survive
  set(existing TRUE)
  set(args text --block-size 4096 --force --output ${out} ${text_inputs})
  set(expect "the corpus \\(3 files\\) is 162 bytes, shorter than one window")
elseif(CASE STREQUAL "info_two_files")
  set(args info ${out} ${out})
  set(expect "unexpected argument '[^']*out.h5' for 'volt-data info'")
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
  if(NOT stdout MATCHES "${expect_summary}")
    message(FATAL_ERROR "FAIL: the summary does not show '${expect_summary}'")
  endif()
  execute_process(COMMAND ${VOLT_DATA} info ${out} RESULT_VARIABLE rc OUTPUT_VARIABLE stdout
                  ERROR_VARIABLE stderr)
  message("volt-data info -> exit ${rc}\n${stdout}${stderr}")
  if(NOT rc EQUAL 0 OR NOT stdout MATCHES "${expect}")
    message(FATAL_ERROR "FAIL: info does not show '${expect}'")
  endif()
  if(check_content)
    if(PYTHON)
      execute_process(COMMAND ${PYTHON} -c "import h5py" RESULT_VARIABLE rc ERROR_QUIET)
    endif()
    if(NOT PYTHON OR NOT rc EQUAL 0)
      message("skipped: no python3 with h5py ('${PYTHON}'; Debian's python3-h5py, "
              "scripts/install-deps.sh installs it)\nVOLT_TEST_SKIPPED")
      return()
    endif()
    file(WRITE ${WORK_DIR}/check_content.py "${text_content_check}")
    execute_process(COMMAND ${PYTHON} ${WORK_DIR}/check_content.py ${out}
                            ${WORK_DIR}/expected.bin 8 20 5
                    RESULT_VARIABLE rc OUTPUT_VARIABLE stdout ERROR_VARIABLE stderr)
    message("${stdout}${stderr}")
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "FAIL: the file's content is not what the stream gives (above)")
    endif()
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

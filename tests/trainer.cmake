# tests/trainer.cmake — volt-train and the custom-module example end to end (included from
# tests/CMakeLists.txt). Every case runs through tests/volt_train_cases.cmake, which checks
# exit status, message and the files left behind; each has its own run root in the build
# tree.
#   volt_train.data.*           fixtures: Fashion-MNIST converted once with volt-data idx;
#                               a 20-row CSV data set (16 train, 4 val, 5 test); a file
#                               holding only /test (h5copy)
#   volt_train.fit_learns       2 epochs of 150 batches of 128: val/acc >= 0.80
#   volt_train.test_untrained   test on the freshly initialised model runs and logs test/acc
#   volt_train.predict          predict writes predictions.csv (freshly initialised model)
#   example.custom_learns       volt-example-custom, 1 epoch of 200 batches: val/acc >= 0.75
#   volt_train.print_config_roundtrip   print, save, feed back, print: identical
#   volt_train.help             --help names the subcommands and --ckpt_path
#   volt_train.bad.<case>       one bad input each: non-zero exit, the right message once,
#                               no run folder (or, failing mid-run, no half-written file)
#   demo.fashion_mnist          scripts/demo.sh's full run (5 epochs): val/acc >= 0.85 (slow)
if(NOT TARGET volt-train OR NOT TARGET volt-data)
  return()
endif()

set(_dir ${CMAKE_CURRENT_BINARY_DIR}/volt_train)
set(_cases ${CMAKE_CURRENT_SOURCE_DIR}/volt_train_cases.cmake)
set(_train $<TARGET_FILE:volt-train>)
set(_config ${PROJECT_SOURCE_DIR}/configs/fashion_mnist_mlp.yaml)
set(_env "OPENBLAS_NUM_THREADS=1;OMP_NUM_THREADS=1")
if(VOLT_SANITIZE)
  # Open MPI's initialisation leaks about 120 kB (the same bytes for `volt-train --help` as
  # for a whole run), partly from components it has unloaded, which no suppression can
  # name: leak checking is off for these MPI programs; the other checks stay on.
  list(APPEND _env "ASAN_OPTIONS=detect_leaks=0")
endif()
file(MAKE_DIRECTORY ${_dir})

# volt_train_case(<name> MODE <mode> COMMAND <args...> [FIXTURES <f...>] [LABEL <l>]
#                 [TIMEOUT <s>] [VARS <-Dvar=value...>])
function(volt_train_case name)
  cmake_parse_arguments(arg "" "MODE;LABEL;TIMEOUT" "COMMAND;FIXTURES;VARS" ${ARGN})
  if(NOT arg_LABEL)
    set(arg_LABEL unit)
  endif()
  if(NOT arg_TIMEOUT)
    set(arg_TIMEOUT 120)
  endif()
  add_test(NAME ${name}
           COMMAND ${CMAKE_COMMAND} -DMODE=${arg_MODE} "-DCOMMAND=${arg_COMMAND}" ${arg_VARS}
                   -P ${_cases})
  set_tests_properties(${name} PROPERTIES LABELS ${arg_LABEL} TIMEOUT ${arg_TIMEOUT}
                       ENVIRONMENT "${_env}")
  if(arg_FIXTURES)
    set_tests_properties(${name} PROPERTIES FIXTURES_REQUIRED "${arg_FIXTURES}")
  endif()
endfunction()

# --- data ------------------------------------------------------------------------------------
set(VOLT_FASHION_MNIST_DIR /usr/share/datasets/fashion-mnist CACHE PATH
    "Fashion-MNIST IDX files (Debian's dataset-fashion-mnist, scripts/install-deps.sh)")
set(_fashion ${VOLT_FASHION_MNIST_DIR})
set(_fashion_h5 ${_dir}/fashion_mnist.h5)
add_test(NAME volt_train.data.fashion_mnist
         COMMAND $<TARGET_FILE:volt-data> idx
                 --train-images ${_fashion}/train-images-idx3-ubyte.gz
                 --train-labels ${_fashion}/train-labels-idx1-ubyte.gz
                 --test-images ${_fashion}/t10k-images-idx3-ubyte.gz
                 --test-labels ${_fashion}/t10k-labels-idx1-ubyte.gz
                 --val-fraction 0.1 --seed 0 --force --output ${_fashion_h5})
set_tests_properties(volt_train.data.fashion_mnist PROPERTIES LABELS unit TIMEOUT 120
                     FIXTURES_SETUP volt_train_fashion_mnist)

set(_tiny_csv "f1,f2,f3,label\n")
foreach(i RANGE 19)
  math(EXPR label "${i} % 3")
  math(EXPR f2 "${i} * 7 % 10")
  string(APPEND _tiny_csv "0.${i},${f2},-${label},${label}\n")
endforeach()
file(WRITE ${_dir}/tiny.csv "${_tiny_csv}")
set(_tiny_h5 ${_dir}/tiny.h5)
add_test(NAME volt_train.data.tiny
         COMMAND $<TARGET_FILE:volt-data> csv --train ${_dir}/tiny.csv --test ${_dir}/tiny.csv
                 --label-column label --val-count 4 --force --output ${_tiny_h5})
set_tests_properties(volt_train.data.tiny PROPERTIES LABELS unit TIMEOUT 60
                     FIXTURES_SETUP volt_train_tiny)
set(_train_only_h5 ${_dir}/train_only.h5) # no /val, no /test
add_test(NAME volt_train.data.train_only
         COMMAND $<TARGET_FILE:volt-data> csv --train ${_dir}/tiny.csv --label-column label
                 --val-count 0 --force --output ${_train_only_h5})
set_tests_properties(volt_train.data.train_only PROPERTIES LABELS unit TIMEOUT 60
                     FIXTURES_SETUP volt_train_tiny)

# A well-formed HDF5 file without the groups fit needs: only /test/x (no labels, so no
# num_classes attribute is needed either).
find_program(VOLT_H5COPY h5copy)
set(_only_test_h5 ${_dir}/only_test.h5)
if(VOLT_H5COPY)
  add_test(NAME volt_train.data.only_test
           COMMAND ${CMAKE_COMMAND} -E env sh -c
                   "rm -f '${_only_test_h5}' && '${VOLT_H5COPY}' -i '${_tiny_h5}' -o '${_only_test_h5}' -s /test/x -d /test/x -p")
  set_tests_properties(volt_train.data.only_test PROPERTIES LABELS unit TIMEOUT 60
                       FIXTURES_REQUIRED volt_train_tiny FIXTURES_SETUP volt_train_only_test)
endif()

# --- learning ----------------------------------------------------------------------------------
# 2 x 150 batches of 128 (38 400 samples, 0.7 of the training split's 54 000) with the demo's
# configuration reach val/acc of about 0.86 on the 6 000 validation samples; 0.80 leaves room
# for BLAS summation order without letting a broken trainer pass (chance is 0.10).
volt_train_case(volt_train.fit_learns MODE learns FIXTURES volt_train_fashion_mnist
  COMMAND ${_train} fit --config ${_config} --data.path=${_fashion_h5}
          --trainer.max_epochs=2 --trainer.limit_train_batches=150
          --trainer.log_every_n_steps=10 --trainer.enable_progress_bar=false
          --trainer.default_root_dir=${_dir}/runs_fit --trainer.name=fit
  VARS -DRUN_ROOT=${_dir}/runs_fit -DNAME=fit -DMETRIC=val/acc -DMIN=0.80)

# The example's own module (2-layer tanh MLP of width 64) on the same data.
if(TARGET volt-example-custom)
  volt_train_case(example.custom_learns MODE learns FIXTURES volt_train_fashion_mnist
    COMMAND $<TARGET_FILE:volt-example-custom> --data.path=${_fashion_h5}
            --data.batch_size=128 --trainer.max_epochs=1 --trainer.limit_train_batches=200
            --trainer.enable_progress_bar=false --optimizer.lr=0.002
            --trainer.default_root_dir=${_dir}/runs_custom --trainer.name=custom
    VARS -DRUN_ROOT=${_dir}/runs_custom -DNAME=custom -DMETRIC=val/acc -DMIN=0.75)
endif()

# test and predict evaluate the freshly initialised model (no checkpoints yet): they run,
# and an untrained 10-class model scores near chance.
volt_train_case(volt_train.test_untrained MODE learns FIXTURES volt_train_tiny
  COMMAND ${_train} test --config ${_config} --data.path=${_tiny_h5}
          --trainer.default_root_dir=${_dir}/runs_test --trainer.name=test
  VARS -DRUN_ROOT=${_dir}/runs_test -DNAME=test -DMETRIC=test/acc -DMIN=0.0)
add_test(NAME volt_train.predict
         COMMAND ${CMAKE_COMMAND} -E env sh -c
                 "rm -rf '${_dir}/runs_predict' && '$<TARGET_FILE:volt-train>' predict --config '${_config}' --data.path='${_tiny_h5}' --trainer.default_root_dir='${_dir}/runs_predict' --trainer.name=predict && head -3 '${_dir}/runs_predict/predict/version_0/predictions.csv'")
set_tests_properties(volt_train.predict PROPERTIES LABELS unit TIMEOUT 60 ENVIRONMENT "${_env}"
  FIXTURES_REQUIRED volt_train_tiny
  PASS_REGULAR_EXPRESSION "output_0,output_1,output_2\n[-0-9.e]+,[-0-9.e]+,[-0-9.e]+\n")

# --- configuration -----------------------------------------------------------------------------
volt_train_case(volt_train.print_config_roundtrip MODE roundtrip
  COMMAND ${_train} fit --config ${_config} --trainer.max_epochs=7 --model.hidden=128,64
          --callbacks.0.name=EarlyStopping --callbacks.0.monitor=val/loss --print-config
  VARS -DPROGRAM=${_train} -DWORK=${_dir}/roundtrip)
add_test(NAME volt_train.help COMMAND ${_train} --help)
set_tests_properties(volt_train.help PROPERTIES LABELS unit TIMEOUT 30 ENVIRONMENT "${_env}"
  PASS_REGULAR_EXPRESSION "fit +train.*validate.*test.*predict.*--ckpt_path=FILE.last.best.auto")

# --- bad inputs --------------------------------------------------------------------------------
# volt_train_bad(<case> <expected message regex> [exit status] ARGS <args...>): volt-train
# fit with the demo's configuration on the tiny data set, plus ARGS.
function(volt_train_bad case expect code)
  cmake_parse_arguments(arg "MID_RUN" "" "ARGS;FIXTURES" ${ARGN})
  set(root ${_dir}/runs_bad_${case})
  set(vars -DRUN_ROOT=${root} "-DEXPECT=${expect}")
  if(NOT code STREQUAL "")
    list(APPEND vars -DEXIT_CODE=${code})
  endif()
  if(arg_MID_RUN)
    list(APPEND vars -DRUN_FOLDER_ALLOWED=ON)
  endif()
  if(NOT arg_FIXTURES)
    set(arg_FIXTURES volt_train_tiny)
  endif()
  volt_train_case(volt_train.bad.${case} MODE fail FIXTURES ${arg_FIXTURES}
    COMMAND ${_train} fit --config ${_config} --data.path=${_tiny_h5}
            --trainer.default_root_dir=${root} --trainer.enable_progress_bar=false ${arg_ARGS}
    VARS ${vars})
endfunction()

volt_train_bad(unknown_key "unknown key 'trainer.max_epoch' \\(from command line\\); did you mean 'trainer.max_epochs'\\?" 2
  ARGS --trainer.max_epoch=3)
volt_train_bad(wrong_type "key 'trainer.max_epochs' expects .*got 'three'" 2
  ARGS --trainer.max_epochs=three)
volt_train_bad(unknown_model "unknown model.name 'resnet'; known models: mlp" 2
  ARGS --model.name=resnet)
volt_train_bad(bad_hidden "model.hidden='256,x'" 2 ARGS --model.hidden=256,x)
volt_train_bad(unknown_callback "EarlyStoping.*EarlyStopping" 2
  ARGS --callbacks.0.name=EarlyStoping --callbacks.0.monitor=val/loss)
volt_train_bad(missing_file "cannot read [^\n]*no_such_file\\.h5" 1
  ARGS --data.path=${_dir}/no_such_file.h5)
volt_train_bad(not_hdf5 "config\\.yaml|HDF5|not an HDF5" 1
  ARGS --data.path=${_config})
if(VOLT_H5COPY)
  volt_train_bad(no_train_group "has no /train group[^\n]*fit needs; it has /test" 1
    FIXTURES volt_train_only_test ARGS --data.path=${_only_test_h5})
endif()
volt_train_bad(hierarchical_value "strategy.hierarchical = 'maybe': expected auto, true or false" 2
               ARGS --strategy.hierarchical=maybe)
volt_train_bad(precision_16_true "trainer.precision = '16-true' is not supported" 1
               ARGS --trainer.precision=16-true)
volt_train_bad(precision_unknown "trainer.precision = 'f8': expected 32-true, bf16-mixed or 16-mixed" 2
               ARGS --trainer.precision=f8)
volt_train_bad(grad_scaler_backoff "grad_scaler.backoff_factor = 1.5: expected between 0 and 1" 2
               ARGS --trainer.precision=16-mixed --grad_scaler.backoff_factor=1.5)
volt_train_bad(comm_timeout_negative "comm.timeout_s = -1: expected seconds >= 0" 2
               ARGS --comm.timeout_s=-1)
volt_train_bad(batch_size_zero "data\\.batch_size" ""
  ARGS --data.batch_size=0)
volt_train_bad(batch_larger_than_data_drop_last "batch_size[^\n]*16" ""
  ARGS --data.batch_size=32 --data.drop_last=true)
volt_train_bad(monitor_never_logged "val/accuracy[^\n]*val/acc" "" MID_RUN
  ARGS --trainer.max_epochs=2 --callbacks.0.name=EarlyStopping
       --callbacks.0.monitor=val/accuracy)
volt_train_bad(fast_dev_run_with_limits "fast_dev_run[^\n]*limit_train_batches|limit_train_batches[^\n]*fast_dev_run" ""
  ARGS --trainer.fast_dev_run=true --trainer.limit_train_batches=5)
# checkpoints given to --ckpt_path: a fixture writes two real ones (hidden 8: a full one
# and a weights-only one); each bad case fails on every rank before any run folder exists
set(_ckpt_fixture ${_dir}/ckpt_fixture)
add_test(NAME volt_train.data.tiny_checkpoints
         COMMAND sh -c "rm -rf '${_ckpt_fixture}' && \
           '$<TARGET_FILE:volt-train>' fit --config '${_config}' --data.path='${_tiny_h5}' \
             --data.batch_size=4 --model.hidden=8 --trainer.enable_progress_bar=false \
             --trainer.default_root_dir='${_ckpt_fixture}' --trainer.name=full && \
           '$<TARGET_FILE:volt-train>' fit --config '${_config}' --data.path='${_tiny_h5}' \
             --data.batch_size=4 --model.hidden=8 --trainer.enable_progress_bar=false \
             --trainer.default_root_dir='${_ckpt_fixture}' --trainer.name=weights \
             --callbacks.0.name=ModelCheckpoint --callbacks.0.save_weights_only=true")
set_tests_properties(volt_train.data.tiny_checkpoints PROPERTIES LABELS unit TIMEOUT 60
                     ENVIRONMENT "${_env}" FIXTURES_REQUIRED volt_train_tiny
                     FIXTURES_SETUP volt_train_tiny_checkpoints)
set(_full_ckpt ${_ckpt_fixture}/full/version_0/checkpoints/last.h5)
set(_weights_ckpt ${_ckpt_fixture}/weights/version_0/checkpoints/last.h5)
volt_train_bad(ckpt_missing "cannot read the checkpoint [^\n]*no_such\\.h5: No such file" 1
  ARGS --ckpt_path=${_dir}/no_such.h5)
volt_train_bad(ckpt_not_hdf5 "the checkpoint [^\n]*fashion_mnist_mlp\\.yaml is not an HDF5 file" 1
  ARGS --ckpt_path=${_config})
volt_train_bad(ckpt_data_file "is an HDF5 file but not a Volt checkpoint" 1
  ARGS --ckpt_path=${_tiny_h5})
volt_train_bad(ckpt_last_none "ckpt_path=last: no last\\.h5 in" 2 ARGS --ckpt_path=last)
volt_train_bad(ckpt_other_model "/model/fc1\\.weight has shape \\[8, 3\\], the model's fc1\\.weight has \\[16, 3\\]" 1
  FIXTURES volt_train_tiny_checkpoints
  ARGS --data.batch_size=4 --model.hidden=16 --ckpt_path=${_full_ckpt})
volt_train_bad(ckpt_weights_only "holds weights only \\(save_weights_only\\): it cannot resume" 2
  FIXTURES volt_train_tiny_checkpoints
  ARGS --data.batch_size=4 --model.hidden=8 --ckpt_path=${_weights_ckpt})
volt_train_bad(ckpt_other_optimizer "holds adamw optimizer state; this run's optimizer is sgd" 2
  FIXTURES volt_train_tiny_checkpoints
  ARGS --data.batch_size=4 --model.hidden=8 --optimizer.name=sgd --ckpt_path=${_full_ckpt})
volt_train_bad(ckpt_other_global_batch "global batch of 4 samples \\(data\\.batch_size x dp\\), this run's is 8" 2
  FIXTURES volt_train_tiny_checkpoints
  ARGS --data.batch_size=8 --model.hidden=8 --ckpt_path=${_full_ckpt})
volt_train_case(volt_train.bad.no_subcommand MODE fail
  COMMAND ${_train} --config ${_config}
  VARS "-DEXPECT=no subcommand: expected fit, validate, test or predict" -DEXIT_CODE=2)
volt_train_case(volt_train.bad.test_without_test_split MODE fail FIXTURES volt_train_tiny
  COMMAND ${_train} test --config ${_config} --data.path=${_train_only_h5}
          --trainer.default_root_dir=${_dir}/runs_bad_test_without_test_split
  VARS "-DEXPECT=has no /test group[^\n]*test needs; it has /train" -DEXIT_CODE=1
       -DRUN_ROOT=${_dir}/runs_bad_test_without_test_split)

# --- distributed (2 ranks) ---------------------------------------------------------------------
# volt-train-test: volt-train with a test-only data module (setup fails on the rank named by
# VOLT_TEST_FAIL_RANK), built from the same source.
#   volt_train.dist.fit_learns_<strategy>  mpirun -n 2, per-rank batch 64 (global 128, as
#                               fit_learns): val/acc >= 0.80 with ddp and with zero1
#   volt_train.dist.bad_layout  dp=3 at 2 ranks: non-zero exit, the message once
#   volt_train.dist.rank_cannot_read  rank 1's setup fails: every rank exits non-zero, one
#                               message naming rank 1
#   volt_train.dist.bad_checkpoint  a checkpoint of another model shape: both ranks fail,
#                               one message, no run folder
#   volt_train.dist.kill_one_rank  kill -9 of one rank mid-training: mpirun returns within 30 s
add_executable(volt-train-test ${PROJECT_SOURCE_DIR}/apps/volt_train.c)
target_compile_definitions(volt-train-test PRIVATE VOLT_TRAIN_TEST_HOOKS)
target_link_libraries(volt-train-test PRIVATE volt_models)
set(_mpi2 ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 2 ${VOLT_MPIEXEC_FLAGS})
set(_dist_tests "")
foreach(strategy ddp zero1)
  volt_train_case(volt_train.dist.fit_learns_${strategy} MODE learns LABEL mpi TIMEOUT 300
    FIXTURES volt_train_fashion_mnist
    COMMAND ${_mpi2} ${_train} fit --config ${_config} --data.path=${_fashion_h5}
            --data.batch_size=64 --trainer.strategy=${strategy}
            --trainer.max_epochs=2 --trainer.limit_train_batches=150
            --trainer.log_every_n_steps=10 --trainer.enable_progress_bar=false
            --trainer.default_root_dir=${_dir}/runs_dist_${strategy} --trainer.name=fit
    VARS -DRUN_ROOT=${_dir}/runs_dist_${strategy} -DNAME=fit -DMETRIC=val/acc -DMIN=0.80)
  list(APPEND _dist_tests volt_train.dist.fit_learns_${strategy})
endforeach()
volt_train_case(volt_train.dist.bad_layout MODE fail LABEL mpi FIXTURES volt_train_tiny
  COMMAND ${_mpi2} ${_train} fit --config ${_config} --data.path=${_tiny_h5}
          --trainer.layout=dp=3 --trainer.default_root_dir=${_dir}/runs_dist_bad_layout
  VARS "-DEXPECT=dp=3" -DRUN_ROOT=${_dir}/runs_dist_bad_layout)
# strategy.hierarchical = true on one node: every rank fails before any work, one message
volt_train_case(volt_train.dist.hierarchical_on_one_node MODE fail LABEL mpi
  FIXTURES volt_train_tiny
  COMMAND ${_mpi2} ${_train} fit --config ${_config} --data.path=${_tiny_h5}
          --strategy.hierarchical=true --trainer.default_root_dir=${_dir}/runs_dist_hier
  VARS "-DEXPECT=strategy.hierarchical = true needs[^\n]*is on 1 node"
       -DRUN_ROOT=${_dir}/runs_dist_hier -DEXIT_CODE=2)
volt_train_case(volt_train.dist.hierarchical_with_zero1 MODE fail LABEL mpi
  FIXTURES volt_train_tiny
  COMMAND ${_mpi2} ${_train} fit --config ${_config} --data.path=${_tiny_h5}
          --strategy.hierarchical=true --trainer.strategy=zero1
          --trainer.default_root_dir=${_dir}/runs_dist_hier_zero1
  VARS "-DEXPECT=strategy.hierarchical = true is for DDP's all-reduce, but the strategy is zero1"
       -DRUN_ROOT=${_dir}/runs_dist_hier_zero1 -DEXIT_CODE=2)
volt_train_case(volt_train.dist.rank_cannot_read MODE fail LABEL mpi FIXTURES volt_train_tiny
  COMMAND env VOLT_TEST_FAIL_RANK=1 ${_mpi2} $<TARGET_FILE:volt-train-test> fit
          --config ${_config} --data.path=${_tiny_h5} --data.batch_size=4
          --trainer.default_root_dir=${_dir}/runs_dist_cannot_read
  VARS "-DEXPECT=rank 1: cannot open data file" -DRUN_ROOT=${_dir}/runs_dist_cannot_read)
volt_train_case(volt_train.dist.bad_checkpoint MODE fail LABEL mpi
  FIXTURES volt_train_tiny_checkpoints
  COMMAND ${_mpi2} ${_train} fit --config ${_config} --data.path=${_tiny_h5}
          --data.batch_size=4 --model.hidden=16 --ckpt_path=${_full_ckpt}
          --trainer.default_root_dir=${_dir}/runs_dist_bad_checkpoint
  VARS "-DEXPECT=has shape \\[8, 3\\], the model's fc1\\.weight has \\[16, 3\\]"
       -DRUN_ROOT=${_dir}/runs_dist_bad_checkpoint)
# ModelCheckpoint ranking by a step metric (each rank's own value between the averaged
# steps) at 2 ranks: rank 0 decides for all, so the run neither hangs nor diverges
volt_train_case(volt_train.dist.checkpoint_by_step_metric MODE learns LABEL mpi TIMEOUT 120
  FIXTURES volt_train_fashion_mnist
  COMMAND ${_mpi2} ${_train} fit --config ${_config} --data.path=${_fashion_h5}
          --trainer.max_epochs=1 --trainer.limit_train_batches=60
          --trainer.enable_progress_bar=false --callbacks.0.name=ModelCheckpoint
          --callbacks.0.monitor=train/loss --callbacks.0.every_n_train_steps=2
          --callbacks.0.save_top_k=2 "--callbacks.0.filename=s{step}-{train/loss:.5f}"
          --trainer.default_root_dir=${_dir}/runs_dist_ckpt_metric --trainer.name=m
  VARS -DRUN_ROOT=${_dir}/runs_dist_ckpt_metric -DNAME=m -DMETRIC=val/acc -DMIN=0.5)
volt_train_case(volt_train.dist.kill_one_rank MODE kill LABEL mpi TIMEOUT 120
  FIXTURES volt_train_fashion_mnist
  COMMAND ${_mpi2} ${_train} fit --config ${_config} --data.path=${_fashion_h5}
          --data.batch_size=64 --trainer.max_epochs=1000 --trainer.enable_progress_bar=false
          --trainer.default_root_dir=${_dir}/runs_dist_kill --trainer.name=kill
  VARS -DRUN_ROOT=${_dir}/runs_dist_kill -DNAME=kill -DMAX_SECONDS=30)
list(APPEND _dist_tests volt_train.dist.kill_one_rank)

# --- the demo ----------------------------------------------------------------------------------
# scripts/demo.sh as a user runs it, on the converted data, into the build tree.
add_test(NAME demo.fashion_mnist
         COMMAND ${CMAKE_COMMAND} -DMODE=learns
                 "-DCOMMAND=env;VOLT_BUILD_DIR=${PROJECT_BINARY_DIR};VOLT_DEMO_DATA=${_fashion_h5};${PROJECT_SOURCE_DIR}/scripts/demo.sh;--trainer.default_root_dir=${_dir}/runs_demo;--trainer.enable_progress_bar=false"
                 -DRUN_ROOT=${_dir}/runs_demo -DNAME=fashion_mnist_mlp -DMETRIC=val/acc -DMIN=0.85
                 -P ${_cases})
set_tests_properties(demo.fashion_mnist PROPERTIES LABELS slow TIMEOUT 600
  FIXTURES_REQUIRED volt_train_fashion_mnist)

if(NOT EXISTS ${_fashion}/train-images-idx3-ubyte.gz)
  message(STATUS "Fashion-MNIST not in ${_fashion}: volt_train.fit_learns, "
                 "example.custom_learns and demo.fashion_mnist disabled")
  set_tests_properties(volt_train.data.fashion_mnist volt_train.fit_learns demo.fashion_mnist
                       ${_dist_tests} PROPERTIES DISABLED TRUE)
  if(TARGET volt-example-custom)
    set_tests_properties(example.custom_learns PROPERTIES DISABLED TRUE)
  endif()
endif()

# --- checkpoints: resume (tests/resume_case.cmake) ----------------------------------------
#   volt_train.resume.<case>   a run resumed mid-epoch from its checkpoint ends with the
#                              uninterrupted run's model and optimizer state: bit-identical
#                              on the same layout; within 1e-4 (absolute) after a change of layout
find_program(VOLT_H5DIFF h5diff)
function(volt_resume_case name ranks_a strategy_a batch_a ranks_b strategy_b batch_b)
  cmake_parse_arguments(arg "" "TOLERANCE" "EXTRA" ${ARGN})
  set(tolerance "")
  if(arg_TOLERANCE)
    set(tolerance -DTOLERANCE=${arg_TOLERANCE} -DDROPOUT=0)
  endif()
  add_test(NAME volt_train.resume.${name}
           COMMAND ${CMAKE_COMMAND} -DMPIEXEC=${MPIEXEC_EXECUTABLE}
                   "-DMPIEXEC_FLAGS=${VOLT_MPIEXEC_FLAGS}" -DTRAIN=${_train}
                   -DCONFIG=${_config} -DDATA=${_fashion_h5} -DROOT=${_dir}/resume_${name}
                   -DBATCHES=40 -DRANKS_A=${ranks_a} -DSTRATEGY_A=${strategy_a}
                   -DBATCH_A=${batch_a} -DRANKS_B=${ranks_b} -DSTRATEGY_B=${strategy_b}
                   -DBATCH_B=${batch_b} -DH5DIFF=${VOLT_H5DIFF} ${tolerance}
                   "-DEXTRA=${arg_EXTRA}" -P ${CMAKE_CURRENT_SOURCE_DIR}/resume_case.cmake)
  set_tests_properties(volt_train.resume.${name} PROPERTIES LABELS mpi TIMEOUT 300
                       ENVIRONMENT "${_env}" FIXTURES_REQUIRED volt_train_fashion_mnist)
endfunction()
if(VOLT_H5DIFF)
  volt_resume_case(single_1 1 single 64 1 single 64)
  volt_resume_case(ddp_2 2 ddp 32 2 ddp 32)
  volt_resume_case(zero1_2 2 zero1 32 2 zero1 32)
  volt_resume_case(zero1_2_to_single_1 2 zero1 32 1 single 64 TOLERANCE 1e-4)
  volt_resume_case(zero1_2_to_zero1_4 2 zero1 32 4 zero1 16 TOLERANCE 1e-4)
  volt_resume_case(zero1_2_to_ddp_4 2 zero1 32 4 ddp 16 TOLERANCE 1e-4)
  # 16-mixed from a scale of 2^40: steps are skipped and the scale halves, then grows every
  # 7 good steps, so the checkpoint at step 25 holds a scale mid-way that the resumed run
  # must take up for bit-identical losses
  volt_resume_case(ddp_2_16_mixed 2 ddp 32 2 ddp 32
    EXTRA --trainer.precision=16-mixed --grad_scaler.init_scale=1099511627776
          --grad_scaler.growth_interval=7)
endif()

# --- mixed precision ------------------------------------------------------------------------
#   volt_train.precision.<bf16|16>_mixed_learns   2 epochs as fit_learns: val/acc >= 0.80
#   volt_train.precision.planted_overflow   16-mixed from a loss scale of 2^40 on 2 ranks:
#                              the scale halves and the steps are skipped until it fits,
#                              then the loss falls (tests/grad_scaler_case.cmake)
#   volt_train.resume.ddp_2_16_mixed   above: the loss scale is in the checkpoint
foreach(precision bf16 16)
  volt_train_case(volt_train.precision.${precision}_mixed_learns MODE learns
    FIXTURES volt_train_fashion_mnist
    COMMAND ${_train} fit --config ${_config} --data.path=${_fashion_h5}
            --trainer.precision=${precision}-mixed --trainer.max_epochs=2
            --trainer.limit_train_batches=150 --trainer.log_every_n_steps=10
            --trainer.enable_progress_bar=false
            --trainer.default_root_dir=${_dir}/runs_${precision}_mixed --trainer.name=fit
    VARS -DRUN_ROOT=${_dir}/runs_${precision}_mixed -DNAME=fit -DMETRIC=val/acc -DMIN=0.80)
endforeach()
add_test(NAME volt_train.precision.planted_overflow
         COMMAND ${CMAKE_COMMAND} -DMPIEXEC=${MPIEXEC_EXECUTABLE}
                 "-DMPIEXEC_FLAGS=${VOLT_MPIEXEC_FLAGS}" -DTRAIN=${_train} -DCONFIG=${_config}
                 -DDATA=${_fashion_h5} -DROOT=${_dir}/runs_planted_overflow
                 -P ${CMAKE_CURRENT_SOURCE_DIR}/grad_scaler_case.cmake)
set_tests_properties(volt_train.precision.planted_overflow PROPERTIES LABELS mpi TIMEOUT 300
                     ENVIRONMENT "${_env}" FIXTURES_REQUIRED volt_train_fashion_mnist)

# --- checkpoints: PyTorch reads them (tests/torch_roundtrip.cmake) ------------------------
#   volt_train.torch_roundtrip  tools/volt_to_torch.py evaluates a Volt checkpoint with the
#                               same accuracy and loss as volt-train validate --ckpt_path
#                               (skipped when Debian's python3 lacks torch or h5py)
find_program(VOLT_DEBIAN_PYTHON python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(VOLT_DEBIAN_PYTHON)
  add_test(NAME volt_train.torch_roundtrip
           COMMAND ${CMAKE_COMMAND} -DTRAIN=${_train} -DCONFIG=${_config}
                   -DDATA=${_fashion_h5} -DROOT=${_dir}/torch_roundtrip
                   -DPYTHON=${VOLT_DEBIAN_PYTHON}
                   -DTOOL=${PROJECT_SOURCE_DIR}/tools/volt_to_torch.py -DSAMPLES=6000
                   "-DARGS=--model.hidden=128,64;--model.activation=gelu"
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/torch_roundtrip.cmake)
  set_tests_properties(volt_train.torch_roundtrip PROPERTIES LABELS unit TIMEOUT 300
                       ENVIRONMENT "${_env}" FIXTURES_REQUIRED volt_train_fashion_mnist
                       SKIP_REGULAR_EXPRESSION "VOLT_TEST_SKIPPED")
endif()

# --- checkpoints: preemption (tests/preemption_case.cmake) --------------------------------
#   volt_train.preempt.<case>   SIGUSR1 to one of 2 ranks (mpirun), SIGTERM to a single
#                               process: exit 75, one hpc_ckpt_1.h5, and the requeued run
#                               (--ckpt_path=last) ends bit-identical to an uninterrupted one
find_program(VOLT_H5DUMP h5dump)
if(VOLT_H5DIFF AND VOLT_H5DUMP)
  foreach(_case "usr1_2ranks;2;USR1" "term_1rank;1;TERM")
    list(GET _case 0 _name)
    list(GET _case 1 _ranks)
    list(GET _case 2 _signal)
    add_test(NAME volt_train.preempt.${_name}
             COMMAND ${CMAKE_COMMAND} -DMPIEXEC=${MPIEXEC_EXECUTABLE}
                     "-DMPIEXEC_FLAGS=${VOLT_MPIEXEC_FLAGS}" -DTRAIN=${_train}
                     -DCONFIG=${_config} -DDATA=${_fashion_h5}
                     -DROOT=${_dir}/preempt_${_name} -DRANKS=${_ranks} -DSIGNAL=${_signal}
                     -DH5DIFF=${VOLT_H5DIFF} -DH5DUMP=${VOLT_H5DUMP}
                     -P ${CMAKE_CURRENT_SOURCE_DIR}/preemption_case.cmake)
    set_tests_properties(volt_train.preempt.${_name} PROPERTIES LABELS mpi TIMEOUT 300
                         ENVIRONMENT "${_env}" FIXTURES_REQUIRED volt_train_fashion_mnist)
  endforeach()
endif()

# --- checkpoints: a crash in the middle of a write (tests/crash_case.cmake) ---------------
#   volt_train.crash_during_checkpoint  kill -9 of both ranks mid-write: the earlier
#                               checkpoints are whole, and training resumes from last.h5
if(VOLT_H5DUMP)
  add_test(NAME volt_train.crash_during_checkpoint
           COMMAND ${CMAKE_COMMAND} -DMPIEXEC=${MPIEXEC_EXECUTABLE}
                   "-DMPIEXEC_FLAGS=${VOLT_MPIEXEC_FLAGS}" -DTRAIN=${_train}
                   -DCONFIG=${_config} -DDATA=${_fashion_h5} -DROOT=${_dir}/crash
                   -DH5DUMP=${VOLT_H5DUMP} -P ${CMAKE_CURRENT_SOURCE_DIR}/crash_case.cmake)
  set_tests_properties(volt_train.crash_during_checkpoint PROPERTIES LABELS mpi TIMEOUT 600
                       ENVIRONMENT "${_env}" FIXTURES_REQUIRED volt_train_fashion_mnist)
endif()

# --- the profiler (tests/profile_case.cmake) ----------------------------------------------
#   volt_train.profile_2ranks   trainer.profiler=papi and profiler.trace at 2 ranks:
#                               profile.txt (regions, counts, bytes, PAPI or its reason,
#                               self times adding up) and a JSON trace per rank
add_test(NAME volt_train.profile_2ranks
         COMMAND ${CMAKE_COMMAND} -DMPIEXEC=${MPIEXEC_EXECUTABLE}
                 "-DMPIEXEC_FLAGS=${VOLT_MPIEXEC_FLAGS}" -DTRAIN=${_train} -DCONFIG=${_config}
                 -DDATA=${_fashion_h5} -DROOT=${_dir}/profile
                 -P ${CMAKE_CURRENT_SOURCE_DIR}/profile_case.cmake)
set_tests_properties(volt_train.profile_2ranks PROPERTIES LABELS mpi TIMEOUT 120
                     ENVIRONMENT "${_env}" FIXTURES_REQUIRED volt_train_fashion_mnist)

# --- TensorBoard logger ---------------------------------------------------------------------
#   volt_train.tensorboard_logger  fit at 2 ranks with trainer.logger=tensorboard: the
#                               tensorboard package (PyPI, in VOLT_TEST_VENV) finds every
#                               value of metrics.csv as a scalar, and the hyperparameters
#                               (skipped, exit 77, where the package cannot be installed)
string(REPLACE ";" " " _mpi2_text "${_mpi2}")
add_test(NAME volt_train.tensorboard_logger
         COMMAND sh -c [=[rm -rf "$0" && $1 "$2" fit --config "$3" --data.path="$4" --trainer.enable_progress_bar=false --trainer.max_epochs=2 --trainer.limit_train_batches=100 --trainer.log_every_n_steps=10 --trainer.default_root_dir="$0" --trainer.name=tb --trainer.logger=tensorboard && { "$5" "$6" || exit $?; } && "$6/bin/python" "$7" "$0/tb/version_0" optimizer.name=adamw optimizer.lr=0.001 data.batch_size=64 model.hidden=256 trainer.layout=2]=]
                 ${_dir}/tensorboard_logger "${_mpi2_text}" ${_train} ${_config} ${_fashion_h5}
                 ${PROJECT_SOURCE_DIR}/scripts/setup-test-venv.sh ${VOLT_TEST_VENV}
                 ${CMAKE_CURRENT_SOURCE_DIR}/tensorboard/check_run.py)
set_tests_properties(volt_train.tensorboard_logger PROPERTIES LABELS mpi TIMEOUT 600
                     ENVIRONMENT "${_env}" FIXTURES_REQUIRED volt_train_fashion_mnist
                     SKIP_RETURN_CODE 77)

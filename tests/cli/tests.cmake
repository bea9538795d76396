# The mmx command line on bad input: each case must exit non-zero with a clear message and write
# nothing. A seconds-long training run (fixture) provides the checkpoint the cases need.
set(CLI_DIR ${CMAKE_CURRENT_LIST_DIR})
set(CLI_RUN ${CMAKE_BINARY_DIR}/tests/cli_run)
set(FAIL ${CLI_DIR}/expect_fail.sh)
add_test(NAME cli_train_tiny COMMAND $<TARGET_FILE:mmx_cli> train ${CLI_DIR}/tiny.toml --out ${CLI_RUN} --no-progress)
set_tests_properties(cli_train_tiny PROPERTIES FIXTURES_SETUP cli_ckpt LABELS cpu)

function(mmx_cli_fail name pattern)
  add_test(NAME ${name} COMMAND ${FAIL} ${pattern} ${ARGN})
  set_tests_properties(${name} PROPERTIES FIXTURES_REQUIRED cli_ckpt LABELS cpu)
endfunction()

mmx_cli_fail(cli_forecast_columns_differ "column .MUFL.: no such column .*the training columns" --absent ${CLI_RUN}/out1.csv --
  $<TARGET_FILE:mmx_cli> forecast --checkpoint ${CLI_RUN}/best.safetensors --input ${CLI_DIR}/three_columns.csv --output ${CLI_RUN}/out1.csv)
mmx_cli_fail(cli_forecast_too_few_rows "10 rows, but the model needs 64" --absent ${CLI_RUN}/out2.csv --
  $<TARGET_FILE:mmx_cli> forecast --checkpoint ${CLI_RUN}/best.safetensors --input ${CLI_DIR}/short_etth1_layout.csv --output ${CLI_RUN}/out2.csv)
mmx_cli_fail(cli_forecast_missing_input "missing.csv" --absent ${CLI_RUN}/out3.csv --
  $<TARGET_FILE:mmx_cli> forecast --checkpoint ${CLI_RUN}/best.safetensors --input ${CLI_RUN}/missing.csv --output ${CLI_RUN}/out3.csv)
mmx_cli_fail(cli_eval_missing_checkpoint "nonexistent.safetensors" --
  $<TARGET_FILE:mmx_cli> eval --checkpoint ${CLI_RUN}/nonexistent.safetensors)
mmx_cli_fail(cli_eval_truncated_checkpoint "trunc.safetensors" --
  sh -c "head -c 1000 ${CLI_RUN}/best.safetensors > ${CLI_RUN}/trunc.safetensors && $<TARGET_FILE:mmx_cli> eval --checkpoint ${CLI_RUN}/trunc.safetensors")
mmx_cli_fail(cli_train_unknown_key "did you mean 'train.lr'" --
  $<TARGET_FILE:mmx_cli> train ${CLI_DIR}/tiny.toml --set train.lrr=1e-3 --out ${CLI_RUN}/never)
mmx_cli_fail(cli_train_resume_other_model "other \\[data\\]/\\[model\\] settings" --
  $<TARGET_FILE:mmx_cli> train ${CLI_DIR}/tiny.toml --set model.d_model=16 --out ${CLI_RUN} --resume)

# Usage errors from the argument parser: the same "mmx: error:" line and exit status 2; info with a
# bad --set fails before it prints the build header.
add_test(NAME cli_usage_error_missing_config COMMAND sh -c
  "out=$($<TARGET_FILE:mmx_cli> info --config ${CLI_RUN}/no_such.toml 2>&1); rc=$?; echo \"$out\"; [ $rc -eq 2 ] && echo \"$out\" | grep -q '^mmx: error: .*no_such.toml'")
add_test(NAME cli_usage_error_unknown_option COMMAND sh -c
  "out=$($<TARGET_FILE:mmx_cli> train ${CLI_DIR}/tiny.toml --bogus 2>&1); rc=$?; echo \"$out\"; [ $rc -eq 2 ] && echo \"$out\" | grep -q '^mmx: error: .*--bogus'")
add_test(NAME cli_info_bad_set_prints_nothing_first COMMAND sh -c
  "out=$($<TARGET_FILE:mmx_cli> info --config ${CLI_DIR}/tiny.toml --set train.lrr=1 2>&1); rc=$?; echo \"$out\"; [ $rc -eq 1 ] && echo \"$out\" | head -n 1 | grep -q '^mmx: error: .*train.lrr'")
add_test(NAME cli_usage_error_unknown_command COMMAND sh -c
  "out=$($<TARGET_FILE:mmx_cli> frobnicate 2>&1); rc=$?; echo \"$out\"; [ $rc -eq 2 ] && echo \"$out\" | grep -q \"^mmx: error: unknown command 'frobnicate' (commands: info, \"")
add_test(NAME cli_unknown_key_far_from_every_key COMMAND sh -c
  "out=$($<TARGET_FILE:mmx_cli> info --config ${CLI_DIR}/tiny.toml --set model.scan_recompute=true 2>&1); rc=$?; echo \"$out\"; [ $rc -eq 1 ] && echo \"$out\" | grep -q 'no similar key; \\[model\\] has: ' && ! echo \"$out\" | grep -q 'did you mean'")
set_tests_properties(cli_usage_error_missing_config cli_usage_error_unknown_option cli_info_bad_set_prints_nothing_first
  cli_usage_error_unknown_command cli_unknown_key_far_from_every_key PROPERTIES LABELS cpu)

# The run folder: --resume of a folder without a run creates nothing; a new run in a folder that
# holds one says so and starts a fresh train.log; a resume that changes [train] settings says which.
mmx_cli_fail(cli_train_resume_missing_run "no such checkpoint to resume" --absent ${CLI_RUN}/never_resumed --
  $<TARGET_FILE:mmx_cli> train ${CLI_DIR}/tiny.toml --out ${CLI_RUN}/never_resumed --resume)
add_test(NAME cli_train_twice_into_one_folder COMMAND sh -c
  "rm -rf ${CLI_RUN}/twice && $<TARGET_FILE:mmx_cli> train ${CLI_DIR}/tiny.toml --out ${CLI_RUN}/twice --no-progress && out=$($<TARGET_FILE:mmx_cli> train ${CLI_DIR}/tiny.toml --out ${CLI_RUN}/twice --no-progress 2>&1) && echo \"$out\" | grep -q 'already holds a run' && [ $(grep -c 'epoch 1:' ${CLI_RUN}/twice/train.log) -eq 1 ] && head -n 1 ${CLI_RUN}/twice/metrics.csv | grep -q '^epoch,train_loss,val_mse,val_mae,lr,seconds,windows_per_second$' && [ $(wc -l < ${CLI_RUN}/twice/metrics.csv) -eq 2 ]")
add_test(NAME cli_train_resume_reports_changed_settings COMMAND sh -c
  "rm -rf ${CLI_RUN}/changed && $<TARGET_FILE:mmx_cli> train ${CLI_DIR}/tiny.toml --out ${CLI_RUN}/changed --no-progress && out=$($<TARGET_FILE:mmx_cli> train ${CLI_DIR}/tiny.toml --set train.epochs=2 --set train.lr=5e-4 --out ${CLI_RUN}/changed --resume --no-progress 2>&1) && echo \"$out\" | grep -q 'changed setting (the new value applies): train.lr: 0.001 -> 0.0005' && echo \"$out\" | grep -q 'train.epochs: 1 -> 2'")
set_tests_properties(cli_train_twice_into_one_folder cli_train_resume_reports_changed_settings PROPERTIES LABELS cpu)
mmx_cli_fail(cli_forecast_unknown_column "--column XYZ: no such column" --absent ${CLI_RUN}/out4.csv --
  $<TARGET_FILE:mmx_cli> forecast --checkpoint ${CLI_RUN}/best.safetensors --input ${CLI_DIR}/synthetic_100_rows.csv --output ${CLI_RUN}/out4.csv --plot ${CLI_RUN}/out4.png --column XYZ)
mmx_cli_fail(cli_forecast_plot_not_png "give a .png file name" --absent ${CLI_RUN}/out6.csv --
  $<TARGET_FILE:mmx_cli> forecast --checkpoint ${CLI_RUN}/best.safetensors --input ${CLI_DIR}/synthetic_100_rows.csv --output ${CLI_RUN}/out6.csv --plot ${CLI_RUN}/p.jpg)
mmx_cli_fail(cli_forecast_column_without_plot "--column OT needs --plot" --absent ${CLI_RUN}/out5.csv --
  $<TARGET_FILE:mmx_cli> forecast --checkpoint ${CLI_RUN}/best.safetensors --input ${CLI_DIR}/synthetic_100_rows.csv --output ${CLI_RUN}/out5.csv --column OT)

# The happy path: a forecast CSV with continued timestamps; the plot (needs gnuplot, else a stated
# skip) in a test of its own so that the CSV is checked on machines without gnuplot.
set(NEEDS_GNUPLOT ${CLI_DIR}/needs_gnuplot.sh)
add_test(NAME cli_forecast_writes_csv COMMAND sh -c
  "rm -f ${CLI_RUN}/f.csv && $<TARGET_FILE:mmx_cli> forecast --checkpoint ${CLI_RUN}/best.safetensors --input ${CLI_DIR}/synthetic_100_rows.csv --holdout --output ${CLI_RUN}/f.csv && test $(wc -l < ${CLI_RUN}/f.csv) -eq 17 && grep -q '^2020-01-04 12:00:00,' ${CLI_RUN}/f.csv && tail -n 1 ${CLI_RUN}/f.csv | grep -q '^2020-01-05 03:00:00,'")
set_tests_properties(cli_forecast_writes_csv PROPERTIES FIXTURES_REQUIRED cli_ckpt LABELS cpu)
add_test(NAME cli_forecast_writes_plot COMMAND ${NEEDS_GNUPLOT} sh -c
  "rm -f ${CLI_RUN}/fp.csv ${CLI_RUN}/fp.png && $<TARGET_FILE:mmx_cli> forecast --checkpoint ${CLI_RUN}/best.safetensors --input ${CLI_DIR}/synthetic_100_rows.csv --holdout --output ${CLI_RUN}/fp.csv --plot ${CLI_RUN}/fp.png && test -s ${CLI_RUN}/fp.png && head -c 8 ${CLI_RUN}/fp.png | od -An -tx1 | grep -q '89 50 4e 47 0d 0a 1a 0a' && test $(wc -l < ${CLI_RUN}/fp.csv) -eq 17")
set_tests_properties(cli_forecast_writes_plot PROPERTIES FIXTURES_REQUIRED cli_ckpt LABELS cpu SKIP_RETURN_CODE 77)

# ViM2 image classification. A seconds-long CIFAR-10 run (configs/vim2/cifar10_quick.toml,
# shortened further) provides the checkpoint; needs <data root>/cifar10.
# Every test of the CIFAR fixture runs through needs_cifar.sh: without the data it is skipped
# with the reason (exit 77), not failed.
set(VIM2_RUN ${CMAKE_BINARY_DIR}/tests/cli_vim2_run)
set(NEEDS_CIFAR ${CMAKE_CURRENT_LIST_DIR}/needs_cifar.sh ${MMX_DATA_ROOT})
set(VIM2_QUICK ${CMAKE_SOURCE_DIR}/configs/vim2/cifar10_quick.toml)
add_test(NAME cli_vim2_train_quick COMMAND ${NEEDS_CIFAR} $<TARGET_FILE:mmx_cli> train ${VIM2_QUICK}
  --set train.epochs=1 --set train.max_batches_per_epoch=3 --out ${VIM2_RUN} --no-progress)
set_tests_properties(cli_vim2_train_quick PROPERTIES FIXTURES_SETUP cli_vim2_ckpt LABELS cpu SKIP_RETURN_CODE 77)

function(mmx_vim2_fail name pattern)
  add_test(NAME ${name} COMMAND ${NEEDS_CIFAR} ${FAIL} ${pattern} ${ARGN})
  set_tests_properties(${name} PROPERTIES FIXTURES_REQUIRED cli_vim2_ckpt LABELS cpu SKIP_RETURN_CODE 77)
endfunction()

mmx_vim2_fail(cli_vim2_train_unknown_key "did you mean 'train.lr'" --
  $<TARGET_FILE:mmx_cli> train ${VIM2_QUICK} --set train.lrr=1e-3 --out ${VIM2_RUN}/never)
mmx_vim2_fail(cli_vim2_train_bad_dims "\\[model\\]" --
  $<TARGET_FILE:mmx_cli> train ${VIM2_QUICK} --set model.dims=[16,32] --out ${VIM2_RUN}/never)
mmx_vim2_fail(cli_vim2_train_resume_other_model "other \\[model\\]/\\[augment\\] settings" --
  $<TARGET_FILE:mmx_cli> train ${VIM2_QUICK} --set model.d_state=4 --out ${VIM2_RUN} --resume)
mmx_vim2_fail(cli_vim2_resume_finished_run "already finished its 1 epochs" --
  $<TARGET_FILE:mmx_cli> train ${VIM2_QUICK} --set train.epochs=1 --set train.max_batches_per_epoch=3 --out ${VIM2_RUN} --resume)
mmx_vim2_fail(cli_tsm2_resume_of_a_vim2_run "not a TSM2 run" --
  $<TARGET_FILE:mmx_cli> train ${CLI_DIR}/tiny.toml --out ${VIM2_RUN} --resume)
mmx_vim2_fail(cli_vim2_classify_not_an_image "notimage.txt" --
  sh -c "echo 'not an image' > ${VIM2_RUN}/notimage.txt && $<TARGET_FILE:mmx_cli> classify --checkpoint ${VIM2_RUN}/best.safetensors ${VIM2_RUN}/notimage.txt")
mmx_vim2_fail(cli_vim2_classify_missing_image "missing.png" --
  $<TARGET_FILE:mmx_cli> classify --checkpoint ${VIM2_RUN}/best.safetensors ${VIM2_RUN}/missing.png)
mmx_vim2_fail(cli_vim2_classify_tsm2_checkpoint "not a ViM2 checkpoint" --
  $<TARGET_FILE:mmx_cli> classify --checkpoint ${CLI_RUN}/best.safetensors ${VIM2_RUN}/missing.png)
set_tests_properties(cli_vim2_classify_tsm2_checkpoint PROPERTIES FIXTURES_REQUIRED "cli_vim2_ckpt;cli_ckpt")
mmx_vim2_fail(cli_vim2_eval_ema_on_tsm2 "ViM2 checkpoints only" --
  $<TARGET_FILE:mmx_cli> eval --checkpoint ${CLI_RUN}/best.safetensors --ema)
set_tests_properties(cli_vim2_eval_ema_on_tsm2 PROPERTIES FIXTURES_REQUIRED "cli_vim2_ckpt;cli_ckpt")

# Happy paths: eval of the EMA weights on the CIFAR-10 test set (JSON), and the model summary.
add_test(NAME cli_vim2_eval_ema COMMAND ${NEEDS_CIFAR} sh -c
  "$<TARGET_FILE:mmx_cli> eval --checkpoint ${VIM2_RUN}/best.safetensors --ema > ${VIM2_RUN}/eval.json && grep -q '\"weights\": \"ema\"' ${VIM2_RUN}/eval.json && grep -q '\"images\": 10000' ${VIM2_RUN}/eval.json && grep -q '\"top5\"' ${VIM2_RUN}/eval.json")
set_tests_properties(cli_vim2_eval_ema PROPERTIES FIXTURES_REQUIRED cli_vim2_ckpt LABELS cpu SKIP_RETURN_CODE 77)
add_test(NAME cli_vim2_info COMMAND sh -c
  "$<TARGET_FILE:mmx_cli> info --config ${CMAKE_SOURCE_DIR}/configs/vim2/vim2_tiny.toml | grep -q 'ViM2 preset vim2_tiny'")
set_tests_properties(cli_vim2_info PROPERTIES LABELS cpu)

# One's own CSV (the README's first example, shortened): `mmx train --data` with a text column
# left out, the date column found by name, MS features; `mmx forecast` continues the file's dates
# and writes the target alone.
set(OWN_CSV ${CMAKE_SOURCE_DIR}/data/examples/shop_sales.csv)
set(OWN_RUN ${CMAKE_BINARY_DIR}/tests/cli_own_run)
add_test(NAME cli_train_own_csv COMMAND sh -c
  "rm -rf ${OWN_RUN} && $<TARGET_FILE:mmx_cli> train --data ${OWN_CSV} --seq-len 32 --pred-len 8 --target sales --set model.d_model=8 --set model.n_layers=1 --set train.epochs=1 --set train.max_batches_per_epoch=2 --out ${OWN_RUN} --no-progress 2>&1 | tee ${OWN_RUN}.log && grep -q \"date column 'day'; 4 variate(s), features MS with target 'sales'; text columns left out: 'store'\" ${OWN_RUN}.log && grep -q 'step 1d (inferred)' ${OWN_RUN}.log && grep -q \"^features = 'MS'\" ${OWN_RUN}/config.toml")
set_tests_properties(cli_train_own_csv PROPERTIES FIXTURES_SETUP cli_own LABELS cpu)
add_test(NAME cli_forecast_own_csv COMMAND sh -c
  "rm -f ${OWN_RUN}/next.csv && $<TARGET_FILE:mmx_cli> forecast --checkpoint ${OWN_RUN}/best.safetensors --input ${OWN_CSV} --output ${OWN_RUN}/next.csv && head -n 1 ${OWN_RUN}/next.csv | grep -q '^day,sales$' && sed -n 2p ${OWN_RUN}/next.csv | grep -q '^2025-01-01,' && tail -n 1 ${OWN_RUN}/next.csv | grep -q '^2025-01-08,'")
set_tests_properties(cli_forecast_own_csv PROPERTIES FIXTURES_REQUIRED cli_own LABELS cpu)
add_test(NAME cli_forecast_own_csv_plot COMMAND ${NEEDS_GNUPLOT} sh -c
  "rm -f ${OWN_RUN}/nextp.csv ${OWN_RUN}/next.png && $<TARGET_FILE:mmx_cli> forecast --checkpoint ${OWN_RUN}/best.safetensors --input ${OWN_CSV} --output ${OWN_RUN}/nextp.csv --plot ${OWN_RUN}/next.png && test -s ${OWN_RUN}/next.png && head -c 8 ${OWN_RUN}/next.png | od -An -tx1 | grep -q '89 50 4e 47 0d 0a 1a 0a'")
set_tests_properties(cli_forecast_own_csv_plot PROPERTIES FIXTURES_REQUIRED cli_own LABELS cpu SKIP_RETURN_CODE 77)
function(mmx_own_fail name pattern)
  add_test(NAME ${name} COMMAND ${FAIL} ${pattern} ${ARGN})
  set_tests_properties(${name} PROPERTIES FIXTURES_REQUIRED cli_own LABELS cpu)
endfunction()
mmx_own_fail(cli_forecast_output_is_the_input "is the same file as --input" --
  $<TARGET_FILE:mmx_cli> forecast --checkpoint ${OWN_RUN}/best.safetensors --input ${OWN_CSV} --output ${OWN_CSV})
mmx_own_fail(cli_forecast_output_is_the_checkpoint "is the same file as --checkpoint" --
  $<TARGET_FILE:mmx_cli> forecast --checkpoint ${OWN_RUN}/best.safetensors --input ${OWN_CSV} --output ${OWN_RUN}/../cli_own_run/best.safetensors)
mmx_own_fail(cli_forecast_extreme_input "huge.csv:1462: column .sales.: value 1e\\+300 is too far from the training data.s range" --absent ${OWN_RUN}/huge_out.csv --
  sh -c "${CLI_DIR}/huge_value_sales.sh ${OWN_CSV} ${OWN_RUN}/huge.csv && $<TARGET_FILE:mmx_cli> forecast --checkpoint ${OWN_RUN}/best.safetensors --input ${OWN_RUN}/huge.csv --output ${OWN_RUN}/huge_out.csv")
mmx_own_fail(cli_forecast_lacks_a_training_column "no such (date )?column .*the training columns" --absent ${OWN_RUN}/lacks.csv --
  $<TARGET_FILE:mmx_cli> forecast --checkpoint ${OWN_RUN}/best.safetensors --input ${CLI_DIR}/three_columns.csv --output ${OWN_RUN}/lacks.csv)

# Inputs that cannot break the tool: an empty config, non-finite or absurd values, a FIFO as data.
mmx_cli_fail(cli_train_empty_config "no data: set data.path" --
  $<TARGET_FILE:mmx_cli> train ${CLI_DIR}/empty.toml --out ${CLI_RUN}/never)
mmx_cli_fail(cli_train_nan_clip_grad "train.clip_grad must be a finite number" --
  $<TARGET_FILE:mmx_cli> train ${CLI_DIR}/tiny.toml --set train.clip_grad=nan --out ${CLI_RUN}/never)
mmx_cli_fail(cli_train_too_many_threads "train.threads = 4096 is out of range.*hardware threads" --
  $<TARGET_FILE:mmx_cli> train ${CLI_DIR}/tiny.toml --set train.threads=4096 --out ${CLI_RUN}/never)
mmx_cli_fail(cli_train_huge_model "MMX_ALLOW_LARGE_MODELS=1" --
  $<TARGET_FILE:mmx_cli> train ${CLI_DIR}/tiny.toml --set model.d_model=60000 --set model.expand=64 --out ${CLI_RUN}/never)
mmx_cli_fail(cli_train_data_is_a_fifo "is a FIFO" --
  sh -c "rm -f ${CLI_RUN}/fifo.csv && mkfifo ${CLI_RUN}/fifo.csv && $<TARGET_FILE:mmx_cli> train --data ${CLI_RUN}/fifo.csv --out ${CLI_RUN}/never")

# ViM2 inputs that cannot break the tool: images that are not regular files or whose few-byte
# header claims a huge or extremely thin size (refused before decoding), configs asking for a huge
# model or more threads than the machine has (refused before anything is written).
mmx_vim2_fail(cli_vim2_classify_dev_zero "/dev/zero: is a character device. expected an image file" --
  $<TARGET_FILE:mmx_cli> classify --checkpoint ${VIM2_RUN}/best.safetensors /dev/zero)
mmx_vim2_fail(cli_vim2_classify_huge_header "huge_100000x100000.png: image is 100000x100000 = 10000000000 pixels, more than the limit of 67108864 pixels. set MMX_MAX_IMAGE_PIXELS" --
  $<TARGET_FILE:mmx_cli> classify --checkpoint ${VIM2_RUN}/best.safetensors ${CLI_DIR}/huge_100000x100000.png)
mmx_vim2_fail(cli_vim2_classify_thin_header "thin_1x100000.png: image is 1x100000, an aspect ratio of 1:100000 beyond the limit of 1:64" --
  $<TARGET_FILE:mmx_cli> classify --checkpoint ${VIM2_RUN}/best.safetensors ${CLI_DIR}/thin_1x100000.png)
set(VIM2_NEVER ${CMAKE_BINARY_DIR}/tests/cli_vim2_never)
add_test(NAME cli_vim2_train_huge_model COMMAND ${FAIL} "more than the limit of 2000000000 \\(set MMX_ALLOW_LARGE_MODELS=1" --absent ${VIM2_NEVER}/config.toml --
  $<TARGET_FILE:mmx_cli> train ${VIM2_QUICK} --set "model.dims=[8192, 16384, 32768, 65536]" --out ${VIM2_NEVER} --no-progress)
add_test(NAME cli_vim2_train_more_threads_than_cores COMMAND sh -c
  "${FAIL} 'hardware threads of this machine' --absent ${VIM2_NEVER}/config.toml -- $<TARGET_FILE:mmx_cli> train ${VIM2_QUICK} --set train.threads=$(( $(getconf _NPROCESSORS_ONLN) + 1 )) --out ${VIM2_NEVER} --no-progress")
set_tests_properties(cli_vim2_train_huge_model cli_vim2_train_more_threads_than_cores PROPERTIES LABELS cpu)

# The tests that may take a run folder's lock (mmx train into ${CLI_RUN}, ${VIM2_RUN} or their
# shared never/ folder) run one at a time: a second run into a locked folder is refused by design.
set_tests_properties(cli_train_resume_other_model cli_train_data_is_a_fifo cli_train_too_many_threads
  cli_vim2_train_resume_other_model cli_vim2_resume_finished_run cli_tsm2_resume_of_a_vim2_run
  cli_vim2_train_huge_model cli_vim2_train_more_threads_than_cores cli_vim2_train_bad_dims
  PROPERTIES RESOURCE_LOCK mmx_run_folders)

# mmx sweep: four runs two at a time, two of which fail (lookback longer than ETTh1): exit 1 with
# the count, both kinds of row in sweep.csv, the working configuration selected; a second call
# reruns only the failed runs and leaves the finished ones untouched.
set(SWEEP_RUN ${CMAKE_BINARY_DIR}/tests/cli_sweep_run)
add_test(NAME cli_sweep_reports_failures_and_selects COMMAND sh -c
  "rm -rf ${SWEEP_RUN} && out=$($<TARGET_FILE:mmx_cli> sweep ${CLI_DIR}/sweep.toml --out ${SWEEP_RUN} 2>&1); rc=$?; echo \"$out\"; [ $rc -eq 1 ] && echo \"$out\" | grep -q 'mmx: error: 2 of 4 run(s) failed' && [ $(grep -c ',finished,' ${SWEEP_RUN}/sweep.csv) -eq 2 ] && [ $(grep -c ',failed,' ${SWEEP_RUN}/sweep.csv) -eq 2 ] && grep -q 'seq_len-20000_seed-1,20000,1,failed,.*,exit 1: mmx: error: ' ${SWEEP_RUN}/sweep.csv && grep -A2 '^## Selected' ${SWEEP_RUN}/summary.md | grep -q '^data.seq_len = 64$' && test -s ${SWEEP_RUN}/seq_len-64_seed-2/best.safetensors")
set_tests_properties(cli_sweep_reports_failures_and_selects PROPERTIES FIXTURES_SETUP cli_sweep LABELS cpu)
add_test(NAME cli_sweep_resume_skips_finished_runs COMMAND sh -c
  "before=$(md5sum ${SWEEP_RUN}/seq_len-64_seed-1/metrics.json) && out=$($<TARGET_FILE:mmx_cli> sweep ${CLI_DIR}/sweep.toml --out ${SWEEP_RUN} --jobs 1 2>&1); echo \"$out\"; echo \"$out\" | grep -q '2 already finished, 2 to run, 1 at once' && [ \"$(md5sum ${SWEEP_RUN}/seq_len-64_seed-1/metrics.json)\" = \"$before\" ] && [ $(grep -c ',finished,' ${SWEEP_RUN}/sweep.csv) -eq 2 ]")
set_tests_properties(cli_sweep_resume_skips_finished_runs PROPERTIES FIXTURES_REQUIRED cli_sweep LABELS cpu)
file(WRITE ${CMAKE_BINARY_DIR}/tests/sweep_bad.toml "base = \"${CLI_DIR}/tiny.toml\"\n[grid]\ntrain.lrr = [1]\n")
add_test(NAME cli_sweep_unknown_key COMMAND ${FAIL} "sweep_bad.toml: \\[grid\\]: unknown config key 'train.lrr'; did you mean 'train.lr'"
  --absent ${CMAKE_BINARY_DIR}/tests/sweep_bad_out -- $<TARGET_FILE:mmx_cli> sweep ${CMAKE_BINARY_DIR}/tests/sweep_bad.toml
  --out ${CMAKE_BINARY_DIR}/tests/sweep_bad_out)
set_tests_properties(cli_sweep_unknown_key PROPERTIES LABELS cpu)
# Future covariates (MambaMixer §5.5): the shop's promotions are planned ahead, the calendar is
# known; the forecast reads the promotions of the horizon from a file and refuses to guess them.
set(COV_RUN ${CMAKE_BINARY_DIR}/tests/cli_cov_run)
add_test(NAME cli_train_future_covariates COMMAND sh -c
  "rm -rf ${COV_RUN} && $<TARGET_FILE:mmx_cli> train --data ${OWN_CSV} --seq-len 32 --pred-len 8 --target sales --set data.future_covariates=promo --set 'data.calendar=day_of_week, month' --set model.d_model=8 --set model.n_layers=1 --set train.epochs=1 --set train.max_batches_per_epoch=2 --out ${COV_RUN} --no-progress 2>&1 | tee ${COV_RUN}.log && grep -q \"3 variate(s), 3 future covariate(s): 'promo' 'calendar:day_of_week' 'calendar:month'\" ${COV_RUN}.log && grep -q '^future_covariates = .*promo' ${COV_RUN}/config.toml && grep -q '^calendar = .*day_of_week.*month' ${COV_RUN}/config.toml")
set_tests_properties(cli_train_future_covariates PROPERTIES FIXTURES_SETUP cli_cov LABELS cpu)
add_test(NAME cli_forecast_future_covariates COMMAND sh -c
  "rm -f ${COV_RUN}/next.csv && $<TARGET_FILE:mmx_cli> forecast --checkpoint ${COV_RUN}/best.safetensors --input ${OWN_CSV} --future-covariates ${CMAKE_CURRENT_LIST_DIR}/shop_promo_next.csv --output ${COV_RUN}/next.csv && head -n 1 ${COV_RUN}/next.csv | grep -q '^day,sales$' && tail -n 1 ${COV_RUN}/next.csv | grep -q '^2025-01-08,' && $<TARGET_FILE:mmx_cli> forecast --checkpoint ${COV_RUN}/best.safetensors --input ${OWN_CSV} --holdout 2>&1 | grep -q 'holdout: mse'")
set_tests_properties(cli_forecast_future_covariates PROPERTIES FIXTURES_REQUIRED cli_cov LABELS cpu)
function(mmx_cov_fail name pattern)
  add_test(NAME ${name} COMMAND ${FAIL} ${pattern} ${ARGN})
  set_tests_properties(${name} PROPERTIES FIXTURES_REQUIRED cli_cov LABELS cpu)
endfunction()
mmx_cov_fail(cli_forecast_needs_future_covariates "reads the future values of 'promo' over the 8 forecast steps" --
  $<TARGET_FILE:mmx_cli> forecast --checkpoint ${COV_RUN}/best.safetensors --input ${OWN_CSV})
mmx_cov_fail(cli_forecast_future_covariates_wrong_date "shop_promo_wrong_date.csv:4: timestamp 2025-01-04. expected 2025-01-03 .forecast step 3" --
  $<TARGET_FILE:mmx_cli> forecast --checkpoint ${COV_RUN}/best.safetensors --input ${OWN_CSV} --future-covariates ${CMAKE_CURRENT_LIST_DIR}/shop_promo_wrong_date.csv)
mmx_cov_fail(cli_forecast_holdout_with_future_covariates "with --holdout: the held-out rows of --input already carry the future covariates" --
  $<TARGET_FILE:mmx_cli> forecast --checkpoint ${COV_RUN}/best.safetensors --input ${OWN_CSV} --holdout --future-covariates ${CMAKE_CURRENT_LIST_DIR}/shop_promo_next.csv)

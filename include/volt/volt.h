/* volt/volt.h — all of Volt's public headers in one: a program built around your own
 * module needs only this include (and links Volt::volt, or `pkg-config --libs volt`).
 * Each header below states its own contract. The include folders are <prefix>/include
 * (for <volt/volt.h>) and <prefix>/include/volt (for the headers' own includes, such as
 * "core/error.h"); find_package(Volt) and volt.pc give both. */
#ifndef VOLT_VOLT_H
#define VOLT_VOLT_H

#include "volt/version.h"

#include "core/arena.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/rng.h"
#include "tensor/tensor.h"
#include "autograd/graph.h"
#include "autograd/params.h"
#include "ops/blas_info.h"
#include "ops/ops.h"
#include "nn/nn.h"
#include "optim/optim.h"
#include "comm/comm.h"
#include "dist/ddp.h"
#include "dist/layout.h"
#include "dist/zero.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "data/datamodule.h"
#include "ckpt/checkpoint.h"
#include "log/metrics.h"
#include "log/csv_logger.h"
#include "log/progress.h"
#include "log/tensorboard.h"
#include "prof/prof.h"
#include "runtime/runtime.h"
#include "trainer/module.h"
#include "trainer/callback.h"
#include "trainer/trainer.h"

#endif

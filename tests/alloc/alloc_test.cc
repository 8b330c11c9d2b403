// Counts heap allocations made while an execution context runs. malloc and friends are
// interposed for this test binary only; counting is on only inside the measured region.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <random>

#include <cstring>
#include <dlfcn.h>
#include <execinfo.h>
#include <unistd.h>
#include <malloc.h>

#include "kiln/builder.h"
#include "kiln/engine.h"
#include "model_builder.h"
#include "op_test_util.h"

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
}

namespace {
std::atomic<bool> gCounting{false};
std::atomic<int64_t> gAllocs{0};
std::atomic<int64_t> gBytes{0};
std::atomic<int64_t> gLargest{0};
std::atomic<int64_t> gLibAllocs{0};
std::atomic<int64_t> gLibLargest{0};

// True if a frame of the current stack is in oneDNN or its OpenMP runtime. oneDNN 2.6 allocates
// small bookkeeping objects inside every execute (no API avoids them); those are counted apart.
bool inLibrary() {
  void* frames[24];
  int k = backtrace(frames, 24);
  for (int i = 2; i < k; ++i) {
    Dl_info info;
    if (dladdr(frames[i], &info) && info.dli_fname &&
        (std::strstr(info.dli_fname, "libdnnl") || std::strstr(info.dli_fname, "libgomp")))
      return true;
  }
  return false;
}
thread_local bool tInNote = false;
void note(size_t n) {
  if (!gCounting.load(std::memory_order_relaxed) || tInNote) return;
  tInNote = true;
  bool lib = inLibrary();
  tInNote = false;
  if (lib) {
    gLibAllocs++;
    int64_t cur = gLibLargest.load();
    while (static_cast<int64_t>(n) > cur && !gLibLargest.compare_exchange_weak(cur, static_cast<int64_t>(n))) {
    }
    return;
  }
  if (std::getenv("KILN_ALLOC_TRACE")) {  // debugging aid: where do allocations come from?
    tInNote = true;
    void* frames[12];
    int k = backtrace(frames, 12);
    backtrace_symbols_fd(frames, k, 2);
    write(2, "----\n", 5);
    tInNote = false;
  }
  gAllocs++;
  gBytes += static_cast<int64_t>(n);
  int64_t cur = gLargest.load();
  while (static_cast<int64_t>(n) > cur && !gLargest.compare_exchange_weak(cur, static_cast<int64_t>(n))) {
  }
}
}  // namespace

extern "C" {
void* malloc(size_t n) {
  note(n);
  return __libc_malloc(n);
}
void* calloc(size_t a, size_t b) {
  note(a * b);
  return __libc_calloc(a, b);
}
void* realloc(void* p, size_t n) {
  note(n);
  return __libc_realloc(p, n);
}
void* aligned_alloc(size_t a, size_t n) {
  note(n);
  return __libc_memalign(a, n);
}
int posix_memalign(void** out, size_t a, size_t n) {
  note(n);
  *out = __libc_memalign(a, n);
  return *out ? 0 : 12;
}
}

namespace kiln {
namespace {

// A small CNN + MLP head covering the layer kinds of real models.
std::string cnnModel() {
  testing::ModelBuilder mb(17);
  std::mt19937 rng(1);
  mb.input("x", {"batch", "3", "16", "16"});
  mb.initializer("w1", testing::randomTensor(DType::kFloat32, {8, 3, 3, 3}, rng));
  mb.initializer("b1", testing::randomTensor(DType::kFloat32, {8}, rng));
  mb.initializer("w2", testing::randomTensor(DType::kFloat32, {8 * 8 * 8, 10}, rng));
  mb.initializer("b2", testing::randomTensor(DType::kFloat32, {10}, rng));
  mb.initializer("flat", Tensor::fromVector<int64_t>({0, -1}, {2}));
  auto& c = mb.node("Conv", {"x", "w1", "b1"}, {"c"});
  testing::ModelBuilder::attr(c, "pads", std::vector<int64_t>{1, 1, 1, 1});
  mb.node("Relu", {"c"}, {"r"});
  auto& p = mb.node("MaxPool", {"r"}, {"p"});
  testing::ModelBuilder::attr(p, "kernel_shape", std::vector<int64_t>{2, 2});
  testing::ModelBuilder::attr(p, "strides", std::vector<int64_t>{2, 2});
  mb.node("Reshape", {"p", "flat"}, {"f"});
  mb.node("MatMul", {"f", "w2"}, {"m"});
  mb.node("Add", {"m", "b2"}, {"a"});
  mb.node("Softmax", {"a"}, {"y"});
  mb.output("y");
  return mb.bytes();
}

class Allocations : public ::testing::TestWithParam<int> {};

// 0: oneDNN kernels by priority; 3: timed against the reference kernels; -1: reference kernels only.
TEST_P(Allocations, ExecuteAllocatesNothingInKiln) {
  BuildConfig cfg;
  cfg.optimizationLevel = std::max(0, GetParam());
  if (GetParam() < 0) cfg.disabledTactics = {"cpu_dnnl_"};
  OptimizationProfile prof;
  ASSERT_TRUE(prof.set("x", {1, 3, 16, 16}, {2, 3, 16, 16}, {4, 3, 16, 16}).ok());
  cfg.profiles = {prof};
  auto bytes = buildEngineFromBytes(cnnModel(), "", "cnn", cfg);
  ASSERT_TRUE(bytes.ok()) << bytes.status().toString();
  auto engine = Engine::loadBytes(*bytes);
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  auto ctx = (*engine)->createExecutionContext();
  ASSERT_TRUE(ctx.ok());
  std::mt19937 rng(2);
  Tensor x = testing::randomTensor(DType::kFloat32, {3, 3, 16, 16}, rng);
  std::vector<ExecutionContext::Named> outs;
  ASSERT_TRUE((*ctx)->run({{"x", x}}, &outs).ok());  // binds buffers, warms caches
  ASSERT_TRUE((*ctx)->execute().ok());
  {  // warm up backtrace() (its first call loads libgcc_s and allocates)
    void* f[4];
    backtrace(f, 4);
  }
  gAllocs = 0;
  gBytes = 0;
  gLargest = 0;
  gLibAllocs = 0;
  gLibLargest = 0;
  gCounting = true;
  Status st;
  for (int i = 0; i < 10 && st.ok(); ++i) st = (*ctx)->execute();
  gCounting = false;
  ASSERT_TRUE(st.ok()) << st.toString();
  RecordProperty("allocations", static_cast<int>(gAllocs.load()));
  std::printf("allocations during 10 runs: %lld (%lld bytes, largest %lld)\n",
              static_cast<long long>(gAllocs.load()), static_cast<long long>(gBytes.load()),
              static_cast<long long>(gLargest.load()));
  EXPECT_EQ(gAllocs.load(), 0) << "execute() allocated " << gBytes.load() << " bytes in " << gAllocs.load()
                               << " allocations (largest " << gLargest.load() << ")";
  // oneDNN's own per-call bookkeeping is small: no tensor-sized buffer is allocated per run.
  std::printf("inside oneDNN/OpenMP: %lld allocations, largest %lld bytes\n",
              static_cast<long long>(gLibAllocs.load()), static_cast<long long>(gLibLargest.load()));
  EXPECT_LT(gLibLargest.load(), 4096);
}

INSTANTIATE_TEST_SUITE_P(Levels, Allocations, ::testing::Values(0, 3, -1));

}  // namespace
}  // namespace kiln

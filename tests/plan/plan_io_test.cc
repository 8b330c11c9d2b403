// Engine files: round trip, and every refusal case of the loader with its one-line reason.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "kiln/builder.h"
#include "kiln/engine.h"
#include "model_builder.h"
#include "plan/checksum.h"
#include "plan/plan.h"

namespace kiln {
namespace {

std::string smallEngine() {
  testing::ModelBuilder mb;
  mb.input("x", {"batch", "4"});
  Tensor w = Tensor::fromVector<float>({1, 2, 3, 4}, {4});
  mb.initializer("w", w);
  mb.node("Mul", {"x", "w"}, {"m"});
  mb.node("Relu", {"m"}, {"y"});
  mb.output("y");
  BuildConfig cfg;
  cfg.passes = {"none"};  // two layers, as written
  OptimizationProfile prof;
  EXPECT_TRUE(prof.set("x", {1, 4}, {2, 4}, {8, 4}).ok());
  cfg.profiles.push_back(prof);
  auto e = buildEngineFromBytes(mb.bytes(), "", "small", cfg);
  EXPECT_TRUE(e.ok()) << e.status().toString();
  return e.ok() ? *e : std::string();
}

TEST(Checksum, MatchesPublishedXXH64Vectors) {
  using namespace std::string_view_literals;
  EXPECT_EQ(plan::xxhash64(""sv), 0xEF46DB3751D8E999ULL);
  EXPECT_EQ(plan::xxhash64("a"sv), 0xD24EC4F1A98C6E5BULL);
  EXPECT_EQ(plan::xxhash64("abc"sv), 0x44BC2CF5AD770999ULL);
  // Long enough for the 32-byte stripe loop (values from the reference implementation).
  auto fox = "The quick brown fox jumps over the lazy dog, again and again and again."sv;
  EXPECT_EQ(plan::xxhash64(fox), 0x4cf8a242630ac3eeULL);
  EXPECT_EQ(plan::xxhash64(fox, 7), 0x75ba606d52efb3a3ULL);
  std::string longer(100, 'x');
  EXPECT_NE(plan::xxhash64(longer), plan::xxhash64(longer.substr(1)));
}

TEST(EngineFile, RoundTripsThroughBytes) {
  std::string bytes = smallEngine();
  auto e = Engine::loadBytes(bytes, "small.engine");
  ASSERT_TRUE(e.ok()) << e.status().toString();
  EXPECT_EQ((*e)->ioTensors().size(), 2u);
  EXPECT_EQ((*e)->plan().layers.size(), 2u);
  // Serializing the loaded plan again gives the same bytes.
  EXPECT_EQ(plan::serializePlan((*e)->plan()), bytes);
}

TEST(EngineFile, RefusesTruncation) {
  std::string bytes = smallEngine();
  for (size_t cut : {size_t{10}, size_t{63}, bytes.size() / 2, bytes.size() - 1}) {
    auto e = Engine::loadBytes(bytes.substr(0, cut), "t.engine");
    ASSERT_FALSE(e.ok()) << cut;
    EXPECT_EQ(e.status().code(), StatusCode::kDataLoss) << e.status().toString();
    EXPECT_NE(e.status().message().find("t.engine"), std::string::npos);
  }
}

TEST(EngineFile, RefusesDamage) {
  std::string bytes = smallEngine();
  for (size_t pos : {size_t{70}, bytes.size() / 2, bytes.size() - 3}) {
    std::string bad = bytes;
    bad[pos] ^= 0x5A;
    auto e = Engine::loadBytes(bad, "d.engine");
    ASSERT_FALSE(e.ok());
    EXPECT_NE(e.status().message().find("checksum"), std::string::npos) << e.status().toString();
  }
}

TEST(EngineFile, RefusesWrongMagicAndNewerFormat) {
  std::string bytes = smallEngine();
  std::string bad = bytes;
  bad[0] = 'X';
  auto e = Engine::loadBytes(bad, "m.engine");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("not a Kiln engine file"), std::string::npos) << e.status().toString();
  std::string newer = bytes;
  uint32_t v = plan::kFormatVersion + 1;
  std::memcpy(newer.data() + 8, &v, 4);
  auto n = Engine::loadBytes(newer, "n.engine");
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(n.status().message().find("format version"), std::string::npos) << n.status().toString();
}

TEST(EngineFile, RefusesOtherTargets) {
  std::string bytes = smallEngine();
  auto e = Engine::loadBytes(bytes, "x");
  ASSERT_TRUE(e.ok());
  auto p = std::make_unique<plan::Plan>();
  // Re-serialize a copy of the plan with another architecture.
  auto reread = plan::deserializePlan(bytes.data(), bytes.size(), nullptr, "x");
  ASSERT_TRUE(reread.ok());
  (*reread)->target.arch = "riscv64";
  auto other = Engine::loadBytes(plan::serializePlan(**reread), "other.engine");
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.status().message().find("built for riscv64 CPUs"), std::string::npos) << other.status().toString();
  (*reread)->target.kind = "cuda";
  (*reread)->target.arch = "sm_90";
  auto gpu = Engine::loadBytes(plan::serializePlan(**reread), "gpu.engine");
  ASSERT_FALSE(gpu.ok());
  EXPECT_NE(gpu.status().message().find("CUDA"), std::string::npos) << gpu.status().toString();
}

// Format 3 added the data-dependent dims table at the end of the meta section; a format 2 file
// (the same bytes without it) still loads and runs.
TEST(EngineFile, ReadsFormatVersion2) {
  std::string bytes = smallEngine();
  uint64_t metaOffset = 0, metaSize = 0;
  std::memcpy(&metaOffset, bytes.data() + 16, 8);
  std::memcpy(&metaSize, bytes.data() + 24, 8);
  uint64_t runtimeDims = 1;
  std::memcpy(&runtimeDims, bytes.data() + metaOffset + metaSize - 8, 8);
  ASSERT_EQ(runtimeDims, 0u);  // the table's count, last in the meta section
  std::string v2 = bytes;
  const uint32_t version = 2;
  std::memcpy(v2.data() + 8, &version, 4);
  metaSize -= 8;
  std::memcpy(v2.data() + 24, &metaSize, 8);
  std::memset(v2.data() + metaOffset + metaSize, 0, 8);  // now padding before the weights
  const uint64_t sum = plan::xxhash64(std::string_view(v2).substr(metaOffset));
  std::memcpy(v2.data() + 48, &sum, 8);
  auto e = Engine::loadBytes(v2, "v2.engine");
  ASSERT_TRUE(e.ok()) << e.status().toString();
  auto ctx = (*e)->createExecutionContext();
  ASSERT_TRUE(ctx.ok());
  std::vector<ExecutionContext::Named> out;
  ASSERT_TRUE((*ctx)->run({{"x", Tensor::fromVector<float>({-1, 1, -1, 1}, {1, 4})}}, &out).ok());
  EXPECT_EQ(out[0].tensor.data<float>()[1], 2.0f);
}

// The data-dependent dims table is checked like every other: a dim naming a missing layer, or a
// kRuntime register without its entry, is refused as damage.
TEST(EngineFile, RefusesDamagedDataDependentDims) {
  testing::ModelBuilder mb;
  mb.input("x", {"6"});
  mb.node("NonZero", {"x"}, {"y"});
  mb.output("y");
  auto bytes = buildEngineFromBytes(mb.bytes(), "", "nz", BuildConfig{});
  ASSERT_TRUE(bytes.ok()) << bytes.status().toString();
  auto good = plan::deserializePlan(bytes->data(), bytes->size(), nullptr, "nz");
  ASSERT_TRUE(good.ok()) << good.status().toString();
  ASSERT_EQ((*good)->runtimeDims.size(), 1u);
  {
    auto p = plan::deserializePlan(bytes->data(), bytes->size(), nullptr, "nz");
    (*p)->runtimeDims[0].layer = 99;
    auto e = Engine::loadBytes(plan::serializePlan(**p), "bad.engine");
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.status().code(), StatusCode::kDataLoss);
    EXPECT_NE(e.status().message().find("data-dependent dim"), std::string::npos) << e.status().toString();
  }
  {
    auto p = plan::deserializePlan(bytes->data(), bytes->size(), nullptr, "nz");
    (*p)->runtimeDims.clear();
    auto e = Engine::loadBytes(plan::serializePlan(**p), "bad.engine");
    ASSERT_FALSE(e.ok());
    EXPECT_NE(e.status().message().find("no producing layer"), std::string::npos) << e.status().toString();
  }
}

// Tables that would place a tensor outside the memory a context allocates are refused, even with
// a valid checksum (serializePlan writes one for whatever it is given).
TEST(EngineFile, RefusesTensorsOutsideTheirArena) {
  std::string bytes = smallEngine();
  auto load = [&](auto edit) {
    auto p = plan::deserializePlan(bytes.data(), bytes.size(), nullptr, "small");
    EXPECT_TRUE(p.ok()) << p.status().toString();
    edit(**p);
    return Engine::loadBytes(plan::serializePlan(**p), "bad.engine");
  };
  auto intermediate = [](plan::Plan& p) -> plan::TensorInfo& {
    for (auto& t : p.tensors)
      if (t.kind == plan::TensorKind::kIntermediate && t.maxBytes > 0) return t;
    ADD_FAILURE() << "no intermediate";
    return p.tensors[0];
  };
  auto e = load([&](plan::Plan& p) { intermediate(p).arenaOffset = p.memory.arenaBytes; });
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(e.status().message().find("outside its arena"), std::string::npos) << e.status().toString();
  e = load([&](plan::Plan& p) { intermediate(p).maxBytes = ~uint64_t{0}; });
  ASSERT_FALSE(e.ok());
  e = load([&](plan::Plan& p) {
    auto& t = intermediate(p);
    t.placement = plan::Placement::kHost;  // the host arena of a CPU plan is empty
  });
  ASSERT_FALSE(e.ok());
  e = load([&](plan::Plan& p) { p.tensors[p.outputs[0]].placement = plan::Placement::kHost; });
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("placed on the host"), std::string::npos) << e.status().toString();
  e = load([&](plan::Plan& p) { p.tensors[p.inputs[0]].placement = plan::Placement::kHost; });  // x is dynamic
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("host input"), std::string::npos) << e.status().toString();
  // Unedited, it still loads.
  EXPECT_TRUE(load([](plan::Plan&) {}).ok());
}

TEST(EngineFile, MissingAndEmptyFiles) {
  auto e = Engine::loadFile("/nonexistent.engine");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kNotFound);
  auto path = std::filesystem::temp_directory_path() / "kiln_empty.engine";
  std::ofstream(path).close();
  auto z = Engine::loadFile(path.string());
  ASSERT_FALSE(z.ok());
  EXPECT_EQ(z.status().code(), StatusCode::kDataLoss);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace kiln

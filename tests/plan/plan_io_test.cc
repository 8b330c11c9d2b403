// Engine files: round trip, and every refusal case of the loader with its one-line reason.
#include <gtest/gtest.h>

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

// 4-bit and 2-bit tensors on the ONNX wire: packed low bits first (2 or 4 per byte, in raw_data
// or one packed byte per int32_data entry), unpacked one per byte in Kiln, sizes checked; and
// e8m0 as a plain byte type.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include <unistd.h>

#include <onnx/onnx_pb.h>

#include "onnx/tensor_proto.h"

namespace kiln::onnx_import {
namespace {

::onnx::TensorProto makeProto(DType t, std::vector<int64_t> dims) {
  ::onnx::TensorProto p;
  p.set_name("t");
  p.set_data_type(static_cast<int32_t>(t));
  for (int64_t d : dims) p.add_dims(d);
  return p;
}

TEST(SubByteTensorProto, KnownPackings) {
  // int4 [7, -8, -1, 0, 1]: codes 7, 8, 15, 0, 1 -> 0x87, 0x0F, 0x01 (the last high nibble is 0).
  auto p = makeProto(DType::kInt4, {5});
  p.set_raw_data(std::string("\x87\x0F\x01", 3));
  auto t = tensorFromProto(p, "");
  ASSERT_TRUE(t.ok()) << t.status().toString();
  const int8_t want4[] = {7, -8, -1, 0, 1};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(t->data<int8_t>()[i], want4[i]) << i;  // sign-extended bytes
  // uint2 [1, 2, 3, 0, 1] -> 1 | 2 << 2 | 3 << 4 | 0 << 6 = 0x39, then 0x01.
  p = makeProto(DType::kUInt2, {5, 1});
  p.set_raw_data(std::string("\x39\x01", 2));
  t = tensorFromProto(p, "");
  ASSERT_TRUE(t.ok()) << t.status().toString();
  const uint8_t want2[] = {1, 2, 3, 0, 1};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(t->data<uint8_t>()[i], want2[i]) << i;
  // int2 from int32_data: one packed byte per entry. 0xE4 = codes 0, 1, 2, 3 = 0, 1, -2, -1.
  p = makeProto(DType::kInt2, {2, 3});
  p.add_int32_data(0xE4);
  p.add_int32_data(0x0D);  // codes 1, 3 -> 1, -1
  t = tensorFromProto(p, "");
  ASSERT_TRUE(t.ok()) << t.status().toString();
  const int8_t wantI2[] = {0, 1, -2, -1, 1, -1};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(t->data<int8_t>()[i], wantI2[i]) << i;
  // float4e2m1 [0.5, -6, 3]: codes 1, 0xF, 5 -> 0xF1, 0x05.
  p = makeProto(DType::kFloat4E2M1, {3});
  p.add_int32_data(0xF1);
  p.add_int32_data(0x05);
  t = tensorFromProto(p, "");
  ASSERT_TRUE(t.ok()) << t.status().toString();
  EXPECT_EQ(static_cast<float>(t->data<Float4E2M1>()[0]), 0.5f);
  EXPECT_EQ(static_cast<float>(t->data<Float4E2M1>()[1]), -6.0f);
  EXPECT_EQ(static_cast<float>(t->data<Float4E2M1>()[2]), 3.0f);
}

TEST(SubByteTensorProto, RoundTripsEveryTypeAndOddSizes) {
  std::mt19937 rng(71);
  for (DType t : {DType::kInt4, DType::kUInt4, DType::kFloat4E2M1, DType::kInt2, DType::kUInt2}) {
    const int bits = dtypeBits(t), perByte = 8 / bits;
    for (int64_t n : {0, 1, 2, 3, 4, 5, 7, 8, 9, 33}) {
      Tensor x = Tensor::allocate(t, Dims{n});
      std::vector<uint8_t> codes(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        codes[i] = static_cast<uint8_t>(rng() & ((1u << bits) - 1));
        uint8_t b = codes[i];
        if ((t == DType::kInt4 || t == DType::kInt2) && (b >> (bits - 1)))
          b = static_cast<uint8_t>(b | (0xFF << bits));  // canonical form: sign-extended
        x.data<uint8_t>()[i] = b;
      }
      ::onnx::TensorProto p;
      tensorToProto(x, "x", &p);
      ASSERT_TRUE(p.has_raw_data());
      ASSERT_EQ(static_cast<int64_t>(p.raw_data().size()), (n + perByte - 1) / perByte) << dtypeName(t) << " n=" << n;
      for (int64_t i = 0; i < n; ++i) {
        const uint8_t byte = static_cast<uint8_t>(p.raw_data()[static_cast<size_t>(i / perByte)]);
        ASSERT_EQ((byte >> ((i % perByte) * bits)) & ((1 << bits) - 1), codes[i]) << dtypeName(t) << " element " << i;
      }
      if (n % perByte) {  // padding bits of the last byte are zero
        const uint8_t last = static_cast<uint8_t>(p.raw_data().back());
        EXPECT_EQ(last >> ((n % perByte) * bits), 0) << dtypeName(t) << " n=" << n;
      }
      auto back = tensorFromProto(p, "");
      ASSERT_TRUE(back.ok()) << back.status().toString();
      ASSERT_EQ(back->dtype(), t);
      ASSERT_EQ(back->dims(), x.dims());
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(back->data<uint8_t>()[i], x.data<uint8_t>()[i]) << dtypeName(t) << " " << i;
      // The same bytes through int32_data.
      ::onnx::TensorProto q = makeProto(t, {n});
      for (char c : p.raw_data()) q.add_int32_data(static_cast<uint8_t>(c));
      auto viaInts = tensorFromProto(q, "");
      ASSERT_TRUE(viaInts.ok()) << viaInts.status().toString();
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(viaInts->data<uint8_t>()[i], x.data<uint8_t>()[i]);
    }
  }
}

TEST(SubByteTensorProto, SizeMismatchesAreDataLoss) {
  // 5 int4 elements pack into 3 bytes: 2 or 5 (the unpacked size) are refused.
  for (size_t bytes : {2u, 5u}) {
    auto p = makeProto(DType::kInt4, {5});
    p.set_raw_data(std::string(bytes, '\0'));
    auto t = tensorFromProto(p, "");
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.status().code(), StatusCode::kDataLoss);
    EXPECT_NE(t.status().message().find("packs into 3"), std::string::npos) << t.status().toString();
  }
  auto p = makeProto(DType::kUInt2, {9});  // 3 packed bytes
  p.add_int32_data(0);
  p.add_int32_data(0);
  auto t = tensorFromProto(p, "");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kDataLoss);
}

TEST(SubByteTensorProto, ExternalDataIsUnpacked) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("kiln_subbyte_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  {
    std::ofstream f(dir / "w.bin", std::ios::binary);
    f.write("\x00\x87\x0F\x01", 4);  // one byte of offset, then int4 [7, -8, -1, 0, 1]
  }
  auto p = makeProto(DType::kInt4, {5});
  p.set_data_location(::onnx::TensorProto::EXTERNAL);
  auto add = [&](const char* k, const char* v) {
    auto* e = p.add_external_data();
    e->set_key(k);
    e->set_value(v);
  };
  add("location", "w.bin");
  add("offset", "1");
  add("length", "3");
  auto t = tensorFromProto(p, dir.string());
  ASSERT_TRUE(t.ok()) << t.status().toString();
  const int8_t want[] = {7, -8, -1, 0, 1};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(t->data<int8_t>()[i], want[i]) << i;
  p.mutable_external_data(2)->set_value("5");  // the unpacked size is wrong
  EXPECT_EQ(tensorFromProto(p, dir.string()).status().code(), StatusCode::kDataLoss);
  fs::remove_all(dir);
}

TEST(SubByteTensorProto, Float8E8M0IsOneBytePerElement) {
  auto p = makeProto(DType::kFloat8E8M0, {3});
  p.add_int32_data(127);
  p.add_int32_data(0);
  p.add_int32_data(255);
  auto t = tensorFromProto(p, "");
  ASSERT_TRUE(t.ok()) << t.status().toString();
  EXPECT_EQ(static_cast<float>(t->data<Float8E8M0>()[0]), 1.0f);
  EXPECT_EQ(static_cast<float>(t->data<Float8E8M0>()[1]), std::ldexp(1.0f, -127));
  EXPECT_TRUE(std::isnan(static_cast<float>(t->data<Float8E8M0>()[2])));
  ::onnx::TensorProto q;
  tensorToProto(*t, "t", &q);
  EXPECT_EQ(q.raw_data(), std::string("\x7F\x00\xFF", 3));
}

}  // namespace
}  // namespace kiln::onnx_import

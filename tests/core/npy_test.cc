// .npy round trips and refusals.
#include <gtest/gtest.h>

#include "core/npy.h"

namespace kiln {
namespace {

TEST(Npy, RoundTripsEveryNumpyType) {
  for (DType t : {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kInt8, DType::kUInt8,
                  DType::kInt16, DType::kUInt16, DType::kInt32, DType::kUInt32, DType::kInt64,
                  DType::kUInt64, DType::kBool}) {
    Tensor x = Tensor::allocate(t, {3, 1, 5});
    for (size_t i = 0; i < x.nbytes(); ++i) static_cast<uint8_t*>(x.raw())[i] = static_cast<uint8_t>(i * 37 + 1);
    if (t == DType::kBool)
      for (int64_t i = 0; i < x.numel(); ++i) x.data<uint8_t>()[i] = i % 2;
    auto y = parseNpy(serializeNpy(x), "mem");
    ASSERT_TRUE(y.ok()) << dtypeName(t) << ": " << y.status().toString();
    EXPECT_EQ(y->dtype(), t);
    EXPECT_EQ(y->dims(), x.dims());
    EXPECT_EQ(std::memcmp(y->raw(), x.raw(), x.nbytes()), 0) << dtypeName(t);
  }
}

TEST(Npy, ScalarAndEmpty) {
  Tensor s = Tensor::scalar<float>(2.5f);
  auto y = parseNpy(serializeNpy(s), "mem");
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->rank(), 0);
  EXPECT_EQ(y->data<float>()[0], 2.5f);
  Tensor e = Tensor::allocate(DType::kInt64, {0, 4});
  auto z = parseNpy(serializeNpy(e), "mem");
  ASSERT_TRUE(z.ok());
  EXPECT_EQ(z->dims(), (Dims{0, 4}));
}

TEST(Npy, RefusesDamagedFiles) {
  Tensor x = Tensor::allocate(DType::kFloat32, {4, 4});
  std::string b = serializeNpy(x);
  auto trunc = parseNpy(b.substr(0, b.size() - 3), "t.npy");
  ASSERT_FALSE(trunc.ok());
  EXPECT_EQ(trunc.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(trunc.status().message().find("t.npy"), std::string::npos);
  EXPECT_FALSE(parseNpy("hello world", "x").ok());
  std::string fortran = b;
  fortran.replace(fortran.find("False"), 5, "True ");
  auto f = parseNpy(fortran, "f.npy");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), StatusCode::kUnsupported);
  std::string big = b;
  big.replace(big.find("<f4"), 3, ">f4");
  EXPECT_FALSE(parseNpy(big, "b.npy").ok());
}

}  // namespace
}  // namespace kiln

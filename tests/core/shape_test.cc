// Dims, symbolic Dim arithmetic, Status/Result plumbing.
#include <gtest/gtest.h>

#include "kiln/shape.h"
#include "kiln/status.h"

namespace kiln {
namespace {

TEST(Dims, BasicOps) {
  Dims d{2, 3, 4};
  EXPECT_EQ(d.numel(), 24);
  d.insert(1, 7);
  EXPECT_EQ(d, (Dims{2, 7, 3, 4}));
  d.erase(0);
  EXPECT_EQ(d, (Dims{7, 3, 4}));
  EXPECT_EQ(contiguousStrides(d), (Dims{12, 4, 1}));
  EXPECT_EQ(Dims{}.numel(), 1);
  EXPECT_EQ(d.toString(), "[7,3,4]");
}

TEST(Dim, SymbolicArithmetic) {
  Dim b = Dim::symbol("batch"), s = Dim::symbol("seq");
  EXPECT_TRUE((b * Dim(1)).sameAs(b));
  EXPECT_EQ((b * s).toString(), "batch*seq");
  EXPECT_TRUE((b * s).sameAs(b * s));
  EXPECT_EQ((Dim(6) * Dim(7)).value(), 42);
  EXPECT_TRUE((b * Dim::unknown()).isUnknown());
  EXPECT_EQ(Dim::floorDiv(Dim(-7), Dim(2)).value(), -4);
  EXPECT_EQ(Dim(-1).value(), -1);  // shape tensors hold -1: a static value, not "unknown"
  EXPECT_TRUE(Dim(-1).isStatic());
  EXPECT_FALSE(Dim::unknown().sameAs(Dim::unknown()));
}

TEST(Shape, StaticAndSymbolic) {
  Shape s{Dim::symbol("N"), Dim(3), Dim(224)};
  EXPECT_FALSE(s.isStatic());
  EXPECT_FALSE(s.toDims().has_value());
  EXPECT_EQ(s.toString(), "[N,3,224]");
  EXPECT_EQ(Shape::unknownRank().toString(), "[*]");
  EXPECT_EQ(Shape(Dims{2, 3}).toDims().value(), (Dims{2, 3}));
}

Result<int> half(int x) {
  if (x % 2) return InvalidArgument("{} is odd", x);
  return x / 2;
}
Status useHalf(int x, int* out) {
  KILN_ASSIGN_OR_RETURN(int h, half(x));
  *out = h;
  return Status::OK();
}

TEST(Status, ResultAndContext) {
  int v = 0;
  EXPECT_TRUE(useHalf(8, &v).ok());
  EXPECT_EQ(v, 4);
  Status st = useHalf(3, &v);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  st.withContext("node 'x'");
  EXPECT_EQ(st.message(), "node 'x': 3 is odd");
  EXPECT_EQ(st.toString(), "InvalidArgument: node 'x': 3 is odd");
  Status copy = st;
  EXPECT_EQ(copy.message(), st.message());
  EXPECT_TRUE(Status::OK().ok());
}

}  // namespace
}  // namespace kiln

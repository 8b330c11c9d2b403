// Helpers shared by op definitions: axis normalization, broadcasting, reading constant inputs,
// and common inference functions.
#pragma once

#include <optional>
#include <vector>

#include "ir/op_registry.h"

namespace kiln::ir {

// Maps axis in [-rank, rank) to [0, rank); error names the attribute.
Result<int> normalizeAxis(int64_t axis, int rank, std::string_view what = "axis");
// Normalizes and checks a list of axes (unique, in range).
Result<std::vector<int>> normalizeAxes(const std::vector<int64_t>& axes, int rank,
                                       std::string_view what = "axes");

// Numpy multidirectional broadcasting of symbolic shapes.
Status broadcastShapes(const Shape& a, const Shape& b, Shape* out);
// Concrete broadcasting; false when incompatible.
bool broadcastDims(const Dims& a, const Dims& b, Dims* out);

// Integer contents of input i when known (constant or run time); nullopt otherwise.
std::optional<std::vector<int64_t>> inputInts(const InferContext& ctx, int i);
// Float contents of input i when known.
std::optional<std::vector<double>> inputDoubles(const InferContext& ctx, int i);
// Symbolic dims given by a 1-D shape tensor input, or nullopt.
std::optional<std::vector<Dim>> inputDims(const InferContext& ctx, int i);

// A shape of known rank whose dims are all unknown (or fresh symbols at run time never needed).
Shape unknownShape(int rank);

// Common inference functions.
InferFn inferSameAsInput(int input = 0);                 // output 0 = input's type and shape
InferFn inferBroadcast();                                // type of input 0, broadcast of all
InferFn inferBroadcastTo(DType outType);                 // e.g. comparisons -> bool
InferFn inferSameShapeAs(int input, DType outType);

// Checks that input i has one of the given dtypes.
Status expectType(const InferContext& ctx, int i, std::initializer_list<DType> allowed,
                  std::string_view opName);
// Checks that inputs a and b have the same dtype.
Status expectSameType(const InferContext& ctx, int a, int b);

}  // namespace kiln::ir

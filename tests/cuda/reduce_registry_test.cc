// The reduce / norm / pool CUDA tactics are registered under their stable names (runs without a
// GPU: the registry is plain host code, and a duplicate tactic name would abort its construction).
#include <algorithm>

#include <gtest/gtest.h>

#include "reduce_test_util.h"

namespace kiln::testing {
namespace {

bool has(const std::string& op, const std::string& tactic, const std::string& domain = "") {
  const auto t = cudaTacticsFor(op, domain);
  return std::find(t.begin(), t.end(), tactic) != t.end();
}

TEST(ReduceNormRegistry, TacticsRegistered) {
  const std::pair<const char*, const char*> onnx[] = {
      {"Softmax", "cuda_reduce_softmax"},
      {"LogSoftmax", "cuda_reduce_logsoftmax"},
      {"Hardmax", "cuda_reduce_hardmax"},
      {"ReduceSum", "cuda_reduce_sum"},
      {"ReduceMean", "cuda_reduce_mean"},
      {"ReduceMax", "cuda_reduce_max"},
      {"ReduceMin", "cuda_reduce_min"},
      {"ReduceProd", "cuda_reduce_prod"},
      {"ReduceL1", "cuda_reduce_l1"},
      {"ReduceL2", "cuda_reduce_l2"},
      {"ReduceLogSum", "cuda_reduce_logsum"},
      {"ReduceLogSumExp", "cuda_reduce_logsumexp"},
      {"ReduceSumSquare", "cuda_reduce_sumsquare"},
      {"ArgMax", "cuda_reduce_argmax"},
      {"ArgMin", "cuda_reduce_argmin"},
      {"CumSum", "cuda_reduce_cumsum"},
      {"TopK", "cuda_reduce_topk_small"},
      {"TopK", "cuda_reduce_topk_select"},
      {"LayerNormalization", "cuda_norm_layernorm"},
      {"RMSNormalization", "cuda_norm_rmsnorm"},
      {"GroupNormalization", "cuda_norm_groupnorm"},
      {"InstanceNormalization", "cuda_norm_instancenorm"},
      {"BatchNormalization", "cuda_norm_batchnorm"},
      {"LpNormalization", "cuda_norm_lpnorm"},
      {"MeanVarianceNormalization", "cuda_norm_mvn"},
      {"LRN", "cuda_norm_lrn"},
      {"MaxPool", "cuda_pool_max"},
      {"AveragePool", "cuda_pool_avg"},
      {"LpPool", "cuda_pool_lp"},
      {"GlobalAveragePool", "cuda_pool_global_avg"},
      {"GlobalMaxPool", "cuda_pool_global_max"},
      {"GlobalLpPool", "cuda_pool_global_lp"},
  };
  for (const auto& [op, tactic] : onnx) EXPECT_TRUE(has(op, tactic)) << op << " " << tactic;
  EXPECT_TRUE(has("NhwcMaxPool", "cuda_pool_nhwc_max", "kiln"));
  EXPECT_TRUE(has("NhwcAveragePool", "cuda_pool_nhwc_avg", "kiln"));
  EXPECT_TRUE(has("NhwcGlobalAveragePool", "cuda_pool_nhwc_global_avg", "kiln"));
}

}  // namespace
}  // namespace kiln::testing

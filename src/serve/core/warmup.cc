// Warmup.
#include "serve/core/warmup.h"

#include <filesystem>
#include <cstring>
#include <random>

#include "serve/core/datatype.h"
#include "serve/core/names.h"

namespace kiln::serve {

namespace fs = std::filesystem;

namespace {

Result<Tensor> sampleTensor(const inference::ModelWarmup::Input& in, const TensorSpec& ts, uint32_t batch, bool batched,
                            const ModelSource& src, const std::string& sample) {
  DType dt = fromConfigDataType(in.data_type());
  if (dt != ts.dtype)
    return InvalidArgument("model_warmup '{}' input '{}': data_type {} differs from the input's", sample, ts.name,
                           inference::DataType_Name(in.data_type()));
  Dims d;
  if (batched) d.push_back(batch);
  for (int64_t x : in.dims()) {
    if (x < 0) return InvalidArgument("model_warmup '{}' input '{}': dims must be concrete", sample, ts.name);
    if (d.rank() >= kMaxRank) return InvalidArgument("model_warmup '{}' input '{}': too many dims", sample, ts.name);
    d.push_back(x);
  }
  Tensor t = Tensor::allocate(dt, d);
  if (in.has_random_data() && dt != DType::kString) {
    std::mt19937 rng(7);
    auto* p = static_cast<uint8_t*>(t.raw());
    if (dt == DType::kFloat32) {
      std::uniform_real_distribution<float> u(-1, 1);
      for (auto& v : t.span<float>()) v = u(rng);
    } else {
      for (size_t i = 0; i < t.nbytes(); ++i) p[i] = static_cast<uint8_t>(dt == DType::kBool ? rng() & 1 : rng() & 0x3f);
    }
  } else if (in.has_input_data_file()) {
    const std::string& f = in.input_data_file();
    if (f.empty() || f.find('/') != std::string::npos || f.find('\\') != std::string::npos || f[0] == '.')
      return InvalidArgument("model_warmup '{}' input '{}': input_data_file {} must be a plain file name in <model>/warmup/",
                             sample, ts.name, quoteForMessage(f));
    std::string path = (fs::path(src.dir) / "warmup" / f).string();
    if (!pathInside(src.repository, path))
      return InvalidArgument("model_warmup '{}': '{}' resolves outside the repository", sample, path);
    KILN_ASSIGN_OR_RETURN(std::string bytes, readFileBytes(path, 1ull << 30));
    if (dt == DType::kString) {
      size_t at = 0;
      for (auto& s : t.span<std::string>()) {
        if (at + 4 > bytes.size()) return InvalidArgument("model_warmup '{}': '{}' holds too few strings", sample, path);
        uint32_t n = 0;
        std::memcpy(&n, bytes.data() + at, 4);
        at += 4;
        if (n > bytes.size() - at) return InvalidArgument("model_warmup '{}': '{}' is truncated", sample, path);
        s.assign(bytes.data() + at, n);
        at += n;
      }
    } else {
      size_t single = t.nbytes() / std::max<uint32_t>(1, batch);
      if (bytes.size() < single)
        return InvalidArgument("model_warmup '{}': '{}' has {} bytes, the input needs {}", sample, path, bytes.size(), single);
      // The file holds one batch element; it is repeated for each (Triton's convention).
      for (uint32_t b = 0; b < std::max<uint32_t>(1, batch); ++b)
        std::memcpy(static_cast<uint8_t*>(t.raw()) + b * single, bytes.data(), single);
    }
  }
  return t;
}

}  // namespace

Status runWarmup(const inference::ModelConfig& cfg, const ModelSpec& spec, const ModelSource& src,
                 const std::vector<Instance*>& instances) {
  bool batched = spec.maxBatchSize > 0;
  for (const auto& w : cfg.model_warmup()) {
    uint32_t batch = std::max<uint32_t>(1, w.batch_size());
    if (batched ? batch > static_cast<uint32_t>(spec.maxBatchSize) : batch != 1)
      return InvalidArgument("model_warmup '{}': batch_size {} is not allowed (max_batch_size {})", w.name(), w.batch_size(),
                             spec.maxBatchSize);
    InferRequest req;
    for (const auto& ts : spec.inputs) {
      auto it = w.inputs().find(ts.name);
      if (it == w.inputs().end()) return InvalidArgument("model_warmup '{}' gives no data for input '{}'", w.name(), ts.name);
      KILN_ASSIGN_OR_RETURN(Tensor t, sampleTensor(it->second, ts, batch, batched, src, w.name()));
      InferTensor in;
      in.name = ts.name;
      in.dtype = ts.dtype;
      in.shape = t.dims();
      in.data = std::move(t);
      req.inputs.push_back(std::move(in));
    }
    for (const auto& [name, unused] : w.inputs())
      if (!spec.findInput(name)) return InvalidArgument("model_warmup '{}' names '{}', which is not an input", w.name(), name);
    for (Instance* inst : instances) {
      for (uint32_t i = 0; i < std::max<uint32_t>(1, w.count()); ++i) {
        std::vector<std::vector<InferTensor>> outs;
        Instance::Timing t;
        KILN_RETURN_IF_ERROR_CTX(inst->run({&req}, batched ? batch : 1, &outs, &t),
                                 fmt::format("model_warmup '{}' on instance {}", w.name(), inst->name()));
      }
    }
  }
  return Status::OK();
}

}  // namespace kiln::serve

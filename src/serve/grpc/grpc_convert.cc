// gRPC message <-> InferenceServer type conversion (see grpc_convert.h).
#include "serve/grpc/grpc_convert.h"

#include <bit>
#include <cstring>
#include <limits>
#include <set>

#include "serve/core/names.h"

namespace kiln::serve::grpcfe {

// Raw tensor contents are little-endian on the wire and are used in place.
static_assert(std::endian::native == std::endian::little, "kiln serve assumes a little-endian host");

namespace {

using inference::InferParameter;
using inference::InferTensorContents;
using inference::ModelInferRequest;

std::string q(std::string_view s) { return quoteForMessage(s); }

// The element count of `shape`, refusing negative dims, ranks over kMaxRank and products that
// overflow (a client can send any int64 values).
Result<Dims> checkedDims(const google::protobuf::RepeatedField<int64_t>& shape, const std::string& what) {
  if (shape.size() > kMaxRank)
    return InvalidArgument("{}: rank {} exceeds the maximum of {}", what, shape.size(), kMaxRank);
  Dims dims;
  int64_t numel = 1;
  for (int64_t d : shape) {
    if (d < 0) return InvalidArgument("{}: shape has negative dimension {}", what, d);
    if (d != 0 && numel > std::numeric_limits<int64_t>::max() / d)
      return InvalidArgument("{}: shape element count overflows", what);
    numel *= d;
    dims.push_back(d);
  }
  return dims;
}

// Keeps the moved-out raw bytes of a request alive for as long as any tensor views them.
Tensor wrapBytes(DType dtype, const Dims& dims, std::string&& bytes) {
  auto owner = std::make_shared<std::string>(std::move(bytes));
  void* data = owner->data();
  return Tensor::wrap(dtype, dims, data, std::move(owner));
}

// BYTES raw form: per element a uint32 little-endian length, then that many bytes.
Result<Tensor> parseRawBytes(const std::string& raw, const Dims& dims, const std::string& what) {
  // Checked before allocating: a huge shape with a small body must not allocate the shape.
  if (static_cast<uint64_t>(dims.numel()) > raw.size() / 4)
    return InvalidArgument("{}: raw BYTES contents have {} bytes, too few for {} elements (each needs a 4-byte "
                           "length)",
                           what, raw.size(), dims.numel());
  Tensor t = Tensor::allocate(DType::kString, dims);
  auto* out = t.data<std::string>();
  const int64_t n = t.numel();
  size_t pos = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (raw.size() - pos < 4)
      return InvalidArgument("{}: raw BYTES contents end after {} of {} elements (each element needs a 4-byte length)",
                             what, i, n);
    uint32_t len;
    std::memcpy(&len, raw.data() + pos, 4);
    pos += 4;
    if (raw.size() - pos < len)
      return InvalidArgument("{}: raw BYTES element {} declares {} bytes but only {} remain", what, i, len,
                             raw.size() - pos);
    out[i].assign(raw.data() + pos, len);
    pos += len;
  }
  if (pos != raw.size())
    return InvalidArgument("{}: raw BYTES contents have {} bytes left over after {} elements", what, raw.size() - pos,
                           n);
  return t;
}

// The typed-contents field a datatype uses (KServe v2 gRPC: narrow integers share the 32-bit
// fields; FP16/BF16 have none).
enum class Field { kBool, kInt, kInt64, kUint, kUint64, kFp32, kFp64, kBytes, kNone };
Field fieldFor(DType t) {
  switch (t) {
    case DType::kBool: return Field::kBool;
    case DType::kInt8: case DType::kInt16: case DType::kInt32: return Field::kInt;
    case DType::kInt64: return Field::kInt64;
    case DType::kUInt8: case DType::kUInt16: case DType::kUInt32: return Field::kUint;
    case DType::kUInt64: return Field::kUint64;
    case DType::kFloat32: return Field::kFp32;
    case DType::kFloat64: return Field::kFp64;
    case DType::kString: return Field::kBytes;
    default: return Field::kNone;
  }
}
const char* fieldName(Field f) {
  constexpr const char* kNames[] = {"bool_contents", "int_contents", "int64_contents", "uint_contents",
                                    "uint64_contents", "fp32_contents", "fp64_contents", "bytes_contents", "none"};
  return kNames[static_cast<int>(f)];
}
int fieldCount(const InferTensorContents& c, Field f) {
  switch (f) {
    case Field::kBool: return c.bool_contents_size();
    case Field::kInt: return c.int_contents_size();
    case Field::kInt64: return c.int64_contents_size();
    case Field::kUint: return c.uint_contents_size();
    case Field::kUint64: return c.uint64_contents_size();
    case Field::kFp32: return c.fp32_contents_size();
    case Field::kFp64: return c.fp64_contents_size();
    case Field::kBytes: return c.bytes_contents_size();
    case Field::kNone: return 0;
  }
  return 0;
}
int64_t typedCount(const InferTensorContents& c) {
  int64_t n = 0;
  for (int f = 0; f < static_cast<int>(Field::kNone); ++f) n += fieldCount(c, static_cast<Field>(f));
  return n;
}

// Copies a repeated field into a tensor of element type Dst, refusing values Dst cannot hold.
template <typename Dst, typename Src>
Status copyChecked(const google::protobuf::RepeatedField<Src>& src, Tensor& t, const std::string& what) {
  Dst* out = t.data<Dst>();
  for (int i = 0; i < src.size(); ++i) {
    Src v = src.Get(i);
    if constexpr (!std::is_same_v<Dst, Src> && std::is_integral_v<Dst> && !std::is_same_v<Dst, bool>) {
      if (v < static_cast<Src>(std::numeric_limits<Dst>::min()) || v > static_cast<Src>(std::numeric_limits<Dst>::max()))
        return InvalidArgument("{}: element {} = {} is out of range for {}", what, i, v, kserveDatatype(dtypeOf<Dst>));
    }
    out[i] = static_cast<Dst>(v);
  }
  return {};
}

Result<Tensor> fromTyped(const InferTensorContents& c, DType dtype, const Dims& dims, const std::string& what) {
  const Field want = fieldFor(dtype);
  if (want == Field::kNone)
    return InvalidArgument("{}: datatype {} has no typed contents field; send it in raw_input_contents", what,
                           kserveDatatype(dtype));
  for (int f = 0; f < static_cast<int>(Field::kNone); ++f) {
    if (static_cast<Field>(f) != want && fieldCount(c, static_cast<Field>(f)) > 0)
      return InvalidArgument("{}: contents has {} but datatype {} uses {}", what, fieldName(static_cast<Field>(f)),
                             kserveDatatype(dtype), fieldName(want));
  }
  if (fieldCount(c, want) != dims.numel())  // checked before allocating the shape
    return InvalidArgument("{}: {} has {} elements but shape {} needs {}", what, fieldName(want), fieldCount(c, want),
                           dims.toString(), dims.numel());
  Tensor t = Tensor::allocate(dtype, dims);
  Status s;
  switch (dtype) {
    case DType::kBool: s = copyChecked<bool>(c.bool_contents(), t, what); break;
    case DType::kInt8: s = copyChecked<int8_t>(c.int_contents(), t, what); break;
    case DType::kInt16: s = copyChecked<int16_t>(c.int_contents(), t, what); break;
    case DType::kInt32: s = copyChecked<int32_t>(c.int_contents(), t, what); break;
    case DType::kInt64: s = copyChecked<int64_t>(c.int64_contents(), t, what); break;
    case DType::kUInt8: s = copyChecked<uint8_t>(c.uint_contents(), t, what); break;
    case DType::kUInt16: s = copyChecked<uint16_t>(c.uint_contents(), t, what); break;
    case DType::kUInt32: s = copyChecked<uint32_t>(c.uint_contents(), t, what); break;
    case DType::kUInt64: s = copyChecked<uint64_t>(c.uint64_contents(), t, what); break;
    case DType::kFloat32: s = copyChecked<float>(c.fp32_contents(), t, what); break;
    case DType::kFloat64: s = copyChecked<double>(c.fp64_contents(), t, what); break;
    case DType::kString: {
      auto* out = t.data<std::string>();
      for (int i = 0; i < c.bytes_contents_size(); ++i) out[i] = c.bytes_contents(i);
      break;
    }
    default: return InvalidArgument("{}: datatype {} is not supported in typed contents", what, kserveDatatype(dtype));
  }
  if (!s.ok()) return s;
  return t;
}

Result<Tensor> fromRaw(std::string&& raw, DType dtype, const Dims& dims, const std::string& what) {
  if (dtype == DType::kString) return parseRawBytes(raw, dims, what);
  const uint64_t need = static_cast<uint64_t>(dims.numel()) * dtypeSize(dtype);
  if (dims.numel() > 0 && need / static_cast<uint64_t>(dims.numel()) != dtypeSize(dtype))
    return InvalidArgument("{}: shape {} is too large", what, dims.toString());
  if (raw.size() != need)
    return InvalidArgument("{}: raw_input_contents has {} bytes but {} {} needs {}", what, raw.size(),
                           kserveDatatype(dtype), dims.toString(), need);
  // A C++ bool must hold 0 or 1; the wire allows any non-zero byte for true.
  if (dtype == DType::kBool)
    for (char& c : raw) c = c != 0 ? 1 : 0;
  return wrapBytes(dtype, dims, std::move(raw));
}

// Moves the value of reserved parameter `key` (an integer) out of `params`.
Status takeUnsigned(Params& params, const char* key, uint64_t max, uint64_t* out) {
  auto it = params.find(key);
  if (it == params.end()) return {};
  const int64_t* v = std::get_if<int64_t>(&it->second);
  if (!v || *v < 0 || static_cast<uint64_t>(*v) > max)
    return InvalidArgument("request parameter '{}' must be an integer in [0, {}]", key, max);
  *out = static_cast<uint64_t>(*v);
  params.erase(it);
  return {};
}

}  // namespace

grpc::Status toGrpcStatus(const Status& s) {
  if (s.ok()) return grpc::Status::OK;
  grpc::StatusCode code = grpc::StatusCode::UNKNOWN;
  switch (s.code()) {
    case StatusCode::kOk: return grpc::Status::OK;
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:  // a shape outside the model's limits is the caller's error
      code = grpc::StatusCode::INVALID_ARGUMENT;
      break;
    case StatusCode::kNotFound: code = grpc::StatusCode::NOT_FOUND; break;
    case StatusCode::kUnsupported: code = grpc::StatusCode::UNIMPLEMENTED; break;
    case StatusCode::kFailedPrecondition: code = grpc::StatusCode::FAILED_PRECONDITION; break;
    case StatusCode::kResourceExhausted: code = grpc::StatusCode::RESOURCE_EXHAUSTED; break;
    case StatusCode::kUnavailable: code = grpc::StatusCode::UNAVAILABLE; break;
    case StatusCode::kAlreadyExists: code = grpc::StatusCode::ALREADY_EXISTS; break;
    case StatusCode::kDataLoss:
    case StatusCode::kInternal: code = grpc::StatusCode::INTERNAL; break;
  }
  return grpc::Status(code, s.message());
}

Status paramsFromProto(const google::protobuf::Map<std::string, InferParameter>& in, Params* out,
                       std::string_view where) {
  for (const auto& [key, p] : in) {
    switch (p.parameter_choice_case()) {
      case InferParameter::kBoolParam: (*out)[key] = p.bool_param(); break;
      case InferParameter::kInt64Param: (*out)[key] = p.int64_param(); break;
      case InferParameter::kStringParam: (*out)[key] = p.string_param(); break;
      case InferParameter::kUint64Param:
        if (p.uint64_param() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
          return InvalidArgument("{} parameter {}: value {} is larger than Kiln's int64 parameters allow", where,
                                 q(key), p.uint64_param());
        (*out)[key] = static_cast<int64_t>(p.uint64_param());
        break;
      case InferParameter::kDoubleParam:
        return InvalidArgument("{} parameter {}: double values are not supported (use bool, int64 or string)", where,
                               q(key));
      case InferParameter::PARAMETER_CHOICE_NOT_SET:
        return InvalidArgument("{} parameter {} has no value", where, q(key));
    }
  }
  return {};
}

void paramsToProto(const Params& in, google::protobuf::Map<std::string, InferParameter>* out) {
  for (const auto& [key, v] : in) {
    InferParameter& p = (*out)[key];
    if (const bool* b = std::get_if<bool>(&v)) p.set_bool_param(*b);
    else if (const int64_t* i = std::get_if<int64_t>(&v)) p.set_int64_param(*i);
    else p.set_string_param(std::get<std::string>(v));
  }
}

Result<std::unique_ptr<InferRequest>> fromInferRequest(ModelInferRequest& msg) {
  auto req = std::make_unique<InferRequest>();
  req->model = msg.model_name();
  req->version = msg.model_version();
  req->id = msg.id();
  KILN_RETURN_IF_ERROR(paramsFromProto(msg.parameters(), &req->parameters, "request"));
  uint64_t priority = 0;
  KILN_RETURN_IF_ERROR(takeUnsigned(req->parameters, "priority", std::numeric_limits<uint32_t>::max(), &priority));
  req->priority = static_cast<uint32_t>(priority);
  KILN_RETURN_IF_ERROR(takeUnsigned(req->parameters, "timeout", std::numeric_limits<int64_t>::max(), &req->timeoutUs));

  // Inputs in shared memory have no raw_input_contents entry: the entries belong, in order, to the
  // other inputs (as Triton reads them).
  int nshm = 0;
  for (const auto& in : msg.inputs()) nshm += in.parameters().count("shared_memory_region") ? 1 : 0;
  const int nraw = msg.raw_input_contents_size();
  const int nplain = msg.inputs_size() - nshm;
  if (nraw > 0 && nraw != nplain) {
    if (nshm == 0)
      return InvalidArgument("raw_input_contents has {} entries but the request has {} inputs (one entry per input, "
                             "in order)",
                             nraw, msg.inputs_size());
    return InvalidArgument("raw_input_contents has {} entries but the request has {} inputs not in shared memory "
                           "(one entry per such input, in order)",
                           nraw, nplain);
  }
  int rawAt = 0;
  std::set<std::string> seen;
  req->inputs.reserve(msg.inputs_size());
  for (int i = 0; i < msg.inputs_size(); ++i) {
    const auto& in = msg.inputs(i);
    if (in.name().empty()) return InvalidArgument("input #{} has no name", i);
    const std::string what = "input " + q(in.name());
    if (!seen.insert(in.name()).second) return InvalidArgument("{} appears more than once", what);
    InferTensor t;
    t.name = in.name();
    if (!parseKserveDatatype(in.datatype(), &t.dtype))
      return InvalidArgument("{}: unknown datatype {} (expected BOOL, UINT8..UINT64, INT8..INT64, FP16, BF16, FP32, "
                             "FP64 or BYTES)",
                             what, q(in.datatype()));
    KILN_ASSIGN_OR_RETURN(t.shape, checkedDims(in.shape(), what));
    KILN_RETURN_IF_ERROR(paramsFromProto(in.parameters(), &t.parameters, what));
    const bool typed = in.has_contents() && typedCount(in.contents()) > 0;
    if (usesSharedMemory(t.parameters)) {
      // The server binds the region's bytes (core/shared_memory_io.h).
      if (typed)
        return InvalidArgument("{}: has typed contents while its data is in shared memory (shared_memory_region); "
                               "send one",
                               what);
      req->inputs.push_back(std::move(t));
      continue;
    }
    if (nraw > 0 && typed)
      return InvalidArgument("{}: has typed contents while the request uses raw_input_contents; use one form for "
                             "all inputs",
                             what);
    if (nraw > 0) {
      KILN_ASSIGN_OR_RETURN(t.data,
                            fromRaw(std::move(*msg.mutable_raw_input_contents(rawAt++)), t.dtype, t.shape, what));
    } else if (typed) {
      KILN_ASSIGN_OR_RETURN(t.data, fromTyped(in.contents(), t.dtype, t.shape, what));
    } else if (t.shape.numel() == 0) {
      t.data = Tensor::allocate(t.dtype, t.shape);  // an empty tensor needs no data
    } else if (fieldFor(t.dtype) == Field::kNone) {
      return InvalidArgument("{}: no data (datatype {} must be sent in raw_input_contents)", what, in.datatype());
    } else {
      return InvalidArgument("{}: no data: set contents.{} or raw_input_contents", what,
                             fieldName(fieldFor(t.dtype)));
    }
    req->inputs.push_back(std::move(t));
  }
  seen.clear();
  for (int i = 0; i < msg.outputs_size(); ++i) {
    const auto& out = msg.outputs(i);
    if (out.name().empty()) return InvalidArgument("requested output #{} has no name", i);
    if (!seen.insert(out.name()).second) return InvalidArgument("output {} is requested more than once", q(out.name()));
    RequestedOutput r;
    r.name = out.name();
    KILN_RETURN_IF_ERROR(paramsFromProto(out.parameters(), &r.parameters, "output " + q(out.name())));
    req->outputs.push_back(std::move(r));
  }
  req->received = std::chrono::steady_clock::now();
  return req;
}

Status toInferResponse(const InferResponse& r, inference::ModelInferResponse* msg) {
  msg->set_model_name(r.model);
  msg->set_model_version(r.version);
  msg->set_id(r.id);
  paramsToProto(r.parameters, msg->mutable_parameters());
  for (const auto& o : r.outputs) {
    std::string_view dt = kserveDatatype(o.dtype);
    if (dt.empty())
      return InternalError("output '{}' has element type {}, which has no KServe datatype", o.name, dtypeName(o.dtype));
    if (!o.inSharedMemory && o.data.memoryKind() != MemoryKind::kHost)
      return InternalError("output '{}' is not in host memory", o.name);
    auto* out = msg->add_outputs();
    out->set_name(o.name);
    out->set_datatype(std::string(dt));
    for (int64_t d : o.shape) out->add_shape(d);
    paramsToProto(o.parameters, out->mutable_parameters());
    // One entry per output, also for one written to shared memory (left empty, as Triton does), so
    // that clients can index raw_output_contents by output position.
    std::string* raw = msg->add_raw_output_contents();
    if (o.inSharedMemory) continue;
    if (o.dtype == DType::kString) {
      const auto* s = o.data.data<std::string>();
      size_t total = 0;
      for (int64_t i = 0; i < o.data.numel(); ++i) total += 4 + s[i].size();
      raw->reserve(total);
      for (int64_t i = 0; i < o.data.numel(); ++i) {
        if (s[i].size() > std::numeric_limits<uint32_t>::max())
          return InternalError("output '{}': BYTES element {} is larger than 4 GiB", o.name, i);
        uint32_t len = static_cast<uint32_t>(s[i].size());
        raw->append(reinterpret_cast<const char*>(&len), 4);
        raw->append(s[i]);
      }
    } else {
      raw->assign(static_cast<const char*>(o.data.raw()), o.data.nbytes());
    }
  }
  return {};
}

namespace {
void dur(const DurationStat& d, inference::StatisticDuration* out) {
  out->set_count(d.count);
  out->set_ns(d.ns);
}
}  // namespace

void toModelStatistics(const ModelStatistics& s, inference::ModelStatistics* msg) {
  msg->set_name(s.name);
  msg->set_version(s.version);
  msg->set_last_inference(s.lastInferenceMs);
  msg->set_inference_count(s.inferenceCount);
  msg->set_execution_count(s.executionCount);
  auto* is = msg->mutable_inference_stats();
  const auto& st = s.inferenceStats;
  dur(st.success, is->mutable_success());
  dur(st.fail, is->mutable_fail());
  dur(st.queue, is->mutable_queue());
  dur(st.computeInput, is->mutable_compute_input());
  dur(st.computeInfer, is->mutable_compute_infer());
  dur(st.computeOutput, is->mutable_compute_output());
  dur(st.cacheHit, is->mutable_cache_hit());
  dur(st.cacheMiss, is->mutable_cache_miss());
  for (const auto& b : s.batchStats) {
    auto* bs = msg->add_batch_stats();
    bs->set_batch_size(b.batchSize);
    dur(b.computeInput, bs->mutable_compute_input());
    dur(b.computeInfer, bs->mutable_compute_infer());
    dur(b.computeOutput, bs->mutable_compute_output());
  }
}

}  // namespace kiln::serve::grpcfe

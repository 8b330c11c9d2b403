// KServe v2 infer request/response encoding (JSON with simdjson, binary tensor data extension).
#include "serve/http/http_infer.h"

#include <simdjson.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "kiln/dtype.h"
#include "serve/core/names.h"

namespace kiln::serve::http {

namespace dom = simdjson::dom;

bool OutputEncoding::binaryFor(const std::string& name) const {
  for (const auto& [n, b] : perOutput)
    if (n == name) return b;
  return binaryByDefault;
}

namespace {

// One parser per thread: a DOM parser is reusable but not shareable, and reuse keeps its
// buffers, so steady-state parsing allocates nothing.
dom::parser& threadParser() {
  thread_local dom::parser p;
  return p;
}

std::string jsonType(const dom::element& e) {
  switch (e.type()) {
    case dom::element_type::ARRAY: return "an array";
    case dom::element_type::OBJECT: return "an object";
    case dom::element_type::INT64:
    case dom::element_type::UINT64: return "an integer";
    case dom::element_type::DOUBLE: return "a number";
    case dom::element_type::STRING: return "a string";
    case dom::element_type::BOOL: return "a boolean";
    case dom::element_type::NULL_VALUE: return "null";
  }
  return "a value";
}

Result<ParamValue> paramValue(const dom::element& v, std::string_view key) {
  switch (v.type()) {
    case dom::element_type::BOOL: return ParamValue(bool(v.get_bool().value_unsafe()));
    case dom::element_type::INT64: return ParamValue(int64_t(v.get_int64().value_unsafe()));
    case dom::element_type::UINT64: {
      uint64_t u = v.get_uint64().value_unsafe();
      if (u > uint64_t(std::numeric_limits<int64_t>::max())) return InvalidArgument("parameter '{}' is too large", key);
      return ParamValue(int64_t(u));
    }
    case dom::element_type::DOUBLE: return ParamValue(fmt::format("{}", v.get_double().value_unsafe()));
    case dom::element_type::STRING: return ParamValue(std::string(v.get_string().value_unsafe()));
    default: return InvalidArgument("parameter '{}' must be a boolean, number or string, not {}", key, jsonType(v));
  }
}

Result<Params> parseParams(const dom::element& e, const std::string& where) {
  dom::object obj;
  if (e.get_object().get(obj)) return InvalidArgument("{}: 'parameters' must be an object, not {}", where, jsonType(e));
  Params out;
  for (auto [k, v] : obj) {
    auto pv = paramValue(v, k);
    if (!pv.ok()) return std::move(pv).takeStatus().withContext(where);
    out[std::string(k)] = std::move(*pv);
  }
  return out;
}

Result<bool> boolParam(const Params& p, const char* key, const std::string& where) {
  auto it = p.find(key);
  if (it == p.end()) return false;
  if (const bool* b = std::get_if<bool>(&it->second)) return *b;
  return InvalidArgument("{}: parameter '{}' must be a boolean", where, key);
}

Result<int64_t> intParam(const Params& p, const char* key, const std::string& where, int64_t dflt) {
  auto it = p.find(key);
  if (it == p.end()) return dflt;
  const int64_t* v = std::get_if<int64_t>(&it->second);
  if (!v || *v < 0) return InvalidArgument("{}: parameter '{}' must be a non-negative integer", where, key);
  return *v;
}

// Stores JSON elements into a tensor, flattening nested arrays in row-major order.
struct Filler {
  Tensor* t;
  int64_t at = 0;
  int64_t count = 0;  // capacity (numel)
  std::string name;
  Status error;

  template <typename T>
  bool put(T v) {
    if (at >= count) {
      error = InvalidArgument("input '{}': its data has more elements than its shape holds ({})", name, count);
      return false;
    }
    t->data<T>()[at++] = v;
    return true;
  }

  template <typename T>
  bool integer(const dom::element& e) {
    int64_t v = 0;
    if (e.is_int64()) {
      v = e.get_int64().value_unsafe();
    } else if (e.is_uint64()) {
      uint64_t u = e.get_uint64().value_unsafe();
      if (std::is_same_v<T, uint64_t>) return put<T>(static_cast<T>(u));
      error = InvalidArgument("input '{}': element {} = {} is out of range for {}", name, at, u, kserveDatatype(dtypeOf<T>));
      return false;
    } else {
      error = InvalidArgument("input '{}': element {} is {}, expected an integer for {}", name, at, jsonType(e),
                              kserveDatatype(dtypeOf<T>));
      return false;
    }
    if (v < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
        (v > 0 && static_cast<uint64_t>(v) > static_cast<uint64_t>(std::numeric_limits<T>::max()))) {
      error = InvalidArgument("input '{}': element {} = {} is out of range for {}", name, at, v, kserveDatatype(dtypeOf<T>));
      return false;
    }
    return put<T>(static_cast<T>(v));
  }

  bool leaf(const dom::element& e) {
    switch (t->dtype()) {
      case DType::kFloat32:
      case DType::kFloat64: {
        double d;
        if (e.is_int64()) d = static_cast<double>(e.get_int64().value_unsafe());
        else if (e.is_uint64()) d = static_cast<double>(e.get_uint64().value_unsafe());
        else if (e.is_double()) d = e.get_double().value_unsafe();
        else {
          error = InvalidArgument("input '{}': element {} is {}, expected a number", name, at, jsonType(e));
          return false;
        }
        return t->dtype() == DType::kFloat32 ? put<float>(static_cast<float>(d)) : put<double>(d);
      }
      case DType::kBool:
        if (!e.is_bool()) {
          error = InvalidArgument("input '{}': element {} is {}, expected true or false for BOOL", name, at, jsonType(e));
          return false;
        }
        return put<bool>(e.get_bool().value_unsafe());
      case DType::kString:
        if (!e.is_string()) {
          error = InvalidArgument("input '{}': element {} is {}, expected a string for BYTES", name, at, jsonType(e));
          return false;
        }
        return put<std::string>(std::string(e.get_string().value_unsafe()));
      case DType::kInt8: return integer<int8_t>(e);
      case DType::kInt16: return integer<int16_t>(e);
      case DType::kInt32: return integer<int32_t>(e);
      case DType::kInt64: return integer<int64_t>(e);
      case DType::kUInt8: return integer<uint8_t>(e);
      case DType::kUInt16: return integer<uint16_t>(e);
      case DType::kUInt32: return integer<uint32_t>(e);
      case DType::kUInt64: return integer<uint64_t>(e);
      default:
        error = InvalidArgument("input '{}': datatype {} cannot be sent as JSON data; use binary tensor data", name,
                                kserveDatatype(t->dtype()));
        return false;
    }
  }

  bool walk(const dom::element& e) {
    if (e.is_array()) {
      for (dom::element x : dom::array(e))
        if (!walk(x)) return false;
      return true;
    }
    return leaf(e);
  }
};

// Counts leaf elements (so a wrong count is reported before anything is stored).
int64_t countLeaves(const dom::element& e) {
  if (!e.is_array()) return 1;
  int64_t n = 0;
  for (dom::element x : dom::array(e)) n += countLeaves(x);
  return n;
}

Result<Dims> parseShape(const dom::element& e, const std::string& name, int64_t* numel) {
  dom::array arr;
  if (e.get_array().get(arr)) return InvalidArgument("input '{}': 'shape' must be an array of integers", name);
  if (arr.size() > static_cast<size_t>(kMaxRank))
    return InvalidArgument("input '{}': shape has {} dims, more than the maximum of {}", name, arr.size(), kMaxRank);
  Dims d;
  int64_t n = 1;
  constexpr int64_t kLimit = int64_t(1) << 50;  // keeps n * element size far from overflow
  for (dom::element x : arr) {
    int64_t v;
    if (x.is_int64()) v = x.get_int64().value_unsafe();
    else return InvalidArgument("input '{}': shape entries must be non-negative integers, got {}", name, jsonType(x));
    if (v < 0) return InvalidArgument("input '{}': shape entry {} is negative", name, v);
    d.push_back(v);
    n = (v != 0 && n > kLimit / v) ? kLimit + 1 : n * v;
  }
  if (n > kLimit) return InvalidArgument("input '{}': shape {} has too many elements", name, d.toString());
  *numel = n;
  return d;
}

// Binary bytes -> tensor. BYTES: each element is a 4-byte little-endian length and its bytes.
Result<Tensor> fromBinary(DType dt, const Dims& shape, int64_t numel, const char* p, size_t n, const std::string& name) {
  if (dt == DType::kString) {
    Tensor t = Tensor::allocate(dt, Dims{numel});
    size_t at = 0;
    for (int64_t i = 0; i < numel; ++i) {
      if (n - at < 4) return InvalidArgument("input '{}': binary BYTES data ends inside element {}'s length", name, i);
      uint32_t len;
      std::memcpy(&len, p + at, 4);
      at += 4;
      if (len > n - at) return InvalidArgument("input '{}': binary BYTES element {} claims {} bytes, only {} remain", name, i, len, n - at);
      t.data<std::string>()[i].assign(p + at, len);
      at += len;
    }
    if (at != n) return InvalidArgument("input '{}': {} bytes of binary BYTES data are left over after {} elements", name, n - at, numel);
    return t.reshaped(shape);
  }
  size_t need = static_cast<size_t>(numel) * dtypeSize(dt);
  if (n != need)
    return InvalidArgument("input '{}': binary_data_size is {} bytes, but shape {} of {} needs {}", name, n, shape.toString(),
                           kserveDatatype(dt), need);
  Tensor t = Tensor::allocate(dt, shape);
  if (n) std::memcpy(t.raw(), p, n);
  return t;
}

Status parseInput(const dom::element& e, size_t index, const std::string& body, size_t* binaryAt, InferTensor* out) {
  dom::object obj;
  if (e.get_object().get(obj)) return InvalidArgument("inputs[{}] must be an object", index);
  std::string_view name;
  if (obj["name"].get_string().get(name)) return InvalidArgument("inputs[{}] has no 'name' string", index);
  out->name = std::string(name);
  std::string where = fmt::format("input '{}'", out->name);
  std::string_view dtName;
  if (obj["datatype"].get_string().get(dtName)) return InvalidArgument("{} has no 'datatype' string", where);
  if (!parseKserveDatatype(dtName, &out->dtype))
    return InvalidArgument("{}: unknown datatype {}", where, quoteForMessage(dtName));
  dom::element shapeEl;
  if (obj["shape"].get(shapeEl)) return InvalidArgument("{} has no 'shape'", where);
  int64_t numel = 0;
  KILN_ASSIGN_OR_RETURN(out->shape, parseShape(shapeEl, out->name, &numel));
  dom::element paramsEl;
  if (!obj["parameters"].get(paramsEl)) {
    KILN_ASSIGN_OR_RETURN(out->parameters, parseParams(paramsEl, where));
  }
  auto bin = out->parameters.find("binary_data_size");
  dom::element data;
  bool hasData = !obj["data"].get(data);
  if (usesSharedMemory(out->parameters)) {
    if (hasData || bin != out->parameters.end())
      return InvalidArgument("{} has its data in shared memory (shared_memory_region) and also in the request "
                             "('data' or binary_data_size); send one", where);
    return Status::OK();  // the server binds the region's bytes (core/shared_memory_io.h)
  }
  if (bin != out->parameters.end()) {
    const int64_t* size = std::get_if<int64_t>(&bin->second);
    if (!size || *size < 0) return InvalidArgument("{}: binary_data_size must be a non-negative integer", where);
    if (hasData) return InvalidArgument("{} has both 'data' and binary_data_size", where);
    size_t remaining = body.size() - *binaryAt;
    if (static_cast<uint64_t>(*size) > remaining)
      return InvalidArgument("{}: binary_data_size is {} bytes but only {} bytes of binary data remain in the body (truncated request?)",
                             where, *size, remaining);
    KILN_ASSIGN_OR_RETURN(out->data, fromBinary(out->dtype, out->shape, numel, body.data() + *binaryAt,
                                                static_cast<size_t>(*size), out->name));
    *binaryAt += static_cast<size_t>(*size);
    out->parameters.erase(bin);
    return Status::OK();
  }
  if (!hasData) return InvalidArgument("{} has neither 'data' nor a binary_data_size parameter", where);
  if (out->dtype == DType::kFloat16 || out->dtype == DType::kBFloat16)
    return InvalidArgument("{}: datatype {} is only supported as binary tensor data (binary_data_size)", where, dtName);
  int64_t leaves = countLeaves(data);
  if (leaves != numel)
    return InvalidArgument("{}: 'data' has {} elements but shape {} needs {}", where, leaves, out->shape.toString(), numel);
  Tensor t = Tensor::allocate(out->dtype, out->shape);
  Filler f{&t, 0, numel, out->name, Status::OK()};
  if (!f.walk(data)) return f.error;
  out->data = std::move(t);
  return Status::OK();
}

}  // namespace

Result<ParsedInfer> parseInferRequest(std::shared_ptr<const std::string> bodyPtr, const std::string* headerLength) {
  const std::string& body = *bodyPtr;
  size_t jsonLen = body.size();
  if (headerLength) {
    uint64_t v = 0;
    const char* b = headerLength->data();
    const char* e = b + headerLength->size();
    auto [p, ec] = std::from_chars(b, e, v);
    if (ec != std::errc() || p != e || headerLength->empty())
      return InvalidArgument("Inference-Header-Content-Length {} is not a non-negative integer", quoteForMessage(*headerLength));
    if (v > body.size())
      return InvalidArgument("Inference-Header-Content-Length is {} but the body has only {} bytes", v, body.size());
    if (v == 0) return InvalidArgument("Inference-Header-Content-Length is 0: the JSON part of the request is missing");
    jsonLen = static_cast<size_t>(v);
  }
  dom::element doc;
  if (auto err = threadParser().parse(body.data(), jsonLen, true).get(doc))
    return InvalidArgument("failed to parse the request JSON: {}", simdjson::error_message(err));
  dom::object root;
  if (doc.get_object().get(root)) return InvalidArgument("the request JSON must be an object");

  ParsedInfer out;
  out.request = std::make_unique<InferRequest>();
  InferRequest& req = *out.request;
  std::string_view id;
  if (auto idEl = root["id"]; !idEl.error()) {
    if (idEl.get_string().get(id)) return InvalidArgument("'id' must be a string");
    req.id = std::string(id);
  }
  dom::element params;
  if (!root["parameters"].get(params)) {
    KILN_ASSIGN_OR_RETURN(req.parameters, parseParams(params, "request"));
    KILN_ASSIGN_OR_RETURN(out.encoding.binaryByDefault, boolParam(req.parameters, "binary_data_output", "request"));
    KILN_ASSIGN_OR_RETURN(int64_t prio, intParam(req.parameters, "priority", "request", 0));
    if (prio > std::numeric_limits<uint32_t>::max()) return InvalidArgument("request priority {} is too large", prio);
    req.priority = static_cast<uint32_t>(prio);
    KILN_ASSIGN_OR_RETURN(int64_t timeout, intParam(req.parameters, "timeout", "request", 0));
    req.timeoutUs = static_cast<uint64_t>(timeout);
    for (const char* k : {"sequence_id", "sequence_start", "sequence_end"})
      if (req.parameters.count(k)) return Unsupported("request parameter '{}': Kiln serves stateless models only", k);
  }

  dom::array inputs;
  if (root["inputs"].get_array().get(inputs)) return InvalidArgument("the request has no 'inputs' array");
  size_t binaryAt = jsonLen;
  size_t i = 0;
  req.inputs.resize(inputs.size());
  for (dom::element in : inputs) {
    KILN_RETURN_IF_ERROR(parseInput(in, i, body, &binaryAt, &req.inputs[i]));
    ++i;
  }
  if (binaryAt != body.size()) {
    if (!headerLength)
      return InvalidArgument("the body has {} bytes after the JSON; binary tensor data needs the Inference-Header-Content-Length header",
                             body.size() - jsonLen);
    return InvalidArgument("the body has {} bytes of binary data that no input's binary_data_size accounts for",
                           body.size() - binaryAt);
  }

  dom::element outputsEl;
  if (!root["outputs"].get(outputsEl)) {
    dom::array outs;
    if (outputsEl.get_array().get(outs)) return InvalidArgument("'outputs' must be an array");
    for (dom::element o : outs) {
      dom::object oo;
      std::string_view name;
      if (o.get_object().get(oo) || oo["name"].get_string().get(name))
        return InvalidArgument("each entry of 'outputs' must be an object with a 'name' string");
      RequestedOutput ro;
      ro.name = std::string(name);
      std::string where = fmt::format("output '{}'", ro.name);
      dom::element op;
      if (!oo["parameters"].get(op)) {
        KILN_ASSIGN_OR_RETURN(ro.parameters, parseParams(op, where));
      }
      if (ro.parameters.count("classification"))
        return Unsupported("{}: the classification extension is not supported by kiln serve", where);
      if (ro.parameters.count("binary_data")) {
        KILN_ASSIGN_OR_RETURN(bool b, boolParam(ro.parameters, "binary_data", where));
        out.encoding.perOutput.emplace_back(ro.name, b);
      }
      req.outputs.push_back(std::move(ro));
    }
  }
  return out;
}

namespace {

void appendJsonString(std::string& s, std::string_view v) {
  s += '"';
  for (unsigned char c : v) {
    if (c == '"') s += "\\\"";
    else if (c == '\\') s += "\\\\";
    else if (c < 0x20) s += fmt::format("\\u{:04x}", c);
    else s += static_cast<char>(c);
  }
  s += '"';
}

template <typename T>
void appendNumbers(std::string& s, const Tensor& t) {
  auto out = std::back_inserter(s);
  const T* p = t.data<T>();
  int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) {
    if (i) s += ',';
    if constexpr (std::is_floating_point_v<T>) {
      // JSON has no NaN/Infinity; Python's json (tritonclient) reads these spellings.
      if (std::isnan(p[i])) s += "NaN";
      else if (std::isinf(p[i])) s += p[i] > 0 ? "Infinity" : "-Infinity";
      else fmt::format_to(out, "{}", p[i]);
    } else {
      fmt::format_to(out, "{}", +p[i]);
    }
  }
}

Status appendJsonData(std::string& s, const InferTensor& o) {
  const Tensor& t = o.data;
  switch (t.dtype()) {
    case DType::kFloat32: appendNumbers<float>(s, t); break;
    case DType::kFloat64: appendNumbers<double>(s, t); break;
    case DType::kInt8: appendNumbers<int8_t>(s, t); break;
    case DType::kInt16: appendNumbers<int16_t>(s, t); break;
    case DType::kInt32: appendNumbers<int32_t>(s, t); break;
    case DType::kInt64: appendNumbers<int64_t>(s, t); break;
    case DType::kUInt8: appendNumbers<uint8_t>(s, t); break;
    case DType::kUInt16: appendNumbers<uint16_t>(s, t); break;
    case DType::kUInt32: appendNumbers<uint32_t>(s, t); break;
    case DType::kUInt64: appendNumbers<uint64_t>(s, t); break;
    case DType::kBool:
      for (int64_t i = 0; i < t.numel(); ++i) s += (i ? "," : ""), s += t.data<bool>()[i] ? "true" : "false";
      break;
    case DType::kString:
      for (int64_t i = 0; i < t.numel(); ++i) {
        if (i) s += ',';
        appendJsonString(s, t.data<std::string>()[i]);
      }
      break;
    default:
      return InvalidArgument("output '{}' has datatype {}, which can only be returned as binary data: request it with "
                             "\"parameters\": {{\"binary_data\": true}}", o.name, kserveDatatype(t.dtype()));
  }
  return Status::OK();
}

void appendBinary(std::string& bin, const Tensor& t) {
  if (t.dtype() == DType::kString) {
    for (const auto& e : t.span<std::string>()) {
      uint32_t n = static_cast<uint32_t>(e.size());
      bin.append(reinterpret_cast<const char*>(&n), 4);
      bin.append(e);
    }
    return;
  }
  bin.append(static_cast<const char*>(t.raw()), t.nbytes());
}

void appendParams(std::string& s, const Params& p) {
  s += '{';
  bool first = true;
  for (const auto& [k, v] : p) {
    if (!first) s += ',';
    first = false;
    appendJsonString(s, k);
    s += ':';
    if (const bool* b = std::get_if<bool>(&v)) s += *b ? "true" : "false";
    else if (const int64_t* i = std::get_if<int64_t>(&v)) s += std::to_string(*i);
    else appendJsonString(s, std::get<std::string>(v));
  }
  s += '}';
}

}  // namespace

Response encodeInferResponse(const InferResponse& resp, const OutputEncoding& enc) {
  if (!resp.status.ok()) return statusResponse(resp.status);
  std::string json;
  json.reserve(256);
  json += "{\"model_name\":";
  appendJsonString(json, resp.model);
  json += ",\"model_version\":";
  appendJsonString(json, resp.version);
  if (!resp.id.empty()) {
    json += ",\"id\":";
    appendJsonString(json, resp.id);
  }
  if (!resp.parameters.empty()) {
    json += ",\"parameters\":";
    appendParams(json, resp.parameters);
  }
  json += ",\"outputs\":[";
  std::string binary;
  bool anyBinary = false;
  for (size_t i = 0; i < resp.outputs.size(); ++i) {
    const InferTensor& o = resp.outputs[i];
    if (i) json += ',';
    json += "{\"name\":";
    appendJsonString(json, o.name);
    json += ",\"datatype\":\"";
    json += kserveDatatype(o.dtype);
    json += "\",\"shape\":[";
    for (int d = 0; d < o.shape.rank(); ++d) json += (d ? "," : "") + std::to_string(o.shape[d]);
    json += ']';
    if (o.inSharedMemory) {
      // Its data is in the client's region already; Triton sends neither data nor parameters.
      json += '}';
    } else if (enc.binaryFor(o.name)) {
      anyBinary = true;
      size_t before = binary.size();
      appendBinary(binary, o.data);
      json += fmt::format(",\"parameters\":{{\"binary_data_size\":{}}}}}", binary.size() - before);
    } else {
      json += ",\"data\":[";
      Status st = appendJsonData(json, o);
      if (!st.ok()) return statusResponse(st);
      json += "]}";
    }
  }
  json += "]}";
  Response r;
  if (!anyBinary) {
    r.body = std::move(json);
    return r;
  }
  r.contentType = "application/octet-stream";
  r.headers.emplace_back("Inference-Header-Content-Length", std::to_string(json.size()));
  r.body = std::move(json);
  r.body += binary;
  return r;
}

}  // namespace kiln::serve::http

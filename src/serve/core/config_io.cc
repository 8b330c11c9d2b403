// ModelConfig text/JSON conversion.
#include "serve/core/config_io.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>

namespace kiln::serve {

namespace pb = google::protobuf;

namespace {

// Collects the first parse error with its position (protobuf reports 0-based line/column).
class ErrorCollector : public pb::io::ErrorCollector {
 public:
  void AddError(int line, pb::io::ColumnNumber column, const std::string& message) override {
    if (first.empty()) first = fmt::format("line {}, column {}: {}", line + 1, column + 1, message);
  }
  void AddWarning(int, pb::io::ColumnNumber, const std::string&) override {}
  std::string first;
};

bool is64Bit(const pb::FieldDescriptor* f) {
  switch (f->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_INT64:
    case pb::FieldDescriptor::CPPTYPE_UINT64:
      return true;
    default:
      return false;
  }
}

nlohmann::json unquote(const nlohmann::json& v, const pb::FieldDescriptor* f) {
  if (v.is_string() && is64Bit(f)) {
    const std::string& s = v.get_ref<const std::string&>();
    try {
      if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_INT64) return std::stoll(s);
      return std::stoull(s);
    } catch (...) {
      return v;
    }
  }
  return v;
}

void fixInt64(nlohmann::json& j, const pb::Descriptor* d);

// Fixes one field's JSON value: numbers for 64-bit integers, recursion into messages and maps.
void fixField(nlohmann::json& v, const pb::FieldDescriptor* f) {
  if (f->is_map()) {
    const pb::FieldDescriptor* valueField = f->message_type()->FindFieldByName("value");
    if (!v.is_object()) return;
    for (auto& [k, mv] : v.items()) fixField(mv, valueField);
    return;
  }
  auto one = [&](nlohmann::json& x) {
    if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) fixInt64(x, f->message_type());
    else x = unquote(x, f);
  };
  if (f->is_repeated() && v.is_array()) {
    for (auto& x : v) one(x);
  } else {
    one(v);
  }
}

void fixInt64(nlohmann::json& j, const pb::Descriptor* d) {
  if (!j.is_object()) return;
  for (auto& [key, v] : j.items()) {
    const pb::FieldDescriptor* f = d->FindFieldByName(key);
    for (int i = 0; !f && i < d->field_count(); ++i)  // camelCase keys (protobuf 3.21 has no lookup)
      if (d->field(i)->json_name() == key) f = d->field(i);
    if (f) fixField(v, f);
  }
}

}  // namespace

Result<inference::ModelConfig> parseConfigText(const std::string& text, const std::string& where) {
  inference::ModelConfig cfg;
  pb::TextFormat::Parser parser;
  ErrorCollector errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text, &cfg))
    return InvalidArgument("{}: {}", where, errors.first.empty() ? "not a valid ModelConfig" : errors.first);
  return cfg;
}

Result<inference::ModelConfig> parseConfigJson(const std::string& json) {
  inference::ModelConfig cfg;
  pb::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = false;
  auto st = pb::util::JsonStringToMessage(json, &cfg, opts);
  if (!st.ok()) return InvalidArgument("model config JSON: {}", std::string(st.message()));
  return cfg;
}

std::string configToJson(const inference::ModelConfig& config) {
  pb::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  opts.always_print_primitive_fields = true;
  std::string out;
  (void)pb::util::MessageToJsonString(config, &out, opts);
  nlohmann::json j = nlohmann::json::parse(out, nullptr, false);
  if (j.is_discarded()) return out;
  fixInt64(j, inference::ModelConfig::descriptor());
  return j.dump();
}

}  // namespace kiln::serve

// Translation between the gRPC messages of inference.GRPCInferenceService and the protocol-free
// InferenceServer types. No I/O and no gRPC runtime here (only the generated message classes and
// grpc::Status), so unit tests exercise every rule without a server.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/support/status.h>

#include "grpc_service.pb.h"
#include "kiln/status.h"
#include "serve/inference_server.h"

namespace kiln::serve::grpcfe {

// Kiln status code -> gRPC status code, following Triton's mapping (invalid argument ->
// INVALID_ARGUMENT, not found -> NOT_FOUND, unavailable/queue full -> UNAVAILABLE, unsupported ->
// UNIMPLEMENTED, internal -> INTERNAL). The message is kept as is. Which code a condition gets is
// the server's choice, made once for HTTP and gRPC alike (an unknown model is InvalidArgument, as
// in Triton's current core).
grpc::Status toGrpcStatus(const Status& s);

// Builds an InferRequest from a ModelInferRequest. Takes the request's raw tensor bytes by move
// (zero copy: the tensors wrap the moved strings), so `msg` must not be used for tensor data
// afterwards. Every refusal is InvalidArgument and names the input and what is wrong: unknown
// datatype, negative dims, rank over the limit, raw and typed contents mixed, a raw byte count or
// typed element count that does not match the shape, malformed BYTES elements, out-of-range
// typed values, unsupported parameter types. An input whose parameters name a shared-memory
// region gets no data here and no raw_input_contents entry (the entries are those of the other
// inputs, in order); the server binds the region. `complete` is left for the caller to set.
Result<std::unique_ptr<InferRequest>> fromInferRequest(inference::ModelInferRequest& msg);

// Fills a ModelInferResponse from a successful InferResponse; every output goes to
// raw_output_contents (BYTES elements as 4-byte little-endian length + bytes), one written to
// shared memory as an empty entry. Fails (Internal) only for an output whose dtype has no KServe
// datatype.
Status toInferResponse(const InferResponse& r, inference::ModelInferResponse* msg);

// Request/response parameter maps.
Status paramsFromProto(const google::protobuf::Map<std::string, inference::InferParameter>& in, Params* out,
                       std::string_view where);
void paramsToProto(const Params& in, google::protobuf::Map<std::string, inference::InferParameter>* out);

void toModelStatistics(const ModelStatistics& s, inference::ModelStatistics* msg);

}  // namespace kiln::serve::grpcfe

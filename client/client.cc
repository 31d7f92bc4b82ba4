#include "client/client.h"

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/channel_arguments.h>
#include <grpcpp/support/status.h>

#include <algorithm>
#include <climits>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/wire_format_lite.h"
#include "poolcat/v1/poolcat.grpc.pb.h"
#include "poolcat/v1/poolcat.pb.h"

namespace poolcat {
namespace {

namespace pb = ::poolcat::v1;

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  // grpc::StatusCode and absl::StatusCode share their numbering (both follow
  // google.rpc.Code), so the code crosses unchanged.
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

pb::DType ToProtoDType(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return pb::DTYPE_FLOAT32;
    case DType::kFloat64:
      return pb::DTYPE_FLOAT64;
    case DType::kBFloat16:
      return pb::DTYPE_BFLOAT16;
    case DType::kFloat16:
      return pb::DTYPE_FLOAT16;
    case DType::kInt8:
      return pb::DTYPE_INT8;
    case DType::kUInt8:
      return pb::DTYPE_UINT8;
    case DType::kInt16:
      return pb::DTYPE_INT16;
    case DType::kInt32:
      return pb::DTYPE_INT32;
    case DType::kInt64:
      return pb::DTYPE_INT64;
    case DType::kBool:
      return pb::DTYPE_BOOL;
  }
  return pb::DTYPE_UNSPECIFIED;
}

std::optional<DType> FromProtoDType(pb::DType dtype) {
  switch (dtype) {
    case pb::DTYPE_FLOAT32:
      return DType::kFloat32;
    case pb::DTYPE_FLOAT64:
      return DType::kFloat64;
    case pb::DTYPE_BFLOAT16:
      return DType::kBFloat16;
    case pb::DTYPE_FLOAT16:
      return DType::kFloat16;
    case pb::DTYPE_INT8:
      return DType::kInt8;
    case pb::DTYPE_UINT8:
      return DType::kUInt8;
    case pb::DTYPE_INT16:
      return DType::kInt16;
    case pb::DTYPE_INT32:
      return DType::kInt32;
    case pb::DTYPE_INT64:
      return DType::kInt64;
    case pb::DTYPE_BOOL:
      return DType::kBool;
    default:
      return std::nullopt;
  }
}

void ToProtoTensor(const Tensor& tensor, pb::Tensor* out) {
  out->set_dtype(ToProtoDType(tensor.dtype()));
  out->mutable_shape()->Assign(tensor.shape().begin(), tensor.shape().end());
  out->set_data(tensor.bytes().data(), tensor.bytes().size());
}

// A reply the server built is still checked: a bad one (wrong byte count,
// unknown dtype) is a server bug, reported as INTERNAL naming the field.
absl::StatusOr<Tensor> FromProtoTensor(const pb::Tensor& tensor,
                                       absl::string_view what) {
  std::optional<DType> dtype = FromProtoDType(tensor.dtype());
  if (!dtype.has_value()) {
    return absl::InternalError(absl::StrCat("server reply: ", what,
                                            ".dtype is not a known dtype, got ",
                                            static_cast<int>(tensor.dtype())));
  }
  std::vector<int64_t> shape(tensor.shape().begin(), tensor.shape().end());
  absl::StatusOr<Tensor> out =
      Tensor::FromBytes(*dtype, std::move(shape), tensor.data());
  if (!out.ok()) {
    return absl::InternalError(
        absl::StrCat("server reply: ", what, ": ", out.status().message()));
  }
  return out;
}

void ToProtoPoolRequest(absl::string_view op, const Tensor& input,
                        const PoolArgs& args, bool return_indices,
                        pb::PoolRequest* request) {
  request->set_op(std::string(op));
  ToProtoTensor(input, request->mutable_input());
  request->mutable_kernel_size()->Assign(args.kernel_size.begin(),
                                         args.kernel_size.end());
  request->mutable_stride()->Assign(args.stride.begin(), args.stride.end());
  request->mutable_padding()->Assign(args.padding.begin(), args.padding.end());
  request->mutable_dilation()->Assign(args.dilation.begin(),
                                      args.dilation.end());
  request->set_ceil_mode(args.ceil_mode);
  request->set_count_include_pad(args.count_include_pad);
  if (args.divisor_override.has_value()) {
    request->set_divisor_override(*args.divisor_override);
  }
  request->set_norm_type(args.norm_type);
  request->mutable_output_size()->Assign(args.output_size.begin(),
                                         args.output_size.end());
  request->set_channels_last(args.channels_last);
  request->set_return_indices(return_indices);
}

// Durations in service config JSON are decimal seconds with an "s" suffix.
std::string JsonDuration(absl::Duration d) {
  return absl::StrFormat("%.9fs", absl::ToDoubleSeconds(d));
}

bool IsMultiAddressTarget(absl::string_view target) {
  return absl::StrContains(target, ',');
}

// grpc.health.v1 has no generated C++ stub in Debian's gRPC packages, and
// defining the proto here again could collide with a copy linked elsewhere
// in the same binary. Its two messages are one field each, so they are
// encoded by hand:
//   HealthCheckRequest  { string service = 1; }
//   HealthCheckResponse { ServingStatus status = 1; }
constexpr char kHealthCheckMethod[] = "/grpc.health.v1.Health/Check";

std::string EncodeHealthCheckRequest(absl::string_view service) {
  std::string out;
  if (service.empty()) return out;  // proto3 omits default values
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  google::protobuf::internal::WireFormatLite::WriteString(
      1, std::string(service), &coded);
  coded.Trim();
  return out;
}

absl::StatusOr<ServingStatus> DecodeHealthCheckResponse(
    const std::string& bytes) {
  using google::protobuf::internal::WireFormatLite;
  google::protobuf::io::CodedInputStream coded(
      reinterpret_cast<const uint8_t*>(bytes.data()),
      static_cast<int>(bytes.size()));
  uint32_t status = 0;  // proto3: an absent field is UNKNOWN
  while (true) {
    uint32_t tag = coded.ReadTag();
    if (tag == 0) break;
    if (WireFormatLite::GetTagFieldNumber(tag) == 1 &&
        WireFormatLite::GetTagWireType(tag) ==
            WireFormatLite::WIRETYPE_VARINT) {
      if (!coded.ReadVarint32(&status)) {
        return absl::InternalError("health reply: truncated status field");
      }
    } else if (!WireFormatLite::SkipField(&coded, tag)) {
      return absl::InternalError("health reply: malformed message");
    }
  }
  switch (status) {
    case 1:
      return ServingStatus::kServing;
    case 2:
      return ServingStatus::kNotServing;
    case 3:
      return ServingStatus::kServiceUnknown;
    default:
      return ServingStatus::kUnknown;
  }
}

}  // namespace

void Cancellation::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  for (grpc::ClientContext* context : contexts_) context->TryCancel();
}

bool Cancellation::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

bool Cancellation::Attach(grpc::ClientContext* context) {
  absl::MutexLock lock(&mu_);
  if (cancelled_) return false;
  contexts_.push_back(context);
  return true;
}

void Cancellation::Detach(grpc::ClientContext* context) {
  absl::MutexLock lock(&mu_);
  contexts_.erase(std::remove(contexts_.begin(), contexts_.end(), context),
                  contexts_.end());
}

absl::string_view ServingStatusName(ServingStatus status) {
  switch (status) {
    case ServingStatus::kServing:
      return "SERVING";
    case ServingStatus::kNotServing:
      return "NOT_SERVING";
    case ServingStatus::kServiceUnknown:
      return "SERVICE_UNKNOWN";
    case ServingStatus::kUnknown:
      break;
  }
  return "UNKNOWN";
}

std::string ServiceConfigJson(const ClientOptions& options) {
  std::string lb = options.load_balancing_policy;
  if (lb.empty()) {
    lb = IsMultiAddressTarget(options.target) ? "round_robin" : "pick_first";
  }
  std::string config =
      absl::StrCat(R"({"loadBalancingConfig":[{")", lb, R"(":{}}])");
  // gRPC refuses a retryPolicy with fewer than 2 attempts; one attempt
  // simply means no policy.
  if (options.retry.max_attempts >= 2) {
    absl::StrAppend(
        &config, R"(,"methodConfig":[{"name":[)",
        R"({"service":"poolcat.v1.PoolCat"},{"service":"grpc.health.v1.Health"}],)",
        R"("retryPolicy":{"maxAttempts":)", options.retry.max_attempts,
        R"(,"initialBackoff":")", JsonDuration(options.retry.initial_backoff),
        R"(","maxBackoff":")", JsonDuration(options.retry.max_backoff),
        R"(","backoffMultiplier":)",
        absl::StrFormat("%g", options.retry.backoff_multiplier),
        R"(,"retryableStatusCodes":["UNAVAILABLE"]}}])");
  }
  absl::StrAppend(&config, "}");
  return config;
}

struct Client::Channel {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::PoolCat::Stub> stub;
  std::unique_ptr<grpc::GenericStub> generic;
};

namespace client_internal {

// Sets the deadline and hooks up cancellation for one call; undoes the hook
// when the call is over.
class CallScope {
 public:
  CallScope(const ClientOptions& options, const CallOptions& call)
      : cancellation_(call.cancellation) {
    absl::Duration deadline = call.deadline.value_or(options.default_deadline);
    if (deadline != absl::InfiniteDuration()) {
      context_.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
    }
    if (cancellation_ != nullptr) attached_ = cancellation_->Attach(&context_);
  }
  ~CallScope() {
    if (attached_) cancellation_->Detach(&context_);
  }
  CallScope(const CallScope&) = delete;
  CallScope& operator=(const CallScope&) = delete;

  grpc::ClientContext* context() { return &context_; }
  // A call whose Cancellation fired before it started is not sent at all.
  bool cancelled_before_start() const {
    return cancellation_ != nullptr && !attached_;
  }

 private:
  grpc::ClientContext context_;
  Cancellation* cancellation_;
  bool attached_ = false;
};

}  // namespace client_internal

namespace {

using client_internal::CallScope;

absl::Status CancelledBeforeStart() {
  return absl::CancelledError("call cancelled before it was sent");
}

}  // namespace

absl::StatusOr<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  if (options.target.empty()) {
    return absl::InvalidArgumentError("target must not be empty");
  }
  if (options.max_message_bytes <= 0 || options.max_message_bytes > INT_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_message_bytes must be in [1, ", INT_MAX, "], got ",
                     options.max_message_bytes));
  }
  if (options.retry.max_attempts < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "retry.max_attempts must be >= 1, got ", options.retry.max_attempts));
  }
  if (options.retry.initial_backoff <= absl::ZeroDuration() ||
      options.retry.max_backoff <= absl::ZeroDuration() ||
      !(options.retry.backoff_multiplier > 0)) {
    return absl::InvalidArgumentError(
        "retry backoffs and backoff_multiplier must be > 0");
  }
  if (options.default_deadline <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("default_deadline must be > 0, got ",
                     absl::FormatDuration(options.default_deadline)));
  }
  const TlsOptions& tls = options.tls;
  if (tls.client_cert_pem.empty() != tls.client_key_pem.empty()) {
    return absl::InvalidArgumentError(
        "tls.client_cert_pem and tls.client_key_pem must be given together");
  }
  if (!tls.enabled &&
      (!tls.root_ca_pem.empty() || !tls.client_cert_pem.empty() ||
       !tls.server_name_override.empty())) {
    return absl::InvalidArgumentError(
        "TLS certificates or server_name_override given but tls.enabled is "
        "false");
  }

  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (tls.enabled) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = tls.root_ca_pem;
    ssl.pem_cert_chain = tls.client_cert_pem;
    ssl.pem_private_key = tls.client_key_pem;
    credentials = grpc::SslCredentials(ssl);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }

  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(static_cast<int>(options.max_message_bytes));
  args.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
  args.SetServiceConfigJSON(ServiceConfigJson(options));
  if (options.own_connection) {
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  }
  if (!tls.server_name_override.empty()) {
    args.SetSslTargetNameOverride(tls.server_name_override);
  }

  auto channel = std::make_unique<Channel>();
  channel->channel =
      grpc::CreateCustomChannel(options.target, credentials, args);
  channel->stub = pb::PoolCat::NewStub(channel->channel);
  channel->generic = std::make_unique<grpc::GenericStub>(channel->channel);
  return std::unique_ptr<Client>(
      new Client(std::move(options), std::move(channel)));
}

Client::Client(ClientOptions options, std::unique_ptr<Channel> channel)
    : options_(std::move(options)), channel_(std::move(channel)) {}

Client::~Client() = default;

absl::StatusOr<Tensor> Client::Pool(absl::string_view op, const Tensor& input,
                                    const PoolArgs& args,
                                    const CallOptions& call) {
  PoolArgs no_indices = args;
  no_indices.return_indices = false;
  absl::StatusOr<PoolResult> result =
      PoolWithIndices(op, input, no_indices, call);
  if (!result.ok()) return result.status();
  return std::move(result->output);
}

absl::StatusOr<PoolResult> Client::PoolWithIndices(absl::string_view op,
                                                   const Tensor& input,
                                                   const PoolArgs& args,
                                                   const CallOptions& call) {
  pb::PoolRequest request;
  ToProtoPoolRequest(op, input, args, args.return_indices, &request);
  pb::PoolResponse response;
  CallScope scope(options_, call);
  if (scope.cancelled_before_start()) return CancelledBeforeStart();
  grpc::Status status =
      channel_->stub->Pool(scope.context(), request, &response);
  if (!status.ok()) return FromGrpcStatus(status);

  absl::StatusOr<Tensor> output = FromProtoTensor(response.output(), "output");
  if (!output.ok()) return output.status();
  PoolResult result{*std::move(output), std::nullopt};
  if (args.return_indices) {
    if (!response.has_indices()) {
      return absl::InternalError(
          "server reply: indices missing although return_indices was set");
    }
    absl::StatusOr<Tensor> indices =
        FromProtoTensor(response.indices(), "indices");
    if (!indices.ok()) return indices.status();
    result.indices = *std::move(indices);
  }
  return result;
}

absl::StatusOr<Tensor> Client::Concat(absl::Span<const Tensor> tensors,
                                      int64_t dim, const CallOptions& call) {
  pb::ConcatRequest request;
  for (const Tensor& tensor : tensors) {
    ToProtoTensor(tensor, request.add_tensors());
  }
  request.set_dim(dim);
  pb::ConcatResponse response;
  CallScope scope(options_, call);
  if (scope.cancelled_before_start()) return CancelledBeforeStart();
  grpc::Status status =
      channel_->stub->Concat(scope.context(), request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return FromProtoTensor(response.output(), "output");
}

absl::StatusOr<Tensor> Client::Echo(const Tensor& tensor,
                                    const CallOptions& call) {
  pb::EchoRequest request;
  ToProtoTensor(tensor, request.mutable_tensor());
  pb::EchoResponse response;
  CallScope scope(options_, call);
  if (scope.cancelled_before_start()) return CancelledBeforeStart();
  grpc::Status status =
      channel_->stub->Echo(scope.context(), request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return FromProtoTensor(response.tensor(), "tensor");
}

absl::StatusOr<ServingStatus> Client::Health(absl::string_view service,
                                             const CallOptions& call) {
  std::string request_bytes = EncodeHealthCheckRequest(service);
  grpc::Slice slice(request_bytes);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  CallScope scope(options_, call);
  if (scope.cancelled_before_start()) return CancelledBeforeStart();

  absl::Notification done;
  grpc::Status status;
  channel_->generic->UnaryCall(scope.context(), kHealthCheckMethod,
                               grpc::StubOptions(), &request, &response,
                               [&](grpc::Status s) {
                                 status = std::move(s);
                                 done.Notify();
                               });
  done.WaitForNotification();
  if (!status.ok()) return FromGrpcStatus(status);

  std::vector<grpc::Slice> slices;
  grpc::Status dump = response.Dump(&slices);
  if (!dump.ok()) return FromGrpcStatus(dump);
  std::string bytes;
  for (const grpc::Slice& s : slices) {
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return DecodeHealthCheckResponse(bytes);
}

}  // namespace poolcat

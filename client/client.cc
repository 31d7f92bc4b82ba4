#include "client/client.h"

#include <grpc/grpc.h>
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
#include "client/wire.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/wire_format_lite.h"

namespace poolcat {
namespace {

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  // grpc::StatusCode and absl::StatusCode share their numbering (both follow
  // google.rpc.Code), so the code crosses unchanged.
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

// Durations in service config JSON are decimal seconds with an "s" suffix.
std::string JsonDuration(absl::Duration d) {
  return absl::StrFormat("%.9fs", absl::ToDoubleSeconds(d));
}

// Targets that may stand for several servers: an address list, or an
// explicit dns: name (a Kubernetes headless Service resolves to every pod).
// Calls should spread over all of them rather than pin one connection.
bool IsBalancedTarget(absl::string_view target) {
  return absl::StrContains(target, ',') || absl::StartsWith(target, "dns:");
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
    lb = IsBalancedTarget(options.target) ? "round_robin" : "pick_first";
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
  // Every call is generic: requests and replies are encoded by wire.h,
  // which keeps tensor payloads out of intermediate copies.
  std::unique_ptr<grpc::GenericStub> stub;
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
  bool cancelled_by_caller() const {
    return cancellation_ != nullptr && cancellation_->cancelled();
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

// Only max and adaptive max pooling have indices (the server ignores
// return_indices for the other ops, as it ignores any argument an op does
// not take).
bool ReturnsIndices(absl::string_view op) {
  absl::StatusOr<PoolOp> parsed = ParsePoolOp(op);
  return parsed.ok() && (parsed->kind == PoolKind::kMax ||
                         parsed->kind == PoolKind::kAdaptiveMax);
}

constexpr char kPoolMethod[] = "/poolcat.v1.PoolCat/Pool";
constexpr char kConcatMethod[] = "/poolcat.v1.PoolCat/Concat";
constexpr char kEchoMethod[] = "/poolcat.v1.PoolCat/Echo";

// A blocking unary call through the generic stub.
absl::Status UnaryCall(grpc::GenericStub& stub, CallScope& scope,
                       const char* method, const grpc::ByteBuffer& request,
                       grpc::ByteBuffer* reply) {
  if (scope.cancelled_before_start()) return CancelledBeforeStart();
  absl::Notification done;
  grpc::Status status;
  stub.UnaryCall(scope.context(), method, grpc::StubOptions(), &request, reply,
                 [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();
  if (status.error_code() == grpc::StatusCode::CANCELLED &&
      scope.cancelled_by_caller()) {
    // gRPC's own message is the bare "CANCELLED".
    return absl::CancelledError("call cancelled by the client");
  }
  return FromGrpcStatus(status);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  // gRPC shuts itself down when its last object goes away, and that
  // shutdown can block for ~10 s joining an executor thread parked in a
  // timed poll (seen right after a cancelled call). Holding one
  // initialization for the life of the process keeps ~Client cheap; the
  // process exit reclaims the rest.
  static const bool kGrpcKeptInitialized = [] {
    grpc_init();
    return true;
  }();
  (void)kGrpcKeptInitialized;
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
  channel->stub = std::make_unique<grpc::GenericStub>(channel->channel);
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
  const grpc::ByteBuffer request =
      client_internal::EncodePoolRequest(op, input, args, args.return_indices);
  grpc::ByteBuffer reply;
  CallScope scope(options_, call);
  absl::Status status =
      UnaryCall(*channel_->stub, scope, kPoolMethod, request, &reply);
  if (!status.ok()) return status;

  // poolcat.v1.PoolResponse: output = 1, indices = 2.
  std::optional<Tensor> output, indices;
  status = client_internal::DecodeReply(
      &reply, {{1, "output", &output}, {2, "indices", &indices}});
  if (!status.ok()) return status;
  if (!output.has_value()) {
    return absl::InternalError("server reply: output missing");
  }
  PoolResult result{*std::move(output), std::nullopt};
  if (args.return_indices && ReturnsIndices(op)) {
    if (!indices.has_value()) {
      return absl::InternalError(
          "server reply: indices missing although return_indices was set");
    }
    result.indices = *std::move(indices);
  }
  return result;
}

absl::StatusOr<Tensor> Client::Concat(absl::Span<const Tensor> tensors,
                                      int64_t dim, const CallOptions& call) {
  const grpc::ByteBuffer request =
      client_internal::EncodeConcatRequest(tensors, dim);
  grpc::ByteBuffer reply;
  CallScope scope(options_, call);
  absl::Status status =
      UnaryCall(*channel_->stub, scope, kConcatMethod, request, &reply);
  if (!status.ok()) return status;
  // poolcat.v1.ConcatResponse: output = 1.
  std::optional<Tensor> output;
  status = client_internal::DecodeReply(&reply, {{1, "output", &output}});
  if (!status.ok()) return status;
  if (!output.has_value()) {
    return absl::InternalError("server reply: output missing");
  }
  return *std::move(output);
}

absl::StatusOr<Tensor> Client::Echo(const Tensor& tensor,
                                    const CallOptions& call) {
  const grpc::ByteBuffer request = client_internal::EncodeEchoRequest(tensor);
  grpc::ByteBuffer reply;
  CallScope scope(options_, call);
  absl::Status status =
      UnaryCall(*channel_->stub, scope, kEchoMethod, request, &reply);
  if (!status.ok()) return status;
  // poolcat.v1.EchoResponse: tensor = 1.
  std::optional<Tensor> echoed;
  status = client_internal::DecodeReply(&reply, {{1, "tensor", &echoed}});
  if (!status.ok()) return status;
  if (!echoed.has_value()) {
    return absl::InternalError("server reply: tensor missing");
  }
  return *std::move(echoed);
}

absl::StatusOr<ServingStatus> Client::Health(absl::string_view service,
                                             const CallOptions& call) {
  std::string request_bytes = EncodeHealthCheckRequest(service);
  grpc::Slice slice(request_bytes);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  CallScope scope(options_, call);
  absl::Status status =
      UnaryCall(*channel_->stub, scope, kHealthCheckMethod, request, &response);
  if (!status.ok()) return status;

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

#include "server/server.h"

#include <signal.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "core/parallel.h"
#include "grpc/grpc.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"

namespace poolcat::server {
namespace {

namespace v1 = ::poolcat::v1;

constexpr char kServiceName[] = "poolcat.v1.PoolCat";

absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     absl::string_view flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read --", flag, "=", path));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeCredentials(
    const ServerOptions& options) {
  if (options.tls_cert.empty()) return grpc::InsecureServerCredentials();
  absl::StatusOr<std::string> cert = ReadFile(options.tls_cert, "tls_cert");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadFile(options.tls_key, "tls_key");
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({*key, *cert});
  if (!options.tls_client_ca.empty()) {
    absl::StatusOr<std::string> ca =
        ReadFile(options.tls_client_ca, "tls_client_ca");
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *ca;
    // Mutual TLS: a client without a certificate signed by this CA is
    // refused during the handshake.
    ssl.client_certificate_request =
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

// Keepalive enforcement: what clients may do and what the server does with
// idle connections. Clients may ping as often as every 10 s, even with no
// call in flight (so a client keepalive of >= 10 s works); more frequent
// pings count as strikes and the third one closes the connection with
// GOAWAY(too_many_pings), which protects the server from ping floods. The
// server itself pings a connection idle for 60 s and drops it when no ack
// arrives within 20 s, so dead peers do not hold resources forever.
void SetKeepalivePolicy(grpc::ServerBuilder& builder) {
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
      10 * 1000 /*10 sec*/);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS,
                             1 /*allow*/);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2 /*strikes*/);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60 * 1000 /*60 sec*/);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                             20 * 1000 /*20 sec*/);
}

// gRPC takes milliseconds in an int; anything longer is "never".
int ChannelArgMillis(absl::Duration d) {
  if (d >= absl::Milliseconds(std::numeric_limits<int>::max())) {
    return std::numeric_limits<int>::max();
  }
  return static_cast<int>(absl::ToInt64Milliseconds(d));
}

// Connection age limits make long-lived clients reconnect now and then, so
// a plain (L4) Service spreads them over replicas that came up later.
void SetConnectionAge(grpc::ServerBuilder& builder,
                      const ServerOptions& options) {
  if (options.max_connection_age != absl::InfiniteDuration()) {
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                               ChannelArgMillis(options.max_connection_age));
  }
  if (options.max_connection_age_grace != absl::InfiniteDuration()) {
    builder.AddChannelArgument(
        GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
        ChannelArgMillis(options.max_connection_age_grace));
  }
}

// Clears a used message for the next call, keeping one tensor field (and
// its buffer's capacity) attached, and returns the bytes kept; Clear() alone
// would delete the sub-message. Responses keep their output (every
// successful call sets it; an indices tensor is dropped, since a response
// only carries one when asked for), Pool requests their input.
template <typename Message>
uint64_t KeepOnly(Message* message, v1::Tensor* (Message::*release)(),
                  void (Message::*set_allocated)(v1::Tensor*)) {
  v1::Tensor* kept = (message->*release)();
  message->Clear();
  if (kept == nullptr) return 0;
  kept->Clear();  // Keeps the string's capacity.
  (message->*set_allocated)(kept);
  return kept->data().capacity();
}

// The /metrics endpoint, or null when disabled (empty --metrics_listen) or
// when the address cannot be bound: serving requests matters more than
// exporting metrics (and parallel test servers would otherwise fight over
// the default port), so that is logged, not fatal.
std::unique_ptr<prometheus::Exposer> StartExposer(const std::string& listen) {
  if (listen.empty()) return nullptr;
  try {
    return std::make_unique<prometheus::Exposer>(listen);
  } catch (const std::exception& e) {
    std::cerr << "poolcat-server error: metrics disabled, cannot listen on "
                 "--metrics_listen="
              << listen << ": " << e.what() << std::endl;
    return nullptr;
  }
}

// RunServer's server, kept past the end of main (see there). Volatile, so
// the store is not optimised away and leak checkers find the pointer.
PoolCatServer* volatile g_server_left_to_exit = nullptr;

// "0.0.0.0:0" -> "0.0.0.0"; "[::]:50051" -> "[::]".
std::string HostOf(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  return colon == std::string::npos ? listen : listen.substr(0, colon);
}

}  // namespace

absl::StatusOr<std::unique_ptr<PoolCatServer>> PoolCatServer::Start(
    const ServerOptions& options) {
  if (absl::Status valid = ValidateOptions(options); !valid.ok()) return valid;
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeCredentials(options);
  if (!credentials.ok()) return credentials.status();

  // Debian's abseil is built with absl::Mutex deadlock detection on, which
  // keeps a lock graph on every gRPC mutex operation: about a tenth of the
  // server's CPU time on tiny calls. The server's own locking is simple.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  std::unique_ptr<PoolCatServer> s(new PoolCatServer());
  s->tls_ = !options.tls_cert.empty();
  if (options.threads > 0) SetComputeThreads(options.threads);
  const int threads = ComputeThreads();

  ConfigureAllocator(static_cast<uint64_t>(options.max_retained_bytes));
  s->buffer_budget_ = std::make_unique<RetentionBudget>(
      static_cast<uint64_t>(options.max_retained_bytes));
  s->exposer_ = StartExposer(options.metrics_listen);
  Metrics::Options metrics_options;
  // Nothing is recorded when nothing could serve it.
  metrics_options.recording = s->exposer_ != nullptr;
  metrics_options.buffer_pool_bytes = [budget = s->buffer_budget_.get()] {
    return static_cast<double>(budget->held());
  };
  metrics_options.malloc_kept_bytes = [] {
    return static_cast<double>(MallocKeptBytes());
  };
  s->metrics_ = std::make_unique<Metrics>(std::move(metrics_options));
  if (s->exposer_ != nullptr) {
    for (const std::shared_ptr<prometheus::Collectable>& collectable :
         s->metrics_->Collectables()) {
      s->exposer_->RegisterCollectable(collectable);
    }
    const std::vector<int> ports = s->exposer_->GetListeningPorts();
    s->metrics_port_ = ports.empty() ? 0 : ports.front();
  }
  s->metrics_->SetComputeThreads(threads);
  s->metrics_->SetMaxConcurrent(options.max_concurrent);
  if (options.max_retained_bytes > 0) {
    s->retention_ = std::make_unique<RetentionGuard>(
        static_cast<uint64_t>(options.max_retained_bytes));
  }
  s->pool_ = std::make_unique<ComputePool>(threads, options.max_concurrent);
  Limits limits;
  limits.max_elements = options.max_elements;
  limits.max_response_bytes = static_cast<uint64_t>(options.max_message_bytes);
  // Pool and Concat carry large tensors both ways; Echo stays a bare gRPC
  // round trip (the benchmark baseline), with gRPC's default allocation.
  s->pool_messages_ =
      std::make_unique<MessagePool<v1::PoolRequest, v1::PoolResponse>>(
          [](v1::PoolRequest* request, v1::PoolResponse* response) {
            // Pool parses its requests itself (server/request_parse.h), so
            // the input tensor and its buffer survive for the next call.
            const uint64_t kept =
                KeepOnly(request, &v1::PoolRequest::release_input,
                         &v1::PoolRequest::set_allocated_input);
            return kept + KeepOnly(response, &v1::PoolResponse::release_output,
                                   &v1::PoolResponse::set_allocated_output);
          },
          s->buffer_budget_.get());
  s->concat_messages_ =
      std::make_unique<MessagePool<v1::ConcatRequest, v1::ConcatResponse>>(
          [](v1::ConcatRequest* request, v1::ConcatResponse* response) {
            uint64_t kept = 0;
            for (const v1::Tensor& t : request->tensors())
              kept += t.data().capacity();
            // Cleared elements of a repeated field stay allocated for reuse.
            request->Clear();
            return kept + KeepOnly(response,
                                   &v1::ConcatResponse::release_output,
                                   &v1::ConcatResponse::set_allocated_output);
          },
          s->buffer_budget_.get());
  s->service_ = std::make_unique<PoolCatService>(
      limits, s->pool_.get(), s->metrics_.get(), s->pool_messages_.get());
  s->service_->SetMessageAllocatorFor_Concat(s->concat_messages_.get());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, *credentials, &s->port_);
  builder.RegisterService(s->service_.get());
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(options.max_message_bytes));
  SetKeepalivePolicy(builder);
  SetConnectionAge(builder, options);
  // gRPC sets SO_REUSEPORT by default, which lets a second server bind the
  // same port and silently share its traffic; a taken port must be an error.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(s->metrics_->NewInterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr || s->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on --listen=", options.listen,
                     " (address in use, or not a valid host:port)"));
  }
  s->address_ = absl::StrCat(HostOf(options.listen), ":", s->port_);
  grpc::HealthCheckServiceInterface* health =
      s->server_->GetHealthCheckService();
  if (health != nullptr) {
    health->SetServingStatus(true);
    health->SetServingStatus(kServiceName, true);
  }

  return s;
}

int PoolCatServer::Shutdown(absl::Duration grace) {
  if (shut_down_) return 0;
  shut_down_ = true;
  if (grpc::HealthCheckServiceInterface* health =
          server_->GetHealthCheckService()) {
    health->SetServingStatus(false);
  }
  const absl::Time deadline = absl::Now() + grace;
  // grpc::Server::Shutdown sends GOAWAY and then waits, up to the deadline,
  // for every connection to close as well as for every call; a client that
  // keeps an idle connection open would hold the exit for the whole grace
  // period. So once no call is left, a closer forces the connections shut
  // (grpc_server_cancel_all_calls disconnects transports; with no call
  // left it cancels nothing). "No call left" must hold twice, 50 ms apart,
  // so a call that the transport accepted just before the GOAWAY has
  // surely reached the interceptor that counts it.
  std::atomic<bool> drained{false};
  std::atomic<int> cut_short{0};
  std::thread closer([this, deadline, &drained, &cut_short] {
    int idle_checks = 0;
    while (!drained.load()) {
      if (absl::Now() >= deadline) {
        // gRPC cancels these itself now.
        cut_short.store(metrics_->active_calls());
        return;
      }
      idle_checks = metrics_->active_calls() == 0 ? idle_checks + 1 : 0;
      if (idle_checks >= 2) {
        grpc_server_cancel_all_calls(server_->c_server());
        return;
      }
      absl::SleepFor(absl::Milliseconds(idle_checks > 0 ? 50 : 10));
    }
  });
  server_->Shutdown(absl::ToChronoTime(deadline));
  drained.store(true);
  closer.join();
  server_->Wait();
  return cut_short.load();
}

PoolCatServer::~PoolCatServer() {
  if (server_ != nullptr) Shutdown(absl::ZeroDuration());
}

int RunServer(const ServerOptions& options) {
  // Block the stop signals before any thread exists, so every thread
  // inherits the mask and only sigwait below ever sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  absl::StatusOr<std::unique_ptr<PoolCatServer>> server =
      PoolCatServer::Start(options);
  if (!server.ok()) {
    std::cerr << "poolcat-server error: " << server.status().message()
              << std::endl;
    return 1;
  }
  std::string metrics = "off";
  if ((*server)->metrics_port() > 0) {
    metrics = absl::StrCat(HostOf(options.metrics_listen), ":",
                           (*server)->metrics_port());
  }
  // Tests and scripts parse this line; keep the "listening on" phrase.
  std::cout << "poolcat-server listening on " << (*server)->address()
            << " (tls="
            << ((*server)->tls()
                    ? (options.tls_client_ca.empty() ? "on" : "mutual")
                    : "off")
            << ", threads=" << (*server)->threads()
            << ", max_concurrent=" << options.max_concurrent
            << ", metrics=" << metrics << ")" << std::endl;

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  const absl::Time drain_start = absl::Now();
  const int cut_short = (*server)->Shutdown(options.grace_period);
  std::cout << "poolcat-server stopped on "
            << (signal_number == SIGINT ? "SIGINT" : "SIGTERM")
            << ": drained in "
            << absl::FormatDuration(absl::Trunc(absl::Now() - drain_start,
                                                absl::Milliseconds(1)))
            << " (grace period " << absl::FormatDuration(options.grace_period);
  if (cut_short > 0)
    std::cout << " ran out, " << cut_short << " calls cancelled";
  std::cout << ")" << std::endl;
  // Every call has ended and every connection is closed. Destroying the
  // server now would only wait out timers: grpc_shutdown joins an executor
  // thread parked in a timed poll, and stopping civetweb waits out its poll
  // interval, seconds each. The process is exiting, so leave them to it
  // (held by a global, so leak checkers see the object as reachable).
  g_server_left_to_exit = server->release();
  return 0;
}

}  // namespace poolcat::server

// poolcat: the command-line client of the poolcat service.
//
//   poolcat pool --target=HOST:PORT --op=OP [--kernel_size=a,b] ... -o OUT.npy
//   IN.npy poolcat concat --target=HOST:PORT --dim=D -o OUT.npy A.npy B.npy ...
//   poolcat health | demo | bench
//
// Exit status: 0 on success; 1 when a call or file operation fails (the
// status code name and message go to stderr, e.g. "INVALID_ARGUMENT: ...")
// or health is not SERVING or the demo differs from the notebook; 2 for bad
// command-line usage.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "client/bench.h"
#include "client/cli_args.h"
#include "client/client.h"
#include "client/demo.h"
#include "client/npy_cast.h"
#include "core/npy.h"

namespace poolcat {
namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

// Flags every subcommand shares; given before or after the subcommand.
struct ConnectionFlags {
  std::string target = "localhost:50051";
  std::string deadline = "60s";
  bool tls = false;
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_server_name;
  int64_t max_message_bytes = int64_t{256} << 20;
};

void AddConnectionFlags(CLI::App& app, ConnectionFlags& flags) {
  app.add_option("--target", flags.target,
                 "Server address: HOST:PORT, or e.g. "
                 "ipv4:127.0.0.1:5001,127.0.0.1:5002 (round robin)")
      ->envname("POOLCAT_TARGET")
      ->capture_default_str();
  app.add_option("--deadline", flags.deadline,
                 "Deadline of each call: seconds (0.5) or a duration (500ms)")
      ->capture_default_str();
  app.add_flag("--tls", flags.tls,
               "Use TLS (implied by --tls_ca/--tls_cert); without --tls_ca "
               "the system's root certificates verify the server");
  app.add_option("--tls_ca", flags.tls_ca,
                 "PEM file of the CA that signed the server's certificate");
  app.add_option("--tls_cert", flags.tls_cert,
                 "PEM client certificate, for mutual TLS");
  app.add_option("--tls_key", flags.tls_key, "PEM private key of --tls_cert");
  app.add_option("--tls_server_name", flags.tls_server_name,
                 "Expect this name in the server's certificate instead of "
                 "the target's host");
  app.add_option("--max_message_bytes", flags.max_message_bytes,
                 "Largest message sent or received")
      ->capture_default_str();
}

void PrintStatus(const absl::Status& status) {
  std::cerr << absl::StatusCodeToString(status.code()) << ": "
            << status.message() << std::endl;
}

absl::StatusOr<std::string> ReadFile(const std::string& flag,
                                     const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("--", flag, ": cannot open '", path, "'"));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// Seconds ("0.5") or an absl duration ("500ms", "2m").
absl::StatusOr<absl::Duration> ParseDuration(const std::string& flag,
                                             const std::string& text) {
  absl::Duration d;
  double seconds = 0;
  if (absl::SimpleAtod(text, &seconds)) {
    d = absl::Seconds(seconds);
  } else if (!absl::ParseDuration(text, &d)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, " expects seconds or a duration like 500ms, but got '",
        text, "'"));
  }
  if (d <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, " must be > 0, but got '", text, "'"));
  }
  return d;
}

absl::StatusOr<std::unique_ptr<Client>> MakeClient(
    const ConnectionFlags& flags, bool own_connection = false) {
  ClientOptions options;
  options.own_connection = own_connection;
  options.target = flags.target;
  absl::StatusOr<absl::Duration> deadline =
      ParseDuration("deadline", flags.deadline);
  if (!deadline.ok()) return deadline.status();
  options.default_deadline = *deadline;
  options.max_message_bytes = flags.max_message_bytes;
  options.tls.enabled =
      flags.tls || !flags.tls_ca.empty() || !flags.tls_cert.empty();
  options.tls.server_name_override = flags.tls_server_name;
  const std::pair<const char*, std::pair<const std::string*, std::string*>>
      files[] = {
          {"tls_ca", {&flags.tls_ca, &options.tls.root_ca_pem}},
          {"tls_cert", {&flags.tls_cert, &options.tls.client_cert_pem}},
          {"tls_key", {&flags.tls_key, &options.tls.client_key_pem}},
      };
  for (const auto& [flag, paths] : files) {
    if (paths.first->empty()) continue;
    absl::StatusOr<std::string> pem = ReadFile(flag, *paths.first);
    if (!pem.ok()) return pem.status();
    *paths.second = *std::move(pem);
  }
  return Client::Create(std::move(options));
}

// Ctrl-C (or SIGTERM) cancels the calls in flight instead of killing the
// process mid-write, so a partial output file is never left behind and
// bench still reports what it measured. A second signal exits at once.
// Signals are blocked in every thread (set before gRPC starts its own) and
// taken synchronously by one watcher thread.
class InterruptCanceller {
 public:
  InterruptCanceller() {
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGINT);
    sigaddset(&signals_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
    std::thread([this] {
      int signal = 0;
      sigwait(&signals_, &signal);
      cancellation_.Cancel();
      sigwait(&signals_, &signal);
      _exit(128 + signal);
    }).detach();
  }
  Cancellation* cancellation() { return &cancellation_; }

 private:
  sigset_t signals_;
  Cancellation cancellation_;
};

// "--channels_last" alone means "--channels_last=true"; CLI11 options taking
// a value would otherwise swallow the next argument (the input file).
std::vector<std::string> ExpandBareBoolFlags(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  for (std::string& arg : args) {
    if (arg == "--channels_last" || arg == "--ceil_mode" ||
        arg == "--count_include_pad") {
      arg += "=true";
    }
  }
  return args;
}

// Registers the pooling flags, keeping "not given" apart from any value.
void AddPoolFlags(CLI::App& app, PoolFlags& flags) {
  struct Flag {
    const char* name;
    std::optional<std::string>* text;
    const char* help;
  };
  const Flag table[] = {
      {"--kernel_size", &flags.kernel_size, "Window size, e.g. 3 or 2,3"},
      {"--stride", &flags.stride, "Window step; default kernel_size"},
      {"--padding", &flags.padding,
       "Implicit padding on both sides; default 0"},
      {"--dilation", &flags.dilation, "Spacing of window elements; default 1"},
      {"--ceil_mode", &flags.ceil_mode, "true|false: ceil for output size"},
      {"--count_include_pad", &flags.count_include_pad,
       "true|false: avg divisor counts padding; default true"},
      {"--divisor_override", &flags.divisor_override,
       "avg_pool2d/3d: divide by N"},
      {"--norm_type", &flags.norm_type, "lp_pool: the power p"},
      {"--output_size", &flags.output_size,
       "Adaptive ops: output size, None or -1 keeps that dim"},
      {"--channels_last", &flags.channels_last,
       "true: input and output are (N, *spatial, C)"},
  };
  for (const Flag& flag : table) {
    std::optional<std::string>* text = flag.text;
    app.add_option_function<std::string>(
        flag.name, [text](const std::string& value) { *text = value; },
        flag.help);
  }
}

int WriteOrFail(const std::string& path, const Tensor& tensor) {
  absl::Status status = WriteNpyFile(path, tensor);
  if (!status.ok()) {
    PrintStatus(status);
    return kExitFailure;
  }
  return EXIT_SUCCESS;
}

absl::StatusOr<Tensor> ReadInput(const std::string& path) {
  absl::StatusOr<Tensor> tensor = ReadNpyFile(path);
  if (!tensor.ok() && !absl::StrContains(tensor.status().message(), path)) {
    return absl::Status(tensor.status().code(),
                        absl::StrCat(path, ": ", tensor.status().message()));
  }
  return tensor;
}

int Run(int argc, char** argv) {
  // Leaked on purpose: its watcher thread may outlive Run.
  static InterruptCanceller* const interrupts = new InterruptCanceller;
  CallOptions call;
  call.cancellation = interrupts->cancellation();

  CLI::App app{
      "poolcat: PyTorch-exact pooling and concatenation, as a service"};
  app.require_subcommand(1);
  ConnectionFlags connection;
  AddConnectionFlags(app, connection);

  // pool
  CLI::App* pool = app.add_subcommand("pool", "Pool one .npy tensor");
  pool->fallthrough();
  std::string op, pool_out, pool_in, indices_path;
  PoolFlags pool_flags;
  pool->add_option("--op", op,
                   "max_pool{1,2,3}d, avg_pool{1,2,3}d, lp_pool{1,2}d, "
                   "adaptive_{max,avg}_pool{1,2,3}d")
      ->required();
  AddPoolFlags(*pool, pool_flags);
  pool->add_option(
      "--indices", indices_path,
      "Also return the argmax indices and write them (int64) here");
  std::string pool_dtype;
  pool->add_option("--dtype", pool_dtype,
                   "Send the input as this dtype: bfloat16 for a float32 .npy "
                   "holding bfloat16 values (.npy has no bfloat16; a bfloat16 "
                   "result is written as float32)");
  pool->add_option("-o,--output", pool_out, "Output .npy file")->required();
  pool->add_option("input", pool_in, "Input .npy file")->required();

  // concat
  CLI::App* concat =
      app.add_subcommand("concat", "Concatenate .npy tensors (torch.cat)");
  concat->fallthrough();
  int64_t dim = 0;
  std::string concat_out;
  std::vector<std::string> concat_in;
  concat->add_option("--dim", dim, "Dimension; negative counts from the end")
      ->capture_default_str();
  std::string concat_dtypes;
  concat->add_option("--input_dtypes", concat_dtypes,
                     "Comma-separated dtype per input, e.g. float32,bfloat16 "
                     "(see pool --dtype)");
  concat->add_option("-o,--output", concat_out, "Output .npy file")->required();
  concat->add_option("inputs", concat_in, "Input .npy files")->required();

  // health
  CLI::App* health =
      app.add_subcommand("health", "Print the server's health status");
  health->fallthrough();
  std::string service;
  health->add_option("--service", service,
                     "Service to ask about; empty means the whole server");

  // demo
  CLI::App* demo = app.add_subcommand(
      "demo", "Replay the D2L pooling notebook's examples through the server");
  demo->fallthrough();

  // bench
  CLI::App* bench = app.add_subcommand("bench", "Load generator");
  bench->fallthrough();
  BenchOptions bench_options;
  PoolFlags bench_flags;
  std::string bench_shape = "1,1,4,4";
  std::string bench_dtype = "float32";
  std::string bench_duration = "10s";
  bool bench_json = false;
  bench
      ->add_option("--concurrency", bench_options.concurrency,
                   "Calls in flight at once")
      ->capture_default_str();
  int bench_connections = 1;
  bench
      ->add_option("--connections", bench_connections,
                   "Connections the calls are spread over")
      ->capture_default_str();
  CLI::Option* duration_flag =
      bench
          ->add_option("--duration", bench_duration,
                       "Stop after this long: seconds or a duration (30s); "
                       "with --requests alone, no time bound")
          ->capture_default_str();
  bench
      ->add_option("--requests", bench_options.requests,
                   "Stop after this many calls (0: only --duration bounds)")
      ->capture_default_str();
  bench
      ->add_option("--op", bench_options.op,
                   "Pooling op; without --kernel_size a 2x2 window (output "
                   "size 1 for adaptive ops)")
      ->capture_default_str();
  bench->add_option("--shape", bench_shape, "Input shape, e.g. 32,64,112,112")
      ->capture_default_str();
  bench->add_option("--dtype", bench_dtype, "Input dtype")
      ->capture_default_str();
  AddPoolFlags(*bench, bench_flags);
  bench->add_flag("--echo", bench_options.echo,
                  "Send the same payload to the Echo RPC instead");
  bench->add_flag("--json", bench_json, "Print the result as JSON");

  for (CLI::App* sub : {pool, concat, health, demo, bench}) {
    sub->footer(
        "Connection flags (--target, --deadline, --tls, --tls_ca, --tls_cert, "
        "--tls_key, --tls_server_name, --max_message_bytes) may come before or "
        "after the subcommand; see poolcat --help.");
  }

  std::vector<std::string> args = ExpandBareBoolFlags(argc, argv);
  std::vector<char*> arg_ptrs;
  for (std::string& arg : args) arg_ptrs.push_back(arg.data());
  try {
    app.parse(static_cast<int>(arg_ptrs.size()), arg_ptrs.data());
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? EXIT_SUCCESS : kExitUsage;
  }

  absl::StatusOr<std::unique_ptr<Client>> client = MakeClient(connection);
  if (!client.ok()) {
    PrintStatus(client.status());
    return kExitFailure;
  }

  if (pool->parsed()) {
    absl::StatusOr<PoolArgs> pool_args = PoolArgsFromFlags(pool_flags);
    if (absl::Status utf8 = CheckUtf8("op", op); !utf8.ok()) pool_args = utf8;
    if (!pool_args.ok()) {
      PrintStatus(pool_args.status());
      return kExitUsage;
    }
    pool_args->return_indices = !indices_path.empty();
    absl::StatusOr<Tensor> input = ReadInput(pool_in);
    if (input.ok() && !pool_dtype.empty()) {
      input = CastForWire(*input, pool_dtype, "dtype");
    }
    if (!input.ok()) {
      PrintStatus(input.status());
      return kExitFailure;
    }
    absl::StatusOr<PoolResult> result =
        (*client)->PoolWithIndices(op, *input, *pool_args, call);
    if (!result.ok()) {
      PrintStatus(result.status());
      return kExitFailure;
    }
    if (int rc = WriteOrFail(pool_out, WidenForNpy(result->output));
        rc != EXIT_SUCCESS) {
      return rc;
    }
    if (!indices_path.empty()) {
      if (!result->indices.has_value()) {
        PrintStatus(absl::InvalidArgumentError(absl::StrCat(
            "--indices: ", op,
            " has no indices (max_pool and adaptive_max_pool ops do); "
            "the output was written to ",
            pool_out)));
        return kExitFailure;
      }
      return WriteOrFail(indices_path, *result->indices);
    }
    return EXIT_SUCCESS;
  }

  if (concat->parsed()) {
    std::vector<std::string> dtypes;
    if (!concat_dtypes.empty()) {
      dtypes = absl::StrSplit(concat_dtypes, ',');
      if (dtypes.size() != concat_in.size()) {
        PrintStatus(absl::InvalidArgumentError(
            absl::StrCat("--input_dtypes names ", dtypes.size(), " dtypes for ",
                         concat_in.size(), " inputs")));
        return kExitUsage;
      }
    }
    std::vector<Tensor> inputs;
    for (size_t i = 0; i < concat_in.size(); ++i) {
      absl::StatusOr<Tensor> input = ReadInput(concat_in[i]);
      if (input.ok() && !dtypes.empty()) {
        input = CastForWire(*input, dtypes[i], "input_dtypes");
      }
      if (!input.ok()) {
        PrintStatus(input.status());
        return kExitFailure;
      }
      inputs.push_back(*std::move(input));
    }
    absl::StatusOr<Tensor> output = (*client)->Concat(inputs, dim, call);
    if (!output.ok()) {
      PrintStatus(output.status());
      return kExitFailure;
    }
    return WriteOrFail(concat_out, WidenForNpy(*output));
  }

  if (health->parsed()) {
    absl::StatusOr<ServingStatus> status = (*client)->Health(service, call);
    if (!status.ok()) {
      PrintStatus(status.status());
      return kExitFailure;
    }
    std::cout << ServingStatusName(*status) << std::endl;
    return *status == ServingStatus::kServing ? EXIT_SUCCESS : kExitFailure;
  }

  if (demo->parsed()) {
    return RunDemo(**client, call, std::cout) ? EXIT_SUCCESS : kExitFailure;
  }

  // bench. A bare `poolcat bench` should measure something: a 2x2 window,
  // or output size 1 for the adaptive ops, unless told otherwise.
  if (absl::StartsWith(bench_options.op, "adaptive_")) {
    if (!bench_flags.output_size.has_value()) bench_flags.output_size = "1";
  } else if (!bench_flags.kernel_size.has_value()) {
    bench_flags.kernel_size = "2";
  }
  absl::StatusOr<PoolArgs> pool_args = PoolArgsFromFlags(bench_flags);
  if (absl::Status utf8 = CheckUtf8("op", bench_options.op); !utf8.ok())
    pool_args = utf8;
  absl::StatusOr<std::vector<int64_t>> shape =
      ParseIntList("shape", bench_shape);
  absl::StatusOr<absl::Duration> duration =
      ParseDuration("duration", bench_duration);
  std::optional<DType> dtype = DTypeFromName(bench_dtype);
  for (const absl::Status& s :
       {pool_args.status(), shape.status(), duration.status()}) {
    if (!s.ok()) {
      PrintStatus(s);
      return kExitUsage;
    }
  }
  if (!dtype.has_value()) {
    PrintStatus(absl::InvalidArgumentError(
        absl::StrCat("--dtype: unknown dtype '", bench_dtype, "'")));
    return kExitUsage;
  }
  bench_options.args = *pool_args;
  bench_options.shape = *shape;
  // --requests alone runs exactly that many calls; each has a deadline, so
  // the run still ends.
  bench_options.duration =
      bench_options.requests > 0 && duration_flag->count() == 0
          ? absl::InfiniteDuration()
          : *duration;
  bench_options.dtype = *dtype;
  bench_options.progress = isatty(STDOUT_FILENO) != 0 && !bench_json;
  if (bench_connections < 1 || bench_connections > 1024) {
    PrintStatus(absl::InvalidArgumentError(absl::StrCat(
        "--connections must be in [1, 1024], got ", bench_connections)));
    return kExitUsage;
  }
  // The first connection is the client made above (shared); more get their
  // own.
  std::vector<std::unique_ptr<Client>> extra;
  std::vector<Client*> clients = {client->get()};
  for (int i = 1; i < bench_connections; ++i) {
    absl::StatusOr<std::unique_ptr<Client>> c =
        MakeClient(connection, /*own_connection=*/true);
    if (!c.ok()) {
      PrintStatus(c.status());
      return kExitFailure;
    }
    clients.push_back(c->get());
    extra.push_back(*std::move(c));
  }
  absl::StatusOr<BenchReport> report =
      RunBench(clients, bench_options, call, std::cout);
  if (!report.ok()) {
    PrintStatus(report.status());
    return kExitFailure;
  }
  std::cout << (bench_json ? BenchReportJson(bench_options, *report) + "\n"
                           : FormatBenchReport(bench_options, *report));
  return report->errors.empty() ? EXIT_SUCCESS : kExitFailure;
}

}  // namespace
}  // namespace poolcat

int main(int argc, char** argv) { return poolcat::Run(argc, argv); }

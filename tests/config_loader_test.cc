// Tests of LoadHostConfig / ParseHostConfig: field mapping and defaults, path resolution, and
// the file:line:col and file+function messages of every kind of bad input.

#include "src/config/config_loader.h"

#include <filesystem>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fnhost {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

const std::string kConfigDir = FNHOST_SOURCE_DIR "/tests/data/configs";

TEST(ConfigLoaderTest, LoadsEveryField) {
  const std::string path = kConfigDir + "/full.textproto";
  absl::StatusOr<HostConfig> config = LoadHostConfig(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->snapshot_dir, kConfigDir + "/snapshots");
  EXPECT_TRUE(config->allow_writable_modules);
  EXPECT_EQ(config->memory_budget_mb, 4096);
  ASSERT_EQ(config->functions.size(), 2u);

  const FunctionSpec& spec = config->functions[0];
  EXPECT_EQ(spec.name, "resize-image");
  EXPECT_EQ(spec.module_path, kConfigDir + "/modules/resize.so");
  EXPECT_EQ(spec.sha256, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
  EXPECT_EQ(spec.init_config, std::string("quality=\x01\x02"));
  EXPECT_FALSE(spec.use_snapshots);
  EXPECT_THAT(spec.services, ElementsAre("kv", "thumbnails"));
  EXPECT_EQ(spec.pool.min_instances, 2);
  EXPECT_EQ(spec.pool.max_instances, 4);
  EXPECT_EQ(spec.pool.max_concurrency_per_instance, 3);
  EXPECT_EQ(spec.pool.max_queue, 16);
  EXPECT_EQ(spec.pool.default_timeout, absl::Milliseconds(1500));
  const KeepAliveOptions& keep_alive = spec.pool.keep_alive;
  EXPECT_EQ(keep_alive.kind, KeepAliveOptions::Kind::kScheduled);
  EXPECT_EQ(keep_alive.idle_timeout, absl::Seconds(120));
  EXPECT_FALSE(keep_alive.unload_when_idle);
  ASSERT_EQ(keep_alive.daily_windows.size(), 2u);
  EXPECT_EQ(keep_alive.daily_windows[0].begin_minute, 8 * 60 + 30);
  EXPECT_EQ(keep_alive.daily_windows[0].end_minute, 17 * 60);
  EXPECT_EQ(keep_alive.daily_windows[1].begin_minute, 22 * 60);
  EXPECT_EQ(keep_alive.daily_windows[1].end_minute, 24 * 60);
  EXPECT_EQ(keep_alive.scheduled_instances, 2);
  EXPECT_EQ(keep_alive.warm_every, absl::Seconds(300));
  EXPECT_TRUE(keep_alive.scale_by_memory);

  const FunctionSpec& second = config->functions[1];
  EXPECT_EQ(second.name, "absolute");
  EXPECT_EQ(second.module_path, "/opt/fnhost/absolute.so");
  EXPECT_THAT(second.services, IsEmpty());
  EXPECT_EQ(second.pool.keep_alive.kind, KeepAliveOptions::Kind::kHybrid);
  EXPECT_EQ(second.pool.keep_alive.cold_start_cost_gb_s, 64);
  EXPECT_EQ(second.pool.keep_alive.instance_memory_mb, 512);
  EXPECT_FALSE(second.pool.keep_alive.scale_by_memory);
}

TEST(ConfigLoaderTest, ProcessIsolationMapsItsLimits) {
  absl::StatusOr<HostConfig> config = ParseHostConfig(R"pb(
    function { name: "plain" module_path: "/m/plain.so" }
    function { name: "bare" module_path: "/m/bare.so" isolation: PROCESS }
    function {
      name: "limited"
      module_path: "/m/limited.so"
      isolation: PROCESS
      process_limits {
        memory_limit_bytes: 67108864
        invoke_timeout_ms: 250
        crash_limit: 3
        crash_window_s: 10
        crash_backoff_s: 5
        spin_budget_us: 40
        fork_before_init: true
      }
    }
  )pb", "/etc/fnhost.textproto");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->functions.size(), 3u);
  const IsolationOptions defaults;
  const IsolationOptions& plain = config->functions[0].isolation;
  EXPECT_EQ(plain.mode, IsolationOptions::Mode::kInProcess);
  const IsolationOptions& bare = config->functions[1].isolation;
  EXPECT_EQ(bare.mode, IsolationOptions::Mode::kProcess);
  EXPECT_EQ(bare.memory_limit_bytes, defaults.memory_limit_bytes);
  EXPECT_EQ(bare.invoke_timeout, defaults.invoke_timeout);
  EXPECT_EQ(bare.crash_limit, defaults.crash_limit);
  EXPECT_EQ(bare.crash_window, defaults.crash_window);
  EXPECT_EQ(bare.crash_backoff, defaults.crash_backoff);
  EXPECT_EQ(bare.spin_budget, defaults.spin_budget);
  EXPECT_EQ(bare.fork_point, IsolationOptions::ForkPoint::kAuto);
  const IsolationOptions& limited = config->functions[2].isolation;
  EXPECT_EQ(limited.mode, IsolationOptions::Mode::kProcess);
  EXPECT_EQ(limited.memory_limit_bytes, 64u << 20);
  EXPECT_EQ(limited.invoke_timeout, absl::Milliseconds(250));
  EXPECT_EQ(limited.crash_limit, 3);
  EXPECT_EQ(limited.crash_window, absl::Seconds(10));
  EXPECT_EQ(limited.crash_backoff, absl::Seconds(5));
  EXPECT_EQ(limited.spin_budget, absl::Microseconds(40));
  EXPECT_EQ(limited.fork_point, IsolationOptions::ForkPoint::kBeforeInit);
}

TEST(ConfigLoaderTest, SandboxMapsToTheSpecWithItsPathsResolved) {
  absl::StatusOr<HostConfig> config = ParseHostConfig(R"pb(
    function { name: "bare" module_path: "/m/bare.so" isolation: PROCESS }
    function {
      name: "boxed"
      module_path: "/m/boxed.so"
      isolation: PROCESS
      sandbox {
        level: STRICT
        on_denial: KILL
        allow_syscalls: "memfd_create"
        read_paths: "models"
        read_paths: "/usr/share/dict"
        write_paths: "scratch"
        allow_network: true
        count_refused_opens: false
        memory_limit_bytes: 268435456
        pids_limit: 16
        cpu_time_limit_ms: 1500
      }
    }
  )pb", "/etc/fnhost/fnhost.textproto");
  ASSERT_TRUE(config.ok()) << config.status();
  const SandboxOptions defaults;
  const SandboxOptions& bare = config->functions[0].sandbox;
  EXPECT_EQ(bare.level, SandboxOptions::Level::kOff);
  EXPECT_EQ(bare.pids_limit, defaults.pids_limit);
  EXPECT_EQ(bare.cpu_time_limit, defaults.cpu_time_limit);
  EXPECT_TRUE(bare.count_refused_opens);
  const SandboxOptions& boxed = config->functions[1].sandbox;
  EXPECT_EQ(boxed.level, SandboxOptions::Level::kStrict);
  EXPECT_EQ(boxed.on_denial, SandboxOptions::OnDenial::kKill);
  EXPECT_EQ(boxed.allow_syscalls, std::vector<std::string>{"memfd_create"});
  EXPECT_EQ(boxed.read_paths,
            (std::vector<std::string>{"/etc/fnhost/models", "/usr/share/dict"}));
  EXPECT_EQ(boxed.write_paths, std::vector<std::string>{"/etc/fnhost/scratch"});
  EXPECT_TRUE(boxed.allow_network);
  EXPECT_FALSE(boxed.count_refused_opens);
  EXPECT_EQ(boxed.memory_limit_bytes, 256u << 20);
  EXPECT_EQ(boxed.pids_limit, 16u);
  EXPECT_EQ(boxed.cpu_time_limit, absl::Milliseconds(1500));
}

TEST(ConfigLoaderTest, CanaryMapsToTheSpecWithItsPathResolved) {
  absl::StatusOr<HostConfig> config = ParseHostConfig(R"pb(
    function { name: "plain" module_path: "/m/plain.so" }
    function {
      name: "split"
      module_path: "/m/v1.so"
      canary { module_path: "v2.so" share: 0.05 }
    }
  )pb", "/etc/fnhost/fnhost.textproto");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->functions[0].canary.module_path, "");
  EXPECT_EQ(config->functions[1].canary.module_path, "/etc/fnhost/v2.so");
  EXPECT_EQ(config->functions[1].canary.share, 0.05);
}

TEST(ConfigLoaderTest, UnsetFieldsKeepFunctionSpecDefaults) {
  absl::StatusOr<HostConfig> config = LoadHostConfig(kConfigDir + "/minimal.textproto");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->snapshot_dir, "");
  EXPECT_FALSE(config->allow_writable_modules);
  EXPECT_EQ(config->memory_budget_mb, 0);
  ASSERT_EQ(config->functions.size(), 1u);
  const FunctionSpec& spec = config->functions[0];
  const FunctionSpec defaults;
  EXPECT_EQ(spec.sha256, defaults.sha256);
  EXPECT_EQ(spec.init_config, defaults.init_config);
  EXPECT_EQ(spec.use_snapshots, defaults.use_snapshots);
  EXPECT_EQ(spec.pool.min_instances, defaults.pool.min_instances);
  EXPECT_EQ(spec.pool.max_instances, defaults.pool.max_instances);
  EXPECT_EQ(spec.pool.max_concurrency_per_instance, defaults.pool.max_concurrency_per_instance);
  EXPECT_EQ(spec.pool.max_queue, defaults.pool.max_queue);
  EXPECT_EQ(spec.pool.default_timeout, defaults.pool.default_timeout);
  const KeepAliveOptions& keep_alive = spec.pool.keep_alive;
  EXPECT_EQ(keep_alive.kind, defaults.pool.keep_alive.kind);
  EXPECT_EQ(keep_alive.idle_timeout, defaults.pool.keep_alive.idle_timeout);
  EXPECT_EQ(keep_alive.unload_when_idle, defaults.pool.keep_alive.unload_when_idle);
  EXPECT_TRUE(keep_alive.daily_windows.empty());
  EXPECT_EQ(keep_alive.scheduled_instances, defaults.pool.keep_alive.scheduled_instances);
  EXPECT_EQ(keep_alive.warm_every, defaults.pool.keep_alive.warm_every);
}

TEST(ConfigLoaderTest, ZeroIsAValueNotUnset) {
  absl::StatusOr<HostConfig> config = ParseHostConfig(
      R"pb(function {
             name: "f"
             module_path: "f.so"
             pool { max_queue: 0 keep_alive { scheduled_instances: 0 } }
           })pb",
      "c.textproto");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->functions[0].pool.max_queue, 0);
  EXPECT_EQ(config->functions[0].pool.keep_alive.scheduled_instances, 0);
}

TEST(ConfigLoaderTest, EmptyTextIsAnEmptyConfig) {
  absl::StatusOr<HostConfig> config = ParseHostConfig("", "empty.textproto");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->functions.empty());
}

constexpr char kRelativePaths[] = R"pb(
  snapshot_dir: "../snap"
  function {
    name: "a"
    module_path: "a.so"
    canary { module_path: "./canary/a2.so" share: 0.5 }
  }
  function { name: "b" module_path: "../lib/b.so" }
  function { name: "c" module_path: "/abs/c.so" }
)pb";

TEST(ConfigLoaderTest, ResolvesRelativePathsAgainstTheConfigDirectory) {
  absl::StatusOr<HostConfig> config = ParseHostConfig(kRelativePaths, "/etc/fnhost/host.textproto");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->snapshot_dir, "/etc/fnhost/../snap");
  EXPECT_EQ(config->functions[0].module_path, "/etc/fnhost/a.so");
  EXPECT_EQ(config->functions[0].canary.module_path, "/etc/fnhost/canary/a2.so");
  EXPECT_EQ(config->functions[1].module_path, "/etc/fnhost/../lib/b.so");
  EXPECT_EQ(config->functions[2].module_path, "/abs/c.so");
}

// `fnhost serve --config=host.textproto`: the config's own directory is the current one, made
// absolute, so that no module path is left without a slash for dlopen to search.
TEST(ConfigLoaderTest, RelativeConfigPathResolvesAgainstTheCurrentDirectory) {
  const std::string cwd = std::filesystem::current_path().string();
  absl::StatusOr<HostConfig> here = ParseHostConfig(kRelativePaths, "host.textproto");
  ASSERT_TRUE(here.ok()) << here.status();
  EXPECT_EQ(here->snapshot_dir, cwd + "/../snap");
  EXPECT_EQ(here->functions[0].module_path, cwd + "/a.so");
  EXPECT_EQ(here->functions[0].canary.module_path, cwd + "/canary/a2.so");
  EXPECT_EQ(here->functions[1].module_path, cwd + "/../lib/b.so");
  EXPECT_EQ(here->functions[2].module_path, "/abs/c.so");

  absl::StatusOr<HostConfig> nested = ParseHostConfig(kRelativePaths, "./etc//host.textproto");
  ASSERT_TRUE(nested.ok()) << nested.status();
  EXPECT_EQ(nested->snapshot_dir, cwd + "/etc/../snap");
  EXPECT_EQ(nested->functions[0].module_path, cwd + "/etc/a.so");
}

TEST(ConfigLoaderTest, MissingFileIsNotFoundNamingThePath) {
  const std::string path = kConfigDir + "/does_not_exist.textproto";
  absl::StatusOr<HostConfig> config = LoadHostConfig(path);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(config.status().message()), HasSubstr(path));
}

TEST(ConfigLoaderTest, SyntaxErrorNamesFileLineAndColumn) {
  const std::string path = kConfigDir + "/syntax_error.textproto";
  absl::StatusOr<HostConfig> config = LoadHostConfig(path);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(config.status().message(), path + ":5:25: Expected integer, got: abc");
}

TEST(ConfigLoaderTest, UnknownFieldNamesFileLineAndColumn) {
  const std::string path = kConfigDir + "/unknown_field.textproto";
  absl::StatusOr<HostConfig> config = LoadHostConfig(path);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  // Protobuf places the error just after the field name, at the ':'.
  EXPECT_EQ(config.status().message(),
            path + ":4:15: Message type \"fnhost.config.Function\" has no field named "
                   "\"max_instance\".");
}

struct BadInput {
  const char* test_name;
  const char* text;
  absl::StatusCode code;
  const char* message;  // the whole expected message after "bad.textproto: "
};

class BadConfigTest : public ::testing::TestWithParam<BadInput> {};

TEST_P(BadConfigTest, IsRejectedNamingFileAndFunction) {
  absl::StatusOr<HostConfig> config = ParseHostConfig(GetParam().text, "bad.textproto");
  EXPECT_EQ(config.status().code(), GetParam().code);
  EXPECT_EQ(config.status().message(), std::string("bad.textproto: ") + GetParam().message);
}

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

INSTANTIATE_TEST_SUITE_P(
    Semantic, BadConfigTest,
    ::testing::Values(
        BadInput{"DuplicateName",
                 R"pb(function { name: "a" module_path: "a.so" }
                      function { name: "b" module_path: "b.so" }
                      function { name: "a" module_path: "c.so" })pb",
                 kInvalid, "function \"a\": duplicate name (first used by function #1)"},
        BadInput{"EmptyName", R"pb(function { module_path: "a.so" })pb", kInvalid,
                 "function #1: name is empty"},
        BadInput{"NegativeMemoryBudget", R"pb(memory_budget_mb: -1)pb", kInvalid,
                 "memory_budget_mb must be 0 (no budget) or a positive number of MB, not -1"},
        BadInput{"InstanceLargerThanTheMemoryBudget",
                 R"pb(memory_budget_mb: 256
                      function {
                        name: "a"
                        module_path: "a.so"
                        pool { keep_alive { instance_memory_mb: 512 } }
                      })pb",
                 kInvalid,
                 "function \"a\": pool.keep_alive.instance_memory_mb 512 is more than the host's "
                 "memory_budget_mb 256"},
        BadInput{"CanaryWithoutPath",
                 R"pb(function { name: "a" module_path: "a.so" canary { share: 0.5 } })pb",
                 kInvalid, "function \"a\": canary.module_path is empty"},
        BadInput{"CanaryShareAboveOne",
                 R"pb(function {
                        name: "a"
                        module_path: "a.so"
                        canary { module_path: "b.so" share: 1.5 }
                      })pb",
                 kInvalid, "function \"a\": canary.share 1.5 is not between 0 and 1"},
        BadInput{"EmptyModulePath",
                 R"pb(function { name: "a" module_path: "a.so" }
                      function { name: "b" })pb",
                 kInvalid, "function \"b\": module_path is empty"},
        BadInput{"MinAboveMax",
                 R"pb(function {
                        name: "a"
                        module_path: "a.so"
                        pool { min_instances: 3 max_instances: 2 }
                      })pb",
                 kInvalid,
                 "function \"a\": pool.min_instances (3) is greater than pool.max_instances (2)"},
        BadInput{"MinAboveDefaultMax",
                 R"pb(function { name: "a" module_path: "a.so" pool { min_instances: 9 } })pb",
                 kInvalid,
                 "function \"a\": pool.min_instances (9) is greater than pool.max_instances (8)"},
        BadInput{"NegativeMinInstances",
                 R"pb(function { name: "a" module_path: "a.so" pool { min_instances: -1 } })pb",
                 kInvalid, "function \"a\": pool.min_instances is negative (-1)"},
        BadInput{"NegativeMaxInstances",
                 R"pb(function { name: "a" module_path: "a.so" pool { max_instances: -2 } })pb",
                 kInvalid, "function \"a\": pool.max_instances is negative (-2)"},
        BadInput{"NegativeConcurrency",
                 R"pb(function {
                        name: "a"
                        module_path: "a.so"
                        pool { max_concurrency_per_instance: -1 }
                      })pb",
                 kInvalid, "function \"a\": pool.max_concurrency_per_instance is negative (-1)"},
        BadInput{"NegativeQueue",
                 R"pb(function { name: "a" module_path: "a.so" pool { max_queue: -5 } })pb",
                 kInvalid, "function \"a\": pool.max_queue is negative (-5)"},
        BadInput{"NegativeTimeout",
                 R"pb(function {
                        name: "a"
                        module_path: "a.so"
                        pool { default_timeout_ms: -1 }
                      })pb",
                 kInvalid, "function \"a\": pool.default_timeout_ms is negative (-1)"},
        BadInput{"NegativeIdleTimeout",
                 R"pb(function {
                        name: "a"
                        module_path: "a.so"
                        pool { keep_alive { idle_timeout_s: -60 } }
                      })pb",
                 kInvalid, "function \"a\": pool.keep_alive.idle_timeout_s is negative (-60)"},
        BadInput{"NegativeScheduledInstances",
                 R"pb(function {
                        name: "a"
                        module_path: "a.so"
                        pool { keep_alive { scheduled_instances: -1 } }
                      })pb",
                 kInvalid,
                 "function \"a\": pool.keep_alive.scheduled_instances is negative (-1)"},
        BadInput{"NegativeWarmEvery",
                 R"pb(function {
                        name: "a"
                        module_path: "a.so"
                        pool { keep_alive { warm_every_s: -1 } }
                      })pb",
                 kInvalid, "function \"a\": pool.keep_alive.warm_every_s is negative (-1)"},
        BadInput{"ZeroInstanceMemory",
                 R"pb(function {
                        name: "a"
                        module_path: "a.so"
                        pool { keep_alive { kind: HYBRID instance_memory_mb: 0 } }
                      })pb",
                 kInvalid,
                 "function \"a\": pool.keep_alive.instance_memory_mb 0 is not a positive number"},
        BadInput{"NegativeColdStartCost",
                 R"pb(function {
                        name: "a"
                        module_path: "a.so"
                        pool { keep_alive { kind: HYBRID cold_start_cost_gb_s: -1 } }
                      })pb",
                 kInvalid,
                 "function \"a\": pool.keep_alive.cold_start_cost_gb_s -1 is not a positive "
                 "number"},
        BadInput{"ProcessLimitsWithoutProcessIsolation",
                 R"pb(function {
                        name: "a"
                        module_path: "a.so"
                        process_limits { invoke_timeout_ms: 100 }
                      })pb",
                 kInvalid,
                 "function \"a\": process_limits is set but isolation is IN_PROCESS (limits "
                 "need isolation: PROCESS)"},
        BadInput{"NegativeInvokeTimeout",
                 R"pb(function {
                        name: "a"
                        module_path: "a.so"
                        isolation: PROCESS
                        process_limits { invoke_timeout_ms: -1 }
                      })pb",
                 kInvalid, "function \"a\": process_limits.invoke_timeout_ms is negative (-1)"},
        BadInput{"NegativeSpinBudget",
                 R"pb(function {
                        name: "a"
                        module_path: "a.so"
                        isolation: PROCESS
                        process_limits { spin_budget_us: -5 }
                      })pb",
                 kInvalid, "function \"a\": process_limits.spin_budget_us is negative (-5)"},
        BadInput{"SandboxWithoutProcessIsolation",
                 R"pb(function {
                        name: "a"
                        module_path: "a.so"
                        sandbox { level: STRICT }
                      })pb",
                 kInvalid,
                 "function \"a\": sandbox is set but isolation is IN_PROCESS (a sandbox needs "
                 "isolation: PROCESS)"},
        BadInput{"NegativeCpuTimeLimit",
                 R"pb(function {
                        name: "a"
                        module_path: "a.so"
                        isolation: PROCESS
                        sandbox { cpu_time_limit_ms: -2 }
                      })pb",
                 kInvalid, "function \"a\": sandbox.cpu_time_limit_ms is negative (-2)"},
        BadInput{"UnknownSandboxLevel",
                 R"pb(function {
                        name: "a"
                        module_path: "a.so"
                        isolation: PROCESS
                        sandbox { level: 9 }
                      })pb",
                 kInvalid, "function \"a\": sandbox.level 9 is unknown"},
        BadInput{"UnknownIsolationNumber",
                 R"pb(function { name: "a" module_path: "a.so" isolation: 7 })pb", kInvalid,
                 "function \"a\": isolation 7 is unknown"},
        BadInput{"UnknownKeepAliveKind",
                 R"pb(function {
                        name: "a"
                        module_path: "a.so"
                        pool { keep_alive { kind: 9 } }
                      })pb",
                 kInvalid, "function \"a\": pool.keep_alive.kind 9 is unknown"},
        BadInput{"ShortSha256",
                 R"pb(function { name: "a" module_path: "a.so" sha256: "abc123" })pb", kInvalid,
                 "function \"a\": sha256 \"abc123\" is not 64 hexadecimal digits"},
        BadInput{"NonHexSha256",
                 R"pb(function {
                        name: "a"
                        module_path: "a.so"
                        sha256: "g86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
                      })pb",
                 kInvalid,
                 "function \"a\": sha256 "
                 "\"g86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\" is not 64 "
                 "hexadecimal digits"}),
    [](const ::testing::TestParamInfo<BadInput>& info) { return info.param.test_name; });

// Each bad "HH:MM" pair, as begin and end of a daily window.
class BadDailyWindowTest
    : public ::testing::TestWithParam<std::pair<const char*, const char*>> {};

TEST_P(BadDailyWindowTest, IsRejectedNamingTheFunction) {
  const auto& [begin, end] = GetParam();
  const std::string text = std::string(R"pb(function {
                                             name: "w"
                                             module_path: "w.so"
                                             pool {
                                               keep_alive {
                                                 daily_window { begin: ")pb") +
                           begin + "\" end: \"" + end + "\" } } } }";
  absl::StatusOr<HostConfig> config = ParseHostConfig(text, "bad.textproto");
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(config.status().message()),
              StartsWith("bad.textproto: function \"w\": pool.keep_alive.daily_window \""));
}

INSTANTIATE_TEST_SUITE_P(
    Times, BadDailyWindowTest,
    ::testing::Values(std::make_pair("8:30", "09:00"), std::make_pair("08:30", "9:00"),
                      std::make_pair("08:60", "09:00"), std::make_pair("24:00", "24:00"),
                      std::make_pair("00:00", "24:01"), std::make_pair("25:00", "26:00"),
                      std::make_pair("ab:cd", "09:00"), std::make_pair("08-30", "09:00"),
                      std::make_pair("", "09:00"), std::make_pair("08:30", ""),
                      std::make_pair("08:30 ", "09:00"), std::make_pair("10:00", "10:00")));

}  // namespace
}  // namespace fnhost

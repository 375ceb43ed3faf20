// A full init of the recommender example against a restore of its snapshot, each through the
// Host from Host::Create to the first response ("item=1000042 k=5"), with 1, 64 and 256 MiB of
// item vectors:
//   BM_StateInit/<MiB>                the state built by the module's init
//   BM_SnapshotRestore/<MiB>          restored from a snapshot in a private directory: trusted,
//                                     section checksums skipped, sections used in place (zero-copy)
//   BM_SnapshotRestoreVerified/<MiB>  the same with every section checksum checked first
//   BM_MmapFloor/<MiB>                what any restore from this file must do: dlopen the module,
//                                     open and mmap the snapshot, and read the bytes the first
//                                     query reads (header, params, the coarse quantizer, the
//                                     fine centroids of coarse_nprobe groups, nprobe clusters'
//                                     offsets and vectors, a page of ids, a binary search of
//                                     the id fences and one page of by_id)
// Every restore and floor iteration dlopens the built module anew (the previous iteration
// unloaded it, which is checked), as a cold start in a new process does; the module and the
// snapshot file are in the page cache, as they are after the first start on a machine. The
// module is the deployed file itself, not a fresh copy per iteration, so that a trusted restore
// finds the module's SHA-256 remembered in its snapshot directory, as a new process would (see
// ModuleHashCache in src/snapshot/state_snapshots.h); BM_SnapshotRestoreVerified, whose directory
// is not trusted, hashes the module every time. Each init loads a fresh copy.
//
// The model files and the snapshot of each size are built on first use and cached in the build
// directory (bench-data/recommender-*.txt, bench-data/snapshots/): the first run at 256 MiB
// takes minutes.
// A snapshot's name holds the module's hash, so a rebuilt module gets a new one; the older
// snapshot of the same config is removed then.
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "benchmarks/recommender_state.h"
#include "fnhost/abi.h"
#include "fnhost/host.h"
#include "fnhost/testing.h"
#include "src/loader/module_loader.h"
#include "src/snapshot/mapped_snapshot.h"

namespace fnhost {
namespace {

constexpr char kQuery[] = "item=1000042 k=5";

// Private (mode 0700), so that the Host trusts the snapshots in it.
std::filesystem::path SnapshotCacheDir() {
  std::filesystem::path dir = bench::BenchDataDir() / "snapshots";
  std::filesystem::create_directories(dir);
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all);
  return dir;
}

// A copy of the recommender module under a new name, removed again at scope exit.
class FreshModule {
 public:
  FreshModule() {
    static int counter = 0;
    path_ = (bench::BenchDataDir() / ("recommender-copy-" + std::to_string(::getpid()) + "-" +
                                      std::to_string(counter++) + ".so"))
                .string();
    std::filesystem::copy_file(bench::RecommenderModulePath(), path_,
                               std::filesystem::copy_options::overwrite_existing);
  }
  ~FreshModule() { std::filesystem::remove(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Records the cold start's state source and the snapshot file used or written.
class SnapshotRecorder : public MetricsSink {
 public:
  void OnColdStart(const ColdStartEvent& event) override {
    std::lock_guard<std::mutex> lock(mu_);
    restored_ = event.state_source == StateSource::kRestore;
    state_phase_ = event.state_init;
  }
  void OnInvocation(const InvocationEvent&) override {}
  void OnSnapshotEvent(const SnapshotEvent& event) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (event.kind == SnapshotEventKind::kRestored || event.kind == SnapshotEventKind::kWritten) {
      path_ = std::string(event.path);
    } else {
      error_ = std::string(event.path) + ": " + std::string(event.detail);
    }
  }
  bool restored() {
    std::lock_guard<std::mutex> lock(mu_);
    return restored_;
  }
  // The cold start's state phase alone: init, or identity check + mmap + state_restore.
  absl::Duration state_phase() {
    std::lock_guard<std::mutex> lock(mu_);
    return state_phase_;
  }
  std::string path() {
    std::lock_guard<std::mutex> lock(mu_);
    return path_;
  }
  std::string error() {
    std::lock_guard<std::mutex> lock(mu_);
    return error_;
  }

 private:
  std::mutex mu_;
  bool restored_ = false;
  absl::Duration state_phase_;
  std::string path_;
  std::string error_;
};

// Host::Create, Register and the first Invoke. The host is returned so that the caller decides
// whether its destruction (unload, pending snapshot writes) is timed: here it never is.
absl::StatusOr<std::unique_ptr<Host>> ColdStart(const std::string& module, int64_t mib,
                                                const std::string& snapshot_dir, bool trust,
                                                MetricsSink* sink, std::string* response) {
  HostOptions options;
  options.metrics_sink = sink;
  options.snapshot_dir = snapshot_dir;
  options.trust_private_snapshot_dir = trust;
  absl::StatusOr<std::unique_ptr<Host>> host = HostForTesting::Create(options);
  if (!host.ok()) return host.status();
  FunctionSpec spec;
  spec.name = "recommender";
  spec.module_path = module;
  spec.init_config = bench::RecommenderInitConfig(mib);
  if (absl::Status status = (*host)->Register(spec); !status.ok()) return status;
  absl::StatusOr<FunctionHandle> handle = (*host)->Lookup("recommender");
  if (!handle.ok()) return handle.status();
  if (absl::Status status = (*host)->Invoke(*handle, kQuery, response); !status.ok()) {
    return status;
  }
  return host;
}

// The path of the snapshot for `mib`, built by an init the first time (not timed).
absl::StatusOr<std::string> EnsureSnapshot(int64_t mib) {
  SnapshotRecorder recorder;
  std::string response;
  {
    absl::StatusOr<std::unique_ptr<Host>> host = ColdStart(
        bench::RecommenderModulePath(), mib, SnapshotCacheDir(), true, &recorder, &response);
    if (!host.ok()) return host.status();
  }  // a state built by init is written to the cache as the host shuts down
  const std::string path = recorder.path();
  if (path.empty()) {
    return absl::InternalError("no snapshot was restored or written: " + recorder.error());
  }
  // Older builds' snapshots of the same config end the same way: ".<config hash>.snap".
  const std::string suffix = path.substr(path.rfind('.', path.size() - 6));
  for (const auto& entry : std::filesystem::directory_iterator(SnapshotCacheDir())) {
    const std::string other = entry.path().string();
    if (other != path && other.size() > suffix.size() &&
        other.compare(other.size() - suffix.size(), suffix.size(), suffix) == 0) {
      std::filesystem::remove(other);
    }
  }
  return path;
}

// Whether the recommender's model file for `mib` exists. If not, the first init would generate
// it inside the timed region.
bool ModelFileExists(int64_t mib) {
  return std::filesystem::exists(bench::RecommenderModelPath(mib));
}

void BM_StateInit(benchmark::State& state) {
  const int64_t mib = state.range(0);
  std::string response;
  if (!ModelFileExists(mib)) {  // generate it, untimed
    FreshModule module;
    ColdStart(module.path(), mib, "", true, nullptr, &response).IgnoreError();
  }
  // The snapshot each init writes as its host shuts down (untimed) lands in an empty scratch
  // directory, then in the cache, so that the restore benchmarks need no init of their own.
  const std::filesystem::path scratch =
      SnapshotCacheDir() / ("init-" + std::to_string(::getpid()));
  std::error_code ignored;
  for (auto _ : state) {
    std::filesystem::create_directories(scratch);
    FreshModule module;
    SnapshotRecorder recorder;
    auto start = std::chrono::steady_clock::now();
    absl::StatusOr<std::unique_ptr<Host>> host =
        ColdStart(module.path(), mib, scratch.string(), true, &recorder, &response);
    auto end = std::chrono::steady_clock::now();
    if (!host.ok() || recorder.restored()) {
      state.SkipWithError(host.ok() ? "restored instead of init"
                                    : std::string(host.status().message()).c_str());
      break;
    }
    state.SetIterationTime(std::chrono::duration<double>(end - start).count());
    host->reset();
    const std::filesystem::path written = recorder.path();
    if (!written.empty() && !std::filesystem::exists(SnapshotCacheDir() / written.filename())) {
      std::filesystem::rename(written, SnapshotCacheDir() / written.filename(), ignored);
    }
    std::filesystem::remove_all(scratch, ignored);
  }
}

void RestoreBenchmark(benchmark::State& state, bool trust) {
  const int64_t mib = state.range(0);
  absl::StatusOr<std::string> snapshot = EnsureSnapshot(mib);
  if (!snapshot.ok()) {
    state.SkipWithError(std::string(snapshot.status().message()).c_str());
    return;
  }
  const std::string directory = std::filesystem::path(*snapshot).parent_path().string();
  const std::string module = bench::RecommenderModulePath();
  std::string response;
  absl::Duration state_phase;
  for (auto _ : state) {
    SnapshotRecorder recorder;
    auto start = std::chrono::steady_clock::now();
    absl::StatusOr<std::unique_ptr<Host>> host =
        ColdStart(module, mib, directory, trust, &recorder, &response);
    auto end = std::chrono::steady_clock::now();
    if (!host.ok() || !recorder.restored()) {
      state.SkipWithError(
          host.ok() ? ("not restored: " + recorder.error()).c_str()
                    : std::string(host.status().message()).c_str());
      return;
    }
    state.SetIterationTime(std::chrono::duration<double>(end - start).count());
    state_phase += recorder.state_phase();
    host->reset();
    if (IsLoaded(module)) {
      state.SkipWithError("the module stayed mapped after its host was destroyed");
      return;
    }
  }
  // Restore itself, without dlopen and the first query.
  state.counters["restore_phase_ms"] = benchmark::Counter(
      absl::ToDoubleMilliseconds(state_phase) / static_cast<double>(state.iterations()));
}

void BM_SnapshotRestore(benchmark::State& state) { RestoreBenchmark(state, /*trust=*/true); }
void BM_SnapshotRestoreVerified(benchmark::State& state) {
  RestoreBenchmark(state, /*trust=*/false);
}

// The recommender's "params" section (see examples/recommender/recommender.cc).
struct RecommenderParams {
  uint32_t format;
  uint32_t dim;
  uint32_t clusters;
  uint32_t nprobe;
  uint64_t items;
  uint32_t groups;
  uint32_t coarse_nprobe;
};

struct Range {
  uint64_t offset;
  uint64_t size;
};

// The byte ranges of `path` that a restore and its first query read, from its section table.
absl::StatusOr<std::vector<Range>> FirstQueryRanges(const std::string& path) {
  absl::StatusOr<std::unique_ptr<MappedSnapshot>> mapped =
      MappedSnapshot::OpenForInspection(path, SectionVerification::kTrust);
  if (!mapped.ok()) return mapped.status();
  std::optional<std::string_view> params_bytes = (*mapped)->FindSection("params");
  if (!params_bytes.has_value() || params_bytes->size() != sizeof(RecommenderParams)) {
    return absl::DataLossError(path + ": no recommender params section");
  }
  RecommenderParams params;
  std::memcpy(&params, params_bytes->data(), sizeof(params));
  if (params.format != 2 || params.clusters == 0 || params.groups == 0) {
    return absl::DataLossError(path + ": recommender params of another format");
  }
  const uint64_t probed = std::min(params.nprobe, params.clusters);
  std::vector<Range> ranges = {{0, 4096}};  // preamble and header
  for (const snapshot::Section& section : (*mapped)->header().section()) {
    const std::string& name = section.name();
    if (name == "params" || name == "coarse" || name == "group_offsets") {
      ranges.push_back({section.offset(), section.size()});
    } else if (name == "centroids") {  // coarse_nprobe groups of average size
      ranges.push_back({section.offset(), section.size() *
                                              std::min(params.coarse_nprobe, params.groups) /
                                              params.groups});
    } else if (name == "offsets") {  // two entries per probed cluster, spread over the section
      for (uint64_t i = 0; i < probed; ++i) {
        ranges.push_back({section.offset() + (section.size() - 16) * i / probed / 8 * 8, 16});
      }
    } else if (name == "vectors") {  // nprobe clusters of average size
      ranges.push_back({section.offset(), section.size() * probed / params.clusters});
    } else if (name == "ids") {  // the k hits' ids, in the best cluster
      ranges.push_back({section.offset(), std::min<uint64_t>(4096, section.size())});
    } else if (name == "id_fences") {  // one page per step of a binary search, and the first
      ranges.push_back({section.offset(), 8});
      for (uint64_t step = section.size() / 2; step >= 4096; step /= 2) {
        ranges.push_back({section.offset() + step / 4096 * 4096, 8});
      }
    } else if (name == "by_id") {  // the page of one fence's block
      const uint64_t page = section.size() / 2 / 4096 * 4096;
      ranges.push_back({section.offset() + page, std::min<uint64_t>(4096, section.size() - page)});
    }
  }
  return ranges;
}

uint64_t SumWords(const char* data, uint64_t size) {
  uint64_t sum = 0;
  for (uint64_t i = 0; i + sizeof(uint64_t) <= size; i += sizeof(uint64_t)) {
    uint64_t word;
    std::memcpy(&word, data + i, sizeof(word));
    sum += word;
  }
  return sum;
}

void BM_MmapFloor(benchmark::State& state) {
  absl::StatusOr<std::string> snapshot = EnsureSnapshot(state.range(0));
  absl::StatusOr<std::vector<Range>> ranges =
      snapshot.ok() ? FirstQueryRanges(*snapshot) : snapshot.status();
  if (!ranges.ok()) {
    state.SkipWithError(std::string(ranges.status().message()).c_str());
    return;
  }
  const std::string module = bench::RecommenderModulePath();
  for (auto _ : state) {
    auto start = std::chrono::steady_clock::now();
    void* handle = ::dlopen(module.c_str(), RTLD_NOW | RTLD_LOCAL);
    auto entry = handle == nullptr ? nullptr
                                   : reinterpret_cast<fnhost_module_entry_fn>(
                                         ::dlsym(handle, FNHOST_MODULE_ENTRY_SYMBOL));
    const fnhost_module_v1* table = entry == nullptr ? nullptr : entry(FNHOST_ABI_VERSION);
    int fd = ::open(snapshot->c_str(), O_RDONLY | O_CLOEXEC);
    const size_t size = std::filesystem::file_size(*snapshot);
    void* data = fd < 0 ? MAP_FAILED : ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (table == nullptr || data == MAP_FAILED) {
      state.SkipWithError("dlopen or mmap failed");
      return;
    }
    ::close(fd);
    uint64_t sum = 0;
    for (const Range& range : *ranges) {
      sum += SumWords(static_cast<const char*>(data) + range.offset, range.size);
    }
    benchmark::DoNotOptimize(sum);
    auto end = std::chrono::steady_clock::now();
    state.SetIterationTime(std::chrono::duration<double>(end - start).count());
    ::munmap(data, size);
    ::dlclose(handle);
    if (IsLoaded(module)) {
      state.SkipWithError("the module stayed mapped after dlclose");
      return;
    }
  }
}

// Init is seconds per iteration at 64 MiB and tens of seconds at 256 MiB: few iterations.
BENCHMARK(BM_StateInit)->Arg(1)->Iterations(3)->Unit(benchmark::kMillisecond)->UseManualTime();
BENCHMARK(BM_StateInit)->Arg(64)->Iterations(1)->Unit(benchmark::kMillisecond)->UseManualTime();
BENCHMARK(BM_StateInit)->Arg(256)->Iterations(1)->Unit(benchmark::kMillisecond)->UseManualTime();
BENCHMARK(BM_SnapshotRestore)
    ->Arg(1)->Arg(64)->Arg(256)
    ->Iterations(20)->Unit(benchmark::kMillisecond)->UseManualTime();
BENCHMARK(BM_SnapshotRestoreVerified)
    ->Arg(1)->Arg(64)->Arg(256)
    ->Iterations(5)->Unit(benchmark::kMillisecond)->UseManualTime();
BENCHMARK(BM_MmapFloor)
    ->Arg(1)->Arg(64)->Arg(256)
    ->Iterations(20)->Unit(benchmark::kMillisecond)->UseManualTime();

}  // namespace
}  // namespace fnhost

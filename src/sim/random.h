// Deterministic pseudo-random numbers for the trace generator and the replay: the same seed
// gives the same trace and the same simulation on every machine and standard library (the
// <random> distributions are implementation-defined, so they are not used).
// Thread-safety: an Rng is not thread-safe; the free functions are.

#ifndef FNHOST_SRC_SIM_RANDOM_H_
#define FNHOST_SRC_SIM_RANDOM_H_

#include <cmath>
#include <cstdint>
#include <string_view>

namespace fnhost::sim {

// SplitMix64 (Steele, Lea and Flood, 2014): tiny, fast, and good enough for workload draws.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1).
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  // Uniform in [low, high).
  double Uniform(double low, double high) { return low + (high - low) * Uniform(); }
  // Exponential with the given mean.
  double Exponential(double mean) { return -mean * std::log1p(-Uniform()); }
  // Standard normal (Box-Muller; one of the pair is dropped to keep the state simple).
  double Normal() {
    const double u = 1.0 - Uniform();  // (0, 1]
    return std::sqrt(-2.0 * std::log(u)) * std::cos(2.0 * M_PI * Uniform());
  }

 private:
  uint64_t state_;
};

// A seed derived from two values, for independent streams (per function, per minute).
inline uint64_t MixSeed(uint64_t a, uint64_t b) {
  return Rng(a ^ (b * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL)).Next();
}

// FNV-1a: a hash of a name that is stable across runs and builds (absl::Hash is not).
inline uint64_t StableHash(std::string_view text) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) hash = (hash ^ c) * 0x100000001b3ULL;
  return hash;
}

}  // namespace fnhost::sim

#endif  // FNHOST_SRC_SIM_RANDOM_H_

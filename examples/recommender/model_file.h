// The recommender's embedding model as a text file, one item per line: "item_id v1 ... vD".
// Blank lines and lines starting with '#' are skipped. Thread-safe: functions share no state,
// and a generated file appears under its final name only when complete.

#ifndef FNHOST_EXAMPLES_RECOMMENDER_MODEL_FILE_H_
#define FNHOST_EXAMPLES_RECOMMENDER_MODEL_FILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "examples/recommender/params.h"
#include "fnhost/module.h"

namespace recommender {

struct Model {
  std::vector<uint64_t> ids;
  std::vector<float> vectors;  // ids.size() rows of `dim` floats
};

// Writes a synthetic model for params.items, dim, topics and seed to `path`: items scattered
// around `topics` random topic centres, ids from 1000000 up. The same parameters always give
// the same bytes. Written to a unique temporary name and renamed, so processes that generate
// the same file at once are safe.
fnhost::sdk::Status GenerateModelFile(const Params& params, const std::string& path);

// Parses the model at `path`; every line must hold exactly `dim` values. NOT_FOUND when the file
// does not exist, INVALID_ARGUMENT naming the line for a malformed one.
fnhost::sdk::Status ReadModelFile(const std::string& path, uint32_t dim, Model* model);

}  // namespace recommender

#endif  // FNHOST_EXAMPLES_RECOMMENDER_MODEL_FILE_H_

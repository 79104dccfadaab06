// Index validation that runs where the indices live: bindings call these before a kernel indexes with ids
// (embedding rows, class targets), and the CUDA build provides twins that scan on the device.
#pragma once
#include <cstdint>

namespace tn {

// An `allowed` value no int32 id can equal: every id must then lie in [0, limit).
constexpr int64_t kNoAllowedIndex = INT64_MIN;

// Position of the first ids[i] outside [0, limit) that is not equal to `allowed`, or -1 when all are valid.
int64_t find_invalid_index(const int32_t* ids, int64_t n, int64_t limit, int64_t allowed);

// The value at ids[pos], for error messages.
int32_t read_index(const int32_t* ids, int64_t pos);

}  // namespace tn

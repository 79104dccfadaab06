#include "indices.h"

namespace tn {

int64_t find_invalid_index(const int32_t* ids, int64_t n, int64_t limit, int64_t allowed) {
  for (int64_t i = 0; i < n; ++i) {
    const int64_t id = ids[i];
    if (id != allowed && (id < 0 || id >= limit)) return i;
  }
  return -1;
}

int32_t read_index(const int32_t* ids, int64_t pos) { return ids[pos]; }

}  // namespace tn

// The communication thread: every MPI call of the process runs on it (MPI_THREAD_FUNNELED with this thread as
// MPI's main thread), in the order the collectives were queued, so that every rank issues them in the same order
// while the JS thread goes on computing (a backward pass). Each collective is non-blocking MPI polled with short
// sleeps, so a waiting collective leaves the cores to the computation, and so that it can give up: past the timeout,
// or when a rank on this host has died, the process prints what happened (naming the rank) and aborts the job.
#pragma once

#include <mpi.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tnmpi {

enum class Kind { kAllReduce, kBroadcast, kBarrier };
enum class Reduce { kSum, kMean, kMax };
enum class DType { kFloat32, kFloat64, kUint8 };

// Where one piece of a collective's data lives: `count` elements of the collective's dtype.
struct Segment {
  void* data;
  int64_t count;
};

// What a caller waits on: set once by the communication thread. Times are seconds of the steady clock (now()).
struct Completion {
  std::mutex mutex;
  std::condition_variable cv;
  bool finished = false;
  std::string error;
  double queued = 0;
  double started = 0;
  double ended = 0;
};

struct Collective {
  explicit Collective(Kind k = Kind::kBarrier) : kind(k) {}
  Kind kind;
  DType dtype = DType::kFloat32;
  Reduce reduce = Reduce::kSum;
  int root = 0;
  std::vector<Segment> segments;
  std::shared_ptr<Completion> done;
};

struct InitResult {
  int rank = 0;
  int size = 1;
  int local_rank = 0;
  int local_size = 1;
  std::string library;
  std::string error;
};

double now();
size_t element_size(DType dtype);
const char* kind_name(Kind kind);

class Comm {
 public:
  static Comm& instance();

  // Starts the thread, which initializes MPI; returns the ranks once it has (or the error).
  InitResult start(double timeout_seconds);
  bool started() const { return thread_.joinable(); }
  // MPI cannot be initialized again once finalized.
  bool finalized() const { return finalized_; }
  // Queues a collective; its Completion is set when it is done on this rank.
  std::shared_ptr<Completion> submit(Collective c);
  // Finishes the queued collectives, calls MPI_Finalize and joins the thread.
  void stop();
  void set_timeout(double seconds);
  double timeout() const;

 private:
  void run(std::shared_ptr<Completion> ready, InitResult* result);
  void init_mpi(InitResult* result);
  void execute(Collective& c);
  void start_nonblocking(Collective& c, void* data, int count, MPI_Request* request);
  void wait_request(MPI_Request* request, const Collective& c);
  std::string describe(const Collective& c) const;
  std::string dead_peers() const;
  [[noreturn]] void fatal(const std::string& message) const;

  std::thread thread_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Collective> queue_;
  bool stopping_ = false;
  bool finalized_ = false;
  double timeout_seconds_ = 600;
  int rank_ = 0;
  int size_ = 1;
  int64_t sequence_ = 0;
  std::vector<char> staging_;  // the packed segments of a multi-segment collective
  struct Peer {
    int rank;
    int pid;
    std::string label;  // "rank 1 (pid 123 on host)"
  };
  std::vector<Peer> local_peers_;  // the other ranks on this host, whose deaths this process can see
};

}  // namespace tnmpi

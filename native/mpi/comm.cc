#include "comm.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <limits>

namespace tnmpi {
namespace {

// The largest count one MPI call takes (its count is an int); longer collectives go in chunks of this many.
constexpr int64_t kMaxChunk = int64_t(1) << 30;
// How often a waiting collective looks for dead ranks on this host.
constexpr double kLivenessPeriod = 0.5;
constexpr int kMaxSleepMicros = 50;

MPI_Datatype mpi_type(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return MPI_FLOAT;
    case DType::kFloat64:
      return MPI_DOUBLE;
    default:
      return MPI_BYTE;
  }
}

std::string mpi_error(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  return std::string(text, static_cast<size_t>(length));
}

// Whether process `pid` has died: gone, or a zombie its launcher has not yet reaped. Only system calls that are
// async-signal-safe, as the SIGTERM handler uses it too.
bool process_dead(int pid) {
  if (kill(pid, 0) != 0 && errno == ESRCH) return true;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
  const int fd = open(path, O_RDONLY);
  if (fd < 0) return errno == ENOENT;
  char buffer[512];
  const ssize_t n = read(fd, buffer, sizeof buffer - 1);
  close(fd);
  if (n <= 0) return false;
  buffer[n] = 0;
  const char* paren = std::strrchr(buffer, ')');  // the state letter follows "pid (command) "
  return paren != nullptr && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
}

// What the SIGTERM handler prints: built at init, so the handler only tests pids and writes.
struct TermMessage {
  char head[256];
  struct {
    int pid;
    char label[160];
  } peers[64];
  int peer_count = 0;
} term_message;

void write_all(const char* text) {
  size_t left = std::strlen(text);
  while (left > 0) {
    const ssize_t n = write(STDERR_FILENO, text, left);
    if (n <= 0) return;
    text += n;
    left -= static_cast<size_t>(n);
  }
}

// A launcher (mpirun, srun) stops every rank with SIGTERM when one of them fails: say so, and which ranks of this
// host are gone, before dying of the signal as before.
void on_sigterm(int) {
  write_all(term_message.head);
  bool any = false;
  for (int i = 0; i < term_message.peer_count; i++) {
    if (!process_dead(term_message.peers[i].pid)) continue;
    write_all(any ? ", " : ": lost ");
    write_all(term_message.peers[i].label);
    any = true;
  }
  write_all(any ? "\n" : "; no other rank on this host has died\n");
  signal(SIGTERM, SIG_DFL);
  raise(SIGTERM);
}

}  // namespace

double now() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

size_t element_size(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return 4;
    case DType::kFloat64:
      return 8;
    default:
      return 1;
  }
}

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::kAllReduce:
      return "allReduce";
    case Kind::kBroadcast:
      return "broadcast";
    default:
      return "barrier";
  }
}

Comm& Comm::instance() {
  static Comm* comm = new Comm();  // never destroyed: the thread may outlive static destructors at exit
  return *comm;
}

InitResult Comm::start(double timeout_seconds) {
  InitResult result;
  set_timeout(timeout_seconds);
  auto ready = std::make_shared<Completion>();
  thread_ = std::thread([this, ready, &result] { run(ready, &result); });
  std::unique_lock<std::mutex> lock(ready->mutex);
  ready->cv.wait(lock, [&] { return ready->finished; });
  lock.unlock();
  if (!result.error.empty() && thread_.joinable()) thread_.join();
  return result;
}

void Comm::set_timeout(double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  timeout_seconds_ = seconds;
}

double Comm::timeout() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return timeout_seconds_;
}

std::shared_ptr<Completion> Comm::submit(Collective c) {
  c.done = std::make_shared<Completion>();
  c.done->queued = now();
  auto done = c.done;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(c));
  }
  wake_.notify_one();
  return done;
}

void Comm::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
  finalized_ = true;
}

void Comm::init_mpi(InitResult* result) {
  int provided = 0;
  int code = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  if (code != MPI_SUCCESS) {
    result->error = "MPI_Init_thread failed: " + mpi_error(code);
    return;
  }
  // Errors come back as codes, so that a failure is reported with what the process was doing.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  char library[MPI_MAX_LIBRARY_VERSION_STRING] = {0};
  int length = 0;
  MPI_Get_library_version(library, &length);
  result->library = std::string(library, static_cast<size_t>(length));
  result->library = result->library.substr(0, result->library.find_first_of(",\n"));

  // Every rank's host and pid: the local rank, and the peers whose death this process can see.
  struct Identity {
    char host[128];
    int pid;
  } me{};
  gethostname(me.host, sizeof me.host - 1);
  me.pid = static_cast<int>(getpid());
  std::vector<Identity> all(static_cast<size_t>(size_));
  code = MPI_Allgather(&me, sizeof me, MPI_BYTE, all.data(), sizeof me, MPI_BYTE, MPI_COMM_WORLD);
  if (code != MPI_SUCCESS) {
    result->error = "exchanging host names failed: " + mpi_error(code);
    return;
  }
  result->rank = rank_;
  result->size = size_;
  result->local_rank = 0;
  result->local_size = 0;
  for (int r = 0; r < size_; r++) {
    if (std::strcmp(all[r].host, me.host) != 0) continue;
    if (r < rank_) result->local_rank++;
    result->local_size++;
    if (r != rank_)
      local_peers_.push_back(
          {r, all[r].pid,
           "rank " + std::to_string(r) + " (pid " + std::to_string(all[r].pid) + " on " + all[r].host + ")"});
  }
  if (size_ > 1) {
    std::snprintf(term_message.head, sizeof term_message.head,
                  "transformer-native dist: rank %d of %d stopped by SIGTERM (a launcher stops every rank when one "
                  "fails)",
                  rank_, size_);
    for (const Peer& p : local_peers_) {
      if (term_message.peer_count == 64) break;
      auto& slot = term_message.peers[term_message.peer_count++];
      slot.pid = p.pid;
      std::snprintf(slot.label, sizeof slot.label, "%s", p.label.c_str());
    }
    struct sigaction action {};
    action.sa_handler = on_sigterm;
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, nullptr);
  }
}

void Comm::run(std::shared_ptr<Completion> ready, InitResult* result) {
  prctl(PR_SET_TIMERSLACK, 1UL);  // short polling sleeps stay short
  init_mpi(result);
  const bool ok = result->error.empty();
  {
    std::lock_guard<std::mutex> lock(ready->mutex);
    ready->finished = true;
  }
  ready->cv.notify_all();  // `result` belongs to start(), which returns now: not touched again
  if (!ok) return;
  for (;;) {
    Collective c;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) break;
      c = std::move(queue_.front());
      queue_.pop_front();
    }
    c.done->started = now();
    sequence_++;
    execute(c);
    {
      std::lock_guard<std::mutex> lock(c.done->mutex);
      c.done->ended = now();
      c.done->finished = true;
    }
    c.done->cv.notify_all();
  }
  MPI_Finalize();
}

void Comm::start_nonblocking(Collective& c, void* data, int count, MPI_Request* request) {
  int code = MPI_SUCCESS;
  if (c.kind == Kind::kAllReduce)
    code = MPI_Iallreduce(MPI_IN_PLACE, data, count, mpi_type(c.dtype), c.reduce == Reduce::kMax ? MPI_MAX : MPI_SUM,
                          MPI_COMM_WORLD, request);
  else if (c.kind == Kind::kBroadcast)
    code = MPI_Ibcast(data, count, mpi_type(c.dtype), c.root, MPI_COMM_WORLD, request);
  else
    code = MPI_Ibarrier(MPI_COMM_WORLD, request);
  if (code != MPI_SUCCESS) fatal(describe(c) + " failed to start: " + mpi_error(code));
}

// Packs several segments into one buffer (one collective instead of many small ones), runs the collective over it in
// chunks MPI's int counts can hold, divides for a mean, and unpacks.
void Comm::execute(Collective& c) {
  if (c.kind == Kind::kBarrier) {
    MPI_Request request;
    start_nonblocking(c, nullptr, 0, &request);
    wait_request(&request, c);
    return;
  }
  const size_t bytes_per = element_size(c.dtype);
  int64_t total = 0;
  for (const Segment& s : c.segments) total += s.count;
  char* data = nullptr;
  if (c.segments.size() == 1) {
    data = static_cast<char*>(c.segments[0].data);
  } else {
    staging_.resize(static_cast<size_t>(total) * bytes_per);
    data = staging_.data();
    char* at = data;
    for (const Segment& s : c.segments) {
      std::memcpy(at, s.data, static_cast<size_t>(s.count) * bytes_per);
      at += static_cast<size_t>(s.count) * bytes_per;
    }
  }
  for (int64_t offset = 0; offset < total; offset += kMaxChunk) {
    MPI_Request request;
    const int count = static_cast<int>(std::min(kMaxChunk, total - offset));
    start_nonblocking(c, data + static_cast<size_t>(offset) * bytes_per, count, &request);
    wait_request(&request, c);
  }
  if (c.kind == Kind::kAllReduce && c.reduce == Reduce::kMean) {
    if (c.dtype == DType::kFloat32) {
      const float n = static_cast<float>(size_);
      float* values = reinterpret_cast<float*>(data);
      for (int64_t i = 0; i < total; i++) values[i] /= n;
    } else {
      const double n = static_cast<double>(size_);
      double* values = reinterpret_cast<double*>(data);
      for (int64_t i = 0; i < total; i++) values[i] /= n;
    }
  }
  if (c.segments.size() > 1) {
    const char* at = data;
    for (const Segment& s : c.segments) {
      std::memcpy(s.data, at, static_cast<size_t>(s.count) * bytes_per);
      at += static_cast<size_t>(s.count) * bytes_per;
    }
  }
}

// Polls until the request completes: yields first, then sleeps up to kMaxSleepMicros between tests. Past the
// timeout, or once a rank of this host is seen dead, the job cannot go on: fatal().
void Comm::wait_request(MPI_Request* request, const Collective& c) {
  const double start = now();
  const double deadline = start + timeout();
  double next_check = start + kLivenessPeriod;
  int sleep_micros = 0;
  for (;;) {
    int flag = 0;
    const int code = MPI_Test(request, &flag, MPI_STATUS_IGNORE);
    if (code != MPI_SUCCESS) {
      const std::string dead = dead_peers();
      fatal(describe(c) + " failed: " + mpi_error(code) + (dead.empty() ? "" : "; lost " + dead));
    }
    if (flag) return;
    const double t = now();
    if (t >= next_check) {
      const std::string dead = dead_peers();
      if (!dead.empty()) fatal("lost " + dead + " during " + describe(c));
      next_check = t + kLivenessPeriod;
    }
    if (t >= deadline) {
      const std::string dead = dead_peers();
      char seconds[32];
      std::snprintf(seconds, sizeof seconds, "%g", timeout());
      fatal(describe(c) + " timed out after " + seconds + " s" +
            (dead.empty() ? ": another rank did not join it (it hangs, died on another host, or ran other collectives)"
                          : "; lost " + dead));
    }
    if (sleep_micros == 0) {
      std::this_thread::yield();
      sleep_micros = 1;
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(sleep_micros));
      sleep_micros = std::min(sleep_micros * 2, kMaxSleepMicros);
    }
  }
}

std::string Comm::describe(const Collective& c) const {
  int64_t total = 0;
  for (const Segment& s : c.segments) total += s.count;
  std::string what = std::string("collective #") + std::to_string(sequence_) + " (" + kind_name(c.kind);
  if (c.kind != Kind::kBarrier) what += " of " + std::to_string(total) + " elements";
  return what + ")";
}

std::string Comm::dead_peers() const {
  std::string dead;
  for (const Peer& p : local_peers_)
    if (process_dead(p.pid)) dead += (dead.empty() ? "" : ", ") + p.label;
  return dead;
}

void Comm::fatal(const std::string& message) const {
  std::fprintf(stderr, "transformer-native dist: rank %d of %d: %s; aborting the job\n", rank_, size_, message.c_str());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  _exit(1);
}

}  // namespace tnmpi

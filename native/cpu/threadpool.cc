#include "threadpool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tn {
namespace {

int default_threads() {
  if (const char* env = std::getenv("TN_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

// TN_WAIT_POLICY=passive (as OpenMP's OMP_WAIT_POLICY): idle threads sleep at once instead of spinning first,
// for machines shared with other busy processes.
bool passive_wait() {
  const char* env = std::getenv("TN_WAIT_POLICY");
  return env != nullptr && std::string(env) == "passive";
}

thread_local bool inside_parallel_region = false;

// A job is a function plus a shared chunk counter that every participant (caller included) pulls from, so
// uneven chunks balance themselves. The caller returns as soon as every chunk has *finished*, not when every
// worker has checked in: on a shared machine a worker may be descheduled for milliseconds, and waiting for one
// that has nothing left to do made two threads slower than one. A worker that wakes late therefore may touch a
// job whose caller has already returned, so each job lives in its own reference-counted Job, and the function
// it points to is only called for a chunk taken before the last one finished, while the caller still waits.
//
// Kernels come in quick succession (a training step launches hundreds, a decoding step dozens of small ones),
// and waking a thread that sleeps on a condition variable takes tens of microseconds, as long as a small kernel
// runs. So between jobs a worker first spins for a moment, watching the generation counter, and only then
// sleeps; the caller spins the same way while it waits for the last chunks. Spinning is skipped when the pool
// has more threads than the machine has cores, where it would steal the time of the very threads it waits for,
// and with TN_WAIT_POLICY=passive.
class Pool {
 public:
  explicit Pool(int threads) { resize(threads); }
  ~Pool() { stop_workers(); }

  int size() const { return threads_; }

  void resize(int threads) {
    std::lock_guard<std::mutex> run_lock(run_mutex_);
    stop_workers();
    threads_ = std::max(1, threads);
    const unsigned cores = std::thread::hardware_concurrency();
    spin_ = !passive_wait() && (cores == 0 || static_cast<unsigned>(threads_) <= cores);
    stopping_.store(false);
    const uint64_t current = generation_.load();
    for (int i = 1; i < threads_; ++i) workers_.emplace_back([this, current] { worker_loop(current); });
  }

  void run(int64_t chunks, const std::function<void(int64_t)>& chunk_fn) {
    std::unique_lock<std::mutex> run_lock(run_mutex_, std::try_to_lock);
    if (!run_lock.owns_lock() || threads_ == 1) {  // pool busy (another caller thread): run inline
      for (int64_t c = 0; c < chunks; ++c) chunk_fn(c);
      return;
    }
    auto job = std::make_shared<Job>(chunk_fn, chunks);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = job;
      generation_.fetch_add(1, std::memory_order_release);  // publishes the job to spinning workers
    }
    wake_.notify_all();
    inside_parallel_region = true;
    drain(*job);
    inside_parallel_region = false;
    if (!spin_until([&] { return job->finished(); })) {
      std::unique_lock<std::mutex> lock(mutex_);
      done_.wait(lock, [&] { return job->finished(); });
    }
  }

 private:
  struct Job {
    Job(const std::function<void(int64_t)>& fn, int64_t chunks) : fn(fn), chunks(chunks) {}
    bool finished() const { return done.load(std::memory_order_acquire) == chunks; }

    const std::function<void(int64_t)>& fn;  // the caller's; valid until the last chunk finishes
    const int64_t chunks;
    std::atomic<int64_t> next{0};
    std::atomic<int64_t> done{0};
  };

  // About as long as a futex wake-up costs on a virtual machine, a few times over.
  static constexpr std::chrono::microseconds kSpinTime{200};

  // Spins (pausing the core) until done() holds or kSpinTime has passed; returns done().
  template <typename Done>
  bool spin_until(Done done) const {
    if (!spin_) return done();
    const auto deadline = std::chrono::steady_clock::now() + kSpinTime;
    for (;;) {
      for (int i = 0; i < 64; ++i) {
        if (done()) return true;
        pause();
      }
      if (std::chrono::steady_clock::now() >= deadline) return done();
    }
  }

  static void pause() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  }

  // Runs chunks of `job` until none is left; returns whether this thread finished the job's last chunk.
  static bool drain(Job& job) {
    bool finished_last = false;
    for (int64_t c = job.next.fetch_add(1); c < job.chunks; c = job.next.fetch_add(1)) {
      job.fn(c);
      finished_last = job.done.fetch_add(1, std::memory_order_acq_rel) + 1 == job.chunks;
    }
    return finished_last;
  }

  void worker_loop(uint64_t seen) {
    inside_parallel_region = true;
    for (;;) {
      auto woken = [&] { return stopping_.load() || generation_.load(std::memory_order_acquire) != seen; };
      if (!spin_until(woken)) {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, woken);
      }
      std::shared_ptr<Job> job;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopping_.load()) return;
        seen = generation_.load(std::memory_order_acquire);
        job = job_;
      }
      if (drain(*job)) {
        // Under the mutex, so the caller cannot be between its check and its wait.
        std::lock_guard<std::mutex> lock(mutex_);
        done_.notify_one();
      }
    }
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_.store(true);
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  int threads_ = 1;
  bool spin_ = true;
  std::vector<std::thread> workers_;
  std::mutex run_mutex_;  // one parallel_for at a time
  std::mutex mutex_;      // guards job_ and the sleeping side of wake_/done_
  std::condition_variable wake_, done_;
  std::shared_ptr<Job> job_;  // the newest job; older ones live on while a late worker holds them
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stopping_{false};
};

Pool& pool() {
  static Pool instance(default_threads());
  return instance;
}

}  // namespace

int num_threads() { return pool().size(); }

void set_num_threads(int n) { pool().resize(n); }

// Ranges are cut finer than one per thread and handed out as threads ask for them: on a shared machine a
// neighbour can slow one core by half or more, and a thread on it then takes fewer ranges instead of holding
// up the whole call (with one range per thread and a busy neighbour on the second core, two threads ran slower
// than one). On an idle machine 16 per thread also balance kernels whose units differ in size, such as causal
// attention, whose later query blocks see more keys.
constexpr int64_t kChunksPerThread = 16;

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  const int64_t threads = num_threads();
  const int64_t chunks = threads == 1 ? 1 : std::min<int64_t>(threads * kChunksPerThread, (n + grain - 1) / grain);
  if (chunks <= 1 || inside_parallel_region) {
    fn(0, n);
    return;
  }
  const int64_t per = (n + chunks - 1) / chunks;
  pool().run(chunks, [&](int64_t c) {
    int64_t begin = c * per, end = std::min(n, begin + per);
    if (begin < end) fn(begin, end);
  });
}

}  // namespace tn

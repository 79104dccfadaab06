// N-API bindings of the MPI addon (src/distributed/mpi.ts is their only caller and documents them). A collective is
// queued on the communication thread (comm.h) and returns a Work handle at once; its data is the caller's memory,
// read and written in place: tensor storages by address, or typed arrays. The Work keeps `keepAlive` (the storages
// or arrays) referenced until it is finished.
#include <dlfcn.h>
#include <mpi.h>
#include <napi.h>

#include <cmath>
#include <string>

#include "comm.h"

namespace tnmpi {
namespace {

constexpr int64_t kMaxElements = int64_t(1) << 50;

[[noreturn]] void type_error(Napi::Env env, const std::string& message) { throw Napi::TypeError::New(env, message); }

[[noreturn]] void range_error(Napi::Env env, const std::string& message) { throw Napi::RangeError::New(env, message); }

void require_started(Napi::Env env, const char* op) {
  if (!Comm::instance().started()) throw Napi::Error::New(env, std::string(op) + ": MPI is not initialized (init())");
}

double positive_seconds(Napi::Env env, Napi::Value value, const char* op) {
  if (!value.IsNumber()) type_error(env, std::string(op) + ": timeout must be a number of seconds");
  const double seconds = value.As<Napi::Number>().DoubleValue();
  if (!(seconds > 0) || !std::isfinite(seconds))
    range_error(env,
                std::string(op) + ": timeout must be a positive number of seconds, got " + std::to_string(seconds));
  return seconds;
}

class Work : public Napi::ObjectWrap<Work> {
 public:
  static Napi::FunctionReference* constructor;

  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Work",
                       {
                           InstanceMethod<&Work::Wait>("wait"),
                           InstanceAccessor<&Work::IsCompleted>("completed"),
                           InstanceMethod<&Work::Times>("times"),
                       });
  }

  static Napi::Object New(std::shared_ptr<Completion> done, Napi::Value keep_alive) {
    Napi::Object object = constructor->New({});
    Work* work = Work::Unwrap(object);
    work->done_ = std::move(done);
    if (!keep_alive.IsUndefined()) work->keep_alive_ = Napi::Persistent(keep_alive.As<Napi::Object>());
    return object;
  }

  explicit Work(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Work>(info) {}

  // Collected before it finished (nobody waited): the memory it works on must outlive it, so its reference is left
  // to leak rather than let the storages be collected under the communication thread.
  ~Work() override {
    if (!done_ || keep_alive_.IsEmpty()) return;
    std::lock_guard<std::mutex> lock(done_->mutex);
    if (!done_->finished) keep_alive_.SuppressDestruct();
  }

 private:
  // Blocks until the collective is done on this rank (the communication thread bounds the wait by the timeout).
  Napi::Value Wait(const Napi::CallbackInfo& info) {
    if (done_) {
      std::unique_lock<std::mutex> lock(done_->mutex);
      done_->cv.wait(lock, [&] { return done_->finished; });
    }
    keep_alive_.Reset();
    return info.Env().Undefined();
  }

  Napi::Value IsCompleted(const Napi::CallbackInfo& info) {
    bool finished = true;
    if (done_) {
      std::lock_guard<std::mutex> lock(done_->mutex);
      finished = done_->finished;
    }
    return Napi::Boolean::New(info.Env(), finished);
  }

  // { queued, started, ended } in seconds of now(); ended is 0 until the collective is done.
  Napi::Value Times(const Napi::CallbackInfo& info) {
    Napi::Object times = Napi::Object::New(info.Env());
    if (!done_) return times;
    std::lock_guard<std::mutex> lock(done_->mutex);
    times.Set("queued", done_->queued);
    times.Set("started", done_->started);
    times.Set("ended", done_->finished ? done_->ended : 0.0);
    return times;
  }

  std::shared_ptr<Completion> done_;
  Napi::ObjectReference keep_alive_;
};

Napi::FunctionReference* Work::constructor = nullptr;

// Segments from (addresses, counts) of float32 tensor memory, or from a single typed array.
std::vector<Segment> read_segments(const Napi::CallbackInfo& info, const char* op, DType* dtype) {
  Napi::Env env = info.Env();
  std::vector<Segment> segments;
  if (info[0].IsTypedArray()) {
    auto array = info[0].As<Napi::TypedArray>();
    switch (array.TypedArrayType()) {
      case napi_float32_array:
        *dtype = DType::kFloat32;
        break;
      case napi_float64_array:
        *dtype = DType::kFloat64;
        break;
      case napi_uint8_array:
        *dtype = DType::kUint8;
        break;
      default:
        type_error(env, std::string(op) + ": the array must be a Float32Array, Float64Array or Uint8Array");
    }
    auto* data = static_cast<char*>(array.ArrayBuffer().Data()) + array.ByteOffset();
    segments.push_back({data, static_cast<int64_t>(array.ElementLength())});
    return segments;
  }
  if (!info[0].IsArray() || !info[1].IsArray())
    type_error(env, std::string(op) + ": expected (addresses, counts) arrays or a typed array");
  auto addresses = info[0].As<Napi::Array>();
  auto counts = info[1].As<Napi::Array>();
  if (addresses.Length() != counts.Length() || addresses.Length() == 0)
    range_error(env, std::string(op) + ": addresses and counts must be non-empty arrays of one length");
  *dtype = DType::kFloat32;
  for (uint32_t i = 0; i < addresses.Length(); i++) {
    Napi::Value address = addresses[i];
    Napi::Value count = counts[i];
    bool lossless = false;
    if (!address.IsBigInt()) type_error(env, std::string(op) + ": addresses must be BigInts");
    const uint64_t pointer = address.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless || pointer == 0) range_error(env, std::string(op) + ": address " + std::to_string(i) + " is invalid");
    if (!count.IsNumber()) type_error(env, std::string(op) + ": counts must be numbers");
    const double n = count.As<Napi::Number>().DoubleValue();
    if (!(n >= 0) || n > double(kMaxElements) || std::floor(n) != n)
      range_error(env, std::string(op) + ": count " + std::to_string(i) + " must be a non-negative integer");
    segments.push_back({reinterpret_cast<void*>(static_cast<uintptr_t>(pointer)), static_cast<int64_t>(n)});
  }
  return segments;
}

// Makes libmpi's symbols global, as MPI's plugins (loaded with dlopen by libmpi itself) expect them to be; a Node
// addon is loaded RTLD_LOCAL, so its libmpi would otherwise be invisible to them.
void promote_libmpi() {
  Dl_info where{};
  if (dladdr(reinterpret_cast<void*>(&MPI_Init_thread), &where) != 0 && where.dli_fname != nullptr)
    dlopen(where.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
}

// init(timeoutSeconds) -> { rank, worldSize, localRank, localSize, library }
Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (Comm::instance().started()) throw Napi::Error::New(env, "init: MPI is already initialized");
  if (Comm::instance().finalized())
    throw Napi::Error::New(env, "init: MPI cannot be initialized again after finalize()");
  const double timeout = positive_seconds(env, info[0], "init");
  promote_libmpi();
  InitResult result = Comm::instance().start(timeout);
  if (!result.error.empty()) throw Napi::Error::New(env, "init: " + result.error);
  Napi::Object out = Napi::Object::New(env);
  out.Set("rank", result.rank);
  out.Set("worldSize", result.size);
  out.Set("localRank", result.local_rank);
  out.Set("localSize", result.local_size);
  out.Set("library", result.library);
  return out;
}

Napi::Value SetTimeout(const Napi::CallbackInfo& info) {
  Comm::instance().set_timeout(positive_seconds(info.Env(), info[0], "setTimeout"));
  return info.Env().Undefined();
}

// The collective of a call whose data comes first: (addresses, counts, ...) or (typedArray, ...). `*next` is the index
// of the argument after the data.
Collective collective_from(const Napi::CallbackInfo& info, Kind kind, const char* op, size_t* next) {
  require_started(info.Env(), op);
  Collective c(kind);
  c.segments = read_segments(info, op, &c.dtype);
  *next = info[0].IsTypedArray() ? 1 : 2;
  return c;
}

// allReduce(addresses, counts, op, keepAlive) or allReduce(typedArray, op, keepAlive) -> Work
Napi::Value AllReduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t at = 0;
  Collective c = collective_from(info, Kind::kAllReduce, "allReduce", &at);
  const std::string op = info[at].IsString() ? info[at].As<Napi::String>().Utf8Value() : "";
  if (op == "sum")
    c.reduce = Reduce::kSum;
  else if (op == "mean")
    c.reduce = Reduce::kMean;
  else if (op == "max")
    c.reduce = Reduce::kMax;
  else
    range_error(env, "allReduce: op must be 'sum', 'mean' or 'max', got '" + op + "'");
  if (c.dtype == DType::kUint8) type_error(env, "allReduce: bytes cannot be reduced");
  return Work::New(Comm::instance().submit(std::move(c)), info[at + 1]);
}

// broadcast(addresses, counts, root, keepAlive) or broadcast(typedArray, root, keepAlive) -> Work
Napi::Value Broadcast(const Napi::CallbackInfo& info) {
  size_t at = 0;
  Collective c = collective_from(info, Kind::kBroadcast, "broadcast", &at);
  if (!info[at].IsNumber()) type_error(info.Env(), "broadcast: root must be a rank number");
  c.root = info[at].As<Napi::Number>().Int32Value();
  return Work::New(Comm::instance().submit(std::move(c)), info[at + 1]);
}

Napi::Value Barrier(const Napi::CallbackInfo& info) {
  require_started(info.Env(), "barrier");
  return Work::New(Comm::instance().submit(Collective(Kind::kBarrier)), info.Env().Undefined());
}

Napi::Value Finalize(const Napi::CallbackInfo& info) {
  Comm::instance().stop();
  return info.Env().Undefined();
}

Napi::Value Now(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), now()); }

Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  Work::constructor = new Napi::FunctionReference(Napi::Persistent(Work::Define(env)));
  exports.Set("init", Napi::Function::New<Init>(env, "init"));
  exports.Set("setTimeout", Napi::Function::New<SetTimeout>(env, "setTimeout"));
  exports.Set("allReduce", Napi::Function::New<AllReduce>(env, "allReduce"));
  exports.Set("broadcast", Napi::Function::New<Broadcast>(env, "broadcast"));
  exports.Set("barrier", Napi::Function::New<Barrier>(env, "barrier"));
  exports.Set("finalize", Napi::Function::New<Finalize>(env, "finalize"));
  exports.Set("now", Napi::Function::New<Now>(env, "now"));
  return exports;
}

}  // namespace
}  // namespace tnmpi

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return tnmpi::InitModule(env, exports); }

NODE_API_MODULE(transformer_native_mpi, InitAddon)

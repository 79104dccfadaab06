// Bindings of the peak family: the machine limits `npm run bench` measures (FMA peak, memory bandwidth).
#include "../cpu/peak.h"
#include "args.h"
#include "bindings.h"

namespace tn {
namespace {

// measureFmaGflops(threads, seconds)
Napi::Value MeasureFmaGflops(const Napi::CallbackInfo& info) {
  Args args(info, "measureFmaGflops", 2);
  const int threads = static_cast<int>(args.integer(0, "threads", 1, 1024));
  const double seconds = args.number(1, "seconds");
  if (seconds <= 0 || seconds > 60) args.range_error("seconds must be in (0, 60]");
  return Napi::Number::New(info.Env(), measure_fma_gflops(threads, seconds));
}

// measureBandwidthGBs(threads, bytesPerArray, repeats)
Napi::Value MeasureBandwidthGBs(const Napi::CallbackInfo& info) {
  Args args(info, "measureBandwidthGBs", 3);
  const int threads = static_cast<int>(args.integer(0, "threads", 1, 1024));
  const int64_t bytes = args.integer(1, "bytesPerArray", 1 << 12, int64_t(1) << 32);
  const int repeats = static_cast<int>(args.integer(2, "repeats", 1, 1000));
  return Napi::Number::New(info.Env(), measure_triad_gbs(threads, bytes, repeats));
}

}  // namespace

void RegisterPeak(Napi::Env env, Napi::Object exports) {
  exports.Set("measureFmaGflops", Napi::Function::New<MeasureFmaGflops>(env, "measureFmaGflops"));
  exports.Set("measureBandwidthGBs", Napi::Function::New<MeasureBandwidthGBs>(env, "measureBandwidthGBs"));
}

}  // namespace tn

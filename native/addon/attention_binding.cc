// attentionForward / attentionBackward: check every size, view and storage extent, then call the kernels.
#include <cmath>
#include <new>
#include <string>

#include "../cpu/attention.h"
#include "args.h"
#include "bindings.h"
#include "storage.h"

namespace tn {
namespace {

constexpr int64_t kMaxSize = kMaxInt32;
// Per-thread scratch grows with D (64 rows of it per tile); no attention head comes near this.
constexpr int64_t kMaxHeadDim = int64_t(1) << 16;

struct Sizes {
  int64_t B, H, Tq, Tk, D;
};

Sizes read_sizes(const Args& args, size_t first) {
  Sizes s{args.integer(first, "B", 1, kMaxSize), args.integer(first + 1, "H", 1, kMaxSize),
          args.integer(first + 2, "Tq", 1, kMaxSize), args.integer(first + 3, "Tk", 1, kMaxSize),
          args.integer(first + 4, "D", 1, kMaxHeadDim)};
  checked_numel(args, {s.B, s.H, s.Tq, s.Tk}, "B*H*Tq*Tk");
  return s;
}

std::string out_of_memory(const Sizes& s) {
  return "not enough memory for the scratch tiles of Tq=" + std::to_string(s.Tq) + ", D=" + std::to_string(s.D);
}

// An [offset, strideB, strideH, strideT] array of non-negative integers.
struct View {
  int64_t offset;
  AttnStrides strides;
};

View read_view(const Args& args, size_t i, const char* name) {
  const std::vector<int64_t> v = args.integers(i, name, 0, kMaxElements, 4);
  if (v.size() != 4) args.type_error(std::string(name) + " must be [offset, strideB, strideH, strideT]");
  return View{v[0], AttnStrides{v[1], v[2], v[3]}};
}

int64_t storage_elements(const Args& args, const Napi::CallbackInfo& info, size_t i, const char* name) {
  args.f32(i, name, 0, 0);  // type and dispose checks
  return static_cast<int64_t>(Storage::Unwrap(info[i].As<Napi::Object>())->byte_length() / 4);
}

std::string describe(const View& v, int64_t B, int64_t H, int64_t T, int64_t last) {
  return "[" + std::to_string(v.offset) + ", " + std::to_string(v.strides.b) + ", " + std::to_string(v.strides.h) +
         ", " + std::to_string(v.strides.t) + "] over [" + std::to_string(B) + ", " + std::to_string(H) + ", " +
         std::to_string(T) + ", " + std::to_string(last) + "]";
}

// One past the farthest element of a [B, H, T, last] view (last contiguous), or -1 when that passes 2^50.
int64_t view_end(const View& v, int64_t B, int64_t H, int64_t T, int64_t last) {
  const int64_t counts[3] = {B - 1, H - 1, T - 1};
  const int64_t strides[3] = {v.strides.b, v.strides.h, v.strides.t};
  int64_t end = v.offset + last;  // each at most 2^50, so no overflow
  for (int i = 0; i < 3; ++i) {
    if (strides[i] != 0 && counts[i] > (kMaxElements - end) / strides[i]) return -1;
    end += counts[i] * strides[i];
  }
  return end > kMaxElements ? -1 : end;
}

// The storage at argument i read through view over a [B, H, T, last] tensor: checks that the view's farthest
// element lies inside the storage and returns the element at the view's offset.
float* view_data(const Args& args, const Napi::CallbackInfo& info, size_t i, const char* name, const View& view,
                 int64_t B, int64_t H, int64_t T, int64_t last) {
  const int64_t capacity = storage_elements(args, info, i, name);
  const int64_t end = view_end(view, B, H, T, last);
  if (end < 0 || end > capacity)
    args.range_error(std::string(name) + " view " + describe(view, B, H, T, last) + " reaches element " +
                     (end < 0 ? std::string("past 2^50") : std::to_string(end)) + " but " + name + " holds " +
                     std::to_string(capacity) + " elements");
  return args.f32(i, name, 0, capacity) + view.offset;
}

// Options shared by forward and backward, read from the arguments starting at `first` (scale .. seed).
AttnOptions read_options(const Args& args, const Napi::CallbackInfo& info, size_t first, const Sizes& s) {
  AttnOptions o{};
  const double scale = args.number(first, "scale");
  o.scale = static_cast<float>(scale);
  if (!std::isfinite(o.scale)) args.range_error("scale must be finite in float32, got " + std::to_string(scale));
  o.causal = args.flag(first + 1, "isCausal");
  o.causal_offset = args.integer(first + 2, "causalOffset", -kMaxElements, kMaxElements);
  o.key_padding = args.i32_or_null(first + 3, "keyPadding", 0, s.B * s.Tk);
  const View mask = read_view(args, first + 5, "maskView");
  o.mask = args.is_null(first + 4) ? nullptr : view_data(args, info, first + 4, "attnMask", mask, s.B, s.H, s.Tq, s.Tk);
  o.mask_strides = mask.strides;
  const double p = args.number(first + 6, "dropoutP");
  if (!(p >= 0 && p < 1)) args.range_error("dropoutP must be in [0, 1), got " + std::to_string(p));
  o.dropout_p = static_cast<float>(p);
  if (o.dropout_p >= 1.0f) o.dropout_p = std::nextafter(1.0f, 0.0f);  // p just below 1 rounds up in float32
  o.seed = static_cast<uint64_t>(args.integer(first + 7, "seed", 0, kMaxSeed));
  return o;
}

// attentionForward(q, k, v, out, lse, weights, B, H, Tq, Tk, D, qView, kView, vView, outView, scale, isCausal,
//                  causalOffset, keyPadding, attnMask, maskView, dropoutP, seed)
Napi::Value AttentionForward(const Napi::CallbackInfo& info) {
  Args args(info, "attentionForward", 23);
  const Sizes s = read_sizes(args, 6);
  const View qv = read_view(args, 11, "qView"), kv = read_view(args, 12, "kView");
  const View vv = read_view(args, 13, "vView"), ov = read_view(args, 14, "outView");
  const AttnOptions opt = read_options(args, info, 15, s);
  const float* q = view_data(args, info, 0, "q", qv, s.B, s.H, s.Tq, s.D);
  const float* k = view_data(args, info, 1, "k", kv, s.B, s.H, s.Tk, s.D);
  const float* v = view_data(args, info, 2, "v", vv, s.B, s.H, s.Tk, s.D);
  float* out = view_data(args, info, 3, "out", ov, s.B, s.H, s.Tq, s.D);
  float* lse = args.f32(4, "lse", 0, checked_numel(args, {s.B, s.H, s.Tq}, "lse"));
  float* weights = args.f32_or_null(5, "weights", 0, checked_numel(args, {s.B, s.H, s.Tq, s.Tk}, "weights"));
  try {
    attention_forward(out, lse, weights, q, k, v, s.B, s.H, s.Tq, s.Tk, s.D, qv.strides, kv.strides, vv.strides,
                      ov.strides, opt);
  } catch (const std::bad_alloc&) {
    args.range_error(out_of_memory(s));
  }
  return info.Env().Undefined();
}

// attentionBackward(q, k, v, out, dout, lse, dq, dk, dv, B, H, Tq, Tk, D, qView, kView, vView, outView, scale,
//                   isCausal, causalOffset, keyPadding, attnMask, maskView, dropoutP, seed[, probs])
Napi::Value AttentionBackward(const Napi::CallbackInfo& info) {
  Args args(info, "attentionBackward", 26);
  const Sizes s = read_sizes(args, 9);
  const View qv = read_view(args, 14, "qView"), kv = read_view(args, 15, "kView");
  const View vv = read_view(args, 16, "vView"), ov = read_view(args, 17, "outView");
  const AttnOptions opt = read_options(args, info, 18, s);
  const float* q = view_data(args, info, 0, "q", qv, s.B, s.H, s.Tq, s.D);
  const float* k = view_data(args, info, 1, "k", kv, s.B, s.H, s.Tk, s.D);
  const float* v = view_data(args, info, 2, "v", vv, s.B, s.H, s.Tk, s.D);
  const float* out = view_data(args, info, 3, "out", ov, s.B, s.H, s.Tq, s.D);
  const float* dout = view_data(args, info, 4, "dout", ov, s.B, s.H, s.Tq, s.D);
  const float* lse = args.f32(5, "lse", 0, checked_numel(args, {s.B, s.H, s.Tq}, "lse"));
  float* dq = view_data(args, info, 6, "dq", qv, s.B, s.H, s.Tq, s.D);
  float* dk = view_data(args, info, 7, "dk", kv, s.B, s.H, s.Tk, s.D);
  float* dv = view_data(args, info, 8, "dv", vv, s.B, s.H, s.Tk, s.D);
  const float* probs = args.f32_or_null(26, "probs", 0, checked_numel(args, {s.B, s.H, s.Tq, s.Tk}, "probs"));
  try {
    attention_backward(dq, dk, dv, dout, q, k, v, out, lse, probs, s.B, s.H, s.Tq, s.Tk, s.D, qv.strides, kv.strides,
                       vv.strides, ov.strides, opt);
  } catch (const std::bad_alloc&) {
    args.range_error(out_of_memory(s));
  }
  return info.Env().Undefined();
}

}  // namespace

void RegisterAttention(Napi::Env env, Napi::Object exports) {
  exports.Set("attentionForward", Napi::Function::New<AttentionForward>(env, "attentionForward"));
  exports.Set("attentionBackward", Napi::Function::New<AttentionBackward>(env, "attentionBackward"));
}

}  // namespace tn

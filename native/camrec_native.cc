// N-API surface of the optional native kernels (loaded by src/compute/native.ts). Arguments are checked
// here, once, so that no kernel can read or write outside the caller's typed arrays; the kernels
// themselves (kernels.inl) trust what they are given. Bad arguments throw TypeError or RangeError.
#include <node_api.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>
#include <vector>

#include "kernels.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace camrec {
namespace {

// Bumped whenever an exported signature changes; the loader refuses a build with another number.
constexpr int32_t kAbiVersion = 10;
constexpr int64_t kMaxThreads = 256;
constexpr int64_t kMaxInt32 = 2147483647;

// ---- instruction sets ------------------------------------------------------------------------------

// Best first; the generic kernels run everywhere.
std::vector<const IsaKernels*> supportedIsas() {
  std::vector<const IsaKernels*> isas;
#if defined(CAMREC_HAVE_AVX2_BUILD)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) isas.push_back(&avx2::kernels);
#endif
  isas.push_back(&generic::kernels);
  return isas;
}

// Per Node environment (the main thread and each worker thread have their own).
struct Instance {
  const IsaKernels* isa;
};

// ---- errors and arguments --------------------------------------------------------------------------

struct ArgError {
  bool range;  // RangeError rather than TypeError
  std::string message;
};

struct NapiFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void check(napi_status status) {
  if (status != napi_ok) throw NapiFailure("camrec_native: an N-API call failed");
}

template <class... Parts>
std::string cat(const Parts&... parts) {
  std::ostringstream s;
  (s << ... << parts);
  return s.str();
}

template <class... Parts>
[[noreturn]] void typeError(const char* fn, const Parts&... parts) {
  throw ArgError{false, cat(fn, ": ", parts...)};
}

template <class... Parts>
[[noreturn]] void rangeError(const char* fn, const Parts&... parts) {
  throw ArgError{true, cat(fn, ": ", parts...)};
}

// Runs body and turns what it throws into a pending JS exception.
template <class Body>
napi_value guard(napi_env env, Body body) {
  try {
    return body();
  } catch (const ArgError& e) {
    if (e.range) napi_throw_range_error(env, nullptr, e.message.c_str());
    else napi_throw_type_error(env, nullptr, e.message.c_str());
  } catch (const std::bad_alloc&) {
    napi_throw_error(env, nullptr, "camrec_native: out of memory");
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, e.what());
  }
  return nullptr;
}

std::vector<napi_value> arguments(napi_env env, napi_callback_info info, const char* fn, size_t expected) {
  size_t argc = expected;
  std::vector<napi_value> argv(expected);
  check(napi_get_cb_info(env, info, &argc, argv.data(), nullptr, nullptr));
  if (argc != expected) typeError(fn, "expected ", expected, " arguments, got ", argc);
  return argv;
}

template <class T>
struct View {
  T* data;
  int64_t length;
  napi_value value;
};

template <class T>
View<T> typedArray(napi_env env, napi_value v, const char* fn, const char* name, bool nullable = false) {
  constexpr bool isFloat = std::is_same<std::remove_const_t<T>, float>::value;
  constexpr bool isUint16 = std::is_same<std::remove_const_t<T>, uint16_t>::value;
  const napi_typedarray_type want = isFloat ? napi_float32_array : isUint16 ? napi_uint16_array : napi_int32_array;
  const char* typeName = isFloat ? "Float32Array" : isUint16 ? "Uint16Array" : "Int32Array";
  napi_valuetype vt;
  check(napi_typeof(env, v, &vt));
  if (nullable && (vt == napi_null || vt == napi_undefined)) return View<T>{nullptr, 0, v};
  bool isTyped = false;
  check(napi_is_typedarray(env, v, &isTyped));
  napi_typedarray_type type = napi_int8_array;
  size_t length = 0;
  void* data = nullptr;
  if (isTyped) check(napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr));
  if (!isTyped || type != want) typeError(fn, name, " must be ", nullable ? "null or " : "", "a ", typeName);
  // An empty typed array may have no storage (data is null): give it an address, so that an empty list is never
  // taken for an absent one (null ids mean every row).
  alignas(8) static char emptyStorage[8];
  if (!data) data = emptyStorage;
  return View<T>{static_cast<T*>(data), static_cast<int64_t>(length), v};
}

int64_t integer(napi_env env, napi_value v, const char* fn, const char* name, int64_t min, int64_t max) {
  napi_valuetype vt;
  check(napi_typeof(env, v, &vt));
  if (vt != napi_number) typeError(fn, name, " must be a number");
  double d = 0;
  check(napi_get_value_double(env, v, &d));
  const bool inRange = d >= static_cast<double>(min) && d <= static_cast<double>(max);
  if (!inRange || d != static_cast<double>(static_cast<int64_t>(d)))
    rangeError(fn, name, " must be an integer in [", min, ", ", max, "], got ", d);
  return static_cast<int64_t>(d);
}

double real(napi_env env, napi_value v, const char* fn, const char* name) {
  napi_valuetype vt;
  check(napi_typeof(env, v, &vt));
  if (vt != napi_number) typeError(fn, name, " must be a number");
  double d = 0;
  check(napi_get_value_double(env, v, &d));
  if (!std::isfinite(d)) rangeError(fn, name, " must be finite, got ", d);
  return d;
}

// Whether the bytes of two views share any address.
template <class A, class B>
bool overlap(const View<A>& a, const View<B>& b) {
  const auto* a0 = reinterpret_cast<const char*>(a.data);
  const auto* b0 = reinterpret_cast<const char*>(b.data);
  return a0 && b0 && a0 < b0 + b.length * sizeof(B) && b0 < a0 + a.length * sizeof(A);
}

// Rows [r0, r1) of a CSR matrix with nCols columns: pointers inside indices and non-decreasing,
// column indices in range.
void checkCsrRows(const char* fn, const char* what, View<const int32_t> indptr, View<const int32_t> indices,
                  int64_t r0, int64_t r1, int64_t nCols) {
  if (indptr.length < r1 + 1) rangeError(fn, what, " indptr has ", indptr.length, " entries, needs ", r1 + 1);
  if (indptr.data[r0] < 0) rangeError(fn, what, " indptr[", r0, "] is negative");
  for (int64_t r = r0; r < r1; ++r)
    if (indptr.data[r + 1] < indptr.data[r]) rangeError(fn, what, " indptr decreases at row ", r);
  if (indptr.data[r1] > indices.length) rangeError(fn, what, " indptr points past the end of indices");
  for (int64_t e = indptr.data[r0]; e < indptr.data[r1]; ++e)
    if (indices.data[e] < 0 || indices.data[e] >= nCols)
      rangeError(fn, what, " index ", indices.data[e], " at position ", e, " is outside [0, ", nCols, ")");
}

const IsaKernels& currentIsa(napi_env env) {
  void* data = nullptr;
  check(napi_get_instance_data(env, &data));
  return *static_cast<Instance*>(data)->isa;
}

// ---- threads ---------------------------------------------------------------------------------------

// One runParts call: the next part not yet taken, how many parts have finished, and the work (`call(context, t)`
// runs part t). A helper holds it by shared_ptr, so one that reaches it after the call has returned still finds
// it, sees no part left, and leaves it alone.
struct PartJob {
  PartJob(int64_t n, void (*fn)(const void*, int64_t), const void* ctx) : parts(n), call(fn), context(ctx) {}
  const int64_t parts;
  void (*const call)(const void*, int64_t);
  const void* const context;
  std::atomic<int64_t> next{0};
  std::mutex mutex;
  std::condition_variable finished;
  int64_t done = 0;  // under mutex

  void finish() {
    {
      const std::lock_guard<std::mutex> lock(mutex);
      ++done;
    }
    finished.notify_one();
  }
};

// Helper threads that outlive the calls: each waits for a posted job, takes its parts until none is left, and waits
// again. Starting a thread per call cost every threaded kernel call a clone, a stack and a wake-up per helper (121
// clones per CaMRec step on baby at 2 threads, up to 15 times that at 16). The pool grows to the most helpers any call
// has asked for and never shrinks; its threads are detached and the pool is never destroyed (they block on its
// condition variable until the process exits). Calls from several threads at once (Node's worker threads each load
// the addon) share it: their jobs queue up, and a call whose helpers are busy runs its parts itself.
class HelperPool {
 public:
  static HelperPool& instance() {
    static HelperPool* pool = new HelperPool();  // never destroyed: see above
    return *pool;
  }

  // Offers `job` to up to `helpers` threads, starting threads while fewer than that exist; returns how many exist.
  int64_t post(const std::shared_ptr<PartJob>& job, int64_t helpers) {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      while (started_ < helpers) {
        try {
          std::thread([this] { loop(); }).detach();
        } catch (const std::system_error&) {
          break;  // the caller runs what no helper takes
        }
        ++started_;
      }
      jobs_.push_back(job);
    }
    if (helpers >= started_) {
      wake_.notify_all();
    } else {
      for (int64_t h = 0; h < helpers; ++h) wake_.notify_one();
    }
    return started_;
  }

  // How many helper threads exist (started and not failed to start).
  int64_t size() {
    const std::lock_guard<std::mutex> lock(mutex_);
    return started_;
  }

  // Takes `job` off the queue once its caller has no part left to take (helpers still running one keep it alive).
  void retire(const std::shared_ptr<PartJob>& job) {
    const std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = jobs_.begin(); it != jobs_.end(); ++it) {
      if (*it == job) {
        jobs_.erase(it);
        return;
      }
    }
  }

 private:
  void loop() {
    for (;;) {
      std::shared_ptr<PartJob> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return !jobs_.empty(); });
        // the oldest job with a part left; spent jobs are dropped on the way
        while (!jobs_.empty() && jobs_.front()->next.load() >= jobs_.front()->parts) jobs_.pop_front();
        if (jobs_.empty()) continue;
        job = jobs_.front();
      }
      for (int64_t t = job->next.fetch_add(1); t < job->parts; t = job->next.fetch_add(1)) {
        job->call(job->context, t);
        job->finish();
      }
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<PartJob>> jobs_;  // under mutex_
  int64_t started_ = 0;                        // under mutex_
};

// Runs part(0..parts-1) on the calling thread and up to parts - 1 pooled helper threads, each thread taking the next
// part not yet taken until none is left; the call returns when every part has finished. A helper that has not
// reached the job when the caller runs out of parts takes none and is not waited for: on a loaded machine the caller
// does not wait for a thread to be scheduled before its part can start. A part computes the same values whichever
// thread runs it, so results do not depend on the timing. A part that throws on a helper ends the process (as an
// uncaught exception on any thread); one that throws on the caller is rethrown once every taken part has finished.
template <class Part>
void runParts(int64_t parts, const Part& part) {
  if (parts <= 1) {
    if (parts == 1) part(0);
    return;
  }
  auto call = [](const void* context, int64_t t) { (*static_cast<const Part*>(context))(t); };
  auto job = std::make_shared<PartJob>(parts, call, &part);
  HelperPool& pool = HelperPool::instance();
  pool.post(job, parts - 1);
  std::exception_ptr failure;
  for (int64_t t = job->next.fetch_add(1); t < parts; t = job->next.fetch_add(1)) {
    try {
      if (!failure) part(t);
    } catch (...) {
      failure = std::current_exception();
    }
    job->finish();
  }
  pool.retire(job);
  std::unique_lock<std::mutex> lock(job->mutex);
  job->finished.wait(lock, [&] { return job->done == parts; });
  lock.unlock();
  if (failure) std::rethrow_exception(failure);
}

// body(start, end) over [0, n) cut into equal contiguous ranges, one per part, for elementwise work: one part below
// 2¹⁴ elements, else up to `threads` parts of at least 2¹³ elements each. Each element is computed on its own, so the
// results do not depend on the cut.
template <class Body>
void forRanges(int64_t n, int64_t threads, const Body& body) {
  const int64_t parts = n < (int64_t{1} << 14) ? 1 : std::max<int64_t>(1, std::min(threads, n >> 13));
  runParts(parts, [&](int64_t t) { body(n * t / parts, n * (t + 1) / parts); });
}

// ---- spmm ------------------------------------------------------------------------------------------

struct SpmmJob {
  const IsaKernels* isa;
  SpmmArgs args;
  int64_t rowStart;
  int64_t rowEnd;
};

SpmmJob spmmJob(napi_env env, const std::vector<napi_value>& argv, const char* fn) {
  const auto indptr = typedArray<const int32_t>(env, argv[0], fn, "indptr");
  const auto indices = typedArray<const int32_t>(env, argv[1], fn, "indices");
  const auto values = typedArray<const float>(env, argv[2], fn, "values", true);
  const auto x = typedArray<const float>(env, argv[3], fn, "x");
  const int64_t dim = integer(env, argv[4], fn, "dim", 1, kMaxInt32);
  const auto out = typedArray<float>(env, argv[5], fn, "out");
  const int64_t rowEnd = integer(env, argv[7], fn, "rowEnd", 0, kMaxInt32 - 1);
  const int64_t rowStart = integer(env, argv[6], fn, "rowStart", 0, rowEnd);
  checkCsrRows(fn, "A", indptr, indices, rowStart, rowEnd, x.length / dim);
  if (values.data != nullptr && values.length < indptr.data[rowEnd]) rangeError(fn, "values is shorter than indices");
  if (out.length < rowEnd * dim) rangeError(fn, "out has ", out.length, " floats, needs rowEnd * dim = ", rowEnd * dim);
  const float* o0 = out.data + rowStart * dim;
  const float* o1 = out.data + rowEnd * dim;
  if (o0 < o1 && o0 < x.data + x.length && x.data < o1) rangeError(fn, "out overlaps x");
  const SpmmArgs args{indptr.data, indices.data, values.data, x.data, dim, out.data};
  return SpmmJob{&currentIsa(env), args, rowStart, rowEnd};
}

// Row bounds of `parts` contiguous ranges with about equal nnz + rows each.
std::vector<int64_t> balancedRows(const int32_t* indptr, int64_t r0, int64_t r1, int64_t parts) {
  const auto cost = [&](int64_t r) { return static_cast<int64_t>(indptr[r]) - indptr[r0] + (r - r0); };
  const int64_t total = cost(r1);
  std::vector<int64_t> bounds(static_cast<size_t>(parts) + 1, r1);
  bounds[0] = r0;
  for (int64_t t = 1; t < parts; ++t) {
    const int64_t target = total * t / parts;
    int64_t lo = bounds[t - 1];
    int64_t hi = r1;
    while (lo < hi) {
      const int64_t mid = lo + (hi - lo) / 2;
      if (cost(mid) < target) lo = mid + 1;
      else hi = mid;
    }
    bounds[t] = lo;
  }
  return bounds;
}

napi_value Spmm(napi_env env, napi_callback_info info) {
  return guard(env, [&]() -> napi_value {
    const char* fn = "spmm";
    const SpmmJob job = spmmJob(env, arguments(env, info, fn, 8), fn);
    job.isa->spmmRows(job.args, job.rowStart, job.rowEnd);
    return nullptr;
  });
}

napi_value SpmmThreaded(napi_env env, napi_callback_info info) {
  return guard(env, [&]() -> napi_value {
    const char* fn = "spmmThreaded";
    const auto argv = arguments(env, info, fn, 9);
    const SpmmJob job = spmmJob(env, argv, fn);
    const int64_t threads = integer(env, argv[8], fn, "threads", 1, kMaxThreads);
    const int64_t parts = std::max<int64_t>(1, std::min(threads, job.rowEnd - job.rowStart));
    const auto bounds = balancedRows(job.args.indptr, job.rowStart, job.rowEnd, parts);
    runParts(parts, [&](int64_t t) { job.isa->spmmRows(job.args, bounds[t], bounds[t + 1]); });
    return nullptr;
  });
}

// ---- sddmm -----------------------------------------------------------------------------------------

napi_value Sddmm(napi_env env, napi_callback_info info) {
  return guard(env, [&]() -> napi_value {
    const char* fn = "sddmm";
    const auto argv = arguments(env, info, fn, 9);
    const auto indptr = typedArray<const int32_t>(env, argv[0], fn, "indptr");
    const auto indices = typedArray<const int32_t>(env, argv[1], fn, "indices");
    const auto a = typedArray<const float>(env, argv[2], fn, "a");
    const auto b = typedArray<const float>(env, argv[3], fn, "b");
    const int64_t dim = integer(env, argv[4], fn, "dim", 1, kMaxInt32);
    const auto out = typedArray<float>(env, argv[5], fn, "out");
    const int64_t rowEnd = integer(env, argv[7], fn, "rowEnd", 0, kMaxInt32 - 1);
    const int64_t rowStart = integer(env, argv[6], fn, "rowStart", 0, rowEnd);
    const int64_t threads = integer(env, argv[8], fn, "threads", 1, kMaxThreads);
    checkCsrRows(fn, "A", indptr, indices, rowStart, rowEnd, b.length / dim);
    if (a.length < rowEnd * dim) rangeError(fn, "a has ", a.length, " floats, needs rowEnd * dim = ", rowEnd * dim);
    if (out.length < indptr.data[rowEnd]) rangeError(fn, "out has ", out.length, " floats, needs ", indptr.data[rowEnd]);
    if (overlap(out, a) || overlap(out, b)) rangeError(fn, "out overlaps a or b");
    const SddmmArgs args{indptr.data, indices.data, a.data, b.data, dim, out.data};
    const IsaKernels& isa = currentIsa(env);
    const int64_t parts = std::max<int64_t>(1, std::min(threads, rowEnd - rowStart));
    const auto bounds = balancedRows(args.indptr, rowStart, rowEnd, parts);
    runParts(parts, [&](int64_t t) { isa.sddmmRows(args, bounds[t], bounds[t + 1]); });
    return nullptr;
  });
}

// ---- tanh, exp -------------------------------------------------------------------------------------

// out = f(x) elementwise by one of the ISA's range kernels, over `threads` threads.
napi_value Elementwise(napi_env env, napi_callback_info info, const char* fn,
                       void (*const IsaKernels::*kernel)(const float*, float*, int64_t)) {
  return guard(env, [&]() -> napi_value {
    const auto argv = arguments(env, info, fn, 3);
    const auto x = typedArray<const float>(env, argv[0], fn, "x");
    const auto out = typedArray<float>(env, argv[1], fn, "out");
    const int64_t threads = integer(env, argv[2], fn, "threads", 1, kMaxThreads);
    if (out.length != x.length) rangeError(fn, "out has ", out.length, " floats, x ", x.length);
    if (overlap(out, x) && out.data != x.data) rangeError(fn, "out overlaps x without being x");
    const auto range = currentIsa(env).*kernel;
    const int64_t n = x.length;
    const int64_t parts = std::max<int64_t>(1, std::min(threads, n / 4096));
    runParts(parts, [&](int64_t t) {
      const int64_t begin = n * t / parts;
      const int64_t end = n * (t + 1) / parts;
      range(x.data + begin, out.data + begin, end - begin);
    });
    return nullptr;
  });
}

napi_value Tanh(napi_env env, napi_callback_info info) { return Elementwise(env, info, "tanh", &IsaKernels::tanhRange); }

napi_value Exp(napi_env env, napi_callback_info info) { return Elementwise(env, info, "exp", &IsaKernels::expRange); }

napi_value ExpShiftedRows(napi_env env, napi_callback_info info) {
  return guard(env, [&]() -> napi_value {
    const char* fn = "expShiftedRows";
    const auto argv = arguments(env, info, fn, 6);
    const auto z = typedArray<float>(env, argv[0], fn, "z");
    const int64_t rows = integer(env, argv[1], fn, "rows", 0, kMaxInt32);
    const int64_t cols = integer(env, argv[2], fn, "cols", 0, kMaxInt32);
    const double scale = real(env, argv[3], fn, "scale");
    const auto max = typedArray<float>(env, argv[4], fn, "max");
    const auto sums = typedArray<float>(env, argv[5], fn, "sums");
    if (z.length < rows * cols) rangeError(fn, "z has ", z.length, " floats, needs rows * cols = ", rows * cols);
    if (max.length < rows || sums.length < rows) rangeError(fn, "max and sums need rows = ", rows, " floats");
    if (overlap(z, max) || overlap(z, sums) || overlap(max, sums)) rangeError(fn, "z, max and sums overlap");
    currentIsa(env).expShiftedRows(z.data, rows, cols, static_cast<float>(scale), max.data, sums.data);
    return nullptr;
  });
}

napi_value ColumnSums(napi_env env, napi_callback_info info) {
  return guard(env, [&]() -> napi_value {
    const char* fn = "columnSums";
    const auto argv = arguments(env, info, fn, 5);
    const auto x = typedArray<const float>(env, argv[0], fn, "x");
    const int64_t rows = integer(env, argv[1], fn, "rows", 0, kMaxInt32);
    const int64_t cols = integer(env, argv[2], fn, "cols", 0, kMaxInt32);
    const double scale = real(env, argv[3], fn, "scale");
    const auto out = typedArray<float>(env, argv[4], fn, "out");
    if (x.length != rows * cols) rangeError(fn, "x has ", x.length, " floats, expected rows * cols = ", rows * cols);
    if (out.length != cols) rangeError(fn, "out has ", out.length, " floats, expected cols = ", cols);
    if (overlap(out, x)) rangeError(fn, "out overlaps x");
    currentIsa(env).columnSums(x.data, rows, cols, scale, out.data);
    return nullptr;
  });
}

// (x, rows, cols, out): out[r] = Σ_j x[r, j] in float32, in column order.
napi_value RowSums(napi_env env, napi_callback_info info) {
  return guard(env, [&]() -> napi_value {
    const char* fn = "rowSums";
    const auto argv = arguments(env, info, fn, 4);
    const auto x = typedArray<const float>(env, argv[0], fn, "x");
    const int64_t rows = integer(env, argv[1], fn, "rows", 0, kMaxInt32);
    const int64_t cols = integer(env, argv[2], fn, "cols", 0, kMaxInt32);
    const auto out = typedArray<float>(env, argv[3], fn, "out");
    if (x.length != rows * cols) rangeError(fn, "x has ", x.length, " floats, expected rows * cols = ", rows * cols);
    if (out.length != rows) rangeError(fn, "out has ", out.length, " floats, expected rows = ", rows);
    if (overlap(out, x)) rangeError(fn, "out overlaps x");
    rowSums(x.data, rows, cols, out.data);
    return nullptr;
  });
}

napi_value ScatterAddRows(napi_env env, napi_callback_info info) {
  return guard(env, [&]() -> napi_value {
    const char* fn = "scatterAddRows";
    const auto argv = arguments(env, info, fn, 4);
    const auto x = typedArray<const float>(env, argv[0], fn, "x");
    const auto ids = typedArray<const int32_t>(env, argv[1], fn, "ids");
    const int64_t inner = integer(env, argv[2], fn, "inner", 1, kMaxInt32);
    const auto out = typedArray<float>(env, argv[3], fn, "out");
    if (x.length != ids.length * inner) rangeError(fn, "x has ", x.length, " floats, expected ids.length * inner = ", ids.length * inner);
    if (out.length % inner != 0) rangeError(fn, "out has ", out.length, " floats, not whole rows of ", inner);
    const int64_t segments = out.length / inner;
    for (int64_t i = 0; i < ids.length; ++i)
      if (ids.data[i] >= segments) rangeError(fn, "id ", ids.data[i], " at ", i, " is not below ", segments);
    if (overlap(out, x) || overlap(out, ids)) rangeError(fn, "out overlaps x or ids");
    currentIsa(env).scatterAddRows(x.data, ids.data, ids.length, inner, out.data);
    return nullptr;
  });
}

// gatherScaled / scatterScaled (values, ids, scale, out): the per-entry gates of a gated sparse product.
napi_value Scaled(napi_env env, napi_callback_info info, const char* fn, bool gather) {
  return guard(env, [&]() -> napi_value {
    const auto argv = arguments(env, info, fn, 4);
    const auto values = typedArray<const float>(env, argv[0], fn, "values");
    const auto ids = typedArray<const int32_t>(env, argv[1], fn, "ids");
    const auto scale = typedArray<const float>(env, argv[2], fn, "scale");
    const auto out = typedArray<float>(env, argv[3], fn, "out");
    const int64_t n = ids.length;
    const int64_t range = gather ? values.length : out.length;
    if (scale.length != n || (gather ? out.length : values.length) != n)
      rangeError(fn, "ids, scale and ", gather ? "out" : "values", " must have one entry each");
    for (int64_t p = 0; p < n; ++p)
      if (ids.data[p] < 0 || ids.data[p] >= range) rangeError(fn, "id ", ids.data[p], " at ", p, " is outside [0, ", range, ")");
    if (overlap(out, values) || overlap(out, ids) || overlap(out, scale)) rangeError(fn, "out overlaps an input");
    const IsaKernels& isa = currentIsa(env);
    (gather ? isa.gatherScaled : isa.scatterScaled)(values.data, ids.data, scale.data, n, out.data);
    return nullptr;
  });
}

napi_value GatherScaled(napi_env env, napi_callback_info info) { return Scaled(env, info, "gatherScaled", true); }

napi_value ScatterScaled(napi_env env, napi_callback_info info) { return Scaled(env, info, "scatterScaled", false); }

// ---- gemm -----------------------------------------------------------------------------------------

// Column panels of the matrix whose element (d, j) is src[d * rowStride + j * colStride], rows [d0, d0 + depth),
// n columns: ceil(n / width) panels of [depth][width], zero past column n.
void packPanels(const float* src, int64_t rowStride, int64_t colStride, int64_t d0, int64_t depth, int64_t n,
                int64_t width, float* dst) {
  const int64_t panels = (n + width - 1) / width;
  for (int64_t p = 0; p < panels; ++p) {
    for (int64_t d = 0; d < depth; ++d) {
      float* o = dst + (p * depth + d) * width;
      const float* row = src + (d0 + d) * rowStride;
      for (int64_t j = 0; j < width; ++j) {
        const int64_t col = p * width + j;
        o[j] = col < n ? row[col * colStride] : 0.0f;
      }
    }
  }
}

// Flushes denormal inputs and results to zero on this thread while it lives (x86 MXCSR FTZ + DAZ), then restores
// the caller's mode. Gradients late in training hold many denormals, and every FMA that meets one takes a
// microcode assist: the products ran 2-10x slower on them. Values below 1.2e-38 become 0, which no model here
// can tell apart from what it computes.
class FlushDenormals {
 public:
#if defined(__x86_64__) || defined(__i386__)
  FlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040u); }
  ~FlushDenormals() { _mm_setcsr(saved_); }

 private:
  unsigned int saved_;
#else
  FlushDenormals() = default;
#endif
  FlushDenormals(const FlushDenormals&) = delete;
  FlushDenormals& operator=(const FlushDenormals&) = delete;
};

constexpr int64_t kGemmParallelWork = int64_t{1} << 18;  // m·n·k below this runs on the calling thread
constexpr int64_t kOuterChunk = 64;  // rows of A and B per Aᵀ·B chunk: 2 × 64 rows of 64 floats stay in L1 for every tile
constexpr int64_t kOuterGroups = 8;                      // fixed partial sums of Aᵀ·B (not one per thread)
constexpr int64_t kOuterMaxAcc = int64_t{1} << 20;       // largest m·n the Aᵀ·B path accumulates

// c = op(a) · op(b), op(a) [m, k], op(b) [k, n]; rows of c split over threads in whole tiles.
void gemmByRows(const IsaKernels& isa, const float* a, const float* b, bool transB, int64_t m, int64_t k, int64_t n,
                float* c, int64_t threads) {
  const int64_t w = isa.panelWidth;
  std::vector<float> panels(static_cast<size_t>((n + w - 1) / w * w * k));
  packPanels(b, transB ? 1 : n, transB ? k : 1, 0, k, n, w, panels.data());
  const GemmRowsArgs args{a, k, panels.data(), n, c};
  const int64_t tiles = (m + isa.usersPerTile - 1) / isa.usersPerTile;
  const int64_t parts = m * n * k < kGemmParallelWork ? 1 : std::max<int64_t>(1, std::min(threads, tiles));
  runParts(parts, [&](int64_t t) {
    const FlushDenormals flush;
    const int64_t r0 = std::min(m, tiles * t / parts * isa.usersPerTile);
    const int64_t r1 = std::min(m, tiles * (t + 1) / parts * isa.usersPerTile);
    if (r0 < r1) isa.gemmRows(args, r0, r1);
  });
}

// c = aᵀ · op(b) with a stored [k, m]: sums of outer products over row chunks, in kOuterGroups fixed groups of
// chunks added in order, so the result does not depend on the number of threads.
void gemmByOuter(const IsaKernels& isa, const float* a, const float* b, bool transB, int64_t m, int64_t k,
                 int64_t n, float* c, int64_t threads) {
  const int64_t mr = isa.usersPerTile;
  const int64_t w = isa.panelWidth;
  const int64_t mTiles = (m + mr - 1) / mr;
  const int64_t nPanels = (n + w - 1) / w;
  const int64_t stride = nPanels * w;
  const int64_t chunks = (k + kOuterChunk - 1) / kOuterChunk;
  const int64_t groups = std::min(kOuterGroups, chunks);
  // B with whole panels and no transpose is read in place (a tile's rows of A and columns of B are contiguous in
  // each row d); packing cost more than the products on [7050, 64]ᵀ·[7050, 64] (4 ms against 1).
  const bool direct = !transB && n % w == 0;
  const int64_t accStride = direct ? n : stride;
  const int64_t accSize = direct ? m * n : mTiles * mr * stride;
  std::vector<float> acc(static_cast<size_t>(accSize * groups), 0.0f);
  const int64_t parts = m * n * k < kGemmParallelWork ? 1 : std::max<int64_t>(1, std::min(threads, groups));
  runParts(parts, [&](int64_t t) {
    const FlushDenormals flush;
    std::vector<float> ap(direct ? 0 : static_cast<size_t>(mTiles * mr * kOuterChunk));
    std::vector<float> bp(direct ? 0 : static_cast<size_t>(stride * kOuterChunk));
    for (int64_t g = t; g < groups; g += parts) {
      for (int64_t ch = chunks * g / groups; ch < chunks * (g + 1) / groups; ++ch) {
        const int64_t d0 = ch * kOuterChunk;
        const int64_t depth = std::min(kOuterChunk, k - d0);
        if (direct) {
          isa.gemmOuterDirect(GemmOuterDirectArgs{a, m, b, n, d0, depth, acc.data() + g * accSize});
          continue;
        }
        packPanels(a, m, 1, d0, depth, m, mr, ap.data());
        packPanels(b, transB ? 1 : n, transB ? k : 1, d0, depth, n, w, bp.data());
        isa.gemmOuter(GemmOuterArgs{ap.data(), mTiles, bp.data(), nPanels, depth, acc.data() + g * accSize});
      }
    }
  });
  const FlushDenormals flush;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      float s = acc[static_cast<size_t>(i * accStride + j)];
      for (int64_t g = 1; g < groups; ++g) s += acc[static_cast<size_t>(g * accSize + i * accStride + j)];
      c[i * n + j] = s;
    }
  }
}

napi_value Gemm(napi_env env, napi_callback_info info) {
  return guard(env, [&]() -> napi_value {
    const char* fn = "gemm";
    const auto argv = arguments(env, info, fn, 9);
    const auto a = typedArray<const float>(env, argv[0], fn, "a");
    const auto b = typedArray<const float>(env, argv[1], fn, "b");
    const auto c = typedArray<float>(env, argv[2], fn, "c");
    const int64_t m = integer(env, argv[3], fn, "m", 1, kMaxInt32);
    const int64_t k = integer(env, argv[4], fn, "k", 1, kMaxInt32);
    const int64_t n = integer(env, argv[5], fn, "n", 1, kMaxInt32);
    const bool transA = integer(env, argv[6], fn, "transA", 0, 1) == 1;
    const bool transB = integer(env, argv[7], fn, "transB", 0, 1) == 1;
    const int64_t threads = integer(env, argv[8], fn, "threads", 1, kMaxThreads);
    if (a.length != m * k) rangeError(fn, "a has ", a.length, " floats, expected m * k = ", m * k);
    if (b.length != k * n) rangeError(fn, "b has ", b.length, " floats, expected k * n = ", k * n);
    if (c.length != m * n) rangeError(fn, "c has ", c.length, " floats, expected m * n = ", m * n);
    const auto overlaps = [&](const float* p, int64_t len) { return c.data < p + len && p < c.data + c.length; };
    if (overlaps(a.data, a.length) || overlaps(b.data, b.length)) rangeError(fn, "c overlaps a or b");
    const IsaKernels& isa = currentIsa(env);
    if (transA && m * n <= kOuterMaxAcc) {
      gemmByOuter(isa, a.data, b.data, transB, m, k, n, c.data, threads);
    } else if (transA) {
      std::vector<float> at(static_cast<size_t>(m * k));
      for (int64_t d = 0; d < k; ++d)
        for (int64_t i = 0; i < m; ++i) at[static_cast<size_t>(i * k + d)] = a.data[d * m + i];
      gemmByRows(isa, at.data(), b.data, transB, m, k, n, c.data, threads);
    } else {
      gemmByRows(isa, a.data, b.data, transB, m, k, n, c.data, threads);
    }
    return nullptr;
  });
}

// ---- InfoNCE -----------------------------------------------------------------------------------------

// Row r of x scaled to unit norm into unit (x·(‖x‖² + 1e-24)^(−1/2), as l2Normalize), the scale into scale[r].
void unitRows(const float* x, int64_t n, int64_t d, float* unit, float* scale) {
  for (int64_t r = 0; r < n; ++r) {
    float q = 0;
    for (int64_t k = 0; k < d; ++k) q += x[r * d + k] * x[r * d + k];
    const float s = 1.0f / std::sqrt(q + 1e-24f);
    scale[r] = s;
    for (int64_t k = 0; k < d; ++k) unit[r * d + k] = x[r * d + k] * s;
  }
}

// In place g_r ← s_r·(g_r − û_r⟨û_r, g_r⟩): a gradient in the unit rows taken back to the rows.
void throughUnitRows(float* g, const float* unit, const float* scale, int64_t n, int64_t d) {
  for (int64_t r = 0; r < n; ++r) {
    float dot = 0;
    for (int64_t k = 0; k < d; ++k) dot += unit[r * d + k] * g[r * d + k];
    for (int64_t k = 0; k < d; ++k) g[r * d + k] = scale[r] * (g[r * d + k] - unit[r * d + k] * dot);
  }
}

// The blocked InfoNCE of x against y and its gradients (src/compute/kernels/infonce.ts has the formulas): per
// block, Z = X̂·Ŷᵀ, exp(Z/T − max) with row sums, lse; Z becomes P/(nT); ∂x̂ = Z·Ŷ, ∂ŷ = Zᵀ·X̂; then the positive
// term and the normalisation's gradient. Returns L. Blocks touch only their own rows of gx and gy, so they run as
// parts over the threads (each with its own Z), a block's products on threads / parts threads; each row's term of
// L is kept and summed in row order, so L and the gradients do not depend on the number of threads.
double infoNceBlocks(const IsaKernels& isa, const float* x, const float* y, int64_t n, int64_t d, double temperature,
                     int64_t block, float* gx, float* gy, int64_t threads) {
  std::vector<float> ux(static_cast<size_t>(n * d)), uy(static_cast<size_t>(n * d)), sx(static_cast<size_t>(n)),
      sy(static_cast<size_t>(n));
  std::vector<double> rowLoss(static_cast<size_t>(n));
  const int64_t blocks = (n + block - 1) / block;
  const int64_t parts = std::max<int64_t>(1, std::min(threads, blocks));
  const int64_t inner = std::max<int64_t>(1, threads / parts);
  const int64_t width = std::min(block, n);
  const float invT = static_cast<float>(1 / temperature);
  const double inv = 1 / (static_cast<double>(n) * temperature);
  const float invF = static_cast<float>(inv);
  // each part's Z, maxima and row sums, allocated once here rather than per block
  std::vector<float> scratch(static_cast<size_t>(parts * (width * width + 2 * width)));
  runParts(parts, [&](int64_t part) {
    float* z = scratch.data() + part * (width * width + 2 * width);
    float* max = z + width * width;
    float* sums = max + width;
    for (int64_t b = blocks * part / parts; b < blocks * (part + 1) / parts; ++b) {
      const int64_t start = b * block;
      const int64_t size = std::min(block, n - start);
      float* bx = ux.data() + start * d;
      float* by = uy.data() + start * d;
      unitRows(x + start * d, size, d, bx, sx.data() + start);
      unitRows(y + start * d, size, d, by, sy.data() + start);
      gemmByRows(isa, bx, by, true, size, d, size, z, inner);
      isa.expShiftedRows(z, size, size, invT, max, sums);
      for (int64_t r = 0; r < size; ++r) {
        double positive = 0;
        for (int64_t k = 0; k < d; ++k) positive += static_cast<double>(bx[r * d + k]) * by[r * d + k];
        rowLoss[start + r] = max[r] + std::log(static_cast<double>(sums[r])) - positive / temperature;
        const float scale = static_cast<float>(inv / sums[r]);
        for (int64_t s = r * size; s < (r + 1) * size; ++s) z[s] *= scale;
      }
      float* bgx = gx + start * d;
      float* bgy = gy + start * d;
      gemmByRows(isa, z, by, false, size, size, d, bgx, inner);
      gemmByOuter(isa, z, bx, false, size, size, d, bgy, inner);
      for (int64_t k = 0; k < size * d; ++k) {
        bgx[k] -= by[k] * invF;
        bgy[k] -= bx[k] * invF;
      }
      throughUnitRows(bgx, bx, sx.data() + start, size, d);
      throughUnitRows(bgy, by, sy.data() + start, size, d);
    }
  });
  double total = 0;
  for (const double term : rowLoss) total += term;
  return total / n;
}

// () → how many helper threads the process's pool holds (it grows to the most any call has asked for).
napi_value HelperThreads(napi_env env, napi_callback_info info) {
  return guard(env, [&]() -> napi_value {
    arguments(env, info, "helperThreads", 0);
    napi_value out;
    check(napi_create_int64(env, HelperPool::instance().size(), &out));
    return out;
  });
}

napi_value InfoNce(napi_env env, napi_callback_info info) {
  return guard(env, [&]() -> napi_value {
    const char* fn = "infoNce";
    const auto argv = arguments(env, info, fn, 9);
    const auto x = typedArray<const float>(env, argv[0], fn, "x");
    const auto y = typedArray<const float>(env, argv[1], fn, "y");
    const int64_t n = integer(env, argv[2], fn, "rows", 1, kMaxInt32);
    const int64_t d = integer(env, argv[3], fn, "dim", 1, kMaxInt32);
    const double temperature = real(env, argv[4], fn, "temperature");
    const int64_t block = integer(env, argv[5], fn, "block", 1, kMaxInt32);
    const auto gx = typedArray<float>(env, argv[6], fn, "gx");
    const auto gy = typedArray<float>(env, argv[7], fn, "gy");
    const int64_t threads = integer(env, argv[8], fn, "threads", 1, kMaxThreads);
    if (!(temperature > 0)) rangeError(fn, "temperature must be positive, got ", temperature);
    for (const int64_t length : {x.length, y.length, gx.length, gy.length})
      if (length != n * d) rangeError(fn, "x, y, gx and gy must hold rows * dim = ", n * d, " floats");
    if (overlap(gx, gy) || overlap(gx, x) || overlap(gx, y) || overlap(gy, x) || overlap(gy, y))
      rangeError(fn, "gx and gy must not overlap each other, x or y");
    const double loss = infoNceBlocks(currentIsa(env), x.data, y.data, n, d, temperature, block, gx.data, gy.data, threads);
    napi_value out;
    check(napi_create_double(env, loss, &out));
    return out;
  });
}

// ---- the diffusion denoiser ---------------------------------------------------------------------------

// The arrays of one denoiser call (src/compute/kernels/denoise.ts has the formulas): n rows of width d, hidden
// width h, T step embeddings.
struct DenoiseArrays {
  const float* h0;          // [n, d]
  const float* cond;        // [n, d]
  const float* noise;       // [n, d], or null (h_t = signal·h0)
  const float* signal;      // [n]
  const float* noiseScale;  // [n], or null with noise
  const int32_t* steps;     // [n], each in [0, T)
  const float* wNoisy;      // [d, h]
  const float* wCond;       // [d, h]
  const float* wOut;        // [h, d]
  int64_t n, d, h;
};

// Reads argv[0..11] as (h0, cond, noise|null, signal, noiseScale|null, steps, wNoisy, wCond, stepEmb, bias, wOut,
// outBias) and checks every length against n = steps.length, d = outBias.length, h = bias.length.
struct DenoiseInputs {
  DenoiseArrays arrays;
  View<const float> stepEmb, bias, outBias;
  std::vector<View<const float>> all;
};

DenoiseInputs denoiseInputs(napi_env env, const std::vector<napi_value>& argv, const char* fn) {
  const auto h0 = typedArray<const float>(env, argv[0], fn, "h0");
  const auto cond = typedArray<const float>(env, argv[1], fn, "cond");
  const auto noise = typedArray<const float>(env, argv[2], fn, "noise", true);
  const auto signal = typedArray<const float>(env, argv[3], fn, "signal");
  const auto noiseScale = typedArray<const float>(env, argv[4], fn, "noiseScale", true);
  const auto steps = typedArray<const int32_t>(env, argv[5], fn, "steps");
  const auto wNoisy = typedArray<const float>(env, argv[6], fn, "wNoisy");
  const auto wCond = typedArray<const float>(env, argv[7], fn, "wCond");
  const auto stepEmb = typedArray<const float>(env, argv[8], fn, "stepEmb");
  const auto bias = typedArray<const float>(env, argv[9], fn, "bias");
  const auto wOut = typedArray<const float>(env, argv[10], fn, "wOut");
  const auto outBias = typedArray<const float>(env, argv[11], fn, "outBias");
  const int64_t n = steps.length, d = outBias.length, h = bias.length;
  if (d == 0 || h == 0) rangeError(fn, "outBias and bias must not be empty");
  const auto expect = [&](const char* name, int64_t length, int64_t want) {
    if (length != want) rangeError(fn, name, " has ", length, " entries, expected ", want);
  };
  expect("h0", h0.length, n * d);
  expect("cond", cond.length, n * d);
  expect("signal", signal.length, n);
  if (noise.data != nullptr) {
    expect("noise", noise.length, n * d);
    if (noiseScale.data == nullptr) typeError(fn, "noiseScale must be a Float32Array when noise is given");
    expect("noiseScale", noiseScale.length, n);
  }
  expect("wNoisy", wNoisy.length, d * h);
  expect("wCond", wCond.length, d * h);
  expect("wOut", wOut.length, h * d);
  if (stepEmb.length % h != 0 || stepEmb.length == 0) rangeError(fn, "stepEmb must hold whole rows of ", h, " floats");
  const int64_t stepCount = stepEmb.length / h;
  for (int64_t r = 0; r < n; ++r)
    if (steps.data[r] < 0 || steps.data[r] >= stepCount) rangeError(fn, "step ", steps.data[r], " of row ", r, " is outside [0, ", stepCount, ")");
  DenoiseArrays arrays{h0.data, cond.data, noise.data, signal.data, noise.data ? noiseScale.data : nullptr, steps.data,
                       wNoisy.data, wCond.data, wOut.data, n, d, h};
  return DenoiseInputs{arrays, stepEmb, bias, outBias, {h0, cond, noise, signal, noiseScale, wNoisy, wCond, stepEmb, bias, wOut, outBias}};
}

// Throws unless no two outputs overlap and no output overlaps an input.
void checkOutputs(const char* fn, const std::vector<View<float>>& outs, const std::vector<View<const float>>& ins) {
  for (size_t i = 0; i < outs.size(); ++i) {
    for (const auto& in : ins)
      if (overlap(outs[i], in)) rangeError(fn, "an output overlaps an input");
    for (size_t j = i + 1; j < outs.size(); ++j)
      if (overlap(outs[i], outs[j])) rangeError(fn, "the outputs overlap");
  }
}

// (h0, cond, noise|null, signal, noiseScale|null, steps, wNoisy, wCond, stepEmb, bias, wOut, outBias, est, act,
// threads) → Σ (h0 − est)² / (n·d). est = tanh((h_t·W_h + cond·W_c) + (E[t] + b))·W_o + b_o, act the tanh.
napi_value Denoise(napi_env env, napi_callback_info info) {
  return guard(env, [&]() -> napi_value {
    const char* fn = "denoise";
    const auto argv = arguments(env, info, fn, 15);
    const DenoiseInputs in = denoiseInputs(env, argv, fn);
    const DenoiseArrays& x = in.arrays;
    const auto est = typedArray<float>(env, argv[12], fn, "est");
    const auto act = typedArray<float>(env, argv[13], fn, "act");
    const int64_t threads = integer(env, argv[14], fn, "threads", 1, kMaxThreads);
    if (est.length != x.n * x.d || act.length != x.n * x.h) rangeError(fn, "est must hold n·d floats and act n·h");
    checkOutputs(fn, {est, act}, in.all);
    const IsaKernels& isa = currentIsa(env);
    std::vector<float> ht(static_cast<size_t>(x.n * x.d)), condPart(static_cast<size_t>(x.n * x.h));
    noisyRows(x.h0, x.noise, x.signal, x.noiseScale, x.n, x.d, ht.data());
    gemmByRows(isa, ht.data(), x.wNoisy, false, x.n, x.d, x.h, act.data, threads);
    gemmByRows(isa, x.cond, x.wCond, false, x.n, x.d, x.h, condPart.data(), threads);
    denoiserPreActivation(act.data, condPart.data(), in.stepEmb.data, x.steps, in.bias.data, x.n, x.h);
    isa.tanhRange(act.data, act.data, x.n * x.h);
    gemmByRows(isa, act.data, x.wOut, false, x.n, x.h, x.d, est.data, threads);
    const double sum = addBiasSquaredError(est.data, in.outBias.data, x.h0, x.n, x.d);
    napi_value loss;
    check(napi_create_double(env, x.n == 0 ? 0.0 : sum / static_cast<double>(x.n * x.d), &loss));
    return loss;
  });
}

// (h0, cond, noise|null, signal, noiseScale|null, steps, wNoisy, wCond, stepEmb, bias, wOut, outBias, est, act,
// dEst, dLoss, dh0, dCond, dWNoisy, dWCond, dStepEmb, dBias, dWOut, dOutBias, threads): the gradients of
// ⟨dEst, est⟩ + dLoss·loss, the loss's target h0 held constant (a stop-gradient).
napi_value DenoiseGrad(napi_env env, napi_callback_info info) {
  return guard(env, [&]() -> napi_value {
    const char* fn = "denoiseGrad";
    const auto argv = arguments(env, info, fn, 25);
    const DenoiseInputs in = denoiseInputs(env, argv, fn);
    const DenoiseArrays& x = in.arrays;
    const auto est = typedArray<const float>(env, argv[12], fn, "est");
    const auto act = typedArray<const float>(env, argv[13], fn, "act");
    const auto dEst = typedArray<const float>(env, argv[14], fn, "dEst");
    const double dLoss = real(env, argv[15], fn, "dLoss");
    std::vector<View<float>> outs;
    const char* names[] = {"dh0", "dCond", "dWNoisy", "dWCond", "dStepEmb", "dBias", "dWOut", "dOutBias"};
    for (int k = 0; k < 8; ++k) outs.push_back(typedArray<float>(env, argv[16 + k], fn, names[k]));
    const int64_t threads = integer(env, argv[24], fn, "threads", 1, kMaxThreads);
    const int64_t n = x.n, d = x.d, h = x.h;
    if (est.length != n * d || dEst.length != n * d || act.length != n * h) rangeError(fn, "est and dEst must hold n·d floats, act n·h");
    const int64_t want[] = {n * d, n * d, d * h, d * h, in.stepEmb.length, h, h * d, d};
    for (int k = 0; k < 8; ++k)
      if (outs[k].length != want[k]) rangeError(fn, names[k], " has ", outs[k].length, " floats, expected ", want[k]);
    auto ins = in.all;
    ins.insert(ins.end(), {est, act, dEst});
    checkOutputs(fn, outs, ins);
    const IsaKernels& isa = currentIsa(env);
    float* const dh0 = outs[0].data;
    std::vector<float> dOut(static_cast<size_t>(n * d)), dPre(static_cast<size_t>(n * h)), ht(static_cast<size_t>(n * d));
    const float scale = static_cast<float>(n == 0 ? 0.0 : 2 * dLoss / static_cast<double>(n * d));
    squaredErrorGradient(dEst.data, scale, est.data, x.h0, n * d, dOut.data());
    isa.columnSums(dOut.data(), n, d, 1.0, outs[7].data);                                  // ∂b_o
    gemmByOuter(isa, act.data, dOut.data(), false, h, n, d, outs[6].data, threads);        // ∂W_o = actᵀ·dOut
    gemmByRows(isa, dOut.data(), x.wOut, true, n, d, h, dPre.data(), threads);             // dOut·W_oᵀ
    tanhGradient(dPre.data(), act.data, n * h);
    isa.columnSums(dPre.data(), n, h, 1.0, outs[5].data);                                  // ∂b
    std::fill(outs[4].data, outs[4].data + outs[4].length, 0.0f);
    isa.scatterAddRows(dPre.data(), x.steps, n, h, outs[4].data);                          // ∂E, rows in order
    noisyRows(x.h0, x.noise, x.signal, x.noiseScale, n, d, ht.data());
    gemmByOuter(isa, ht.data(), dPre.data(), false, d, n, h, outs[2].data, threads);       // ∂W_h = h_tᵀ·dPre
    gemmByOuter(isa, x.cond, dPre.data(), false, d, n, h, outs[3].data, threads);          // ∂W_c = condᵀ·dPre
    gemmByRows(isa, dPre.data(), x.wNoisy, true, n, h, d, dh0, threads);                   // ∂h_t = dPre·W_hᵀ
    scaleRows(dh0, x.signal, n, d);                                                        // ∂h_0 = √ᾱ_t ∂h_t
    gemmByRows(isa, dPre.data(), x.wCond, true, n, h, d, outs[1].data, threads);           // ∂cond = dPre·W_cᵀ
    return nullptr;
  });
}

// ---- the concrete gate --------------------------------------------------------------------------------

// (logits, uniforms|null, temperature, rho): ρ = σ((ω + log u − log(1 − u))/τ) per edge.
napi_value ConcreteGate(napi_env env, napi_callback_info info) {
  return guard(env, [&]() -> napi_value {
    const char* fn = "concreteGate";
    const auto argv = arguments(env, info, fn, 5);
    const auto logits = typedArray<const float>(env, argv[0], fn, "logits");
    const auto uniforms = typedArray<const float>(env, argv[1], fn, "uniforms", true);
    const double temperature = real(env, argv[2], fn, "temperature");
    const auto rho = typedArray<float>(env, argv[3], fn, "rho");
    const int64_t threads = integer(env, argv[4], fn, "threads", 1, kMaxThreads);
    if (!(temperature > 0)) rangeError(fn, "temperature must be positive, got ", temperature);
    if (rho.length != logits.length || (uniforms.data != nullptr && uniforms.length != logits.length))
      rangeError(fn, "logits, uniforms and rho must have one entry per edge");
    if (overlap(rho, logits) || overlap(rho, uniforms)) rangeError(fn, "rho overlaps an input");
    const float t = static_cast<float>(temperature);
    forRanges(logits.length, threads, [&](int64_t start, int64_t end) {
      concreteGate(logits.data + start, uniforms.data ? uniforms.data + start : nullptr, t, end - start, rho.data + start);
    });
    return nullptr;
  });
}

// (dy, rho, temperature, out): out = (dy·ρ(1 − ρ))/τ.
napi_value ConcreteGateGrad(napi_env env, napi_callback_info info) {
  return guard(env, [&]() -> napi_value {
    const char* fn = "concreteGateGrad";
    const auto argv = arguments(env, info, fn, 5);
    const auto dy = typedArray<const float>(env, argv[0], fn, "dy");
    const auto rho = typedArray<const float>(env, argv[1], fn, "rho");
    const double temperature = real(env, argv[2], fn, "temperature");
    const auto out = typedArray<float>(env, argv[3], fn, "out");
    const int64_t threads = integer(env, argv[4], fn, "threads", 1, kMaxThreads);
    if (!(temperature > 0)) rangeError(fn, "temperature must be positive, got ", temperature);
    if (rho.length != dy.length || out.length != dy.length) rangeError(fn, "dy, rho and out must have one entry per edge");
    if (overlap(out, dy) || overlap(out, rho)) rangeError(fn, "out overlaps an input");
    const float t = static_cast<float>(temperature);
    forRanges(dy.length, threads, [&](int64_t start, int64_t end) {
      concreteGateGradient(dy.data + start, rho.data + start, t, end - start, out.data + start);
    });
    return nullptr;
  });
}

// ---- the layer mean of a propagation ---------------------------------------------------------------

// (layers: Float32Array[], divisor, out): out = (((l_0 + l_1) + …) + l_{n−1})/divisor, elementwise. out may be one
// of the layers (the same array), not part of one.
napi_value LayerMean(napi_env env, napi_callback_info info) {
  return guard(env, [&]() -> napi_value {
    const char* fn = "layerMean";
    const auto argv = arguments(env, info, fn, 3);
    bool isArray = false;
    check(napi_is_array(env, argv[0], &isArray));
    if (!isArray) typeError(fn, "layers must be an array of Float32Arrays");
    uint32_t count = 0;
    check(napi_get_array_length(env, argv[0], &count));
    if (count == 0) rangeError(fn, "layers is empty");
    const double divisor = real(env, argv[1], fn, "divisor");
    const auto out = typedArray<float>(env, argv[2], fn, "out");
    std::vector<const float*> layers(count);
    for (uint32_t k = 0; k < count; ++k) {
      napi_value v;
      check(napi_get_element(env, argv[0], k, &v));
      const auto layer = typedArray<const float>(env, v, fn, "each layer");
      if (layer.length != out.length) rangeError(fn, "layer ", k, " has ", layer.length, " floats, out ", out.length);
      if (overlap(out, layer) && layer.data != out.data) rangeError(fn, "out overlaps part of layer ", k);
      layers[k] = layer.data;
    }
    if (!(divisor > 0)) rangeError(fn, "divisor must be positive, got ", divisor);
    layerMean(layers.data(), count, static_cast<float>(divisor), out.length, out.data);
    return nullptr;
  });
}

// (dLayer|null, dMean, divisor, accumulate, out): out = (dLayer + dMean/divisor) + out (without dLayer or the
// trailing out as given).
napi_value LayerGradient(napi_env env, napi_callback_info info) {
  return guard(env, [&]() -> napi_value {
    const char* fn = "layerGradient";
    const auto argv = arguments(env, info, fn, 5);
    const auto dLayer = typedArray<const float>(env, argv[0], fn, "dLayer", true);
    const auto dMean = typedArray<const float>(env, argv[1], fn, "dMean");
    const double divisor = real(env, argv[2], fn, "divisor");
    const int64_t accumulate = integer(env, argv[3], fn, "accumulate", 0, 1);
    const auto out = typedArray<float>(env, argv[4], fn, "out");
    if (!(divisor > 0)) rangeError(fn, "divisor must be positive, got ", divisor);
    if (dMean.length != out.length || (dLayer.data != nullptr && dLayer.length != out.length))
      rangeError(fn, "dLayer, dMean and out must have the same length");
    if (overlap(out, dLayer) || overlap(out, dMean)) rangeError(fn, "out overlaps an input");
    layerGradient(dLayer.data, dMean.data, static_cast<float>(divisor), accumulate == 1, out.length, out.data);
    return nullptr;
  });
}

// ---- row-wise optimizers -----------------------------------------------------------------------------

// The update of rows `ids` (every row when null) of [rows, dim] tables that all have tables[0]'s length: checks
// g's length, every id, and that no array overlaps another.
template <size_t N>
RowUpdate checkRowUpdate(const char* fn, const View<float> (&tables)[N], const char* const (&names)[N],
                         const View<const int32_t>& ids, const View<const float>& g, int64_t dim) {
  const View<float>& p = tables[0];
  if (p.length % dim != 0) rangeError(fn, names[0], " has ", p.length, " floats, not a multiple of dim ", dim);
  for (size_t t = 1; t < N; ++t)
    if (tables[t].length != p.length) rangeError(fn, names[t], " has ", tables[t].length, " floats, ", names[0], " has ", p.length);
  const int64_t rows = p.length / dim;
  const int64_t n = ids.data ? ids.length : rows;
  if (g.length != n * dim) rangeError(fn, "g has ", g.length, " floats, expected ", n, " rows of ", dim);
  for (int64_t r = 0; ids.data && r < n; ++r)
    if (ids.data[r] < 0 || ids.data[r] >= rows) rangeError(fn, "id ", ids.data[r], " at position ", r, " is outside [0, ", rows, ")");
  for (size_t t = 0; t < N; ++t) {
    if (overlap(tables[t], g) || overlap(tables[t], ids)) rangeError(fn, names[t], " overlaps g or ids");
    for (size_t u = t + 1; u < N; ++u)
      if (overlap(tables[t], tables[u])) rangeError(fn, names[t], " overlaps ", names[u]);
  }
  return RowUpdate{p.data, ids.data, g.data, n, dim};
}

// adamRows(p, m, v, ids | null, g, dim, beta1, beta2, stepSize, sqrtBc2, eps)
napi_value AdamRows(napi_env env, napi_callback_info info) {
  return guard(env, [&]() -> napi_value {
    const char* fn = "adamRows";
    const auto argv = arguments(env, info, fn, 11);
    const View<float> tables[3] = {typedArray<float>(env, argv[0], fn, "p"), typedArray<float>(env, argv[1], fn, "m"),
                                   typedArray<float>(env, argv[2], fn, "v")};
    const auto ids = typedArray<const int32_t>(env, argv[3], fn, "ids", true);
    const auto g = typedArray<const float>(env, argv[4], fn, "g");
    const int64_t dim = integer(env, argv[5], fn, "dim", 1, kMaxInt32);
    const double beta1 = real(env, argv[6], fn, "beta1"), beta2 = real(env, argv[7], fn, "beta2");
    const double stepSize = real(env, argv[8], fn, "stepSize"), sqrtBc2 = real(env, argv[9], fn, "sqrtBc2");
    const double eps = real(env, argv[10], fn, "eps");
    const RowUpdate rows = checkRowUpdate(fn, tables, {"p", "m", "v"}, ids, g, dim);
    adamRows(AdamRowsArgs{rows, tables[1].data, tables[2].data, beta1, beta2, stepSize, sqrtBc2, eps});
    return nullptr;
  });
}

// adagradRows(p, s, ids | null, g, dim, lr, eps)
napi_value AdagradRows(napi_env env, napi_callback_info info) {
  return guard(env, [&]() -> napi_value {
    const char* fn = "adagradRows";
    const auto argv = arguments(env, info, fn, 7);
    const View<float> tables[2] = {typedArray<float>(env, argv[0], fn, "p"), typedArray<float>(env, argv[1], fn, "s")};
    const auto ids = typedArray<const int32_t>(env, argv[2], fn, "ids", true);
    const auto g = typedArray<const float>(env, argv[3], fn, "g");
    const int64_t dim = integer(env, argv[4], fn, "dim", 1, kMaxInt32);
    const double lr = real(env, argv[5], fn, "lr"), eps = real(env, argv[6], fn, "eps");
    const RowUpdate rows = checkRowUpdate(fn, tables, {"p", "s"}, ids, g, dim);
    adagradRows(AdagradRowsArgs{rows, tables[1].data, lr, eps});
    return nullptr;
  });
}

// ---- 16-bit wire values -----------------------------------------------------------------------------

// narrowRows(src, dim, rows | null, out, kind) and widenRows(src, dim, rows | null, out, kind): kind 1 bfloat16,
// 2 binary16; rows index the float32 side (src of narrowRows, out of widenRows).
napi_value WireRows(napi_env env, napi_callback_info info, const char* fn, bool narrow) {
  return guard(env, [&]() -> napi_value {
    const auto argv = arguments(env, info, fn, 5);
    const int64_t dim = integer(env, argv[1], fn, "dim", 1, kMaxInt32);
    const auto rows = typedArray<const int32_t>(env, argv[2], fn, "rows", true);
    const int64_t kind = integer(env, argv[4], fn, "kind", 1, 2);
    View<float> f32{};
    View<uint16_t> u16{};
    if (narrow) {
      f32 = typedArray<float>(env, argv[0], fn, "src");
      u16 = typedArray<uint16_t>(env, argv[3], fn, "out");
    } else {
      u16 = typedArray<uint16_t>(env, argv[0], fn, "src");
      f32 = typedArray<float>(env, argv[3], fn, "out");
    }
    if (f32.length % dim != 0 || u16.length % dim != 0) rangeError(fn, "src and out must hold whole rows of ", dim);
    const int64_t n = u16.length / dim;
    const int64_t f32Rows = f32.length / dim;
    if (rows.data) {
      if (rows.length != n) rangeError(fn, "rows has ", rows.length, " entries, the 16-bit side ", n, " rows");
      for (int64_t k = 0; k < n; ++k)
        if (rows.data[k] < 0 || rows.data[k] >= f32Rows) rangeError(fn, "row ", rows.data[k], " at ", k, " is outside [0, ", f32Rows, ")");
      if (overlap(f32, rows) || overlap(u16, rows)) rangeError(fn, "rows overlaps src or out");
    } else if (f32Rows != n) {
      rangeError(fn, "without rows, src and out must hold the same number of rows (", f32Rows, " and ", n, ")");
    }
    if (overlap(f32, u16)) rangeError(fn, "out overlaps src");
    // Without a row list the rows are contiguous: one long row, so the inner loop runs over every value.
    const WireRowsArgs a{reinterpret_cast<uint32_t*>(f32.data), u16.data, rows.data, rows.data ? n : 1, rows.data ? dim : n * dim,
                         static_cast<int32_t>(kind)};
    (narrow ? narrowRows : widenRows)(a);
    return nullptr;
  });
}

napi_value NarrowRows(napi_env env, napi_callback_info info) { return WireRows(env, info, "narrowRows", true); }
napi_value WidenRows(napi_env env, napi_callback_info info) { return WireRows(env, info, "widenRows", false); }

// ---- scoreTopK -------------------------------------------------------------------------------------

struct ScoreJob {
  const IsaKernels* isa;
  const float* userEmb;
  const int32_t* users;
  int64_t nListed;
  const float* itemEmb;
  int64_t nItems;
  int64_t dim;
  const int32_t* maskIndptr;
  const int32_t* maskIndices;
  int64_t k;
  int32_t* outItems;
  float* outScores;
  int64_t threads;
};

// The arrays a job reads or writes, kept alive while an asynchronous job runs.
constexpr size_t kScoreArrays = 7;

ScoreJob scoreJob(napi_env env, const std::vector<napi_value>& argv, const char* fn, napi_value arrays[kScoreArrays]) {
  const auto userEmb = typedArray<const float>(env, argv[0], fn, "userEmb");
  const auto users = typedArray<const int32_t>(env, argv[1], fn, "users");
  const auto itemEmb = typedArray<const float>(env, argv[2], fn, "itemEmb");
  const int64_t nItems = integer(env, argv[3], fn, "nItems", 0, kMaxInt32);
  const int64_t dim = integer(env, argv[4], fn, "dim", 1, kMaxInt32);
  const auto maskIndptr = typedArray<const int32_t>(env, argv[5], fn, "maskIndptr");
  const auto maskIndices = typedArray<const int32_t>(env, argv[6], fn, "maskIndices");
  const int64_t k = integer(env, argv[7], fn, "k", 1, kMaxInt32);
  const auto outItems = typedArray<int32_t>(env, argv[8], fn, "outItems");
  const auto outScores = typedArray<float>(env, argv[9], fn, "outScores");
  const int64_t threads = integer(env, argv[10], fn, "threads", 1, kMaxThreads);

  if (userEmb.length % dim != 0) rangeError(fn, "userEmb length ", userEmb.length, " is not a multiple of dim ", dim);
  const int64_t nUsers = userEmb.length / dim;
  if (itemEmb.length < nItems * dim)
    rangeError(fn, "itemEmb has ", itemEmb.length, " floats, needs nItems * dim = ", nItems * dim);
  for (int64_t i = 0; i < users.length; ++i)
    if (users.data[i] < 0 || users.data[i] >= nUsers)
      rangeError(fn, "users[", i, "] = ", users.data[i], " is outside [0, ", nUsers, ")");
  if (maskIndptr.length != nUsers + 1)
    rangeError(fn, "maskIndptr must have an entry per user of userEmb plus one (", nUsers + 1, "), has ", maskIndptr.length);
  checkCsrRows(fn, "mask", maskIndptr, maskIndices, 0, nUsers, nItems);
  if (outItems.length != users.length * k)
    rangeError(fn, "outItems must have users.length * k = ", users.length * k, " entries");
  if (outScores.length != users.length * k)
    rangeError(fn, "outScores must have users.length * k = ", users.length * k, " entries");

  const napi_value kept[kScoreArrays] = {userEmb.value,     users.value,    itemEmb.value,  maskIndptr.value,
                                         maskIndices.value, outItems.value, outScores.value};
  std::copy(kept, kept + kScoreArrays, arrays);
  return ScoreJob{&currentIsa(env), userEmb.data,     users.data, users.length,  itemEmb.data,   nItems, dim,
                  maskIndptr.data,  maskIndices.data, k,          outItems.data, outScores.data, threads};
}

struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};
using AlignedFloats = std::unique_ptr<float, AlignedFree>;

AlignedFloats alignedFloats(int64_t n) {
  const size_t bytes = (static_cast<size_t>(std::max<int64_t>(n, 1)) * sizeof(float) + 63) / 64 * 64;
  AlignedFloats p(static_cast<float*>(std::aligned_alloc(64, bytes)));
  if (!p) throw std::bad_alloc();
  return p;
}

// One thread's scratch (kernels.h); O(items + dim) memory.
struct ScratchBuffers {
  std::vector<float> userTile;
  AlignedFloats rows;
  std::vector<float> groupMax;
  std::vector<uint64_t> cand;
  ScoreScratch view;

  ScratchBuffers(const IsaKernels& isa, int64_t stride, int64_t dim)
      : userTile(static_cast<size_t>(isa.usersPerTile * dim)),
        rows(alignedFloats(isa.usersPerTile * stride)),
        groupMax(static_cast<size_t>(stride)),
        cand(static_cast<size_t>(stride)),
        view{userTile.data(), rows.get(), groupMax.data(), cand.data()} {}
};

// Packs the items once, then scores contiguous ranges of listed users on threads.
void runScoreJob(const ScoreJob& j) {
  const IsaKernels& isa = *j.isa;
  const int64_t stride = (j.nItems + isa.panelWidth - 1) / isa.panelWidth * isa.panelWidth;
  const AlignedFloats packed = alignedFloats(stride * j.dim);
  isa.packItems(j.itemEmb, j.nItems, j.dim, packed.get());
  const int64_t parts = std::max<int64_t>(1, std::min(j.threads, j.nListed));
  std::vector<std::unique_ptr<ScratchBuffers>> scratch;
  for (int64_t t = 0; t < parts; ++t) scratch.push_back(std::make_unique<ScratchBuffers>(isa, stride, j.dim));
  const ScoreArgs args{j.userEmb,    j.users,       packed.get(), j.nItems,    j.dim,
                       j.maskIndptr, j.maskIndices, j.k,          j.outItems,  j.outScores};
  runParts(parts, [&](int64_t t) {
    isa.scoreTopK(args, j.nListed * t / parts, j.nListed * (t + 1) / parts, scratch[t]->view);
  });
}

napi_value ScoreTopK(napi_env env, napi_callback_info info) {
  return guard(env, [&]() -> napi_value {
    const char* fn = "scoreTopK";
    napi_value arrays[kScoreArrays];
    runScoreJob(scoreJob(env, arguments(env, info, fn, 11), fn, arrays));
    return nullptr;
  });
}

// scoreTopKAsync: the same work on a libuv thread (plus threads - 1 of its own); the promise resolves
// when the outputs are written. The caller must leave the arrays alone until then.
struct AsyncScore {
  ScoreJob job;
  napi_ref refs[kScoreArrays] = {};
  napi_deferred deferred = nullptr;
  napi_async_work work = nullptr;
  std::string error;
};

void executeScore(napi_env, void* data) {
  auto* a = static_cast<AsyncScore*>(data);
  try {
    runScoreJob(a->job);
  } catch (const std::bad_alloc&) {
    a->error = "scoreTopKAsync: out of memory";
  } catch (const std::exception& e) {
    a->error = std::string("scoreTopKAsync: ") + e.what();
  }
}

void completeScore(napi_env env, napi_status status, void* data) {
  std::unique_ptr<AsyncScore> a(static_cast<AsyncScore*>(data));
  for (napi_ref ref : a->refs) napi_delete_reference(env, ref);
  napi_delete_async_work(env, a->work);
  if (status == napi_ok && a->error.empty()) {
    napi_value undefined;
    napi_get_undefined(env, &undefined);
    napi_resolve_deferred(env, a->deferred, undefined);
    return;
  }
  const std::string message = a->error.empty() ? "scoreTopKAsync: cancelled" : a->error;
  napi_value text;
  napi_value error;
  napi_create_string_utf8(env, message.c_str(), message.size(), &text);
  napi_create_error(env, nullptr, text, &error);
  napi_reject_deferred(env, a->deferred, error);
}

napi_value ScoreTopKAsync(napi_env env, napi_callback_info info) {
  return guard(env, [&]() -> napi_value {
    const char* fn = "scoreTopKAsync";
    napi_value arrays[kScoreArrays];
    auto a = std::make_unique<AsyncScore>();
    a->job = scoreJob(env, arguments(env, info, fn, 11), fn, arrays);
    for (size_t i = 0; i < kScoreArrays; ++i) check(napi_create_reference(env, arrays[i], 1, &a->refs[i]));
    napi_value promise;
    napi_value name;
    check(napi_create_promise(env, &a->deferred, &promise));
    check(napi_create_string_utf8(env, fn, NAPI_AUTO_LENGTH, &name));
    check(napi_create_async_work(env, nullptr, name, executeScore, completeScore, a.get(), &a->work));
    check(napi_queue_async_work(env, a->work));
    a.release();
    return promise;
  });
}

// ---- edge-mask MLP ------------------------------------------------------------------------------------

struct EdgeMlpJob {
  EdgeMlpArgs args;
  View<const float> a;
  View<const float> b;
  int64_t nUsers;
  int64_t nItems;
  int64_t nEdges;
};

// Checks (indptr, items, a, b, bias, wo) at argv[0..5]: a user-major edge CSR whose items index rows of b, a with
// at least one row per user, rows of h = bias.length floats.
EdgeMlpJob edgeMlpJob(napi_env env, const std::vector<napi_value>& argv, const char* fn) {
  const auto indptr = typedArray<const int32_t>(env, argv[0], fn, "indptr");
  const auto items = typedArray<const int32_t>(env, argv[1], fn, "items");
  const auto a = typedArray<const float>(env, argv[2], fn, "a");
  const auto b = typedArray<const float>(env, argv[3], fn, "b");
  const auto bias = typedArray<const float>(env, argv[4], fn, "bias");
  const auto wo = typedArray<const float>(env, argv[5], fn, "wo");
  const int64_t h = bias.length;
  if (h == 0) rangeError(fn, "bias is empty");
  if (wo.length != h) rangeError(fn, "wo has ", wo.length, " floats, bias ", h);
  if (a.length % h != 0 || b.length % h != 0) rangeError(fn, "a and b must hold whole rows of ", h, " floats");
  if (indptr.length < 1) rangeError(fn, "indptr is empty");
  const int64_t nUsers = indptr.length - 1;
  if (a.length < nUsers * h) rangeError(fn, "a has ", a.length / h, " rows, the edges have ", nUsers, " users");
  checkCsrRows(fn, "edge", indptr, items, 0, nUsers, b.length / h);
  if (indptr.data[0] != 0) rangeError(fn, "indptr[0] must be 0");
  return EdgeMlpJob{EdgeMlpArgs{indptr.data, items.data, a.data, b.data, bias.data, wo.data, h}, a, b, nUsers,
                    b.length / h, indptr.data[nUsers]};
}

constexpr int64_t kEdgeMlpParallelEdges = 4096;  // fewer edges run on the calling thread

int64_t edgeParts(const EdgeMlpJob& job, int64_t threads) {
  return job.nEdges < kEdgeMlpParallelEdges ? 1 : std::max<int64_t>(1, std::min(threads, job.nUsers));
}

// (indptr, items, a, b, bias, wo, outBias, omega, threads): ω of every edge; users split over threads by edges.
napi_value EdgeMlp(napi_env env, napi_callback_info info) {
  return guard(env, [&]() -> napi_value {
    const char* fn = "edgeMlp";
    const auto argv = arguments(env, info, fn, 9);
    const EdgeMlpJob job = edgeMlpJob(env, argv, fn);
    const float outBias = static_cast<float>(real(env, argv[6], fn, "outBias"));
    const auto omega = typedArray<float>(env, argv[7], fn, "omega");
    const int64_t threads = integer(env, argv[8], fn, "threads", 1, kMaxThreads);
    if (omega.length != job.nEdges) rangeError(fn, "omega has ", omega.length, " floats, there are ", job.nEdges, " edges");
    if (overlap(omega, job.a) || overlap(omega, job.b)) rangeError(fn, "omega overlaps a or b");
    const IsaKernels& isa = currentIsa(env);
    const int64_t parts = edgeParts(job, threads);
    const auto bounds = balancedRows(job.args.indptr, 0, job.nUsers, parts);
    runParts(parts, [&](int64_t t) {
      std::vector<float> row(static_cast<size_t>(job.args.h));
      isa.edgeMlpRows(job.args, outBias, bounds[t], bounds[t + 1], omega.data, row.data());
    });
    return nullptr;
  });
}

// (indptr, items, a, b, bias, wo, g, ga, gb, gBias, gOut, gOutBias, threads): the gradients of Σ_e g_e ω_e. Each
// thread takes a block of users (so ga rows have one writer) and adds into its own partial gb and gOut, summed in
// block order afterwards; gBias = Σ_u ga[u] and gOutBias = Σ_e g_e in double. ga's rows past the users are zero.
napi_value EdgeMlpGrad(napi_env env, napi_callback_info info) {
  return guard(env, [&]() -> napi_value {
    const char* fn = "edgeMlpGrad";
    const auto argv = arguments(env, info, fn, 13);
    const EdgeMlpJob job = edgeMlpJob(env, argv, fn);
    const int64_t h = job.args.h;
    const auto g = typedArray<const float>(env, argv[6], fn, "g");
    const auto ga = typedArray<float>(env, argv[7], fn, "ga");
    const auto gb = typedArray<float>(env, argv[8], fn, "gb");
    const auto gBias = typedArray<float>(env, argv[9], fn, "gBias");
    const auto gOut = typedArray<float>(env, argv[10], fn, "gOut");
    const auto gOutBias = typedArray<float>(env, argv[11], fn, "gOutBias");
    const int64_t threads = integer(env, argv[12], fn, "threads", 1, kMaxThreads);
    if (g.length != job.nEdges) rangeError(fn, "g has ", g.length, " floats, there are ", job.nEdges, " edges");
    if (ga.length != job.a.length || gb.length != job.b.length) rangeError(fn, "ga and gb must have the shapes of a and b");
    if (gBias.length != h || gOut.length != h || gOutBias.length != 1) rangeError(fn, "gBias and gOut need h floats, gOutBias 1");
    const std::vector<View<float>> outs{ga, gb, gBias, gOut, gOutBias};
    for (size_t i = 0; i < outs.size(); ++i) {
      if (overlap(outs[i], job.a) || overlap(outs[i], job.b) || overlap(outs[i], g)) rangeError(fn, "an output overlaps a, b or g");
      for (size_t j = i + 1; j < outs.size(); ++j)
        if (overlap(outs[i], outs[j])) rangeError(fn, "the outputs overlap");
    }
    const IsaKernels& isa = currentIsa(env);
    const int64_t parts = edgeParts(job, threads);
    const auto bounds = balancedRows(job.args.indptr, 0, job.nUsers, parts);
    // Part 0 adds into gb itself, the others into partials added to it in part order. Each part clears its own
    // partial, and the sum runs over threads by ranges of gb (each element's order stays part 0, 1, …), so neither
    // grows the serial work with the thread count.
    const int64_t gbSize = job.nItems * h;
    std::unique_ptr<float[]> partials(parts > 1 ? new float[static_cast<size_t>((parts - 1) * gbSize)] : nullptr);
    std::vector<float> outParts(static_cast<size_t>(parts * h), 0.0f);
    runParts(parts, [&](int64_t t) {
      std::vector<float> row(static_cast<size_t>(h));
      float* gbPart = t == 0 ? gb.data : partials.get() + (t - 1) * gbSize;
      std::fill(gbPart, gbPart + gbSize, 0.0f);
      isa.edgeMlpGradRows(EdgeMlpGradArgs{job.args, g.data, ga.data, gbPart, outParts.data() + t * h}, bounds[t], bounds[t + 1],
                          row.data());
    });
    if (parts > 1) {
      forRanges(gbSize, threads, [&](int64_t x0, int64_t x1) {
        for (int64_t t = 1; t < parts; ++t) {
          const float* part = partials.get() + (t - 1) * gbSize;
          for (int64_t x = x0; x < x1; ++x) gb.data[x] += part[x];
        }
      });
    }
    std::fill(ga.data + job.nUsers * h, ga.data + ga.length, 0.0f);
    std::vector<double> sums(static_cast<size_t>(2 * h), 0.0);
    for (int64_t u = 0; u < job.nUsers; ++u)
      for (int64_t j = 0; j < h; ++j) sums[j] += ga.data[u * h + j];
    for (int64_t t = 0; t < parts; ++t)
      for (int64_t j = 0; j < h; ++j) sums[h + j] += outParts[t * h + j];
    for (int64_t j = 0; j < h; ++j) {
      gBias.data[j] = static_cast<float>(sums[j]);
      gOut.data[j] = static_cast<float>(sums[h + j]);
    }
    double total = 0;
    for (int64_t e = 0; e < job.nEdges; ++e) total += g.data[e];
    gOutBias.data[0] = static_cast<float>(total);
    return nullptr;
  });
}

// ---- noise -----------------------------------------------------------------------------------------

constexpr int64_t kMaxUint32 = 4294967295;
constexpr int64_t kNoiseRowsPerThread = 256;  // fewer rows than this per thread run on the calling thread

// (seed, purposeKey, epoch, step, entityOffset, width, out, threads): rows = out.length / width, split over threads
// in contiguous ranges (each row is drawn on its own, so the split does not change a bit).
template <class T, class Rows>
napi_value NoiseRows(napi_env env, napi_callback_info info, const char* fn, const char* widthName, int64_t minWidth,
                     int64_t rowWidth, const Rows& rows) {
  return guard(env, [&]() -> napi_value {
    const auto argv = arguments(env, info, fn, 8);
    NoiseAt at{};
    at.seed = static_cast<uint32_t>(integer(env, argv[0], fn, "seed", 0, kMaxUint32));
    at.purposeKey = static_cast<uint32_t>(integer(env, argv[1], fn, "purposeKey", 0, kMaxUint32));
    at.epoch = static_cast<uint32_t>(integer(env, argv[2], fn, "epoch", 0, kMaxUint32));
    at.step = static_cast<uint32_t>(integer(env, argv[3], fn, "step", 0, kMaxUint32));
    at.entityOffset = integer(env, argv[4], fn, "entityOffset", 0, kMaxUint32);
    const int64_t width = integer(env, argv[5], fn, widthName, minWidth, kMaxInt32);
    const auto out = typedArray<T>(env, argv[6], fn, "out");
    const int64_t threads = integer(env, argv[7], fn, "threads", 1, kMaxThreads);
    const int64_t stride = rowWidth == 0 ? width : rowWidth;
    if (out.length % stride != 0) rangeError(fn, "out has ", out.length, " entries, not whole rows of ", stride);
    const int64_t n = out.length / stride;
    const int64_t parts = std::max<int64_t>(1, std::min(threads, n / kNoiseRowsPerThread));
    runParts(parts, [&](int64_t t) { rows(at, n * t / parts, n * (t + 1) / parts, width, out.data); });
    return nullptr;
  });
}

napi_value NormalRows(napi_env env, napi_callback_info info) {
  const bool vector = std::strcmp(currentIsa(env).name, "avx2") == 0;
  return NoiseRows<float>(env, info, "normalRows", "dim", 1, 0,
                          [vector](const NoiseAt& at, int64_t r0, int64_t r1, int64_t dim, float* out) { normalRows(at, r0, r1, dim, out, vector); });
}

napi_value UniformRows(napi_env env, napi_callback_info info) {
  return NoiseRows<float>(env, info, "uniformRows", "count", 1, 0, uniformRows);
}

napi_value IntPerRow(napi_env env, napi_callback_info info) {
  return NoiseRows<int32_t>(env, info, "intPerRow", "n", 1, 1, intPerRow);
}

// ---- allocator ---------------------------------------------------------------------------------------

// (mmapThreshold, trimThreshold) -> true when glibc took both settings, false where malloc is not glibc's.
// With glibc's defaults every multi-megabyte buffer (a gRPC message, a pulled table) is a fresh mmap that the
// kernel zero-fills page by page and unmaps on free; a threshold above those sizes keeps them in the heap, and a
// trim threshold above it keeps freed heap memory for the next one (docs/paramserver.md "Allocator").
napi_value TuneAllocator(napi_env env, napi_callback_info info) {
  return guard(env, [&]() -> napi_value {
    const char* fn = "tuneAllocator";
    const auto argv = arguments(env, info, fn, 2);
    const int64_t mmapThreshold = integer(env, argv[0], fn, "mmapThreshold", 1, kMaxInt32);
    const int64_t trimThreshold = integer(env, argv[1], fn, "trimThreshold", 1, kMaxInt32);
    bool tuned = false;
#if defined(__GLIBC__)
    if (mallopt(M_MMAP_THRESHOLD, static_cast<int>(mmapThreshold)) != 1)
      rangeError(fn, "glibc refused mmapThreshold ", mmapThreshold);
    if (mallopt(M_TRIM_THRESHOLD, static_cast<int>(trimThreshold)) != 1)
      rangeError(fn, "glibc refused trimThreshold ", trimThreshold);
    tuned = true;
#else
    (void)mmapThreshold;
    (void)trimThreshold;
#endif
    napi_value result;
    check(napi_get_boolean(env, tuned, &result));
    return result;
  });
}

// ---- instruction-set selection ---------------------------------------------------------------------

napi_value Isa(napi_env env, napi_callback_info) {
  return guard(env, [&]() -> napi_value {
    napi_value name;
    check(napi_create_string_utf8(env, currentIsa(env).name, NAPI_AUTO_LENGTH, &name));
    return name;
  });
}

napi_value SetIsa(napi_env env, napi_callback_info info) {
  return guard(env, [&]() -> napi_value {
    const char* fn = "setIsa";
    const auto argv = arguments(env, info, fn, 1);
    char name[32] = {};
    size_t length = 0;
    if (napi_get_value_string_utf8(env, argv[0], name, sizeof name, &length) != napi_ok)
      typeError(fn, "isa must be a string");
    for (const IsaKernels* isa : supportedIsas()) {
      if (std::strcmp(isa->name, name) != 0) continue;
      void* data = nullptr;
      check(napi_get_instance_data(env, &data));
      static_cast<Instance*>(data)->isa = isa;
      return nullptr;
    }
    rangeError(fn, "instruction set '", name, "' is not supported on this CPU");
  });
}

// ---- module ----------------------------------------------------------------------------------------

void setFunction(napi_env env, napi_value exports, const char* name, napi_callback cb) {
  napi_value f;
  check(napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, nullptr, &f));
  check(napi_set_named_property(env, exports, name, f));
}

napi_value Init(napi_env env, napi_value exports) {
  return guard(env, [&]() -> napi_value {
    const auto isas = supportedIsas();
    const auto release = [](napi_env, void* data, void*) { delete static_cast<Instance*>(data); };
    check(napi_set_instance_data(env, new Instance{isas.front()}, release, nullptr));
    napi_value abi;
    check(napi_create_int32(env, kAbiVersion, &abi));
    check(napi_set_named_property(env, exports, "abiVersion", abi));
    napi_value names;
    check(napi_create_array_with_length(env, isas.size(), &names));
    for (size_t i = 0; i < isas.size(); ++i) {
      napi_value name;
      check(napi_create_string_utf8(env, isas[i]->name, NAPI_AUTO_LENGTH, &name));
      check(napi_set_element(env, names, static_cast<uint32_t>(i), name));
    }
    check(napi_object_freeze(env, names));
    check(napi_set_named_property(env, exports, "isas", names));
    setFunction(env, exports, "isa", Isa);
    setFunction(env, exports, "setIsa", SetIsa);
    setFunction(env, exports, "spmm", Spmm);
    setFunction(env, exports, "spmmThreaded", SpmmThreaded);
    setFunction(env, exports, "sddmm", Sddmm);
    setFunction(env, exports, "tanh", Tanh);
    setFunction(env, exports, "exp", Exp);
    setFunction(env, exports, "expShiftedRows", ExpShiftedRows);
    setFunction(env, exports, "columnSums", ColumnSums);
    setFunction(env, exports, "rowSums", RowSums);
    setFunction(env, exports, "scatterAddRows", ScatterAddRows);
    setFunction(env, exports, "gatherScaled", GatherScaled);
    setFunction(env, exports, "scatterScaled", ScatterScaled);
    setFunction(env, exports, "scoreTopK", ScoreTopK);
    setFunction(env, exports, "scoreTopKAsync", ScoreTopKAsync);
    setFunction(env, exports, "gemm", Gemm);
    setFunction(env, exports, "adamRows", AdamRows);
    setFunction(env, exports, "adagradRows", AdagradRows);
    setFunction(env, exports, "narrowRows", NarrowRows);
    setFunction(env, exports, "widenRows", WidenRows);
    setFunction(env, exports, "infoNce", InfoNce);
    setFunction(env, exports, "concreteGate", ConcreteGate);
    setFunction(env, exports, "concreteGateGrad", ConcreteGateGrad);
    setFunction(env, exports, "layerMean", LayerMean);
    setFunction(env, exports, "layerGradient", LayerGradient);
    setFunction(env, exports, "denoise", Denoise);
    setFunction(env, exports, "denoiseGrad", DenoiseGrad);
    setFunction(env, exports, "edgeMlp", EdgeMlp);
    setFunction(env, exports, "edgeMlpGrad", EdgeMlpGrad);
    setFunction(env, exports, "normalRows", NormalRows);
    setFunction(env, exports, "uniformRows", UniformRows);
    setFunction(env, exports, "intPerRow", IntPerRow);
    setFunction(env, exports, "tuneAllocator", TuneAllocator);
    setFunction(env, exports, "helperThreads", HelperThreads);
    return exports;
  });
}

}  // namespace
}  // namespace camrec

NAPI_MODULE(NODE_GYP_MODULE_NAME, camrec::Init)

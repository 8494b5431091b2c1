#pragma once
// The parallel-for hook kernels accept, and a small fixed-size thread pool that provides one.
// An engine with its own pool fills `parallel` with a function that runs chunks on it.

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>
#include <vector>

namespace famx {

// How a kernel may split independent work: run(ctx, n, task, task_ctx) must call
// task(task_ctx, i) exactly once for every i in [0, n), from any threads, and return when all are
// done. The default (run == nullptr) runs every chunk on the calling thread.
struct parallel {
  using task_fn = void (*)(void* task_ctx, std::size_t chunk);
  using run_fn = void (*)(void* ctx, std::size_t n_chunks, task_fn task, void* task_ctx);

  run_fn run = nullptr;
  void* ctx = nullptr;
  std::size_t workers = 1;  // how many chunks can usefully run at once

  // Runs f(chunk) for chunk in [0, n_chunks).
  template <class F>
  void for_each(std::size_t n_chunks, F&& f) const {
    if (run == nullptr || workers <= 1 || n_chunks <= 1) {
      for (std::size_t i = 0; i < n_chunks; ++i) f(i);
      return;
    }
    auto trampoline = [](void* p, std::size_t i) { (*static_cast<F*>(p))(i); };
    run(ctx, n_chunks, trampoline, &f);
  }
};

// Rows per parallel chunk when `rows` independent rows are split over `workers`: a multiple of 4,
// about four chunks per worker (so uneven progress balances), all rows when there is one worker.
constexpr std::size_t workers_rows(std::size_t rows, std::size_t workers) noexcept {
  if (workers <= 1 || rows == 0) return std::max<std::size_t>(rows, 1);
  const std::size_t want = (rows + 4 * workers - 1) / (4 * workers);
  return std::max<std::size_t>(4, (want + 3) / 4 * 4);
}

// A fixed pool of worker threads; the calling thread takes part in every run.
// One run at a time per pool (runs from several threads are serialized).
class thread_pool {
 public:
  // A pool with `threads` threads in all, the caller included (threads - 1 workers are started).
  explicit thread_pool(std::size_t threads) {
    for (std::size_t i = 1; i < std::max<std::size_t>(threads, 1); ++i)
      workers_.emplace_back([this] { work(); });
  }
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;
  ~thread_pool() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }

  std::size_t size() const noexcept { return workers_.size() + 1; }

  // The hook kernels take.
  famx::parallel hook() noexcept { return {&thread_pool::run_on, this, size()}; }

  // Calls task(task_ctx, i) for every i in [0, n) and waits for all of them. Every worker reports
  // once per run, so no worker can still be inside a run when the next one starts.
  void run(std::size_t n, parallel::task_fn task, void* task_ctx) {
    std::lock_guard serial(run_mu_);
    {
      std::lock_guard lock(mu_);
      task_ = task;
      task_ctx_ = task_ctx;
      n_ = n;
      next_.store(0, std::memory_order_relaxed);
      reported_ = 0;
      ++generation_;
    }
    wake_.notify_all();
    drain(task, task_ctx, n);
    std::unique_lock lock(mu_);
    finished_.wait(lock, [&] { return reported_ == workers_.size(); });
  }

 private:
  static void run_on(void* self, std::size_t n, parallel::task_fn task, void* task_ctx) {
    static_cast<thread_pool*>(self)->run(n, task, task_ctx);
  }
  void drain(parallel::task_fn task, void* task_ctx, std::size_t n) {
    for (std::size_t i; (i = next_.fetch_add(1, std::memory_order_relaxed)) < n;) task(task_ctx, i);
  }
  void work() {
    std::size_t seen = 0;
    for (;;) {
      parallel::task_fn task;
      void* task_ctx;
      std::size_t n;
      {
        std::unique_lock lock(mu_);
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        task = task_;
        task_ctx = task_ctx_;
        n = n_;
      }
      drain(task, task_ctx, n);
      std::lock_guard lock(mu_);
      if (++reported_ == workers_.size()) finished_.notify_one();
    }
  }

  std::vector<std::thread> workers_;
  std::mutex run_mu_, mu_;
  std::condition_variable wake_, finished_;
  parallel::task_fn task_ = nullptr;
  void* task_ctx_ = nullptr;
  std::size_t n_ = 0, reported_ = 0, generation_ = 0;
  std::atomic<std::size_t> next_{0};
  bool stop_ = false;
};

}  // namespace famx

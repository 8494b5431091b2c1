#pragma once
// comm/threads.hpp: the in-process backend: one thread per rank, collectives over shared memory.
// run_threads(n, body) runs body(communicator&) on n threads and rethrows the error that started a
// failure. A collective is a rendezvous: every rank posts its call (kind, sequence number, buffers),
// and once all have posted the same call each rank copies what it needs straight from the others'
// buffers, then waits until nobody reads its own. A rank that throws, returns or disagrees makes
// the others throw at once; a rank that stays away makes them throw after the timeout.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "famx/comm/communicator.hpp"
#include "famx/comm/detail/calls.hpp"
#include "famx/core/error.hpp"

namespace famx::comm {

// How run_threads runs its ranks.
struct thread_options {
  std::chrono::milliseconds timeout{30000};  // how long a collective waits for the other ranks
};

namespace detail {

// What the ranks of one run_threads share, guarded by one mutex.
struct thread_world {
  // A rank's current collective: its call and the buffers the other ranks read.
  struct post {
    call c{op::barrier, 0, {}};
    std::span<const std::byte> in;                  // all_gather, all_gather_v; broadcast on the root
    std::span<const std::vector<std::byte>> sends;  // all_to_all_v
    int root = 0;                                   // broadcast
  };
  struct rank_state {
    post p;
    std::string what;          // p.c.what, kept: it is read after the rank left
    std::uint64_t posted = 0;  // sequence number of the last collective this rank entered
    std::uint64_t done = 0;    // sequence number of the last collective it finished reading
    bool reading = false;      // copying from the other ranks' buffers now
    bool failed = false;       // threw; it reads nothing and posts nothing any more
    bool follower = false;     // it failed because another rank failed or returned
    bool returned = false;     // its body returned
    std::string why;           // failed: its error's message
    std::exception_ptr error;  // the exception that left its body
    std::uint64_t order = 0;   // when that happened, counted over the ranks
  };
  // A send waiting for its recv.
  struct message {
    std::vector<std::byte> bytes;
    std::string what;
  };

  thread_world(int n, std::chrono::milliseconds t)
      : ranks(static_cast<std::size_t>(n)), mail(static_cast<std::size_t>(n) * static_cast<std::size_t>(n)), timeout(t) {}

  std::mutex m;
  std::condition_variable cv;
  std::atomic<std::uint64_t> changes{0};  // counts wake() calls: what a spinning rank watches
  std::vector<rank_state> ranks;
  std::vector<std::deque<message>> mail;  // [from * n + to]
  std::chrono::milliseconds timeout;
  std::uint64_t exits = 0;

  int size() const noexcept { return static_cast<int>(ranks.size()); }
  std::deque<message>& box(int from, int to) { return mail[static_cast<std::size_t>(from * size() + to)]; }

  // Wakes every rank that waits for a change (lock held).
  void wake() {
    changes.fetch_add(1, std::memory_order_release);
    cv.notify_all();
  }
  // Waits for a wake() (lock held in lk) until `deadline` (none: null). It first spins for up to
  // kSpin with the lock released, since the other ranks of a collective usually arrive within
  // microseconds and a sleep costs a thread wake-up, then sleeps on cv. False on timeout.
  bool wait_change(std::unique_lock<std::mutex>& lk, const std::chrono::steady_clock::time_point* deadline) {
    constexpr std::chrono::microseconds kSpin{50};
    const std::uint64_t seen = changes.load(std::memory_order_acquire);
    lk.unlock();
    const auto spin_end = std::chrono::steady_clock::now() + kSpin;
    while (changes.load(std::memory_order_acquire) == seen && std::chrono::steady_clock::now() < spin_end)
      std::this_thread::yield();
    lk.lock();
    if (changes.load(std::memory_order_acquire) != seen) return true;  // a wake() needs the lock: none is lost
    if (!deadline) {
      cv.wait(lk);
      return true;
    }
    return cv.wait_until(lk, *deadline) == std::cv_status::no_timeout;
  }

  // Records how rank r's body ended (error: null when it returned) and wakes the others.
  void finish(int r, std::exception_ptr error) {
    std::lock_guard lk(m);
    rank_state& s = ranks[static_cast<std::size_t>(r)];
    if (error) {
      s.error = error;
      s.order = ++exits;
      if (!s.failed) {
        s.failed = true;
        s.why = message_of(error);
      }
    } else {
      s.returned = true;
    }
    wake();
  }

  // The exception that started the failure: the first to leave a body that was not caused by
  // another rank's failure, else the first; null when every body returned.
  std::exception_ptr root_cause() const {
    const rank_state* first = nullptr;
    for (const rank_state& s : ranks)
      if (s.error && (!first || (first->follower && !s.follower) ||
                      (first->follower == s.follower && s.order < first->order)))
        first = &s;
    return first ? first->error : nullptr;
  }

  static std::string message_of(const std::exception_ptr& e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      return x.what();
    } catch (...) {
      return "an exception that is not a std::exception";
    }
  }
};

// Rank `rank` of a thread_world.
class thread_communicator final : public communicator {
 public:
  thread_communicator(thread_world& w, int rank)
      : w_(w), rank_(rank), send_seq_(static_cast<std::size_t>(w.size())), recv_seq_(static_cast<std::size_t>(w.size())) {}

  int rank() const noexcept override { return rank_; }
  int size() const noexcept override { return w_.size(); }
  std::chrono::milliseconds timeout() const noexcept override { return w_.timeout; }
  const comm_stats& stats() const noexcept override { return stats_; }

  void all_gather(std::span<const std::byte> in, std::span<std::byte> out, std::string_view what) override {
    call_timer t(stats_);
    const call c{op::all_gather, seq_ + 1, what};
    check_gather(c, in.size(), out.size(), size());
    collective(t, {c, in, {}, 0}, [&](const thread_world::post& p, int q) {
      copy(out.subspan(static_cast<std::size_t>(q) * in.size(), in.size()), p.in);
    });
    count(in.size() * static_cast<std::size_t>(size() - 1), in.size() * static_cast<std::size_t>(size() - 1));
  }

  void all_gather_v(std::span<const std::byte> in, std::vector<std::byte>& out, std::vector<std::size_t>& counts,
                    std::string_view what) override {
    call_timer t(stats_);
    const call c{op::all_gather_v, seq_ + 1, what};
    std::size_t got = 0;
    counts.assign(static_cast<std::size_t>(size()), 0);
    collective(t, {c, in, {}, 0}, [&](const thread_world::post& p, int q) {
      if (q == 0) {  // the sizes, once every rank has posted
        std::size_t total = 0;
        for (int r = 0; r < size(); ++r) total += w_.ranks[static_cast<std::size_t>(r)].p.in.size();
        out.resize(total);
        got = 0;
      }
      counts[static_cast<std::size_t>(q)] = p.in.size();
      copy(std::span(out).subspan(got, p.in.size()), p.in);
      got += p.in.size();
      if (q != rank_) stats_.bytes_received += p.in.size();
    });
    stats_.bytes_sent += in.size() * static_cast<std::size_t>(size() - 1);
  }

  void all_to_all_v(std::span<const std::vector<std::byte>> send, std::vector<std::vector<std::byte>>& recv,
                    std::string_view what) override {
    call_timer t(stats_);
    const call c{op::all_to_all_v, seq_ + 1, what};
    check_count(c, send.size(), size());
    recv.resize(static_cast<std::size_t>(size()));
    collective(t, {c, {}, send, 0}, [&](const thread_world::post& p, int q) {
      const std::vector<std::byte>& mine = p.sends[static_cast<std::size_t>(rank_)];
      recv[static_cast<std::size_t>(q)].assign(mine.begin(), mine.end());
      if (q != rank_) stats_.bytes_received += mine.size();
    });
    for (int q = 0; q < size(); ++q)
      if (q != rank_) stats_.bytes_sent += send[static_cast<std::size_t>(q)].size();
  }

  void broadcast(std::span<std::byte> buf, int root, std::string_view what) override {
    call_timer t(stats_);
    const call c{op::broadcast, seq_ + 1, what};
    check_rank(c, root, size(), rank_);
    collective(t, {c, buf, {}, root}, [&](const thread_world::post& p, int q) {
      if (q == root && q != rank_) copy(buf, p.in);
    });
    const std::size_t others = buf.size() * static_cast<std::size_t>(size() - 1);
    if (rank_ == root) count(others, 0);
    else count(0, buf.size());
  }

  void barrier(std::string_view what) override {
    call_timer t(stats_);
    const call c{op::barrier, seq_ + 1, what};
    collective(t, {c, {}, {}, 0}, [](const thread_world::post&, int) {});
  }

  void send(std::span<const std::byte> buf, int to, std::string_view what) override {
    call_timer t(stats_);
    const call c{op::send, seq_of(send_seq_, to) + 1, what, to};
    check_rank(c, to, size(), rank_);
    std::lock_guard lk(w_.m);
    usable(c);
    ++send_seq_[static_cast<std::size_t>(to)];
    const thread_world::rank_state& peer = w_.ranks[static_cast<std::size_t>(to)];
    if (peer.failed) fail(peer_failed(c, to, peer.why), true);
    if (peer.returned) fail(peer_returned(c, to), true);
    w_.box(rank_, to).push_back({std::vector<std::byte>(buf.begin(), buf.end()), std::string(what)});
    w_.wake();
    count(buf.size(), 0);
  }

  void recv(std::span<std::byte> buf, int from, std::string_view what) override {
    call_timer t(stats_);
    const call c{op::recv, seq_of(recv_seq_, from) + 1, what, from};
    check_rank(c, from, size(), rank_);
    std::unique_lock lk(w_.m);
    usable(c);
    ++recv_seq_[static_cast<std::size_t>(from)];
    const auto deadline = t.start() + w_.timeout;
    std::deque<thread_world::message>& box = w_.box(from, rank_);
    const thread_world::rank_state& peer = w_.ranks[static_cast<std::size_t>(from)];
    for (;;) {
      if (!box.empty()) break;
      if (peer.failed) fail(peer_failed(c, from, peer.why), true);
      if (peer.returned) fail(peer_returned(c, from), true);
      if (!w_.wait_change(lk, &deadline) && box.empty())
        fail(timed_out(c, rank_, w_.timeout, {from}), false);
    }
    const thread_world::message& m = box.front();
    if (m.bytes.size() != buf.size())
      fail(disagreement(c, rank_, from, describe(c) + " of " + std::to_string(buf.size()) + " bytes",
                        describe(op::send, c.seq, rank_) + " of " + std::to_string(m.bytes.size()) + " bytes (\"" +
                            m.what + "\")"),
           false);
    copy(buf, m.bytes);
    box.pop_front();
    count(0, buf.size());
  }

 private:
  static std::uint64_t seq_of(const std::vector<std::uint64_t>& seqs, int r) {
    return r >= 0 && r < static_cast<int>(seqs.size()) ? seqs[static_cast<std::size_t>(r)] : 0;
  }
  static void copy(std::span<std::byte> to, std::span<const std::byte> from) {
    if (!from.empty()) std::memcpy(to.data(), from.data(), from.size());
  }
  void count(std::size_t sent, std::size_t received) {
    stats_.bytes_sent += sent;
    stats_.bytes_received += received;
  }
  thread_world::rank_state& me() { return w_.ranks[static_cast<std::size_t>(rank_)]; }

  // Throws when an earlier call broke this rank (lock held).
  void usable(const call& c) {
    if (me().failed) throw broken(c, rank_);
  }
  // Marks this rank failed (so no rank reads its buffers from now on) and wakes the others (lock held).
  void mark_failed(const error& e, bool follower) {
    me().failed = true;
    me().follower = follower;
    me().why = e.message();
    w_.wake();
  }
  // Fails with e (lock held); follower: because another rank failed or returned.
  [[noreturn]] void fail(error e, bool follower) {
    mark_failed(e, follower);
    throw e;
  }

  // Another rank that failed: one that failed first-hand if any; -1 if none (lock held).
  int failed_peer() {
    int found = -1;
    for (int q = 0; q < size(); ++q) {
      const thread_world::rank_state& s = w_.ranks[static_cast<std::size_t>(q)];
      if (q != rank_ && s.failed && (found < 0 || (w_.ranks[static_cast<std::size_t>(found)].follower && !s.follower)))
        found = q;
    }
    return found;
  }

  // Why collective c (posted as `mine`) cannot complete yet: an error when some rank disagrees,
  // failed or returned; nullopt with `waiting` set when some rank has not posted yet (lock held).
  std::optional<std::pair<error, bool>> blocked(const thread_world::post& mine, bool& waiting) {
    const call& c = mine.c;
    waiting = false;
    for (int q = 0; q < size(); ++q) {  // a disagreement names both calls: report it first
      const thread_world::rank_state& s = w_.ranks[static_cast<std::size_t>(q)];
      if (q == rank_ || s.posted != c.seq) continue;
      const thread_world::post& p = s.p;
      const auto name = [](const thread_world::post& x) {
        std::string d = describe(x.c.kind, x.c.seq);
        if (x.c.kind == op::all_gather || x.c.kind == op::broadcast) d += " of " + std::to_string(x.in.size()) + " bytes";
        if (x.c.kind == op::broadcast) d += " from rank " + std::to_string(x.root);
        return d;
      };
      const bool same = p.c.kind == c.kind &&
                        (c.kind != op::all_gather || p.in.size() == mine.in.size()) &&
                        (c.kind != op::broadcast || (p.root == mine.root && p.in.size() == mine.in.size()));
      if (!same)
        return std::pair{disagreement(c, rank_, q, name(mine) + " (\"" + std::string(c.what) + "\")",
                                      name(p) + " (\"" + s.what + "\")"),
                         false};
    }
    // Then the first cause: a rank that failed first-hand, one that returned, one that failed after them.
    const int failed = failed_peer();
    if (failed >= 0 && !w_.ranks[static_cast<std::size_t>(failed)].follower)
      return std::pair{peer_failed(c, failed, w_.ranks[static_cast<std::size_t>(failed)].why), true};
    for (int q = 0; q < size(); ++q) {
      const thread_world::rank_state& s = w_.ranks[static_cast<std::size_t>(q)];
      if (s.returned && !s.failed && s.posted < c.seq) return std::pair{peer_returned(c, q), true};
    }
    if (failed >= 0) return std::pair{peer_failed(c, failed, w_.ranks[static_cast<std::size_t>(failed)].why), true};
    for (const thread_world::rank_state& s : w_.ranks) waiting |= s.posted < c.seq;
    return std::nullopt;
  }

  // Runs collective `mine`: posts it, waits until every rank posted the same call, calls
  // read(post of q, q) for every rank q in rank order, then waits until nobody reads this rank's
  // buffers before returning or throwing.
  template <class Read>
  void collective(const call_timer& t, const thread_world::post& mine, Read&& read) {
    const call& c = mine.c;
    std::unique_lock lk(w_.m);
    usable(c);
    seq_ = c.seq;
    me().p = mine;
    me().what.assign(c.what);
    me().posted = c.seq;
    w_.wake();
    const auto deadline = t.start() + w_.timeout;
    for (;;) {
      bool waiting = false;
      if (auto e = blocked(mine, waiting)) leave(lk, std::move(e->first), e->second);
      if (!waiting) break;
      if (!w_.wait_change(lk, &deadline)) {
        if (blocked(mine, waiting) || !waiting) continue;  // decided by the loop's next check
        std::vector<int> silent;
        for (int q = 0; q < size(); ++q)
          if (w_.ranks[static_cast<std::size_t>(q)].posted < c.seq) silent.push_back(q);
        leave(lk, timed_out(c, rank_, w_.timeout, silent), false);
      }
    }
    me().reading = true;
    lk.unlock();
    try {
      for (int q = 0; q < size(); ++q) read(w_.ranks[static_cast<std::size_t>(q)].p, q);
    } catch (const std::exception& x) {
      lk.lock();
      me().reading = false;
      leave(lk, error(errc::collective, std::string(c.what), describe(c) + " failed on rank " + std::to_string(rank_) + " (" + x.what() + ")",
                      describe(c) + " to complete"),
            false);
    }
    lk.lock();
    me().reading = false;
    me().done = c.seq;
    w_.wake();
    // Every rank has posted c, so each either finishes reading or fails: a bounded wait.
    const auto all_done = [&] {
      for (const thread_world::rank_state& s : w_.ranks)
        if (s.done < c.seq && !s.failed) return false;
      return true;
    };
    while (!all_done()) w_.wait_change(lk, nullptr);
    if (const int q = failed_peer(); q >= 0 && w_.ranks[static_cast<std::size_t>(q)].done < c.seq)
      leave(lk, peer_failed(c, q, w_.ranks[static_cast<std::size_t>(q)].why), true);
  }

  // Fails with e once no other rank reads this rank's posted buffers (a failed rank gets no new reader).
  [[noreturn]] void leave(std::unique_lock<std::mutex>& lk, error e, bool follower) {
    mark_failed(e, follower);
    const auto nobody_reads = [&] {
      for (const thread_world::rank_state& s : w_.ranks)
        if (s.reading) return false;
      return true;
    };
    while (!nobody_reads()) w_.wait_change(lk, nullptr);
    throw e;
  }

  thread_world& w_;
  int rank_;
  std::uint64_t seq_ = 0;                  // the last collective's sequence number
  std::vector<std::uint64_t> send_seq_;    // sends to each rank so far
  std::vector<std::uint64_t> recv_seq_;    // receives from each rank so far
  comm_stats stats_;
};

}  // namespace detail

// Runs body(communicator) on n threads, rank r on the r-th, and returns when all have returned.
// When a body throws, the others' collectives throw too (they name the failed rank); the exception
// rethrown here is the one that started it (the first not caused by another rank's failure).
inline void run_threads(int n, const std::function<void(communicator&)>& body, thread_options o = {}) {
  if (n < 1) throw error(errc::invalid_value, "run_threads", std::to_string(n) + " ranks", "at least 1 rank");
  detail::thread_world w(n, o.timeout);
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(n));
  std::exception_ptr start_failure;
  for (int r = 0; r < n; ++r) {
    try {
      threads.emplace_back([&w, &body, r] {
        std::exception_ptr e;
        try {
          detail::thread_communicator c(w, r);
          body(c);
        } catch (...) {
          e = std::current_exception();
        }
        w.finish(r, e);
      });
    } catch (...) {  // no thread for rank r: it and the ranks after it fail at once
      start_failure = std::current_exception();
      for (int q = r; q < n; ++q) w.finish(q, start_failure);
      break;
    }
  }
  for (std::thread& t : threads) t.join();
  if (start_failure) std::rethrow_exception(start_failure);
  if (std::exception_ptr e = w.root_cause()) std::rethrow_exception(e);
}

}  // namespace famx::comm

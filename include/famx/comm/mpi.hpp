#pragma once
// comm/mpi.hpp: the MPI backend (Open MPI): one process per rank under mpirun. The only famx header
// that includes <mpi.h>; link famx::mpi to use it.
//
// Every collective is point-to-point and nonblocking: each rank sends every other rank one message
// (MPI_Isend: a header naming the call, then the payload) and polls for theirs (MPI_Improbe,
// MPI_Imrecv, MPI_Test) against the call's deadline; MPI never adds a float, and no MPI collective
// that could wait forever is called. A message's tag encodes its call's kind and sequence number,
// its header the sequence number, sizes, root and call site, so a rank in another collective is an
// error naming both calls. Failures end with a famx::error, never a hang:
// - a rank whose call fails, or whose mpi_communicator is destroyed by an exception, tells the
//   others at once: their current or next call throws, naming it (no MPI_Abort: every rank's error
//   is printed, and the ranks finalize when all have left);
// - a rank that says nothing (killed, stuck, or failed before its communicator existed) makes the
//   others throw after the timeout, naming it and the collective. Open MPI's mpirun also ends the
//   whole job with a non-zero exit when a rank is killed by a signal, which may come first. A rank
//   still unheard of one more timeout later (when the communicator is destroyed) may be dead, and
//   MPI_Finalize would wait for it forever: the session then ends the job with MPI_Abort.

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "famx/comm/communicator.hpp"
#include "famx/comm/detail/calls.hpp"
#include "famx/core/error.hpp"

namespace famx::comm {

namespace detail {
// Set when a communicator was destroyed with a rank it timed out on still unheard of: that rank
// may be dead, and MPI_Finalize would wait for it forever.
inline bool& mpi_rank_lost() noexcept {
  static bool lost = false;
  return lost;
}
}  // namespace detail

// MPI for the lifetime of this object: MPI_Init_thread with MPI_THREAD_SERIALIZED (communicator
// calls from any thread, one at a time), then MPI_Finalize, or MPI_Abort(MPI_COMM_WORLD, 1) when a
// rank was lost (see above); when MPI was already initialized, it only checks the thread level and
// leaves MPI to whoever initialized it.
class mpi_session {
 public:
  // MPI_Init_thread(nullptr, nullptr, ...).
  mpi_session() { init(nullptr, nullptr); }
  // MPI_Init_thread(&argc, &argv, ...): MPI may remove its own arguments.
  mpi_session(int& argc, char**& argv) { init(&argc, &argv); }
  ~mpi_session() {
    int finalized = 0;
    if (!owns_ || MPI_Finalized(&finalized) != MPI_SUCCESS || finalized) return;
    if (detail::mpi_rank_lost()) MPI_Abort(MPI_COMM_WORLD, 1);
    else MPI_Finalize();
  }
  mpi_session(const mpi_session&) = delete;
  mpi_session& operator=(const mpi_session&) = delete;

 private:
  void init(int* argc, char*** argv) {
    int initialized = 0, provided = 0;
    MPI_Initialized(&initialized);
    if (initialized) {
      MPI_Query_thread(&provided);
    } else {
      if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
        throw error(errc::unsupported, "mpi_session", "MPI_Init_thread failed", "an MPI runtime (run under mpirun)");
      owns_ = true;
    }
    if (provided < MPI_THREAD_SERIALIZED)
      throw error(errc::unsupported, "mpi_session", "MPI thread level " + std::to_string(provided),
                  "MPI_THREAD_SERIALIZED (" + std::to_string(MPI_THREAD_SERIALIZED) + ") or more");
  }
  bool owns_ = false;
};

namespace detail {

// A message's tag: its call's sequence number modulo 4096 and its kind (ranks are at most one
// collective apart, and a pair's messages arrive in order, so the sequence number wraps safely).
constexpr int mpi_tag(op kind, std::uint64_t seq) noexcept {
  return static_cast<int>(seq % 4096) * 8 + static_cast<int>(kind);
}

// The fixed part of every message: then `what_len` bytes of the call site, then the payload.
struct mpi_header {
  std::uint64_t seq = 0;      // the call's sequence number
  std::uint64_t size = 0;     // all_gather: bytes per rank; broadcast: the buffer's bytes; else the payload's
  std::int32_t root = -1;     // broadcast: the root
  std::uint16_t what_len = 0;
  std::uint8_t kind = 0;      // an op
  std::uint8_t unused = 0;
};

// What a rank tells the others when its communicator fails or goes away: then `silent` int32 ranks
// (the ranks it waits to hear from: its calls timed out on them), then `why_len` bytes.
struct mpi_notice {
  std::uint64_t seq = 0;       // the last collective it completed
  std::uint64_t sends = 0;     // its sends to the receiving rank so far
  std::uint16_t why_len = 0;
  std::uint8_t returned = 0;   // 1: its communicator went away normally; 0: it failed
  std::uint8_t follower = 0;   // it failed because another rank failed or returned
  std::uint32_t silent = 0;
};
inline constexpr std::size_t mpi_notice_bytes = 1024;  // the longest notice; a longer `why` is cut
inline constexpr std::size_t mpi_notice_silent = 64;   // the most silent ranks a notice names

// How a call names itself in a disagreement: "all_gather #3 of 16 bytes (\"what\")".
inline std::string mpi_call_name(op kind, std::uint64_t seq, std::uint64_t size, int root, std::string_view what) {
  std::string d = describe(kind, seq);
  if (kind == op::all_gather || kind == op::broadcast) d += " of " + std::to_string(size) + " bytes";
  if (kind == op::broadcast) d += " from rank " + std::to_string(root);
  return d + " (\"" + std::string(what) + "\")";
}

// A send or receive in flight and the bytes it reads or writes.
struct mpi_transfer {
  MPI_Request req = MPI_REQUEST_NULL;
  std::vector<std::byte> bytes;
};

// The buffers of transfers a destroyed communicator could not finish: MPI may still use them, so
// they live until the process exits.
inline std::vector<std::vector<std::byte>>& mpi_unfinished() {
  static std::vector<std::vector<std::byte>> left;
  return left;
}

}  // namespace detail

// Rank MPI_Comm_rank(comm) of the ranks of `comm`. The constructor is collective (every rank of
// comm constructs one; it throws after the timeout otherwise); the object works on private
// duplicates of comm, so it shares no tags with other traffic on comm.
class mpi_communicator final : public communicator {
 public:
  explicit mpi_communicator(std::chrono::milliseconds timeout, MPI_Comm comm = MPI_COMM_WORLD)
      : timeout_(timeout), exceptions_(std::uncaught_exceptions()) {
    MPI_Comm_rank(comm, &rank_);
    MPI_Comm_size(comm, &size_);
    const std::size_t n = static_cast<std::size_t>(size_);
    peers_.resize(n);
    send_seq_.assign(n, 0);
    recv_seq_.assign(n, 0);
    out_.resize(n);
    in_.resize(n);
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    MPI_Request r[3];
    for (int i = 0; i < 3; ++i) MPI_Comm_idup(comm, &comms_[i], &r[i]);
    for (;;) {
      int ready = 0;
      MPI_Testall(3, r, &ready, MPI_STATUSES_IGNORE);
      if (ready) break;
      if (std::chrono::steady_clock::now() > deadline)
        throw error(errc::collective, "mpi_communicator",
                    "MPI_Comm_idup unfinished after " + std::to_string(timeout_.count()) + " ms on rank " + std::to_string(rank_),
                    "every rank of the MPI communicator constructing its mpi_communicator");
      std::this_thread::yield();
    }
    for (MPI_Comm c : comms_) MPI_Comm_set_errhandler(c, MPI_ERRORS_RETURN);
    notice_in_.bytes.resize(detail::mpi_notice_bytes);
    post_notice_recv();
  }

  // Tells the other ranks that this one failed (an exception is unwinding it, or a call threw) or
  // returned, finishes its sends within the timeout, waits as long for a word from the ranks a call
  // timed out on (else marks them lost: detail::mpi_rank_lost), and frees its MPI objects.
  ~mpi_communicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) return;
    if (!notified_) {
      if (std::uncaught_exceptions() > exceptions_) notify(false, false, "an exception unwound its mpi_communicator");
      else notify(true, false, "");
    }
    bool trouble = failed_;
    for (const peer& p : peers_) trouble |= p.failed;
    const auto start = std::chrono::steady_clock::now();
    const auto sent_by = start + (trouble ? std::chrono::milliseconds(100) : timeout_), heard_by = start + timeout_;
    for (;;) {
      std::erase_if(sends_, [](detail::mpi_transfer& x) { return done(x.req); });
      std::erase_if(leftover_, [](MPI_Request& r) { return done(r); });
      poll_notices();
      bool unheard = false;
      for (int q : silent_) unheard |= !peers_[static_cast<std::size_t>(q)].failed && !peers_[static_cast<std::size_t>(q)].returned;
      const auto now = std::chrono::steady_clock::now();
      if ((now > sent_by || (sends_.empty() && leftover_.empty())) && (now > heard_by || !unheard)) {
        if (unheard) detail::mpi_rank_lost() = true;
        break;
      }
      idle(start);
    }
    for (detail::mpi_transfer& x : sends_) {
      MPI_Cancel(&x.req);
      MPI_Request_free(&x.req);
      detail::mpi_unfinished().push_back(std::move(x.bytes));
    }
    if (!leftover_.empty()) {
      for (MPI_Request& r : leftover_) {
        MPI_Cancel(&r);
        MPI_Request_free(&r);
      }
      for (auto* v : {&out_, &in_})
        for (std::vector<std::byte>& b : *v) detail::mpi_unfinished().push_back(std::move(b));
    }
    MPI_Cancel(&notice_in_.req);
    MPI_Wait(&notice_in_.req, MPI_STATUS_IGNORE);
    for (MPI_Comm& c : comms_) MPI_Comm_free(&c);
  }
  mpi_communicator(const mpi_communicator&) = delete;
  mpi_communicator& operator=(const mpi_communicator&) = delete;

  int rank() const noexcept override { return rank_; }
  int size() const noexcept override { return size_; }
  std::chrono::milliseconds timeout() const noexcept override { return timeout_; }
  const comm_stats& stats() const noexcept override { return stats_; }

  void all_gather(std::span<const std::byte> in, std::span<std::byte> out, std::string_view what) override {
    detail::call_timer t(stats_);
    const detail::call c{detail::op::all_gather, seq_ + 1, what};
    detail::check_gather(c, in.size(), out.size(), size_);
    exchange(t, c, in.size(), -1, [&](int) { return in; });
    for (int q = 0; q < size_; ++q)
      copy(out.subspan(static_cast<std::size_t>(q) * in.size(), in.size()), q == rank_ ? in : payload(q));
    count(in.size() * others(), in.size() * others());
  }

  void all_gather_v(std::span<const std::byte> in, std::vector<std::byte>& out, std::vector<std::size_t>& counts,
                    std::string_view what) override {
    detail::call_timer t(stats_);
    const detail::call c{detail::op::all_gather_v, seq_ + 1, what};
    exchange(t, c, in.size(), -1, [&](int) { return in; });
    counts.assign(static_cast<std::size_t>(size_), 0);
    std::size_t total = 0;
    for (int q = 0; q < size_; ++q) total += counts[static_cast<std::size_t>(q)] = (q == rank_ ? in : payload(q)).size();
    out.resize(total);
    std::size_t at = 0;
    for (int q = 0; q < size_; ++q) {
      const std::span<const std::byte> p = q == rank_ ? in : payload(q);
      copy(std::span(out).subspan(at, p.size()), p);
      at += p.size();
    }
    count(in.size() * others(), total - in.size());
  }

  void all_to_all_v(std::span<const std::vector<std::byte>> send, std::vector<std::vector<std::byte>>& recv,
                    std::string_view what) override {
    detail::call_timer t(stats_);
    const detail::call c{detail::op::all_to_all_v, seq_ + 1, what};
    detail::check_count(c, send.size(), size_);
    exchange(t, c, 0, -1, [&](int q) { return std::span<const std::byte>(send[static_cast<std::size_t>(q)]); });
    recv.resize(static_cast<std::size_t>(size_));
    for (int q = 0; q < size_; ++q) {
      const std::span<const std::byte> p = q == rank_ ? std::span<const std::byte>(send[static_cast<std::size_t>(q)]) : payload(q);
      recv[static_cast<std::size_t>(q)].assign(p.begin(), p.end());
      if (q != rank_) count(send[static_cast<std::size_t>(q)].size(), p.size());
    }
  }

  void broadcast(std::span<std::byte> buf, int root, std::string_view what) override {
    detail::call_timer t(stats_);
    const detail::call c{detail::op::broadcast, seq_ + 1, what};
    detail::check_rank(c, root, size_, rank_);
    const bool is_root = rank_ == root;
    // Every rank sends every other its header (so any disagreement is seen); the root adds the bytes.
    exchange(t, c, buf.size(), root, [&](int) { return is_root ? std::span<const std::byte>(buf) : std::span<const std::byte>(); });
    if (is_root) count(buf.size() * others(), 0);
    else {
      copy(buf, payload(root));
      count(0, buf.size());
    }
  }

  void barrier(std::string_view what) override {
    detail::call_timer t(stats_);
    const detail::call c{detail::op::barrier, seq_ + 1, what};
    exchange(t, c, 0, -1, [](int) { return std::span<const std::byte>(); });
  }

  void send(std::span<const std::byte> buf, int to, std::string_view what) override {
    detail::call_timer t(stats_);
    const detail::call c{detail::op::send, seq_of(send_seq_, to) + 1, what, to};
    detail::check_rank(c, to, size_, rank_);
    usable(c);
    ++send_seq_[static_cast<std::size_t>(to)];
    poll_notices();
    const peer& p = peers_[static_cast<std::size_t>(to)];
    if (p.failed) fail(detail::peer_failed(c, to, p.why), true);
    if (p.returned) fail(detail::peer_returned(c, to), true);
    // Buffered, as on the threads backend: the bytes are copied and the call returns at once.
    std::erase_if(sends_, [](detail::mpi_transfer& x) { return done(x.req); });
    detail::mpi_transfer& x = sends_.emplace_back();
    message(x.bytes, c, buf.size(), -1, buf);
    check(c, MPI_Isend(x.bytes.data(), static_cast<int>(x.bytes.size()), MPI_BYTE, to, detail::mpi_tag(c.kind, c.seq), comms_[p2p],
                       &x.req));
    count(buf.size(), 0);
  }

  void recv(std::span<std::byte> buf, int from, std::string_view what) override {
    detail::call_timer t(stats_);
    const detail::call c{detail::op::recv, seq_of(recv_seq_, from) + 1, what, from};
    detail::check_rank(c, from, size_, rank_);
    usable(c);
    ++recv_seq_[static_cast<std::size_t>(from)];
    const auto deadline = t.start() + timeout_;
    const std::size_t f = static_cast<std::size_t>(from);
    MPI_Request req = MPI_REQUEST_NULL;
    bool matched = false;
    for (;;) {
      if (!matched && (matched = probe(c, comms_[p2p], from, req))) continue;
      if (matched && test(c, req)) break;
      poll_notices();
      const peer& p = peers_[f];
      if (!matched && p.failed) fail(detail::peer_failed(c, from, p.why), true);
      if (!matched && p.returned && p.sends < c.seq) fail(detail::peer_returned(c, from), true);
      if (std::chrono::steady_clock::now() > deadline) {
        if (matched) leftover_.push_back(req);
        wait_for(from);
        fail(detail::timed_out(c, rank_, timeout_, {from}), false);
      }
      idle(t.start());
    }
    const detail::mpi_header h = header(from);
    const std::span<const std::byte> got = payload(from);
    if (h.kind != static_cast<std::uint8_t>(detail::op::send) || h.seq != c.seq || got.size() != buf.size())
      fail(detail::disagreement(c, rank_, from, detail::describe(c) + " of " + std::to_string(buf.size()) + " bytes",
                                detail::describe(static_cast<detail::op>(h.kind), h.seq, rank_) + " of " +
                                    std::to_string(got.size()) + " bytes (\"" + std::string(what_of(from)) + "\")"),
           false);
    copy(buf, got);
    count(0, buf.size());
  }

 private:
  enum channel { coll, p2p, notices };  // the private duplicates of the communicator, by use

  // What this rank knows of another from its notice.
  struct peer {
    bool failed = false, follower = false, returned = false;
    std::string why;
    std::uint64_t seq = 0, sends = 0;
  };

  static std::uint64_t seq_of(const std::vector<std::uint64_t>& seqs, int r) {
    return r >= 0 && r < static_cast<int>(seqs.size()) ? seqs[static_cast<std::size_t>(r)] : 0;
  }
  static void copy(std::span<std::byte> to, std::span<const std::byte> from) {
    if (!from.empty()) std::memcpy(to.data(), from.data(), from.size());
  }
  static bool done(MPI_Request& r) {
    int flag = 0;
    MPI_Test(&r, &flag, MPI_STATUS_IGNORE);
    return flag != 0;
  }
  std::size_t others() const noexcept { return static_cast<std::size_t>(size_ - 1); }
  void count(std::size_t sent, std::size_t received) {
    stats_.bytes_sent += sent;
    stats_.bytes_received += received;
  }
  // Waits a little: yields for the call's first millisecond, then sleeps (ranks may share cores).
  static void idle(std::chrono::steady_clock::time_point start) {
    if (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(1)) std::this_thread::yield();
    else std::this_thread::sleep_for(std::chrono::microseconds(20));
  }

  // Throws when an earlier call broke this rank.
  void usable(const detail::call& c) {
    if (failed_) throw detail::broken(c, rank_);
  }
  // Throws a famx::error for an MPI call that did not succeed.
  void check(const detail::call& c, int rc) {
    if (rc == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    fail(error(errc::collective, std::string(c.what), detail::describe(c) + " on rank " + std::to_string(rank_) +
                                                          ": MPI error (" + std::string(text, static_cast<std::size_t>(len)) + ")",
               detail::describe(c) + " to complete"),
         false);
  }
  // Breaks this communicator, tells the other ranks why and throws e; follower: because another
  // rank failed or returned.
  [[noreturn]] void fail(error e, bool follower) {
    failed_ = true;
    notify(false, follower, e.message());
    throw e;
  }
  // Sends every other rank a notice (once).
  void notify(bool returned, bool follower, std::string_view why) {
    notified_ = true;
    const std::size_t silent = std::min(silent_.size(), detail::mpi_notice_silent);
    why = why.substr(0, detail::mpi_notice_bytes - sizeof(detail::mpi_notice) - silent * sizeof(std::int32_t));
    for (int q = 0; q < size_; ++q) {
      if (q == rank_) continue;
      detail::mpi_notice n;
      n.seq = done_;
      n.sends = send_seq_[static_cast<std::size_t>(q)];
      n.why_len = static_cast<std::uint16_t>(why.size());
      n.returned = returned;
      n.follower = follower;
      n.silent = static_cast<std::uint32_t>(silent);
      detail::mpi_transfer& x = sends_.emplace_back();
      x.bytes.resize(sizeof n + silent * sizeof(std::int32_t) + why.size());
      std::memcpy(x.bytes.data(), &n, sizeof n);
      for (std::size_t i = 0; i < silent; ++i) {
        const std::int32_t r = silent_[i];
        std::memcpy(x.bytes.data() + sizeof n + i * sizeof r, &r, sizeof r);
      }
      std::memcpy(x.bytes.data() + sizeof n + silent * sizeof(std::int32_t), why.data(), why.size());
      MPI_Isend(x.bytes.data(), static_cast<int>(x.bytes.size()), MPI_BYTE, q, 0, comms_[notices], &x.req);
    }
  }
  void post_notice_recv() {
    MPI_Irecv(notice_in_.bytes.data(), static_cast<int>(notice_in_.bytes.size()), MPI_BYTE, MPI_ANY_SOURCE, 0, comms_[notices],
              &notice_in_.req);
  }
  // Records the notices that arrived (a failure is kept over a later return of the same rank) and
  // the ranks a failed one waits to hear from: this rank waits for them too before it finalizes.
  void poll_notices() {
    for (;;) {
      int flag = 0;
      MPI_Status st;
      MPI_Test(&notice_in_.req, &flag, &st);
      if (!flag) return;
      detail::mpi_notice n;
      std::memcpy(&n, notice_in_.bytes.data(), sizeof n);
      peer& p = peers_[static_cast<std::size_t>(st.MPI_SOURCE)];
      if (!p.failed) {
        p.failed = !n.returned;
        p.returned = n.returned;
        p.follower = n.follower;
        p.seq = n.seq;
        p.sends = n.sends;
        const std::byte* ranks = notice_in_.bytes.data() + sizeof n;
        p.why.assign(reinterpret_cast<const char*>(ranks + n.silent * sizeof(std::int32_t)), n.why_len);
        for (std::size_t i = 0; i < n.silent; ++i) {
          std::int32_t r = 0;
          std::memcpy(&r, ranks + i * sizeof r, sizeof r);
          wait_for(r);
        }
      }
      post_notice_recv();
    }
  }
  // Adds rank r to the ranks to hear from before finalizing.
  void wait_for(int r) {
    if (r != rank_ && r >= 0 && r < size_ && std::find(silent_.begin(), silent_.end(), r) == silent_.end()) silent_.push_back(r);
  }
  // Another rank that failed before it completed collective `seq`: one that failed first-hand if
  // any; -1 if none.
  int failed_peer(std::uint64_t seq) const {
    int found = -1;
    for (int q = 0; q < size_; ++q) {
      const peer& p = peers_[static_cast<std::size_t>(q)];
      if (p.failed && p.seq < seq && (found < 0 || (peers_[static_cast<std::size_t>(found)].follower && !p.follower))) found = q;
    }
    return found;
  }

  // m = the message of call c: its header, c.what, then payload (m keeps its capacity).
  void message(std::vector<std::byte>& m, const detail::call& c, std::uint64_t size, int root, std::span<const std::byte> payload) {
    const std::string_view what = c.what.substr(0, 4096);
    detail::mpi_header h;
    h.seq = c.seq;
    h.size = size;
    h.root = root;
    h.what_len = static_cast<std::uint16_t>(what.size());
    h.kind = static_cast<std::uint8_t>(c.kind);
    if (payload.size() > static_cast<std::size_t>(INT32_MAX) - sizeof h - what.size())
      throw detail::bad_argument(c, std::to_string(payload.size()) + " bytes", "at most 2 GB per message");
    m.resize(sizeof h + what.size() + payload.size());
    std::memcpy(m.data(), &h, sizeof h);
    std::memcpy(m.data() + sizeof h, what.data(), what.size());
    copy(std::span(m).subspan(sizeof h + what.size()), payload);
  }
  // The header, call site and payload of the message received from rank q.
  detail::mpi_header header(int q) const {
    detail::mpi_header h;
    std::memcpy(&h, in_[static_cast<std::size_t>(q)].data(), sizeof h);
    return h;
  }
  std::string_view what_of(int q) const {
    return {reinterpret_cast<const char*>(in_[static_cast<std::size_t>(q)].data() + sizeof(detail::mpi_header)), header(q).what_len};
  }
  std::span<const std::byte> payload(int q) const {
    return std::span<const std::byte>(in_[static_cast<std::size_t>(q)]).subspan(sizeof(detail::mpi_header) + header(q).what_len);
  }

  // Starts receiving rank q's next message on comm into in_[q] when it has arrived.
  bool probe(const detail::call& c, MPI_Comm comm, int q, MPI_Request& req) {
    int flag = 0, bytes = 0;
    MPI_Message m;
    MPI_Status st;
    check(c, MPI_Improbe(q, MPI_ANY_TAG, comm, &flag, &m, &st));
    if (!flag) return false;
    MPI_Get_count(&st, MPI_BYTE, &bytes);
    std::vector<std::byte>& buf = in_[static_cast<std::size_t>(q)];
    buf.resize(static_cast<std::size_t>(bytes));
    check(c, MPI_Imrecv(buf.data(), bytes, MPI_BYTE, &m, &req));
    return true;
  }
  bool test(const detail::call& c, MPI_Request& req) {
    int flag = 0;
    check(c, MPI_Test(&req, &flag, MPI_STATUS_IGNORE));
    return flag != 0;
  }

  // Runs collective c: sends every other rank q the header (size, root) and payload(q), receives
  // theirs and checks that they are in the same call, until all have arrived and every send is
  // done, or throws naming the rank that disagrees, failed, returned or stayed silent.
  template <class Payload>
  void exchange(const detail::call_timer& t, const detail::call& c, std::uint64_t size, int root, Payload payload_for) {
    usable(c);
    seq_ = c.seq;
    const int tag = detail::mpi_tag(c.kind, c.seq);
    // Post the sends: one message for all ranks when they get the same payload.
    std::vector<MPI_Request> sends(static_cast<std::size_t>(size_), MPI_REQUEST_NULL);
    std::vector<std::size_t> msg(static_cast<std::size_t>(size_));
    std::span<const std::byte> last;
    std::size_t built = 0;
    for (int k = 1; k < size_; ++k) {
      const int q = (rank_ + k) % size_;
      const std::span<const std::byte> p = payload_for(q);
      if (built == 0 || p.data() != last.data() || p.size() != last.size()) message(out_[built++], c, size, root, p);
      last = p;
      msg[static_cast<std::size_t>(q)] = built - 1;
    }
    for (int k = 1; k < size_; ++k) {
      const int q = (rank_ + k) % size_;
      std::vector<std::byte>& m = out_[msg[static_cast<std::size_t>(q)]];
      check(c, MPI_Isend(m.data(), static_cast<int>(m.size()), MPI_BYTE, q, tag, comms_[coll], &sends[static_cast<std::size_t>(q)]));
    }
    // Receive, check, and wait for the sends.
    enum state : std::uint8_t { waiting, receiving, received };
    std::vector<state> st(static_cast<std::size_t>(size_), waiting);
    std::vector<MPI_Request> recvs(static_cast<std::size_t>(size_), MPI_REQUEST_NULL);
    st[static_cast<std::size_t>(rank_)] = received;
    const auto deadline = t.start() + timeout_;
    const auto give_up = [&](error e, bool follower) {
      for (int q = 0; q < size_; ++q) {
        const std::size_t i = static_cast<std::size_t>(q);
        if (sends[i] != MPI_REQUEST_NULL) leftover_.push_back(sends[i]);
        if (st[i] == receiving) leftover_.push_back(recvs[i]);
      }
      fail(std::move(e), follower);
    };
    for (;;) {
      bool all = true, progress = false;
      for (int k = 1; k < size_; ++k) {
        const int q = (rank_ + k) % size_;
        const std::size_t i = static_cast<std::size_t>(q);
        if (st[i] == waiting && probe(c, comms_[coll], q, recvs[i])) st[i] = receiving, progress = true;
        if (st[i] == receiving && test(c, recvs[i])) {
          st[i] = received;
          progress = true;
          const detail::mpi_header h = header(q);
          const bool same = h.kind == static_cast<std::uint8_t>(c.kind) && h.seq == c.seq &&
                            ((c.kind != detail::op::all_gather && c.kind != detail::op::broadcast) || h.size == size) &&
                            (c.kind != detail::op::broadcast || h.root == root);
          if (!same)
            give_up(detail::disagreement(c, rank_, q, detail::mpi_call_name(c.kind, c.seq, size, root, c.what),
                                         detail::mpi_call_name(static_cast<detail::op>(h.kind), h.seq, h.size, h.root, what_of(q))),
                    false);
        }
        if (sends[i] != MPI_REQUEST_NULL) progress |= test(c, sends[i]);
        all &= st[i] == received && sends[i] == MPI_REQUEST_NULL;
      }
      // A rank that failed before it completed this call fails it (one that completed it sent its
      // message, and has taken this rank's).
      poll_notices();
      if (const int failed = failed_peer(c.seq); failed >= 0)
        give_up(detail::peer_failed(c, failed, peers_[static_cast<std::size_t>(failed)].why), true);
      if (all) {
        done_ = c.seq;
        return;
      }
      for (int q = 0; q < size_; ++q) {
        const peer& p = peers_[static_cast<std::size_t>(q)];
        if (p.returned && p.seq < c.seq && st[static_cast<std::size_t>(q)] != received) give_up(detail::peer_returned(c, q), true);
      }
      if (std::chrono::steady_clock::now() > deadline) {
        std::vector<int> silent;
        for (int q = 0; q < size_; ++q)
          if (st[static_cast<std::size_t>(q)] != received) silent.push_back(q);
        if (silent.empty())  // every message arrived, some rank has not taken this rank's yet
          for (int q = 0; q < size_; ++q)
            if (sends[static_cast<std::size_t>(q)] != MPI_REQUEST_NULL) silent.push_back(q);
        for (int q : silent) wait_for(q);
        give_up(detail::timed_out(c, rank_, timeout_, silent), false);
      }
      if (!progress) idle(t.start());
    }
  }

  std::chrono::milliseconds timeout_;
  int exceptions_;  // std::uncaught_exceptions() at construction: more at destruction means unwinding
  int rank_ = 0, size_ = 1;
  MPI_Comm comms_[3] = {MPI_COMM_NULL, MPI_COMM_NULL, MPI_COMM_NULL};
  std::uint64_t seq_ = 0;                // the last collective's sequence number
  std::uint64_t done_ = 0;               // the last collective this rank completed
  std::vector<std::uint64_t> send_seq_;  // sends to each rank so far
  std::vector<std::uint64_t> recv_seq_;  // receives from each rank so far
  std::vector<peer> peers_;
  std::vector<int> silent_;  // the ranks a call timed out on, here or on a rank that failed
  std::vector<std::vector<std::byte>> out_;    // a collective's outgoing messages
  std::vector<std::vector<std::byte>> in_;     // the message from each rank
  std::vector<detail::mpi_transfer> sends_;    // sends and notices not known to be done
  std::vector<MPI_Request> leftover_;          // transfers of the call that failed, on out_ and in_
  detail::mpi_transfer notice_in_;             // the notice being received
  bool failed_ = false;                        // a call threw errc::collective: broken
  bool notified_ = false;                      // the other ranks were sent a notice
  comm_stats stats_;
};

}  // namespace famx::comm

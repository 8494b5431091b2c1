#pragma once
// What both communicator backends share: the kinds of calls, their names in errors, the argument
// checks, and the errors a failed collective throws. No stability promise.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "famx/comm/communicator.hpp"
#include "famx/core/error.hpp"

namespace famx::comm::detail {

// The kinds of calls; their numbers are part of the MPI backend's message tags.
enum class op : std::uint8_t { all_gather, all_gather_v, all_to_all_v, broadcast, barrier, send, recv };
inline constexpr int op_count = 7;

// The member function's name.
constexpr std::string_view to_string(op k) noexcept {
  switch (k) {
    case op::all_gather: return "all_gather";
    case op::all_gather_v: return "all_gather_v";
    case op::all_to_all_v: return "all_to_all_v";
    case op::broadcast: return "broadcast";
    case op::barrier: return "barrier";
    case op::send: return "send";
    case op::recv: return "recv";
  }
  return "unknown";
}

// One call on one rank: its kind, its sequence number (counted per rank for collectives, per pair of
// ranks for send / recv), the other rank of a send / recv, and the call site.
struct call {
  op kind;
  std::uint64_t seq;
  std::string_view what;
  int peer = -1;
};

// "all_gather #7", "send #2 to rank 1", "recv #2 from rank 0".
inline std::string describe(op kind, std::uint64_t seq, int peer = -1) {
  std::string s = std::string(to_string(kind)) + " #" + std::to_string(seq);
  if (kind == op::send) s += " to rank " + std::to_string(peer);
  if (kind == op::recv) s += " from rank " + std::to_string(peer);
  return s;
}
inline std::string describe(const call& c) { return describe(c.kind, c.seq, c.peer); }

// "rank 2", "ranks 1, 3".
inline std::string ranks_text(const std::vector<int>& ranks) {
  std::string s = ranks.size() == 1 ? "rank " : "ranks ";
  for (std::size_t i = 0; i < ranks.size(); ++i) s += (i ? ", " : "") + std::to_string(ranks[i]);
  return s;
}

// Rank `peer` is in another call than this rank's (`theirs` and `mine` are describe()d calls).
inline error disagreement(const call& c, int me, int peer, const std::string& mine, const std::string& theirs) {
  const bool p2p = c.kind == op::send || c.kind == op::recv;
  return error(errc::collective, std::string(c.what), "rank " + std::to_string(peer) + " in " + theirs,
               mine + (p2p ? "" : " on every rank") + ", as on rank " + std::to_string(me));
}

// Rank `peer` failed (`why`: its error) before it took part in c.
inline error peer_failed(const call& c, int peer, std::string_view why) {
  return error(errc::collective, std::string(c.what), "rank " + std::to_string(peer) + " failed (" + std::string(why) + ")",
               "rank " + std::to_string(peer) + " in " + describe(c));
}

// Rank `peer` returned from its work before it took part in c.
inline error peer_returned(const call& c, int peer) {
  return error(errc::collective, std::string(c.what), "rank " + std::to_string(peer) + " returned before " + describe(c),
               "rank " + std::to_string(peer) + " in " + describe(c));
}

// c on rank `me` waited `timeout` for the ranks in `silent`.
inline error timed_out(const call& c, int me, std::chrono::milliseconds timeout, const std::vector<int>& silent) {
  std::string expected = (silent.size() == 1 ? ranks_text(silent) : std::string("every rank")) + " in " + describe(c);
  if (c.kind == op::recv) expected = "rank " + std::to_string(c.peer) + " in " + describe(op::send, c.seq, me);
  if (c.kind == op::send) expected = "rank " + std::to_string(c.peer) + " in " + describe(op::recv, c.seq, me);
  return error(errc::collective, std::string(c.what),
               "no word from " + ranks_text(silent) + " within " + std::to_string(timeout.count()) + " ms",
               std::move(expected));
}

// A call on a communicator that an earlier error broke.
inline error broken(const call& c, int me) {
  return error(errc::collective, std::string(c.what),
               describe(c) + " on rank " + std::to_string(me) + " after an earlier collective failed there",
               "no call on a communicator after it threw");
}

// A bad argument to c.
inline error bad_argument(const call& c, std::string found, std::string expected) {
  return error(errc::invalid_value, std::string(c.what) + " " + std::string(to_string(c.kind)), std::move(found),
               std::move(expected));
}

// Checks the arguments every backend requires: out is size ranks * in.size() (all_gather), a root,
// target or source rank exists (and is another rank for send / recv), send has one buffer per rank.
inline void check_gather(const call& c, std::size_t in, std::size_t out, int ranks) {
  if (out != in * static_cast<std::size_t>(ranks))
    throw bad_argument(c, "out of " + std::to_string(out) + " bytes",
                       std::to_string(ranks) + " ranks x " + std::to_string(in) + " bytes = " +
                           std::to_string(in * static_cast<std::size_t>(ranks)) + " bytes");
}
inline void check_rank(const call& c, int r, int ranks, int me) {
  const bool p2p = c.kind == op::send || c.kind == op::recv;
  if (r < 0 || r >= ranks || (p2p && r == me))
    throw bad_argument(c, "rank " + std::to_string(r),
                       p2p ? "another rank than " + std::to_string(me) + " in [0, " + std::to_string(ranks) + ")"
                           : "a rank in [0, " + std::to_string(ranks) + ")");
}
inline void check_count(const call& c, std::size_t buffers, int ranks) {
  if (buffers != static_cast<std::size_t>(ranks))
    throw bad_argument(c, std::to_string(buffers) + " send buffers", "one per rank (" + std::to_string(ranks) + ")");
}

// Counts one call in `s`: its wall time when it ends, however it ends.
class call_timer {
 public:
  explicit call_timer(comm_stats& s) : s_(s), start_(std::chrono::steady_clock::now()) { ++s_.collectives; }
  ~call_timer() { s_.time += std::chrono::steady_clock::now() - start_; }
  call_timer(const call_timer&) = delete;
  call_timer& operator=(const call_timer&) = delete;
  std::chrono::steady_clock::time_point start() const noexcept { return start_; }

 private:
  comm_stats& s_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace famx::comm::detail

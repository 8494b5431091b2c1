// The collectives on the MPI backend, one process per rank under mpiexec: `mpi_check <case>`.
//   collectives  every collective's bytes and stats on every rank, all_sum bit-identical to the
//                threads backend's all_sum of the same data, bad arguments
//   disagree     ranks in different collectives: an errc::collective error naming both, then a
//                broken communicator
//   timeout      the last rank sleeps past the timeout (not past two): the others' error names it and
//                the collective, and the job ends normally (the late rank is heard from again)
//   thrown       an exception unwinds rank 1's communicator: the others fail at once, naming rank 1
//   killed       rank 1 is killed by SIGKILL: the job must end with a non-zero exit (mpi_killed.cmake):
//                mpiexec ends it, or (--enable-recovery) the others time out and MPI_Abort
// Prints "ok <case> rank r" per rank when every check passed; else the failed checks, exit 1.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "famx/comm/mpi.hpp"
#include "famx/comm/reduce.hpp"
#include "famx/comm/threads.hpp"
#include "famx/comm/typed.hpp"
#include "famx/core/tree_sum.hpp"

namespace {

using namespace std::chrono_literals;
using famx::comm::communicator;
using famx::comm::mpi_communicator;
using bytes = std::vector<std::byte>;

int failures = 0;
int me = -1;

// Records a failed check with its line.
void expect(bool ok, int line, const std::string& text) {
  if (ok) return;
  ++failures;
  std::fprintf(stderr, "rank %d: mpi_check.cpp:%d: %s\n", me, line, text.c_str());
}
#define EXPECT(cond, text) expect((cond), __LINE__, std::string(#cond) + " -- " + (text))

bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

std::byte b(int v) { return static_cast<std::byte>(v); }

// Rank r's contributions (as tests/comm/comm_test.cpp).
bytes gather_in(int r) { return {b(16 * r), b(16 * r + 1), b(16 * r + 2), b(16 * r + 3), b(16 * r + 4)}; }
bytes gather_v_in(int r) {  // r + 1 bytes; rank 3 sends 5000 (more than one eager fragment)
  bytes v;
  for (int i = 0; i < (r == 3 ? 5000 : r + 1); ++i) v.push_back(b(10 * r + i));
  return v;
}
bytes to_peer(int r, int q) {  // what rank r sends rank q in all_to_all_v: (r + q) % 3 bytes, 70000 from 0 to 1
  bytes v;
  for (int i = 0; i < (r == 0 && q == 1 ? 70000 : (r + q) % 3); ++i) v.push_back(b(64 + 8 * r + q + i));
  return v;
}
bytes token(int r, std::size_t n = 3) {
  bytes v;
  for (std::size_t i = 0; i < n; ++i) v.push_back(b(200 + r + static_cast<int>(i)));
  return v;
}

// Rank r's vector of all_sum terms: mixed magnitudes, so the order of the additions shows.
std::vector<float> terms(int r, std::size_t len) {
  std::mt19937 rng(static_cast<unsigned>(1000 + r));
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> x(len);
  for (float& e : x) e = u(rng) * (rng() % 2 ? 1e5f : 1e-3f);
  return x;
}

std::string message_of(const std::exception& e) { return e.what(); }

void collectives(mpi_communicator& c) {
  const int r = c.rank(), n = c.size();
  const std::size_t others = static_cast<std::size_t>(n - 1);
  std::size_t sent = 0, received = 0, calls = 0;

  bytes gathered(5 * static_cast<std::size_t>(n)), expected;
  c.all_gather(gather_in(r), gathered, "all_gather test");
  for (int q = 0; q < n; ++q) {
    const bytes g = gather_in(q);
    expected.insert(expected.end(), g.begin(), g.end());
  }
  EXPECT(gathered == expected, "all_gather");
  sent += 5 * others, received += 5 * others, ++calls;

  bytes gathered_v;
  std::vector<std::size_t> counts, expected_counts;
  c.all_gather_v(gather_v_in(r), gathered_v, counts, "all_gather_v test");
  expected.clear();
  for (int q = 0; q < n; ++q) {
    const bytes v = gather_v_in(q);
    expected.insert(expected.end(), v.begin(), v.end());
    expected_counts.push_back(v.size());
    if (q != r) received += v.size();
  }
  EXPECT(gathered_v == expected && counts == expected_counts, "all_gather_v");
  sent += gather_v_in(r).size() * others, ++calls;

  std::vector<bytes> send, exchanged;
  for (int q = 0; q < n; ++q) send.push_back(to_peer(r, q));
  c.all_to_all_v(send, exchanged, "all_to_all_v test");
  EXPECT(exchanged.size() == static_cast<std::size_t>(n), "all_to_all_v: one buffer per rank");
  for (int q = 0; q < n && exchanged.size() == static_cast<std::size_t>(n); ++q) {
    EXPECT(exchanged[static_cast<std::size_t>(q)] == to_peer(q, r), "all_to_all_v from rank " + std::to_string(q));
    if (q != r) sent += to_peer(r, q).size(), received += to_peer(q, r).size();
  }
  ++calls;

  for (int root = 0; root < n; ++root) {  // from every root, 3 bytes and 40000 bytes
    for (std::size_t len : {std::size_t{3}, std::size_t{40000}}) {
      bytes buf = r == root ? token(root, len) : bytes(len);
      c.broadcast(buf, root, "broadcast test");
      EXPECT(buf == token(root, len), "broadcast from rank " + std::to_string(root));
      if (r == root) sent += len * others;
      else received += len;
      ++calls;
    }
  }
  c.barrier("barrier test");
  ++calls;

  if (n > 1) {  // a ring (every rank sends first: sends are buffered), then a chain 0 -> 1 -> ... -> n-1
    c.send(token(r), (r + 1) % n, "ring send");
    bytes in(3);
    c.recv(in, (r + n - 1) % n, "ring recv");
    EXPECT(in == token((r + n - 1) % n), "ring");
    std::vector<std::int64_t> v(20000);
    if (r > 0) famx::comm::recv<std::int64_t>(c, v, r - 1, "chain recv");
    for (std::size_t i = 0; i < v.size(); ++i) v[i] += static_cast<std::int64_t>(i) * (r + 1);
    if (r + 1 < n) famx::comm::send<std::int64_t>(c, v, r + 1, "chain send");
    if (r == n - 1) EXPECT(v[777] == 777 * n * (n + 1) / 2, "chain sum");
    sent += 3 + (r + 1 < n ? v.size() * 8 : 0), received += 3 + (r > 0 ? v.size() * 8 : 0);
    calls += 2 + (r > 0) + (r + 1 < n);
  }

  const famx::comm::comm_stats st = c.stats();
  EXPECT(st.collectives == calls, std::to_string(st.collectives) + " collectives, expected " + std::to_string(calls));
  EXPECT(st.bytes_sent == sent, std::to_string(st.bytes_sent) + " bytes sent, expected " + std::to_string(sent));
  EXPECT(st.bytes_received == received, std::to_string(st.bytes_received) + " bytes received, expected " + std::to_string(received));
  EXPECT(st.time.count() > 0, "time in collectives");

  // all_sum: the threads backend's bits, computed in this process over the same ranks' data.
  for (std::size_t len : {std::size_t{777}, std::size_t{4096}, std::size_t{28672}}) {
    std::vector<float> mine = terms(r, len), threads_result;
    famx::comm::all_sum(c, mine, "all_sum test");
    famx::comm::run_threads(n, [&](communicator& t) {
      std::vector<float> x = terms(t.rank(), len);
      famx::comm::all_sum(t, x, "all_sum on threads");
      if (t.rank() == r) threads_result = x;
    });
    bool differs_from_left_to_right = false;
    for (std::size_t i = 0; i < len; ++i) {
      float sequential = 0.0f;
      for (int q = 0; q < n; ++q) sequential += terms(q, len)[i];
      differs_from_left_to_right |= sequential != mine[i];
      if (len != 777) break;  // the slow check once
    }
    EXPECT(std::memcmp(mine.data(), threads_result.data(), len * sizeof(float)) == 0, "all_sum of " + std::to_string(len) + " floats");
    if (len == 777 && n == 4) EXPECT(differs_from_left_to_right, "the order of the additions is observable");
  }

  // Bad arguments throw errc::invalid_value and do not break the communicator.
  bytes in(4), out(7);
  try {
    c.all_gather(in, out, "gather");
    EXPECT(false, "no error for a short out");
  } catch (const famx::error& e) {
    EXPECT(e.code() == famx::errc::invalid_value && message_of(e) == "gather all_gather: found out of 7 bytes, expected " +
                                                                          std::to_string(n) + " ranks x 4 bytes = " +
                                                                          std::to_string(4 * n) + " bytes",
           message_of(e));
  }
  try {
    c.send(in, r, "to myself");
    EXPECT(false, "no error for a send to this rank");
  } catch (const famx::error& e) {
    EXPECT(e.code() == famx::errc::invalid_value, message_of(e));
  }
  c.barrier("after the bad arguments");
}

// Rank 0 calls all_gather, the others broadcast: every rank's error names both calls; the
// communicator is broken afterwards.
void disagree(mpi_communicator& c) {
  bytes x(4, b(1)), out(4 * static_cast<std::size_t>(c.size()));
  try {
    if (c.rank() == 0) c.all_gather(x, out, "layers.1 all_sum");
    else c.broadcast(x, 0, "sampled token");
    EXPECT(false, "no error");
  } catch (const famx::error& e) {
    const std::string m = e.what();
    EXPECT(e.code() == famx::errc::collective, m);
    EXPECT(contains(m, "all_gather #1 of 4 bytes (\"layers.1 all_sum\")"), m);
    EXPECT(contains(m, "broadcast #1 of 4 bytes from rank 0 (\"sampled token\")"), m);
  }
  try {
    c.barrier("after the error");
    EXPECT(false, "no error after the communicator broke");
  } catch (const famx::error& e) {
    EXPECT(message_of(e) == "after the error: found barrier #2 on rank " + std::to_string(c.rank()) +
                                " after an earlier collective failed there, expected no call on a communicator after it threw",
           message_of(e));
  }
}

// The last rank sleeps 0.75 s before all_sum; the others' timeout is 0.5 s (and they wait as long
// again for a word from it before they finalize).
void timeout(mpi_communicator& c) {
  const int late = c.size() - 1;
  c.barrier("load");
  if (c.rank() == late) std::this_thread::sleep_for(750ms);
  const auto start = std::chrono::steady_clock::now();
  std::vector<float> x(4, 1.0f);
  try {
    famx::comm::all_sum(c, x, "layers.5.self_attn.o_proj all_sum");
    EXPECT(false, "no error");
  } catch (const famx::error& e) {
    const std::string m = e.what();
    EXPECT(e.code() == famx::errc::collective, m);
    const std::string silent = "no word from rank " + std::to_string(late) + " within 500 ms, expected rank " + std::to_string(late) +
                               " in all_gather #2";
    if (c.rank() == late) {  // the late rank learns why the others left
      EXPECT(m.starts_with("layers.5.self_attn.o_proj all_sum: found rank ") && contains(m, " failed (") && contains(m, silent), m);
    } else {
      EXPECT(contains(m, silent), m);
      EXPECT(std::chrono::steady_clock::now() - start < 1200ms, "took more than the timeout + 0.9 s");
    }
  }
}

// An exception unwinds rank 1's communicator after the first barrier: the others' next collective
// fails at once (not after the 10 s timeout), naming rank 1.
void thrown(int rank) {
  const auto start = std::chrono::steady_clock::now();
  try {
    mpi_communicator c(10000ms);
    c.barrier("load");
    if (rank == 1) throw famx::error(famx::errc::invalid_value, "load", "rank 1 stopped", "no error");
    std::vector<float> x(8, 1.0f);
    famx::comm::all_sum(c, x, "layers.0.mlp.down_proj all_sum");
    EXPECT(false, "no error");
  } catch (const famx::error& e) {
    const std::string m = e.what();
    if (rank == 1) {
      EXPECT(m == "load: found rank 1 stopped, expected no error", m);
    } else {
      EXPECT(contains(m, "found rank 1 failed (an exception unwound its mpi_communicator)"), m);
      EXPECT(contains(m, "expected rank 1 in all_gather #2"), m);
      EXPECT(std::chrono::steady_clock::now() - start < 5s, "took longer than 5 s");
    }
  }
}

// Rank 1 is killed after the first barrier; the others' all_sum fails after 3 s at most, unless
// mpirun ends the job first. Either way the job's exit is non-zero.
void killed(mpi_communicator& c) {
  c.barrier("load");
  if (c.rank() == 1) std::raise(SIGKILL);
  std::vector<float> x(8, 1.0f);
  famx::comm::all_sum(c, x, "layers.0.mlp.down_proj all_sum");
  EXPECT(false, "all_sum returned without rank 1");
}

}  // namespace

int main(int argc, char** argv) {
  famx::comm::mpi_session session(argc, argv);
  const std::string_view what = argc > 1 ? argv[1] : "";
  MPI_Comm_rank(MPI_COMM_WORLD, &me);
  try {
    if (what == "thrown") {
      thrown(me);
    } else {
      mpi_communicator c(what == "timeout" ? 500ms : what == "killed" ? 3000ms : 10000ms);
      if (what == "collectives") collectives(c);
      else if (what == "disagree") disagree(c);
      else if (what == "timeout") timeout(c);
      else if (what == "killed") killed(c);
      else EXPECT(false, "unknown case '" + std::string(what) + "'");
    }
  } catch (const std::exception& e) {
    EXPECT(false, std::string("uncaught: ") + e.what());
  }
  if (failures == 0) std::printf("ok %s rank %d\n", std::string(what).c_str(), me);
  return failures == 0 ? 0 : 1;
}

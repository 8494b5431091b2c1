// famx run: the fp32 reference forward on a checkpoint directory, greedy decoding from a prompt;
// prints the tokens and a logits checksum. --tp / --pp / --ep N split the model over N ranks (threads
// in this process, or MPI processes under mpirun) and print the same line, then one line per rank.
// famx demo runs it on a tiny model of every family.
#include <charconv>
#include <chrono>
#include <csignal>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <unistd.h>

#include "commands.hpp"
#include "famx/comm/threads.hpp"
#include "famx/core/parallel.hpp"
#include "famx/io/tiny_checkpoint.hpp"
#include "famx/model/model.hpp"
#include "famx/shard/plan.hpp"
#if FAMX_HAVE_MPI
#include "famx/comm/mpi.hpp"
#endif

namespace famx_cli {

namespace {

// How a run is split (degree 1: not split).
struct split_options {
  famx::shard::strategy kind = famx::shard::strategy::tensor;
  int degree = 1;
  std::string backend = "threads";
  int timeout_ms = 10000;
  int fail_rank = -1;  // hidden: this rank fails after loading (threads: throws; mpi: killed by SIGKILL)
};

// How each rank (or the unsplit model) computes: its threads, its activations' arithmetic and
// whether its quantized weights get qmm_int8's load-time panels too.
struct compute_options {
  int threads = 1;
  bool int8_activations = false;
  bool int8_panels = false;
};

// How a rank (or the unsplit model) loads its weights; panels built on `pool`.
famx::model::load_options load_options_of(famx::model::weight_path path, const compute_options& co, famx::thread_pool& pool) {
  famx::model::load_options lo;
  lo.path = path;
  lo.int8_panels = co.int8_panels;
  lo.threads = pool.hook();
  return lo;
}

// "int8 panels 1.23 MB" when panels were built, else "".
std::string panels_note(const famx::model::reference_model& m) {
  if (m.int8_panel_bytes() == 0) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, "int8 panels %.2f MB", static_cast<double>(m.int8_panel_bytes()) / 1e6);
  return buf;
}

struct run_options {
  std::string dir;
  std::vector<std::int32_t> prompt = {1, 2, 3};
  int decode = 8;
  bool dequantize = false;
  int tp = 0, pp = 0, ep = 0;
  split_options split;
  compute_options compute;
};

// "1,2,3" -> {1, 2, 3}; a usage error naming the item that is empty or not a token id.
std::vector<std::int32_t> parse_tokens(const std::string& s) {
  std::vector<std::int32_t> out;
  std::size_t pos = 0;
  for (std::size_t i = 1;; ++i) {
    const std::size_t comma = s.find(',', pos);
    const std::string item = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    std::int32_t v = 0;
    const auto r = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || r.ec != std::errc{} || r.ptr != item.data() + item.size() || v < 0)
      throw CLI::ValidationError("--prompt-tokens", "item " + std::to_string(i) + (item.empty() ? " is empty" : " is '" + item + "'") +
                                                        ", expected comma-separated token ids from 0 to 2147483647 (1,2,3)");
    out.push_back(v);
    if (comma == std::string::npos) return out;
    pos = comma + 1;
  }
}

// The index of the largest logit of row t (the lowest index among equals).
std::int32_t argmax(const std::vector<float>& logits, std::size_t t, std::size_t vocab) {
  std::size_t best = 0;
  for (std::size_t v = 1; v < vocab; ++v)
    if (logits[t * vocab + v] > logits[t * vocab + best]) best = v;
  return static_cast<std::int32_t>(best);
}

// What greedy decoding produced: the tokens and the checksum (the sum of every step's logits).
struct generation {
  std::vector<std::int32_t> tokens;
  double checksum = 0;
};

// Greedy decoding of `decode` tokens after `prompt` (the prompt in one forward call), on a pool of
// co.threads threads.
generation generate(const famx::model::reference_model& m, const std::vector<std::int32_t>& prompt, int decode,
                    const compute_options& co) {
  const std::size_t V = m.info().vocab;
  famx::thread_pool pool(static_cast<std::size_t>(co.threads));
  famx::model::forward_options fo;
  fo.int8_activations = co.int8_activations;
  fo.threads = pool.hook();
  auto cache = m.new_cache();
  std::vector<float> logits = m.forward(prompt, cache, fo);
  generation g;
  for (float v : logits) g.checksum += v;
  g.tokens = {argmax(logits, prompt.size() - 1, V)};
  for (int i = 1; i < decode; ++i) {
    logits = m.forward(std::span(g.tokens).last(1), cache, fo);
    for (float v : logits) g.checksum += v;
    g.tokens.push_back(argmax(logits, 0, V));
  }
  return g;
}

// The result line: the model's name (its model_type), the weight path, tokens and checksum.
void print_generation(const famx::model::model_info& info, famx::model::weight_path path, const generation& g) {
  std::string toks;
  for (std::int32_t t : g.tokens) toks += (toks.empty() ? "" : ",") + std::to_string(t);
  std::printf("%-13s %s: next tokens %s  logits checksum %.6e\n", info.model_type.c_str(),
              path == famx::model::weight_path::quantized ? "quantized" : "dequantized", toks.c_str(), g.checksum);
}

// The hidden --fail-rank: this rank stops after loading (the tests of a rank that dies mid-run).
[[noreturn]] void fail_now(const split_options& s, int rank) {
  if (s.backend == "mpi") std::raise(SIGKILL);
  throw famx::error(famx::errc::invalid_value, "--fail-rank", "rank " + std::to_string(rank) + " stopped on purpose",
                    "a rank that runs to the end");
}

// One rank's line: what it read, its time in collectives and its speed (and its panels' bytes).
std::string rank_line(int rank, const famx::model::reference_model& m, const famx::comm::comm_stats& st, double seconds,
                      std::size_t tokens) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "rank %d: read %.2f MB of weights, %llu collectives in %.1f ms, %.1f tokens/s", rank,
                static_cast<double>(m.bytes_read()) / 1e6, static_cast<unsigned long long>(st.collectives),
                static_cast<double>(st.time.count()) / 1e6, static_cast<double>(tokens) / seconds);
  const std::string panels = panels_note(m);
  return buf + (panels.empty() ? "" : ", " + panels) + "\n";
}

// Runs one rank: loads its slices, decodes, returns its generation and its rank line.
std::pair<generation, std::string> run_rank(const std::filesystem::path& dir, famx::model::weight_path path,
                                           const famx::shard::shard_plan& plan, famx::comm::communicator& c,
                                           const std::vector<std::int32_t>& prompt, int decode, const split_options& split,
                                           const compute_options& co, famx::model::model_info& info) {
  auto m = [&] {
    famx::thread_pool pool(static_cast<std::size_t>(co.threads));  // builds the panels
    return famx::model::reference_model::load_rank(dir, load_options_of(path, co, pool), plan, c);
  }();
  if (!m) throw m.err();
  info = m->info();
  if (c.rank() == split.fail_rank) fail_now(split, c.rank());
  const auto t0 = std::chrono::steady_clock::now();
  generation g = generate(*m, prompt, decode, co);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return {std::move(g), rank_line(c.rank(), *m, c.stats(), s, prompt.size() + static_cast<std::size_t>(decode) - 1)};
}

// Runs this process's rank of a split over MPI (mpirun -np N famx run ... --backend mpi): rank 0
// prints the result line and every rank's line, gathered.
int run_mpi(const std::filesystem::path& dir, famx::model::weight_path path, const famx::shard::shard_plan& plan,
            const std::vector<std::int32_t>& prompt, int decode, const split_options& split, const compute_options& co) {
#if FAMX_HAVE_MPI
  famx::comm::mpi_session session;
  famx::comm::mpi_communicator c(std::chrono::milliseconds(split.timeout_ms));
  famx::model::model_info info;
  const auto [g, line] = run_rank(dir, path, plan, c, prompt, decode, split, co, info);
  std::vector<std::byte> lines;
  std::vector<std::size_t> counts;
  c.all_gather_v(std::as_bytes(std::span(line)), lines, counts, "famx run: rank lines");
  if (c.rank() == 0) {
    print_generation(info, path, g);
    std::fwrite(lines.data(), 1, lines.size(), stdout);
  }
  return exit_ok;
#else
  (void)dir, (void)path, (void)plan, (void)prompt, (void)decode, (void)split, (void)co;
  throw famx::error(famx::errc::unsupported, "--backend", "mpi", "threads (this famx was built without MPI)");
#endif
}

// The plan of a split run: `degree` devices with room for any tiny or real model, KV heads
// replicated when there are fewer than the ranks (as vLLM).
famx::result<famx::shard::shard_plan> split_plan(const famx::io::loaded_model& cfg, const split_options& s, std::int64_t positions) {
  std::vector<famx::shard::device> devices;
  for (int r = 0; r < s.degree; ++r) devices.push_back({"rank" + std::to_string(r), std::int64_t{1} << 50, std::nullopt});
  famx::shard::plan_options o;
  o.kind = s.kind;
  o.context_tokens = positions;
  o.kv_replication = true;
  return famx::shard::plan(cfg, devices, o);
}

// Greedy decoding, unsplit or split over ranks; prints the result line (rank 0 only when split over
// MPI), then one line per rank.
int run_model(const std::filesystem::path& dir, const std::vector<std::int32_t>& prompt, int decode,
              famx::model::weight_path path, const split_options& split = {}, const compute_options& co = {}) {
  auto cfg = famx::io::load_model_config(dir);
  if (!cfg) {
    std::fprintf(stderr, "famx run: %s\n", cfg.err().what());
    return exit_failed;
  }
  // Positions the model sees: the prompt, then every generated token but the last.
  const auto positions = static_cast<std::int64_t>(prompt.size()) + decode - 1;
  if (const auto max_pos = cfg->description.number("max_position_embeddings"); max_pos && *max_pos > 0 && static_cast<double>(positions) > *max_pos) {
    std::fprintf(stderr,
                 "famx run: %s: max_position_embeddings: found %lld positions (%zu prompt tokens + %d decoded - 1), "
                 "expected at most max_position_embeddings = %.0f\n",
                 cfg->file.c_str(), static_cast<long long>(positions), prompt.size(), decode, *max_pos);
    return exit_failed;
  }
  try {
    if (split.degree == 1 && split.backend == "threads") {
      auto m = [&] {
        famx::thread_pool pool(static_cast<std::size_t>(co.threads));  // builds the panels
        return famx::model::reference_model::load(dir, load_options_of(path, co, pool));
      }();
      if (!m) throw m.err();
      print_generation(m->info(), path, generate(*m, prompt, decode, co));
      if (const std::string panels = panels_note(*m); !panels.empty()) std::printf("%s\n", panels.c_str());
      return exit_ok;
    }
    auto plan = split_plan(*cfg, split, positions);
    if (!plan) throw plan.err();
    if (!plan->exact)
      std::fprintf(stderr, "famx run: note: this split is not bit-exact (%s)\n", plan->notes.back().c_str());
    if (split.backend == "mpi") return run_mpi(dir, path, *plan, prompt, decode, split, co);
    std::vector<std::pair<generation, std::string>> out(static_cast<std::size_t>(split.degree));
    famx::model::model_info info;
    famx::comm::thread_options to;
    to.timeout = std::chrono::milliseconds(split.timeout_ms);
    famx::comm::run_threads(split.degree, [&](famx::comm::communicator& c) {
      famx::model::model_info mine;
      out[static_cast<std::size_t>(c.rank())] = run_rank(dir, path, *plan, c, prompt, decode, split, co, mine);
      if (c.rank() == 0) info = mine;
    }, to);
    print_generation(info, path, out.front().first);
    for (const auto& [g, line] : out) std::fputs(line.c_str(), stdout);
  } catch (const famx::error& e) {
    std::fprintf(stderr, "famx run: %s\n", e.what());
    return exit_failed;
  }
  return exit_ok;
}

}  // namespace

runner add_run(CLI::App& app) {
  auto o = std::make_shared<run_options>();
  auto* c = app.add_subcommand("run", "greedy decoding with the fp32 reference forward (quantized kernels unless "
                                      "--dequantize); next tokens and logits checksum");
  c->add_option("dir", o->dir, "the checkpoint directory")->required();
  c->add_option_function<std::string>(
       "--prompt-tokens", [o](const std::string& s) { o->prompt = parse_tokens(s); }, "comma-separated prompt token ids")
      ->type_name("IDS")
      ->default_str("1,2,3");
  add_integer(*c, "--decode", o->decode, 1, 1 << 20, "tokens to generate");
  c->add_flag("--dequantize", o->dequantize, "expand every quantized weight to fp32 (the dequantized path)");
  auto* tp = c->add_option("--tp", o->tp, "split over N ranks by tensor parallelism")->check(CLI::Range(1, 64));
  auto* pp = c->add_option("--pp", o->pp, "split over N ranks by pipeline parallelism")->check(CLI::Range(1, 64));
  auto* ep = c->add_option("--ep", o->ep, "split over N ranks by expert parallelism")->check(CLI::Range(1, 64));
  tp->excludes(pp)->excludes(ep);
  pp->excludes(ep);
  add_choice(*c, "--backend", o->split.backend, {"threads", "mpi"}, "how the ranks talk: threads in this process, or MPI (under mpirun)");
  add_integer(*c, "--timeout-ms", o->split.timeout_ms, 1, 3600000, "how long a collective waits for the other ranks");
  add_integer(*c, "--threads,--threads-per-rank", o->compute.threads, 1, 256,
              "threads of the unsplit model or of each rank (the result does not depend on it)");
  auto* int8 = c->add_flag("--int8-activations", o->compute.int8_activations,
                           "quantized projections and experts quantize their input to int8 per group (faster, bounded error)");
  c->add_flag("--int8-panels", o->compute.int8_panels,
              "with --int8-activations: repack the quantized weights for batched calls once at load (faster prompts, "
              "the same result, about the weights' memory again)")
      ->needs(int8)
      ->excludes("--dequantize");
  c->add_option("--fail-rank", o->split.fail_rank, "make this rank fail after loading (tests)")->group("");
  return [o] {
    split_options s = o->split;
    if (o->pp > 0) s.kind = famx::shard::strategy::pipeline, s.degree = o->pp;
    else if (o->ep > 0) s.kind = famx::shard::strategy::expert, s.degree = o->ep;
    else if (o->tp > 0) s.degree = o->tp;
    return run_model(std::filesystem::path(o->dir), o->prompt, o->decode,
                     o->dequantize ? famx::model::weight_path::dequantized : famx::model::weight_path::quantized, s,
                     o->compute);
  };
}

int run_tiny_models() {
  std::error_code ec;
  const auto root = std::filesystem::temp_directory_path(ec) / ("famx_demo_" + std::to_string(::getpid()));
  int rc = exit_ok;
  for (const auto& t : famx::io::tiny_models) {
    const auto dir = root / t.key;
    if (auto files = famx::io::make_tiny_checkpoint(t.key, dir); !files) {
      std::fprintf(stderr, "famx demo: %s\n", files.err().message().c_str());
      rc = exit_failed;
      continue;
    }
    rc |= run_model(dir, {1, 2, 3}, 8, famx::model::weight_path::quantized);
  }
  std::filesystem::remove_all(root, ec);
  return rc;
}

}  // namespace famx_cli

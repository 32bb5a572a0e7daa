#include "util/process.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <map>

namespace r1 {
namespace {

using Env = std::map<std::string, std::string>;

Result<ProcessInfo> read(const Env& env) {
  return read_process_info([&](const char* name) {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

std::string error_of(const Env& env) {
  Result<ProcessInfo> p = read(env);
  return p.ok() ? "ok" : p.status().message();
}

TEST(Process, NothingSetMeansOneProcess) {
  ProcessInfo p = value_or_throw(read({}));
  EXPECT_EQ(p.rank, 0);
  EXPECT_EQ(p.world_size, 1);
  EXPECT_EQ(p.launcher, "none");
  EXPECT_TRUE(p.writes_run_folder());
  p = value_or_throw(read({{"RANK", "0"}, {"WORLD_SIZE", "1"}}));  // one process needs no rendezvous
  EXPECT_EQ(p.launcher, "env");
  EXPECT_EQ(p.master_addr, "");
}

TEST(Process, TorchVariablesByHandAndFromTorchrun) {
  Env env = {{"RANK", "3"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"}, {"MASTER_ADDR", "10.1.2.3"},
             {"MASTER_PORT", "29500"}};
  ProcessInfo p = value_or_throw(read(env));
  EXPECT_EQ(p.rank, 3);
  EXPECT_EQ(p.world_size, 4);
  EXPECT_EQ(p.local_rank, 1);
  EXPECT_EQ(p.master_addr, "10.1.2.3");
  EXPECT_EQ(p.master_port, 29500);
  EXPECT_EQ(p.launcher, "env");
  EXPECT_FALSE(p.launcher_hosts_store);
  EXPECT_FALSE(p.writes_run_folder());
  env["TORCHELASTIC_RUN_ID"] = "none";
  env["TORCHELASTIC_USE_AGENT_STORE"] = "True";
  p = value_or_throw(read(env));
  EXPECT_EQ(p.launcher, "torchrun");
  EXPECT_TRUE(p.launcher_hosts_store);
}

TEST(Process, MissingOrBadTorchVariablesNameTheVariable) {
  Env ok = {{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "0"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "1234"}};
  auto without = [&](const char* name) {
    Env e = ok;
    e.erase(name);
    return error_of(e);
  };
  auto with = [&](const char* name, const char* value) {
    Env e = ok;
    e[name] = value;
    return error_of(e);
  };
  EXPECT_EQ(error_of(ok), "ok");
  EXPECT_EQ(without("LOCAL_RANK"), "LOCAL_RANK is unset");
  EXPECT_EQ(without("MASTER_ADDR"), "MASTER_ADDR is unset: the host of rank 0, where the ranks meet");
  EXPECT_EQ(without("MASTER_PORT"), "MASTER_PORT is unset: the port where the ranks meet");
  EXPECT_EQ(with("MASTER_PORT", "70000"), "MASTER_PORT='70000': expected a port, 1..65535");
  EXPECT_EQ(with("RANK", "2"), "RANK=2 is not below WORLD_SIZE=2");
  EXPECT_EQ(with("RANK", "x"), "RANK='x': expected a whole number >= 0");
  EXPECT_EQ(with("WORLD_SIZE", "-1"), "WORLD_SIZE='-1': expected a whole number >= 0");
  EXPECT_EQ(with("WORLD_SIZE", "0"), "WORLD_SIZE=0: expected at least 1 process");
}

TEST(Process, SlurmVariables) {
  Env env = {{"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "8"}, {"SLURM_LOCALID", "1"},
             {"SLURM_JOB_NODELIST", "gpu[07-08],gpu11"}, {"SLURM_JOB_ID", "123456"}};
  ProcessInfo p = value_or_throw(read(env));
  EXPECT_EQ(p.launcher, "slurm");
  EXPECT_EQ(p.rank, 5);
  EXPECT_EQ(p.world_size, 8);
  EXPECT_EQ(p.local_rank, 1);
  EXPECT_EQ(p.master_addr, "gpu07");
  EXPECT_EQ(p.master_port, 15000 + 123456 % 20000);
  EXPECT_FALSE(p.launcher_hosts_store);  // srun hosts no store: rank 0 does
  env["MASTER_ADDR"] = "head";
  env["MASTER_PORT"] = "29400";
  p = value_or_throw(read(env));
  EXPECT_EQ(p.master_addr, "head");
  EXPECT_EQ(p.master_port, 29400);
  // SLURM_LOCALID, not SLURM_LOCAL_ID: a misspelt variable must not put
  // every rank of a node on GPU 0.
  env.erase("SLURM_LOCALID");
  env["SLURM_LOCAL_ID"] = "1";
  EXPECT_EQ(error_of(env), "SLURM_LOCALID is unset");
  EXPECT_EQ(error_of({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}, {"SLURM_LOCALID", "0"}}),
            "SLURM_JOB_NODELIST is unset and so is MASTER_ADDR: no host for rank 0");
  EXPECT_EQ(error_of({{"SLURM_PROCID", "2"}, {"SLURM_NTASKS", "2"}, {"SLURM_LOCALID", "0"}}),
            "SLURM_PROCID=2 is not below SLURM_NTASKS=2");
  // Torch's variables win over Slurm's (torchrun started under srun).
  EXPECT_EQ(value_or_throw(read({{"RANK", "0"}, {"WORLD_SIZE", "1"}, {"SLURM_PROCID", "3"}})).launcher, "env");
}

TEST(Process, SlurmNodeLists) {
  using V = std::vector<std::string>;
  EXPECT_EQ(value_or_throw(expand_slurm_nodelist("node1")), V({"node1"}));
  EXPECT_EQ(value_or_throw(expand_slurm_nodelist("gpu[01-03,07],login1")),
            V({"gpu01", "gpu02", "gpu03", "gpu07", "login1"}));
  EXPECT_EQ(value_or_throw(expand_slurm_nodelist("r[1-2]n[09-10]")), V({"r1n09", "r1n10", "r2n09", "r2n10"}));
  EXPECT_EQ(value_or_throw(expand_slurm_nodelist("a-[8-10]-ib")), V({"a-8-ib", "a-9-ib", "a-10-ib"}));
  EXPECT_EQ(expand_slurm_nodelist("gpu[01-03").status().message(),
            "SLURM_JOB_NODELIST='gpu[01-03': a '[' without its ']'");
  EXPECT_EQ(expand_slurm_nodelist("gpu[3-1]").status().message(),
            "SLURM_JOB_NODELIST='gpu[3-1]': '3-1' is not a number or a range a-b");
  EXPECT_EQ(expand_slurm_nodelist("a,,b").status().message(), "SLURM_JOB_NODELIST='a,,b': an empty host name");
  EXPECT_EQ(expand_slurm_nodelist("a]").status().message(), "SLURM_JOB_NODELIST='a]': a ']' without its '['");
  EXPECT_EQ(expand_slurm_nodelist("n[0-999]x[0-999]").status().message(),
            "SLURM_JOB_NODELIST='n[0-999]x[0-999]': more than 100000 hosts");
}

TEST(Process, FromTheEnvironmentAndCommandsThatRunAsOneProcess) {
  ::setenv("RANK", "1", 1);
  ::setenv("WORLD_SIZE", "2", 1);
  ::setenv("LOCAL_RANK", "1", 1);
  ::setenv("MASTER_ADDR", "127.0.0.1", 1);
  ::setenv("MASTER_PORT", "29500", 1);
  Result<ProcessInfo> two = process_info_from_env();
  ASSERT_TRUE(two.ok()) << two.status().message();
  EXPECT_EQ(two->rank, 1);
  EXPECT_EQ(two->world_size, 2);
  EXPECT_FALSE(two->writes_run_folder());
  EXPECT_EQ(one_process_only(*two, "r1 eval").message(),
            "WORLD_SIZE=2 (env): r1 eval runs as one process (only `r1 rl` and `r1 sft` run as several ranks so "
            "far); launch one process");
  for (const char* v : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"}) ::unsetenv(v);
  Result<ProcessInfo> one = process_info_from_env();
  ASSERT_TRUE(one.ok());
  EXPECT_TRUE(one_process_only(*one, "r1 eval").ok());
}

TEST(Process, ResourceDirPrefersTheEnvironmentThenTheBinary) {
  std::string exe = executable_dir();
  ASSERT_FALSE(exe.empty());
  EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(exe) / "util_test"));
  ::setenv("R1_TEST_RESOURCE", "/given/as/is", 1);
  EXPECT_EQ(resource_dir("R1_TEST_RESOURCE", {"."}), "/given/as/is");
  ::unsetenv("R1_TEST_RESOURCE");
  EXPECT_EQ(resource_dir("R1_TEST_RESOURCE", {"no/such/dir", "."}),
            std::filesystem::path(exe).lexically_normal().string() + "/");
  EXPECT_EQ(resource_dir("R1_TEST_RESOURCE", {"no/such/dir"}), "");
}

}  // namespace
}  // namespace r1

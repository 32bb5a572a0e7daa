// `r1 <command> --help-config`: prints every key of the command's config
// with its default and meaning (a ConfigFields table's print_help) and
// exits 0, before the command's required options are checked.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <iostream>
#include <ostream>

namespace r1 {

inline void add_help_config_flag(CLI::App* cmd, std::function<void(std::ostream&)> print) {
  cmd->add_flag_callback(
      "--help-config",
      [print] {
        print(std::cout);
        throw CLI::Success();  // r1_main exits 0 without running the command
      },
      "Print every config key with its type, default and meaning, and exit");
}

}  // namespace r1

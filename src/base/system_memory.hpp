#pragma once
// What /proc/meminfo says about this machine's memory: the model loader refuses weights larger
// than MemTotal, and the KV pool sizes itself from MemAvailable when given a fraction.

#include <cstdint>

namespace flux {

struct SystemMemory {
  std::uint64_t total_bytes = 0;      // MemTotal; 0 when unknown
  std::uint64_t available_bytes = 0;  // MemAvailable; 0 when unknown
};

SystemMemory read_system_memory();

// This process's resident set now (VmRSS of /proc/self/status); 0 when unknown.
std::uint64_t resident_bytes();

}  // namespace flux

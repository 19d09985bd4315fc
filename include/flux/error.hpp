#pragma once
// The errors FluxInfer throws for input it was given. Everything derives from flux::Error.

#include <stdexcept>

namespace flux {

// Base of every error caused by input the engine was given.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A file that is malformed: the message names the file, field or tensor, and the byte offset.
class FormatError : public Error {
 public:
  using Error::Error;
};

// A well-formed request the engine cannot honour (unknown architecture, unsupported type).
class UnsupportedError : public Error {
 public:
  using Error::Error;
};

// A bad argument from a user: a flag, a prompt longer than the context, an out-of-range value.
class InvalidArgument : public Error {
 public:
  using Error::Error;
};

// The engine's waiting queue is full: the request was refused unread; worth retrying later.
class QueueFullError : public Error {
 public:
  using Error::Error;
};

}  // namespace flux

#pragma once
// An error answered in OpenAI's shape: {"error": {"message", "type", "param", "code"}} with an
// HTTP status. Thrown while handling a request and turned into the response at the boundary;
// messages name the problem and never carry a stack trace or a server path.

#include <exception>
#include <string>

#include <nlohmann/json.hpp>

namespace flux::server {

class ApiError : public std::exception {
 public:
  ApiError(int status, std::string message, std::string type, std::string param = {}, std::string code = {})
      : status_(status), message_(std::move(message)), type_(std::move(type)), param_(std::move(param)),
        code_(std::move(code)) {}

  // 400 invalid_request_error, naming the offending parameter.
  static ApiError invalid(std::string message, std::string param = {}, std::string code = {}) {
    return ApiError(400, std::move(message), "invalid_request_error", std::move(param), std::move(code));
  }

  int status() const { return status_; }
  const char* what() const noexcept override { return message_.c_str(); }
  nlohmann::json to_json() const;

 private:
  int status_;
  std::string message_;
  std::string type_;
  std::string param_;
  std::string code_;
};

}  // namespace flux::server
